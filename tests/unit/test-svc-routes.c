/* SPDX-License-Identifier: MIT */
/* The merged route table: sorted, unique, documented, and matched as the API says. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_routes_sorted_unique_documented),
	        cmocka_unit_test(test_routes_mutating_flags),
	        cmocka_unit_test(test_routes_match_params),
	        cmocka_unit_test(test_routes_not_found),
	        cmocka_unit_test(test_routes_method_not_allowed),
	        cmocka_unit_test(test_routes_long_path),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
