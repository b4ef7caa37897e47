/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/json.h"

struct create_params {
	const char *name;
	const char *image;
	uint64_t size;
	bool thick;
	uint32_t depth;
	struct json_object *labels;
};

static const struct jfield create_table[] = {
        {"name", JF_NAME, offsetof(struct create_params, name), JF_REQUIRED, NULL},
        {"image", JF_NAME, offsetof(struct create_params, image), JF_NULLABLE, NULL},
        {"size", JF_SIZE, offsetof(struct create_params, size), 0, NULL},
        {"thick", JF_BOOL, offsetof(struct create_params, thick), 0, NULL},
        {"depth", JF_UINT32, offsetof(struct create_params, depth), 0, NULL},
        {"labels", JF_LABELS, offsetof(struct create_params, labels), 0, NULL},
        {NULL, 0, 0, 0, NULL},
};

/* Parses text and dispatches it; returns the result, the message in err. */
static int run(const char *text, struct create_params *p, uint64_t *present, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *obj = NULL;
	int r;

	memset(p, 0, sizeof(*p));
	err_clear(err);
	r = json_parse_object(text, strlen(text), &obj, err);
	if (r < 0)
		return r;
	r = json_dispatch(obj, create_table, p, present, err);
	/* borrowed strings die with obj: tests only look at numbers after this */
	p->name = p->image = NULL;
	p->labels = NULL;
	return r;
}

static void test_json_dispatch_ok(void **state)
{
	_cleanup_(json_putp) struct json_object *obj = NULL;
	const char *text = "{\"name\":\"web1\",\"size\":\"10G\",\"thick\":true,\"depth\":3,"
	                   "\"labels\":{\"env\":\"prod\"}}";
	struct create_params p = {0};
	struct cairn_err err = {0};
	uint64_t present = 0;

	assert_int_equal(json_parse_object(text, strlen(text), &obj, &err), 0);
	assert_int_equal(json_dispatch(obj, create_table, &p, &present, &err), 0);
	assert_string_equal(p.name, "web1");
	assert_null(p.image);
	assert_true(p.size == 10ULL << 30);
	assert_true(p.thick);
	assert_int_equal(p.depth, 3);
	assert_string_equal(json_get_string(p.labels, "env"), "prod");
	assert_int_equal(present, 1 | 4 | 8 | 16 | 32);
}

static void test_json_size_as_integer(void **state)
{
	struct create_params p;
	struct cairn_err err;

	assert_int_equal(run("{\"name\":\"a\",\"size\":1048576}", &p, NULL, &err), 0);
	assert_int_equal(p.size, 1048576);
	assert_int_equal(run("{\"name\":\"a\",\"size\":18446744073709551615}", &p, NULL, &err), 0);
	assert_true(p.size == UINT64_MAX);
}

static void test_json_unknown_field(void **state)
{
	struct create_params p;
	struct cairn_err err;

	assert_int_equal(run("{\"name\":\"a\",\"colour\":1}", &p, NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "unknown field 'colour'");
}

static void test_json_missing_required(void **state)
{
	struct create_params p;
	struct cairn_err err;

	assert_int_equal(run("{\"size\":512}", &p, NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "field 'name' is required");
}

static void test_json_wrong_types(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
	        {"{\"name\":5}", "field 'name' must be a name"},
	        {"{\"name\":\"a\",\"thick\":\"yes\"}", "field 'thick' must be true or false"},
	        {"{\"name\":\"a\",\"depth\":1.5}", "field 'depth' must be a non-negative integer"},
	        {"{\"name\":\"a\",\"depth\":-1}", "field 'depth' must not be negative"},
	        {"{\"name\":\"a\",\"depth\":4294967296}",
	         "field 'depth' is too large (at most 4294967295)"},
	        {"{\"name\":\"a\",\"size\":\"ten\"}",
	         "field 'size': 'ten' is not a size (bytes, or a number with K, M, G, T, P)"},
	        {"{\"name\":\"a\",\"size\":\"99999E\"}", "field 'size' is too large"},
	        {"{\"name\":\"a\",\"size\":[1]}",
	         "field 'size' must be a size in bytes or a string like \"10G\""},
	        {"{\"name\":\"a\",\"labels\":[]}", "field 'labels' must be an object of strings"},
	        {"{\"name\":\"a\",\"labels\":{\"k\":1}}", "field 'labels.k' must be a string"},
	        {"{\"name\":null}", "field 'name' must not be null"},
	};
	struct create_params p;
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_not_equal(run(cases[i].text, &p, NULL, &err), 0);
		assert_string_equal(err.msg, cases[i].msg);
	}
}

static void test_json_nullable(void **state)
{
	struct create_params p;
	struct cairn_err err;
	uint64_t present;

	assert_int_equal(run("{\"name\":\"a\",\"image\":null}", &p, &present, &err), 0);
	assert_int_equal(present, 1 | 2);
}

static void test_json_invalid_name(void **state)
{
	struct create_params p;
	struct cairn_err err;

	assert_int_equal(run("{\"name\":\"a/b\"}", &p, NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "name has a character that is not allowed"));
	assert_null(strstr(err.msg, "name name"));
	assert_int_equal(run("{\"name\":\"a\\u0000b\"}", &p, NULL, &err), -EINVAL);
	assert_int_equal(run("{\"name\":\"a\",\"labels\":{\"-x\":\"v\"}}", &p, NULL, &err),
	                 -EINVAL);
	assert_non_null(strstr(err.msg, "labels key name must start"));
	assert_int_equal(run("{\"name\":\"a\",\"labels\":{\"k\":\"a\\nb\"}}", &p, NULL, &err),
	                 -EINVAL);
	assert_string_equal(err.msg, "field 'labels.k' contains a control character");
}

static void test_json_bad_documents(void **state)
{
	static const char *const bad[] = {"",
	                                  "{",
	                                  "{\"name\":\"a\"",
	                                  "[1]",
	                                  "\"x\"",
	                                  "42",
	                                  "{\"name\":\"a\"} x",
	                                  "{'name':'a'}",
	                                  "{\"name\":\"a\",}",
	                                  "nul"};
	_cleanup_(json_putp) struct json_object *obj = NULL;
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err_clear(&err);
		assert_int_equal(json_parse_object(bad[i], strlen(bad[i]), &obj, &err), -EINVAL);
		assert_null(obj);
		assert_true(err.msg[0] != '\0');
	}
}

static void test_json_depth_limit(void **state)
{
	_cleanup_(json_putp) struct json_object *obj = NULL;
	char deep[256] = "{\"a\":";
	struct cairn_err err = {0};
	size_t n = strlen(deep);

	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	assert_int_equal(json_parse_object(deep, n, &obj, &err), -EINVAL);
	assert_null(obj);
}

static void test_json_nul_in_body(void **state)
{
	_cleanup_(json_putp) struct json_object *obj = NULL;
	struct cairn_err err = {0};

	assert_int_equal(json_parse_object("{}\0{}", 5, &obj, &err), -EINVAL);
	assert_string_equal(err.msg, "request body contains a NUL byte");
}

static void test_json_adders(void **state)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();

	assert_int_equal(json_add_string(o, "s", "v"), 0);
	assert_int_equal(json_add_string(o, "n", NULL), 0);
	assert_int_equal(json_add_uint(o, "u", UINT64_MAX), 0);
	assert_int_equal(json_add_int(o, "i", -3), 0);
	assert_int_equal(json_add_bool(o, "b", true), 0);
	assert_string_equal(
	        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	        "{\"s\":\"v\",\"n\":null,\"u\":18446744073709551615,\"i\":-3,\"b\":true}");
	assert_int_equal(json_get_int(o, "i", 0), -3);
	assert_int_equal(json_get_int(o, "s", 9), 9);
	assert_null(json_get_string(o, "u"));
}

/* Sorted by "name", one without a name first (as ""). */
static void test_json_cmp_by_name(void **state)
{
	struct json_object *a = json_tokener_parse(
	        "[{\"name\":\"web2\"},{\"name\":\"Web\"},{\"id\":1},{\"name\":\"db\"}]");
	const char *want[] = {NULL, "Web", "db", "web2"};

	(void)state;
	assert_non_null(a);
	json_object_array_sort(a, json_cmp_by_name);
	for (size_t i = 0; i < 4; i++) {
		const char *n = json_get_string(json_object_array_get_idx(a, i), "name");

		if (want[i])
			assert_string_equal(n, want[i]);
		else
			assert_null(n);
	}
	json_object_put(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_json_dispatch_ok),
	        cmocka_unit_test(test_json_size_as_integer),
	        cmocka_unit_test(test_json_unknown_field),
	        cmocka_unit_test(test_json_missing_required),
	        cmocka_unit_test(test_json_wrong_types),
	        cmocka_unit_test(test_json_nullable),
	        cmocka_unit_test(test_json_invalid_name),
	        cmocka_unit_test(test_json_bad_documents),
	        cmocka_unit_test(test_json_depth_limit),
	        cmocka_unit_test(test_json_nul_in_body),
	        cmocka_unit_test(test_json_adders),
	        cmocka_unit_test(test_json_cmp_by_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
