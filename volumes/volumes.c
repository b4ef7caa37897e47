/* SPDX-License-Identifier: MIT */
/* volumes: create (blank or clone), list, show, extend, flatten, revert, rename, update, manage. */
#define LOG_MODULE "volumes"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "volumes/vol-internal.h"

/* ---- create ----------------------------------------------------------------------------------- */

/* What a clone is made from, found before anything is reserved. */
struct clone_source {
	struct vol_parent parent;
	uint64_t size;  /* of the parent snapshot (or of the volume now) */
	unsigned depth; /* ancestors of the parent image */
};

static int require_available(const struct vol_record *r, struct cairn_err *err)
{
	if (r->status == VOL_STATUS_AVAILABLE)
		return 0;
	if (r->status == VOL_STATUS_HIDDEN)
		return err_set(err, -ENOENT, "%s '%s' not found", vol_what(r->is_image), r->name);
	return err_set(err, -EBUSY, "%s '%s' is %s", vol_what(r->is_image), r->name,
	               vol_status_to_string(r->status));
}

/*
 * The size of the parent snapshot and the depth of its image. The image is opened at its
 * head, never at the snapshot: a read-only open at a snapshot closed just before a clone
 * from it makes pacific's librbd crash now and then (a use after free in its io_context
 * threads, seen under MALLOC_PERTURB_). The depth is that of the image's current chain.
 */
static int source_measure(struct cluster *c, struct clone_source *s, const char *snap,
                          const char *what, struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image roi = {0};
	struct cairn_err lerr = {0};
	int r;

	r = vol_open_ro(c, s->parent.pool, s->parent.rbd_image, NULL, &roi, &lerr);
	if (r == -ENOENT)
		return err_set(err, r, "%s not found", what);
	if (r < 0)
		return err_set(err, r, "%s", lerr.msg);
	if (snap) {
		struct vol_snap *snaps = NULL;
		size_t n = 0;
		bool found = false;

		r = vol_rbd_snaps(roi.img, &snaps, &n, err);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			if (snaps[i].ns == RBD_SNAP_NAMESPACE_TYPE_USER &&
			    strcmp(snaps[i].name, snap) == 0) {
				s->size = snaps[i].size;
				found = true;
			}
		vol_rbd_snaps_free(snaps, n);
		if (!found)
			return err_set(err, -ENOENT, "%s not found", what);
	} else {
		r = rbd_get_size(roi.img, &s->size);
		if (r < 0)
			return err_set(err, r, "cannot read the size of %s: %s", what,
			               strerror(-r));
	}
	return vol_rbd_depth(c, roi.img, &s->depth, err);
}

static int source_resolve(struct cluster *c, const struct vol_create_params *p,
                          struct clone_source *s, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record rec = {0};
	char what[2 * NAME_MAX_LEN + 32];
	int r;

	memset(s, 0, sizeof(*s));
	if (p->image) {
		r = vol_record_load(c, true, p->image, &rec, NULL, err);
		if (r < 0)
			return r;
		r = require_available(&rec, err);
		if (r < 0)
			return r;
		s->parent.kind = VOL_PARENT_IMAGE;
		str_copy(s->parent.name, sizeof(s->parent.name), rec.name);
		str_copy(s->parent.rbd_snap, sizeof(s->parent.rbd_snap), IMG_BASE_SNAP);
		snprintf(what, sizeof(what), "image '%s'", rec.name);
	} else if (p->snapshot) {
		char vol[NAME_MAX_LEN + 1];
		const char *at = strchr(p->snapshot, '@');

		if (!at || at == p->snapshot || (size_t)(at - p->snapshot) > NAME_MAX_LEN)
			return err_set(err, -EINVAL,
			               "snapshot '%s' must be given as 'volume@snapshot'",
			               p->snapshot);
		memcpy(vol, p->snapshot, (size_t)(at - p->snapshot));
		vol[at - p->snapshot] = '\0';
		if (name_validate(at + 1, "snapshot", err) < 0)
			return err->code;
		if (str_has_prefix(at + 1, VOL_HIDDEN_SNAP_PREFIX))
			return err_set(err, -ENOENT, "snapshot '%s' not found", p->snapshot);
		r = vol_record_load(c, false, vol, &rec, NULL, err);
		if (r < 0)
			return r;
		r = require_available(&rec, err);
		if (r < 0)
			return r;
		s->parent.kind = VOL_PARENT_SNAPSHOT;
		str_copy(s->parent.name, sizeof(s->parent.name), rec.name);
		str_copy(s->parent.snapshot, sizeof(s->parent.snapshot), at + 1);
		str_copy(s->parent.rbd_snap, sizeof(s->parent.rbd_snap), at + 1);
		snprintf(what, sizeof(what), "snapshot '%s'", p->snapshot);
	} else if (p->backup) {
		/* no record of ours: the backup's, which backup/ checked */
		s->parent = *p->backup;
		s->parent.kind = VOL_PARENT_BACKUP;
		snprintf(what, sizeof(what), "the snapshot of backup '%s'", p->backup->id);
		return source_measure(c, s, s->parent.rbd_snap, what, err);
	} else {
		r = vol_record_load(c, false, p->volume, &rec, NULL, err);
		if (r < 0)
			return r;
		r = require_available(&rec, err);
		if (r < 0)
			return r;
		s->parent.kind = VOL_PARENT_VOLUME;
		str_copy(s->parent.name, sizeof(s->parent.name), rec.name);
		snprintf(what, sizeof(what), "volume '%s'", rec.name);
	}
	str_copy(s->parent.id, sizeof(s->parent.id), rec.id);
	str_copy(s->parent.pool, sizeof(s->parent.pool), rec.pool);
	str_copy(s->parent.rbd_image, sizeof(s->parent.rbd_image), rec.rbd_image);
	if (s->parent.kind == VOL_PARENT_IMAGE && rec.size) {
		/*
		 * An image is read-only and imported whole: its base snapshot has the size of
		 * its record and no parent. Opening it to read both cost as much as the clone.
		 */
		s->size = rec.size;
		s->depth = 0;
		return 0;
	}
	return source_measure(c, s, s->parent.kind == VOL_PARENT_VOLUME ? NULL : s->parent.rbd_snap,
	                      what, err);
}

static int create_validate(struct cluster *c, const struct vol_create_params *p,
                           const char **ret_pool, struct cairn_err *err)
{
	int sources = !!p->image + !!p->snapshot + !!p->volume + !!p->backup;

	if (name_validate(p->name, "volume", err) < 0)
		return err->code;
	if (str_has_prefix(p->name, "hidden-"))
		return err_set(err, -EINVAL, "volume names starting with 'hidden-' are cairn's");
	if (sources > 1)
		return err_set(err, -EINVAL,
		               "a volume is made from at most one of 'image', "
		               "'snapshot', 'volume' and a backup");
	if (p->image && name_validate(p->image, "image", err) < 0)
		return err->code;
	if (p->volume && name_validate(p->volume, "volume", err) < 0)
		return err->code;
	if (sources == 0 && p->size == 0)
		return err_set(err, -EINVAL, "size of volume '%s' is required", p->name);
	if ((sources == 0 || p->size) && size_validate(p->size, 0, "size", err) < 0)
		return err->code;
	if (p->labels && vol_labels_validate(p->labels, err) < 0)
		return err->code;
	if (p->qos && vol_qos_validate(p->qos, err) < 0)
		return err->code;
	return vol_pool_resolve(c, p->pool, ret_pool, err);
}

static struct json_object *create_targets(const struct vol_record *r)
{
	struct json_object *t = json_object_new_object();

	if (!t)
		return NULL;
	if (json_add_string(t, "id", r->id) < 0 || json_add_string(t, "name", r->name) < 0 ||
	    json_add_string(t, "pool", r->pool) < 0 ||
	    json_add_string(t, "rbd_image", r->rbd_image) < 0) {
		json_object_put(t);
		return NULL;
	}
	if (r->parent.kind == VOL_PARENT_VOLUME &&
	    (json_add_string(t, "parent_pool", r->parent.pool) < 0 ||
	     json_add_string(t, "parent_image", r->parent.rbd_image) < 0 ||
	     json_add_string(t, "parent_snap", r->parent.rbd_snap) < 0)) {
		json_object_put(t);
		return NULL;
	}
	return t;
}

/* Everything a create made, removed in reverse; false when something could not be. */
static bool create_undo(struct cluster *c, const struct vol_record *r, bool inserted,
                        bool parent_snap)
{
	struct cairn_err lerr = {0};
	bool ok = true;

	if (vol_rbd_remove(c, r->pool, r->rbd_image, NULL, &lerr) < 0) {
		log_warn("cannot undo the creation of '%s': %s", r->name, lerr.msg);
		ok = false;
	}
	err_clear(&lerr);
	if (parent_snap && vol_rbd_snap_remove(c, r->parent.pool, r->parent.rbd_image,
	                                       r->parent.rbd_snap, &lerr) < 0) {
		log_warn("cannot undo the creation of '%s': %s", r->name, lerr.msg);
		ok = false;
	}
	err_clear(&lerr);
	if (ok && inserted && dir_remove(c, DIR_VOLUMES, r->name, r->id, &lerr) < 0) {
		log_warn("cannot undo the creation of '%s': %s", r->name, lerr.msg);
		ok = false;
	}
	return ok;
}

static int snap_create(struct cluster *c, const char *pool, const char *image, const char *snap,
                       struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	int r;

	r = vol_open(c, pool, image, NULL, &img, err);
	if (r < 0)
		return r;
	r = rbd_snap_create2(img, snap, RBD_SNAP_CREATE_SKIP_QUIESCE, NULL, NULL);
	if (r < 0)
		return err_set(err, vol_rbd_code(r), "cannot snapshot '%s/%s@%s': %s", pool, image,
		               snap, vol_rbd_why(r));
	return 0;
}

/* After the image exists: mark, resize, flatten, QoS. */
static int create_configure(struct cluster *c, struct vol_record *r, uint64_t parent_size,
                            bool flatten, const struct vol_create_params *p, struct cairn_err *err)
{
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	int ret;

	if (!flatten && !p->qos && !(r->parent.kind != VOL_PARENT_NONE && r->size > parent_size)) {
		/* the mark is all there is to do: no need to open the image for it */
		ret = vol_rbd_mark_new(c, r->pool, r->rbd_image, r->id, err);
		if (ret < 0)
			return ret;
		failpoint("volume.create.marked");
		failpoint("volume.create.configured");
		return 0;
	}
	ret = vol_open(c, r->pool, r->rbd_image, NULL, &img, err);
	if (ret < 0)
		return ret;
	ret = rbd_metadata_set(img, VOL_MARK_KEY, r->id);
	if (ret < 0)
		return err_set(err, ret, "cannot set metadata of volume '%s': %s", r->name,
		               strerror(-ret));
	failpoint("volume.create.marked");
	if (r->parent.kind != VOL_PARENT_NONE && r->size > parent_size) {
		ret = rbd_resize2(img, r->size, false, NULL, NULL);
		if (ret < 0)
			return err_set(err, ret, "cannot resize volume '%s': %s", r->name,
			               strerror(-ret));
		failpoint("volume.create.resized");
	}
	if (flatten) {
		struct intent_keeper keeper;

		intent_keeper_start(&keeper, c, r->op, "flattening");
		ret = rbd_flatten_with_progress(img, vol_rbd_progress_cb, p->progress);
		intent_keeper_stop(&keeper);
		if (ret < 0)
			return err_set(err, ret, "cannot flatten volume '%s': %s", r->name,
			               strerror(-ret));
		r->flattened = true;
		failpoint("volume.create.flattened");
	}
	if (p->qos) {
		ret = vol_rbd_set_qos(img, p->qos, r->name, err);
		if (ret < 0)
			return ret;
	}
	failpoint("volume.create.configured");
	return 0;
}

int vol_create(struct cluster *c, const struct vol_create_params *p,
               struct json_object **ret_volume, struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(json_putp) struct json_object *targets = NULL;
	_cleanup_(freep) char *text = NULL;
	struct clone_source src = {0};
	struct json_object *out;
	char op[VOL_OP_ID_MAX];
	bool inserted = false, parent_snap = false, flatten = false;
	const char *pool;
	int ret;

	ret = create_validate(c, p, &pool, err);
	if (ret < 0)
		return ret;
	vol_record_init(&r, false);
	str_copy(r.name, sizeof(r.name), p->name);
	str_copy(r.pool, sizeof(r.pool), pool);
	uuid_generate_str(r.id);
	vol_rbd_name(false, r.id, r.rbd_image);
	r.size = p->size;

	if (p->image || p->snapshot || p->volume || p->backup) {
		char a[SIZE_STR_MAX], b[SIZE_STR_MAX];

		ret = source_resolve(c, p, &src, err);
		if (ret < 0)
			return ret;
		r.parent = src.parent;
		if (r.parent.kind == VOL_PARENT_VOLUME)
			snprintf(r.parent.rbd_snap, sizeof(r.parent.rbd_snap), "%s%s",
			         VOL_CLONE_SNAP_PREFIX, r.id);
		if (r.size == 0)
			r.size = src.size;
		if (r.size < src.size)
			return err_set(err, -EINVAL,
			               "volume '%s' cannot be smaller than its parent: %s < %s",
			               p->name, size_format(r.size, a), size_format(src.size, b));
		/* never a chain without limit: a clone too deep is made independent */
		flatten = src.depth + 1 > conf->volumes.max_clone_depth;
		if (flatten && p->quick) {
			char id[128];

			/* a name taken is answered now, not by a failed operation */
			ret = dir_lookup(c, DIR_VOLUMES, p->name, id, sizeof(id), err);
			if (ret == 0)
				return err_set(err, -EEXIST, "volume '%s' already exists", p->name);
			if (ret != -ENOENT)
				return ret;
			err_clear(err);
			return 1;
		}
	}
	r.labels = p->labels ? json_object_get(p->labels) : json_object_new_object();
	r.qos = p->qos ? json_object_get(p->qos) : json_object_new_object();
	if (!r.labels || !r.qos)
		return err_set(err, -ENOMEM, "out of memory");
	if (p->op_id && *p->op_id)
		str_copy(op, sizeof(op), p->op_id);
	else
		uuid_generate_str(op);
	str_copy(r.op, sizeof(r.op), op);
	vol_time_now(r.created);
	str_copy(r.updated, sizeof(r.updated), r.created);

	targets = create_targets(&r);
	text = vol_record_format(&r);
	if (!targets || !text)
		return err_set(err, -ENOMEM, "out of memory");
	ret = intent_begin(c, op, "volume.create", targets, err);
	if (ret < 0)
		return ret;
	failpoint("volume.create.intent");

	/* the name first: of racing creates exactly one gets here */
	ret = dir_insert(c, DIR_VOLUMES, r.name, r.id, text, err);
	if (ret < 0)
		goto undo;
	inserted = true;
	failpoint("volume.create.reserved");

	if (r.parent.kind == VOL_PARENT_VOLUME) {
		ret = intent_step(c, op, "snapshotting", err);
		if (ret < 0)
			goto undo;
		parent_snap = true;
		ret = snap_create(c, r.parent.pool, r.parent.rbd_image, r.parent.rbd_snap, err);
		if (ret < 0)
			goto undo;
		failpoint("volume.create.snapshotted");
	}

	ret = intent_step(c, op, "creating", err);
	if (ret < 0)
		goto undo;
	if (r.parent.kind == VOL_PARENT_NONE) {
		ret = vol_rbd_create(c, r.pool, r.rbd_image, r.size, err);
		if (ret < 0)
			goto undo;
		failpoint("volume.create.created");
	} else {
		ret = vol_rbd_clone(c, r.parent.pool, r.parent.rbd_image, r.parent.rbd_snap, r.pool,
		                    r.rbd_image, err);
		if (ret < 0)
			goto undo;
		failpoint("volume.create.cloned");
	}
	ret = create_configure(c, &r, src.size, flatten, p, err);
	if (ret < 0)
		goto undo;
	if (flatten && r.parent.kind == VOL_PARENT_VOLUME) {
		struct cairn_err lerr = {0};
		/* the new volume no longer needs the hidden snapshot of its parent */
		if (vol_rbd_snap_remove(c, r.parent.pool, r.parent.rbd_image, r.parent.rbd_snap,
		                        &lerr) < 0)
			log_warn("hidden snapshot stays: %s", lerr.msg);
	}

	r.status = VOL_STATUS_AVAILABLE;
	ret = vol_record_store(c, &r, &text, err);
	if (ret < 0)
		goto undo;
	failpoint("volume.create.recorded");
	{
		struct cairn_err lerr = {0};
		/* done either way: an intent left here is rolled forward by the reconciler */
		if (intent_end(c, op, &lerr) < 0)
			log_warn("intent %s stays: %s", op, lerr.msg);
	}
	log_debug("volume '%s' created as %s/%s", r.name, r.pool, r.rbd_image);
	if (ret_volume) {
		out = vol_record_to_json(&r);
		if (!out)
			return err_set(err, -ENOMEM, "out of memory");
		*ret_volume = out;
	}
	return 0;

undo:
	if (create_undo(c, &r, inserted, parent_snap)) {
		struct cairn_err lerr = {0};
		intent_end(c, op, &lerr);
	} else {
		cluster_intent_orphan(c, op); /* the next pass undoes the rest */
	}
	return ret;
}

/* ---- list ------------------------------------------------------------------------------------- */

struct list_ctx {
	struct cluster *c;
	const struct vol_filter *f;
	const char *pool;
	struct json_object *array;
};

static bool label_matches(struct json_object *labels, const char *want)
{
	const char *eq = strchr(want, '=');
	char key[NAME_MAX_LEN + 1];
	struct json_object *v;

	if (!eq)
		return json_object_object_get_ex(labels, want, NULL);
	if ((size_t)(eq - want) > NAME_MAX_LEN)
		return false;
	memcpy(key, want, (size_t)(eq - want));
	key[eq - want] = '\0';
	return json_object_object_get_ex(labels, key, &v) &&
	       json_object_is_type(v, json_type_string) &&
	       strcmp(json_object_get_string(v), eq + 1) == 0;
}

static bool parent_matches(const struct vol_parent *p, const char *want)
{
	char full[2 * NAME_MAX_LEN + 2];

	if (p->kind == VOL_PARENT_NONE)
		return false;
	if (strcmp(p->name, want) == 0)
		return true;
	snprintf(full, sizeof(full), "%s@%s", p->name, p->snapshot);
	return p->snapshot[0] && strcmp(full, want) == 0;
}

/* Does the list with filter f (NULL: none) in pool (NULL: all) show volume r? */
static bool list_wants(const struct vol_filter *f, const char *pool, const struct vol_record *r)
{
	if (r->status == VOL_STATUS_HIDDEN && !(f && f->include_hidden))
		return false;
	if (pool && strcmp(r->pool, pool) != 0)
		return false;
	if (f && f->label && !label_matches(r->labels, f->label))
		return false;
	return !(f && f->parent && !parent_matches(&r->parent, f->parent));
}

static int list_one(const char *id, const char *record, void *userdata)
{
	struct list_ctx *ctx = userdata;
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	struct cairn_err lerr = {0};
	struct json_object *o;

	if (vol_record_parse(record, false, &r, &lerr) < 0) {
		log_debug("volume record %s skipped: %s", id, lerr.msg);
		return 0;
	}
	if (!list_wants(ctx->f, ctx->pool, &r))
		return 0;
	o = vol_record_to_json(&r);
	if (!o)
		return -ENOMEM;
	if (json_object_array_add(ctx->array, o) < 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

int vol_list(struct cluster *c, const struct vol_filter *filter, struct json_object **ret_array,
             struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *array = json_object_new_array();
	struct list_ctx ctx = {c, filter, NULL, array};
	int r;

	if (!array)
		return err_set(err, -ENOMEM, "out of memory");
	if (filter && filter->pool && *filter->pool) {
		const struct cairn_config *conf = cluster_config(c);
		ctx.pool = filter->pool;
		if (strcmp(filter->pool, "volumes") == 0)
			ctx.pool = conf->pools.volumes;
		else if (strcmp(filter->pool, "vms") == 0)
			ctx.pool = conf->pools.vms;
	}
	r = dir_list(c, DIR_VOLUMES, list_one, &ctx, err);
	if (r < 0)
		return r;
	json_object_array_sort(array, json_cmp_by_name);
	*ret_array = TAKE_PTR(array);
	return 0;
}

/* ---- list, spliced ------------------------------------------------------------------------ */

struct vol_list_item {
	size_t off, len;           /* the API text in text */
	size_t name_off, name_len; /* the name in names */
};

void vol_list_builder_init(struct vol_list_builder *b, const struct vol_filter *f, const char *pool)
{
	*b = (struct vol_list_builder){.f = f, .pool = pool};
}

void vol_list_builder_release(struct vol_list_builder *b)
{
	vol_buf_release(&b->text);
	vol_buf_release(&b->names);
	vol_buf_release(&b->items);
	b->n = 0;
}

static int item_push(struct vol_list_builder *b, size_t off, const char *name, size_t name_len)
{
	struct vol_list_item *it;

	if (vol_buf_reserve(&b->items, (b->n + 1) * sizeof(*it)) < 0)
		return -ENOMEM;
	it = (struct vol_list_item *)b->items.p + b->n;
	it->off = off;
	it->len = b->text.len - off;
	it->name_off = b->names.len;
	it->name_len = name_len;
	if (vol_buf_append(&b->names, name, name_len) < 0)
		return -ENOMEM;
	b->n++;
	return 0;
}

/* The filters on a scanned record: true when it is listed. */
static bool splice_matches(const struct vol_list_builder *b, const struct vol_splice *v)
{
	const struct vol_filter *f = b->f;

	if (v->status == VOL_STATUS_HIDDEN && !(f && f->include_hidden))
		return false;
	if (b->pool && (v->pool_len != strlen(b->pool) || memcmp(v->pool, b->pool, v->pool_len)))
		return false;
	if (f && f->label) {
		_cleanup_(json_putp) struct json_object *labels = NULL;
		struct json_tokener *tok;

		if (v->labels) {
			tok = json_tokener_new();
			if (!tok)
				return false;
			labels = json_tokener_parse_ex(tok, v->labels, (int)v->labels_len);
			json_tokener_free(tok);
		} else {
			labels = json_object_new_object();
		}
		if (!labels || !label_matches(labels, f->label))
			return false;
	}
	if (f && f->parent) {
		struct vol_parent p = {.kind = v->parent_kind};

		if (v->parent_name_len > NAME_MAX_LEN || v->parent_snapshot_len > NAME_MAX_LEN)
			return false;
		memcpy(p.name, v->parent_name ? v->parent_name : "", v->parent_name_len);
		memcpy(p.snapshot, v->parent_snapshot ? v->parent_snapshot : "",
		       v->parent_snapshot_len);
		if (!parent_matches(&p, f->parent))
			return false;
	}
	return true;
}

/* The json-c path: what list_one does. */
static int builder_add_parsed(struct vol_list_builder *b, const char *id, const char *record)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(json_putp) struct json_object *o = NULL;
	struct cairn_err lerr = {0};
	const char *text;
	size_t len, off = b->text.len;

	if (vol_record_parse(record, false, &r, &lerr) < 0) {
		log_debug("volume record %s skipped: %s", id, lerr.msg);
		b->skipped++;
		return 0;
	}
	b->parsed++;
	if (!list_wants(b->f, b->pool, &r))
		return 0;
	o = vol_record_to_json(&r);
	if (!o)
		return -ENOMEM;
	text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	if (!text || vol_buf_append(&b->text, text, len) < 0)
		return -ENOMEM;
	return item_push(b, off, r.name, strlen(r.name));
}

int vol_list_builder_add(struct vol_list_builder *b, const char *id, const char *record)
{
	struct vol_splice v;
	size_t off = b->text.len;

	if (!vol_splice_scan(record, strlen(record), &v))
		return builder_add_parsed(b, id, record);
	b->spliced++;
	if (!splice_matches(b, &v))
		return 0;
	if (vol_splice_emit(&v, &b->text) < 0)
		return -ENOMEM;
	return item_push(b, off, v.name, v.name_len);
}

static int item_by_name(const void *x, const void *y, void *arg)
{
	const struct vol_list_item *a = x, *b = y;
	const char *names = arg;
	size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
	int c = memcmp(names + a->name_off, names + b->name_off, n);

	if (c)
		return c;
	return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

int vol_list_builder_finish(struct vol_list_builder *b, char **ret_text, size_t *ret_len)
{
	static const char head[] = "{\"volumes\":[", tail[] = "]}";
	struct vol_list_item *items = (struct vol_list_item *)b->items.p;
	size_t len = strlen(head) + strlen(tail) + (b->n ? b->n - 1 : 0), at;
	char *out;

	for (size_t i = 0; i < b->n; i++)
		len += items[i].len;
	if (b->n > 1)
		qsort_r(items, b->n, sizeof(*items), item_by_name, b->names.p);
	out = vol_text_alloc(len);
	if (!out)
		return -ENOMEM;
	memcpy(out, head, strlen(head));
	at = strlen(head);
	for (size_t i = 0; i < b->n; i++) {
		if (i)
			out[at++] = ',';
		memcpy(out + at, b->text.p + items[i].off, items[i].len);
		at += items[i].len;
	}
	memcpy(out + at, tail, strlen(tail));
	at += strlen(tail);
	out[at] = '\0';
	*ret_text = out;
	*ret_len = at;
	return 0;
}

static int list_text_one(const char *id, const char *record, void *userdata)
{
	return vol_list_builder_add(userdata, id, record);
}

static const char *list_pool(struct cluster *c, const struct vol_filter *filter)
{
	const struct cairn_config *conf = cluster_config(c);

	if (!filter || !filter->pool || !*filter->pool)
		return NULL;
	if (strcmp(filter->pool, "volumes") == 0)
		return conf->pools.volumes;
	if (strcmp(filter->pool, "vms") == 0)
		return conf->pools.vms;
	return filter->pool;
}

int vol_list_text(struct cluster *c, const struct vol_filter *filter, char **ret_text,
                  size_t *ret_len, struct cairn_err *err)
{
	struct vol_list_builder b;
	int r;

	vol_list_builder_init(&b, filter, list_pool(c, filter));
	r = dir_list(c, DIR_VOLUMES, list_text_one, &b, err);
	if (r >= 0 && vol_list_builder_finish(&b, ret_text, ret_len) < 0)
		r = err_set(err, -ENOMEM, "out of memory");
	vol_list_builder_release(&b);
	return r;
}

/* ---- show ------------------------------------------------------------------------------------- */

static int used_cb(uint64_t off, size_t len, int exists, void *arg)
{
	uint64_t *sum = arg;

	if (exists)
		*sum += len;
	return 0;
}

/* The record name behind a cairn RBD name, NULL when none. */
static struct json_object *name_of(struct cluster *c, const char *rbd_image)
{
	_cleanup_(freep) char *text = NULL;
	struct cairn_err lerr = {0};
	bool is_image;
	struct vol_record r;
	struct json_object *o;

	if (!vol_rbd_name_is_cairns(rbd_image))
		return NULL;
	is_image = str_has_prefix(rbd_image, "image-");
	if (dir_get(c, vol_dir(is_image), strchr(rbd_image, '-') + 1, &text, &lerr) < 0)
		return NULL;
	if (vol_record_parse(text, is_image, &r, &lerr) < 0)
		return NULL;
	o = json_object_new_string(r.name);
	vol_record_release(&r);
	return o;
}

static int add_or_null(struct json_object *o, const char *key, struct json_object *v)
{
	if (!v)
		return json_add_string(o, key, NULL);
	return json_add(o, key, v);
}

static int show_chain(struct cluster *c, rbd_image_t img, struct json_object *out,
                      struct cairn_err *err)
{
	struct json_object *chain = json_object_new_array();
	struct ro_image held = {0}; /* cur, when it is a parent */
	rbd_image_t cur = img;
	int r = 0;

	if (!chain || json_add(out, "parent_chain", chain) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	for (int depth = 0; depth < 1024; depth++) {
		rbd_linked_image_spec_t parent = {0};
		rbd_snap_spec_t psnap = {0};
		struct json_object *o;
		rados_ioctx_t io;
		struct ro_image next = {0};
		struct cairn_err lerr = {0};

		r = rbd_get_parent(cur, &parent, &psnap);
		if (r == -ENOENT) {
			r = 0;
			break;
		}
		if (r < 0) {
			err_set(err, r, "cannot read the parent of an image: %s", strerror(-r));
			break;
		}
		o = json_object_new_object();
		if (o && json_object_array_add(chain, o) < 0) {
			json_object_put(o);
			o = NULL;
		}
		if (!o || json_add_string(o, "pool", parent.pool_name) < 0 ||
		    json_add_string(o, "rbd_image", parent.image_name) < 0 ||
		    json_add_string(o, "snapshot", psnap.name) < 0 ||
		    add_or_null(o, "name", name_of(c, parent.image_name)) < 0 ||
		    json_add_bool(o, "trash", parent.trash) < 0)
			r = err_set(err, -ENOMEM, "out of memory");
		if (r >= 0 && cluster_ioctx_by_name(c, parent.pool_name, &io, &lerr) >= 0)
			r = cluster_ro_open(c, io, NULL, parent.image_id, NULL, &next);
		else if (r >= 0)
			r = lerr.code;
		rbd_linked_image_spec_cleanup(&parent);
		rbd_snap_spec_cleanup(&psnap);
		ro_image_close(&held);
		held = next;
		cur = held.img;
		if (r < 0 || !cur) {
			if (r < 0 && !err->code)
				err_set(err, r, "cannot follow the parent chain: %s", strerror(-r));
			break;
		}
	}
	ro_image_close(&held);
	return r;
}

static int show_live(struct cluster *c, const struct vol_record *rec, struct json_object *out,
                     struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image roi = {0};
	struct json_object *snaps_json, *kids_json;
	rbd_linked_image_spec_t *kids = NULL;
	struct vol_snap *snaps = NULL;
	struct cairn_err lerr = {0};
	size_t nsnaps = 0, nkids = 0;
	uint64_t size = 0, used = 0;
	int r;

	r = vol_open_ro(c, rec->pool, rec->rbd_image, NULL, &roi, &lerr);
	if (r == -ENOENT) {
		/* the record without its image: say so, the reconciler marks it */
		if (json_add_string(out, "provisioned", NULL) < 0 ||
		    json_add_string(out, "used", NULL) < 0 ||
		    json_add(out, "parent_chain", json_object_new_array()) < 0 ||
		    json_add(out, "snapshots", json_object_new_array()) < 0 ||
		    json_add(out, "children", json_object_new_array()) < 0)
			return err_set(err, -ENOMEM, "out of memory");
		return 0;
	}
	if (r < 0)
		return err_set(err, r, "%s", lerr.msg);
	r = rbd_get_size(roi.img, &size);
	if (r < 0)
		return err_set(err, r, "cannot read the size of '%s': %s", rec->name, strerror(-r));
	/* allocated objects (fast-diff answers from the object map) */
	r = rbd_diff_iterate2(roi.img, NULL, 0, size, 0, 1, used_cb, &used);
	if (r < 0)
		return err_set(err, r, "cannot read the usage of '%s': %s", rec->name,
		               strerror(-r));
	if (json_add_uint(out, "provisioned", size) < 0 || json_add_uint(out, "used", used) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	r = show_chain(c, roi.img, out, err);
	if (r < 0)
		return r;

	snaps_json = json_object_new_array();
	if (!snaps_json || json_add(out, "snapshots", snaps_json) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	r = vol_rbd_snaps(roi.img, &snaps, &nsnaps, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nsnaps && r >= 0; i++) {
		struct json_object *o;
		struct timespec ts = {0};
		char when[VOL_TIME_MAX] = "";
		struct tm tm;

		if (!vol_snap_is_user(&snaps[i]))
			continue;
		if (rbd_snap_get_timestamp(roi.img, snaps[i].id, &ts) >= 0) {
			gmtime_r(&ts.tv_sec, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		o = json_object_new_object();
		if (o && json_object_array_add(snaps_json, o) < 0) {
			json_object_put(o);
			o = NULL;
		}
		if (!o || json_add_string(o, "name", snaps[i].name) < 0 ||
		    json_add_uint(o, "size", snaps[i].size) < 0 ||
		    json_add_string(o, "created", when) < 0)
			r = err_set(err, -ENOMEM, "out of memory");
	}
	vol_rbd_snaps_free(snaps, nsnaps);
	if (r < 0)
		return r;

	kids_json = json_object_new_array();
	if (!kids_json || json_add(out, "children", kids_json) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	r = image_clones(roi.img, &kids, &nkids, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nkids && r >= 0; i++) {
		struct json_object *o;

		if (kids[i].trash)
			continue; /* deleted, waiting in the trash */
		o = json_object_new_object();
		if (o && json_object_array_add(kids_json, o) < 0) {
			json_object_put(o);
			o = NULL;
		}
		if (!o || add_or_null(o, "name", name_of(c, kids[i].image_name)) < 0 ||
		    json_add_string(o, "pool", kids[i].pool_name) < 0 ||
		    json_add_string(o, "rbd_image", kids[i].image_name) < 0)
			r = err_set(err, -ENOMEM, "out of memory");
	}
	image_clones_free(kids, nkids);
	return r;
}

int vol_show(struct cluster *c, const char *name, struct json_object **ret_volume,
             struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(json_putp) struct json_object *out = NULL;
	char as_of[VOL_TIME_MAX];
	struct timespec ts;
	struct tm tm;
	int ret;

	/* when the facts were read: the record and the image are read after this */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(as_of, sizeof(as_of), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(as_of + strlen(as_of), sizeof(as_of) - strlen(as_of), ".%03dZ",
	         (int)(ts.tv_nsec / 1000000));
	ret = vol_record_load(c, false, name, &r, NULL, err);
	if (ret < 0)
		return ret;
	out = vol_record_to_json(&r);
	if (!out)
		return err_set(err, -ENOMEM, "out of memory");
	ret = show_live(c, &r, out, err);
	if (ret < 0)
		return ret;
	if (json_add_string(out, "as_of", as_of) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	*ret_volume = TAKE_PTR(out);
	return 0;
}

/* ---- show, kept a moment --------------------------------------------------------------------- */

struct show_entry {
	struct show_entry *next; /* in its bucket */
	char name[NAME_MAX_LEN + 1];
	char *text;
	size_t len, cap;
	uint64_t read_ns, gen;
	bool claimed;
};

struct vol_show_cache {
	_Atomic uint64_t gen;
	struct show_entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t count, max;
};

struct vol_show_cache *vol_show_cache_new(size_t max_entries)
{
	struct vol_show_cache *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return NULL;
	sc->max = max_entries ? max_entries : 1;
	sc->nbuckets = 16;
	while (sc->nbuckets < 2 * sc->max)
		sc->nbuckets *= 2;
	sc->buckets = calloc(sc->nbuckets, sizeof(*sc->buckets));
	if (!sc->buckets) {
		free(sc);
		return NULL;
	}
	atomic_init(&sc->gen, 1);
	return sc;
}

static void show_entry_free(struct show_entry *e)
{
	free(e->text);
	free(e);
}

struct vol_show_cache *vol_show_cache_free(struct vol_show_cache *sc)
{
	if (!sc)
		return NULL;
	for (size_t i = 0; i < sc->nbuckets; i++)
		while (sc->buckets[i]) {
			struct show_entry *e = sc->buckets[i];
			sc->buckets[i] = e->next;
			show_entry_free(e);
		}
	free(sc->buckets);
	free(sc);
	return NULL;
}

uint64_t vol_show_cache_generation(struct vol_show_cache *sc)
{
	return atomic_load(&sc->gen);
}

void vol_show_cache_invalidate(struct vol_show_cache *sc)
{
	if (sc)
		atomic_fetch_add(&sc->gen, 1);
}

size_t vol_show_cache_count(struct vol_show_cache *sc)
{
	return sc->count;
}

/* The link that points at name's entry (or the bucket's end). */
static struct show_entry **show_slot(struct vol_show_cache *sc, const char *name)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */
	struct show_entry **pp;

	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	pp = &sc->buckets[h & (sc->nbuckets - 1)];
	while (*pp && strcmp((*pp)->name, name) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void show_unlink(struct vol_show_cache *sc, struct show_entry **pp)
{
	struct show_entry *e = *pp;

	*pp = e->next;
	show_entry_free(e);
	sc->count--;
}

const char *vol_show_cache_get(struct vol_show_cache *sc, const char *name, uint64_t now_ns,
                               uint64_t max_age_ns, size_t *ret_len, uint64_t *ret_read_ns)
{
	struct show_entry **pp = show_slot(sc, name), *e = *pp;

	if (!e)
		return NULL;
	if (e->gen != atomic_load(&sc->gen) || now_ns - e->read_ns > max_age_ns) {
		if (!e->claimed) /* a refresh under way puts or drops it */
			show_unlink(sc, pp);
		return NULL;
	}
	*ret_len = e->len;
	*ret_read_ns = e->read_ns;
	return e->text;
}

bool vol_show_cache_claim(struct vol_show_cache *sc, const char *name)
{
	struct show_entry *e = *show_slot(sc, name);

	if (!e || e->claimed)
		return false;
	e->claimed = true;
	return true;
}

void vol_show_cache_drop(struct vol_show_cache *sc, const char *name)
{
	struct show_entry **pp = show_slot(sc, name);

	if (*pp)
		show_unlink(sc, pp);
}

/* Make room: the oldest entry goes. */
static void show_evict(struct vol_show_cache *sc)
{
	struct show_entry **oldest = NULL;

	for (size_t i = 0; i < sc->nbuckets; i++)
		for (struct show_entry **pp = &sc->buckets[i]; *pp; pp = &(*pp)->next)
			if (!oldest || (*pp)->read_ns < (*oldest)->read_ns)
				oldest = pp;
	if (oldest)
		show_unlink(sc, oldest);
}

int vol_show_cache_put(struct vol_show_cache *sc, const char *name, uint64_t gen, uint64_t read_ns,
                       const char *text, size_t len)
{
	struct show_entry **pp = show_slot(sc, name), *e = *pp;

	if (gen != atomic_load(&sc->gen)) {
		if (e)
			show_unlink(sc, pp);
		return 1;
	}
	if (strlen(name) > NAME_MAX_LEN)
		return -EINVAL;
	if (!e) {
		if (sc->count >= sc->max) {
			show_evict(sc);
			pp = show_slot(sc, name);
		}
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		str_copy(e->name, sizeof(e->name), name);
		*pp = e;
		sc->count++;
	}
	if (e->cap < len + 1) {
		char *t = realloc(e->text, len + 1);

		if (!t) {
			show_unlink(sc, pp);
			return -ENOMEM;
		}
		e->text = t;
		e->cap = len + 1;
	}
	memcpy(e->text, text, len);
	e->text[len] = '\0';
	e->len = len;
	e->read_ns = read_ns;
	e->gen = gen;
	e->claimed = false;
	return 0;
}

/* ---- changes ---------------------------------------------------------------------------------- */

static int set_size(struct vol_record *r, void *arg, struct cairn_err *err)
{
	r->size = *(uint64_t *)arg;
	return 0;
}

/* ---- a change made in RBD, then in the record: an intent between the two ------------------- */

/* The intent of kind on volume r, under a new op id. */
static int intent_on(struct cluster *c, const struct vol_record *r, const char *kind,
                     char op[UUID_STR_LEN], struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *targets = json_object_new_object();

	if (!targets || json_add_string(targets, "id", r->id) < 0 ||
	    json_add_string(targets, "name", r->name) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	uuid_generate_str(op);
	return intent_begin(c, op, kind, targets, err);
}

/*
 * The end of a "volume.change": done when the record was written (recorded), or when RBD
 * was not changed; else the reconciler makes the record follow RBD (vol_change_settle).
 */
static void change_end(struct cluster *c, const char *op, const char *name, bool settled)
{
	struct cairn_err lerr = {0};

	if (!settled) {
		cluster_intent_orphan(c, op);
		return;
	}
	if (intent_end(c, op, &lerr) < 0)
		log_warn("intent %s of changing '%s' stays: %s", op, name, lerr.msg);
}

int vol_change_settle(struct cluster *c, const char *id, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	uint64_t size;
	int ret;

	ret = vol_record_load_id(c, false, id, &r, NULL, err);
	if (ret == -ENOENT) {
		err_clear(err);
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = vol_open(c, r.pool, r.rbd_image, NULL, &img, err);
	if (ret == -ENOENT) {
		err_clear(err);
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = rbd_get_size(img, &size);
	if (ret < 0)
		return err_set(err, ret, "cannot read the size of volume '%s': %s", r.name,
		               strerror(-ret));
	if (size != r.size) {
		ret = vol_record_modify(c, false, r.id, set_size, &size, NULL, err);
		if (ret < 0)
			return ret;
	}
	/* the QoS limits: the record's, as the last answered change left them */
	ret = vol_rbd_set_qos(img, r.qos, r.name, err);
	if (ret < 0)
		return ret;
	return 1;
}

static int out_json(const struct vol_record *r, struct json_object **ret, struct cairn_err *err)
{
	struct json_object *o;

	if (!ret)
		return 0;
	o = vol_record_to_json(r);
	if (!o)
		return err_set(err, -ENOMEM, "out of memory");
	*ret = o;
	return 0;
}

int vol_extend(struct cluster *c, const char *name, uint64_t size, struct json_object **ret_volume,
               struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0}, stored = {0};
	_cleanup_(rbd_closep) rbd_image_t img = NULL;
	char a[SIZE_STR_MAX], b[SIZE_STR_MAX], op[UUID_STR_LEN];
	uint64_t cur;
	int ret;

	ret = vol_record_load(c, false, name, &r, NULL, err);
	if (ret < 0)
		return ret;
	ret = require_available(&r, err);
	if (ret < 0)
		return ret;
	if (size_validate(size, 0, "size", err) < 0)
		return err->code;
	ret = vol_open(c, r.pool, r.rbd_image, NULL, &img, err);
	if (ret < 0)
		return ret;
	ret = rbd_get_size(img, &cur);
	if (ret < 0)
		return err_set(err, ret, "cannot read the size of volume '%s': %s", name,
		               strerror(-ret));
	if (size < cur)
		return err_set(err, -EINVAL, "volume '%s' is %s; shrinking to %s is refused", name,
		               size_format(cur, a), size_format(size, b));
	ret = intent_on(c, &r, "volume.change", op, err);
	if (ret < 0)
		return ret;
	if (size > cur) {
		ret = rbd_resize2(img, size, false, NULL, NULL);
		if (ret == -ENOSPC || ret == -EDQUOT)
			ret = err_set(err, -ENOSPC, "pool '%s' is full", r.pool);
		else if (ret < 0)
			err_set(err, ret, "cannot extend volume '%s': %s", name, strerror(-ret));
		if (ret < 0) {
			change_end(c, op, name, true);
			return ret;
		}
		failpoint("volume.extend.resized");
	}
	ret = vol_record_modify(c, false, r.id, set_size, &size, &stored, err);
	change_end(c, op, name, ret >= 0);
	if (ret < 0)
		return ret;
	return out_json(&stored, ret_volume, err);
}

static int set_flattened(struct vol_record *r, void *arg, struct cairn_err *err)
{
	r->flattened = true;
	return 0;
}

int vol_flatten_settle(struct cluster *c, const char *id, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0}, stored = {0};
	_cleanup_(ro_image_close) struct ro_image roi = {0};
	rbd_linked_image_spec_t parent = {0};
	rbd_snap_spec_t psnap = {0};
	int ret;

	ret = vol_record_load_id(c, false, id, &r, NULL, err);
	if (ret == -ENOENT) {
		err_clear(err);
		return 0; /* deleted since */
	}
	if (ret < 0)
		return ret;
	if (r.flattened || r.parent.kind == VOL_PARENT_NONE)
		return 0;
	ret = vol_open_ro(c, r.pool, r.rbd_image, NULL, &roi, err);
	if (ret < 0)
		return ret == -ENOENT ? 0 : ret;
	ret = rbd_get_parent(roi.img, &parent, &psnap);
	if (ret >= 0) {
		rbd_linked_image_spec_cleanup(&parent);
		rbd_snap_spec_cleanup(&psnap);
		return 0; /* still a clone: the flatten did not get through */
	}
	if (ret != -ENOENT)
		return err_set(err, ret, "cannot read the parent of volume '%s': %s", r.name,
		               strerror(-ret));
	ret = vol_record_modify(c, false, r.id, set_flattened, NULL, &stored, err);
	if (ret < 0)
		return ret;
	/* the hidden snapshot of the parent, and a hidden parent, may go now */
	vol_parent_release(c, &stored);
	return 1;
}

int vol_flatten(struct cluster *c, const char *name, struct cairn_progress *progress,
                struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	rbd_linked_image_spec_t parent = {0};
	rbd_snap_spec_t psnap = {0};
	char op[UUID_STR_LEN];
	int ret;

	ret = vol_record_load(c, false, name, &r, NULL, err);
	if (ret < 0)
		return ret;
	ret = require_available(&r, err);
	if (ret < 0)
		return ret;
	ret = intent_on(c, &r, "volume.flatten", op, err);
	if (ret < 0)
		return ret;
	{
		_cleanup_(rbd_closep) rbd_image_t img = NULL;

		ret = vol_open(c, r.pool, r.rbd_image, NULL, &img, err);
		if (ret < 0)
			goto out;
		ret = rbd_get_parent(img, &parent, &psnap);
		if (ret == -ENOENT) {
			ret = 0; /* independent already (the record follows below) */
		} else if (ret < 0) {
			err_set(err, ret, "cannot read the parent of volume '%s': %s", name,
			        strerror(-ret));
			goto out;
		} else {
			struct intent_keeper keeper;

			rbd_linked_image_spec_cleanup(&parent);
			rbd_snap_spec_cleanup(&psnap);
			intent_keeper_start(&keeper, c, op, "flattening");
			ret = rbd_flatten_with_progress(img, vol_rbd_progress_cb, progress);
			intent_keeper_stop(&keeper);
			if (ret < 0 && progress_cancelled(progress)) {
				err_set(err, -ECANCELED, "flattening volume '%s' cancelled", name);
				goto out;
			}
			if (ret < 0) {
				err_set(err, ret, "cannot flatten volume '%s': %s", name,
				        strerror(-ret));
				goto out;
			}
		}
	}
	failpoint("volume.flatten.flattened");
	/* the record says so, and the parent's hidden snapshot may go (the reconciler does
	 * the same when a crash came between) */
	ret = vol_flatten_settle(c, r.id, err);
out : {
	struct cairn_err lerr = {0};
	if (intent_end(c, op, &lerr) < 0)
		log_warn("intent %s of flattening '%s' stays: %s", op, name, lerr.msg);
}
	return ret < 0 ? ret : 0;
}

int vol_revert(struct cluster *c, const char *name, const char *snapshot, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	struct vol_snap *snaps = NULL;
	size_t n = 0;
	bool found = false;
	uint64_t size = 0;
	char op[UUID_STR_LEN];
	int ret;

	ret = vol_record_load(c, false, name, &r, NULL, err);
	if (ret < 0)
		return ret;
	ret = require_available(&r, err);
	if (ret < 0)
		return ret;
	if (name_validate(snapshot, "snapshot", err) < 0)
		return err->code;
	{
		_cleanup_(ro_image_close) struct ro_image roi = {0};
		rbd_image_watcher_t w[4];
		size_t nw = ARRAY_SIZE(w);

		ret = vol_open_ro(c, r.pool, r.rbd_image, NULL, &roi, err);
		if (ret < 0)
			return ret;
		ret = vol_rbd_snaps(roi.img, &snaps, &n, err);
		if (ret < 0)
			return ret;
		for (size_t i = 0; i < n; i++)
			if (vol_snap_is_user(&snaps[i]) && strcmp(snaps[i].name, snapshot) == 0)
				found = true;
		vol_rbd_snaps_free(snaps, n);
		if (!found)
			return err_set(err, -ENOENT, "snapshot '%s@%s' not found", name, snapshot);
		/* a read-only open does not watch: any watcher is a user of the volume */
		ret = rbd_watchers_list(roi.img, w, &nw);
		if (ret == -ERANGE || (ret >= 0 && nw > 0)) {
			if (ret >= 0)
				rbd_watchers_list_cleanup(w, nw);
			return err_set(err, -EBUSY, "volume '%s' is in use: stop its users first",
			               name);
		}
		if (ret < 0)
			return err_set(err, ret, "cannot list the users of volume '%s': %s", name,
			               strerror(-ret));
	}
	{
		_cleanup_(rbd_closep) rbd_image_t img = NULL;
		struct intent_keeper keeper;

		ret = vol_open(c, r.pool, r.rbd_image, NULL, &img, err);
		if (ret < 0)
			return ret;
		ret = intent_on(c, &r, "volume.change", op, err);
		if (ret < 0)
			return ret;
		/* a rollback takes time with the size: the intent stays fresh meanwhile */
		intent_keeper_start(&keeper, c, op, "reverting");
		ret = rbd_snap_rollback_with_progress(img, snapshot, vol_rbd_progress_cb, NULL);
		intent_keeper_stop(&keeper);
		if (ret < 0) {
			err_set(err, ret, "cannot revert volume '%s' to '%s': %s", name, snapshot,
			        strerror(-ret));
			/* a rollback that failed half way: the record may need the snapshot's size */
			change_end(c, op, name, false);
			return ret;
		}
		failpoint("volume.revert.rolledback");
		ret = rbd_get_size(img, &size);
		if (ret < 0)
			err_set(err, ret, "cannot read the size of volume '%s': %s", name,
			        strerror(-ret));
	}
	if (ret >= 0 && size != r.size)
		ret = vol_record_modify(c, false, r.id, set_size, &size, NULL, err);
	change_end(c, op, name, ret >= 0);
	return ret < 0 ? ret : 0;
}

/* The records of the clones of a volume (of the volume itself or of its snapshots), with
 * the parent's name changed: they are renamed along with it. */
struct rename_children {
	const char *parent_id, *new_name;
	struct dir_change *v;
	size_t n;
};

static void rename_children_release(struct rename_children *rc)
{
	for (size_t i = 0; i < rc->n; i++) {
		free((char *)rc->v[i].id);
		free((char *)rc->v[i].expect);
		free((char *)rc->v[i].record);
	}
	free(rc->v);
	rc->v = NULL;
	rc->n = 0;
}

static int rename_child(const char *id, const char *record, void *userdata)
{
	struct rename_children *rc = userdata;
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	struct cairn_err lerr = {0};
	struct dir_change *v, *ch;

	if (vol_record_parse(record, false, &r, &lerr) < 0)
		return 0;
	if ((r.parent.kind != VOL_PARENT_VOLUME && r.parent.kind != VOL_PARENT_SNAPSHOT) ||
	    strcmp(r.parent.id, rc->parent_id) != 0)
		return 0;
	v = reallocarray(rc->v, rc->n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	rc->v = v;
	str_copy(r.parent.name, sizeof(r.parent.name), rc->new_name);
	ch = &rc->v[rc->n];
	*ch = (struct dir_change){strdup(id), strdup(record), vol_record_format(&r)};
	rc->n++;
	if (!ch->id || !ch->expect || !ch->record)
		return -ENOMEM;
	return 0;
}

int vol_rename(struct cluster *c, const char *name, const char *new_name,
               struct json_object **ret_volume, struct cairn_err *err)
{
	int ret;

	if (name_validate(new_name, "new volume name", err) < 0)
		return err->code;
	if (str_has_prefix(new_name, "hidden-"))
		return err_set(err, -EINVAL, "volume names starting with 'hidden-' are cairn's");
	/*
	 * A child whose record changed since it was read fails the step, which is then taken
	 * again. A clone whose create read the old name just before the rename and writes its
	 * record just after still names the old one (not guarded: rare, and only a name).
	 */
	for (int tries = 0;; tries++) {
		_cleanup_(vol_record_releasep) struct vol_record r = {0};
		_cleanup_(freep) char *text = NULL;
		struct rename_children rc = {0};

		ret = vol_record_load(c, false, name, &r, NULL, err);
		if (ret < 0)
			return ret;
		ret = require_available(&r, err);
		if (ret < 0)
			return ret;
		rc.parent_id = r.id;
		rc.new_name = new_name;
		ret = dir_list(c, DIR_VOLUMES, rename_child, &rc, err);
		if (ret == -ENOMEM)
			ret = err_set(err, -ENOMEM, "out of memory");
		if (ret >= 0) {
			str_copy(r.name, sizeof(r.name), new_name);
			vol_time_now(r.updated);
			text = vol_record_format(&r);
			ret = text ? dir_rename_with(c, DIR_VOLUMES, r.id, name, new_name, text,
			                             rc.v, rc.n, err)
			           : err_set(err, -ENOMEM, "out of memory");
		}
		rename_children_release(&rc);
		if (ret == -ECANCELED && tries < 3) {
			err_clear(err);
			continue;
		}
		if (ret < 0)
			return ret;
		return out_json(&r, ret_volume, err);
	}
}

struct update_arg {
	struct json_object *labels, *qos;
};

static int set_labels_qos(struct vol_record *r, void *arg, struct cairn_err *err)
{
	struct update_arg *u = arg;

	if (u->labels) {
		json_object_put(r->labels);
		r->labels = NULL;
		if (json_object_deep_copy(u->labels, &r->labels, NULL) < 0)
			return -ENOMEM;
	}
	if (u->qos) {
		json_object_put(r->qos);
		r->qos = NULL;
		if (json_object_deep_copy(u->qos, &r->qos, NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

int vol_update(struct cluster *c, const char *name, struct json_object *labels,
               struct json_object *qos, struct json_object **ret_volume, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0}, stored = {0};
	struct update_arg u = {labels, qos};
	char op[UUID_STR_LEN];
	int ret;

	if (labels && vol_labels_validate(labels, err) < 0)
		return err->code;
	if (qos && vol_qos_validate(qos, err) < 0)
		return err->code;
	ret = vol_record_load(c, false, name, &r, NULL, err);
	if (ret < 0)
		return ret;
	ret = require_available(&r, err);
	if (ret < 0)
		return ret;
	if (qos) {
		_cleanup_(rbd_closep) rbd_image_t img = NULL;

		ret = vol_open(c, r.pool, r.rbd_image, NULL, &img, err);
		if (ret < 0)
			return ret;
		ret = intent_on(c, &r, "volume.change", op, err);
		if (ret < 0)
			return ret;
		ret = vol_rbd_set_qos(img, qos, name, err);
		if (ret < 0) {
			/* some limits may be set: the record's are put back */
			change_end(c, op, name, false);
			return ret;
		}
		failpoint("volume.update.qos");
	}
	ret = vol_record_modify(c, false, r.id, set_labels_qos, &u, &stored, err);
	if (qos)
		change_end(c, op, name, ret >= 0);
	if (ret < 0)
		return ret;
	return out_json(&stored, ret_volume, err);
}

/* ---- manage ----------------------------------------------------------------------------------- */

#define MANAGE_LOCK_NAME  "cairn.manage"
#define MANAGE_LOCK_LEASE 30 /* s: the lookup of the image's record and the insert of one */

struct managed_ctx {
	const char *pool, *rbd_image;
	char name[NAME_MAX_LEN + 1];
};

static int find_managed(const char *id, const char *record, void *userdata)
{
	struct managed_ctx *m = userdata;
	_cleanup_(json_putp) struct json_object *o = json_tokener_parse(record);
	const char *pool, *image;

	if (!o)
		return 0;
	pool = json_get_string(o, "pool");
	image = json_get_string(o, "rbd_image");
	if (pool && image && strcmp(pool, m->pool) == 0 && strcmp(image, m->rbd_image) == 0)
		str_copy(m->name, sizeof(m->name), json_get_string(o, "name") ?: id);
	return 0;
}

int vol_manage(struct cluster *c, const char *name, const char *pool, const char *rbd_image,
               struct json_object **ret_volume, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(ro_image_close) struct ro_image roi = {0};
	_cleanup_(lease_releasep) struct lease lock = {0};
	_cleanup_(freep) char *text = NULL;
	struct managed_ctx m = {0};
	char oid[sizeof(lock.oid)];
	const char *pname;
	int ret;

	if (name_validate(name, "volume", err) < 0)
		return err->code;
	if (str_has_prefix(name, "hidden-"))
		return err_set(err, -EINVAL, "volume names starting with 'hidden-' are cairn's");
	ret = vol_pool_resolve(c, pool, &pname, err);
	if (ret < 0)
		return ret;
	if (!rbd_image || !*rbd_image || strlen(rbd_image) >= VOL_RBD_NAME_MAX ||
	    strchr(rbd_image, '/') || strchr(rbd_image, '@'))
		return err_set(err, -EINVAL, "bad rbd image name '%s'", rbd_image ? rbd_image : "");
	/* one manage of an image at a time, from any host: the check below and the record's
	 * insert under a different name cannot interleave */
	snprintf(oid, sizeof(oid), "lock.manage.%.56s/%.56s", pname, rbd_image); /* cut: shared */
	ret = lease_init(c, &lock, oid, MANAGE_LOCK_NAME, "cairn manage", MANAGE_LOCK_LEASE, NULL,
	                 err);
	if (ret < 0)
		return ret;
	ret = lease_take_wait(&lock, MANAGE_LOCK_LEASE * 1000, true);
	if (ret == -EBUSY)
		return err_set(err, ret, "rbd image '%s/%s' is being managed by another request",
		               pname, rbd_image);
	if (ret < 0)
		return err_set(err, ret, "cannot lock rbd image '%s/%s' to manage it: %s", pname,
		               rbd_image, strerror(-ret));
	m.pool = pname;
	m.rbd_image = rbd_image;
	ret = dir_list(c, DIR_VOLUMES, find_managed, &m, err);
	if (ret < 0)
		return ret;
	if (m.name[0])
		return err_set(err, -EEXIST, "rbd image '%s/%s' is already volume '%s'", pname,
		               rbd_image, m.name);
	ret = vol_open_ro(c, pname, rbd_image, NULL, &roi, err);
	if (ret < 0)
		return ret;

	vol_record_init(&r, false);
	/* a Cinder-style name keeps its id, so the name still follows the id */
	if (str_has_prefix(rbd_image, "volume-") && vol_rbd_name_is_cairns(rbd_image))
		str_copy(r.id, sizeof(r.id), rbd_image + strlen("volume-"));
	else
		uuid_generate_str(r.id);
	str_copy(r.name, sizeof(r.name), name);
	str_copy(r.pool, sizeof(r.pool), pname);
	str_copy(r.rbd_image, sizeof(r.rbd_image), rbd_image);
	ret = rbd_get_size(roi.img, &r.size);
	if (ret < 0)
		return err_set(err, ret, "cannot read the size of '%s/%s': %s", pname, rbd_image,
		               strerror(-ret));
	r.status = VOL_STATUS_AVAILABLE;
	r.managed = true;
	r.labels = json_object_new_object();
	r.qos = json_object_new_object();
	vol_time_now(r.created);
	str_copy(r.updated, sizeof(r.updated), r.created);
	text = vol_record_format(&r);
	if (!r.labels || !r.qos || !text)
		return err_set(err, -ENOMEM, "out of memory");
	ret = dir_insert(c, DIR_VOLUMES, r.name, r.id, text, err);
	if (ret < 0)
		return ret;
	return out_json(&r, ret_volume, err);
}

int vol_unmanage(struct cluster *c, const char *name, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	struct cairn_err lerr = {0};
	int ret;

	ret = vol_record_load(c, false, name, &r, NULL, err);
	if (ret < 0)
		return ret;
	if (r.status != VOL_STATUS_AVAILABLE && r.status != VOL_STATUS_ERROR)
		return err_set(err, -EBUSY, "volume '%s' is %s", name,
		               vol_status_to_string(r.status));
	{
		_cleanup_(rbd_closep) rbd_image_t img = NULL;

		/* unmarked, so that no reconciler takes it for a leftover of cairn's */
		ret = vol_open(c, r.pool, r.rbd_image, NULL, &img, &lerr);
		if (ret >= 0) {
			ret = rbd_metadata_remove(img, VOL_MARK_KEY);
			if (ret < 0 && ret != -ENOENT)
				return err_set(err, ret, "cannot unmark '%s/%s': %s", r.pool,
				               r.rbd_image, strerror(-ret));
		} else if (ret != -ENOENT) {
			return err_set(err, ret, "%s", lerr.msg);
		}
	}
	return dir_remove(c, DIR_VOLUMES, r.name, r.id, err);
}
