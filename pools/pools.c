/* SPDX-License-Identifier: MIT */
#define LOG_MODULE "pools"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <rbd/librbd.h>

#include "common/json.h"
#include "pools/pools-internal.h"
#include "pools/pools.h"

static int pool_create(rados_t rados, const char *name, uint32_t pg_num, struct cairn_err *err)
{
	_cleanup_(freep) char *cmd = NULL;
	int r;

	cmd = str_printf("{\"prefix\": \"osd pool create\", \"pool\": \"%s\", \"pg_num\": %u, "
	                 "\"format\": \"json\"}",
	                 name, pg_num);
	if (!cmd)
		return err_set(err, -ENOMEM, "out of memory");
	r = cluster_rados_mon_command(rados, cmd, NULL, err);
	if (r == -EEXIST) { /* another host made it first */
		err_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	log_info("created pool '%s'", name);
	return 0;
}

/* The pool is ours already: rbd application enabled and initialised (rbd_info exists). */
static bool pool_has_rbd(rados_ioctx_t io)
{
	char apps[256];
	size_t len = sizeof(apps);
	bool found = false;
	uint64_t size;
	time_t mtime;

	if (rados_application_list(io, apps, &len) < 0)
		return false;
	for (size_t off = 0; off < len && apps[off]; off += strlen(apps + off) + 1)
		if (strcmp(apps + off, "rbd") == 0)
			found = true;
	return found && rados_stat(io, "rbd_info", &size, &mtime) == 0;
}

int pool_ensure_on(rados_t rados, const char *name, uint32_t pg_num, struct cairn_err *err)
{
	rados_ioctx_t io;
	int r;

	r = rados_pool_lookup(rados, name);
	if (r == -ENOENT) {
		r = pool_create(rados, name, pg_num, err);
		if (r < 0)
			return r;
	} else if (r < 0) {
		return err_set(err, r, "cannot look up pool '%s': %s", name, strerror(-r));
	}
	r = rados_ioctx_create(rados, name, &io);
	if (r < 0)
		return err_set(err, r, "cannot open pool '%s': %s", name, strerror(-r));
	/* Each step below costs an osdmap round trip (seconds): skip what is done already. */
	if (pool_has_rbd(io)) {
		rados_ioctx_destroy(io);
		return 0;
	}
	r = rados_application_enable(io, "rbd", 0);
	if (r < 0 && r != -EEXIST) {
		rados_ioctx_destroy(io);
		return err_set(err, r, "cannot enable the rbd application on pool '%s': %s", name,
		               r == -EPERM ? "the pool is used by another application"
		                           : strerror(-r));
	}
	r = rbd_pool_init(io, false);
	rados_ioctx_destroy(io);
	if (r < 0)
		return err_set(err, r, "cannot initialise pool '%s' for rbd: %s", name,
		               strerror(-r));
	return 0;
}

static int pool_ensure_one(struct cluster *c, enum pool_role role, struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);

	/* cluster_connect checked it already; a backup cluster that does not answer is
	 * not fatal (see cluster_has_backup), the next check makes the pool */
	if (role == POOL_ROLE_BACKUPS && cluster_has_backup(c)) {
		struct cairn_err e = {0};
		int r = cluster_backup_check(c, &e);

		if (r < 0 && r != -ETIMEDOUT && r != -ENOTCONN && r != -ECONNREFUSED &&
		    r != -EHOSTUNREACH && r != -ESHUTDOWN && r != -ENETUNREACH)
			return err_set(err, r, "%s", e.msg);
		return 0;
	}
	return pool_ensure_on(cluster_rados(c), conf_pool_name(conf, role), conf->pools.pg_num,
	                      err);
}

struct pool_ensure_job {
	struct cluster *c;
	enum pool_role role;
	int r;
	struct cairn_err err;
};

static void *pool_ensure_thread(void *arg)
{
	struct pool_ensure_job *j = arg;

	j->r = pool_ensure_one(j->c, j->role, &j->err);
	return NULL;
}

/*
 * Each step of making a pool waits for a new osdmap (about a second each, five per pool):
 * the four pools are made side by side so a first start takes seconds, not twenty.
 */
int pools_ensure(struct cluster *c, struct cairn_err *err)
{
	struct pool_ensure_job jobs[POOL_ROLE_MAX];
	pthread_t threads[POOL_ROLE_MAX];
	bool started[POOL_ROLE_MAX] = {false};

	memset(jobs, 0, sizeof(jobs));
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		jobs[role].c = c;
		jobs[role].role = (enum pool_role)role;
		started[role] =
		        pthread_create(&threads[role], NULL, pool_ensure_thread, &jobs[role]) == 0;
		if (!started[role]) /* no thread to spare: do it here */
			pool_ensure_thread(&jobs[role]);
	}
	for (int role = 0; role < POOL_ROLE_MAX; role++)
		if (started[role])
			pthread_join(threads[role], NULL);
	for (int role = 0; role < POOL_ROLE_MAX; role++)
		if (jobs[role].r < 0) {
			err_set(err, jobs[role].err.code, "%s", jobs[role].err.msg);
			return jobs[role].r;
		}
	return 0;
}

int pools_check(struct cluster *c, struct cairn_err *err)
{
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		const char *name = conf_pool_name(cluster_config(c), (enum pool_role)role);
		rados_t rados = cluster_rados(c);
		int r;

		if (role == POOL_ROLE_BACKUPS) {
			r = cluster_backup_rados(c, &rados, err);
			if (r < 0)
				return r;
		}
		r = rados_pool_lookup(rados, name);
		if (r == -ENOENT)
			return err_set(err, r, "pool '%s' (%s) does not exist%s", name,
			               pool_role_to_string((enum pool_role)role),
			               rados != cluster_rados(c) ? " in the backup cluster" : "");
		if (r < 0)
			return err_set(err, r, "cannot look up pool '%s': %s", name, strerror(-r));
	}
	return 0;
}

/* Fill stored/used/available from "ceph df" of that cluster for the pools of ours it holds. */
static int pools_df(rados_t rados, struct pool_info *info, bool remote, struct cairn_err *err)
{
	_cleanup_(freep) char *out = NULL;
	_cleanup_(json_putp) struct json_object *df = NULL;
	struct json_object *pools;
	int r;

	r = cluster_rados_mon_command(rados, "{\"prefix\": \"df\", \"format\": \"json\"}", &out,
	                              err);
	if (r < 0)
		return r;
	df = json_tokener_parse(out);
	if (!df || !json_object_object_get_ex(df, "pools", &pools) ||
	    !json_object_is_type(pools, json_type_array))
		return err_set(err, -EBADMSG, "cannot read the output of 'ceph df'");
	for (size_t i = 0; i < json_object_array_length(pools); i++) {
		struct json_object *p = json_object_array_get_idx(pools, i), *stats;
		const char *name = json_get_string(p, "name");

		if (!name || !json_object_object_get_ex(p, "stats", &stats))
			continue;
		for (int role = 0; role < POOL_ROLE_MAX; role++) {
			if (info[role].remote != remote || strcmp(info[role].name, name) != 0)
				continue;
			info[role].stored_bytes = (uint64_t)json_get_int(stats, "stored", 0);
			info[role].used_bytes = (uint64_t)json_get_int(stats, "bytes_used", 0);
			info[role].available_bytes = (uint64_t)json_get_int(stats, "max_avail", 0);
			info[role].objects = (uint64_t)json_get_int(stats, "objects", 0);
		}
	}
	return 0;
}

static int pool_quota(rados_t rados, const char *name, uint64_t *ret, struct cairn_err *err)
{
	_cleanup_(freep) char *cmd = NULL, *out = NULL;
	_cleanup_(json_putp) struct json_object *q = NULL;
	int r;

	cmd = str_printf("{\"prefix\": \"osd pool get-quota\", \"pool\": \"%s\", "
	                 "\"format\": \"json\"}",
	                 name);
	if (!cmd)
		return err_set(err, -ENOMEM, "out of memory");
	r = cluster_rados_mon_command(rados, cmd, &out, err);
	if (r < 0)
		return r;
	q = json_tokener_parse(out);
	*ret = (uint64_t)json_get_int(q, "quota_max_bytes", 0);
	return 0;
}

static int pool_count_images(rados_ioctx_t io, uint64_t *ret, struct cairn_err *err)
{
	size_t max = 64;

	for (;;) {
		_cleanup_(freep) rbd_image_spec_t *specs = calloc(max, sizeof(*specs));
		size_t n = max;
		int r;

		if (!specs)
			return err_set(err, -ENOMEM, "out of memory");
		r = rbd_list2(io, specs, &n);
		if (r == -ERANGE) { /* n says how many there are: retry with room for them */
			max = n + 16;
			continue;
		}
		if (r < 0)
			return err_set(err, r, "cannot list images: %s", strerror(-r));
		rbd_image_spec_list_cleanup(specs, n);
		*ret = n;
		return 0;
	}
}

int pool_free_bytes(struct cluster *c, enum pool_role role, uint64_t *ret, struct cairn_err *err)
{
	struct pool_info info[POOL_ROLE_MAX];
	uint64_t quota = 0, free_bytes;
	int r;

	memset(info, 0, sizeof(info));
	str_copy(info[role].name, sizeof(info[role].name), conf_pool_name(cluster_config(c), role));
	r = pools_df(cluster_rados(c), info, false, err);
	if (r < 0)
		return r;
	r = pool_quota(cluster_rados(c), info[role].name, &quota, err);
	if (r < 0)
		return r;
	free_bytes = info[role].available_bytes;
	if (quota) {
		uint64_t left =
		        quota > info[role].stored_bytes ? quota - info[role].stored_bytes : 0;

		if (left < free_bytes)
			free_bytes = left;
	}
	*ret = free_bytes;
	return 0;
}

int pools_list(struct cluster *c, struct pool_info ret[POOL_ROLE_MAX], struct cairn_err *err)
{
	struct pool_info info[POOL_ROLE_MAX];
	rados_t backup_rados = NULL;
	int r;

	memset(info, 0, sizeof(info));
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		info[role].role = (enum pool_role)role;
		info[role].reachable = true;
		info[role].remote = role == POOL_ROLE_BACKUPS && cluster_has_backup(c);
		str_copy(info[role].name, sizeof(info[role].name),
		         conf_pool_name(cluster_config(c), (enum pool_role)role));
	}
	r = pools_df(cluster_rados(c), info, false, err);
	if (r < 0)
		return r;
	if (cluster_has_backup(c)) {
		struct pool_info *b = &info[POOL_ROLE_BACKUPS];
		struct cairn_err e = {0};

		/* a backup cluster that does not answer leaves the rest of the list good */
		if (cluster_backup_rados(c, &backup_rados, &e) < 0 ||
		    pools_df(backup_rados, info, true, &e) < 0) {
			b->reachable = false;
			backup_rados = NULL;
			str_copy(b->error, sizeof(b->error), e.msg);
		}
	}
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		rados_t rados = info[role].remote ? backup_rados : cluster_rados(c);
		rados_ioctx_t io;

		if (!rados)
			continue;
		r = rados_pool_lookup(rados, info[role].name);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return err_set(err, r, "cannot look up pool '%s': %s", info[role].name,
			               strerror(-r));
		info[role].exists = true;
		if (info[role].remote)
			r = cluster_backup_ioctx(c, &io, err);
		else
			r = cluster_ioctx_by_name(c, info[role].name, &io, err);
		if (r < 0)
			return r;
		r = pool_count_images(io, &info[role].images, err);
		if (r < 0)
			return r;
		r = pool_quota(rados, info[role].name, &info[role].quota_bytes, err);
		if (r < 0)
			return r;
	}
	memcpy(ret, info, sizeof(info));
	return 0;
}

struct json_object *pool_info_to_json(const struct pool_info *p)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_add_string(o, "role", pool_role_to_string(p->role)) < 0 ||
	    json_add_string(o, "name", p->name) < 0 || json_add_bool(o, "exists", p->exists) < 0 ||
	    json_add_uint(o, "stored", p->stored_bytes) < 0 ||
	    json_add_uint(o, "used", p->used_bytes) < 0 ||
	    json_add_uint(o, "available", p->available_bytes) < 0 ||
	    json_add_uint(o, "quota", p->quota_bytes) < 0 ||
	    json_add_uint(o, "objects", p->objects) < 0 ||
	    json_add_uint(o, "images", p->images) < 0 ||
	    (p->remote && json_add_string(o, "cluster", "backup") < 0) ||
	    (!p->reachable && json_add_bool(o, "reachable", false) < 0) ||
	    (p->error[0] && json_add_string(o, "error", p->error) < 0)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
