/* SPDX-License-Identifier: MIT */
/* volumes: images — import with qemu-img, list, show (delete is in delete.c). */
#define LOG_MODULE "images"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/sha256.h"
#include "volumes/vol-internal.h"

static bool import_undo(struct cluster *c, const struct vol_record *r, bool inserted)
{
	struct cairn_err lerr = {0};

	if (vol_rbd_remove(c, r->pool, r->rbd_image, NULL, &lerr) < 0) {
		log_warn("cannot undo the import of '%s': %s", r->name, lerr.msg);
		return false;
	}
	if (inserted && dir_remove(c, DIR_IMAGES, r->name, r->id, &lerr) < 0) {
		log_warn("cannot undo the import of '%s': %s", r->name, lerr.msg);
		return false;
	}
	return true;
}

static int base_snapshot(struct cluster *c, const struct vol_record *r, struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	int ret;

	ret = vol_open(c, r->pool, r->rbd_image, NULL, &img, err);
	if (ret < 0)
		return ret;
	ret = rbd_snap_create2(img, IMG_BASE_SNAP, RBD_SNAP_CREATE_SKIP_QUIESCE, NULL, NULL);
	if (ret < 0)
		return err_set(err, vol_rbd_code(ret), "cannot snapshot image '%s': %s", r->name,
		               vol_rbd_why(ret));
	return 0;
}

/*
 * The checksum of the source file, as Glance keeps one: the SHA-256 of its bytes. A thread
 * reads the file while qemu-img converts it, so the two share the page cache and the import
 * takes about the time of the slower of them, not their sum.
 */
struct import_hash {
	pthread_t thread;
	bool running;
	int fd;
	atomic_bool stop;
	int r;
	uint8_t sha[SHA256_LEN];
};

static void *import_hash_run(void *userdata)
{
	struct import_hash *h = userdata;

	h->r = sha256_fd_stoppable(h->fd, &h->stop, h->sha);
	return NULL;
}

static void import_hash_start(struct import_hash *h, int fd)
{
	h->fd = fd;
	h->r = -EAGAIN;
	atomic_init(&h->stop, false);
	/* without a thread the file is read after the conversion instead */
	h->running = pthread_create(&h->thread, NULL, import_hash_run, h) == 0;
}

/* Stop (when cancel) or wait for the hash; its result is then in h->r. */
static void import_hash_join(struct import_hash *h, bool cancel)
{
	if (!h->running)
		return;
	if (cancel)
		atomic_store(&h->stop, true);
	pthread_join(h->thread, NULL);
	h->running = false;
}

/* The "sha256:<hex>" of the file, once the conversion succeeded. */
static int import_hash_finish(struct import_hash *h, const char *file, char *ret, size_t n,
                              struct cairn_err *err)
{
	char hex[SHA256_HEX];

	if (h->r == -EAGAIN) /* no thread: read it now */
		h->r = sha256_fd(h->fd, h->sha);
	if (h->r < 0)
		return err_set(err, h->r, "cannot read import file '%s' for its checksum: %s", file,
		               strerror(-h->r));
	sha256_hex(h->sha, hex);
	snprintf(ret, n, "sha256:%s", hex);
	return 0;
}

/*
 * What the import writes, at most the file's allocated bytes (or the virtual size, when
 * less), must fit in the images pool ("ceph df" and the pool's quota): refused before any
 * image is made rather than by a full pool half way through. (A compressed qcow2 can hold
 * more than its file: that one still fails at the write that finds the pool full.)
 */
static int import_fits(struct cluster *c, int fd, uint64_t virtual_size, const char *name,
                       struct cairn_err *err)
{
	char a[SIZE_STR_MAX], b[SIZE_STR_MAX];
	uint64_t need, free_bytes;
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return err_set(err, -errno, "cannot read the file of image '%s': %m", name);
	need = (uint64_t)st.st_blocks * 512;
	if (need > virtual_size)
		need = virtual_size;
	r = pool_free_bytes(c, POOL_ROLE_IMAGES, &free_bytes, err);
	if (r < 0)
		return r;
	if (need > free_bytes)
		return err_set(err, -ENOSPC,
		               "image '%s' needs up to %s, but pool '%s' takes %s more", name,
		               size_format(need, a),
		               conf_pool_name(cluster_config(c), POOL_ROLE_IMAGES),
		               size_format(free_bytes, b));
	return 0;
}

int img_import(struct cluster *c, const struct img_import_params *p,
               struct cairn_progress *progress, struct json_object **ret_image,
               struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(json_putp) struct json_object *targets = NULL;
	_cleanup_(freep) char *text = NULL, *target = NULL, *path = NULL;
	_cleanup_(closep) int fd = -1;
	struct qemu_info info;
	char op[VOL_OP_ID_MAX];
	bool inserted = false;
	int ret;

	if (name_validate(p->name, "image", err) < 0)
		return err->code;
	if (str_has_prefix(p->name, "hidden-"))
		return err_set(err, -EINVAL, "image names starting with 'hidden-' are cairn's");
	if (p->format && strcmp(p->format, "qcow2") != 0 && strcmp(p->format, "raw") != 0 &&
	    strcmp(p->format, "vmdk") != 0)
		return err_set(err, -EINVAL, "unknown image format '%s' (qcow2, raw, vmdk)",
		               p->format);
	/* the source is checked (and held open) before anything is reserved */
	fd = vol_import_open(conf->import.directory, p->file, &path, err);
	if (fd < 0)
		return fd;

	vol_record_init(&r, true);
	str_copy(r.name, sizeof(r.name), p->name);
	str_copy(r.pool, sizeof(r.pool), conf->pools.images);
	uuid_generate_str(r.id);
	vol_rbd_name(true, r.id, r.rbd_image);
	r.status = VOL_STATUS_IMPORTING;
	r.labels = json_object_new_object();
	r.qos = json_object_new_object();
	if (p->op_id && *p->op_id)
		str_copy(op, sizeof(op), p->op_id);
	else
		uuid_generate_str(op);
	str_copy(r.op, sizeof(r.op), op);
	vol_time_now(r.created);
	str_copy(r.updated, sizeof(r.updated), r.created);
	text = vol_record_format(&r);
	targets = json_object_new_object();
	if (!r.labels || !r.qos || !text || !targets || json_add_string(targets, "id", r.id) < 0 ||
	    json_add_string(targets, "name", r.name) < 0 ||
	    json_add_string(targets, "pool", r.pool) < 0 ||
	    json_add_string(targets, "rbd_image", r.rbd_image) < 0)
		return err_set(err, -ENOMEM, "out of memory");

	ret = intent_begin(c, op, "image.import", targets, err);
	if (ret < 0)
		return ret;
	failpoint("image.import.intent");
	ret = dir_insert(c, DIR_IMAGES, r.name, r.id, text, err);
	if (ret < 0)
		goto undo;
	inserted = true;
	failpoint("image.import.reserved");

	ret = qemu_img_info(conf, fd, p->format, &info, err);
	if (ret < 0)
		goto undo;
	str_copy(r.format, sizeof(r.format), info.format);
	/* RBD sizes in whole sectors; qemu reads past the end of a raw file as zeros */
	r.size = (info.virtual_size + 511) & ~(uint64_t)511;
	ret = import_fits(c, fd, info.virtual_size, r.name, err);
	if (ret < 0)
		goto undo;

	ret = intent_step(c, op, "creating", err);
	if (ret < 0)
		goto undo;
	ret = vol_rbd_create(c, r.pool, r.rbd_image, r.size, err);
	if (ret < 0)
		goto undo;
	ret = vol_rbd_mark(c, r.pool, r.rbd_image, r.id, err);
	if (ret < 0)
		goto undo;
	failpoint("image.import.created");

	ret = intent_step(c, op, "converting", err);
	if (ret < 0)
		goto undo;
	target = qemu_rbd_target(conf, r.pool, r.rbd_image);
	if (!target) {
		ret = err_set(err, -ENOMEM, "out of memory");
		goto undo;
	}
	{
		struct intent_keeper keeper;
		struct import_hash hash;

		intent_keeper_start(&keeper, c, op, "converting");
		import_hash_start(&hash, fd);
		ret = qemu_img_convert(conf, fd, info.format, target, r.size, progress, err);
		import_hash_join(&hash, ret < 0);
		if (ret >= 0)
			ret = import_hash_finish(&hash, p->file, r.checksum, sizeof(r.checksum),
			                         err);
		intent_keeper_stop(&keeper);
	}
	if (ret < 0)
		goto undo;
	failpoint("image.import.converted");

	ret = base_snapshot(c, &r, err);
	if (ret < 0)
		goto undo;
	failpoint("image.import.snapshotted");

	r.status = VOL_STATUS_AVAILABLE;
	ret = vol_record_store(c, &r, &text, err);
	if (ret < 0)
		goto undo;
	failpoint("image.import.recorded");
	{
		struct cairn_err lerr = {0};
		if (intent_end(c, op, &lerr) < 0)
			log_warn("intent %s stays: %s", op, lerr.msg);
	}
	log_debug("image '%s' imported from '%s' (%s) as %s/%s", r.name, path, r.format, r.pool,
	          r.rbd_image);
	if (ret_image) {
		struct json_object *o = img_record_to_json(&r, 0);
		if (!o)
			return err_set(err, -ENOMEM, "out of memory");
		*ret_image = o;
	}
	return 0;

undo:
	if (import_undo(c, &r, inserted)) {
		struct cairn_err lerr = {0};
		intent_end(c, op, &lerr);
	} else {
		cluster_intent_orphan(c, op); /* the next pass undoes the rest */
	}
	return ret;
}

/* ---- list and show ----------------------------------------------------------------------------- */

struct img_list_ctx {
	bool include_hidden;
	struct json_object *array;
	struct json_object *clones; /* image id -> count, from the volume directory */
};

static int count_clone(const char *id, const char *record, void *userdata)
{
	struct img_list_ctx *ctx = userdata;
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	struct cairn_err lerr = {0};
	struct json_object *v;

	if (vol_record_parse(record, false, &r, &lerr) < 0)
		return 0;
	if (r.parent.kind != VOL_PARENT_IMAGE || r.flattened || !r.parent.id[0])
		return 0;
	if (json_object_object_get_ex(ctx->clones, r.parent.id, &v))
		return json_object_set_int64(v, json_object_get_int64(v) + 1) ? 0 : -ENOMEM;
	return json_add_int(ctx->clones, r.parent.id, 1);
}

static int img_list_one(const char *id, const char *record, void *userdata)
{
	struct img_list_ctx *ctx = userdata;
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	struct cairn_err lerr = {0};
	struct json_object *o, *v;
	int64_t clones = 0;

	if (vol_record_parse(record, true, &r, &lerr) < 0) {
		log_debug("image record %s skipped: %s", id, lerr.msg);
		return 0;
	}
	if (r.status == VOL_STATUS_HIDDEN && !ctx->include_hidden)
		return 0;
	if (json_object_object_get_ex(ctx->clones, r.id, &v))
		clones = json_object_get_int64(v);
	o = img_record_to_json(&r, clones);
	if (!o)
		return -ENOMEM;
	if (json_object_array_add(ctx->array, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

int img_list(struct cluster *c, bool include_hidden, struct json_object **ret_array,
             struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *array = json_object_new_array();
	_cleanup_(json_putp) struct json_object *clones = json_object_new_object();
	struct img_list_ctx ctx = {include_hidden, array, clones};
	int r;

	if (!array || !clones)
		return err_set(err, -ENOMEM, "out of memory");
	/* clones counted from the directory: no image is opened */
	r = dir_list(c, DIR_VOLUMES, count_clone, &ctx, err);
	if (r < 0)
		return r;
	r = dir_list(c, DIR_IMAGES, img_list_one, &ctx, err);
	if (r < 0)
		return r;
	json_object_array_sort(array, json_cmp_by_name);
	*ret_array = TAKE_PTR(array);
	return 0;
}

int img_show(struct cluster *c, const char *name, struct json_object **ret_image,
             struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(ro_image_close) struct ro_image roi = {0};
	rbd_linked_image_spec_t *kids = NULL;
	struct cairn_err lerr = {0};
	struct json_object *o;
	size_t n = 0;
	int64_t clones = -1;
	int ret;

	ret = vol_record_load(c, true, name, &r, NULL, err);
	if (ret < 0)
		return ret;
	ret = vol_open_ro(c, r.pool, r.rbd_image, NULL, &roi, &lerr);
	if (ret < 0 && ret != -ENOENT)
		return err_set(err, ret, "%s", lerr.msg);
	if (ret >= 0) {
		ret = image_clones(roi.img, &kids, &n, err);
		if (ret < 0)
			return ret;
		clones = 0;
		for (size_t i = 0; i < n; i++)
			if (!kids[i].trash)
				clones++;
		image_clones_free(kids, n);
	}
	o = img_record_to_json(&r, clones);
	if (!o)
		return err_set(err, -ENOMEM, "out of memory");
	*ret_image = o;
	return 0;
}
