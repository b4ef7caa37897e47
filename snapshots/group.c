/* SPDX-License-Identifier: MIT */
/* Consistent snapshots of several images at once, through an RBD group in the volumes pool. */
#define LOG_MODULE "snapshots"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <rbd/librbd.h>

#include "common/json.h"
#include "snapshots/snap-internal.h"

static int group_ioctx(struct cluster *c, const char *group, rados_ioctx_t *ret,
                       struct cairn_err *err)
{
	int r;

	r = name_validate(group, "group", err);
	if (r < 0)
		return r;
	return cluster_ioctx(c, POOL_ROLE_VOLUMES, ret, err);
}

/* The groups of the pool: *ret_len bytes of NUL-terminated names in *ret (malloc'd). */
static int group_list(rados_ioctx_t gio, char **ret, size_t *ret_len, struct cairn_err *err)
{
	size_t size = 1024;

	for (int attempt = 0; attempt < 8; attempt++) {
		char *names = malloc(size);
		size_t want = size;
		int r;

		if (!names)
			return err_set(err, -ENOMEM, "out of memory");
		r = rbd_group_list(gio, names, &want);
		if (r >= 0) {
			*ret = names;
			*ret_len = (size_t)r;
			return 0;
		}
		free(names);
		if (r != -ERANGE) {
			char pool[SNAP_POOL_BUF];
			snap_pool_name(gio, pool);
			return err_set(err, r, "cannot list the groups of pool '%s': %s", pool,
			               strerror(-r));
		}
		size = want > size ? want : size * 2;
	}
	return err_set(err, -ERANGE, "cannot list the groups: they keep changing");
}

/* Does the group exist? (librbd lists a missing group's images as none at all.) */
static int group_exists(rados_ioctx_t gio, const char *group, bool *ret, struct cairn_err *err)
{
	_cleanup_(freep) char *names = NULL;
	size_t len = 0;
	int r;

	r = group_list(gio, &names, &len, err);
	if (r < 0)
		return r;
	*ret = false;
	for (size_t off = 0; off < len && names[off]; off += strlen(names + off) + 1)
		if (strcmp(names + off, group) == 0)
			*ret = true;
	return 0;
}

static int group_require(rados_ioctx_t gio, const char *group, struct cairn_err *err)
{
	char pool[SNAP_POOL_BUF];
	bool exists = false;
	int r;

	r = group_exists(gio, group, &exists, err);
	if (r < 0)
		return r;
	if (!exists) {
		snap_pool_name(gio, pool);
		return err_set(err, -ENOENT, "group '%s/%s' not found", pool, group);
	}
	return 0;
}

/*
 * A group is created, filled and snapshotted, or found without snapshots and removed, under
 * a RADOS lock of its own (in cairn's state namespace), so that no cairnd removes a group
 * that another one is snapshotting. The lock is a lease (pools/lease.c), renewed as the
 * members are added: a holder that dies lets the others in after GROUP_LOCK_LEASE seconds,
 * at once when it was a process of the same host.
 */
#define GROUP_LOCK_NAME  "cairn.group"
#define GROUP_LOCK_LEASE 30
#define GROUP_LOCK_WAIT  (GROUP_LOCK_LEASE + 5)

static int group_lock(struct cluster *c, const char *group, struct lease *l, struct cairn_err *err)
{
	char oid[128];
	int r;

	snprintf(oid, sizeof(oid), "lock.group.%s", group);
	r = lease_init(c, l, oid, GROUP_LOCK_NAME, "cairn group change", GROUP_LOCK_LEASE, NULL,
	               err);
	if (r < 0)
		return r;
	r = lease_take_wait(l, GROUP_LOCK_WAIT * 1000, true);
	if (r == -EBUSY)
		return err_set(err, -EBUSY, "group '%s' is being changed by another request",
		               group);
	if (r < 0)
		return err_set(err, r, "cannot lock group '%s': %s", group, strerror(-r));
	return 0;
}

/* the lock object holds nothing but the lock: it goes, leaving no object per group */
static void group_unlock(struct lease *l)
{
	lease_release(l, true);
}

/* The snapshots of group (free with group_snaps_free). */
static int group_snaps(rados_ioctx_t gio, const char *group, rbd_group_snap_info_t **ret,
                       size_t *ret_n, struct cairn_err *err)
{
	rbd_group_snap_info_t *v;
	size_t max = 16, n;
	int r;

	for (int attempt = 0;; attempt++) {
		n = max;
		v = calloc(max, sizeof(*v));
		if (!v)
			return err_set(err, -ENOMEM, "out of memory");
		r = rbd_group_snap_list(gio, group, v, sizeof(*v), &n);
		if (r == -ERANGE && attempt < 8) {
			free(v);
			max = n > max ? n : max * 2;
			continue;
		}
		break;
	}
	if (r < 0) {
		free(v);
		return err_set(err, r, "cannot list the snapshots of group '%s': %s", group,
		               strerror(-r));
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static void group_snaps_free(rbd_group_snap_info_t *v, size_t n)
{
	rbd_group_snap_list_cleanup(v, sizeof(*v), n);
	free(v);
}

static int group_snap_count(rados_ioctx_t gio, const char *group, struct cairn_err *err)
{
	rbd_group_snap_info_t *v;
	size_t n;
	int r = group_snaps(gio, group, &v, &n, err);

	if (r < 0)
		return r;
	group_snaps_free(v, n);
	return (int)n;
}

/* With the lock held: remove the group if it has no snapshot left. 1 removed, 0 kept. */
static int group_prune_locked(rados_ioctx_t gio, const char *group, struct cairn_err *err)
{
	int r = group_snap_count(gio, group, err);

	if (r == -ENOENT) {
		err_clear(err);
		return 0;
	}
	if (r != 0)
		return r < 0 ? r : 0;
	r = rbd_group_remove(gio, group);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_set(err, r, "cannot remove group '%s': %s", group, strerror(-r));
	log_debug("removed group %s: its last snapshot is gone", group);
	return 1;
}

struct group_images {
	rbd_group_image_info_t *v;
	size_t n;
};

static void group_images_release(struct group_images *gi)
{
	if (gi->v) {
		rbd_group_image_list_cleanup(gi->v, sizeof(*gi->v), gi->n);
		free(gi->v);
	}
	gi->v = NULL;
	gi->n = 0;
}

static int group_images_get(rados_ioctx_t gio, const char *group, struct group_images *ret,
                            struct cairn_err *err)
{
	size_t max = 16;

	for (int attempt = 0; attempt < 8; attempt++) {
		rbd_group_image_info_t *v = calloc(max, sizeof(*v));
		size_t n = max;
		int r;

		if (!v)
			return err_set(err, -ENOMEM, "out of memory");
		r = rbd_group_image_list(gio, group, v, sizeof(*v), &n);
		if (r == -ERANGE) {
			free(v);
			max = n > max ? n : max * 2;
			continue;
		}
		if (r < 0) {
			free(v);
			return err_set(err, r, "cannot list the images of group '%s': %s", group,
			               strerror(-r));
		}
		ret->v = v;
		ret->n = n;
		return 0;
	}
	return err_set(err, -ERANGE, "cannot list the images of group '%s': they keep changing",
	               group);
}

static bool group_images_has(const struct group_images *gi, int64_t pool_id, const char *image)
{
	for (size_t i = 0; i < gi->n; i++)
		if (gi->v[i].pool == pool_id && strcmp(gi->v[i].name, image) == 0)
			return true;
	return false;
}

/* Say which group holds the image, for the -EEXIST of rbd_group_image_add. */
static int group_add_conflict(struct cluster *c, rados_ioctx_t io, const char *image,
                              const char *group, struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image img = {0};
	rbd_group_info_t info = {0};
	char pool[SNAP_POOL_BUF];
	struct cairn_err ignored = {0};

	snap_pool_name(io, pool);
	if (snap_image_open_ro(c, io, image, &img, &ignored) >= 0 &&
	    rbd_get_group(img.img, &info, sizeof(info)) >= 0 && info.name && *info.name) {
		err_set(err, -EEXIST, "rbd image '%s/%s' is in another group '%s', not in '%s'",
		        pool, image, info.name, group);
		rbd_group_info_cleanup(&info, sizeof(info));
		return -EEXIST;
	}
	return err_set(err, -EEXIST, "rbd image '%s/%s' cannot join group '%s': it is in a group",
	               pool, image, group);
}

static int group_create_locked(struct cluster *c, struct lease *l, const char *group_name,
                               const char *snap, const char *const *pools,
                               const char *const *images, size_t n, struct cairn_err *err)
{
	struct group_images gi = {0};
	char gpool[SNAP_POOL_BUF];
	rados_ioctx_t gio;
	int r;

	r = group_ioctx(c, group_name, &gio, err);
	if (r < 0)
		return r;
	r = name_validate(snap, "snapshot", err);
	if (r < 0)
		return r;
	if (n == 0 || !images)
		return err_set(err, -EINVAL, "group snapshot '%s@%s' names no image", group_name,
		               snap);
	snap_pool_name(gio, gpool);

	r = rbd_group_create(gio, group_name);
	if (r < 0 && r != -EEXIST)
		return err_set(err, r, "cannot create group '%s/%s': %s", gpool, group_name,
		               strerror(-r));
	r = group_images_get(gio, group_name, &gi, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const char *pool = pools && pools[i] ? pools[i] : NULL;
		rados_ioctx_t io = gio;

		r = lease_renew(l,
		                err); /* many members, a slow cluster: the lease must not run out */
		if (r < 0)
			goto out;
		if (pool) {
			r = cluster_ioctx_by_name(c, pool, &io, err);
			if (r < 0)
				goto out;
		}
		if (group_images_has(&gi, rados_ioctx_get_id(io), images[i]))
			continue;
		r = rbd_group_image_add(gio, group_name, io, images[i]);
		if (r == -EEXIST) {
			r = group_add_conflict(c, io, images[i], group_name, err);
			goto out;
		}
		if (r < 0) {
			char ipool[SNAP_POOL_BUF];
			snap_pool_name(io, ipool);
			if (r == -ENOENT)
				err_set(err, r, "rbd image '%s/%s' not found", ipool, images[i]);
			else
				err_set(err, r, "cannot add rbd image '%s/%s' to group '%s': %s",
				        ipool, images[i], group_name, strerror(-r));
			goto out;
		}
		log_debug("added %s to group %s", images[i], group_name);
	}

	/* every member's writes held, each snapshotted, all released: one point in time */
	r = lease_renew(l, err);
	if (r < 0)
		goto out;
	r = rbd_group_snap_create2(gio, group_name, snap, RBD_SNAP_CREATE_SKIP_QUIESCE);
	if (r == -EEXIST)
		err_set(err, r, "group snapshot '%s/%s@%s' already exists", gpool, group_name,
		        snap);
	else if (r < 0)
		err_set(err, r, "cannot create group snapshot '%s/%s@%s': %s", gpool, group_name,
		        snap, strerror(-r));
	else
		log_debug("created group snapshot %s@%s of %zu images", group_name, snap, n);
out:
	group_images_release(&gi);
	return r < 0 ? r : 0;
}

int snap_group_create(struct cluster *c, const char *group_name, const char *snap,
                      const char *const *pools, const char *const *images, size_t n,
                      struct cairn_err *err)
{
	struct lease l = {0};
	int r;

	r = name_validate(group_name, "group", err);
	if (r < 0)
		return r;
	r = group_lock(c, group_name, &l, err);
	if (r < 0)
		return r;
	r = group_create_locked(c, &l, group_name, snap, pools, images, n, err);
	group_unlock(&l);
	return r;
}

int snap_group_remove(struct cluster *c, const char *group_name, const char *snap,
                      struct cairn_err *err)
{
	char pool[SNAP_POOL_BUF];
	rados_ioctx_t gio;
	int r;

	r = group_ioctx(c, group_name, &gio, err);
	if (r < 0)
		return r;
	if (!snap || !*snap)
		return err_set(err, -EINVAL, "snapshot name is empty");
	snap_pool_name(gio, pool);
	r = rbd_group_snap_remove(gio, group_name, snap);
	if (r == -ENOENT)
		return err_set(err, r, "group snapshot '%s/%s@%s' not found", pool, group_name,
		               snap);
	if (r < 0)
		return err_set(err, r, "cannot remove group snapshot '%s/%s@%s': %s", pool,
		               group_name, snap, strerror(-r));
	log_debug("removed group snapshot %s@%s", group_name, snap);
	return 0;
}

int snap_group_list(struct cluster *c, const char *group_name, struct json_object **ret_array,
                    struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *a = NULL;
	rbd_group_snap_info_t *v = NULL;
	size_t n = 0;
	rados_ioctx_t gio;
	int r;

	r = group_ioctx(c, group_name, &gio, err);
	if (r < 0)
		return r;
	r = group_require(gio, group_name, err);
	if (r < 0)
		return r;
	r = group_snaps(gio, group_name, &v, &n, err);
	if (r < 0)
		return r;
	a = json_object_new_array();
	for (size_t i = 0; a && i < n; i++) {
		struct json_object *o = json_object_new_object();

		if (!o || json_object_array_add(a, o) < 0) {
			json_object_put(o);
			r = -ENOMEM;
			break;
		}
		if (json_add_string(o, "name", v[i].name) < 0 ||
		    json_add_bool(o, "complete", v[i].state == RBD_GROUP_SNAP_STATE_COMPLETE) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	group_snaps_free(v, n);
	if (!a || r < 0)
		return err_set(err, -ENOMEM, "out of memory");
	*ret_array = TAKE_PTR(a);
	return 0;
}

int snap_group_images(struct cluster *c, const char *group_name, struct json_object **ret_array,
                      struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *a = NULL;
	struct group_images gi = {0};
	rados_ioctx_t gio;
	int r;

	r = group_ioctx(c, group_name, &gio, err);
	if (r < 0)
		return r;
	r = group_require(gio, group_name, err);
	if (r < 0)
		return r;
	r = group_images_get(gio, group_name, &gi, err);
	if (r < 0)
		return r;
	a = json_object_new_array();
	for (size_t i = 0; a && i < gi.n; i++) {
		struct json_object *o = json_object_new_object();
		char pool[SNAP_POOL_BUF] = "?";
		rados_ioctx_t io;

		if (rados_ioctx_create2(cluster_rados(c), gi.v[i].pool, &io) >= 0) {
			snap_pool_name(io, pool);
			rados_ioctx_destroy(io);
		}
		if (!o || json_object_array_add(a, o) < 0) {
			json_object_put(o);
			r = -ENOMEM;
			break;
		}
		if (json_add_string(o, "pool", pool) < 0 ||
		    json_add_string(o, "image", gi.v[i].name) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	group_images_release(&gi);
	if (!a || r < 0)
		return err_set(err, -ENOMEM, "out of memory");
	*ret_array = TAKE_PTR(a);
	return 0;
}

int snap_group_image_remove(struct cluster *c, const char *group_name, rados_ioctx_t io,
                            const char *image, struct cairn_err *err)
{
	char pool[SNAP_POOL_BUF];
	rados_ioctx_t gio;
	int r;

	r = group_ioctx(c, group_name, &gio, err);
	if (r < 0)
		return r;
	r = rbd_group_image_remove(gio, group_name, io, image);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		snap_pool_name(io, pool);
		return err_set(err, r, "cannot take rbd image '%s/%s' out of group '%s': %s", pool,
		               image, group_name, strerror(-r));
	}
	log_debug("removed %s from group %s", image, group_name);
	return 0;
}

int snap_group_destroy(struct cluster *c, const char *group_name, struct cairn_err *err)
{
	char pool[SNAP_POOL_BUF];
	rados_ioctx_t gio;
	int r;

	r = group_ioctx(c, group_name, &gio, err);
	if (r < 0)
		return r;
	r = rbd_group_remove(gio, group_name);
	if (r < 0 && r != -ENOENT) {
		snap_pool_name(gio, pool);
		return err_set(err, r, "cannot remove group '%s/%s': %s", pool, group_name,
		               strerror(-r));
	}
	log_debug("removed group %s", group_name);
	return 0;
}

int snap_image_group(struct cluster *c, rados_ioctx_t io, const char *image, char *ret_group,
                     size_t len, struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image img = {0};
	rbd_group_info_t info = {0};
	char pool[SNAP_POOL_BUF];
	rados_ioctx_t gio;
	int r;

	r = cluster_ioctx(c, POOL_ROLE_VOLUMES, &gio, err);
	if (r < 0)
		return r;
	r = snap_image_open_ro(c, io, image, &img, err);
	if (r < 0)
		return r;
	r = rbd_get_group(img.img, &info, sizeof(info));
	if (r == -EOPNOTSUPP)
		return 0; /* an old-format image is in no group */
	snap_pool_name(io, pool);
	if (r < 0)
		return err_set(err, r, "cannot read the group of '%s/%s': %s", pool, image,
		               strerror(-r));
	r = 0;
	if (info.name && *info.name) {
		if (info.pool != rados_ioctx_get_id(gio))
			r = err_set(err, -EEXIST,
			            "rbd image '%s/%s' is in group '%s' of another pool (pool id "
			            "%" PRId64 ")",
			            pool, image, info.name, info.pool);
		else if (str_copy(ret_group, len, info.name) < 0)
			r = err_set(err, -ENAMETOOLONG, "group name '%s' is too long", info.name);
		else
			r = 1;
	}
	rbd_group_info_cleanup(&info, sizeof(info));
	return r;
}

int snap_group_snap_id(rbd_image_t img, const char *group, const char *snap, uint64_t *ret_id,
                       struct cairn_err *err)
{
	rbd_snap_info_t *snaps = NULL;
	int n;

	n = snap_image_snaps(img, &snaps);
	if (n < 0)
		return err_set(err, n, "cannot list the snapshots of an image: %s", strerror(-n));
	for (int i = 0; i < n; i++) {
		rbd_snap_namespace_type_t ns = RBD_SNAP_NAMESPACE_TYPE_USER;
		rbd_snap_group_namespace_t g = {0};
		bool match;

		if (rbd_snap_get_namespace_type(img, snaps[i].id, &ns) < 0 ||
		    ns != RBD_SNAP_NAMESPACE_TYPE_GROUP ||
		    rbd_snap_get_group_namespace(img, snaps[i].id, &g, sizeof(g)) < 0)
			continue;
		match = g.group_name && g.group_snap_name && strcmp(g.group_name, group) == 0 &&
		        strcmp(g.group_snap_name, snap) == 0;
		rbd_snap_group_namespace_cleanup(&g, sizeof(g));
		if (match) {
			*ret_id = snaps[i].id;
			rbd_snap_list_end(snaps);
			free(snaps);
			return 0;
		}
	}
	rbd_snap_list_end(snaps);
	free(snaps);
	return err_set(err, -ENOENT, "the image has no part of group snapshot '%s@%s'", group,
	               snap);
}

int snap_group_snap_delete(struct cluster *c, const char *group_name, const char *snap,
                           bool *ret_group_removed, struct cairn_err *err)
{
	struct lease l = {0};
	char pool[SNAP_POOL_BUF];
	rados_ioctx_t gio;
	int r;

	*ret_group_removed = false;
	r = group_ioctx(c, group_name, &gio, err);
	if (r < 0)
		return r;
	r = name_validate(snap, "snapshot", err);
	if (r < 0)
		return r;
	snap_pool_name(gio, pool);
	r = group_lock(c, group_name, &l, err);
	if (r < 0)
		return r;
	r = group_require(gio, group_name, err);
	if (r < 0)
		goto out;
	r = rbd_group_snap_remove(gio, group_name, snap);
	if (r == -ENOENT) {
		err_set(err, r, "group snapshot '%s@%s' not found", group_name, snap);
		goto out;
	}
	if (r < 0) {
		err_set(err, r, "cannot remove group snapshot '%s/%s@%s': %s", pool, group_name,
		        snap, strerror(-r));
		goto out;
	}
	log_debug("removed group snapshot %s@%s", group_name, snap);
	/* a crash here leaves a group without snapshots: snap_group_sweep removes it */
	failpoint("group.snapshot.removed");
	{
		struct cairn_err lerr = {0};

		/* the snapshot is gone: that is the answer, whatever becomes of the group */
		r = group_prune_locked(gio, group_name, &lerr);
		if (r > 0)
			*ret_group_removed = true;
		if (r < 0)
			log_warn("group '%s' stays for the next pass: %s", group_name, lerr.msg);
		r = 0;
	}
out:
	group_unlock(&l);
	return r < 0 ? r : 0;
}

int snap_group_names(struct cluster *c, struct json_object **ret_array, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *a = NULL;
	_cleanup_(freep) char *names = NULL;
	size_t len = 0;
	rados_ioctx_t gio;
	int r;

	r = cluster_ioctx(c, POOL_ROLE_VOLUMES, &gio, err);
	if (r < 0)
		return r;
	r = group_list(gio, &names, &len, err);
	if (r < 0)
		return r;
	a = json_object_new_array();
	if (!a)
		return err_set(err, -ENOMEM, "out of memory");
	for (size_t off = 0; off < len && names[off];) {
		const char *g = names + off;

		off += strlen(g) + 1;
		if (!str_has_prefix(g, SNAP_HIDDEN_PREFIX))
			continue; /* a group cairn did not make */
		struct json_object *name = json_object_new_string(g);

		if (!name || json_object_array_add(a, name) < 0) {
			json_object_put(name);
			return err_set(err, -ENOMEM, "out of memory");
		}
	}
	*ret_array = TAKE_PTR(a);
	return 0;
}

int snap_group_sweep(struct cluster *c, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *names = NULL;
	int removed = 0, r;
	rados_ioctx_t gio;

	r = snap_group_names(c, &names, err);
	if (r < 0)
		return r;
	r = cluster_ioctx(c, POOL_ROLE_VOLUMES, &gio, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		const char *g = json_object_get_string(json_object_array_get_idx(names, i));
		struct lease l = {0};
		struct cairn_err lerr = {0};

		if (group_snap_count(gio, g, &lerr) != 0)
			continue; /* cheap look first: most groups have snapshots */
		if (group_lock(c, g, &l, &lerr) < 0)
			continue; /* busy: the next pass looks again */
		r = group_prune_locked(gio, g, &lerr);
		group_unlock(&l);
		if (r > 0)
			removed++;
		else if (r < 0)
			log_warn("%s", lerr.msg);
	}
	return removed;
}
