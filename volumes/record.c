/* SPDX-License-Identifier: MIT */
/* volumes: records of images and volumes — stored JSON, API JSON, validation. */
#define LOG_MODULE "volumes"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "volumes/vol-internal.h"

static const char *const status_names[VOL_STATUS_MAX] = {
        [VOL_STATUS_CREATING] = "creating",   [VOL_STATUS_AVAILABLE] = "available",
        [VOL_STATUS_IMPORTING] = "importing", [VOL_STATUS_DELETING] = "deleting",
        [VOL_STATUS_HIDDEN] = "hidden",       [VOL_STATUS_ERROR] = "error",
};

static const char *const parent_kind_names[VOL_PARENT_MAX] = {
        [VOL_PARENT_NONE] = "none",         [VOL_PARENT_IMAGE] = "image",
        [VOL_PARENT_SNAPSHOT] = "snapshot", [VOL_PARENT_VOLUME] = "volume",
        [VOL_PARENT_BACKUP] = "backup",
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
	    copy_field(o, "checksum", r.checksum, sizeof(r.checksum), false, err) < 0 ||
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
	if (r->checksum[0] && json_add_string(o, "checksum", r->checksum) < 0)
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
	    add_opt_string(o, "checksum", r->checksum) < 0 ||
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

/* ---- the API text of stored records, spliced ------------------------------------------------- */

/*
 * A list of thousands of volumes spent most of its time in json-c: each stored record was
 * parsed into objects, copied into the API object, serialized and freed (malloc and free of
 * a dozen small objects a volume). The stored text is json-c's plain output already, and
 * the API object is the same members less a few, so its text is the stored values copied in
 * API order. A record of any other shape (escapes where cairn writes none, whitespace, a
 * number json-c would print otherwise, a duplicate member) is left to the json-c path, which
 * stays the reference: the unit tests check that both give the same bytes.
 */

enum {
	SK_ID,
	SK_NAME,
	SK_FORMER_NAME,
	SK_POOL,
	SK_RBD_IMAGE,
	SK_SIZE,
	SK_STATUS,
	SK_PARENT,
	SK_LABELS,
	SK_QOS,
	SK_CREATED,
	SK_UPDATED,
	SK_OP,
	SK_FORMAT,
	SK_FLATTENED,
	SK_MANAGED,
	SK_ERROR,
	SK_MAX,
};

enum {
	PK_KIND,
	PK_NAME,
	PK_SNAPSHOT,
	PK_ID,
	PK_POOL,
	PK_RBD_IMAGE,
	PK_RBD_SNAP,
	PK_MAX,
};

/* The members vol_record_parse reads, and the longest string each field of the struct holds. */
struct splice_key {
	const char *name;
	size_t len; /* of name */
	size_t max; /* a string: the field's size less its NUL; 0: not a string */
};
#define KEY(name, max)                      \
	{                                   \
		name, sizeof(name) - 1, max \
	}

static const struct splice_key record_keys[SK_MAX] = {
        [SK_ID] = KEY("id", UUID_STR_LEN - 1),
        [SK_NAME] = KEY("name", NAME_MAX_LEN),
        [SK_FORMER_NAME] = KEY("former_name", NAME_MAX_LEN),
        [SK_POOL] = KEY("pool", NAME_MAX_LEN),
        [SK_RBD_IMAGE] = KEY("rbd_image", VOL_RBD_NAME_MAX - 1),
        [SK_SIZE] = KEY("size", 0),
        [SK_STATUS] = KEY("status", 0),
        [SK_PARENT] = KEY("parent", 0),
        [SK_LABELS] = KEY("labels", 0),
        [SK_QOS] = KEY("qos", 0),
        [SK_CREATED] = KEY("created", VOL_TIME_MAX - 1),
        [SK_UPDATED] = KEY("updated", VOL_TIME_MAX - 1),
        [SK_OP] = KEY("op", VOL_OP_ID_MAX - 1),
        [SK_FORMAT] = KEY("format", 15),
        [SK_FLATTENED] = KEY("flattened", 0),
        [SK_MANAGED] = KEY("managed", 0),
        [SK_ERROR] = KEY("error", 127),
};

static const struct splice_key parent_keys[PK_MAX] = {
        [PK_KIND] = KEY("kind", 0),
        [PK_NAME] = KEY("name", NAME_MAX_LEN),
        [PK_SNAPSHOT] = KEY("snapshot", NAME_MAX_LEN),
        [PK_ID] = KEY("id", UUID_STR_LEN - 1),
        [PK_POOL] = KEY("pool", NAME_MAX_LEN),
        [PK_RBD_IMAGE] = KEY("rbd_image", VOL_RBD_NAME_MAX - 1),
        [PK_RBD_SNAP] = KEY("rbd_snap", VOL_RBD_NAME_MAX - 1),
};

struct scan {
	const char *p, *end;
};

/*
 * A string as json-c writes it: '"' and '\' escaped as \" and \\, '/' as \/, no control
 * character. With bare, no escape at all (the string is then its own value). Leaves s->p after
 * the closing quote. 0, or -1: not of that form.
 */
static int scan_string(struct scan *s, bool bare)
{
	if (s->p >= s->end || *s->p != '"')
		return -1;
	for (s->p++; s->p < s->end; s->p++) {
		unsigned char ch = (unsigned char)*s->p;

		if (ch == '"') {
			s->p++;
			return 0;
		}
		if (ch < 0x20 || ch == '/')
			return -1;
		if (ch == '\\') {
			if (bare || s->p + 1 >= s->end ||
			    (s->p[1] != '"' && s->p[1] != '\\' && s->p[1] != '/'))
				return -1;
			s->p++;
		}
	}
	return -1;
}

/* An integer as json-c prints an int64: -?(0|[1-9][0-9]*) within range. */
static int scan_int(struct scan *s, bool negative_ok)
{
	const char *start = s->p;
	size_t digits;

	if (s->p < s->end && *s->p == '-') {
		if (!negative_ok)
			return -1;
		s->p++;
	}
	digits = 0;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		s->p++;
		digits++;
	}
	if (digits == 0 || digits > 19 || (digits > 1 && s->p[-(long)digits] == '0'))
		return -1;
	if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'))
		return -1;
	if (digits == 19) {
		const char *d = s->p - digits;
		/* 9223372036854775807 (and ...808 when negative) at most */
		if (memcmp(d, *start == '-' ? "9223372036854775808" : "9223372036854775807", 19) >
		    0)
			return -1;
	}
	return 0;
}

static int scan_literal(struct scan *s, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return -1;
	s->p += n;
	return 0;
}

/* Any value in json-c's plain form (strings as scan_string, integers only). */
static int scan_value(struct scan *s, int depth)
{
	char close;
	bool first = true;

	if (s->p >= s->end || depth > JSON_MAX_DEPTH)
		return -1;
	switch (*s->p) {
	case '"':
		return scan_string(s, false);
	case 't':
		return scan_literal(s, "true");
	case 'f':
		return scan_literal(s, "false");
	case 'n':
		return scan_literal(s, "null");
	case '{':
	case '[':
		close = *s->p == '{' ? '}' : ']';
		for (s->p++; s->p < s->end; first = false) {
			if (*s->p == close) {
				s->p++;
				return 0;
			}
			if (!first) {
				if (*s->p != ',')
					return -1;
				s->p++;
			}
			if (close == '}') {
				if (scan_string(s, false) < 0 || s->p >= s->end || *s->p != ':')
					return -1;
				s->p++;
			}
			if (scan_value(s, depth + 1) < 0)
				return -1;
		}
		return -1;
	default:
		return scan_int(s, true);
	}
}

/*
 * The members of the object at s->p whose names keys lists, into spans (n of them); other
 * members are skipped. -1 when the object is not of json-c's plain form or names a known
 * member twice.
 */
static int scan_members(struct scan *s, const struct splice_key *keys, struct vol_span *spans,
                        size_t n)
{
	bool first = true;

	if (s->p >= s->end || *s->p != '{')
		return -1;
	for (s->p++; s->p < s->end; first = false) {
		const char *key, *value;
		size_t key_len, i;

		if (*s->p == '}') {
			s->p++;
			return 0;
		}
		if (!first) {
			if (*s->p != ',')
				return -1;
			s->p++;
		}
		key = s->p + 1;
		if (scan_string(s, true) < 0 || s->p >= s->end || *s->p != ':')
			return -1;
		key_len = (size_t)(s->p - 1 - key);
		value = ++s->p;
		if (scan_value(s, 1) < 0)
			return -1;
		for (i = 0; i < n; i++) {
			if (keys[i].len != key_len || memcmp(keys[i].name, key, key_len) != 0)
				continue;
			if (spans[i].p)
				return -1;
			spans[i].p = value;
			spans[i].n = (size_t)(s->p - value);
			break;
		}
	}
	return -1;
}

static bool span_is(const struct vol_span *v, const char *lit)
{
	return v->p && v->n == strlen(lit) && memcmp(v->p, lit, v->n) == 0;
}

/* A string without escapes: its text between the quotes. */
static bool span_bare(const struct vol_span *v)
{
	return v->p && v->n >= 2 && v->p[0] == '"' && !memchr(v->p, '\\', v->n);
}

/*
 * The string fields as vol_record_parse copies them: a string without escapes that fits
 * its field, or (optional only) absent or not a string. false when the record is for the
 * json-c path: a field too long (which that path refuses), escapes, a required one missing.
 */
static bool span_field_ok(const struct vol_span *v, const struct splice_key *k, bool required)
{
	if (!v->p || v->p[0] != '"')
		return !required;
	return span_bare(v) && v->n - 2 <= k->max;
}

int vol_splice_scan(const char *text, size_t len, struct vol_splice *ret)
{
	struct vol_span sp[SK_MAX] = {{0}}, pp[PK_MAX] = {{0}};
	struct scan s = {text, text + len};
	struct vol_splice v = {0};
	int status;

	if (scan_members(&s, record_keys, sp, SK_MAX) < 0 || s.p != s.end)
		return 0;
	for (int i = 0; i < SK_MAX; i++) {
		bool required = i == SK_ID || i == SK_NAME || i == SK_POOL || i == SK_RBD_IMAGE;

		if (record_keys[i].max && !span_field_ok(&sp[i], &record_keys[i], required))
			return 0;
	}
	/* the status, by its name */
	if (!span_bare(&sp[SK_STATUS]))
		return 0;
	status = -EINVAL;
	for (int i = 0; i < VOL_STATUS_MAX; i++)
		if (sp[SK_STATUS].n - 2 == strlen(status_names[i]) &&
		    memcmp(sp[SK_STATUS].p + 1, status_names[i], sp[SK_STATUS].n - 2) == 0)
			status = i;
	if (status < 0)
		return 0;
	v.status = (enum vol_status)status;
	/* size: absent is 0; an integer that fits; json-c's int64 read of anything else */
	if (sp[SK_SIZE].p &&
	    (sp[SK_SIZE].p[0] == '-' || sp[SK_SIZE].p[0] < '0' || sp[SK_SIZE].p[0] > '9'))
		return 0;
	/* booleans: only true and false are what they look like */
	if ((sp[SK_FLATTENED].p && !span_is(&sp[SK_FLATTENED], "true") &&
	     !span_is(&sp[SK_FLATTENED], "false")) ||
	    (sp[SK_MANAGED].p && !span_is(&sp[SK_MANAGED], "true") &&
	     !span_is(&sp[SK_MANAGED], "false")))
		return 0;

	v.parent_kind = VOL_PARENT_NONE;
	if (sp[SK_PARENT].p && sp[SK_PARENT].p[0] == '{') {
		struct scan ps = {sp[SK_PARENT].p, sp[SK_PARENT].p + sp[SK_PARENT].n};
		int kind = -EINVAL;

		if (scan_members(&ps, parent_keys, pp, PK_MAX) < 0 || !span_bare(&pp[PK_KIND]))
			return 0;
		for (int i = 0; i < VOL_PARENT_MAX; i++)
			if (pp[PK_KIND].n - 2 == strlen(parent_kind_names[i]) &&
			    memcmp(pp[PK_KIND].p + 1, parent_kind_names[i], pp[PK_KIND].n - 2) == 0)
				kind = i;
		if (kind < 0)
			return 0;
		for (int i = PK_NAME; i < PK_MAX; i++)
			if (!span_field_ok(&pp[i], &parent_keys[i], false))
				return 0;
		v.parent_kind = (enum vol_parent_kind)kind;
	}

	v.name = sp[SK_NAME].p + 1;
	v.name_len = sp[SK_NAME].n - 2;
	v.pool = sp[SK_POOL].p + 1;
	v.pool_len = sp[SK_POOL].n - 2;
	if (v.parent_kind != VOL_PARENT_NONE) {
		if (pp[PK_NAME].p && pp[PK_NAME].p[0] == '"') {
			v.parent_name = pp[PK_NAME].p + 1;
			v.parent_name_len = pp[PK_NAME].n - 2;
		}
		if (pp[PK_SNAPSHOT].p && pp[PK_SNAPSHOT].p[0] == '"') {
			v.parent_snapshot = pp[PK_SNAPSHOT].p + 1;
			v.parent_snapshot_len = pp[PK_SNAPSHOT].n - 2;
		}
	}
	if (sp[SK_LABELS].p && sp[SK_LABELS].p[0] == '{') {
		v.labels = sp[SK_LABELS].p;
		v.labels_len = sp[SK_LABELS].n;
	}
	_Static_assert(sizeof(v.m) == sizeof(sp) && sizeof(v.pm) == sizeof(pp), "a span a member");
	memcpy(v.m, sp, sizeof(sp));
	memcpy(v.pm, pp, sizeof(pp));
	*ret = v;
	return 1;
}

/*
 * The buffers of a list take their pages straight from the kernel. A list of 10,000 volumes
 * grows them to megabytes, and megabytes freed into a worker thread's malloc arena stay
 * there: glibc's malloc_trim() gives back the top of the main arena only, and freeing a large
 * block raises its mmap threshold so the next ones come from the arenas. With malloc, cairnd
 * kept ~17 MB more resident after such a list; mappings go back whole when released.
 */
static size_t page_round(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (n + page - 1) / page * page;
}

int vol_buf_reserve(struct vol_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : page_round(64 * 1024);
	void *p;

	if (need <= b->cap)
		return 0;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	if (b->p)
		p = mremap(b->p, b->cap, cap, MREMAP_MAYMOVE);
	else
		p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int vol_buf_append(struct vol_buf *b, const char *s, size_t n)
{
	if (n > SIZE_MAX - b->len - 1 || vol_buf_reserve(b, b->len + n + 1) < 0)
		return -ENOMEM;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

void vol_buf_release(struct vol_buf *b)
{
	if (b->p)
		munmap(b->p, b->cap);
	*b = (struct vol_buf){0};
}

char *vol_text_alloc(size_t len)
{
	void *p = mmap(NULL, page_round(len + 1), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void vol_text_free(char *text, size_t len)
{
	if (text)
		munmap(text, page_round(len + 1));
}

static int put(struct vol_buf *b, const char *s)
{
	return vol_buf_append(b, s, strlen(s));
}

static int put_span(struct vol_buf *b, const struct vol_span *v)
{
	return vol_buf_append(b, v->p, v->n);
}

/* a string member: its text when it is a string, else the fallback text */
static int put_string_or(struct vol_buf *b, const struct vol_span *v, const char *fallback)
{
	if (v->p && v->p[0] == '"')
		return put_span(b, v);
	return put(b, fallback);
}

int vol_splice_emit(const struct vol_splice *v, struct vol_buf *out)
{
	const struct vol_span *m = v->m, *pm = v->pm;
	int r = 0;

	r |= put(out, "{\"id\":");
	r |= put_span(out, &m[SK_ID]);
	r |= put(out, ",\"name\":");
	r |= put_span(out, &m[SK_NAME]);
	r |= put(out, ",\"pool\":");
	r |= put_span(out, &m[SK_POOL]);
	r |= put(out, ",\"rbd_image\":");
	r |= put_span(out, &m[SK_RBD_IMAGE]);
	r |= put(out, ",\"size\":");
	r |= m[SK_SIZE].p ? put_span(out, &m[SK_SIZE]) : put(out, "0");
	r |= put(out, ",\"status\":");
	r |= put_span(out, &m[SK_STATUS]);
	r |= put(out, ",\"parent\":");
	if (v->parent_kind == VOL_PARENT_NONE) {
		r |= put(out, "null");
	} else {
		r |= put(out, "{\"kind\":");
		r |= put_span(out, &pm[PK_KIND]);
		r |= put(out, ",\"name\":");
		r |= put_string_or(out, &pm[PK_NAME], "\"\"");
		r |= put(out, ",\"snapshot\":");
		r |= v->parent_snapshot_len ? put_span(out, &pm[PK_SNAPSHOT]) : put(out, "null");
		r |= put(out, "}");
	}
	r |= put(out, ",\"labels\":");
	r |= m[SK_LABELS].p && m[SK_LABELS].p[0] == '{' ? put_span(out, &m[SK_LABELS])
	                                                : put(out, "{}");
	r |= put(out, ",\"qos\":");
	r |= m[SK_QOS].p && m[SK_QOS].p[0] == '{' ? put_span(out, &m[SK_QOS]) : put(out, "{}");
	r |= put(out, ",\"created\":");
	r |= put_string_or(out, &m[SK_CREATED], "\"\"");
	r |= put(out, ",\"updated\":");
	r |= put_string_or(out, &m[SK_UPDATED], "\"\"");
	if (span_is(&m[SK_FLATTENED], "true"))
		r |= put(out, ",\"flattened\":true");
	if (span_is(&m[SK_MANAGED], "true"))
		r |= put(out, ",\"managed\":true");
	if (m[SK_ERROR].p && m[SK_ERROR].p[0] == '"' && m[SK_ERROR].n > 2) {
		r |= put(out, ",\"error\":");
		r |= put_span(out, &m[SK_ERROR]);
	}
	r |= put(out, "}");
	return r < 0 ? -ENOMEM : 0;
}
