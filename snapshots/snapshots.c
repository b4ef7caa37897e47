/* SPDX-License-Identifier: MIT */
/* Snapshots of one RBD image: create, list, remove, roll back, clones. */
#define LOG_MODULE "snapshots"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <rbd/librbd.h>

#include "common/json.h"
#include "snapshots/snap-internal.h"

#define SNAP_NAME_MAX 256 /* librbd's names of snapshots made by other tools can be long */

void snap_pool_name(rados_ioctx_t io, char buf[SNAP_POOL_BUF])
{
	if (rados_ioctx_get_pool_name(io, buf, SNAP_POOL_BUF) < 0)
		str_copy(buf, SNAP_POOL_BUF, "?");
}

int snap_progress_none(uint64_t offset, uint64_t total, void *ptr)
{
	return 0;
}

static int image_open(struct cluster *c, rados_ioctx_t io, const char *image, rbd_image_t *ret,
                      struct ro_image *ret_ro, struct cairn_err *err)
{
	char pool[SNAP_POOL_BUF];
	int r;

	if (!image || !*image)
		return err_set(err, -EINVAL, "rbd image name is empty");
	r = ret_ro ? cluster_ro_open(c, io, image, NULL, NULL, ret_ro)
	           : rbd_open(io, image, ret, NULL);
	if (r >= 0)
		return 0;
	snap_pool_name(io, pool);
	if (r == -ENOENT)
		return err_set(err, r, "rbd image '%s/%s' not found", pool, image);
	return err_set(err, r, "cannot open rbd image '%s/%s': %s", pool, image, strerror(-r));
}

int snap_image_open(rados_ioctx_t io, const char *image, rbd_image_t *ret, struct cairn_err *err)
{
	return image_open(NULL, io, image, ret, NULL, err);
}

int snap_image_open_ro(struct cluster *c, rados_ioctx_t io, const char *image, struct ro_image *ret,
                       struct cairn_err *err)
{
	return image_open(c, io, image, NULL, ret, err);
}

static int snap_check_name(const char *snap, struct cairn_err *err)
{
	if (!snap || !*snap)
		return err_set(err, -EINVAL, "snapshot name is empty");
	if (strlen(snap) >= SNAP_NAME_MAX)
		return err_set(err, -EINVAL, "snapshot name is too long (at most %d bytes)",
		               SNAP_NAME_MAX - 1);
	return 0;
}

static void time_rfc3339(const struct timespec *ts, char buf[32])
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- create ------------------------------------------------------------------------------ */

int snap_create(rados_ioctx_t io, const char *image, const char *snap, struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	char pool[SNAP_POOL_BUF];
	int r;

	r = name_validate(snap, "snapshot", err);
	if (r < 0)
		return r;
	r = snap_image_open(io, image, &img, err);
	if (r < 0)
		return r;
	/* freezing the guest, when wanted, is done through libvirt before this */
	r = rbd_snap_create2(img, snap, RBD_SNAP_CREATE_SKIP_QUIESCE, snap_progress_none, NULL);
	if (r < 0) {
		snap_pool_name(io, pool);
		if (r == -EEXIST)
			return err_set(err, r, "snapshot '%s/%s@%s' already exists", pool, image,
			               snap);
		/* librbd's "read-only": the image's exclusive lock did not come to this handle
		 * (its holder, another snapshot of it, did not hand it over in time, or the
		 * cluster did not answer): not the client's fault, and worth a retry */
		if (r == -EROFS)
			return err_set(err, -EAGAIN,
			               "cannot create snapshot '%s/%s@%s': the image's exclusive "
			               "lock could not be taken in time; try again",
			               pool, image, snap);
		return err_set(err, r, "cannot create snapshot '%s/%s@%s': %s", pool, image, snap,
		               strerror(-r));
	}
	log_debug("created snapshot %s@%s", image, snap);
	return 0;
}

/* ---- clones ------------------------------------------------------------------------------ */

struct children {
	rbd_linked_image_spec_t *v;
	size_t n;
};

static void children_release(struct children *ch)
{
	image_clones_free(ch->v, ch->n);
	ch->v = NULL;
	ch->n = 0;
}

/* The clones of the snapshot the image is set to (rbd_snap_set). */
static int children_get(rbd_image_t img, struct children *ret)
{
	return image_clones(img, &ret->v, &ret->n, NULL);
}

/* "pool/image, pool/ns/image (trash), ..." */
static char *children_format(const struct children *ch)
{
	size_t cap = 1, len = 0;
	char *s;

	for (size_t i = 0; i < ch->n; i++)
		cap += strlen(ch->v[i].pool_name) + strlen(ch->v[i].pool_namespace) +
		       strlen(ch->v[i].image_name) + 16;
	s = malloc(cap);
	if (!s)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < ch->n; i++) {
		const rbd_linked_image_spec_t *c = &ch->v[i];
		len += (size_t)snprintf(s + len, cap - len, "%s%s/%s%s%s%s", i ? ", " : "",
		                        c->pool_name, c->pool_namespace,
		                        *c->pool_namespace ? "/" : "", c->image_name,
		                        c->trash ? " (trash)" : "");
	}
	return s;
}

/* Set an open image to snap; -ENOENT with a message when there is no such snapshot. */
static int snap_set(rados_ioctx_t io, rbd_image_t img, const char *image, const char *snap,
                    struct cairn_err *err)
{
	char pool[SNAP_POOL_BUF];
	int r;

	r = rbd_snap_set(img, snap);
	if (r >= 0)
		return 0;
	snap_pool_name(io, pool);
	if (r == -ENOENT)
		return err_set(err, r, "snapshot '%s/%s@%s' not found", pool, image, snap);
	return err_set(err, r, "cannot open snapshot '%s/%s@%s': %s", pool, image, snap,
	               strerror(-r));
}

/* Open the image read-write at snap. */
static int snap_open_at(rados_ioctx_t io, const char *image, const char *snap, rbd_image_t *ret,
                        struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	int r;

	r = snap_check_name(snap, err);
	if (r < 0)
		return r;
	r = snap_image_open(io, image, &img, err);
	if (r < 0)
		return r;
	r = snap_set(io, img, image, snap, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(img);
	return 0;
}

static int snap_children_of(struct cluster *c, rados_ioctx_t io, const char *image,
                            const char *snap, struct children *ret, struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image img = {0};
	char pool[SNAP_POOL_BUF];
	int r;

	r = snap_check_name(snap, err);
	if (r < 0)
		return r;
	r = snap_image_open_ro(c, io, image, &img, err);
	if (r < 0)
		return r;
	r = snap_set(io, img.img, image, snap, err);
	if (r < 0)
		return r;
	r = children_get(img.img, ret);
	if (r < 0) {
		snap_pool_name(io, pool);
		return err_set(err, r, "cannot list the clones of '%s/%s@%s': %s", pool, image,
		               snap, strerror(-r));
	}
	return 0;
}

int snap_children(struct cluster *c, rados_ioctx_t io, const char *image, const char *snap,
                  struct json_object **ret_array, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *a = NULL;
	struct children ch = {0};
	int r;

	r = snap_children_of(c, io, image, snap, &ch, err);
	if (r < 0)
		return r;
	a = json_object_new_array();
	if (!a) {
		children_release(&ch);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < ch.n; i++) {
		struct json_object *o = json_object_new_object();

		if (!o || json_object_array_add(a, o) < 0) {
			json_object_put(o);
			r = -ENOMEM;
			break;
		}
		if (json_add_string(o, "pool", ch.v[i].pool_name) < 0 ||
		    json_add_string(o, "namespace", ch.v[i].pool_namespace) < 0 ||
		    json_add_string(o, "image", ch.v[i].image_name) < 0 ||
		    json_add_string(o, "id", ch.v[i].image_id) < 0 ||
		    json_add_bool(o, "trash", ch.v[i].trash) < 0) {
			r = -ENOMEM;
			break;
		}
	}
	children_release(&ch);
	if (r < 0)
		return err_set(err, r, "out of memory");
	*ret_array = TAKE_PTR(a);
	return 0;
}

int snap_children_names(struct cluster *c, rados_ioctx_t io, const char *image, const char *snap,
                        char **ret_names, size_t *ret_count, struct cairn_err *err)
{
	struct children ch = {0};
	char *s;
	int r;

	r = snap_children_of(c, io, image, snap, &ch, err);
	if (r < 0)
		return r;
	s = children_format(&ch);
	if (!s) {
		children_release(&ch);
		return err_set(err, -ENOMEM, "out of memory");
	}
	*ret_names = s;
	if (ret_count)
		*ret_count = ch.n;
	children_release(&ch);
	return 0;
}

/* ---- remove ------------------------------------------------------------------------------ */

int snap_remove(rados_ioctx_t io, const char *image, const char *snap, struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	struct children ch = {0};
	char pool[SNAP_POOL_BUF];
	int r, is_protected = 0;

	snap_pool_name(io, pool);
	r = snap_open_at(io, image, snap, &img, err);
	if (r < 0)
		return r;
	/*
	 * With clone v2 librbd would "remove" a snapshot that has clones by moving it to the
	 * snapshot trash, out of sight but still holding space: refuse instead, naming them.
	 */
	r = children_get(img, &ch);
	if (r < 0)
		return err_set(err, r, "cannot list the clones of '%s/%s@%s': %s", pool, image,
		               snap, strerror(-r));
	if (ch.n > 0) {
		_cleanup_(freep) char *names = children_format(&ch);

		children_release(&ch);
		return err_set(err, -ENOTEMPTY, "snapshot '%s' has clones: %s", snap,
		               names ? names : "(out of memory)");
	}
	children_release(&ch);

	r = rbd_snap_set(img, NULL); /* back to the head to change it */
	if (r >= 0)
		r = rbd_snap_is_protected(img, snap, &is_protected);
	if (r >= 0 && is_protected) {
		/* protected by an older tool (clone v1): it has no clones, so it can go */
		r = rbd_snap_unprotect(img, snap);
		if (r == -EINVAL) /* unprotected meanwhile */
			r = 0;
	}
	if (r >= 0)
		r = rbd_snap_remove2(img, snap, 0, snap_progress_none, NULL);
	if (r == -ENOENT)
		return err_set(err, r, "snapshot '%s/%s@%s' not found", pool, image, snap);
	if (r == -EBUSY)
		return err_set(err, r, "snapshot '%s/%s@%s' is in use: %s", pool, image, snap,
		               strerror(-r));
	if (r < 0)
		return err_set(err, r, "cannot remove snapshot '%s/%s@%s': %s", pool, image, snap,
		               strerror(-r));
	log_debug("removed snapshot %s@%s", image, snap);
	return 0;
}

/* ---- list -------------------------------------------------------------------------------- */

static int snap_to_json(rbd_image_t img, const rbd_snap_info_t *s, struct json_object **ret)
{
	_cleanup_(json_putp) struct json_object *o = NULL;
	struct children ch = {0};
	struct timespec ts = {0};
	char created[32];
	size_t clones;
	int r, is_protected = 0;

	r = rbd_snap_get_timestamp(img, s->id, &ts);
	if (r < 0)
		return r;
	r = rbd_snap_is_protected(img, s->name, &is_protected);
	if (r < 0)
		return r;
	r = rbd_snap_set_by_id(img, s->id);
	if (r < 0)
		return r;
	r = children_get(img, &ch);
	if (r < 0)
		return r;
	clones = ch.n;
	children_release(&ch);
	time_rfc3339(&ts, created);

	o = json_object_new_object();
	if (!o || json_add_string(o, "name", s->name) < 0 || json_add_uint(o, "id", s->id) < 0 ||
	    json_add_uint(o, "size", s->size) < 0 || json_add_string(o, "created", created) < 0 ||
	    json_add_bool(o, "protected", is_protected) < 0 ||
	    json_add_uint(o, "clones", clones) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(o);
	return 0;
}

int snap_image_snaps(rbd_image_t img, rbd_snap_info_t **ret)
{
	rbd_snap_info_t *snaps = NULL;
	int max = 16, n;

	for (;;) {
		free(snaps);
		snaps = calloc((size_t)max + 1, sizeof(*snaps));
		if (!snaps)
			return -ENOMEM;
		n = rbd_snap_list(img, snaps, &max);
		if (n != -ERANGE)
			break;
	}
	if (n < 0) {
		free(snaps);
		return n;
	}
	*ret = snaps;
	return n;
}

int snap_list(struct cluster *c, rados_ioctx_t io, const char *image, bool include_hidden,
              struct json_object **ret_array, struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image roi = {0};
	_cleanup_(json_putp) struct json_object *a = NULL;
	_cleanup_(freep) rbd_snap_info_t *snaps = NULL;
	char pool[SNAP_POOL_BUF];
	int r, n = 0;

	r = snap_image_open_ro(c, io, image, &roi, err);
	if (r < 0)
		return r;
	snap_pool_name(io, pool);
	r = snap_image_snaps(roi.img, &snaps);
	if (r < 0)
		return err_set(err, r, "cannot list the snapshots of '%s/%s': %s", pool, image,
		               strerror(-r));
	n = r;

	a = json_object_new_array();
	if (!a) {
		rbd_snap_list_end(snaps);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++) {
		rbd_snap_namespace_type_t ns = RBD_SNAP_NAMESPACE_TYPE_USER;
		struct json_object *o = NULL;

		if (!include_hidden && str_has_prefix(snaps[i].name, SNAP_HIDDEN_PREFIX))
			continue;
		r = rbd_snap_get_namespace_type(roi.img, snaps[i].id, &ns);
		if (r == -ENOENT) /* removed while we list */
			continue;
		if (r >= 0 && ns != RBD_SNAP_NAMESPACE_TYPE_USER)
			continue;
		if (r >= 0)
			r = snap_to_json(roi.img, &snaps[i], &o);
		if (r == -ENOENT)
			continue;
		if (r >= 0 && json_object_array_add(a, o) < 0) {
			json_object_put(o);
			r = -ENOMEM;
		}
		if (r < 0) {
			err_set(err, r, "cannot read snapshot '%s/%s@%s': %s", pool, image,
			        snaps[i].name, strerror(-r));
			rbd_snap_list_end(snaps);
			return r;
		}
	}
	rbd_snap_list_end(snaps);
	*ret_array = TAKE_PTR(a);
	return 0;
}

/* ---- rollback ---------------------------------------------------------------------------- */

/*
 * -EBUSY when anybody but this open handle watches the image. Our handle is one watch of
 * our rados instance; any other watch (a VM's librbd, rbd-nbd, another host, or another
 * handle of ours) means somebody may be writing.
 */
static int snap_check_unused(rados_ioctx_t io, rbd_image_t img, const char *image,
                             struct cairn_err *err)
{
	uint64_t me = rados_get_instance_id(rados_ioctx_get_cluster(io));
	rbd_image_watcher_t *w = NULL;
	size_t max = 8, mine = 0, other = SIZE_MAX;
	char pool[SNAP_POOL_BUF];
	int r;

	snap_pool_name(io, pool);
	for (;;) {
		size_t n = max;

		w = calloc(max, sizeof(*w));
		if (!w)
			return err_set(err, -ENOMEM, "out of memory");
		r = rbd_watchers_list(img, w, &n);
		if (r == -ERANGE && n > max) {
			free(w);
			max = n;
			continue;
		}
		if (r < 0) {
			free(w);
			return err_set(err, r, "cannot list the watchers of '%s/%s': %s", pool,
			               image, strerror(-r));
		}
		max = n;
		break;
	}
	for (size_t i = 0; i < max; i++) {
		if ((uint64_t)w[i].id == me && mine++ == 0)
			continue;
		if (other == SIZE_MAX)
			other = i;
	}
	if (other != SIZE_MAX) {
		err_set(err, -EBUSY,
		        "rbd image '%s/%s' is in use (opened by client.%" PRId64
		        " at %s): stop the VM using it first",
		        pool, image, w[other].id, w[other].addr ? w[other].addr : "?");
		rbd_watchers_list_cleanup(w, max);
		free(w);
		return -EBUSY;
	}
	rbd_watchers_list_cleanup(w, max);
	free(w);
	return 0;
}

struct rollback_progress {
	struct cairn_progress *p;
	uint64_t total;
};

static int rollback_progress_cb(uint64_t offset, uint64_t total, void *ptr)
{
	struct rollback_progress *rp = ptr;

	rp->total = total;
	progress_report(rp->p, offset, total);
	return 0;
}

int snap_rollback(rados_ioctx_t io, const char *image, const char *snap,
                  struct cairn_progress *progress, struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	struct rollback_progress rp = {progress, 0};
	char pool[SNAP_POOL_BUF];
	bool exists = false, locked = false;
	int r;

	r = snap_check_name(snap, err);
	if (r < 0)
		return r;
	r = snap_image_open(io, image, &img, err);
	if (r < 0)
		return r;
	snap_pool_name(io, pool);
	r = rbd_snap_exists(img, snap, &exists);
	if (r < 0)
		return err_set(err, r, "cannot read the snapshots of '%s/%s': %s", pool, image,
		               strerror(-r));
	if (!exists)
		return err_set(err, -ENOENT, "snapshot '%s/%s@%s' not found", pool, image, snap);

	r = snap_check_unused(io, img, image, err);
	if (r < 0)
		return r;
	/*
	 * Hold the exclusive lock for the whole rollback, not lending it on request: a VM
	 * started meanwhile cannot write into a half rolled back disk. Then look again, for
	 * one that opened the image between the first look and the lock.
	 */
	r = rbd_lock_acquire(img, RBD_LOCK_MODE_EXCLUSIVE);
	if (r >= 0)
		locked = true;
	else if (r != -EINVAL && r != -EOPNOTSUPP) /* no exclusive-lock feature: no lock */
		return err_set(err, r, "cannot lock rbd image '%s/%s': %s", pool, image,
		               strerror(-r));
	r = snap_check_unused(io, img, image, err);
	if (r >= 0 && progress_cancelled(progress))
		r = err_set(err, -ECANCELED, "rollback of '%s/%s' to '%s' cancelled", pool, image,
		            snap);
	if (r >= 0) {
		r = rbd_snap_rollback_with_progress(img, snap, rollback_progress_cb, &rp);
		if (r < 0)
			err_set(err, r, "cannot roll '%s/%s' back to snapshot '%s': %s", pool,
			        image, snap, strerror(-r));
	}
	if (locked)
		rbd_lock_release(img);
	if (r < 0)
		return r;
	/* librbd's last report may fall short of the total: say it is all done */
	progress_report(progress, rp.total, rp.total);
	log_debug("rolled %s back to %s", image, snap);
	return 0;
}
