/* SPDX-License-Identifier: MIT */
#define LOG_MODULE "cluster"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pools/pools-internal.h"
#include "pools/pools.h"

#define STATE_NAMESPACE   "cairn"
#define IOCTX_BY_NAME_MAX 16

struct ioctx_entry {
	char name[NAME_MAX_LEN + 1];
	rados_ioctx_t io;
};

/*
 * The cluster that holds the backups pool when [backup] cluster_conf names another one.
 * Connected at start when it answers, else on first use; once connected the rados_t stays
 * for the daemon's life (librados finds the monitors again by itself when they come back),
 * so io contexts handed out never dangle.
 */
struct backup_cluster {
	pthread_mutex_t lock; /* serialises connecting, checking, making the pool */
	rados_t rados;        /* NULL until connected */
	rados_ioctx_t io;     /* the backups pool, once it is known to be ready */
	/* the last check, under cluster.lock (read by health and metrics without waiting) */
	bool up, tried, pool_ready;
	uint64_t tried_ms;
	struct cairn_err last; /* why the last check failed */
	char fsid[37];
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
	struct backup_cluster *backup; /* NULL: backups stay in this cluster */
	struct ro_closer closer;
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

/*
 * A connected rados_t for one cluster: ceph_conf names it, keyring "" means what that
 * ceph.conf says. what ("the ceph cluster", "the backup cluster") is for messages.
 */
static int rados_open(const struct cairn_config *conf, const char *what, const char *ceph_conf,
                      const char *cluster_name, const char *keyring, rados_t *ret,
                      struct cairn_err *err)
{
	_cleanup_(freep) char *client = str_printf("client.%s", conf->ceph.user);
	rados_t r = NULL;
	int ret_code;

	if (!client)
		return err_set(err, -ENOMEM, "out of memory");
	ret_code = rados_create2(&r, cluster_name, client, 0);
	if (ret_code < 0)
		return err_set(err, ret_code, "cannot create a ceph client for '%s': %s", client,
		               strerror(-ret_code));
	ret_code = rados_conf_read_file(r, ceph_conf);
	if (ret_code < 0) {
		err_set(err, ret_code, "cannot read the ceph configuration of %s '%s': %s", what,
		        ceph_conf, strerror(-ret_code));
		goto fail;
	}
	if (keyring[0]) {
		ret_code = rados_conf_set(r, "keyring", keyring);
		if (ret_code < 0) {
			err_set(err, ret_code, "cannot use keyring '%s': %s", keyring,
			        strerror(-ret_code));
			goto fail;
		}
	}
	/* A dead cluster must give -ETIMEDOUT promptly, never a hung worker. */
	if (cluster_conf_set_uint(r, "rados_mon_op_timeout", conf->ceph.mon_op_timeout, err) < 0 ||
	    cluster_conf_set_uint(r, "rados_osd_op_timeout", conf->ceph.osd_op_timeout, err) < 0 ||
	    cluster_conf_set_uint(r, "client_mount_timeout", conf->ceph.client_mount_timeout, err) <
	            0) {
		ret_code = err->code;
		goto fail;
	}
	/* librbd's own log lines go to the cluster log file, not to our stderr */
	rados_conf_set(r, "log_to_stderr", "false");
	rados_conf_set(r, "err_to_stderr", "false");

	ret_code = rados_connect(r);
	if (ret_code < 0) {
		err_set(err, ret_code, "cannot connect to %s with '%s' as '%s': %s", what,
		        ceph_conf, client, strerror(-ret_code));
		goto fail;
	}
	log_debug("connected to %s (%s) as %s", what, ceph_conf, client);
	*ret = r;
	return 0;
fail:
	rados_shutdown(r);
	return ret_code;
}

/* Failures that mean "the cluster does not answer", as opposed to a refusal or a bad setup. */
static bool is_unreachable(int r)
{
	return r == -ETIMEDOUT || r == -ENOTCONN || r == -ECONNREFUSED || r == -EHOSTUNREACH ||
	       r == -ESHUTDOWN || r == -ENETUNREACH;
}

/* Ceph's convention: /etc/ceph/<cluster>.conf; anything else is cluster "ceph". */
static void backup_cluster_name(const char *path, char *ret, size_t len)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	str_copy(ret, len, "ceph");
	if (n <= 5 || n - 5 >= len || strcmp(base + n - 5, ".conf") != 0)
		return;
	for (size_t i = 0; i < n - 5; i++)
		if (!(isalnum((unsigned char)base[i]) || base[i] == '-' || base[i] == '_'))
			return;
	memcpy(ret, base, n - 5);
	ret[n - 5] = '\0';
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int cluster_connect(const struct cairn_config *conf, struct cluster **ret, struct cairn_err *err)
{
	struct cluster *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(err, -ENOMEM, "out of memory");
	c->conf = conf;
	pthread_mutex_init(&c->lock, NULL);
	ro_closer_start(&c->closer);

	r = rados_open(conf, "the ceph cluster", conf->ceph.conf, conf->ceph.cluster_name,
	               conf->ceph.keyring, &c->rados, err);
	if (r < 0)
		goto fail;
	if (conf->backup.cluster_conf[0]) {
		c->backup = calloc(1, sizeof(*c->backup));
		if (!c->backup) {
			r = err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
		pthread_mutex_init(&c->backup->lock, NULL);
		/*
		 * Connect now so that a bad setup (no such file, no key, wrong key) stops the
		 * start. A backup cluster that does not answer does not: backups fail with 503
		 * until it does, everything else works.
		 */
		r = cluster_backup_check(c, err);
		if (r < 0 && !is_unreachable(r))
			goto fail;
		if (r < 0) {
			log_info("starting without the backup cluster; backups to it fail with 503 "
			         "until it answers");
			err_clear(err);
		} else {
			char fsid[37] = "", bfsid[37] = "";

			rados_cluster_fsid(c->rados, fsid, sizeof(fsid));
			rados_cluster_fsid(c->backup->rados, bfsid, sizeof(bfsid));
			if (fsid[0] && strcmp(fsid, bfsid) == 0)
				log_warn("[backup] cluster_conf '%s' names the main cluster itself "
				         "(fsid %s): backups are not kept apart from the volumes",
				         conf->backup.cluster_conf, fsid);
		}
	}
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
	ro_closer_stop(&c->closer); /* its images use the io contexts and rados_ts below */
	for (size_t i = 0; i < c->n_by_name; i++)
		rados_ioctx_destroy(c->by_name[i].io);
	if (c->state_io)
		rados_ioctx_destroy(c->state_io);
	if (c->backup) {
		if (c->backup->io)
			rados_ioctx_destroy(c->backup->io);
		if (c->backup->rados)
			rados_shutdown(c->backup->rados);
		pthread_mutex_destroy(&c->backup->lock);
		free(c->backup);
	}
	if (c->rados)
		rados_shutdown(c->rados);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

struct ro_closer *cluster_ro_closer(struct cluster *c)
{
	return &c->closer;
}

rados_t cluster_rados(struct cluster *c)
{
	return c->rados;
}

const struct cairn_config *cluster_config(struct cluster *c)
{
	return c->conf;
}

/*
 * A write to a full pool (its quota reached, or the cluster full) fails at once with
 * -EDQUOT or -ENOSPC (507) instead of waiting for space: without this an OSD whose map is
 * newer than the client's drops the write, which then runs into rados_osd_op_timeout and
 * makes cairnd take the cluster for unreachable. Deletes still go through: they free space.
 * librbd keeps the flag in the io contexts it makes from these.
 */
static void ioctx_full_try(rados_ioctx_t io)
{
	rados_set_pool_full_try(io);
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
	ioctx_full_try(io);

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
	if (role == POOL_ROLE_BACKUPS && c->backup)
		return cluster_backup_ioctx(c, ret, err);
	return cluster_ioctx_by_name(c, name, ret, err);
}

/* ---- the backup cluster ----------------------------------------------------------------- */

bool cluster_has_backup(struct cluster *c)
{
	return c && c->backup;
}

static void backup_note(struct cluster *c, int r, const struct cairn_err *why)
{
	struct backup_cluster *b = c->backup;

	pthread_mutex_lock(&c->lock);
	if (r >= 0 && !b->up && b->tried)
		log_info("the backup cluster ('%s') is reachable again",
		         c->conf->backup.cluster_conf);
	else if (r < 0 && (b->up || !b->tried))
		log_warn("%s", why->msg);
	b->tried = true;
	b->tried_ms = now_ms();
	b->up = r >= 0;
	b->pool_ready = b->io != NULL; /* b->lock is held: b->io is stable */
	err_clear(&b->last);
	if (r < 0)
		b->last = *why;
	else if (b->rados)
		rados_cluster_fsid(b->rados, b->fsid, sizeof(b->fsid));
	pthread_mutex_unlock(&c->lock);
}

/* Connect, ping, make the pool: with b->lock held (and so is it for backup_note). */
static int backup_check_locked(struct cluster *c, struct cairn_err *err)
{
	struct backup_cluster *b = c->backup;
	const char *conf = c->conf->backup.cluster_conf;
	const char *pool = c->conf->pools.backups;
	struct cairn_err e = {0};
	uint64_t now = now_ms();
	int r;

	/* A failure is answered from memory for a moment: a burst of requests to a dead
	 * cluster fails at once instead of each waiting for the timeout. */
	pthread_mutex_lock(&c->lock);
	if (b->tried && !b->up && now - b->tried_ms < CLUSTER_BACKUP_RETRY_MS) {
		r = err_set(err, b->last.code, "%s", b->last.msg);
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	pthread_mutex_unlock(&c->lock);

	if (!b->rados) {
		char name[64];

		backup_cluster_name(conf, name, sizeof(name));
		r = rados_open(c->conf, "the backup cluster", conf, name, "", &b->rados, &e);
		if (r < 0) {
			b->rados = NULL;
			if (is_unreachable(r)) {
				err_clear(&e);
				err_set(&e, r, "the backup cluster ('%s') is unreachable: %s", conf,
				        strerror(-r));
			}
			goto fail;
		}
	}
	r = cluster_rados_mon_command(b->rados, "{\"prefix\": \"health\", \"format\": \"json\"}",
	                              NULL, &e);
	if (r < 0) {
		err_clear(&e);
		err_set(&e, r, "the backup cluster ('%s') is unreachable: %s", conf, strerror(-r));
		goto fail;
	}
	if (!b->io) {
		rados_ioctx_t io;

		r = pool_ensure_on(b->rados, pool, c->conf->pools.pg_num, &e);
		if (r >= 0) {
			r = rados_ioctx_create(b->rados, pool, &io);
			if (r < 0)
				err_set(&e, r, "cannot open pool '%s': %s", pool, strerror(-r));
			else
				ioctx_full_try(io);
		}
		if (r < 0) {
			struct cairn_err e2 = {0};

			err_set(&e2, r, "backup cluster ('%s'): %s", conf, e.msg);
			e = e2;
			goto fail;
		}
		b->io = io;
	}
	backup_note(c, 0, NULL);
	return 0;
fail:
	backup_note(c, r, &e);
	return err_set(err, r, "%s", e.msg);
}

int cluster_backup_check(struct cluster *c, struct cairn_err *err)
{
	int r;

	if (!c->backup)
		return 0;
	pthread_mutex_lock(&c->backup->lock);
	r = backup_check_locked(c, err);
	pthread_mutex_unlock(&c->backup->lock);
	return r;
}

int cluster_backup_ioctx(struct cluster *c, rados_ioctx_t *ret, struct cairn_err *err)
{
	int r;

	if (!c->backup)
		return cluster_ioctx_by_name(c, c->conf->pools.backups, ret, err);
	pthread_mutex_lock(&c->backup->lock);
	r = backup_check_locked(c, err);
	if (r >= 0)
		*ret = c->backup->io;
	pthread_mutex_unlock(&c->backup->lock);
	return r;
}

int cluster_backup_rados(struct cluster *c, rados_t *ret, struct cairn_err *err)
{
	int r;

	if (!c->backup) {
		*ret = c->rados;
		return 0;
	}
	pthread_mutex_lock(&c->backup->lock);
	r = backup_check_locked(c, err);
	if (r >= 0)
		*ret = c->backup->rados;
	pthread_mutex_unlock(&c->backup->lock);
	return r;
}

void cluster_backup_status(struct cluster *c, struct cluster_backup_status *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!c || !c->backup)
		return;
	ret->configured = true;
	str_copy(ret->conf, sizeof(ret->conf), c->conf->backup.cluster_conf);
	str_copy(ret->pool, sizeof(ret->pool), c->conf->pools.backups);
	pthread_mutex_lock(&c->lock);
	ret->reachable = c->backup->up;
	ret->checked = c->backup->tried;
	ret->checked_ago = c->backup->tried ? now_ms() - c->backup->tried_ms : 0;
	ret->pool_ready = c->backup->pool_ready;
	str_copy(ret->fsid, sizeof(ret->fsid), c->backup->fsid);
	if (!c->backup->up)
		str_copy(ret->error, sizeof(ret->error), c->backup->last.msg);
	pthread_mutex_unlock(&c->lock);
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
	ioctx_full_try(io);

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

int cluster_rados_mon_command(rados_t rados, const char *cmd_json, char **ret_out,
                              struct cairn_err *err)
{
	const char *cmd[] = {cmd_json};
	char *outbuf = NULL, *outs = NULL;
	size_t outbuf_len = 0, outs_len = 0;
	int r;

	r = rados_mon_command(rados, cmd, 1, "", 0, &outbuf, &outbuf_len, &outs, &outs_len);
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

int cluster_mon_command(struct cluster *c, const char *cmd_json, char **ret_out,
                        struct cairn_err *err)
{
	return cluster_rados_mon_command(c->rados, cmd_json, ret_out, err);
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
