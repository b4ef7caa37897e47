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
#include "pools/pools.h"

static int pool_create(struct cluster *c, const char *name, struct cairn_err *err)
{
	_cleanup_(freep) char *cmd = NULL;
	int r;

	cmd = str_printf("{\"prefix\": \"osd pool create\", \"pool\": \"%s\", \"pg_num\": %u, "
	                 "\"format\": \"json\"}",
	                 name, cluster_config(c)->pools.pg_num);
	if (!cmd)
		return err_set(err, -ENOMEM, "out of memory");
	r = cluster_mon_command(c, cmd, NULL, err);
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

static int pool_ensure_one(struct cluster *c, enum pool_role role, struct cairn_err *err)
{
	const char *name = conf_pool_name(cluster_config(c), role);
	rados_ioctx_t io;
	int r;

	r = rados_pool_lookup(cluster_rados(c), name);
	if (r == -ENOENT) {
		r = pool_create(c, name, err);
		if (r < 0)
			return r;
	} else if (r < 0) {
		return err_set(err, r, "cannot look up pool '%s': %s", name, strerror(-r));
	}
	r = cluster_ioctx_by_name(c, name, &io, err);
	if (r < 0)
		return r;
	/* Each step below costs an osdmap round trip (seconds): skip what is done already. */
	if (pool_has_rbd(io))
		return 0;
	r = rados_application_enable(io, "rbd", 0);
	if (r < 0 && r != -EEXIST)
		return err_set(err, r, "cannot enable the rbd application on pool '%s': %s", name,
		               r == -EPERM ? "the pool is used by another application"
		                           : strerror(-r));
	r = rbd_pool_init(io, false);
	if (r < 0)
		return err_set(err, r, "cannot initialise pool '%s' for rbd: %s", name,
		               strerror(-r));
	return 0;
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
		int r = rados_pool_lookup(cluster_rados(c), name);
		if (r == -ENOENT)
			return err_set(err, r, "pool '%s' (%s) does not exist", name,
			               pool_role_to_string((enum pool_role)role));
		if (r < 0)
			return err_set(err, r, "cannot look up pool '%s': %s", name, strerror(-r));
	}
	return 0;
}

/* Fill stored/used/available from "ceph df" for every pool of ours found there. */
static int pools_df(struct cluster *c, struct pool_info *info, struct cairn_err *err)
{
	_cleanup_(freep) char *out = NULL;
	_cleanup_(json_putp) struct json_object *df = NULL;
	struct json_object *pools;
	int r;

	r = cluster_mon_command(c, "{\"prefix\": \"df\", \"format\": \"json\"}", &out, err);
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
			if (strcmp(info[role].name, name) != 0)
				continue;
			info[role].stored_bytes = (uint64_t)json_get_int(stats, "stored", 0);
			info[role].used_bytes = (uint64_t)json_get_int(stats, "bytes_used", 0);
			info[role].available_bytes = (uint64_t)json_get_int(stats, "max_avail", 0);
			info[role].objects = (uint64_t)json_get_int(stats, "objects", 0);
		}
	}
	return 0;
}

static int pool_quota(struct cluster *c, const char *name, uint64_t *ret, struct cairn_err *err)
{
	_cleanup_(freep) char *cmd = NULL, *out = NULL;
	_cleanup_(json_putp) struct json_object *q = NULL;
	int r;

	cmd = str_printf("{\"prefix\": \"osd pool get-quota\", \"pool\": \"%s\", "
	                 "\"format\": \"json\"}",
	                 name);
	if (!cmd)
		return err_set(err, -ENOMEM, "out of memory");
	r = cluster_mon_command(c, cmd, &out, err);
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

int pools_list(struct cluster *c, struct pool_info ret[POOL_ROLE_MAX], struct cairn_err *err)
{
	struct pool_info info[POOL_ROLE_MAX];
	int r;

	memset(info, 0, sizeof(info));
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		info[role].role = (enum pool_role)role;
		str_copy(info[role].name, sizeof(info[role].name),
		         conf_pool_name(cluster_config(c), (enum pool_role)role));
	}
	r = pools_df(c, info, err);
	if (r < 0)
		return r;
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		rados_ioctx_t io;

		r = rados_pool_lookup(cluster_rados(c), info[role].name);
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return err_set(err, r, "cannot look up pool '%s': %s", info[role].name,
			               strerror(-r));
		info[role].exists = true;
		r = cluster_ioctx_by_name(c, info[role].name, &io, err);
		if (r < 0)
			return r;
		r = pool_count_images(io, &info[role].images, err);
		if (r < 0)
			return r;
		r = pool_quota(c, info[role].name, &info[role].quota_bytes, err);
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
	    json_add_uint(o, "images", p->images) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}
