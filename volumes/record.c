/* SPDX-License-Identifier: MIT */
/* volumes: records of images and volumes — stored JSON, API JSON, validation. */
#define LOG_MODULE "volumes"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "volumes/vol-internal.h"

static const char *const status_names[VOL_STATUS_MAX] = {
        [VOL_STATUS_CREATING] = "creating",   [VOL_STATUS_AVAILABLE] = "available",
        [VOL_STATUS_IMPORTING] = "importing", [VOL_STATUS_DELETING] = "deleting",
        [VOL_STATUS_HIDDEN] = "hidden",       [VOL_STATUS_ERROR] = "error",
};

static const char *const parent_kind_names[VOL_PARENT_MAX] = {
        [VOL_PARENT_NONE] = "none",
        [VOL_PARENT_IMAGE] = "image",
        [VOL_PARENT_SNAPSHOT] = "snapshot",
        [VOL_PARENT_VOLUME] = "volume",
};

const struct vol_qos_key vol_qos_keys[] = {
        {"iops", "conf_rbd_qos_iops_limit"},
        {"read_iops", "conf_rbd_qos_read_iops_limit"},
        {"write_iops", "conf_rbd_qos_write_iops_limit"},
        {"bps", "conf_rbd_qos_bps_limit"},
        {"read_bps", "conf_rbd_qos_read_bps_limit"},
        {"write_bps", "conf_rbd_qos_write_bps_limit"},
        {NULL, NULL},
};

const char *vol_status_to_string(enum vol_status s)
{
	if ((unsigned)s >= VOL_STATUS_MAX)
		return NULL;
	return status_names[s];
}

int vol_status_from_string(const char *s)
{
	for (int i = 0; s && i < VOL_STATUS_MAX; i++)
		if (strcmp(status_names[i], s) == 0)
			return i;
	return -EINVAL;
}

const char *vol_parent_kind_to_string(enum vol_parent_kind k)
{
	if ((unsigned)k >= VOL_PARENT_MAX)
		return NULL;
	return parent_kind_names[k];
}

int vol_parent_kind_from_string(const char *s)
{
	for (int i = 0; s && i < VOL_PARENT_MAX; i++)
		if (strcmp(parent_kind_names[i], s) == 0)
			return i;
	return -EINVAL;
}

void vol_time_now(char buf[VOL_TIME_MAX])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, VOL_TIME_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t vol_time_parse(const char *s)
{
	struct tm tm = {0};
	const char *end;
	char *e;
	long long n;

	if (!s || !*s)
		return -1;
	n = strtoll(s, &e, 10);
	if (*e == '\0' && e != s)
		return n;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return -1;
	/* fractions of a second and the zone: only UTC ("Z" or "+00:00") is written by cairn */
	if (*end == '.')
		while (*++end >= '0' && *end <= '9')
			;
	if (*end != 'Z' && strcmp(end, "+00:00") != 0 && *end != '\0')
		return -1;
	return (int64_t)timegm(&tm);
}

void vol_rbd_name(bool is_image, const char *id, char ret[VOL_RBD_NAME_MAX])
{
	snprintf(ret, VOL_RBD_NAME_MAX, "%s-%s", is_image ? "image" : "volume", id);
}

bool vol_rbd_name_is_cairns(const char *rbd_image)
{
	if (str_has_prefix(rbd_image, "volume-"))
		return uuid_is_valid(rbd_image + strlen("volume-"));
	if (str_has_prefix(rbd_image, "image-"))
		return uuid_is_valid(rbd_image + strlen("image-"));
	return false;
}

int vol_labels_validate(struct json_object *labels, struct cairn_err *err)
{
	int n = 0;

	if (!json_object_is_type(labels, json_type_object))
		return err_set(err, -EINVAL, "labels must be an object of strings");
	json_object_object_foreach (labels, key, val) {
		const char *s;

		if (++n > 64)
			return err_set(err, -EINVAL, "labels have more than 64 entries");
		if (name_validate(key, "label key", err) < 0)
			return err->code;
		if (!json_object_is_type(val, json_type_string))
			return err_set(err, -EINVAL, "label '%s' must be a string", key);
		s = json_object_get_string(val);
		if ((size_t)json_object_get_string_len(val) != strlen(s) || strlen(s) > 255)
			return err_set(err, -EINVAL,
			               "label '%s' must be at most 255 characters without NUL",
			               key);
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return err_set(err, -EINVAL,
				               "label '%s' contains a control character", key);
	}
	return 0;
}

int vol_qos_validate(struct json_object *qos, struct cairn_err *err)
{
	if (!json_object_is_type(qos, json_type_object))
		return err_set(err, -EINVAL, "qos must be an object of integers");
	json_object_object_foreach (qos, key, val) {
		bool known = false;

		for (const struct vol_qos_key *k = vol_qos_keys; k->name; k++)
			if (strcmp(k->name, key) == 0)
				known = true;
		if (!known)
			return err_set(err, -EINVAL,
			               "unknown qos key '%s' (iops, read_iops, write_iops, bps, "
			               "read_bps, write_bps)",
			               key);
		if (!json_object_is_type(val, json_type_int) || json_object_get_int64(val) < 0)
			return err_set(err, -EINVAL, "qos '%s' must be a non-negative integer",
			               key);
	}
	return 0;
}

void vol_record_init(struct vol_record *r, bool is_image)
{
	memset(r, 0, sizeof(*r));
	r->is_image = is_image;
	r->status = VOL_STATUS_CREATING;
	r->parent.kind = VOL_PARENT_NONE;
}

void vol_record_release(struct vol_record *r)
{
	if (!r)
		return;
	if (r->labels)
		json_object_put(r->labels);
	if (r->qos)
		json_object_put(r->qos);
	r->labels = r->qos = NULL;
}

static int copy_field(struct json_object *o, const char *key, char *dst, size_t n, bool required,
                      struct cairn_err *err)
{
	const char *s = json_get_string(o, key);

	if (!s) {
		if (required)
			return err_set(err, -EINVAL, "record has no '%s'", key);
		dst[0] = '\0';
		return 0;
	}
	if (str_copy(dst, n, s) < 0)
		return err_set(err, -EINVAL, "record field '%s' is too long", key);
	return 0;
}

int vol_record_parse(const char *text, bool is_image, struct vol_record *ret, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *o = NULL;
	struct json_object *v, *p;
	struct vol_record r;
	int s;

	vol_record_init(&r, is_image);
	o = json_tokener_parse(text);
	if (!o || !json_object_is_type(o, json_type_object))
		return err_set(err, -EINVAL, "%s record is not a JSON object", vol_what(is_image));
	if (copy_field(o, "id", r.id, sizeof(r.id), true, err) < 0 ||
	    copy_field(o, "name", r.name, sizeof(r.name), true, err) < 0 ||
	    copy_field(o, "former_name", r.former_name, sizeof(r.former_name), false, err) < 0 ||
	    copy_field(o, "pool", r.pool, sizeof(r.pool), true, err) < 0 ||
	    copy_field(o, "rbd_image", r.rbd_image, sizeof(r.rbd_image), true, err) < 0 ||
	    copy_field(o, "created", r.created, sizeof(r.created), false, err) < 0 ||
	    copy_field(o, "updated", r.updated, sizeof(r.updated), false, err) < 0 ||
	    copy_field(o, "op", r.op, sizeof(r.op), false, err) < 0 ||
	    copy_field(o, "format", r.format, sizeof(r.format), false, err) < 0 ||
	    copy_field(o, "error", r.error, sizeof(r.error), false, err) < 0)
		return err->code;
	s = vol_status_from_string(json_get_string(o, "status"));
	if (s < 0)
		return err_set(err, -EINVAL, "record '%s' has no valid status", r.id);
	r.status = (enum vol_status)s;
	if (json_object_object_get_ex(o, "size", &v))
		r.size = (uint64_t)json_object_get_int64(v);
	if (json_object_object_get_ex(o, "flattened", &v))
		r.flattened = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "managed", &v))
		r.managed = json_object_get_boolean(v);

	if (json_object_object_get_ex(o, "parent", &p) &&
	    json_object_is_type(p, json_type_object)) {
		int k = vol_parent_kind_from_string(json_get_string(p, "kind"));
		if (k < 0)
			return err_set(err, -EINVAL, "record '%s' has a bad parent kind", r.id);
		r.parent.kind = (enum vol_parent_kind)k;
		if (copy_field(p, "name", r.parent.name, sizeof(r.parent.name), false, err) < 0 ||
		    copy_field(p, "snapshot", r.parent.snapshot, sizeof(r.parent.snapshot), false,
		               err) < 0 ||
		    copy_field(p, "id", r.parent.id, sizeof(r.parent.id), false, err) < 0 ||
		    copy_field(p, "pool", r.parent.pool, sizeof(r.parent.pool), false, err) < 0 ||
		    copy_field(p, "rbd_image", r.parent.rbd_image, sizeof(r.parent.rbd_image),
		               false, err) < 0 ||
		    copy_field(p, "rbd_snap", r.parent.rbd_snap, sizeof(r.parent.rbd_snap), false,
		               err) < 0)
			return err->code;
	}
	if (json_object_object_get_ex(o, "labels", &v) && json_object_is_type(v, json_type_object))
		r.labels = json_object_get(v);
	else
		r.labels = json_object_new_object();
	if (json_object_object_get_ex(o, "qos", &v) && json_object_is_type(v, json_type_object))
		r.qos = json_object_get(v);
	else
		r.qos = json_object_new_object();
	if (!r.labels || !r.qos) {
		vol_record_release(&r);
		return err_set(err, -ENOMEM, "out of memory");
	}
	*ret = r;
	return 0;
}

/* Shared by the stored form and the API form. */
static int add_common(struct json_object *o, const struct vol_record *r)
{
	if (json_add_string(o, "id", r->id) < 0 || json_add_string(o, "name", r->name) < 0 ||
	    json_add_string(o, "pool", r->pool) < 0 ||
	    json_add_string(o, "rbd_image", r->rbd_image) < 0 ||
	    json_add_uint(o, "size", r->size) < 0 ||
	    json_add_string(o, "status", vol_status_to_string(r->status)) < 0)
		return -ENOMEM;
	return 0;
}

static int add_opt_string(struct json_object *o, const char *key, const char *value)
{
	if (!value || !*value)
		return json_add_string(o, key, NULL);
	return json_add_string(o, key, value);
}

/* A member that may be null (NULL value): json_add() treats NULL as out-of-memory. */
static int add_nullable(struct json_object *o, const char *key, struct json_object *value)
{
	if (!value)
		return json_add_string(o, key, NULL);
	return json_add(o, key, value);
}

static struct json_object *parent_to_json(const struct vol_parent *p, bool full)
{
	struct json_object *o;

	if (p->kind == VOL_PARENT_NONE)
		return NULL;
	o = json_object_new_object();
	if (!o)
		return NULL;
	if (json_add_string(o, "kind", vol_parent_kind_to_string(p->kind)) < 0 ||
	    json_add_string(o, "name", p->name) < 0 ||
	    add_opt_string(o, "snapshot", p->snapshot) < 0)
		goto fail;
	if (full &&
	    (json_add_string(o, "id", p->id) < 0 || json_add_string(o, "pool", p->pool) < 0 ||
	     json_add_string(o, "rbd_image", p->rbd_image) < 0 ||
	     json_add_string(o, "rbd_snap", p->rbd_snap) < 0))
		goto fail;
	return o;
fail:
	json_object_put(o);
	return NULL;
}

static struct json_object *copy_object(struct json_object *src)
{
	struct json_object *dst = NULL;

	if (!src)
		return json_object_new_object();
	if (json_object_deep_copy(src, &dst, NULL) < 0)
		return NULL;
	return dst;
}

char *vol_record_format(const struct vol_record *r)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	struct json_object *parent = NULL;

	if (!o || add_common(o, r) < 0)
		return NULL;
	if (r->parent.kind != VOL_PARENT_NONE) {
		parent = parent_to_json(&r->parent, true);
		if (!parent)
			return NULL;
	}
	if (add_nullable(o, "parent", parent) < 0 ||
	    json_add(o, "labels", copy_object(r->labels)) < 0 ||
	    json_add(o, "qos", copy_object(r->qos)) < 0 ||
	    json_add_string(o, "created", r->created) < 0 ||
	    json_add_string(o, "updated", r->updated) < 0 || add_opt_string(o, "op", r->op) < 0)
		return NULL;
	if (r->former_name[0] && json_add_string(o, "former_name", r->former_name) < 0)
		return NULL;
	if (r->format[0] && json_add_string(o, "format", r->format) < 0)
		return NULL;
	if (r->flattened && json_add_bool(o, "flattened", true) < 0)
		return NULL;
	if (r->managed && json_add_bool(o, "managed", true) < 0)
		return NULL;
	if (r->error[0] && json_add_string(o, "error", r->error) < 0)
		return NULL;
	return strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

struct json_object *vol_record_to_json(const struct vol_record *r)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	struct json_object *parent = NULL;

	if (!o || add_common(o, r) < 0)
		return NULL;
	if (r->parent.kind != VOL_PARENT_NONE) {
		parent = parent_to_json(&r->parent, false);
		if (!parent)
			return NULL;
	}
	if (add_nullable(o, "parent", parent) < 0 ||
	    json_add(o, "labels", copy_object(r->labels)) < 0 ||
	    json_add(o, "qos", copy_object(r->qos)) < 0 ||
	    json_add_string(o, "created", r->created) < 0 ||
	    json_add_string(o, "updated", r->updated) < 0)
		return NULL;
	if (r->flattened && json_add_bool(o, "flattened", true) < 0)
		return NULL;
	if (r->managed && json_add_bool(o, "managed", true) < 0)
		return NULL;
	if (r->error[0] && json_add_string(o, "error", r->error) < 0)
		return NULL;
	return TAKE_PTR(o);
}

struct json_object *img_record_to_json(const struct vol_record *r, int64_t clones)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();

	if (!o || add_common(o, r) < 0 || add_opt_string(o, "format", r->format) < 0 ||
	    json_add_string(o, "checksum", NULL) < 0 ||
	    (clones >= 0 ? json_add_int(o, "clones", clones) : json_add_string(o, "clones", NULL)) <
	            0 ||
	    json_add_string(o, "created", r->created) < 0 ||
	    json_add_string(o, "updated", r->updated) < 0)
		return NULL;
	if (r->error[0] && json_add_string(o, "error", r->error) < 0)
		return NULL;
	return TAKE_PTR(o);
}

int vol_record_load_id(struct cluster *c, bool is_image, const char *id, struct vol_record *ret,
                       char **ret_text, struct cairn_err *err)
{
	_cleanup_(freep) char *text = NULL;
	int r;

	r = dir_get(c, vol_dir(is_image), id, &text, err);
	if (r < 0)
		return r;
	r = vol_record_parse(text, is_image, ret, err);
	if (r < 0)
		return r;
	if (ret_text)
		*ret_text = TAKE_PTR(text);
	return 0;
}

int vol_record_load(struct cluster *c, bool is_image, const char *name, struct vol_record *ret,
                    char **ret_text, struct cairn_err *err)
{
	struct cairn_err lerr = {0};
	char id[128];
	int r;

	if (name_validate(name, vol_what(is_image), err) < 0)
		return err->code;
	r = dir_lookup(c, vol_dir(is_image), name, id, sizeof(id), &lerr);
	if (r == -ENOENT)
		return err_set(err, r, "%s '%s' not found", vol_what(is_image), name);
	if (r < 0)
		return err_set(err, r, "%s", lerr.msg);
	r = vol_record_load_id(c, is_image, id, ret, ret_text, &lerr);
	if (r == -ENOENT) /* the name went between the two reads */
		return err_set(err, r, "%s '%s' not found", vol_what(is_image), name);
	if (r < 0)
		return err_set(err, r, "%s", lerr.msg);
	return 0;
}

int vol_record_store(struct cluster *c, struct vol_record *r, char **old_text,
                     struct cairn_err *err)
{
	_cleanup_(freep) char *text = NULL;
	int ret;

	vol_time_now(r->updated);
	text = vol_record_format(r);
	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	ret = dir_update(c, vol_dir(r->is_image), r->id, old_text ? *old_text : NULL, text, err);
	if (ret < 0)
		return ret;
	if (old_text) {
		free(*old_text);
		*old_text = TAKE_PTR(text);
	}
	return 0;
}

int vol_record_modify(struct cluster *c, bool is_image, const char *id, vol_record_change_fn fn,
                      void *arg, struct vol_record *ret, struct cairn_err *err)
{
	struct cairn_err lerr = {0};
	int r = 0;

	for (int attempt = 0; attempt < 8; attempt++) {
		_cleanup_(vol_record_releasep) struct vol_record rec = {0};
		_cleanup_(freep) char *text = NULL;

		err_clear(&lerr);
		r = vol_record_load_id(c, is_image, id, &rec, &text, &lerr);
		if (r < 0)
			break;
		r = fn(&rec, arg, &lerr);
		if (r < 0)
			break;
		r = vol_record_store(c, &rec, &text, &lerr);
		if (r == -ECANCELED)
			continue;
		if (r >= 0 && ret) {
			*ret = rec;
			memset(&rec, 0, sizeof(rec));
		}
		break;
	}
	if (r < 0)
		return err_set(err, r, "%s", lerr.msg);
	return 0;
}
