/* SPDX-License-Identifier: MIT */
/* The merged route table: sorted, unique, documented, and matched as the API says. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svc/svc-internal.h"

static int setup(void **state)
{
	static struct route_table t;

	if (route_table_build(&t) < 0)
		return -1;
	*state = &t;
	return 0;
}

static int teardown(void **state)
{
	route_table_release(*state);
	return 0;
}

static void test_routes_sorted_unique_documented(void **state)
{
	struct route_table *t = *state;

	assert_true(t->n >= 9);
	for (size_t i = 0; i < t->n; i++) {
		const struct route *r = t->entries[i];
		assert_non_null(r->handler);
		assert_non_null(r->usage);
		assert_true(strlen(r->usage) > 3);
		assert_int_equal(r->pattern[0], '/');
		if (i > 0) {
			int c = strcmp(t->entries[i - 1]->pattern, r->pattern);
			assert_true(c < 0 || (c == 0 && t->entries[i - 1]->method < r->method));
		}
	}
}

static void test_routes_mutating_flags(void **state)
{
	struct route_table *t = *state;

	/* every route that is not a GET changes something and must be refused read-only */
	for (size_t i = 0; i < t->n; i++) {
		const struct route *r = t->entries[i];
		if (r->method != HTTP_METHOD_GET)
			assert_true(r->flags & ROUTE_MUTATING);
		else
			assert_false(r->flags & ROUTE_MUTATING);
	}
}

static int match(struct route_table *t, enum http_method m, const char *path,
                 const struct route **r, const char *params[ROUTE_PARAMS_MAX], char *allow)
{
	static char scratch[512];

	return route_match(t, m, path, scratch, sizeof(scratch), params, r, allow, 128);
}

static void test_routes_match_params(void **state)
{
	struct route_table *t = *state;
	const char *params[ROUTE_PARAMS_MAX] = {0};
	const struct route *r = NULL;
	char allow[128];

	assert_int_equal(match(t, HTTP_METHOD_GET, "/v1/operations/abc/wait", &r, params, allow),
	                 0);
	assert_string_equal(r->pattern, "/v1/operations/{id}/wait");
	assert_string_equal(params[0], "abc");
	assert_int_equal(match(t, HTTP_METHOD_GET, "/v1/health", &r, params, allow), 0);
	assert_string_equal(r->pattern, "/v1/health");
	/* a trailing slash is the same resource */
	assert_int_equal(match(t, HTTP_METHOD_GET, "/v1/health/", &r, params, allow), 0);
	/* HEAD is answered by the GET route */
	assert_int_equal(match(t, HTTP_METHOD_HEAD, "/v1/pools", &r, params, allow), 0);
	assert_int_equal(r->method, HTTP_METHOD_GET);
}

static void test_routes_not_found(void **state)
{
	struct route_table *t = *state;
	const char *params[ROUTE_PARAMS_MAX] = {0};
	const struct route *r = NULL;
	char allow[128];

	assert_int_equal(match(t, HTTP_METHOD_GET, "/v1/nothing", &r, params, allow), -ENOENT);
	assert_int_equal(match(t, HTTP_METHOD_GET, "/", &r, params, allow), -ENOENT);
	assert_int_equal(match(t, HTTP_METHOD_GET, "v1/health", &r, params, allow), -ENOENT);
	assert_int_equal(match(t, HTTP_METHOD_GET, "/v1//health", &r, params, allow), -ENOENT);
	assert_int_equal(match(t, HTTP_METHOD_GET, "/v1/operations//wait", &r, params, allow),
	                 -ENOENT);
	assert_int_equal(match(t, HTTP_METHOD_GET, "/v1/health/extra", &r, params, allow), -ENOENT);
}

static void test_routes_method_not_allowed(void **state)
{
	struct route_table *t = *state;
	const char *params[ROUTE_PARAMS_MAX] = {0};
	const struct route *r = NULL;
	char allow[128];

	assert_int_equal(match(t, HTTP_METHOD_PUT, "/v1/operations/x", &r, params, allow),
	                 -ENOTSUP);
	assert_string_equal(allow, "GET, DELETE");
	assert_int_equal(match(t, HTTP_METHOD_DELETE, "/v1/health", &r, params, allow), -ENOTSUP);
	assert_string_equal(allow, "GET");
}

static void test_routes_long_path(void **state)
{
	struct route_table *t = *state;
	const char *params[ROUTE_PARAMS_MAX] = {0};
	const struct route *r = NULL;
	char allow[128], path[2048];

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(match(t, HTTP_METHOD_GET, path, &r, params, allow), -ENOENT);
}

/* Route patterns go into /metrics labels as they are: nothing in them needs escaping, and
 * none is the "unmatched" label of requests without a route. */
static void test_routes_metric_labels(void **state)
{
	struct route_table *t = *state;

	for (size_t i = 0; i < t->n; i++) {
		const char *p = t->entries[i]->pattern;
		assert_null(strpbrk(p, "\"\\\n"));
		assert_string_not_equal(p, "unmatched");
	}
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_metric_operations_by_kind(void **state)
{
	struct metric_op_counts c;
	char *text;

	(void)state;
	assert_int_equal(metric_op_counts_init(&c), 0);
	assert_int_equal(metric_op_counts_add(&c, "image.import", OP_RUNNING), 0);
	assert_int_equal(metric_op_counts_add(&c, "image.import", OP_RUNNING), 0);
	assert_int_equal(metric_op_counts_add(&c, "image.import", OP_FAILED), 0);
	assert_int_equal(metric_op_counts_add(&c, "volume.delete", OP_SUCCEEDED), 0);
	assert_int_equal(metric_op_counts_add(&c, "image.import", OP_STATUS_MAX), -EINVAL);
	text = metric_operations_text(&c);
	assert_non_null(text);

	/* one HELP and one TYPE for the metric, before its samples */
	assert_int_equal(count_of(text, "# HELP cairn_operations "), 1);
	assert_int_equal(count_of(text, "# TYPE cairn_operations gauge\n"), 1);
	assert_true(strstr(text, "# TYPE") < strstr(text, "\ncairn_operations{"));
	assert_non_null(
	        strstr(text, "\ncairn_operations{kind=\"image.import\",status=\"running\"} 2\n"));
	assert_non_null(
	        strstr(text, "\ncairn_operations{kind=\"image.import\",status=\"failed\"} 1\n"));
	assert_non_null(
	        strstr(text, "\ncairn_operations{kind=\"image.import\",status=\"queued\"} 0\n"));
	assert_non_null(strstr(
	        text, "\ncairn_operations{kind=\"volume.delete\",status=\"succeeded\"} 1\n"));
	/* a kind with no operation yet is shown at 0, each state once */
	assert_int_equal(count_of(text, "cairn_operations{kind=\"backup.verify\","), OP_STATUS_MAX);
	assert_non_null(
	        strstr(text, "cairn_operations{kind=\"backup.verify\",status=\"canceled\"} 0\n"));
	/* every line ends, the last included */
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);
	metric_op_counts_release(&c);
}

static void test_metric_operations_escaped(void **state)
{
	struct metric_op_counts c;
	char *text;

	(void)state;
	assert_int_equal(metric_op_counts_init(&c), 0);
	assert_int_equal(metric_op_counts_add(&c, "odd\"kind\\with\nall", OP_QUEUED), 0);
	text = metric_operations_text(&c);
	assert_non_null(text);
	assert_non_null(strstr(
	        text,
	        "cairn_operations{kind=\"odd\\\"kind\\\\with\\nall\",status=\"queued\"} 1\n"));
	/* the raw newline never reaches the output: each line is a comment or a sample */
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		assert_true(line[0] == '#' || strncmp(line, "cairn_operations{kind=\"", 23) == 0);
	}
	free(text);
	metric_op_counts_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_routes_sorted_unique_documented),
	        cmocka_unit_test(test_routes_mutating_flags),
	        cmocka_unit_test(test_routes_match_params),
	        cmocka_unit_test(test_routes_not_found),
	        cmocka_unit_test(test_routes_method_not_allowed),
	        cmocka_unit_test(test_routes_long_path),
	        cmocka_unit_test(test_routes_metric_labels),
	        cmocka_unit_test(test_metric_operations_by_kind),
	        cmocka_unit_test(test_metric_operations_escaped),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
