/* SPDX-License-Identifier: MIT */
/*
 * backup: backup_create — lock the volume, write the intent and the record, snapshot the
 * volume, move the changed extents to the target, checksum, and say "available".
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backup/backup-internal.h"
#include "common/json.h"
#include "snapshots/snapshots.h"

#define OLD_SNAPS_PER_PASS 32
#define BK_LOCK_WAIT_MS    5000 /* a backup waits this long for the backups pass */

struct create {
	struct cluster *c;
	const struct cairn_config *conf;
	struct vol_record vol;
	rados_ioctx_t vio; /* the volume's pool */
	struct backup_record rec;
	struct backup_record base;   /* when incremental */
	struct bk_record_set others; /* earlier backups of the volume */
	char op[UUID_STR_LEN + 28];
	struct bk_lock lock;
	bool created_image;
	bool inserted, intent; /* what the failure path must undo */
	struct cairn_progress *progress;
	/* the data to move, from create_prepare() to create_copy() */
	struct ro_image src, src_old;
	struct extent_list ext, old_alloc;
	struct chunk_plan plan;
	struct lthash state;
	struct vhasher h;
	uint64_t old_size;
};

/* ---- the base of an incremental -------------------------------------------------------------- */

static int snap_exists(struct cluster *c, rados_ioctx_t io, const char *image, const char *snap,
                       bool *ret, struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image img = {0};
	int r;

	r = bk_open_snap(c, io, image, NULL, &img);
	if (r == -ENOENT) {
		*ret = false;
		return 0;
	}
	if (r >= 0)
		r = rbd_snap_exists(img.img, snap, ret);
	if (r < 0)
		return err_set(err, r, "cannot read the snapshots of '%s': %s", image,
		               strerror(-r));
	return 0;
}

/* Decide full or incremental. why_full says why an incremental could not be. */
static int choose_base(struct create *cr, bool incremental, struct cairn_err *err)
{
	const struct backup_record *latest = NULL;
	struct backup_record *rec = &cr->rec;
	char name[128];
	bool exists = false;
	int r;

	for (size_t i = 0; i < cr->others.n; i++)
		if (cr->others.v[i].status == BACKUP_STATUS_AVAILABLE)
			latest = &cr->others.v[i];
	rec->kind = BACKUP_KIND_FULL;
	if (!incremental)
		return 0;
	if (!latest) {
		snprintf(rec->why_full, sizeof(rec->why_full),
		         "volume '%s' has no earlier good backup", cr->vol.name);
		return 0;
	}
	if (latest->target != rec->target) {
		snprintf(rec->why_full, sizeof(rec->why_full),
		         "the latest backup '%s' went to the %s target, not %s", latest->id,
		         backup_target_to_string(latest->target),
		         backup_target_to_string(rec->target));
		return 0;
	}
	r = snap_exists(cr->c, cr->vio, cr->vol.rbd_image, latest->snapshot, &exists, err);
	if (r < 0)
		return r;
	if (!exists) {
		snprintf(rec->why_full, sizeof(rec->why_full),
		         "snapshot '%.60s' of the latest backup '%s' is gone from the volume",
		         latest->snapshot, latest->id);
		return 0;
	}
	if (latest->set[0]) {
		_cleanup_(ro_image_close) struct ro_image img = {0};
		struct cairn_err lerr = {0};
		uint64_t id;

		bk_snap_name(name, latest->set);
		if (bk_open_snap(cr->c, cr->vio, cr->vol.rbd_image, NULL, &img) < 0 ||
		    snap_group_snap_id(img.img, latest->group, name, &id, &lerr) < 0) {
			snprintf(rec->why_full, sizeof(rec->why_full),
			         "group snapshot '%.50s@%.60s' of the latest backup '%s' is gone "
			         "from the volume",
			         latest->group, name, latest->id);
			return 0;
		}
	}
	if (latest->target == BACKUP_TARGET_POOL) {
		rados_ioctx_t bio;
		char snap[128];

		r = cluster_ioctx(cr->c, POOL_ROLE_BACKUPS, &bio, err);
		if (r < 0)
			return r;
		bk_image_name(name, cr->vol.id);
		bk_image_snap_name(snap, latest->id);
		r = snap_exists(cr->c, bio, name, snap, &exists, err);
		if (r < 0)
			return r;
		if (!exists) {
			snprintf(rec->why_full, sizeof(rec->why_full),
			         "backup image '%.50s' has no snapshot '%.50s' of the latest "
			         "backup '%s'",
			         name, snap, latest->id);
			return 0;
		}
	} else if (access(latest->path, R_OK) < 0) {
		snprintf(rec->why_full, sizeof(rec->why_full),
		         "file '%.160s' of the latest backup is missing", latest->path);
		return 0;
	}
	{
		struct lthash st;
		struct cairn_err lerr = {0};
		uint64_t size;

		r = bk_blocks_load(cr->c, latest->id, &st, &size, &lerr);
		if (r < 0 || size != latest->size) {
			snprintf(rec->why_full, sizeof(rec->why_full),
			         "the digest state of the latest backup '%s' is missing",
			         latest->id);
			return 0;
		}
	}
	rec->kind = BACKUP_KIND_INCREMENTAL;
	str_copy(rec->parent, sizeof(rec->parent), latest->id);
	cr->base = *latest;
	return 0;
}

/* ---- data ------------------------------------------------------------------------------------ */

static void fill_copier(struct create *cr, struct copier *cp, rbd_image_t src, uint64_t total,
                        char *what, size_t what_len)
{
	snprintf(what, what_len, "backup '%s' of volume '%s'", cr->rec.id, cr->vol.name);
	cp->src = src;
	cp->window = cr->conf->backup.in_flight;
	cp->chunk_max = cr->conf->backup.chunk < BK_BLOCK ? cr->conf->backup.chunk : BK_BLOCK;
	cp->progress = cr->progress;
	cp->progress_total = total;
	cp->lease = &cr->lock;
	cp->failpoint = "backup.chunk";
	cp->what = what;
}

static int to_file(struct create *cr, rbd_image_t src, rbd_image_t src_old,
                   const struct chunk_plan *plan, struct vhasher *h, uint8_t file_sha[SHA256_LEN],
                   struct cairn_err *err)
{
	_cleanup_(freep) char *tmp = str_printf("%s.tmp", cr->rec.path);
	_cleanup_(closep) int fd = -1;
	struct dstream_writer w;
	struct copier cp = {0};
	char what[160];
	int r;

	if (!tmp)
		return err_set(err, -ENOMEM, "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return err_set(err, -errno, "cannot create '%s': %s", tmp, strerror(errno));
	r = dstream_writer_init(&w, fd, 1);
	if (r < 0)
		return err_set(err, r, "out of memory");
	r = dstream_write_header(&w,
	                         cr->rec.kind == BACKUP_KIND_INCREMENTAL ? cr->base.snapshot : NULL,
	                         cr->rec.snapshot, cr->rec.size);
	if (r < 0) {
		err_set(err, r, "cannot write '%s': %s", tmp, strerror(-r));
		goto out;
	}
	fill_copier(cr, &cp, src, plan->read_bytes, what, sizeof(what));
	cp.src_old = src_old;
	cp.file = &w;
	cp.hasher = h;
	r = copier_run(&cp, plan, err);
	if (r < 0)
		goto out;
	cr->rec.bytes = cp.bytes_data;
	r = dstream_write_end(&w, file_sha);
	if (r < 0) {
		err_set(err, r, "cannot write '%s': %s", tmp, strerror(-r));
		goto out;
	}
	if (fsync(fd) < 0 || close(TAKE_FD(fd)) < 0) {
		r = err_set(err, -errno, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, cr->rec.path) < 0) {
		r = err_set(err, -errno, "cannot rename '%s': %s", tmp, strerror(errno));
		goto out;
	}
	r = bk_fsync_dir_of(cr->rec.path);
	if (r < 0)
		err_set(err, r, "cannot sync the directory of '%s': %s", cr->rec.path,
		        strerror(-r));
out:
	dstream_writer_release(&w);
	return r;
}

/* Make the head of the backup image equal to snapshot snap of snap_size bytes (a failed
 * backup may have written into it, or resized it). */
static int head_reset(rbd_image_t img, const char *image, const char *snap, uint64_t snap_size,
                      struct cairn_err *err)
{
	struct extent_list l = {0};
	uint64_t size = 0;
	bool same;
	int r;

	r = rbd_get_size(img, &size);
	if (r < 0)
		return err_set(err, r, "cannot read the size of '%s': %s", image, strerror(-r));
	r = bk_diff_extents(img, snap, size, &l, err);
	if (r < 0)
		return r;
	same = l.n == 0 && size == snap_size;
	extent_list_release(&l);
	if (same)
		return 0;
	log_debug("rolling backup image '%s' back to '%s'", image, snap);
	r = rbd_snap_rollback(img, snap);
	if (r < 0)
		return err_set(err, r, "cannot roll backup image '%s' back to '%s': %s", image,
		               snap, strerror(-r));
	return 0;
}

static int to_pool(struct create *cr, rbd_image_t src, rbd_image_t src_old,
                   const struct chunk_plan *plan, struct vhasher *h, struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t dst = NULL;
	struct copier cp = {0};
	rados_ioctx_t bio;
	char image[128], snap[128], base_snap[128], what[160];
	uint64_t cur = 0;
	int order = 0, r;

	r = cluster_ioctx(cr->c, POOL_ROLE_BACKUPS, &bio, err);
	if (r < 0)
		return r;
	bk_image_name(image, cr->vol.id);
	bk_image_snap_name(snap, cr->rec.id);
	r = rbd_open(bio, image, &dst, NULL);
	if (r == -ENOENT) {
		if (cr->rec.kind == BACKUP_KIND_INCREMENTAL)
			return err_set(err, -ENOENT, "backup image '%s' is gone", image);
		r = intent_set_target(cr->c, cr->op, "created_image", "1", err);
		if (r < 0)
			return r;
		cr->created_image = true;
		r = rbd_create(bio, image, cr->rec.size, &order);
		if (r < 0)
			return err_set(err, r, "cannot create backup image '%s': %s", image,
			               strerror(-r));
		r = rbd_open(bio, image, &dst, NULL);
	}
	if (r < 0)
		return err_set(err, r, "cannot open backup image '%s': %s", image, strerror(-r));
	if (cr->rec.kind == BACKUP_KIND_INCREMENTAL) {
		bk_image_snap_name(base_snap, cr->base.id);
		r = head_reset(dst, image, base_snap, cr->base.size, err);
		if (r < 0)
			return r;
	}
	r = rbd_get_size(dst, &cur);
	if (r >= 0 && cur != cr->rec.size)
		r = rbd_resize(dst, cr->rec.size);
	if (r < 0)
		return err_set(err, r, "cannot resize backup image '%s': %s", image, strerror(-r));

	fill_copier(cr, &cp, src, plan->read_bytes, what, sizeof(what));
	cp.src_old = src_old;
	cp.dst = dst;
	cp.dst_zero = !cr->created_image; /* a new image reads as zeros already */
	cp.hasher = h;
	r = copier_run(&cp, plan, err);
	if (r < 0)
		return r;
	cr->rec.bytes = cp.bytes_data;
	r = rbd_flush(dst);
	if (r < 0)
		return err_set(err, r, "cannot flush backup image '%s': %s", image, strerror(-r));
	return snap_create(bio, image, snap, err);
}

static int manifest_update(struct create *cr, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *m = NULL;
	_cleanup_(freep) char *file = bk_file_name(cr->vol.id, cr->rec.id);
	int r;

	if (!file)
		return err_set(err, -ENOMEM, "out of memory");
	r = manifest_load(cr->conf->backup.directory, cr->vol.id, cr->vol.name, &m, err);
	if (r < 0)
		return r;
	if (json_add_string(m, "volume", cr->vol.name) < 0 || manifest_add(m, &cr->rec, file) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	return manifest_store(cr->conf->backup.directory, cr->vol.id, m, err);
}

static int set_available(struct backup_record *r, const void *arg)
{
	const struct backup_record *done = arg;

	/* a backup that lost its lock (it hung past the lease) was failed by another: it
	 * stays so, its data already removed */
	if (r->status != BACKUP_STATUS_CREATING)
		return -ESTALE;

	r->status = BACKUP_STATUS_AVAILABLE;
	r->size = done->size;
	r->bytes = done->bytes;
	memcpy(r->checksum_file, done->checksum_file, sizeof(r->checksum_file));
	memcpy(r->checksum_volume, done->checksum_volume, sizeof(r->checksum_volume));
	return 0;
}

/*
 * Open the image at the point of backup rec: its group snapshot's part when it was made
 * in a set, its own snapshot otherwise.
 */
static int open_point(struct create *cr, const struct backup_record *rec, struct ro_image *ret,
                      struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image img = {0};
	char gsnap[128];
	uint64_t id = 0;
	int r;

	r = bk_open_snap(cr->c, cr->vio, cr->vol.rbd_image, rec->set[0] ? NULL : rec->snapshot,
	                 &img);
	if (r < 0)
		return err_set(err, r, "cannot open '%s@%s': %s", cr->vol.rbd_image, rec->snapshot,
		               strerror(-r));
	if (rec->set[0]) {
		bk_snap_name(gsnap, rec->set);
		r = snap_group_snap_id(img.img, rec->group, gsnap, &id, err);
		if (r < 0)
			return r;
		r = rbd_snap_set_by_id(img.img, id);
		if (r < 0)
			return err_set(err, r, "cannot open '%s' at group snapshot '%s@%s': %s",
			               cr->vol.rbd_image, rec->group, gsnap, strerror(-r));
	}
	ro_image_close(ret);
	*ret = img;
	img.img = NULL;
	return 0;
}

/* The source point: the volume's own snapshot, taken before any group snapshot of a set. */
static int create_point(struct create *cr, struct cairn_err *err)
{
	int r = snap_create(cr->vio, cr->vol.rbd_image, cr->rec.snapshot, err);

	if (r >= 0)
		failpoint("backup.snapshot");
	return r;
}

/*
 * What to copy. The changed extents are those since the base's own snapshot: for a set,
 * that snapshot was taken just before the base's group snapshot, so they are a superset of
 * the changes since the group snapshot (librbd's diff cannot start at a group snapshot);
 * reading them at the new point gives the right bytes. Old values for the digest are read
 * at the base's real point.
 */
static int create_prepare(struct create *cr, struct cairn_err *err)
{
	bool full = cr->rec.kind == BACKUP_KIND_FULL, have_alloc = false;
	uint64_t size = 0;
	int r;

	r = open_point(cr, &cr->rec, &cr->src, err);
	if (r < 0)
		return r;
	r = rbd_get_size(cr->src.img, &size);
	if (r < 0)
		return err_set(err, r, "cannot read the size of '%s': %s", cr->vol.rbd_image,
		               strerror(-r));
	cr->rec.size = size;
	if (!full) {
		/* the base's digest state, and the base itself for the old sub-blocks */
		r = bk_blocks_load(cr->c, cr->base.id, &cr->state, &cr->old_size, err);
		if (r < 0)
			return err->code ? r
			                 : err_set(err, r,
			                           "the digest state of backup '%s' is missing",
			                           cr->base.id);
		r = open_point(cr, &cr->base, &cr->src_old, err);
		if (r < 0)
			return r;
		/* what was not allocated at the base was zero: no old value to take out */
		r = bk_alloc_extents(cr->src_old.img, cr->old_size, &cr->old_alloc, err);
		if (r < 0)
			return r;
		have_alloc = r > 0;
	}
	r = bk_diff_extents(cr->src.img, full ? NULL : cr->base.snapshot, size, &cr->ext, err);
	if (r < 0)
		return r;
	r = chunk_plan_build(&cr->ext, size, cr->conf->backup.chunk, full, cr->old_size,
	                     have_alloc ? &cr->old_alloc : NULL, &cr->plan);
	if (r < 0)
		return err_set(err, r, "out of memory");
	vhasher_init(&cr->h, &cr->state, size, cr->old_size);
	log_debug("backup %s: %s, %zu chunks, %llu bytes to read", cr->rec.id,
	          full ? "full" : "incremental", cr->plan.n,
	          (unsigned long long)cr->plan.read_bytes);
	return 0;
}

/* Move the data, checksum, and say "available". */
static int create_copy(struct create *cr, struct cairn_err *err)
{
	uint8_t file_sha[SHA256_LEN], digest[SHA256_LEN];
	const struct chunk_plan *plan = &cr->plan;
	int r;

	progress_report(cr->progress, 0, plan->read_bytes);
	if (cr->rec.target == BACKUP_TARGET_FILE)
		r = to_file(cr, cr->src.img, cr->src_old.img, plan, &cr->h, file_sha, err);
	else
		r = to_pool(cr, cr->src.img, cr->src_old.img, plan, &cr->h, err);
	if (r < 0)
		return r;
	failpoint("backup.data");

	r = vhasher_finish(&cr->h);
	if (r >= 0)
		r = lthash_digest(&cr->state, digest);
	if (r < 0)
		return err_set(err, r, "backup '%s': a sub-block was not hashed whole", cr->rec.id);
	sha256_hex(digest, cr->rec.checksum_volume);
	if (cr->rec.target == BACKUP_TARGET_FILE)
		sha256_hex(file_sha, cr->rec.checksum_file);
	r = bk_blocks_store(cr->c, cr->rec.id, &cr->state, cr->rec.size, err);
	if (r < 0)
		return r;
	failpoint("backup.checksum");

	if (cr->rec.target == BACKUP_TARGET_FILE) {
		r = manifest_update(cr, err);
		if (r < 0)
			return r;
	}
	{
		struct cairn_err lerr = {0};

		r = bk_record_modify(cr->c, cr->rec.id, set_available, &cr->rec, &cr->rec, &lerr);
		if (r == -ESTALE)
			return err_set(err, -EBUSY,
			               "backup '%s' ran past its lock's %d s lease and was settled "
			               "as failed meanwhile",
			               cr->rec.id, BACKUP_LOCK_LEASE);
		if (r < 0)
			return err_set(err, r, "%s", lerr.msg);
	}
	failpoint("backup.record");
	progress_report(cr->progress, plan->read_bytes, plan->read_bytes);
	return 0;
}

static void create_data_release(struct create *cr)
{
	vhasher_release(&cr->h);
	chunk_plan_release(&cr->plan);
	extent_list_release(&cr->ext);
	extent_list_release(&cr->old_alloc);
	ro_image_close(&cr->src_old);
	ro_image_close(&cr->src);
}

/*
 * The older bases go: every cairn-backup-* snapshot on the volume but the latest good
 * backup's, and the digest states of the other backups. Only the latest good backup is a
 * base.
 */
int bk_trim_locked(struct cluster *c, const char *volume_id, struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image img = {0};
	struct vol_record vol = {0};
	struct bk_record_set set = {0};
	const struct backup_record *latest = NULL;
	rbd_snap_info_t *snaps = NULL;
	int max = 16, n, removed = 0, r;
	rados_ioctx_t io;

	r = bk_record_list(c, volume_id, &set, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < set.n; i++)
		if (set.v[i].status == BACKUP_STATUS_AVAILABLE)
			latest = &set.v[i];
	for (size_t i = 0; i < set.n; i++)
		if (&set.v[i] != latest)
			bk_blocks_remove(c, set.v[i].id);
	r = bk_volume_load_id(c, volume_id, &vol, err);
	if (r == -ENOENT) { /* the volume went, its snapshots with it */
		err_clear(err);
		r = 0;
		goto out;
	}
	if (r >= 0)
		r = bk_volume_io(c, &vol, &io, err);
	if (r < 0)
		goto out;
	/* read-only: only the list; snap_remove opens the image for itself */
	r = bk_open_snap(c, io, vol.rbd_image, NULL, &img);
	if (r == -ENOENT) {
		r = 0;
		goto out;
	}
	if (r < 0) {
		err_set(err, r, "cannot open volume '%s': %s", vol.name, strerror(-r));
		goto out;
	}
	for (;;) {
		snaps = calloc((size_t)max, sizeof(*snaps));
		if (!snaps) {
			r = err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		n = rbd_snap_list(img.img, snaps, &max);
		if (n != -ERANGE)
			break;
		free(snaps);
	}
	for (int i = 0; i < n && removed < OLD_SNAPS_PER_PASS; i++) {
		struct cairn_err lerr = {0};
		if (!str_has_prefix(snaps[i].name, BACKUP_SNAP_PREFIX) ||
		    (latest && strcmp(snaps[i].name, latest->snapshot) == 0))
			continue;
		if (snap_remove(io, vol.rbd_image, snaps[i].name, &lerr) < 0 &&
		    lerr.code != -ENOENT) {
			log_warn("old backup snapshot '%s' stays: %s", snaps[i].name, lerr.msg);
			continue;
		}
		removed++;
	}
	if (n >= 0)
		rbd_snap_list_end(snaps);
	else
		r = err_set(err, n, "cannot list the snapshots of volume '%s': %s", vol.name,
		            strerror(-n));
	free(snaps);
	if (removed)
		log_debug("volume '%s': %d older backup snapshot(s) removed", vol.name, removed);
	for (size_t i = 0; r >= 0 && i < set.n; i++) {
		bool seen = false;
		if (!set.v[i].set[0])
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(set.v[j].group, set.v[i].group) == 0;
		if (!seen && bk_group_sweep(c, set.v[i].group, NULL, err) < 0)
			r = err->code;
	}
out:
	vol_record_release(&vol);
	bk_record_set_release(&set);
	return r < 0 ? r : removed;
}

/*
 * The older bases go later, in the backups pass (bk_settle_volume): removing a snapshot
 * waits for a monitor commit, up to paxos_propose_interval (1 s), which the backup need
 * not wait for. An intent says what is left to do, so a crash loses nothing.
 */
static void trim_later(struct create *cr)
{
	_cleanup_(json_putp) struct json_object *targets = json_object_new_object();
	struct cairn_err lerr = {0};
	char op[UUID_STR_LEN];

	if (cr->others.n == 0)
		return; /* the first backup: no older base */
	uuid_generate_str(op);
	if (!targets || json_add_string(targets, "volume_id", cr->vol.id) < 0 ||
	    json_add_string(targets, "volume", cr->vol.name) < 0 ||
	    intent_begin(cr->c, op, "backup.trim", targets, &lerr) < 0)
		log_warn("volume '%s': older backup snapshots stay: %s", cr->vol.name,
		         lerr.code ? lerr.msg : "out of memory");
}

static int mark_failed(struct backup_record *r, const void *arg)
{
	r->status = BACKUP_STATUS_FAILED;
	str_copy(r->error, sizeof(r->error), arg);
	return 0;
}

/* ---- one volume ------------------------------------------------------------------------------ */

static int create_load(struct create *cr, const char *volume, struct cairn_err *err)
{
	int r = bk_volume_load(cr->c, volume, &cr->vol, err);

	if (r < 0)
		return r;
	if (cr->vol.status != VOL_STATUS_AVAILABLE)
		return err_set(err, -EBUSY, "volume '%s' is %s, not available", cr->vol.name,
		               vol_status_to_string(cr->vol.status));
	return bk_volume_io(cr->c, &cr->vol, &cr->vio, err);
}

/* Lock the volume, write the intent, choose full or incremental, insert the record. */
static int create_start(struct create *cr, const char *op, const struct backup_create_params *p,
                        struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *targets = NULL;
	struct backup_record *rec = &cr->rec;
	char pid[24];
	int r;

	uuid_generate_str(rec->id);
	str_copy(cr->op, sizeof(cr->op), op);
	r = bk_lock_acquire_wait(cr->c, cr->vol.id, cr->vol.name, cr->op, BK_LOCK_WAIT_MS,
	                         &cr->lock, err);
	if (r < 0)
		return r;
	{
		/* we hold the lock: whatever earlier backup of the volume is unfinished died */
		struct cairn_err lerr = {0};
		if (bk_settle_volume(cr->c, cr->vol.id, false, NULL, &lerr) < 0)
			log_warn("volume '%s': earlier backups not settled: %s", cr->vol.name,
			         lerr.msg);
	}

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	targets = json_object_new_object();
	if (!targets || json_add_string(targets, "backup_id", rec->id) < 0 ||
	    json_add_string(targets, "volume_id", cr->vol.id) < 0 ||
	    json_add_string(targets, "volume", cr->vol.name) < 0 ||
	    json_add_string(targets, "target", backup_target_to_string(rec->target)) < 0 ||
	    json_add_string(targets, "pid", pid) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	r = intent_begin(cr->c, cr->op, "backup.create", targets, err);
	if (r < 0)
		return r;
	cr->intent = true;
	failpoint("backup.begin");

	r = bk_record_list(cr->c, cr->vol.id, &cr->others, err);
	if (r < 0)
		return r;
	str_copy(rec->volume, sizeof(rec->volume), cr->vol.name);
	str_copy(rec->volume_id, sizeof(rec->volume_id), cr->vol.id);
	bk_snap_name(rec->snapshot, rec->id);
	if (p->label)
		str_copy(rec->label, sizeof(rec->label), p->label);
	str_copy(rec->op, sizeof(rec->op), cr->op);
	rec->status = BACKUP_STATUS_CREATING;
	bk_time_now(rec->created);
	memcpy(rec->updated, rec->created, sizeof(rec->updated));
	if (rec->target == BACKUP_TARGET_FILE) {
		_cleanup_(freep) char *file = bk_file_name(cr->vol.id, rec->id);
		if (!file || snprintf(rec->path, sizeof(rec->path), "%s/%s",
		                      cr->conf->backup.directory, file) >= (int)sizeof(rec->path))
			return err_set(err, -ENAMETOOLONG, "backup file name is too long");
	}
	r = choose_base(cr, p->incremental, err);
	if (r < 0)
		return r;
	r = bk_record_insert(cr->c, rec, err);
	if (r < 0)
		return r;
	cr->inserted = true;
	return 0;
}

/* A failure: nothing partial stays, the record says why. */
static void create_fail(struct create *cr, const char *why)
{
	struct cairn_err lerr = {0};
	int cleaned = 0;

	create_data_release(cr);
	if (bk_lock_renew(&cr->lock, &lerr) == -EBUSY) {
		/* another host took the volume over and settles this backup: its data may be
		 * that host's now (a backup image it writes into) */
		log_warn("backup %s: %s; it is left to that host", cr->rec.id, lerr.msg);
		return;
	}
	if (cr->inserted) {
		struct backup_record now;

		err_clear(&lerr);
		if (bk_record_load(cr->c, cr->rec.id, &now, NULL, &lerr) >= 0 &&
		    now.status != BACKUP_STATUS_CREATING) {
			/* settled by another process after this one's lock ran out: its
			 * record, its intent and its data are that one's business now */
			log_warn("backup %s was settled (%s) by another process meanwhile",
			         cr->rec.id, backup_status_to_string(now.status));
			return;
		}
	}
	if (cr->inserted) {
		cleaned = bk_cleanup_partial(cr->c, &cr->rec, cr->created_image, &lerr);
		if (cleaned < 0)
			log_warn("backup %s: partial data stays for the reconciler: %s", cr->rec.id,
			         lerr.msg);
		err_clear(&lerr);
		if (bk_record_modify(cr->c, cr->rec.id, mark_failed, why, NULL, &lerr) < 0)
			log_warn("backup %s: not marked failed: %s", cr->rec.id, lerr.msg);
	}
	if (cr->intent && cleaned >= 0) {
		err_clear(&lerr);
		if (intent_end(cr->c, cr->op, &lerr) < 0)
			log_warn("intent %s stays: %s", cr->op, lerr.msg);
	}
}

/* A good backup: the intent ends, the older bases go later, retention. */
static void create_done(struct create *cr)
{
	struct cairn_err lerr = {0};

	trim_later(cr);
	if (intent_end(cr->c, cr->op, &lerr) < 0)
		log_warn("intent %s stays: %s", cr->op, lerr.msg);
	err_clear(&lerr);
	if (bk_prune_locked(cr->c, cr->vol.id, &lerr) < 0)
		log_warn("volume '%s': retention not applied: %s", cr->vol.name, lerr.msg);
	log_debug("backup %s of %s: %s, %llu bytes", cr->rec.id, cr->vol.name,
	          backup_kind_to_string(cr->rec.kind), (unsigned long long)cr->rec.bytes);
}

static void create_release(struct create *cr)
{
	create_data_release(cr);
	bk_lock_release(&cr->lock);
	bk_record_set_release(&cr->others);
	vol_record_release(&cr->vol);
}

/* ---- a set: several volumes at one point -------------------------------------------------- */

/* The progress of one volume's copy as part of the whole set's. */
struct set_progress {
	struct cairn_progress p;
	struct cairn_progress *up;
	uint64_t base, total;
};

static void set_progress_report(struct cairn_progress *p, uint64_t done, uint64_t total)
{
	struct set_progress *sp = container_of(p, struct set_progress, p);

	(void)total;
	progress_report(sp->up, sp->base + done, sp->total);
}

static bool set_progress_cancel(struct cairn_progress *p)
{
	return progress_cancelled(container_of(p, struct set_progress, p)->up);
}

static struct json_object *set_result(struct create *crs, size_t n)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();

	if (!o || json_add(o, "backups", a) < 0 || json_add_string(o, "set", crs[0].rec.set) < 0 ||
	    json_add_string(o, "group", crs[0].rec.group) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_object *b = backup_record_to_json(&crs[i].rec);
		if (!b || json_object_array_add(a, b) < 0) {
			json_object_put(b);
			return NULL;
		}
	}
	return TAKE_PTR(o);
}

struct point_job {
	struct create *cr;
	struct cairn_err err;
	int r;
};

static void *point_run(void *arg)
{
	struct point_job *j = arg;

	j->r = create_point(j->cr, &j->err);
	return NULL;
}

/*
 * Every volume's own snapshot, all at once: each waits for a monitor commit (up to
 * paxos_propose_interval), and the monitor commits requests that arrive together in one.
 */
static int create_points(struct create *crs, size_t n, struct cairn_err *err)
{
	_cleanup_(freep) struct point_job *jobs = calloc(n, sizeof(*jobs));
	_cleanup_(freep) pthread_t *threads = calloc(n, sizeof(*threads));
	size_t started = 0;
	int r = 0;

	if (!jobs || !threads)
		return err_set(err, -ENOMEM, "out of memory");
	for (; started < n; started++) {
		jobs[started].cr = &crs[started];
		if (pthread_create(&threads[started], NULL, point_run, &jobs[started]) != 0)
			break;
	}
	for (size_t i = started; i < n; i++) /* no thread: in this one */
		point_run(&jobs[i]);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].r < 0 && r == 0)
			r = err_set(err, jobs[i].r, "%s", jobs[i].err.msg);
	return r;
}

/*
 * Each volume gets its own snapshot first (the base its next incremental diffs from), then
 * one group snapshot of them all is the point every backup of the set is read at. A volume
 * whose copy fails is "failed" alone: the others are good backups of that point.
 */
static int create_set(struct cluster *c, const struct backup_create_params *p, const char *op,
                      struct cairn_progress *progress, struct json_object **ret,
                      struct cairn_err *err)
{
	size_t n = p->n_volumes, started = 0;
	_cleanup_(freep) struct create *crs = calloc(n, sizeof(*crs));
	_cleanup_(freep) const char **pools = calloc(n, sizeof(char *));
	_cleanup_(freep) const char **images = calloc(n, sizeof(char *));
	struct set_progress sp = {
	        .p = {.report = set_progress_report, .cancel_requested = set_progress_cancel},
	        .up = progress,
	};
	char set[UUID_STR_LEN], group[NAME_MAX_LEN + 1] = "", gsnap[128];
	int r = 0, first = 0;

	if (!crs || !pools || !images)
		return err_set(err, -ENOMEM, "out of memory");
	uuid_generate_str(set);
	bk_snap_name(gsnap, set);
	for (size_t i = 0; i < n; i++) {
		crs[i] = (struct create){.c = c, .conf = cluster_config(c), .progress = &sp.p};
		crs[i].rec.target = p->has_target ? p->target : crs[i].conf->backup.target;
	}
	for (size_t i = 0; i < n; i++) {
		char g[NAME_MAX_LEN + 1] = "";

		r = create_load(&crs[i], p->volumes[i], err);
		if (r >= 0)
			r = snap_image_group(c, crs[i].vio, crs[i].vol.rbd_image, g, sizeof(g),
			                     err);
		if (r < 0)
			goto out;
		/* one group holds them all: refused before anything is made */
		if (g[0] && group[0] && strcmp(g, group) != 0) {
			r = err_set(
			        err, -EEXIST,
			        "volume '%s' is in group '%s', not in group '%s' with the others: "
			        "a set is backed up through one group",
			        crs[i].vol.name, g, group);
			goto out;
		}
		if (g[0])
			str_copy(group, sizeof(group), g);
		pools[i] = crs[i].vol.pool;
		images[i] = crs[i].vol.rbd_image;
	}
	/* the group the disks are in already, else one named after the first */
	if (!group[0])
		snprintf(group, sizeof(group), "cairn-%.56s", crs[0].vol.id);
	for (; started < n; started++) {
		char vop[sizeof(crs[0].op)];

		str_copy(crs[started].rec.set, sizeof(crs[started].rec.set), set);
		str_copy(crs[started].rec.group, sizeof(crs[started].rec.group), group);
		snprintf(vop, sizeof(vop), "%.36s.%zu", op, started);
		r = create_start(&crs[started], vop, p, err);
		if (r < 0) {
			started++;
			goto fail_all;
		}
	}
	r = create_points(crs, n, err);
	if (r < 0)
		goto fail_all;
	r = snap_group_create(c, group, gsnap, pools, images, n, err);
	if (r < 0)
		goto fail_all;
	failpoint("backup.group");

	for (size_t i = 0; i < n; i++) {
		struct cairn_err lerr = {0};

		if (create_prepare(&crs[i], &lerr) < 0) {
			first = err_set(err, lerr.code, "%s", lerr.msg);
			create_fail(&crs[i], lerr.msg);
			continue;
		}
		sp.total += crs[i].plan.read_bytes;
	}
	for (size_t i = 0; i < n; i++) {
		struct cairn_err lerr = {0};

		uint64_t bytes = crs[i].plan.read_bytes;

		if (!crs[i].src.img)
			continue; /* its prepare failed */
		if (create_copy(&crs[i], &lerr) < 0) {
			first = err_set(err, lerr.code, "%s", lerr.msg);
			create_fail(&crs[i], lerr.msg);
		} else {
			create_done(&crs[i]);
		}
		sp.base += bytes;
		create_data_release(&crs[i]);
	}
	if (first < 0) {
		r = first;
		goto out;
	}
	*ret = set_result(crs, n);
	r = *ret ? 0 : err_set(err, -ENOMEM, "out of memory");
	goto out;

fail_all:
	for (size_t i = 0; i < started; i++)
		create_fail(&crs[i], err->msg);
out:
	for (size_t i = 0; i < n; i++)
		create_release(&crs[i]);
	return r;
}

/* ---- the entry ---------------------------------------------------------------------------- */

int backup_create(struct cluster *c, const struct backup_create_params *p,
                  struct cairn_progress *progress, struct json_object **ret_backup,
                  struct cairn_err *err)
{
	struct create cr = {.c = c, .progress = progress};
	const struct cairn_config *conf;
	enum backup_target target;
	char op[UUID_STR_LEN + 28];
	int r;

	if (!p || !p->volume == !p->n_volumes)
		return err_set(err, -EINVAL, "one volume, or a list of volumes, is required");
	if (p->n_volumes > BACKUP_SET_MAX || (p->n_volumes && !p->volumes))
		return err_set(err, -EINVAL, "a backup set names 1 to %d volumes", BACKUP_SET_MAX);
	for (size_t i = 0; i < p->n_volumes; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->volumes[i], p->volumes[j]) == 0)
				return err_set(err, -EINVAL,
				               "volume '%s' is named twice in the set",
				               p->volumes[i]);
	conf = cluster_config(c);
	if (p->label && strlen(p->label) >= BACKUP_LABEL_MAX)
		return err_set(err, -EINVAL, "label is too long (at most %d bytes)",
		               BACKUP_LABEL_MAX - 1);
	target = p->has_target ? p->target : conf->backup.target;
	if ((unsigned)target >= BACKUP_TARGET_MAX)
		return err_set(err, -EINVAL, "unknown backup target %d", (int)target);
	if (target == BACKUP_TARGET_FILE) {
		r = bk_mkdir_p(conf->backup.directory, 0750);
		if (r < 0)
			return err_set(err, r, "cannot make the backup directory '%s': %s",
			               conf->backup.directory, strerror(-r));
	}
	if (p->op_id && *p->op_id)
		str_copy(op, sizeof(op), p->op_id);
	else
		uuid_generate_str(op);
	if (p->n_volumes)
		return create_set(c, p, op, progress, ret_backup, err);

	cr.conf = conf;
	cr.rec.target = target;
	r = create_load(&cr, p->volume, err);
	if (r >= 0)
		r = create_start(&cr, op, p, err);
	if (r >= 0)
		r = create_point(&cr, err);
	if (r >= 0)
		r = create_prepare(&cr, err);
	if (r >= 0)
		r = create_copy(&cr, err);
	if (r < 0) {
		create_fail(&cr, err->msg);
	} else {
		create_done(&cr);
		*ret_backup = backup_record_to_json(&cr.rec);
		if (!*ret_backup)
			r = err_set(err, -ENOMEM, "out of memory");
	}
	create_release(&cr);
	return r;
}
