/* SPDX-License-Identifier: MIT */
/*
 * backup: list, show, delete, retention, and removing what an unfinished backup left.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backup/backup-internal.h"
#include "common/json.h"
#include "snapshots/snapshots.h"

/* ---- list, show ------------------------------------------------------------------------------ */

int backup_list(struct cluster *c, const char *volume, struct json_object **ret_array,
                struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *arr = NULL;
	struct bk_record_set set = {0};
	struct vol_record vol = {0};
	const char *vid = NULL;
	bool have_vol = false;
	int r;

	if (volume) {
		struct cairn_err lerr = {0};

		r = name_validate(volume, "volume", err);
		if (r < 0)
			return r;
		/* by id when the volume exists (its backups survive a rename); by name otherwise */
		r = bk_volume_load(c, volume, &vol, &lerr);
		if (r >= 0) {
			have_vol = true;
			vid = vol.id;
		} else if (r != -ENOENT) {
			return err_set(err, r, "%s", lerr.msg);
		}
	}
	r = bk_record_list(c, vid, &set, err);
	if (r < 0)
		goto out;
	arr = json_object_new_array();
	if (!arr) {
		r = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < set.n; i++) {
		struct json_object *o;

		if (volume && !have_vol && strcmp(set.v[i].volume, volume) != 0)
			continue;
		o = backup_record_to_json(&set.v[i]);
		if (!o || json_object_array_add(arr, o) < 0) {
			json_object_put(o);
			r = err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	*ret_array = TAKE_PTR(arr);
	r = 0;
out:
	bk_record_set_release(&set);
	if (have_vol)
		vol_record_release(&vol);
	return r;
}

int backup_show(struct cluster *c, const char *id, struct json_object **ret_backup,
                struct cairn_err *err)
{
	struct backup_record rec;
	struct json_object *o;
	int r;

	r = bk_record_load(c, id, &rec, NULL, err);
	if (r < 0)
		return r;
	o = backup_record_to_json(&rec);
	if (!o)
		return err_set(err, -ENOMEM, "out of memory");
	*ret_backup = o;
	return 0;
}

/* ---- removing data ----------------------------------------------------------------------------- */

static int keep_first(int r, int *first)
{
	if (r < 0 && !*first)
		*first = r;
	return r;
}

/* The source snapshot of a backup on its volume (the volume may be gone). */
static int remove_source_snap(struct cluster *c, const struct backup_record *rec,
                              struct cairn_err *err)
{
	struct vol_record vol = {0};
	struct cairn_err lerr = {0};
	rados_ioctx_t io;
	int r;

	r = bk_volume_load_id(c, rec->volume_id, &vol, &lerr);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_set(err, r, "%s", lerr.msg);
	r = bk_volume_io(c, &vol, &io, err);
	if (r >= 0) {
		r = snap_remove(io, vol.rbd_image, rec->snapshot, &lerr);
		if (r == -ENOENT)
			r = 0;
		else if (r < 0)
			err_set(err, r, "%s", lerr.msg);
	}
	vol_record_release(&vol);
	return r;
}

/* Is record i the latest good backup of its volume? (the set is oldest first) */
static bool latest_good(const struct bk_record_set *all, size_t i)
{
	if (all->v[i].status != BACKUP_STATUS_AVAILABLE)
		return false;
	for (size_t j = i + 1; j < all->n; j++)
		if (all->v[j].status == BACKUP_STATUS_AVAILABLE &&
		    strcmp(all->v[j].volume_id, all->v[i].volume_id) == 0)
			return false;
	return true;
}

/* A set's group snapshot is needed while a backup of the set (but except) is being made or
 * is the latest good backup of its volume. */
static bool set_needed(const struct bk_record_set *all, const char *set, const char *except)
{
	for (size_t i = 0; i < all->n; i++) {
		const struct backup_record *r = &all->v[i];

		if (strcmp(r->set, set) != 0 || (except && strcmp(r->id, except) == 0))
			continue;
		if (r->status == BACKUP_STATUS_CREATING || latest_good(all, i))
			return true;
	}
	return false;
}

int bk_group_sweep(struct cluster *c, const char *group, const char *except, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *snaps = NULL;
	struct bk_record_set all = {0};
	int removed = 0, first = 0, r;

	/* the snapshots before the records: a set that starts meanwhile inserts its records
	 * before it takes its group snapshot, so what is listed here has its records in */
	r = snap_group_list(c, group, &snaps, err);
	if (r == -ENOENT) {
		err_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	r = bk_record_list(c, NULL, &all, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(snaps); i++) {
		const char *name = json_get_string(json_object_array_get_idx(snaps, i), "name");
		struct cairn_err lerr = {0};

		if (!name || !str_has_prefix(name, BACKUP_SNAP_PREFIX) ||
		    set_needed(&all, name + strlen(BACKUP_SNAP_PREFIX), except))
			continue;
		r = snap_group_remove(c, group, name, &lerr);
		if (r < 0 && r != -ENOENT) {
			keep_first(err_set(err, r, "%s", lerr.msg), &first);
			continue;
		}
		removed++;
	}
	bk_record_set_release(&all);
	if (removed)
		log_debug("group '%s': %d backup group snapshot(s) removed", group, removed);
	return first < 0 ? first : removed;
}

static int image_snap_count(rbd_image_t img)
{
	rbd_snap_info_t *snaps;
	int max = 16, n;

	for (;;) {
		snaps = calloc((size_t)max, sizeof(*snaps));
		if (!snaps)
			return -ENOMEM;
		n = rbd_snap_list(img, snaps, &max);
		if (n == -ERANGE) {
			free(snaps);
			continue;
		}
		break;
	}
	if (n >= 0)
		rbd_snap_list_end(snaps);
	free(snaps);
	return n;
}

/*
 * The backup's snapshot on the backup image; the image too when no snapshot is left
 * (only_if_made: only when this backup made the image and nothing else is on it).
 */
static int remove_pool_data(struct cluster *c, const struct backup_record *rec,
                            bool remove_empty_image, struct cairn_err *err)
{
	rados_ioctx_t bio;
	char image[128], snap[128];
	struct cairn_err lerr = {0};
	int r, n;

	r = cluster_ioctx(c, POOL_ROLE_BACKUPS, &bio, err);
	if (r < 0)
		return r;
	bk_image_name(image, rec->volume_id);
	bk_image_snap_name(snap, rec->id);
	r = snap_remove(bio, image, snap, &lerr);
	if (r < 0 && r != -ENOENT)
		return err_set(err, r, "%s", lerr.msg);
	if (!remove_empty_image)
		return 0;
	{
		_cleanup_(rbd_closep) rbd_image_t img = NULL;
		r = rbd_open(bio, image, &img, NULL);
		if (r == -ENOENT)
			return 0;
		if (r < 0)
			return err_set(err, r, "cannot open backup image '%s': %s", image,
			               strerror(-r));
		n = image_snap_count(img);
	}
	if (n < 0)
		return err_set(err, n, "cannot list the snapshots of '%s': %s", image,
		               strerror(-n));
	if (n > 0)
		return 0;
	r = rbd_remove(bio, image);
	if (r < 0 && r != -ENOENT)
		return err_set(err, r, "cannot remove backup image '%s': %s", image, strerror(-r));
	log_debug("removed backup image %s", image);
	return 0;
}

/* Volumes cloned from the backup's snapshot (instant restores): -ENOTEMPTY naming them. */
static int require_no_clones(struct cluster *c, const struct backup_record *rec,
                             struct cairn_err *err)
{
	_cleanup_(freep) char *names = NULL;
	struct cairn_err lerr = {0};
	char image[128], snap[128];
	size_t n = 0;
	rados_ioctx_t bio;
	int r;

	if (rec->target != BACKUP_TARGET_POOL)
		return 0;
	r = cluster_ioctx(c, POOL_ROLE_BACKUPS, &bio, err);
	if (r < 0)
		return r;
	bk_image_name(image, rec->volume_id);
	bk_image_snap_name(snap, rec->id);
	r = snap_children_names(c, bio, image, snap, &names, &n, &lerr);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_set(err, r, "%s", lerr.msg);
	if (n)
		return err_set(err, -ENOTEMPTY,
		               "backup '%s' has %zu volume%s cloned from it (instant restores: "
		               "%s): flatten or delete %s first",
		               rec->id, n, n > 1 ? "s" : "", names, n > 1 ? "them" : "it");
	return 0;
}

static int remove_file_data(struct cluster *c, const struct backup_record *rec,
                            struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);
	_cleanup_(json_putp) struct json_object *m = NULL;
	_cleanup_(freep) char *tmp = NULL;
	int r;

	if (!rec->path[0])
		return 0;
	tmp = str_printf("%s.tmp", rec->path);
	if (!tmp)
		return err_set(err, -ENOMEM, "out of memory");
	if (unlink(tmp) < 0 && errno != ENOENT)
		return err_set(err, -errno, "cannot remove '%s': %s", tmp, strerror(errno));
	if (unlink(rec->path) < 0 && errno != ENOENT)
		return err_set(err, -errno, "cannot remove '%s': %s", rec->path, strerror(errno));
	r = manifest_load(conf->backup.directory, rec->volume_id, rec->volume, &m, err);
	if (r < 0)
		return r;
	if (manifest_remove(m, rec->id) > 0)
		return manifest_store(conf->backup.directory, rec->volume_id, m, err);
	return 0;
}

int bk_cleanup_partial(struct cluster *c, const struct backup_record *rec, bool created_image,
                       struct cairn_err *err)
{
	int first = 0;

	keep_first(remove_source_snap(c, rec, err), &first);
	if (rec->set[0])
		keep_first(bk_group_sweep(c, rec->group, rec->id, err), &first);
	if (rec->target == BACKUP_TARGET_FILE)
		keep_first(remove_file_data(c, rec, err), &first);
	else
		keep_first(remove_pool_data(c, rec, created_image, err), &first);
	keep_first(bk_blocks_remove(c, rec->id), &first);
	if (first == 0)
		log_debug("backup %s: partial data removed", rec->id);
	return first;
}

/* ---- delete ------------------------------------------------------------------------------------ */

static int set_deleting(struct backup_record *r, const void *arg)
{
	r->status = BACKUP_STATUS_DELETING;
	return 0;
}

int bk_delete_locked(struct cluster *c, const char *id, struct cairn_err *err)
{
	struct bk_record_set set = {0};
	struct backup_record rec;
	char *deps = NULL;
	size_t ndeps = 0;
	int r, first = 0;

	r = bk_record_load(c, id, &rec, NULL, err);
	if (r < 0)
		return r;
	r = bk_record_list(c, rec.volume_id, &set, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < set.n; i++) {
		char *d;
		if (strcmp(set.v[i].parent, id) != 0 || set.v[i].status == BACKUP_STATUS_FAILED)
			continue;
		d = str_printf("%s%s'%s'", deps ? deps : "", deps ? ", " : "", set.v[i].id);
		free(deps);
		deps = d;
		ndeps++;
		if (!d)
			break;
	}
	bk_record_set_release(&set);
	if (ndeps) {
		r = err_set(err, -ENOTEMPTY,
		            "backup '%s' is the base of later incremental backup%s %s: delete "
		            "%s first (newest first)",
		            id, ndeps > 1 ? "s" : "", deps ? deps : "", ndeps > 1 ? "them" : "it");
		free(deps);
		return r;
	}
	r = require_no_clones(c, &rec, err);
	if (r < 0)
		return r;
	if (rec.status != BACKUP_STATUS_DELETING) {
		r = bk_record_modify(c, id, set_deleting, NULL, NULL, err);
		if (r < 0)
			return r;
	}
	failpoint("backup.delete.marked");
	/* the source snapshot is on the volume only while this is the latest good backup */
	keep_first(remove_source_snap(c, &rec, err), &first);
	if (rec.set[0])
		keep_first(bk_group_sweep(c, rec.group, id, err), &first);
	if (rec.target == BACKUP_TARGET_FILE)
		keep_first(remove_file_data(c, &rec, err), &first);
	else
		keep_first(remove_pool_data(c, &rec, true, err), &first);
	keep_first(bk_blocks_remove(c, id), &first);
	if (first < 0) {
		if (!err->code)
			err_set(err, first, "cannot remove the data of backup '%s': %s", id,
			        strerror(-first));
		return first; /* the record stays "deleting": the reconciler finishes */
	}
	r = dir_remove(c, DIR_BACKUPS, id, id, err);
	if (r < 0)
		return r;
	log_debug("backup %s deleted", id);
	return 0;
}

int backup_delete(struct cluster *c, const char *id, struct cairn_err *err)
{
	struct backup_record rec;
	struct bk_lock lock;
	char op[UUID_STR_LEN];
	int r;

	r = bk_record_load(c, id, &rec, NULL, err);
	if (r < 0)
		return r;
	uuid_generate_str(op);
	r = bk_lock_acquire(c, rec.volume_id, rec.volume, op, &lock, err);
	if (r < 0)
		return r;
	r = bk_delete_locked(c, id, err);
	bk_lock_release(&lock);
	return r;
}
