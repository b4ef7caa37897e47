/* SPDX-License-Identifier: MIT */
/*
 * volumes: the deferred delete of a user snapshot that has clones, as images and volumes
 * have one. The snapshot is written down in the snapshots directory (DIR_SNAPSHOTS, keyed
 * "<volume id>.<snapshot id>") first, then renamed "cairn-deleted-<snap id>-<name>": the
 * name is free again and no list shows it (cairn-* snapshots are cairn's own), while the
 * clones keep reading it (RBD links them to the snapshot's id, not its name). The purge
 * removes it, and its entry, once no clone is left (deleted or flattened).
 *
 * Every step is one atomic RADOS or librbd call and the entry comes first, so a crash
 * between them leaves an entry that vol_snap_hidden_settle() (each purge pass, the first
 * one right after start) rolls forward: it renames the snapshot if it still has its old
 * name, points the clones' records at the new name, and removes it once it has no clone.
 */
#define LOG_MODULE "volumes"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "volumes/vol-internal.h"

#define SNAP_DELETED_PREFIX VOL_HIDDEN_SNAP_PREFIX "deleted-"
#define ENTRY_ID_MAX        (UUID_STR_LEN + 24)

struct hidden_snap {
	char volume_id[UUID_STR_LEN];
	char pool[NAME_MAX_LEN + 1];
	char rbd_image[VOL_RBD_NAME_MAX];
	uint64_t snap_id;
	char former_name[VOL_RBD_NAME_MAX];
	char hidden_name[VOL_RBD_NAME_MAX];
};

static void entry_id(const char *volume_id, uint64_t snap_id, char ret[ENTRY_ID_MAX])
{
	snprintf(ret, ENTRY_ID_MAX, "%s.%" PRIu64, volume_id, snap_id);
}

static char *entry_format(const struct hidden_snap *h)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	char now[VOL_TIME_MAX];

	vol_time_now(now);
	if (!o || json_add_string(o, "status", "hidden") < 0 ||
	    json_add_string(o, "volume_id", h->volume_id) < 0 ||
	    json_add_string(o, "pool", h->pool) < 0 ||
	    json_add_string(o, "rbd_image", h->rbd_image) < 0 ||
	    json_add_uint(o, "snap_id", h->snap_id) < 0 ||
	    json_add_string(o, "former_name", h->former_name) < 0 ||
	    json_add_string(o, "hidden_name", h->hidden_name) < 0 ||
	    json_add_string(o, "created", now) < 0)
		return NULL;
	return strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

static int entry_parse(const char *text, struct hidden_snap *ret)
{
	_cleanup_(json_putp) struct json_object *o = json_tokener_parse(text);
	struct hidden_snap h = {0};
	struct json_object *v;
	const char *vid, *pool, *img, *former, *hidden;

	if (!o || !json_object_is_type(o, json_type_object))
		return -EINVAL;
	vid = json_get_string(o, "volume_id");
	pool = json_get_string(o, "pool");
	img = json_get_string(o, "rbd_image");
	former = json_get_string(o, "former_name");
	hidden = json_get_string(o, "hidden_name");
	if (!vid || !pool || !img || !former || !hidden ||
	    !json_object_object_get_ex(o, "snap_id", &v) || !json_object_is_type(v, json_type_int))
		return -EINVAL;
	h.snap_id = (uint64_t)json_object_get_int64(v);
	if (str_copy(h.volume_id, sizeof(h.volume_id), vid) < 0 ||
	    str_copy(h.pool, sizeof(h.pool), pool) < 0 ||
	    str_copy(h.rbd_image, sizeof(h.rbd_image), img) < 0 ||
	    str_copy(h.former_name, sizeof(h.former_name), former) < 0 ||
	    str_copy(h.hidden_name, sizeof(h.hidden_name), hidden) < 0 ||
	    !str_has_prefix(h.hidden_name, SNAP_DELETED_PREFIX))
		return -EINVAL;
	*ret = h;
	return 0;
}

/* The clones of the snapshot with id snap_id of an open image: all of them (trash too). */
static int snap_clones(rbd_image_t img, uint64_t snap_id, rbd_linked_image_spec_t **ret,
                       size_t *ret_n)
{
	struct cairn_err lerr = {0};
	int r;

	r = rbd_snap_set_by_id(img, snap_id);
	if (r < 0)
		return r;
	r = image_clones(img, ret, ret_n, &lerr);
	rbd_snap_set(img, NULL); /* back to the head */
	return r;
}

static int set_parent_snap(struct vol_record *r, void *arg, struct cairn_err *err)
{
	const struct hidden_snap *h = arg;

	if (r->parent.kind != VOL_PARENT_SNAPSHOT || r->flattened ||
	    strcmp(r->parent.pool, h->pool) != 0 ||
	    strcmp(r->parent.rbd_image, h->rbd_image) != 0 ||
	    strcmp(r->parent.rbd_snap, h->former_name) != 0)
		return -ECANCELED; /* not a record of this snapshot's clone, or fixed already */
	str_copy(r->parent.rbd_snap, sizeof(r->parent.rbd_snap), h->hidden_name);
	return 0;
}

/* The records of the clones name the snapshot by its RBD name: the new one now. */
static void fix_clone_records(struct cluster *c, const struct hidden_snap *h,
                              const rbd_linked_image_spec_t *kids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = kids[i].image_name;
		struct cairn_err lerr = {0};
		int r;

		if (kids[i].trash || !str_has_prefix(name, "volume-") ||
		    !vol_rbd_name_is_cairns(name))
			continue;
		r = vol_record_modify(c, false, name + strlen("volume-"), set_parent_snap,
		                      (void *)h, NULL, &lerr);
		if (r < 0 && r != -ECANCELED && r != -ENOENT)
			log_debug("clone %s keeps naming %s@%s for now: %s", name, h->rbd_image,
			          h->former_name, lerr.msg);
	}
}

/* The current name of the snapshot with id snap_id; -ENOENT when it is gone. */
static int snap_name_of(rbd_image_t img, uint64_t snap_id, char ret[VOL_RBD_NAME_MAX])
{
	size_t len = VOL_RBD_NAME_MAX;
	int r = rbd_snap_get_name(img, snap_id, ret, &len);

	return r == -ERANGE ? -ENAMETOOLONG : r;
}

/* The rename failed, and its entry stays: the purge does the delete, so it is one (1). */
static int hide_later(const char *volume, const char *snap, int r, const char *then)
{
	log_warn("snapshot '%s@%s' is hidden by the next purge pass: %s, then %s", volume, snap,
	         strerror(-r), then);
	return 1;
}

int vol_snap_hide(struct cluster *c, const char *volume, const char *snap, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record rec = {0};
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	_cleanup_(freep) char *text = NULL;
	rbd_linked_image_spec_t *kids = NULL;
	struct hidden_snap h = {0};
	char id[ENTRY_ID_MAX], now[VOL_RBD_NAME_MAX];
	size_t nkids = 0;
	int r;

	if (str_has_prefix(snap, VOL_HIDDEN_SNAP_PREFIX))
		return err_set(err, -EACCES, "snapshot '%s' is cairn's own", snap);
	r = vol_record_load(c, false, volume, &rec, NULL, err);
	if (r < 0)
		return r;
	r = vol_open(c, rec.pool, rec.rbd_image, NULL, &img, err);
	if (r < 0)
		return r;
	r = rbd_snap_get_id(img, snap, &h.snap_id);
	if (r == -ENOENT)
		return err_set(err, r, "snapshot '%s@%s' not found", volume, snap);
	if (r < 0)
		return err_set(err, r, "cannot read snapshot '%s@%s': %s", volume, snap,
		               strerror(-r));
	r = snap_clones(img, h.snap_id, &kids, &nkids);
	if (r < 0)
		return err_set(err, r, "cannot list the clones of '%s@%s': %s", volume, snap,
		               strerror(-r));
	if (nkids == 0) {
		image_clones_free(kids, nkids);
		return 0; /* nothing to wait for: the caller removes it */
	}

	str_copy(h.volume_id, sizeof(h.volume_id), rec.id);
	str_copy(h.pool, sizeof(h.pool), rec.pool);
	str_copy(h.rbd_image, sizeof(h.rbd_image), rec.rbd_image);
	str_copy(h.former_name, sizeof(h.former_name), snap);
	snprintf(h.hidden_name, sizeof(h.hidden_name), "%s%" PRIu64 "-%s", SNAP_DELETED_PREFIX,
	         h.snap_id, snap);
	entry_id(h.volume_id, h.snap_id, id);
	text = entry_format(&h);
	if (!text) {
		r = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* the entry first: a crash after it leaves work the purge finishes, never a
	 * cairn-deleted-* snapshot that nothing accounts for */
	r = dir_insert(c, DIR_SNAPSHOTS, NULL, id, text, err);
	if (r == -EEXIST) { /* a delete of it ran a moment ago: finish it with this one */
		err_clear(err);
		r = 0;
	}
	if (r < 0)
		goto out;
	failpoint("snapshot.delete.recorded");

	r = rbd_snap_rename(img, snap, h.hidden_name);
	if (r < 0) {
		int q = snap_name_of(img, h.snap_id, now);

		/* renamed after all (by a purge pass on another host, or the reply was lost), or
		 * removed already: the delete happened */
		if ((q >= 0 && strcmp(now, h.hidden_name) == 0) || q == -ENOENT)
			r = 0;
		/* whether it happened cannot be told */
		else if (q < 0) {
			r = hide_later(volume, snap, r, strerror(-q));
			goto out;
		}
	}
	if (r < 0) {
		struct cairn_err lerr = {0};

		if (dir_remove(c, DIR_SNAPSHOTS, NULL, id, &lerr) < 0) {
			r = hide_later(volume, snap, r, lerr.msg); /* the entry stays */
			goto out;
		}
		err_set(err, r, "cannot hide snapshot '%s@%s': %s", volume, snap, strerror(-r));
		goto out;
	}
	failpoint("snapshot.delete.renamed");
	log_debug("snapshot %s@%s hidden as %s until its clones are gone", volume, snap,
	          h.hidden_name);
	/* best effort: the purge finishes what a crash or a race leaves undone */
	fix_clone_records(c, &h, kids, nkids);
	r = 1;
out:
	image_clones_free(kids, nkids);
	return r;
}

int vol_snap_clone_names(struct cluster *c, const char *volume, const char *snap, char *buf,
                         size_t len, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record rec = {0};
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	rbd_linked_image_spec_t *kids = NULL;
	size_t nkids = 0;
	uint64_t snap_id;
	int r;

	buf[0] = '\0';
	r = vol_record_load(c, false, volume, &rec, NULL, err);
	if (r < 0)
		return r;
	r = vol_open(c, rec.pool, rec.rbd_image, NULL, &img, err);
	if (r < 0)
		return r;
	r = rbd_snap_get_id(img, snap, &snap_id);
	if (r >= 0)
		r = snap_clones(img, snap_id, &kids, &nkids);
	if (r < 0)
		return err_set(err, r, "cannot list the clones of '%s@%s': %s", volume, snap,
		               strerror(-r));
	vol_children_names(c, kids, nkids, buf, len);
	image_clones_free(kids, nkids);
	return 0;
}

/* One entry: roll it forward. 1 when the entry is gone (snapshot removed), 0 when kept. */
static int settle_one(struct cluster *c, const char *id, const char *text, struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	rbd_linked_image_spec_t *kids = NULL;
	struct cairn_err lerr = {0};
	struct hidden_snap h;
	char now[VOL_RBD_NAME_MAX];
	size_t nkids = 0;
	int r;

	if (entry_parse(text, &h) < 0) {
		log_warn("snapshot entry %s is unreadable: left alone", id);
		return 0;
	}
	r = vol_open(c, h.pool, h.rbd_image, NULL, &img, &lerr);
	if (r == -ENOENT)
		goto drop; /* the volume went, and its snapshots with it */
	if (r < 0)
		return err_set(err, r, "%s", lerr.msg);
	r = snap_name_of(img, h.snap_id, now);
	if (r == -ENOENT)
		goto drop;
	if (r < 0)
		return err_set(err, r, "cannot read snapshot %" PRIu64 " of '%s/%s': %s", h.snap_id,
		               h.pool, h.rbd_image, strerror(-r));
	if (strcmp(now, h.hidden_name) != 0) {
		/* the delete stopped between its entry and the rename */
		r = rbd_snap_rename(img, now, h.hidden_name);
		if (r < 0)
			return err_set(err, r, "cannot hide snapshot '%s/%s@%s': %s", h.pool,
			               h.rbd_image, now, strerror(-r));
		log_info("hid snapshot %s/%s@%s, deleted before a crash", h.pool, h.rbd_image, now);
	}
	r = snap_clones(img, h.snap_id, &kids, &nkids);
	if (r < 0)
		return err_set(err, r, "cannot list the clones of '%s/%s@%s': %s", h.pool,
		               h.rbd_image, h.hidden_name, strerror(-r));
	if (nkids > 0) {
		fix_clone_records(c, &h, kids, nkids);
		image_clones_free(kids, nkids);
		return 0;
	}
	image_clones_free(kids, nkids);
	r = rbd_snap_remove2(img, h.hidden_name, RBD_SNAP_REMOVE_UNPROTECT, NULL, NULL);
	if (r < 0 && r != -ENOENT)
		return err_set(err, r, "cannot remove snapshot '%s/%s@%s': %s", h.pool, h.rbd_image,
		               h.hidden_name, strerror(-r));
	log_debug("removed snapshot %s/%s@%s, its last clone gone", h.pool, h.rbd_image,
	          h.hidden_name);
drop:
	r = dir_remove(c, DIR_SNAPSHOTS, NULL, id, err);
	return r < 0 ? r : 1;
}

struct entries {
	char (*ids)[ENTRY_ID_MAX];
	char **texts;
	size_t n, cap;
};

static int collect_entry(const char *id, const char *record, void *userdata)
{
	struct entries *e = userdata;

	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		void *ids = realloc(e->ids, cap * sizeof(*e->ids));
		if (!ids)
			return -ENOMEM;
		e->ids = ids;
		void *texts = realloc(e->texts, cap * sizeof(*e->texts));
		if (!texts)
			return -ENOMEM;
		e->texts = texts;
		e->cap = cap;
	}
	if (str_copy(e->ids[e->n], ENTRY_ID_MAX, id) < 0)
		return 0; /* not one of ours */
	e->texts[e->n] = strdup(record);
	if (!e->texts[e->n])
		return -ENOMEM;
	e->n++;
	return 0;
}

int vol_snap_hidden_settle(struct cluster *c, unsigned *removed, struct cairn_err *err)
{
	struct entries e = {0};
	int r;

	/* listed first, settled after: no RBD call while the directory is being read */
	r = dir_list(c, DIR_SNAPSHOTS, collect_entry, &e, err);
	for (size_t i = 0; r >= 0 && i < e.n; i++) {
		struct cairn_err lerr = {0};
		int s = settle_one(c, e.ids[i], e.texts[i], &lerr);

		if (s > 0 && removed)
			(*removed)++;
		else if (s < 0)
			log_debug("hidden snapshot %s stays: %s", e.ids[i], lerr.msg);
	}
	for (size_t i = 0; i < e.n; i++)
		free(e.texts[i]);
	free(e.texts);
	free(e.ids);
	return r < 0 ? r : 0;
}
