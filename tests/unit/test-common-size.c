/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"

static uint64_t parse_ok(const char *s)
{
	uint64_t v = 0;

	assert_int_equal(size_parse(s, &v), 0);
	return v;
}

static void test_size_plain_bytes(void **state)
{
	assert_int_equal(parse_ok("0"), 0);
	assert_int_equal(parse_ok("4096"), 4096);
	assert_int_equal(parse_ok("4096B"), 4096);
	assert_true(parse_ok("18446744073709551615") == UINT64_MAX);
}

static void test_size_units(void **state)
{
	assert_int_equal(parse_ok("1K"), 1024);
	assert_int_equal(parse_ok("512M"), 512ULL << 20);
	assert_true(parse_ok("10G") == 10ULL << 30);
	assert_true(parse_ok("10g") == 10ULL << 30);
	assert_true(parse_ok("10GiB") == 10ULL << 30);
	assert_true(parse_ok("10GB") == 10ULL << 30);
	assert_true(parse_ok("1T") == 1ULL << 40);
	assert_true(parse_ok("2P") == 2ULL << 50);
	assert_true(parse_ok("15E") == 15ULL << 60);
}

static void test_size_fractions(void **state)
{
	assert_true(parse_ok("1.5G") == 3ULL << 29);
	assert_true(parse_ok("0.5K") == 512);
	assert_true(parse_ok("2.25M") == (9ULL << 20) / 4);
}

static void test_size_fraction_of_a_byte(void **state)
{
	uint64_t v = 7;

	assert_int_equal(size_parse("1.5", &v), -EINVAL);
	assert_int_equal(size_parse("0.1K", &v), -EINVAL);
	assert_int_equal(v, 7);
}

static void test_size_overflow(void **state)
{
	uint64_t v = 7;

	assert_int_equal(size_parse("18446744073709551616", &v), -ERANGE);
	assert_int_equal(size_parse("16E", &v), -ERANGE);
	assert_int_equal(size_parse("99999999999999999999999", &v), -ERANGE);
	assert_int_equal(size_parse("17179869184G", &v), -ERANGE);
	assert_int_equal(v, 7);
}

static void test_size_garbage(void **state)
{
	static const char *const bad[] = {"",   "-1",  "+1",   " 1",   "1 ",   "G",
	                                  "1X", "1GG", "1Gi",  "0x10", "1..5", "1.",
	                                  ".5", "1e9", "1,5G", "1KiBB"};
	uint64_t v = 7;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(size_parse(bad[i], &v), -EINVAL);
	assert_int_equal(size_parse(NULL, &v), -EINVAL);
	assert_int_equal(v, 7);
}

static void test_size_validate(void **state)
{
	struct cairn_err err = {0};

	assert_int_equal(size_validate(512, 0, "size", &err), 0);
	assert_int_equal(size_validate(1ULL << 40, 0, "size", &err), 0);
	assert_int_equal(size_validate(0, 0, "size", &err), -EINVAL);
	assert_string_equal(err.msg, "size must be positive");
	err_clear(&err);
	assert_int_equal(size_validate(1000, 0, "size", &err), -EINVAL);
	assert_string_equal(err.msg, "size must be a multiple of 512 bytes, 1000 is not");
	err_clear(&err);
	assert_int_equal(size_validate(2048, 1024, "size", &err), -ERANGE);
	assert_string_equal(err.msg, "size is larger than the limit of 1 KiB");
}

static void test_size_format(void **state)
{
	char b[SIZE_STR_MAX];

	assert_string_equal(size_format(0, b), "0 B");
	assert_string_equal(size_format(1023, b), "1023 B");
	assert_string_equal(size_format(1024, b), "1 KiB");
	assert_string_equal(size_format(1536, b), "1.5 KiB");
	assert_string_equal(size_format(10ULL << 30, b), "10 GiB");
	assert_string_equal(size_format((1ULL << 30) - 1, b), "1 GiB");
	assert_string_equal(size_format(1ULL << 40, b), "1 TiB");
	assert_string_equal(size_format(UINT64_MAX, b), "16 EiB");
}

static void test_size_roundtrip(void **state)
{
	static const char *const in[] = {"1K", "3M", "10G", "7T"};
	char b[SIZE_STR_MAX], u[8];

	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		uint64_t v = parse_ok(in[i]);
		unsigned long long n;
		size_format(v, b);
		assert_int_equal(sscanf(b, "%llu %7s", &n, u), 2);
		assert_int_equal(u[0], in[i][strlen(in[i]) - 1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_size_plain_bytes),
	        cmocka_unit_test(test_size_units),
	        cmocka_unit_test(test_size_fractions),
	        cmocka_unit_test(test_size_fraction_of_a_byte),
	        cmocka_unit_test(test_size_overflow),
	        cmocka_unit_test(test_size_garbage),
	        cmocka_unit_test(test_size_validate),
	        cmocka_unit_test(test_size_format),
	        cmocka_unit_test(test_size_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
