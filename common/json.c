/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/json.h"

int json_parse_object(const char *text, size_t len, struct json_object **ret, struct cairn_err *err)
{
	struct json_tokener *tok;
	struct json_object *obj;
	enum json_tokener_error jerr;
	size_t used;

	if (len == 0)
		return err_set(err, -EINVAL, "request body is empty, a JSON object was expected");
	if (len > INT32_MAX)
		return err_set(err, -EMSGSIZE, "request body is too large");
	if (memchr(text, '\0', len))
		return err_set(err, -EINVAL, "request body contains a NUL byte");
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	used = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue) {
		json_object_put(obj);
		return err_set(err, -EINVAL, "request body is truncated JSON");
	}
	if (jerr != json_tokener_success || !obj) {
		json_object_put(obj);
		return err_set(err, -EINVAL, "request body is not valid JSON: %s",
		               json_tokener_error_desc(jerr));
	}
	for (; used < len; used++)
		if (!strchr(" \t\r\n", text[used])) {
			json_object_put(obj);
			return err_set(err, -EINVAL,
			               "request body has data after the JSON object at byte %zu",
			               used);
		}
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return err_set(err, -EINVAL, "request body must be a JSON object");
	}
	*ret = obj;
	return 0;
}

static const char *const jf_type_names[JF_TYPE_MAX] = {
        [JF_STRING] = "a string",
        [JF_NAME] = "a name",
        [JF_BOOL] = "true or false",
        [JF_UINT64] = "a non-negative integer",
        [JF_UINT32] = "a non-negative integer",
        [JF_SIZE] = "a size in bytes or a string like \"10G\"",
        [JF_OBJECT] = "an object",
        [JF_LABELS] = "an object of strings",
        [JF_CUSTOM] = "a valid value",
};

static int jf_wrong_type(const struct jfield *f, struct cairn_err *err)
{
	return err_set(err, -EINVAL, "field '%s' must be %s", f->name, jf_type_names[f->type]);
}

static int jf_uint(const struct jfield *f, struct json_object *v, uint64_t max, uint64_t *ret,
                   struct cairn_err *err)
{
	int64_t n;

	if (!json_object_is_type(v, json_type_int))
		return jf_wrong_type(f, err);
	/* json-c keeps values above INT64_MAX as uint64 */
	if (json_object_get_int64(v) == INT64_MAX) {
		uint64_t u = json_object_get_uint64(v);
		if (u > max)
			return err_set(err, -ERANGE, "field '%s' is too large", f->name);
		*ret = u;
		return 0;
	}
	n = json_object_get_int64(v);
	if (n < 0)
		return err_set(err, -EINVAL, "field '%s' must not be negative", f->name);
	if ((uint64_t)n > max)
		return err_set(err, -ERANGE, "field '%s' is too large (at most %" PRIu64 ")",
		               f->name, max);
	*ret = (uint64_t)n;
	return 0;
}

static int jf_string(const struct jfield *f, struct json_object *v, const char **ret,
                     struct cairn_err *err)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return jf_wrong_type(f, err);
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return err_set(err, -EINVAL, "field '%s' contains a NUL character", f->name);
	if (!*s)
		return err_set(err, -EINVAL, "field '%s' must not be empty", f->name);
	*ret = s;
	return 0;
}

static int jf_labels(const struct jfield *f, struct json_object *v, struct cairn_err *err)
{
	int n = 0;

	if (!json_object_is_type(v, json_type_object))
		return jf_wrong_type(f, err);
	json_object_object_foreach (v, key, val) {
		const char *s;
		char what[96];

		if (++n > 64)
			return err_set(err, -EINVAL, "field '%s' has more than 64 entries",
			               f->name);
		snprintf(what, sizeof(what), "%s key", f->name);
		if (name_validate(key, what, err) < 0)
			return err->code;
		if (!json_object_is_type(val, json_type_string))
			return err_set(err, -EINVAL, "field '%s.%s' must be a string", f->name,
			               key);
		s = json_object_get_string(val);
		if ((size_t)json_object_get_string_len(val) != strlen(s) || strlen(s) > 255)
			return err_set(err, -EINVAL,
			               "field '%s.%s' must be at most 255 characters without NUL",
			               f->name, key);
		for (const char *p = s; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return err_set(err, -EINVAL,
				               "field '%s.%s' contains a control character",
				               f->name, key);
	}
	return 0;
}

static int jf_fill(const struct jfield *f, struct json_object *v, void *target,
                   struct cairn_err *err)
{
	void *field = (char *)target + f->offset;
	uint64_t u;
	int r;

	switch (f->type) {
	case JF_STRING:
		return jf_string(f, v, (const char **)field, err);
	case JF_NAME: {
		const char *s;
		if (!json_object_is_type(v, json_type_string))
			return jf_wrong_type(f, err);
		s = json_object_get_string(v);
		if ((size_t)json_object_get_string_len(v) != strlen(s))
			return err_set(err, -EINVAL,
			               "the name of field '%s' contains a NUL character", f->name);
		r = name_validate(s, f->name, err);
		if (r < 0)
			return r;
		*(const char **)field = s;
		return 0;
	}
	case JF_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return jf_wrong_type(f, err);
		*(bool *)field = json_object_get_boolean(v);
		return 0;
	case JF_UINT64:
		return jf_uint(f, v, UINT64_MAX, (uint64_t *)field, err);
	case JF_UINT32:
		r = jf_uint(f, v, UINT32_MAX, &u, err);
		if (r < 0)
			return r;
		*(uint32_t *)field = (uint32_t)u;
		return 0;
	case JF_SIZE:
		if (json_object_is_type(v, json_type_string)) {
			r = size_parse(json_object_get_string(v), &u);
			if (r == -ERANGE)
				return err_set(err, -ERANGE, "field '%s' is too large", f->name);
			if (r < 0)
				return err_set(err, -EINVAL,
				               "field '%s': '%s' is not a size (bytes, or a number"
				               " with K, M, G, T, P)",
				               f->name, json_object_get_string(v));
			*(uint64_t *)field = u;
			return 0;
		}
		return jf_uint(f, v, UINT64_MAX, (uint64_t *)field, err);
	case JF_OBJECT:
		if (!json_object_is_type(v, json_type_object))
			return jf_wrong_type(f, err);
		*(struct json_object **)field = v;
		return 0;
	case JF_LABELS:
		r = jf_labels(f, v, err);
		if (r < 0)
			return r;
		*(struct json_object **)field = v;
		return 0;
	case JF_CUSTOM:
		return f->parse(v, field, f->name, err);
	case JF_TYPE_MAX:
		break;
	}
	return err_set(err, -EINVAL, "field '%s' has no parser", f->name);
}

int json_dispatch(struct json_object *obj, const struct jfield *table, void *target,
                  uint64_t *ret_present, struct cairn_err *err)
{
	uint64_t present = 0;
	size_t n = 0;
	int r;

	while (table[n].name)
		n++;
	if (n > JSON_MAX_FIELDS)
		return err_set(err, -EINVAL, "dispatch table too large");

	json_object_object_foreach (obj, key, val) {
		size_t i;

		for (i = 0; i < n; i++)
			if (strcmp(table[i].name, key) == 0)
				break;
		if (i == n)
			return err_set(err, -EINVAL, "unknown field '%.64s'", key);
		present |= 1ULL << i;
		if (json_object_is_type(val, json_type_null)) {
			if (table[i].flags & JF_NULLABLE)
				continue;
			return err_set(err, -EINVAL, "field '%s' must not be null", key);
		}
		r = jf_fill(&table[i], val, target, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++)
		if ((table[i].flags & JF_REQUIRED) && !(present & (1ULL << i)))
			return err_set(err, -EINVAL, "field '%s' is required", table[i].name);
	if (ret_present)
		*ret_present = present;
	return 0;
}

const char *json_get_string(struct json_object *obj, const char *key)
{
	struct json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

int64_t json_get_int(struct json_object *obj, const char *key, int64_t def)
{
	struct json_object *v;

	if (!obj || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return def;
	return json_object_get_int64(v);
}

int json_add(struct json_object *obj, const char *key, struct json_object *value)
{
	if (!value)
		return -ENOMEM;
	if (json_object_object_add(obj, key, value) < 0) {
		json_object_put(value);
		return -ENOMEM;
	}
	return 0;
}

int json_add_string(struct json_object *obj, const char *key, const char *value)
{
	if (!value) /* json-c represents null as a NULL member */
		return json_object_object_add(obj, key, NULL) < 0 ? -ENOMEM : 0;
	return json_add(obj, key, json_object_new_string(value));
}

int json_add_int(struct json_object *obj, const char *key, int64_t value)
{
	return json_add(obj, key, json_object_new_int64(value));
}

int json_add_uint(struct json_object *obj, const char *key, uint64_t value)
{
	return json_add(obj, key, json_object_new_uint64(value));
}

int json_add_bool(struct json_object *obj, const char *key, bool value)
{
	return json_add(obj, key, json_object_new_boolean(value));
}

int json_cmp_by_name(const void *a, const void *b)
{
	struct json_object *const *x = a, *const *y = b;
	const char *nx = json_get_string(*x, "name");
	const char *ny = json_get_string(*y, "name");

	return strcmp(nx ? nx : "", ny ? ny : "");
}
