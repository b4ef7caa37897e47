/* SPDX-License-Identifier: MIT */
#define LOG_MODULE "cluster"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pools/pools.h"

#define STATE_NAMESPACE   "cairn"
#define IOCTX_BY_NAME_MAX 16

struct ioctx_entry {
	char name[NAME_MAX_LEN + 1];
	rados_ioctx_t io;
};

struct cluster {
	const struct cairn_config *conf;
	rados_t rados;
	pthread_mutex_t lock; /* guards the caches below */
	struct ioctx_entry by_name[IOCTX_BY_NAME_MAX];
	size_t n_by_name;
	rados_ioctx_t state_io;
	/* intents that operations of this process gave up on: a ring, oldest overwritten */
	char orphans[CLUSTER_ORPHANS_MAX][CLUSTER_OP_ID_MAX];
	size_t n_orphans, next_orphan;
};

static int cluster_conf_set_uint(rados_t r, const char *key, uint32_t v, struct cairn_err *err)
{
	char buf[16];
	int ret;

	snprintf(buf, sizeof(buf), "%u", v);
	ret = rados_conf_set(r, key, buf);
	if (ret < 0)
		return err_set(err, ret, "cannot set ceph option '%s': %s", key, strerror(-ret));
	return 0;
}

int cluster_connect(const struct cairn_config *conf, struct cluster **ret, struct cairn_err *err)
{
	_cleanup_(freep) char *client = NULL;
	struct cluster *c;
	int r;

	client = str_printf("client.%s", conf->ceph.user);
	c = calloc(1, sizeof(*c));
	if (!client || !c) {
		free(c);
		return err_set(err, -ENOMEM, "out of memory");
	}
	c->conf = conf;
	pthread_mutex_init(&c->lock, NULL);

	r = rados_create2(&c->rados, conf->ceph.cluster_name, client, 0);
	if (r < 0) {
		c->rados = NULL;
		err_set(err, r, "cannot create a ceph client for '%s': %s", client, strerror(-r));
		goto fail;
	}
	r = rados_conf_read_file(c->rados, conf->ceph.conf);
	if (r < 0) {
		err_set(err, r, "cannot read ceph configuration '%s': %s", conf->ceph.conf,
		        strerror(-r));
		goto fail;
	}
	if (conf->ceph.keyring[0]) {
		r = rados_conf_set(c->rados, "keyring", conf->ceph.keyring);
		if (r < 0) {
			err_set(err, r, "cannot use keyring '%s': %s", conf->ceph.keyring,
			        strerror(-r));
			goto fail;
		}
	}
	/* A dead cluster must give -ETIMEDOUT promptly, never a hung worker. */
	if (cluster_conf_set_uint(c->rados, "rados_mon_op_timeout", conf->ceph.mon_op_timeout,
	                          err) < 0 ||
	    cluster_conf_set_uint(c->rados, "rados_osd_op_timeout", conf->ceph.osd_op_timeout,
	                          err) < 0 ||
	    cluster_conf_set_uint(c->rados, "client_mount_timeout", conf->ceph.client_mount_timeout,
	                          err) < 0) {
		r = err->code;
		goto fail;
	}
	/* librbd's own log lines go to the cluster log file, not to our stderr */
	rados_conf_set(c->rados, "log_to_stderr", "false");
	rados_conf_set(c->rados, "err_to_stderr", "false");

	r = rados_connect(c->rados);
	if (r < 0) {
		err_set(err, r, "cannot connect to the ceph cluster with '%s' as '%s': %s",
		        conf->ceph.conf, client, strerror(-r));
		goto fail;
	}
	log_debug("connected to the cluster as %s", client);
	*ret = c;
	return 0;
fail:
	cluster_free(c);
	return r;
}

void cluster_intent_orphan(struct cluster *c, const char *op_id)
{
	pthread_mutex_lock(&c->lock);
	str_copy(c->orphans[c->next_orphan], CLUSTER_OP_ID_MAX, op_id);
	c->next_orphan = (c->next_orphan + 1) % CLUSTER_ORPHANS_MAX;
	if (c->n_orphans < CLUSTER_ORPHANS_MAX)
		c->n_orphans++;
	pthread_mutex_unlock(&c->lock);
}

bool cluster_intent_orphaned(struct cluster *c, const char *op_id)
{
	bool found = false;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_orphans && !found; i++)
		found = strcmp(c->orphans[i], op_id) == 0;
	pthread_mutex_unlock(&c->lock);
	return found;
}

struct cluster *cluster_free(struct cluster *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_by_name; i++)
		rados_ioctx_destroy(c->by_name[i].io);
	if (c->state_io)
		rados_ioctx_destroy(c->state_io);
	if (c->rados)
		rados_shutdown(c->rados);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

rados_t cluster_rados(struct cluster *c)
{
	return c->rados;
}

const struct cairn_config *cluster_config(struct cluster *c)
{
	return c->conf;
}

int cluster_ioctx_by_name(struct cluster *c, const char *pool, rados_ioctx_t *ret,
                          struct cairn_err *err)
{
	rados_ioctx_t io;
	int r;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_by_name; i++)
		if (strcmp(c->by_name[i].name, pool) == 0) {
			*ret = c->by_name[i].io;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
	pthread_mutex_unlock(&c->lock);

	/* Opening may wait on the cluster: do it without the lock. */
	r = rados_ioctx_create(c->rados, pool, &io);
	if (r == -ENOENT)
		return err_set(err, r, "pool '%s' does not exist", pool);
	if (r < 0)
		return err_set(err, r, "cannot open pool '%s': %s", pool, strerror(-r));

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n_by_name; i++)
		if (strcmp(c->by_name[i].name, pool) == 0) {
			/* another thread was quicker */
			*ret = c->by_name[i].io;
			pthread_mutex_unlock(&c->lock);
			rados_ioctx_destroy(io);
			return 0;
		}
	if (c->n_by_name == IOCTX_BY_NAME_MAX) {
		pthread_mutex_unlock(&c->lock);
		rados_ioctx_destroy(io);
		return err_set(err, -ENOSPC, "too many pools open");
	}
	str_copy(c->by_name[c->n_by_name].name, sizeof(c->by_name[0].name), pool);
	c->by_name[c->n_by_name++].io = io;
	pthread_mutex_unlock(&c->lock);
	*ret = io;
	return 0;
}

int cluster_ioctx(struct cluster *c, enum pool_role role, rados_ioctx_t *ret, struct cairn_err *err)
{
	const char *name = conf_pool_name(c->conf, role);

	if (!name)
		return err_set(err, -EINVAL, "unknown pool role %d", (int)role);
	return cluster_ioctx_by_name(c, name, ret, err);
}

int cluster_state_ioctx(struct cluster *c, rados_ioctx_t *ret, struct cairn_err *err)
{
	const char *pool = conf_pool_name(c->conf, POOL_ROLE_VOLUMES);
	rados_ioctx_t io;
	int r;

	pthread_mutex_lock(&c->lock);
	if (c->state_io) {
		*ret = c->state_io;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	pthread_mutex_unlock(&c->lock);

	r = rados_ioctx_create(c->rados, pool, &io);
	if (r < 0)
		return err_set(err, r, "cannot open pool '%s' for cairn's state: %s", pool,
		               strerror(-r));
	rados_ioctx_set_namespace(io, STATE_NAMESPACE);

	pthread_mutex_lock(&c->lock);
	if (c->state_io) {
		*ret = c->state_io;
		pthread_mutex_unlock(&c->lock);
		rados_ioctx_destroy(io);
		return 0;
	}
	c->state_io = io;
	pthread_mutex_unlock(&c->lock);
	*ret = io;
	return 0;
}

int cluster_mon_command(struct cluster *c, const char *cmd_json, char **ret_out,
                        struct cairn_err *err)
{
	const char *cmd[] = {cmd_json};
	char *outbuf = NULL, *outs = NULL;
	size_t outbuf_len = 0, outs_len = 0;
	int r;

	r = rados_mon_command(c->rados, cmd, 1, "", 0, &outbuf, &outbuf_len, &outs, &outs_len);
	if (r < 0) {
		err_set(err, r, "ceph monitor command failed: %.*s%s%s", (int)outs_len,
		        outs ? outs : "", outs_len ? ": " : "", strerror(-r));
		rados_buffer_free(outbuf);
		rados_buffer_free(outs);
		return r;
	}
	rados_buffer_free(outs);
	if (ret_out) {
		char *s = malloc(outbuf_len + 1);
		if (!s) {
			rados_buffer_free(outbuf);
			return err_set(err, -ENOMEM, "out of memory");
		}
		if (outbuf_len)
			memcpy(s, outbuf, outbuf_len);
		s[outbuf_len] = '\0';
		*ret_out = s;
	}
	rados_buffer_free(outbuf);
	return 0;
}

int cluster_ping(struct cluster *c, struct cairn_err *err)
{
	return cluster_mon_command(c, "{\"prefix\": \"health\", \"format\": \"json\"}", NULL, err);
}

int cluster_fsid(struct cluster *c, char ret[37])
{
	int r = rados_cluster_fsid(c->rados, ret, 37);
	return r < 0 ? r : 0;
}

int cluster_mon_dump(struct cluster *c, char **ret_json, struct cairn_err *err)
{
	return cluster_mon_command(c, "{\"prefix\": \"mon dump\", \"format\": \"json\"}", ret_json,
	                           err);
}

/* Find "key = ..." in section [entity] of a keyring file (ceph's INI-like format). */
static int keyring_find(const char *path, const char *entity, char ret_key[CEPHX_KEY_B64_MAX])
{
	_cleanup_(fclosep) FILE *f = fopen(path, "re");
	char line[512], section[160] = "";
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strlen(p);
		while (end > p &&
		       (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*p == '[') {
			char *close = strchr(p, ']');
			if (close) {
				*close = '\0';
				str_copy(section, sizeof(section), p + 1);
			}
			continue;
		}
		if (strcmp(section, entity) != 0 || strncmp(p, "key", 3) != 0)
			continue;
		p += 3;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '=')
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		r = str_copy(ret_key, CEPHX_KEY_B64_MAX, p) < 0 ? -E2BIG : 0;
		break;
	}
	secure_erase(line, sizeof(line));
	return r;
}

int cluster_secret_key(struct cluster *c, char ret_key[CEPHX_KEY_B64_MAX], struct cairn_err *err)
{
	_cleanup_(freep) char *entity = str_printf("client.%s", c->conf->ceph.user);
	char paths[4096], *save = NULL, *path;
	int r;

	if (!entity)
		return err_set(err, -ENOMEM, "out of memory");
	if (c->conf->ceph.keyring[0]) {
		r = str_copy(paths, sizeof(paths), c->conf->ceph.keyring);
	} else {
		/* librados expands $cluster and $name in what ceph.conf says */
		r = rados_conf_get(c->rados, "keyring", paths, sizeof(paths));
	}
	if (r < 0)
		return err_set(err, r, "cannot tell where the keyring of '%s' is", entity);
	for (path = strtok_r(paths, ",; ", &save); path; path = strtok_r(NULL, ",; ", &save)) {
		r = keyring_find(path, entity, ret_key);
		if (r == 0)
			return 0;
	}
	return err_set(err, -ENOENT, "no keyring holds a key for '%s'", entity);
}
