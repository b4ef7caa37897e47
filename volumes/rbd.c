/* SPDX-License-Identifier: MIT */
/* volumes: the librbd steps images and volumes are made of. */
#define LOG_MODULE "volumes"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rbd/features.h>

#include "volumes/vol-internal.h"

#define LIST_MAX_START 64
#define LIST_MAX       1048576

int vol_pool_resolve(struct cluster *c, const char *pool, const char **ret_name,
                     struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);

	if (!pool || !*pool || strcmp(pool, "volumes") == 0 ||
	    strcmp(pool, conf->pools.volumes) == 0) {
		*ret_name = conf->pools.volumes;
		return 0;
	}
	if (strcmp(pool, "vms") == 0 || strcmp(pool, conf->pools.vms) == 0) {
		*ret_name = conf->pools.vms;
		return 0;
	}
	return err_set(err, -EINVAL, "pool '%s' is not a volume pool (use '%s' or '%s')", pool,
	               conf->pools.volumes, conf->pools.vms);
}

bool vol_pool_is_cairns(struct cluster *c, const char *pool)
{
	const struct cairn_config *conf = cluster_config(c);

	return strcmp(pool, conf->pools.volumes) == 0 || strcmp(pool, conf->pools.vms) == 0 ||
	       strcmp(pool, conf->pools.images) == 0;
}

int vol_features(struct cluster *c, uint64_t *ret, struct cairn_err *err)
{
	const char *s = cluster_config(c)->volumes.default_features;
	uint64_t f = 0;
	int r;

	if (s && *s) {
		r = rbd_features_from_string(s, &f);
		if (r < 0)
			return err_set(err, r, "bad rbd features '%s'", s);
	} else {
		f = RBD_FEATURES_DEFAULT;
	}
	*ret = f | RBD_FEATURE_LAYERING; /* clones need it */
	return 0;
}

/* What a failed open of pool/rbd_image[@snap] says. */
static int open_failed(int r, const char *pool, const char *rbd_image, const char *snap,
                       struct cairn_err *err)
{
	if (r == -ENOENT && snap)
		return err_set(err, r, "rbd image '%s/%s@%s' not found", pool, rbd_image, snap);
	if (r == -ENOENT)
		return err_set(err, r, "rbd image '%s/%s' not found", pool, rbd_image);
	return err_set(err, r, "cannot open rbd image '%s/%s': %s", pool, rbd_image, strerror(-r));
}

int vol_open(struct cluster *c, const char *pool, const char *rbd_image, const char *snap,
             rbd_image_t *ret, struct cairn_err *err)
{
	rados_ioctx_t io;
	int r;

	r = cluster_ioctx_by_name(c, pool, &io, err);
	if (r < 0)
		return r;
	r = rbd_open(io, rbd_image, ret, snap);
	return r < 0 ? open_failed(r, pool, rbd_image, snap, err) : 0;
}

int vol_open_ro(struct cluster *c, const char *pool, const char *rbd_image, const char *snap,
                struct ro_image *ret, struct cairn_err *err)
{
	rados_ioctx_t io;
	int r;

	r = cluster_ioctx_by_name(c, pool, &io, err);
	if (r < 0)
		return r;
	r = cluster_ro_open(c, io, rbd_image, NULL, snap, ret);
	return r < 0 ? open_failed(r, pool, rbd_image, snap, err) : 0;
}

static int image_options(struct cluster *c, rbd_image_options_t *ret, struct cairn_err *err)
{
	rbd_image_options_t opts;
	uint64_t features;
	int r;

	r = vol_features(c, &features, err);
	if (r < 0)
		return r;
	rbd_image_options_create(&opts);
	r = rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FORMAT, 2);
	if (r >= 0)
		r = rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FEATURES, features);
	if (r < 0) {
		rbd_image_options_destroy(opts);
		return err_set(err, r, "cannot set rbd image options: %s", strerror(-r));
	}
	*ret = opts;
	return 0;
}

int vol_rbd_create(struct cluster *c, const char *pool, const char *rbd_image, uint64_t size,
                   struct cairn_err *err)
{
	rbd_image_options_t opts;
	rados_ioctx_t io;
	int r;

	r = cluster_ioctx_by_name(c, pool, &io, err);
	if (r < 0)
		return r;
	r = image_options(c, &opts, err);
	if (r < 0)
		return r;
	r = rbd_create4(io, rbd_image, size, opts);
	rbd_image_options_destroy(opts);
	if (r == -ENOSPC || r == -EDQUOT)
		return err_set(err, -ENOSPC, "pool '%s' is full", pool);
	if (r < 0)
		return err_set(err, r, "cannot create rbd image '%s/%s': %s", pool, rbd_image,
		               strerror(-r));
	log_debug("created rbd image %s/%s of %" PRIu64 " bytes", pool, rbd_image, size);
	return 0;
}

static int snap_protect(struct cluster *c, const char *pool, const char *image, const char *snap,
                        struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	int prot = 0, r;

	r = vol_open(c, pool, image, NULL, &img, err);
	if (r < 0)
		return r;
	r = rbd_snap_is_protected(img, snap, &prot);
	if (r >= 0 && !prot)
		r = rbd_snap_protect(img, snap);
	if (r == -EBUSY) /* protected meanwhile */
		r = 0;
	if (r < 0)
		return err_set(err, r, "cannot protect snapshot '%s/%s@%s': %s", pool, image, snap,
		               strerror(-r));
	return 0;
}

int vol_rbd_clone(struct cluster *c, const char *ppool, const char *pimage, const char *psnap,
                  const char *pool, const char *rbd_image, struct cairn_err *err)
{
	rados_ioctx_t pio, io;
	rbd_image_options_t opts;
	int r;

	r = cluster_ioctx_by_name(c, ppool, &pio, err);
	if (r < 0)
		return r;
	r = cluster_ioctx_by_name(c, pool, &io, err);
	if (r < 0)
		return r;
	r = image_options(c, &opts, err);
	if (r < 0)
		return r;
	/* clone v2: no snapshot protection, and a parent snapshot can be trashed with clones */
	rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_CLONE_FORMAT, 2);
	r = rbd_clone3(pio, pimage, psnap, io, rbd_image, opts);
	if (r == -EOPNOTSUPP || r == -EINVAL) {
		/* the cluster still admits pre-mimic clients: protect and make a v1 clone */
		log_debug("clone v2 of %s/%s@%s refused (%s): protecting the snapshot", ppool,
		          pimage, psnap, strerror(-r));
		r = snap_protect(c, ppool, pimage, psnap, err);
		if (r < 0) {
			rbd_image_options_destroy(opts);
			return r;
		}
		rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_CLONE_FORMAT, 1);
		r = rbd_clone3(pio, pimage, psnap, io, rbd_image, opts);
	}
	rbd_image_options_destroy(opts);
	if (r == -ENOSPC || r == -EDQUOT)
		return err_set(err, -ENOSPC, "pool '%s' is full", pool);
	if (r < 0)
		return err_set(err, r, "cannot clone '%s/%s@%s' to '%s/%s': %s", ppool, pimage,
		               psnap, pool, rbd_image, strerror(-r));
	log_debug("cloned %s/%s@%s to %s/%s", ppool, pimage, psnap, pool, rbd_image);
	return 0;
}

int vol_rbd_mark(struct cluster *c, const char *pool, const char *rbd_image, const char *id,
                 struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	int r;

	r = vol_open(c, pool, rbd_image, NULL, &img, err);
	if (r < 0)
		return r;
	r = rbd_metadata_set(img, VOL_MARK_KEY, id);
	if (r < 0)
		return err_set(err, r, "cannot set metadata of '%s/%s': %s", pool, rbd_image,
		               strerror(-r));
	return 0;
}

static size_t put_le32(char *buf, size_t off, uint32_t v)
{
	uint32_t le = htole32(v);

	memcpy(buf + off, &le, sizeof(le));
	return off + sizeof(le);
}

/*
 * The mark through the image's header object, without opening the image: an open for
 * writing takes the exclusive lock, loads the object map and registers a watch, and the
 * close undoes it all (20-40 ms on a busy 2-core host, as much as the clone itself); this
 * is one read and one cls call. It is what rbd_metadata_set() does underneath, minus the
 * notification of other clients: for an image made a moment ago that nobody has open.
 * The input of cls_rbd's metadata_set is an encoded map<string, bufferlist>: a le32 count,
 * then per entry a le32 length and the key, a le32 length and the value.
 */
int vol_rbd_mark_new(struct cluster *c, const char *pool, const char *rbd_image, const char *id,
                     struct cairn_err *err)
{
	char oid[VOL_RBD_NAME_MAX + 16], buf[128], in[256];
	size_t kl = strlen(VOL_MARK_KEY), vl = strlen(id), off = 0;
	rados_ioctx_t io;
	uint32_t len, le;
	int r;

	if (vl > 128)
		return err_set(err, -EINVAL, "mark '%s' is too long", id);
	r = cluster_ioctx_by_name(c, pool, &io, err);
	if (r < 0)
		return r;
	/* rbd_id.<name> holds the image id as an encoded string: le32 length, bytes */
	snprintf(oid, sizeof(oid), "rbd_id.%s", rbd_image);
	r = rados_read(io, oid, buf, sizeof(buf), 0);
	if (r < 0)
		return err_set(err, r, "cannot read the id of '%s/%s': %s", pool, rbd_image,
		               strerror(-r));
	if (r < 4)
		return err_set(err, -EBADMSG, "bad id object of '%s/%s'", pool, rbd_image);
	memcpy(&le, buf, 4);
	len = le32toh(le);
	if (len == 0 || len > 64 || len + 4 > (uint32_t)r)
		return err_set(err, -EBADMSG, "bad id object of '%s/%s'", pool, rbd_image);
	snprintf(oid, sizeof(oid), "rbd_header.%.*s", (int)len, buf + 4);

	off = put_le32(in, off, 1);
	off = put_le32(in, off, (uint32_t)kl);
	memcpy(in + off, VOL_MARK_KEY, kl);
	off += kl;
	off = put_le32(in, off, (uint32_t)vl);
	memcpy(in + off, id, vl);
	off += vl;
	r = rados_exec(io, oid, "rbd", "metadata_set", in, off, NULL, 0);
	if (r < 0)
		return err_set(err, r, "cannot set metadata of '%s/%s': %s", pool, rbd_image,
		               strerror(-r));
	return 0;
}

int vol_rbd_is_marked(rbd_image_t img)
{
	char value[128];
	size_t len = sizeof(value);
	int r;

	r = rbd_metadata_get(img, VOL_MARK_KEY, value, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	return 1;
}

#define INTENT_TOUCH_SECONDS 60

static void *keeper_main(void *arg)
{
	struct intent_keeper *k = arg;

	pthread_mutex_lock(&k->lock);
	while (!k->stop) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += INTENT_TOUCH_SECONDS;
		while (!k->stop && pthread_cond_timedwait(&k->cond, &k->lock, &until) == 0)
			;
		if (k->stop)
			break;
		pthread_mutex_unlock(&k->lock);
		{
			struct cairn_err lerr = {0};
			if (intent_step(k->c, k->op, k->step, &lerr) < 0)
				log_debug("cannot touch intent %s: %s", k->op, lerr.msg);
		}
		pthread_mutex_lock(&k->lock);
	}
	pthread_mutex_unlock(&k->lock);
	return NULL;
}

void intent_keeper_start(struct intent_keeper *k, struct cluster *c, const char *op,
                         const char *step)
{
	pthread_condattr_t attr;

	memset(k, 0, sizeof(*k));
	k->c = c;
	str_copy(k->op, sizeof(k->op), op);
	str_copy(k->step, sizeof(k->step), step);
	pthread_mutex_init(&k->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&k->cond, &attr);
	pthread_condattr_destroy(&attr);
	k->running = pthread_create(&k->thread, NULL, keeper_main, k) == 0;
	if (!k->running)
		log_debug("no keeper for intent %s: the step goes on without", op);
}

void intent_keeper_stop(struct intent_keeper *k)
{
	if (k->running) {
		pthread_mutex_lock(&k->lock);
		k->stop = true;
		pthread_cond_signal(&k->cond);
		pthread_mutex_unlock(&k->lock);
		pthread_join(k->thread, NULL);
		k->running = false;
	}
	pthread_cond_destroy(&k->cond);
	pthread_mutex_destroy(&k->lock);
}

int vol_rbd_progress_cb(uint64_t done, uint64_t total, void *p)
{
	struct cairn_progress *progress = p;

	progress_report(progress, done, total);
	return progress_cancelled(progress) ? -ECANCELED : 0;
}

int vol_rbd_snaps(rbd_image_t img, struct vol_snap **ret, size_t *ret_n, struct cairn_err *err)
{
	int max = LIST_MAX_START, n;
	rbd_snap_info_t *info;
	struct vol_snap *s;

	for (;;) {
		info = calloc((size_t)max, sizeof(*info));
		if (!info)
			return err_set(err, -ENOMEM, "out of memory");
		n = rbd_snap_list(img, info, &max);
		if (n != -ERANGE)
			break;
		free(info);
		if (max > LIST_MAX)
			return err_set(err, -E2BIG, "too many snapshots");
	}
	if (n < 0) {
		free(info);
		return err_set(err, n, "cannot list snapshots: %s", strerror(-n));
	}
	s = calloc((size_t)n + 1, sizeof(*s));
	if (!s) {
		rbd_snap_list_end(info);
		free(info);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++) {
		s[i].id = info[i].id;
		s[i].size = info[i].size;
		s[i].name = strdup(info[i].name);
		s[i].ns = RBD_SNAP_NAMESPACE_TYPE_USER;
		rbd_snap_get_namespace_type(img, info[i].id, &s[i].ns);
		if (!s[i].name) {
			vol_rbd_snaps_free(s, (size_t)i);
			rbd_snap_list_end(info);
			free(info);
			return err_set(err, -ENOMEM, "out of memory");
		}
	}
	rbd_snap_list_end(info);
	free(info);
	*ret = s;
	*ret_n = (size_t)n;
	return 0;
}

void vol_rbd_snaps_free(struct vol_snap *s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++)
		free(s[i].name);
	free(s);
}

int vol_rbd_snap_remove(struct cluster *c, const char *pool, const char *rbd_image,
                        const char *snap, struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	struct cairn_err lerr = {0};
	int r;

	r = vol_open(c, pool, rbd_image, NULL, &img, &lerr);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_set(err, r, "%s", lerr.msg);
	r = rbd_snap_remove2(img, snap, RBD_SNAP_REMOVE_UNPROTECT, NULL, NULL);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_set(err, r, "cannot remove snapshot '%s/%s@%s': %s", pool, rbd_image,
		               snap, strerror(-r));
	log_debug("removed snapshot %s/%s@%s", pool, rbd_image, snap);
	return 0;
}

int vol_rbd_group(struct cluster *c, rbd_image_t img, char *ret_name, size_t len,
                  struct cairn_err *err)
{
	rbd_group_info_t g = {0};
	char pool[NAME_MAX_LEN + 1];
	int r;

	r = rbd_get_group(img, &g, sizeof(g));
	if (r == -EOPNOTSUPP)
		return 0; /* an old-format image is in no group */
	if (r < 0)
		return err_set(err, r, "cannot read the group of an image: %s", strerror(-r));
	if (g.pool < 0 || !g.name || !*g.name) {
		rbd_group_info_cleanup(&g, sizeof(g));
		return 0;
	}
	if (rados_pool_reverse_lookup(cluster_rados(c), g.pool, pool, sizeof(pool)) < 0)
		snprintf(pool, sizeof(pool), "%" PRId64, g.pool);
	snprintf(ret_name, len, "%s/%s", pool, g.name);
	rbd_group_info_cleanup(&g, sizeof(g));
	return 1;
}

int vol_rbd_group_snaps(rbd_image_t img, char *ret_list, size_t len, struct cairn_err *err)
{
	struct vol_snap *snaps = NULL;
	size_t n = 0, used = 0;
	int r, count = 0;

	ret_list[0] = '\0';
	r = vol_rbd_snaps(img, &snaps, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		rbd_snap_group_namespace_t ns = {0};
		int w;

		if (snaps[i].ns != RBD_SNAP_NAMESPACE_TYPE_GROUP ||
		    rbd_snap_get_group_namespace(img, snaps[i].id, &ns, sizeof(ns)) < 0)
			continue;
		if (ns.group_name && ns.group_snap_name &&
		    !str_has_prefix(ns.group_snap_name, VOL_HIDDEN_SNAP_PREFIX)) {
			count++;
			w = snprintf(ret_list + used, len - used, "%s%s@%s", used ? ", " : "",
			             ns.group_name, ns.group_snap_name);
			if (w > 0 && used + (size_t)w < len)
				used += (size_t)w;
			else
				ret_list[used] = '\0'; /* the first ones only */
		}
		rbd_snap_group_namespace_cleanup(&ns, sizeof(ns));
	}
	vol_rbd_snaps_free(snaps, n);
	return count;
}

/*
 * Remove a group snapshot of an image through its group, so that it goes from every image
 * of the group: a group snapshot that names a removed image could never be removed again.
 */
static int group_snap_remove(struct cluster *c, rbd_image_t img, const struct vol_snap *s,
                             struct cairn_err *err)
{
	rbd_snap_group_namespace_t ns = {0};
	char pool[NAME_MAX_LEN + 1];
	rados_ioctx_t gio;
	int r;

	r = rbd_snap_get_group_namespace(img, s->id, &ns, sizeof(ns));
	if (r >= 0 &&
	    rados_pool_reverse_lookup(cluster_rados(c), ns.group_pool, pool, sizeof(pool)) >= 0 &&
	    cluster_ioctx_by_name(c, pool, &gio, err) >= 0) {
		r = rbd_group_snap_remove(gio, ns.group_name, ns.group_snap_name);
		if (r >= 0)
			log_debug("removed group snapshot %s/%s@%s", pool, ns.group_name,
			          ns.group_snap_name);
	} else {
		r = -ENOENT;
	}
	if (ns.group_name)
		rbd_snap_group_namespace_cleanup(&ns, sizeof(ns));
	if (r == -ENOENT) /* the group is gone: the image's part alone */
		r = rbd_snap_remove_by_id(img, s->id);
	return r;
}

int vol_rbd_strip(struct cluster *c, rbd_image_t img, const char *pool, const char *rbd_image,
                  struct cairn_err *err)
{
	struct vol_snap *snaps = NULL;
	char group[2 * NAME_MAX_LEN + 2];
	size_t n = 0;
	int r;

	r = vol_rbd_snaps(img, &snaps, &n, err);
	if (r < 0)
		return r;
	/* group snapshots first, while the image is still in its group */
	for (int pass = 0; pass < 2 && r >= 0; pass++) {
		rbd_snap_namespace_type_t want =
		        pass == 0 ? RBD_SNAP_NAMESPACE_TYPE_GROUP : RBD_SNAP_NAMESPACE_TYPE_USER;

		for (size_t i = 0; i < n && r >= 0; i++) {
			if (snaps[i].ns != want)
				continue; /* trash snapshots go with their last clone */
			if (want == RBD_SNAP_NAMESPACE_TYPE_GROUP)
				r = group_snap_remove(c, img, &snaps[i], err);
			else
				r = rbd_snap_remove2(img, snaps[i].name, RBD_SNAP_REMOVE_UNPROTECT,
				                     NULL, NULL);
			if (r == -ENOENT)
				r = 0;
			if (r < 0)
				err_set(err, r, "cannot remove snapshot '%s' of '%s/%s': %s",
				        snaps[i].name, pool, rbd_image, strerror(-r));
		}
		if (pass == 0 && r >= 0) {
			r = vol_rbd_group(c, img, group, sizeof(group), err);
			if (r > 0) {
				char *slash = strchr(group, '/');
				rados_ioctx_t gio, io;

				*slash = '\0';
				r = cluster_ioctx_by_name(c, group, &gio, err);
				if (r >= 0)
					r = cluster_ioctx_by_name(c, pool, &io, err);
				if (r >= 0) {
					r = rbd_group_image_remove(gio, slash + 1, io, rbd_image);
					if (r == -ENOENT)
						r = 0;
					if (r < 0)
						err_set(err, r,
						        "cannot take '%s/%s' out of group '%s/%s': "
						        "%s",
						        pool, rbd_image, group, slash + 1,
						        strerror(-r));
				}
			}
		}
	}
	vol_rbd_snaps_free(snaps, n);
	return r < 0 ? r : 0;
}

int vol_rbd_remove(struct cluster *c, const char *pool, const char *rbd_image,
                   struct cairn_progress *progress, struct cairn_err *err)
{
	rados_ioctx_t io;
	int r;

	r = cluster_ioctx_by_name(c, pool, &io, err);
	if (r < 0)
		return r;
	{
		_cleanup_(rbd_closep) rbd_image_t img = NULL;
		struct cairn_err lerr = {0};

		r = vol_open(c, pool, rbd_image, NULL, &img, &lerr);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return err_set(err, r, "%s", lerr.msg);
		r = vol_rbd_strip(c, img, pool, rbd_image, err);
		if (r < 0)
			return r;
	}
	r = rbd_remove_with_progress(io, rbd_image, vol_rbd_progress_cb, progress);
	if (r == -ENOENT)
		return 0;
	if (r == -EBUSY)
		return err_set(err, r, "rbd image '%s/%s' is in use", pool, rbd_image);
	if (r == -ENOTEMPTY)
		return err_set(err, r, "rbd image '%s/%s' has clones", pool, rbd_image);
	if (r < 0)
		return err_set(err, r, "cannot remove rbd image '%s/%s': %s", pool, rbd_image,
		               strerror(-r));
	log_debug("removed rbd image %s/%s", pool, rbd_image);
	return 0;
}

int vol_rbd_set_qos(rbd_image_t img, struct json_object *qos, const char *name,
                    struct cairn_err *err)
{
	for (const struct vol_qos_key *k = vol_qos_keys; k->name; k++) {
		struct json_object *v = NULL;
		int64_t limit = 0;
		int r;

		if (qos && json_object_object_get_ex(qos, k->name, &v))
			limit = json_object_get_int64(v);
		if (limit > 0) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%" PRId64, limit);
			r = rbd_metadata_set(img, k->metadata, buf);
		} else {
			r = rbd_metadata_remove(img, k->metadata);
			if (r == -ENOENT)
				r = 0;
		}
		if (r < 0)
			return err_set(err, r, "cannot set qos '%s' of '%s': %s", k->name, name,
			               strerror(-r));
	}
	return 0;
}

int vol_rbd_depth(struct cluster *c, rbd_image_t img, unsigned *ret, struct cairn_err *err)
{
	rbd_linked_image_spec_t parent;
	rbd_snap_spec_t psnap;
	unsigned depth = 0;
	struct ro_image held = {0}; /* cur, when it is a parent */
	rbd_image_t cur = img;
	int r;

	for (;;) {
		struct ro_image next = {0};

		memset(&parent, 0, sizeof(parent));
		memset(&psnap, 0, sizeof(psnap));
		r = rbd_get_parent(cur, &parent, &psnap);
		if (r == -ENOENT) {
			r = 0;
			break;
		}
		if (r < 0) {
			err_set(err, r, "cannot read the parent of an image: %s", strerror(-r));
			break;
		}
		depth++;
		if (depth > 1024) {
			r = err_set(err, -ELOOP, "clone chain too deep");
		} else {
			struct cairn_err lerr = {0};
			rados_ioctx_t io;

			r = cluster_ioctx_by_name(c, parent.pool_name, &io, &lerr);
			if (r >= 0) {
				r = cluster_ro_open(c, io, NULL, parent.image_id, NULL, &next);
				if (r < 0)
					err_set(err, r, "cannot open the parent '%s/%s': %s",
					        parent.pool_name, parent.image_name, strerror(-r));
			} else {
				err_set(err, r, "%s", lerr.msg);
			}
		}
		rbd_linked_image_spec_cleanup(&parent);
		rbd_snap_spec_cleanup(&psnap);
		ro_image_close(&held);
		if (r < 0)
			return r;
		held = next;
		cur = held.img;
	}
	ro_image_close(&held);
	if (r < 0)
		return r;
	*ret = depth;
	return 0;
}

int vol_rbd_list(rados_ioctx_t io, char ***ret, size_t *ret_n, struct cairn_err *err)
{
	size_t max = LIST_MAX_START;
	rbd_image_spec_t *specs;
	char **names;
	int r;

	for (;;) {
		specs = calloc(max, sizeof(*specs));
		if (!specs)
			return err_set(err, -ENOMEM, "out of memory");
		r = rbd_list2(io, specs, &max);
		if (r != -ERANGE)
			break;
		free(specs);
		if (max > LIST_MAX)
			return err_set(err, -E2BIG, "too many images");
	}
	if (r < 0) {
		free(specs);
		return err_set(err, r, "cannot list rbd images: %s", strerror(-r));
	}
	names = calloc(max + 1, sizeof(*names));
	if (!names) {
		rbd_image_spec_list_cleanup(specs, max);
		free(specs);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < max; i++) {
		names[i] = strdup(specs[i].name);
		if (!names[i]) {
			vol_strv_free(names, i);
			rbd_image_spec_list_cleanup(specs, max);
			free(specs);
			return err_set(err, -ENOMEM, "out of memory");
		}
	}
	rbd_image_spec_list_cleanup(specs, max);
	free(specs);
	*ret = names;
	*ret_n = max;
	return 0;
}

void vol_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
