/* SPDX-License-Identifier: MIT */
/*
 * common/json: a request body into a struct through a dispatch table with a field of every
 * type, as the routes do. Properties: a body that dispatches gives non-empty strings
 * without NULs, valid names, sizes that parse, and labels of at most 64 strings.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "tests/fuzz/fuzz.h"

#include "common/json.h"

struct all_types {
	const char *name, *image, *note;
	bool flag;
	uint64_t count, size;
	uint32_t depth;
	struct json_object *qos, *labels;
	int custom;
};

static int parse_custom(struct json_object *v, void *field, const char *name, struct cairn_err *err)
{
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > 4)
		return err_set(err, -EINVAL, "field '%s' must be an array of at most 4", name);
	*(int *)field = (int)json_object_array_length(v);
	return 0;
}

static const struct jfield table[] = {
        {"name", JF_NAME, offsetof(struct all_types, name), JF_REQUIRED, NULL},
        {"image", JF_NAME, offsetof(struct all_types, image), JF_NULLABLE, NULL},
        {"note", JF_STRING, offsetof(struct all_types, note), 0, NULL},
        {"flag", JF_BOOL, offsetof(struct all_types, flag), 0, NULL},
        {"count", JF_UINT64, offsetof(struct all_types, count), 0, NULL},
        {"size", JF_SIZE, offsetof(struct all_types, size), JF_NULLABLE, NULL},
        {"depth", JF_UINT32, offsetof(struct all_types, depth), 0, NULL},
        {"qos", JF_OBJECT, offsetof(struct all_types, qos), 0, NULL},
        {"labels", JF_LABELS, offsetof(struct all_types, labels), 0, NULL},
        {"custom", JF_CUSTOM, offsetof(struct all_types, custom), 0, parse_custom},
        {NULL, 0, 0, 0, NULL},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(json_putp) struct json_object *obj = NULL;
	struct all_types t = {0};
	struct cairn_err err = {0};
	uint64_t present = 0;
	int r;

	r = json_parse_object((const char *)data, size, &obj, &err);
	if (r < 0) {
		FUZZ_ASSERT(!obj && err.code == r && err.msg[0]);
		return 0;
	}
	FUZZ_ASSERT(obj && json_object_is_type(obj, json_type_object));
	(void)json_get_string(obj, "name");
	(void)json_get_int(obj, "count", -1);
	r = json_dispatch(obj, table, &t, &present, &err);
	if (r < 0) {
		FUZZ_ASSERT(err.code == r && err.msg[0]);
		return 0;
	}
	FUZZ_ASSERT(present & 1);
	FUZZ_ASSERT(t.name && name_validate(t.name, "name", &err) == 0);
	if (t.image)
		FUZZ_ASSERT(name_validate(t.image, "image", &err) == 0);
	if (t.note)
		FUZZ_ASSERT(t.note[0] != '\0');
	if (t.labels) {
		FUZZ_ASSERT(json_object_is_type(t.labels, json_type_object));
		FUZZ_ASSERT(json_object_object_length(t.labels) <= 64);
		json_object_object_foreach (t.labels, k, v) {
			FUZZ_ASSERT(k && json_object_is_type(v, json_type_string));
		}
	}
	FUZZ_ASSERT(t.custom >= 0 && t.custom <= 4);
	/* the parsed object prints and parses back to an object */
	{
		const char *text = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
		_cleanup_(json_putp) struct json_object *back = NULL;
		struct cairn_err e2 = {0};

		FUZZ_ASSERT(text);
		FUZZ_ASSERT(json_parse_object(text, strlen(text), &back, &e2) == 0);
	}
	return 0;
}
