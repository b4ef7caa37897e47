/* SPDX-License-Identifier: MIT */
/*
 * common/json: request bodies into C structs through dispatch tables (after systemd's
 * json_dispatch): each field names its JSON key, its type and where it goes. Unknown
 * keys, wrong types and missing required fields are -EINVAL with a message naming the
 * field. Strings are borrowed from the parsed object and live as long as it does.
 */
#ifndef CAIRN_JSON_H
#define CAIRN_JSON_H

#include <json-c/json.h>

#include "common/common.h"

enum jfield_type {
	JF_STRING, /* const char *, any non-empty string without NUL */
	JF_NAME,   /* const char *, checked with name_validate */
	JF_BOOL,   /* bool */
	JF_UINT64, /* uint64_t, a non-negative JSON integer */
	JF_UINT32, /* uint32_t */
	JF_SIZE,   /* uint64_t bytes: a JSON integer or a string like "10G" */
	JF_OBJECT, /* struct json_object * (borrowed), any JSON object */
	JF_LABELS, /* struct json_object * (borrowed), object of name -> string (<= 64) */
	JF_CUSTOM, /* parse() fills the field */
	JF_TYPE_MAX,
};

enum {
	JF_REQUIRED = 1 << 0,
	JF_NULLABLE = 1 << 1, /* null is accepted and leaves the field as it was */
};

struct jfield {
	const char *name;
	enum jfield_type type;
	size_t offset;
	unsigned flags;
	int (*parse)(struct json_object *v, void *field, const char *name, struct cairn_err *err);
};

#define JSON_MAX_DEPTH  16
#define JSON_MAX_FIELDS 64

/* Parse a request body: a JSON object, nothing after it, nesting at most JSON_MAX_DEPTH. */
int json_parse_object(const char *text, size_t len, struct json_object **ret,
                      struct cairn_err *err);

/*
 * Fill target from obj with table (terminated by an entry with name NULL). Bit i of
 * *ret_present (when not NULL) is set when table[i] was given. On failure target may be
 * partly filled; nothing else changed.
 */
int json_dispatch(struct json_object *obj, const struct jfield *table, void *target,
                  uint64_t *ret_present, struct cairn_err *err);

/* Borrowed string member or NULL when absent or not a string. */
const char *json_get_string(struct json_object *obj, const char *key);
/* Integer member or def when absent or not an integer. */
int64_t json_get_int(struct json_object *obj, const char *key, int64_t def);
/* For json_object_array_sort: objects by their "name" member (absent: ""). */
int json_cmp_by_name(const void *a, const void *b);

/* json_object_put as a cleanup function */
static inline void json_putp(struct json_object **o)
{
	if (*o)
		json_object_put(*o);
}

/* Adders that return -ENOMEM instead of losing the value silently. */
int json_add_string(struct json_object *obj, const char *key, const char *value);
int json_add_int(struct json_object *obj, const char *key, int64_t value);
int json_add_uint(struct json_object *obj, const char *key, uint64_t value);
int json_add_bool(struct json_object *obj, const char *key, bool value);
/* Takes the reference of value, even on failure. */
int json_add(struct json_object *obj, const char *key, struct json_object *value);

#endif
