/* SPDX-License-Identifier: MIT */
/*
 * backup: records — the stored JSON form, its parser, and the API object.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "backup/backup-internal.h"
#include "common/json.h"

static const char *const kind_names[BACKUP_KIND_MAX] = {
        [BACKUP_KIND_FULL] = "full",
        [BACKUP_KIND_INCREMENTAL] = "incremental",
};

static const char *const status_names[BACKUP_STATUS_MAX] = {
        [BACKUP_STATUS_CREATING] = "creating",
        [BACKUP_STATUS_AVAILABLE] = "available",
        [BACKUP_STATUS_FAILED] = "failed",
        [BACKUP_STATUS_DELETING] = "deleting",
};

static const char *const check_names[BACKUP_RESTORE_CHECK_MAX] = {
        [BACKUP_RESTORE_CHECK_WRITTEN] = "written",
        [BACKUP_RESTORE_CHECK_READBACK] = "readback",
};

/* The index of s in names[n], or -EINVAL. */
static int name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; s && i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -EINVAL;
}

const char *backup_kind_to_string(enum backup_kind k)
{
	return (unsigned)k < BACKUP_KIND_MAX ? kind_names[k] : NULL;
}

int backup_kind_from_string(const char *s)
{
	return name_index(kind_names, BACKUP_KIND_MAX, s);
}

const char *backup_status_to_string(enum backup_status s)
{
	return (unsigned)s < BACKUP_STATUS_MAX ? status_names[s] : NULL;
}

int backup_status_from_string(const char *s)
{
	return name_index(status_names, BACKUP_STATUS_MAX, s);
}

const char *backup_restore_check_to_string(enum backup_restore_check c)
{
	return (unsigned)c < BACKUP_RESTORE_CHECK_MAX ? check_names[c] : NULL;
}

int backup_restore_check_from_string(const char *s)
{
	return name_index(check_names, BACKUP_RESTORE_CHECK_MAX, s);
}

void bk_time_now(char buf[BACKUP_TIME_MAX])
{
	struct timespec ts;
	struct tm tm;
	char sec[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, BACKUP_TIME_MAX, "%.20s.%03dZ", sec, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* ---- parse --------------------------------------------------------------------------------- */

/* A string member into buf. required: absent is an error; null and absent leave "". */
static int get_str(struct json_object *o, const char *key, char *buf, size_t len, bool required,
                   struct cairn_err *err)
{
	struct json_object *v = NULL;

	buf[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return err_set(err, -EBADMSG, "backup record has no '%s'", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return err_set(err, -EBADMSG, "backup record: '%s' is not a string", key);
	if (str_copy(buf, len, json_object_get_string(v)) < 0)
		return err_set(err, -EBADMSG, "backup record: '%s' is too long", key);
	return 0;
}

static int get_u64(struct json_object *o, const char *key, uint64_t *ret, struct cairn_err *err)
{
	struct json_object *v = NULL;

	*ret = 0;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
		return err_set(err, -EBADMSG, "backup record: '%s' is not a non-negative integer",
		               key);
	*ret = json_object_get_uint64(v);
	return 0;
}

int backup_record_parse(const char *text, struct backup_record *ret, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *o = NULL;
	struct json_object *sums = NULL;
	struct backup_record r;
	char buf[32];
	int v;

	memset(&r, 0, sizeof(r));
	o = text ? json_tokener_parse(text) : NULL;
	if (!o || !json_object_is_type(o, json_type_object))
		return err_set(err, -EBADMSG, "backup record is not a JSON object");
	if (get_str(o, "id", r.id, sizeof(r.id), true, err) < 0 ||
	    get_str(o, "volume", r.volume, sizeof(r.volume), true, err) < 0 ||
	    get_str(o, "volume_id", r.volume_id, sizeof(r.volume_id), true, err) < 0 ||
	    get_str(o, "parent", r.parent, sizeof(r.parent), false, err) < 0 ||
	    get_str(o, "snapshot", r.snapshot, sizeof(r.snapshot), false, err) < 0 ||
	    get_str(o, "label", r.label, sizeof(r.label), false, err) < 0 ||
	    get_str(o, "created", r.created, sizeof(r.created), false, err) < 0 ||
	    get_str(o, "updated", r.updated, sizeof(r.updated), false, err) < 0 ||
	    get_str(o, "path", r.path, sizeof(r.path), false, err) < 0 ||
	    get_str(o, "why_full", r.why_full, sizeof(r.why_full), false, err) < 0 ||
	    get_str(o, "op", r.op, sizeof(r.op), false, err) < 0 ||
	    get_str(o, "error", r.error, sizeof(r.error), false, err) < 0 ||
	    get_str(o, "set", r.set, sizeof(r.set), false, err) < 0 ||
	    get_str(o, "group", r.group, sizeof(r.group), false, err) < 0 ||
	    get_u64(o, "size", &r.size, err) < 0 || get_u64(o, "bytes", &r.bytes, err) < 0)
		return err->code;

	if (get_str(o, "kind", buf, sizeof(buf), true, err) < 0)
		return err->code;
	if ((v = backup_kind_from_string(buf)) < 0)
		return err_set(err, -EBADMSG, "backup record: unknown kind '%s'", buf);
	r.kind = (enum backup_kind)v;
	if (get_str(o, "target", buf, sizeof(buf), true, err) < 0)
		return err->code;
	if ((v = backup_target_from_string(buf)) < 0)
		return err_set(err, -EBADMSG, "backup record: unknown target '%s'", buf);
	r.target = (enum backup_target)v;
	if (get_str(o, "status", buf, sizeof(buf), true, err) < 0)
		return err->code;
	if ((v = backup_status_from_string(buf)) < 0)
		return err_set(err, -EBADMSG, "backup record: unknown status '%s'", buf);
	r.status = (enum backup_status)v;

	if (json_object_object_get_ex(o, "checksums", &sums) &&
	    !json_object_is_type(sums, json_type_null)) {
		if (!json_object_is_type(sums, json_type_object))
			return err_set(err, -EBADMSG,
			               "backup record: 'checksums' is not an object");
		if (get_str(sums, "file", r.checksum_file, sizeof(r.checksum_file), false, err) <
		            0 ||
		    get_str(sums, "volume", r.checksum_volume, sizeof(r.checksum_volume), false,
		            err) < 0)
			return err->code;
	}
	if (r.set[0] && !r.group[0])
		return err_set(err, -EBADMSG, "backup record '%s': a set without its group", r.id);
	if (r.kind == BACKUP_KIND_INCREMENTAL && !r.parent[0])
		return err_set(err, -EBADMSG, "backup record '%s': incremental without a parent",
		               r.id);
	*ret = r;
	return 0;
}

/* ---- format -------------------------------------------------------------------------------- */

static int add_str_or_null(struct json_object *o, const char *key, const char *s)
{
	if (!s || !*s)
		return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
	return json_add_string(o, key, s);
}

static struct json_object *record_object(const struct backup_record *r, bool api)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	struct json_object *sums = json_object_new_object();

	if (!o || !sums) {
		json_object_put(sums);
		return NULL;
	}
	if (json_add_string(o, "id", r->id) < 0 || json_add_string(o, "volume", r->volume) < 0 ||
	    json_add_string(o, "volume_id", r->volume_id) < 0 ||
	    json_add_string(o, "kind", backup_kind_to_string(r->kind)) < 0 ||
	    (api && json_add_bool(o, "incremental", r->kind == BACKUP_KIND_INCREMENTAL) < 0) ||
	    json_add_string(o, "target", backup_target_to_string(r->target)) < 0 ||
	    add_str_or_null(o, "parent", r->parent) < 0 ||
	    json_add_string(o, "status", backup_status_to_string(r->status)) < 0 ||
	    json_add_uint(o, "size", r->size) < 0 || json_add_uint(o, "bytes", r->bytes) < 0 ||
	    json_add_string(o, "snapshot", r->snapshot) < 0 ||
	    add_str_or_null(o, "label", r->label) < 0 ||
	    json_add_string(o, "created", r->created) < 0 ||
	    json_add_string(o, "updated", r->updated) < 0) {
		json_object_put(sums);
		return NULL;
	}
	if (json_add(o, "checksums", sums) < 0 ||
	    add_str_or_null(sums, "file", r->checksum_file) < 0 ||
	    add_str_or_null(sums, "volume", r->checksum_volume) < 0 ||
	    (api && json_add_string(sums, "volume_algorithm", BACKUP_VOLUME_DIGEST) < 0))
		return NULL;
	if ((r->path[0] && json_add_string(o, "path", r->path) < 0) ||
	    (r->why_full[0] && json_add_string(o, "why_full", r->why_full) < 0) ||
	    (r->op[0] && !api && json_add_string(o, "op", r->op) < 0) ||
	    (r->error[0] && json_add_string(o, "error", r->error) < 0) ||
	    (r->set[0] &&
	     (json_add_string(o, "set", r->set) < 0 || json_add_string(o, "group", r->group) < 0)))
		return NULL;
	return TAKE_PTR(o);
}

char *backup_record_format(const struct backup_record *r)
{
	_cleanup_(json_putp) struct json_object *o = record_object(r, false);

	if (!o)
		return NULL;
	return strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
}

struct json_object *backup_record_to_json(const struct backup_record *r)
{
	return record_object(r, true);
}
