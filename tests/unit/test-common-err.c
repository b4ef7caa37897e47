/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"

static void test_err_set_first_wins(void **state)
{
	struct cairn_err err = {0};

	assert_int_equal(err_set(&err, -ENOENT, "volume '%s' not found", "web1"), -ENOENT);
	assert_int_equal(err_set(&err, -EIO, "second"), -EIO);
	assert_int_equal(err.code, -ENOENT);
	assert_string_equal(err.msg, "volume 'web1' not found");
}

static void test_err_set_positive_code_negated(void **state)
{
	struct cairn_err err = {0};

	assert_int_equal(err_set(&err, EEXIST, "x"), -EEXIST);
	assert_int_equal(err.code, -EEXIST);
}

static void test_err_set_zero_is_eio(void **state)
{
	struct cairn_err err = {0};

	assert_int_equal(err_set(&err, 0, "x"), -EIO);
}

static void test_err_set_null_err(void **state)
{
	assert_int_equal(err_set(NULL, -EBUSY, "x"), -EBUSY);
}

static void test_err_set_truncates_long_message(void **state)
{
	struct cairn_err err = {0};
	char big[1000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_set(&err, -EINVAL, "%s", big);
	assert_int_equal(strlen(err.msg), sizeof(err.msg) - 1);
}

static void test_err_clear(void **state)
{
	struct cairn_err err = {0};

	err_set(&err, -EINVAL, "x");
	err_clear(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
	err_set(&err, -ENOENT, "y");
	assert_int_equal(err.code, -ENOENT);
}

static void test_err_http_status(void **state)
{
	assert_int_equal(err_http_status(-ENOENT), 404);
	assert_int_equal(err_http_status(ENOENT), 404);
	assert_int_equal(err_http_status(-EEXIST), 409);
	assert_int_equal(err_http_status(-EINVAL), 400);
	assert_int_equal(err_http_status(-EBUSY), 409);
	assert_int_equal(err_http_status(-ETIMEDOUT), 503);
	assert_int_equal(err_http_status(-ENOSPC), 507);
	assert_int_equal(err_http_status(-EMSGSIZE), 413);
	assert_int_equal(err_http_status(-EACCES), 403);
	assert_int_equal(err_http_status(-EIO), 500);
}

static void test_err_reason(void **state)
{
	assert_string_equal(err_reason(-ENOENT), "not_found");
	assert_string_equal(err_reason(-ETIMEDOUT), "cluster_unavailable");
	assert_string_equal(err_reason(-EEXIST), "conflict");
	assert_string_equal(err_reason(-EIO), "internal_error");
	assert_string_equal(err_reason(-12345), "internal_error");
	/* an operation a stop of cairnd cut short: as the restarted daemon's ops_recover says */
	assert_string_equal(err_reason(-EINTR), "interrupted");
	assert_int_equal(err_http_status(-EINTR), 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_err_set_first_wins),
	        cmocka_unit_test(test_err_set_positive_code_negated),
	        cmocka_unit_test(test_err_set_zero_is_eio),
	        cmocka_unit_test(test_err_set_null_err),
	        cmocka_unit_test(test_err_set_truncates_long_message),
	        cmocka_unit_test(test_err_clear),
	        cmocka_unit_test(test_err_http_status),
	        cmocka_unit_test(test_err_reason),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
