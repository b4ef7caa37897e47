/* SPDX-License-Identifier: MIT */
/* Routes of images, volumes and snapshots: validate on the loop, run the domain on workers. */
#define LOG_MODULE "svc"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshots/snapshots.h"
#include "svc/svc-internal.h"
#include "volumes/volumes.h"

/* What a route hands its work: the parsed body fields (strings borrowed from call->body). */
struct vol_args {
	const char *name, *file, *format, *image, *snapshot, *volume, *pool, *rbd_image;
	uint64_t size;
	bool force, deferred, slow;
	struct json_object *labels, *qos, *volumes;
	char op_id[UUID_STR_LEN];
};

static struct vol_args *call_args(struct svc_call *call)
{
	struct vol_args *a = calloc(1, sizeof(*a));

	if (!a) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return NULL;
	}
	call->data = a;
	call->data_free = free;
	return a;
}

static bool query_flag(struct svc_call *call, const char *name)
{
	const char *v = http_request_query_param(call->req, name);

	return v && (!*v || strcmp(v, "1") == 0 || strcmp(v, "true") == 0);
}

/* The record and pool of the volume named name. */
static int volume_open(struct cluster *c, const char *name, struct vol_record *rec,
                       rados_ioctx_t *io, struct cairn_err *err)
{
	int r = vol_record_load(c, false, name, rec, NULL, err);

	if (r < 0)
		return r;
	r = cluster_ioctx_by_name(c, rec->pool, io, err);
	if (r < 0)
		vol_record_release(rec);
	return r;
}

static bool after_event(struct svc_call *call, const char *kind, const char *action)
{
	events_resource(call->svc, kind, action,
	                json_get_string(call->reply, "name") ?: call->params[0]);
	return false;
}

/* ---- GET of one volume: replies kept a moment ---------------------------------------------- */

/*
 * A GET of a volume reads its record and opens its RBD image (size, used bytes, snapshots,
 * children, parent chain): ~15 ms of a worker, most of it librbd's setup of an image. Hot
 * volumes are answered from vol_show's last reply instead, on the loop, when it is younger
 * than SHOW_MAX_AGE; past SHOW_REFRESH a worker reads it again in the background while the
 * kept one is given. Every change made through this cairnd ends with svc_show_changed(), so a
 * client here reads its own writes; a change made through another host shows within
 * SHOW_MAX_AGE. Each reply says when its facts were read ("as_of") and how long ago that was
 * ("age_ms"): docs/api.md.
 */
#define SHOW_REFRESH_NS (500ULL * 1000 * 1000)
#define SHOW_MAX_AGE_NS (2000ULL * 1000 * 1000)
void svc_show_changed(struct svc *svc)
{
	vol_show_cache_invalidate(svc->show_cache);
}

/* Define work fn that runs do_fn, then notes the change. */
#define CHANGE_WORK(fn, do_fn)                \
	static void fn(struct svc_call *call) \
	{                                     \
		do_fn(call);                  \
		svc_show_changed(call->svc);  \
	}

/* Answer with a kept reply plus its age: the text is an object, "}" last. */
static void show_reply(struct svc_call *call, const char *text, size_t len, uint64_t age_ns)
{
	char stack[8192], tail[48];
	_cleanup_(freep) char *heap = NULL;
	char *out = stack;
	int n;

	n = snprintf(tail, sizeof(tail), ",\"age_ms\":%llu}",
	             (unsigned long long)(age_ns / 1000000));
	if (len < 2 || text[len - 1] != '}' || n < 0 || (size_t)n >= sizeof(tail)) {
		call_reply_text(call, 200, "application/json", text, len);
		return;
	}
	if (len - 1 + (size_t)n > sizeof(stack)) {
		out = heap = malloc(len - 1 + (size_t)n);
		if (!out) {
			call_reply_error(call, -ENOMEM, "out of memory");
			return;
		}
	}
	memcpy(out, text, len - 1);
	memcpy(out + len - 1, tail, (size_t)n);
	call_reply_text(call, 200, "application/json", out, len - 1 + (size_t)n);
}

struct show_read {
	uint64_t gen, read_ns; /* the cache's generation and the clock when the read began */
	char name[NAME_MAX_LEN + 1];
	char *text; /* a background refresh: the reply's text */
	size_t len;
};

static void show_read_free(void *p)
{
	struct show_read *sr = p;

	if (sr)
		free(sr->text);
	free(sr);
}

static struct show_read *show_read_new(struct vol_show_cache *sc, const char *name)
{
	struct show_read *sr = calloc(1, sizeof(*sr));

	if (!sr)
		return NULL;
	sr->gen = vol_show_cache_generation(sc);
	sr->read_ns = svc_now_ns();
	str_copy(sr->name, sizeof(sr->name), name);
	return sr;
}

static void show_refresh_work(struct svc_job *job)
{
	struct show_read *sr = job->data;
	_cleanup_(json_putp) struct json_object *o = NULL;
	const char *text;

	job->result = vol_show(job->svc->cluster, sr->name, &o, &job->err);
	if (job->result < 0)
		return;
	text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &sr->len);
	sr->text = text ? strdup(text) : NULL;
	if (!sr->text)
		job->result = err_set(&job->err, -ENOMEM, "out of memory");
}

static void show_refresh_done(struct svc_job *job)
{
	struct show_read *sr = job->data;
	struct vol_show_cache *sc = job->svc->show_cache;

	if (job->result < 0 || !sr->text ||
	    vol_show_cache_put(sc, sr->name, sr->gen, sr->read_ns, sr->text, sr->len) < 0)
		vol_show_cache_drop(sc, sr->name); /* the next GET reads it, and says why not */
}

static void show_refresh_start(struct svc *svc, struct vol_show_cache *sc, const char *name)
{
	struct show_read *sr = show_read_new(sc, name);

	if (!sr || svc_job_submit(svc, show_refresh_work, show_refresh_done, false, sr,
	                          show_read_free) < 0)
		vol_show_cache_drop(sc, name);
}

/* An operation keeps its own copy of the body: the call is answered before the work ends. */
struct op_args {
	struct vol_args a;
	struct json_object *body;
	char name[NAME_MAX_LEN + 1]; /* a name from the path: the call's copy dies with it */
};

/* ---- images ----------------------------------------------------------------------------- */

static void images_list_work(struct svc_call *call)
{
	struct json_object *arr = NULL;

	if (img_list(call->svc->cluster, query_flag(call, "hidden"), &arr, &call->err) < 0)
		return;
	call->reply = json_object_new_object();
	json_add(call->reply, "images", arr);
}

static void route_images_list(struct svc_call *call)
{
	call_submit(call, images_list_work, false);
}

static int image_import_work(struct svc *svc, void *data, struct cairn_progress *progress,
                             struct json_object **ret_result, struct cairn_err *err)
{
	struct op_args *d = data;
	struct img_import_params p = {
	        .name = d->a.name,
	        .file = d->a.file,
	        .format = d->a.format,
	        .op_id = d->a.op_id,
	};

	int r = img_import(svc->cluster, &p, progress, ret_result, err);

	svc_show_changed(svc);
	return r;
}

static void op_args_free(void *data)
{
	struct op_args *d = data;

	json_object_put(d->body);
	free(d);
}

static struct op_args *op_args_take(struct svc_call *call, const struct vol_args *a)
{
	struct op_args *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->a = *a; /* its strings point into call->body, which the copy now holds */
	d->body = json_object_get(call->body);
	if (a->name && a->name == call->params[0]) {
		str_copy(d->name, sizeof(d->name), a->name);
		d->a.name = d->name;
	}
	return d;
}

static void start_op(struct svc_call *call, const char *kind, const char *rkind, const char *rname,
                     op_work_fn work, struct vol_args *a)
{
	struct op_args *d = op_args_take(call, a);
	struct json_object *op;

	if (!d) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return;
	}
	op = op_start(call->svc, kind, rkind, rname, work, d, op_args_free, d->a.op_id);
	call_reply_json(call, 202, op);
}

static void image_import_check_work(struct svc_call *call)
{
	struct vol_args *a = call->data;

	img_import_check(call->svc->cluster, a->file, &call->err);
}

static bool image_import_checked(struct svc_call *call)
{
	struct vol_args *a = call->data;

	start_op(call, "image.import", "image", a->name, image_import_work, a);
	return true;
}

static void route_images_import(struct svc_call *call)
{
	struct vol_args *a = call_args(call);
	const struct jfield fields[] = {
	        {"name", JF_NAME, offsetof(struct vol_args, name), JF_REQUIRED, NULL},
	        {"file", JF_STRING, offsetof(struct vol_args, file), JF_REQUIRED, NULL},
	        {"format", JF_STRING, offsetof(struct vol_args, format), JF_NULLABLE, NULL},
	        {NULL, 0, 0, 0, NULL},
	};

	if (!a || call_parse_body(call, fields, a, NULL) < 0)
		return;
	if (a->format && strcmp(a->format, "qcow2") != 0 && strcmp(a->format, "raw") != 0 &&
	    strcmp(a->format, "vmdk") != 0) {
		call_reply_error(call, -EINVAL,
		                 "field 'format' must be qcow2, raw or vmdk, not '%.32s'",
		                 a->format);
		return;
	}
	/* a file that cannot be imported is a 4xx now, not a failed operation later */
	call->after_fn = image_import_checked;
	call_submit(call, image_import_check_work, false);
}

static void image_show_work(struct svc_call *call)
{
	img_show(call->svc->cluster, call->params[0], &call->reply, &call->err);
}

static void route_image_show(struct svc_call *call)
{
	if (call_param_name(call, 0, "image") < 0)
		return;
	call_submit(call, image_show_work, false);
}

static void image_delete_do(struct svc_call *call)
{
	struct vol_args *a = call->data;

	if (img_delete(call->svc->cluster, call->params[0], a->deferred, &call->err) < 0)
		return;
	call->reply = json_object_new_object();
	json_add_string(call->reply, "name", call->params[0]);
	json_add_bool(call->reply, "deleted", true);
}

CHANGE_WORK(image_delete_work, image_delete_do)

static bool image_delete_after(struct svc_call *call)
{
	return after_event(call, "image", "deleted");
}

static void route_image_delete(struct svc_call *call)
{
	struct vol_args *a;

	if (call_param_name(call, 0, "image") < 0 || !(a = call_args(call)))
		return;
	a->deferred = query_flag(call, "deferred");
	call->after_fn = image_delete_after;
	call_submit(call, image_delete_work, true);
}

/*
 * The shape of most volume routes: the volume's name in the path, a body filled into
 * vol_args from fields (NULL: no body allowed), then work on a worker and after on the loop.
 */
static void volume_route(struct svc_call *call, const struct jfield *fields, call_work_fn work,
                         bool slow, bool (*after)(struct svc_call *call))
{
	static const struct jfield no_fields[] = {{NULL, 0, 0, 0, NULL}};
	struct vol_args *a;

	if (call_param_name(call, 0, "volume") < 0 || !(a = call_args(call)) ||
	    call_parse_body(call, fields ? fields : no_fields, a, NULL) < 0)
		return;
	call->after_fn = after;
	call_submit(call, work, slow);
}

/* ---- volumes ---------------------------------------------------------------------------- */

/* The list's text, made on a worker (vol_list_text: no json-c objects), given on the loop. */
struct list_text {
	char *text;
	size_t len;
};

static void list_text_free(void *p)
{
	struct list_text *lt = p;

	if (lt)
		vol_text_free(lt->text, lt->len);
	free(lt);
}

static void volumes_list_work(struct svc_call *call)
{
	struct vol_filter f = {
	        .pool = http_request_query_param(call->req, "pool"),
	        .label = http_request_query_param(call->req, "label"),
	        .parent = http_request_query_param(call->req, "parent"),
	        .include_hidden = query_flag(call, "hidden"),
	};
	struct list_text *lt = call->data;

	vol_list_text(call->svc->cluster, &f, &lt->text, &lt->len, &call->err);
}

static void list_trim_cb(uv_timer_t *t)
{
	(void)t;
	malloc_trim(0);
}

static bool volumes_list_done(struct svc_call *call)
{
	struct list_text *lt = call->data;
	struct svc *svc = call->svc;
	bool large = lt->len >= 256 * 1024;

	call_reply_text(call, 200, "application/json", lt->text, lt->len);
	/*
	 * What the worker's arena and librados freed stays with the process: give it back once
	 * large lists stop, on the daemon's timer for that, as call_reply_json does for its
	 * large replies (call_reply_text does not, so this does it for the list).
	 */
	if (large)
		uv_timer_start(&svc->trim_timer, list_trim_cb, 1000, 0);
	return true;
}

static void route_volumes_list(struct svc_call *call)
{
	struct list_text *lt = calloc(1, sizeof(*lt));

	if (!lt) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return;
	}
	call->data = lt;
	call->data_free = list_text_free;
	call->after_fn = volumes_list_done;
	call_submit(call, volumes_list_work, false);
}

static struct vol_create_params create_params(const struct vol_args *a)
{
	return (struct vol_create_params){
	        .name = a->name,
	        .size = a->size,
	        .image = a->image,
	        .snapshot = a->snapshot,
	        .volume = a->volume,
	        .pool = a->pool,
	        .labels = a->labels,
	        .qos = a->qos,
	};
}

/* A clone too deep, which must be flattened: an operation with progress, on a slow worker. */
static int volume_create_op_work(struct svc *svc, void *data, struct cairn_progress *progress,
                                 struct json_object **ret_result, struct cairn_err *err)
{
	struct op_args *d = data;
	struct vol_create_params p = create_params(&d->a);
	int r;

	p.op_id = d->a.op_id;
	p.progress = progress;
	r = vol_create(svc->cluster, &p, ret_result, err);
	svc_show_changed(svc);
	return r < 0 ? r : 0;
}

/* Everything O(1) is done here, answered 201; the rest is left to volume_created. */
static void volume_create_do(struct svc_call *call)
{
	struct vol_args *a = call->data;
	struct vol_create_params p = create_params(a);
	int r;

	p.quick = true;
	r = vol_create(call->svc->cluster, &p, &call->reply, &call->err);
	if (r == 1)
		a->slow = true;
	else if (r >= 0)
		call->status = 201;
}

CHANGE_WORK(volume_create_work, volume_create_do)

static bool volume_created(struct svc_call *call)
{
	struct vol_args *a = call->data;

	if (a->slow) {
		start_op(call, "volume.create", "volume", a->name, volume_create_op_work, a);
		return true;
	}
	return after_event(call, "volume", "created");
}

static void route_volumes_create(struct svc_call *call)
{
	struct vol_args *a = call_args(call);
	const struct jfield fields[] = {
	        {"name", JF_NAME, offsetof(struct vol_args, name), JF_REQUIRED, NULL},
	        {"size", JF_SIZE, offsetof(struct vol_args, size), 0, NULL},
	        {"image", JF_NAME, offsetof(struct vol_args, image), JF_NULLABLE, NULL},
	        {"snapshot", JF_STRING, offsetof(struct vol_args, snapshot), JF_NULLABLE, NULL},
	        {"volume", JF_NAME, offsetof(struct vol_args, volume), JF_NULLABLE, NULL},
	        {"pool", JF_NAME, offsetof(struct vol_args, pool), JF_NULLABLE, NULL},
	        {"labels", JF_LABELS, offsetof(struct vol_args, labels), JF_NULLABLE, NULL},
	        {"qos", JF_OBJECT, offsetof(struct vol_args, qos), JF_NULLABLE, NULL},
	        {NULL, 0, 0, 0, NULL},
	};
	uint64_t present = 0;
	int sources;

	if (!a || call_parse_body(call, fields, a, &present) < 0)
		return;
	sources = !!a->image + !!a->snapshot + !!a->volume;
	if (sources > 1) {
		call_reply_error(call, -EINVAL,
		                 "give at most one of 'image', 'snapshot' and 'volume'");
		return;
	}
	if (sources == 0 && !(present & (1 << 1))) {
		call_reply_error(call, -EINVAL,
		                 "field 'size' is required for a blank volume (or give 'image', "
		                 "'snapshot' or 'volume' to clone)");
		return;
	}
	if (present & (1 << 1)) {
		struct cairn_err err = {0};
		if (size_validate(a->size, 0, "field 'size'", &err) < 0) {
			call_reply_err(call, &err);
			return;
		}
	}
	if (a->snapshot) {
		const char *at = strchr(a->snapshot, '@');
		char vol[NAME_MAX_LEN + 1];
		struct cairn_err err = {0};

		if (!at || (size_t)(at - a->snapshot) > NAME_MAX_LEN) {
			call_reply_error(call, -EINVAL,
			                 "field 'snapshot' must be VOLUME@SNAPSHOT, not '%.80s'",
			                 a->snapshot);
			return;
		}
		memcpy(vol, a->snapshot, (size_t)(at - a->snapshot));
		vol[at - a->snapshot] = '\0';
		if (name_validate(vol, "snapshot's volume", &err) < 0 ||
		    name_validate(at + 1, "snapshot", &err) < 0) {
			call_reply_err(call, &err);
			return;
		}
	}
	call->after_fn = volume_created;
	call_submit(call, volume_create_work, false);
}

static void volume_show_work(struct svc_call *call)
{
	vol_show(call->svc->cluster, call->params[0], &call->reply, &call->err);
}

/* Read on a worker: keep the reply (when nothing changed meanwhile) and give it. */
static bool volume_show_read(struct svc_call *call)
{
	struct show_read *sr = call->data;
	const char *text;
	size_t len;

	text = json_object_to_json_string_length(call->reply, JSON_C_TO_STRING_PLAIN, &len);
	if (!text)
		return false;
	if (call->svc->show_cache)
		vol_show_cache_put(call->svc->show_cache, sr->name, sr->gen, sr->read_ns, text,
		                   len);
	show_reply(call, text, len, svc_now_ns() - sr->read_ns);
	return true;
}

static void route_volume_show(struct svc_call *call)
{
	struct vol_show_cache *sc = call->svc->show_cache;
	struct show_read *sr;
	uint64_t now, read_ns = 0;
	const char *text;
	size_t len = 0;

	if (call_param_name(call, 0, "volume") < 0)
		return;
	now = svc_now_ns();
	text = sc ? vol_show_cache_get(sc, call->params[0], now, SHOW_MAX_AGE_NS, &len, &read_ns)
	          : NULL;
	if (text) {
		struct svc *svc = call->svc;
		char name[NAME_MAX_LEN + 1];
		bool refresh = now - read_ns > SHOW_REFRESH_NS &&
		               vol_show_cache_claim(sc, call->params[0]);

		/* answered first: the text is the cache's, the name the call's */
		str_copy(name, sizeof(name), call->params[0]);
		show_reply(call, text, len, now - read_ns);
		if (refresh)
			show_refresh_start(svc, sc, name);
		return;
	}
	if (sc) {
		sr = show_read_new(sc, call->params[0]);
		if (!sr) {
			call_reply_error(call, -ENOMEM, "out of memory");
			return;
		}
		call->data = sr;
		call->data_free = show_read_free;
		call->after_fn = volume_show_read;
	}
	call_submit(call, volume_show_work, false);
}

static int volume_delete_work(struct svc *svc, void *data, struct cairn_progress *progress,
                              struct json_object **ret_result, struct cairn_err *err)
{
	struct op_args *d = data;

	int r = vol_delete(svc->cluster, d->a.name, d->a.force, progress, err);

	svc_show_changed(svc);
	return r;
}

static bool volume_delete_checked(struct svc_call *call)
{
	struct vol_args *a = call->data;
	struct json_object *op;

	/* a repeated delete of a volume being deleted answers with the same operation */
	op = op_find_active(call->svc, "volume.delete", a->name);
	if (op)
		call_reply_json(call, 202, op);
	else
		start_op(call, "volume.delete", "volume", a->name, volume_delete_work, a);
	return true;
}

static void volume_exists_work(struct svc_call *call)
{
	struct vol_record rec = {0};
	rados_ioctx_t io;

	if (volume_open(call->svc->cluster, call->params[0], &rec, &io, &call->err) >= 0)
		vol_record_release(&rec);
}

static void volume_delete_check_work(struct svc_call *call)
{
	struct vol_args *a = call->data;

	/* a group snapshot that includes the volume is a 409 now, naming it */
	if (!a->force)
		vol_delete_check_groups(call->svc->cluster, call->params[0], &call->err);
	else
		volume_exists_work(call);
}

static void route_volume_delete(struct svc_call *call)
{
	struct vol_args *a;
	struct json_object *op;

	if (call_param_name(call, 0, "volume") < 0 || !(a = call_args(call)))
		return;
	a->name = call->params[0];
	a->force = query_flag(call, "force");
	op = op_find_active(call->svc, "volume.delete", a->name);
	if (op) {
		call_reply_json(call, 202, op);
		return;
	}
	/* a missing volume is a 404 now, not a failed operation later */
	call->after_fn = volume_delete_checked;
	call_submit(call, volume_delete_check_work, false);
}

static void volume_extend_do(struct svc_call *call)
{
	struct vol_args *a = call->data;

	if (size_validate(a->size, 0, "field 'size'", &call->err) < 0)
		return;
	vol_extend(call->svc->cluster, call->params[0], a->size, &call->reply, &call->err);
}

CHANGE_WORK(volume_extend_work, volume_extend_do)

static bool volume_changed(struct svc_call *call)
{
	return after_event(call, "volume", "changed");
}

static void route_volume_extend(struct svc_call *call)
{
	static const struct jfield fields[] = {
	        {"size", JF_SIZE, offsetof(struct vol_args, size), JF_REQUIRED, NULL},
	        {NULL, 0, 0, 0, NULL},
	};

	volume_route(call, fields, volume_extend_work, false, volume_changed);
}

static int volume_flatten_work(struct svc *svc, void *data, struct cairn_progress *progress,
                               struct json_object **ret_result, struct cairn_err *err)
{
	struct op_args *d = data;
	int r = vol_flatten(svc->cluster, d->a.name, progress, err);

	svc_show_changed(svc);
	if (r < 0)
		return r;
	return vol_show(svc->cluster, d->a.name, ret_result, err);
}

static bool volume_flatten_checked(struct svc_call *call)
{
	struct vol_args *a = call->data;

	start_op(call, "volume.flatten", "volume", a->name, volume_flatten_work, a);
	return true;
}

static void route_volume_flatten(struct svc_call *call)
{
	static const struct jfield no_fields[] = {{NULL, 0, 0, 0, NULL}};
	struct vol_args *a;

	if (call_param_name(call, 0, "volume") < 0 || !(a = call_args(call)) ||
	    call_parse_body(call, no_fields, NULL, NULL) < 0)
		return;
	a->name = call->params[0];
	/* a missing volume is a 404 now, not a failed operation later */
	call->after_fn = volume_flatten_checked;
	call_submit(call, volume_exists_work, false);
}

static void volume_revert_do(struct svc_call *call)
{
	struct vol_args *a = call->data;

	if (vol_revert(call->svc->cluster, call->params[0], a->snapshot, &call->err) < 0)
		return;
	vol_show(call->svc->cluster, call->params[0], &call->reply, &call->err);
}

CHANGE_WORK(volume_revert_work, volume_revert_do)

static void route_volume_revert(struct svc_call *call)
{
	static const struct jfield fields[] = {
	        {"snapshot", JF_NAME, offsetof(struct vol_args, snapshot), JF_REQUIRED, NULL},
	        {NULL, 0, 0, 0, NULL},
	};

	volume_route(call, fields, volume_revert_work, true, volume_changed);
}

static void volume_rename_do(struct svc_call *call)
{
	struct vol_args *a = call->data;

	vol_rename(call->svc->cluster, call->params[0], a->name, &call->reply, &call->err);
}

CHANGE_WORK(volume_rename_work, volume_rename_do)

static void route_volume_rename(struct svc_call *call)
{
	static const struct jfield fields[] = {
	        {"name", JF_NAME, offsetof(struct vol_args, name), JF_REQUIRED, NULL},
	        {NULL, 0, 0, 0, NULL},
	};

	volume_route(call, fields, volume_rename_work, false, volume_changed);
}

static void volume_update_do(struct svc_call *call)
{
	struct vol_args *a = call->data;

	vol_update(call->svc->cluster, call->params[0], a->labels, a->qos, &call->reply,
	           &call->err);
}

CHANGE_WORK(volume_update_work, volume_update_do)

static void route_volume_update(struct svc_call *call)
{
	static const struct jfield fields[] = {
	        {"labels", JF_LABELS, offsetof(struct vol_args, labels), 0, NULL},
	        {"qos", JF_OBJECT, offsetof(struct vol_args, qos), 0, NULL},
	        {NULL, 0, 0, 0, NULL},
	};

	volume_route(call, fields, volume_update_work, false, volume_changed);
}

static void volume_manage_do(struct svc_call *call)
{
	struct vol_args *a = call->data;

	if (vol_manage(call->svc->cluster, a->name, a->pool, a->rbd_image, &call->reply,
	               &call->err) >= 0)
		call->status = 201;
}

CHANGE_WORK(volume_manage_work, volume_manage_do)

static void route_volumes_manage(struct svc_call *call)
{
	struct vol_args *a = call_args(call);
	const struct jfield fields[] = {
	        {"name", JF_NAME, offsetof(struct vol_args, name), JF_REQUIRED, NULL},
	        {"pool", JF_NAME, offsetof(struct vol_args, pool), JF_REQUIRED, NULL},
	        {"rbd_image", JF_STRING, offsetof(struct vol_args, rbd_image), JF_REQUIRED, NULL},
	        {NULL, 0, 0, 0, NULL},
	};

	if (!a || call_parse_body(call, fields, a, NULL) < 0)
		return;
	call->after_fn = volume_created;
	call_submit(call, volume_manage_work, false);
}

static void volume_unmanage_do(struct svc_call *call)
{
	if (vol_unmanage(call->svc->cluster, call->params[0], &call->err) < 0)
		return;
	call->reply = json_object_new_object();
	json_add_string(call->reply, "name", call->params[0]);
	json_add_bool(call->reply, "managed", false);
}

CHANGE_WORK(volume_unmanage_work, volume_unmanage_do)

static void route_volume_unmanage(struct svc_call *call)
{
	volume_route(call, NULL, volume_unmanage_work, false, NULL);
}

/* ---- snapshots -------------------------------------------------------------------------- */

static void snapshots_list_work(struct svc_call *call)
{
	struct vol_record rec = {0};
	struct json_object *arr = NULL;
	rados_ioctx_t io;

	if (volume_open(call->svc->cluster, call->params[0], &rec, &io, &call->err) < 0)
		return;
	if (snap_list(call->svc->cluster, io, rec.rbd_image, query_flag(call, "hidden"), &arr,
	              &call->err) >= 0) {
		call->reply = json_object_new_object();
		json_add_string(call->reply, "volume", call->params[0]);
		json_add(call->reply, "snapshots", arr);
	}
	vol_record_release(&rec);
}

static void route_snapshots_list(struct svc_call *call)
{
	if (call_param_name(call, 0, "volume") < 0)
		return;
	call_submit(call, snapshots_list_work, false);
}

static void snapshot_create_do(struct svc_call *call)
{
	struct vol_args *a = call->data;
	struct vol_record rec = {0};
	struct json_object *arr = NULL;
	rados_ioctx_t io;

	if (str_has_prefix(a->name, SNAP_HIDDEN_PREFIX)) {
		err_set(&call->err, -EINVAL, "snapshot names starting with '%s' are cairn's own",
		        SNAP_HIDDEN_PREFIX);
		return;
	}
	if (volume_open(call->svc->cluster, call->params[0], &rec, &io, &call->err) < 0)
		return;
	if (snap_create(io, rec.rbd_image, a->name, &call->err) >= 0 &&
	    snap_list(call->svc->cluster, io, rec.rbd_image, false, &arr, &call->err) >= 0) {
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			struct json_object *s = json_object_array_get_idx(arr, i);
			const char *n = json_get_string(s, "name");
			if (n && strcmp(n, a->name) == 0) {
				call->reply = json_object_get(s);
				json_add_string(call->reply, "volume", call->params[0]);
			}
		}
		json_object_put(arr);
		if (!call->reply)
			err_set(&call->err, -ENOENT,
			        "snapshot '%s' vanished right after it was made", a->name);
		call->status = 201;
	}
	vol_record_release(&rec);
}

CHANGE_WORK(snapshot_create_work, snapshot_create_do)

static bool snapshot_created(struct svc_call *call)
{
	return after_event(call, "snapshot", "created");
}

static void route_snapshot_create(struct svc_call *call)
{
	static const struct jfield fields[] = {
	        {"name", JF_NAME, offsetof(struct vol_args, name), JF_REQUIRED, NULL},
	        {NULL, 0, 0, 0, NULL},
	};

	volume_route(call, fields, snapshot_create_work, false, snapshot_created);
}

static void snapshot_delete_do(struct svc_call *call)
{
	bool deferred = query_flag(call, "deferred"), hidden = false;
	struct vol_record rec = {0};
	rados_ioctx_t io;

	if (volume_open(call->svc->cluster, call->params[0], &rec, &io, &call->err) < 0)
		return;
	/* clones deleted a moment ago wait in the trash for the purger: if their delay is
	 * over, purge now rather than make the caller wait for the next pass (and when a pass
	 * here or on another host is purging, give it a moment) */
	for (int attempt = 0; attempt < 20; attempt++) {
		struct cairn_err perr = {0};

		err_clear(&call->err);
		if (snap_remove(io, rec.rbd_image, call->params[1], &call->err) != -ENOTEMPTY ||
		    !strstr(call->err.msg, "(trash)"))
			break;
		if (vol_purge(call->svc->cluster, &perr) > 0)
			continue;
		if (perr.code || call->svc->conf->volumes.trash_delay > 0)
			break;      /* nothing purged: the children may wait out their delay */
		usleep(250 * 1000); /* another pass holds the purge lock */
	}
	/* name the clones by their volumes, not by their RBD images */
	if (!deferred && call->err.code == -ENOTEMPTY) {
		struct cairn_err nerr = {0};
		char names[256];

		if (vol_snap_clone_names(call->svc->cluster, call->params[0], call->params[1],
		                         names, sizeof(names), &nerr) >= 0 &&
		    names[0]) {
			err_clear(&call->err);
			err_set(&call->err, -ENOTEMPTY,
			        "snapshot '%s' of volume '%s' has clones: %s (delete them, flatten "
			        "them, or delete it ?deferred)",
			        call->params[1], call->params[0], names);
		}
	}
	/* clones left: hidden now, removed by the purge when the last one goes */
	if (deferred && call->err.code == -ENOTEMPTY) {
		struct cairn_err herr = {0};
		int r = vol_snap_hide(call->svc->cluster, call->params[0], call->params[1], &herr);

		err_clear(&call->err);
		if (r > 0)
			hidden = true;
		else if (r == 0) /* its clones went meanwhile */
			snap_remove(io, rec.rbd_image, call->params[1], &call->err);
		else
			err_set(&call->err, r, "%s", herr.msg);
	}
	if (!call->err.code) {
		call->reply = json_object_new_object();
		json_add_string(call->reply, "volume", call->params[0]);
		json_add_string(call->reply, "name", call->params[1]);
		json_add_bool(call->reply, "deleted", true);
		json_add_bool(call->reply, "hidden", hidden);
	}
	vol_record_release(&rec);
}

CHANGE_WORK(snapshot_delete_work, snapshot_delete_do)

static bool snapshot_deleted(struct svc_call *call)
{
	return after_event(call, "snapshot", "deleted");
}

static void route_snapshot_delete(struct svc_call *call)
{
	if (call_param_name(call, 0, "volume") < 0 || call_param_name(call, 1, "snapshot") < 0)
		return;
	if (str_has_prefix(call->params[1], SNAP_HIDDEN_PREFIX)) {
		call_reply_error(call, -EACCES,
		                 "snapshot '%s' is cairn's own and goes with what it serves",
		                 call->params[1]);
		return;
	}
	call->after_fn = snapshot_deleted;
	call_submit(call, snapshot_delete_work, false);
}

/* A group snapshot: one consistent point in time across several volumes. */
static void snapshot_group_do(struct svc_call *call)
{
	struct vol_args *a = call->data;
	size_t n = json_object_array_length(a->volumes);
	_cleanup_(freep) const char **pools = calloc(n, sizeof(char *));
	_cleanup_(freep) const char **images = calloc(n, sizeof(char *));
	_cleanup_(freep) struct vol_record *recs = calloc(n, sizeof(*recs));
	char group[NAME_MAX_LEN + 1] = "";
	size_t opened = 0;

	if (!pools || !images || !recs) {
		err_set(&call->err, -ENOMEM, "out of memory");
		return;
	}
	for (; opened < n; opened++) {
		const char *v =
		        json_object_get_string(json_object_array_get_idx(a->volumes, opened));
		rados_ioctx_t io;

		if (volume_open(call->svc->cluster, v, &recs[opened], &io, &call->err) < 0)
			goto out;
		pools[opened] = recs[opened].pool;
		images[opened] = recs[opened].rbd_image;
		if (opened == 0 && snap_image_group(call->svc->cluster, io, recs[0].rbd_image,
		                                    group, sizeof(group), &call->err) < 0)
			goto out;
	}
	/* the first volume's group, else one named after it: the VM's disks stay together */
	if (!group[0])
		snprintf(group, sizeof(group), "cairn-%.56s", recs[0].id);
	if (snap_group_create(call->svc->cluster, group, a->name, pools, images, n, &call->err) < 0)
		goto out;
	call->reply = json_object_new_object();
	json_add_string(call->reply, "name", a->name);
	json_add_string(call->reply, "group", group);
	json_add(call->reply, "volumes", json_object_get(a->volumes));
	call->status = 201;
out:
	for (size_t i = 0; i < opened; i++)
		vol_record_release(&recs[i]);
}

CHANGE_WORK(snapshot_group_work, snapshot_group_do)

static void route_snapshot_group(struct svc_call *call)
{
	struct vol_args *a = call_args(call);
	const struct jfield fields[] = {
	        {"name", JF_NAME, offsetof(struct vol_args, name), JF_REQUIRED, NULL},
	        {"volumes", JF_CUSTOM, offsetof(struct vol_args, volumes), JF_REQUIRED,
	         call_check_volume_list},
	        {NULL, 0, 0, 0, NULL},
	};

	if (!a || call_parse_body(call, fields, a, NULL) < 0)
		return;
	call->after_fn = snapshot_created;
	call_submit(call, snapshot_group_work, true); /* may wait for the group lock */
}

/* ---- group snapshots: list, show, delete --------------------------------------------------- */

/* pool/image -> volume name, from the volume list (no image is opened) */
static const char *group_member_name(struct json_object *vols, const char *pool, const char *image)
{
	for (size_t i = 0; i < json_object_array_length(vols); i++) {
		struct json_object *v = json_object_array_get_idx(vols, i);
		const char *p = json_get_string(v, "pool"), *im = json_get_string(v, "rbd_image");

		if (p && im && strcmp(p, pool) == 0 && strcmp(im, image) == 0)
			return json_get_string(v, "name");
	}
	return NULL;
}

/*
 * {"name": group, "snapshots": [{"name", "complete"}], "volumes": [name…]}: cairn's own
 * snapshots (backup sets') are left out; a member that is no volume of cairn's shows as
 * "pool/image".
 */
static int group_describe(struct cluster *c, const char *group, struct json_object *vols,
                          struct json_object **ret, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	_cleanup_(json_putp) struct json_object *snaps = NULL;
	_cleanup_(json_putp) struct json_object *images = NULL;
	struct json_object *shown, *members;
	int r;

	if (!o || json_add_string(o, "name", group) < 0 ||
	    json_add(o, "snapshots", shown = json_object_new_array()) < 0 ||
	    json_add(o, "volumes", members = json_object_new_array()) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	r = snap_group_list(c, group, &snaps, err);
	if (r < 0)
		return r;
	r = snap_group_images(c, group, &images, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < json_object_array_length(snaps); i++) {
		struct json_object *sn = json_object_array_get_idx(snaps, i);
		const char *name = json_get_string(sn, "name");

		if (!name || str_has_prefix(name, SNAP_HIDDEN_PREFIX))
			continue;
		if (json_object_array_add(shown, json_object_get(sn)) < 0)
			return err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < json_object_array_length(images); i++) {
		struct json_object *im = json_object_array_get_idx(images, i);
		const char *pool = json_get_string(im, "pool") ?: "?";
		const char *image = json_get_string(im, "image") ?: "?";
		const char *name = group_member_name(vols, pool, image);
		char buf[2 * NAME_MAX_LEN + 2];

		if (!name) {
			snprintf(buf, sizeof(buf), "%s/%s", pool, image);
			name = buf;
		}
		if (json_object_array_add(members, json_object_new_string(name)) < 0)
			return err_set(err, -ENOMEM, "out of memory");
	}
	*ret = TAKE_PTR(o);
	return 0;
}

static void group_list_work(struct svc_call *call)
{
	struct cluster *c = call->svc->cluster;
	const struct vol_filter all = {.include_hidden = true};
	_cleanup_(json_putp) struct json_object *names = NULL;
	_cleanup_(json_putp) struct json_object *vols = NULL;
	struct json_object *groups;

	if (snap_group_names(c, &names, &call->err) < 0 || vol_list(c, &all, &vols, &call->err) < 0)
		return;
	call->reply = json_object_new_object();
	groups = json_object_new_array();
	if (json_add(call->reply, "groups", groups) < 0) {
		err_set(&call->err, -ENOMEM, "out of memory");
		return;
	}
	for (size_t i = 0; i < json_object_array_length(names); i++) {
		const char *g = json_object_get_string(json_object_array_get_idx(names, i));
		struct json_object *o = NULL;
		struct cairn_err lerr = {0};
		int r = group_describe(c, g, vols, &o, &lerr);

		if (r == -ENOENT)
			continue; /* removed since it was listed */
		if (r < 0) {
			err_set(&call->err, r, "%s", lerr.msg);
			return;
		}
		/* a group with no snapshot to show (only a backup set's, or one left by a crash
		 * for the reconcile pass to remove) is no group snapshot */
		if (json_object_array_length(json_object_object_get(o, "snapshots")) == 0) {
			json_object_put(o);
			continue;
		}
		if (json_object_array_add(groups, o) < 0) {
			json_object_put(o);
			err_set(&call->err, -ENOMEM, "out of memory");
			return;
		}
	}
}

static void route_group_list(struct svc_call *call)
{
	call_submit(call, group_list_work, false);
}

static void group_show_work(struct svc_call *call)
{
	const struct vol_filter all = {.include_hidden = true};
	_cleanup_(json_putp) struct json_object *vols = NULL;

	if (vol_list(call->svc->cluster, &all, &vols, &call->err) < 0)
		return;
	group_describe(call->svc->cluster, call->params[0], vols, &call->reply, &call->err);
}

/* group names are checked like other names; only cairn's own groups are served */
static int call_param_group(struct svc_call *call)
{
	if (call_param_name(call, 0, "group") < 0)
		return -EINVAL;
	if (!str_has_prefix(call->params[0], SNAP_HIDDEN_PREFIX)) {
		call_reply_error(call, -ENOENT,
		                 "group '%s' not found: cairn's groups are named '%s<volume id>'",
		                 call->params[0], SNAP_HIDDEN_PREFIX);
		return -ENOENT;
	}
	return 0;
}

static void route_group_show(struct svc_call *call)
{
	if (call_param_group(call) < 0)
		return;
	call_submit(call, group_show_work, false);
}

static void group_snap_delete_do(struct svc_call *call)
{
	bool group_removed = false;

	if (snap_group_snap_delete(call->svc->cluster, call->params[0], call->params[1],
	                           &group_removed, &call->err) < 0)
		return;
	call->reply = json_object_new_object();
	json_add_string(call->reply, "group", call->params[0]);
	json_add_string(call->reply, "name", call->params[1]);
	json_add_bool(call->reply, "deleted", true);
	json_add_bool(call->reply, "group_deleted", group_removed);
}

CHANGE_WORK(group_snap_delete_work, group_snap_delete_do)

static void route_group_snap_delete(struct svc_call *call)
{
	if (call_param_group(call) < 0 || call_param_name(call, 1, "snapshot") < 0)
		return;
	if (str_has_prefix(call->params[1], SNAP_HIDDEN_PREFIX)) {
		call_reply_error(
		        call, -EACCES,
		        "group snapshot '%s' is cairn's own (a backup set's) and goes with "
		        "its backups",
		        call->params[1]);
		return;
	}
	call->after_fn = snapshot_deleted;
	call_submit(call, group_snap_delete_work, true); /* may wait for the group lock */
}

const struct route routes_volumes[] = {
        {HTTP_METHOD_GET, "/v1/images", route_images_list, ROUTE_CLUSTER, "list images"},
        {HTTP_METHOD_POST, "/v1/images", route_images_import, ROUTE_MUTATING | ROUTE_CLUSTER,
         "import a disk file as an image (operation)"},
        {HTTP_METHOD_GET, "/v1/images/{name}", route_image_show, ROUTE_CLUSTER, "show an image"},
        {HTTP_METHOD_DELETE, "/v1/images/{name}", route_image_delete,
         ROUTE_MUTATING | ROUTE_CLUSTER, "delete an image (?deferred)"},
        {HTTP_METHOD_GET, "/v1/volumes", route_volumes_list, ROUTE_CLUSTER,
         "list volumes (?pool, ?label, ?parent)"},
        {HTTP_METHOD_POST, "/v1/volumes", route_volumes_create, ROUTE_MUTATING | ROUTE_CLUSTER,
         "create a volume, blank or a clone"},
        {HTTP_METHOD_POST, "/v1/volumes/manage", route_volumes_manage,
         ROUTE_MUTATING | ROUTE_CLUSTER, "adopt an existing RBD image as a volume"},
        {HTTP_METHOD_GET, "/v1/volumes/{name}", route_volume_show, ROUTE_CLUSTER, "show a volume"},
        {HTTP_METHOD_PATCH, "/v1/volumes/{name}", route_volume_update,
         ROUTE_MUTATING | ROUTE_CLUSTER, "replace labels and QoS limits"},
        {HTTP_METHOD_DELETE, "/v1/volumes/{name}", route_volume_delete,
         ROUTE_MUTATING | ROUTE_CLUSTER, "delete a volume (operation; ?force)"},
        {HTTP_METHOD_POST, "/v1/volumes/{name}/extend", route_volume_extend,
         ROUTE_MUTATING | ROUTE_CLUSTER, "grow a volume"},
        {HTTP_METHOD_POST, "/v1/volumes/{name}/flatten", route_volume_flatten,
         ROUTE_MUTATING | ROUTE_CLUSTER, "copy the parent's data in (operation)"},
        {HTTP_METHOD_POST, "/v1/volumes/{name}/rename", route_volume_rename,
         ROUTE_MUTATING | ROUTE_CLUSTER, "rename a volume"},
        {HTTP_METHOD_POST, "/v1/volumes/{name}/revert", route_volume_revert,
         ROUTE_MUTATING | ROUTE_CLUSTER, "roll a volume back to a snapshot"},
        {HTTP_METHOD_GET, "/v1/volumes/{name}/snapshots", route_snapshots_list, ROUTE_CLUSTER,
         "list a volume's snapshots"},
        {HTTP_METHOD_POST, "/v1/volumes/{name}/snapshots", route_snapshot_create,
         ROUTE_MUTATING | ROUTE_CLUSTER, "snapshot a volume"},
        {HTTP_METHOD_DELETE, "/v1/volumes/{name}/snapshots/{snap}", route_snapshot_delete,
         ROUTE_MUTATING | ROUTE_CLUSTER, "delete a snapshot (?deferred)"},
        {HTTP_METHOD_POST, "/v1/volumes/{name}/unmanage", route_volume_unmanage,
         ROUTE_MUTATING | ROUTE_CLUSTER, "release a volume's RBD image from cairn"},
        {HTTP_METHOD_POST, "/v1/snapshots/group", route_snapshot_group,
         ROUTE_MUTATING | ROUTE_CLUSTER, "one consistent snapshot across volumes"},
        {HTTP_METHOD_GET, "/v1/snapshots/group", route_group_list, ROUTE_CLUSTER,
         "list group snapshots by group, with the volumes of each group"},
        {HTTP_METHOD_GET, "/v1/snapshots/group/{group}", route_group_show, ROUTE_CLUSTER,
         "show a group: its snapshots and volumes"},
        {HTTP_METHOD_DELETE, "/v1/snapshots/group/{group}/{snap}", route_group_snap_delete,
         ROUTE_MUTATING | ROUTE_CLUSTER, "delete a group snapshot (and its group with its last)"},
        {0, NULL, NULL, 0, NULL},
};
