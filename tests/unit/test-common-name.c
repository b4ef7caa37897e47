/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"

static int check(const char *name, struct cairn_err *err)
{
	err_clear(err);
	return name_validate(name, "volume", err);
}

static void test_name_valid(void **state)
{
	static const char *const good[] = {"a",
	                                   "Z",
	                                   "0",
	                                   "web1",
	                                   "web-1.disk_0",
	                                   "a.b.c",
	                                   "9lives",
	                                   "volume-0b8f3e1a-1d2c-4b5a-9e8f-123456789abc"};
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		assert_int_equal(check(good[i], &err), 0);
}

static void test_name_empty_and_null(void **state)
{
	struct cairn_err err;

	assert_int_equal(check("", &err), -EINVAL);
	assert_string_equal(err.msg, "volume name is empty");
	assert_int_equal(check(NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "volume name is missing");
}

static void test_name_first_char(void **state)
{
	static const char *const bad[] = {"-a", ".a", "_a", " a"};
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(check(bad[i], &err), -EINVAL);
		assert_non_null(strstr(err.msg, "must start with a letter or a digit"));
	}
}

static void test_name_bad_chars(void **state)
{
	static const char *const bad[] = {"a/b",  "a@b", "a:b",  "a=b",  "a&b",       "a<b", "a'b",
	                                  "a\"b", "a b", "a\tb", "a\nb", "a\xc3\xa9", "a\\b"};
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(check(bad[i], &err), -EINVAL);
		assert_non_null(strstr(err.msg, "not allowed at position 2"));
	}
}

static void test_name_length_limit(void **state)
{
	char name[NAME_MAX_LEN + 2];
	struct cairn_err err;

	memset(name, 'a', sizeof(name));
	name[NAME_MAX_LEN] = '\0';
	assert_int_equal(check(name, &err), 0);
	name[NAME_MAX_LEN] = 'a';
	name[NAME_MAX_LEN + 1] = '\0';
	assert_int_equal(check(name, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "64 characters long"));
}

/* The messages say "<what> name", without "name name" when what is already a name. */
static void test_name_what_not_doubled(void **state)
{
	static const struct {
		const char *what, *name, *msg;
	} cases[] = {
	        {"name", "a/b",
	         "name has a character that is not allowed at position 2 "
	         "(allowed: A-Z a-z 0-9 . _ -)"},
	        {"name", "", "name is empty"},
	        {"name", NULL, "name is missing"},
	        {"name", "-a", "name must start with a letter or a digit (A-Z, a-z, 0-9)"},
	        {"new volume name", "x y",
	         "new volume name has a character that is not allowed "
	         "at position 2 (allowed: A-Z a-z 0-9 . _ -)"},
	        {"volume", "a/b",
	         "volume name has a character that is not allowed at position 2 "
	         "(allowed: A-Z a-z 0-9 . _ -)"},
	        {"hostname", "", "hostname name is empty"}, /* only the word "name" */
	        {"", "", "name is empty"},
	        {NULL, "", "name is empty"},
	};
	struct cairn_err err;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err_clear(&err);
		assert_int_equal(name_validate(cases[i].name, cases[i].what, &err), -EINVAL);
		assert_string_equal(err.msg, cases[i].msg);
	}
}

static void test_uuid_generate(void **state)
{
	char a[UUID_STR_LEN], b[UUID_STR_LEN];

	assert_int_equal(uuid_generate_str(a), 0);
	assert_int_equal(uuid_generate_str(b), 0);
	assert_true(uuid_is_valid(a));
	assert_true(uuid_is_valid(b));
	assert_string_not_equal(a, b);
	assert_int_equal(a[14], '4');
	assert_true(strchr("89ab", a[19]) != NULL);
}

static void test_uuid_is_valid(void **state)
{
	assert_true(uuid_is_valid("0b8f3e1a-1d2c-4b5a-9e8f-123456789abc"));
	assert_false(uuid_is_valid("0b8f3e1a-1d2c-4b5a-9e8f-123456789ab"));
	assert_false(uuid_is_valid("0b8f3e1a-1d2c-4b5a-9e8f-123456789abcd"));
	assert_false(uuid_is_valid("0b8f3e1a11d2c-4b5a-9e8f-123456789abc"));
	assert_false(uuid_is_valid("0B8F3E1A-1D2C-4B5A-9E8F-123456789ABC"));
	assert_false(uuid_is_valid("0b8f3e1a-1d2c-4b5a-9e8f-123456789abg"));
	assert_false(uuid_is_valid(NULL));
}

static void test_str_copy(void **state)
{
	char buf[4];

	assert_int_equal(str_copy(buf, sizeof(buf), "abc"), 0);
	assert_string_equal(buf, "abc");
	assert_int_equal(str_copy(buf, sizeof(buf), "abcd"), -ENAMETOOLONG);
	assert_string_equal(buf, "abc");
	assert_int_equal(str_copy(buf, 0, "a"), -ENAMETOOLONG);
}

static void test_str_printf_and_prefix(void **state)
{
	_cleanup_(freep) char *s = str_printf("%s-%d", "volume", 7);

	assert_string_equal(s, "volume-7");
	assert_true(str_has_prefix(s, "volume-"));
	assert_false(str_has_prefix(s, "image-"));
}

static void test_secure_erase(void **state)
{
	char key[] = "AQBsecretsecret==";

	secure_erase(key, sizeof(key));
	for (size_t i = 0; i < sizeof(key); i++)
		assert_int_equal(key[i], 0);
}

static void test_log_level_names(void **state)
{
	assert_string_equal(log_level_to_string(LOG_LEVEL_DEBUG), "debug");
	assert_int_equal(log_level_from_string("WARNING"), LOG_LEVEL_WARN);
	assert_int_equal(log_level_from_string("error"), LOG_LEVEL_ERR);
	assert_int_equal(log_level_from_string("loud"), -1);
	assert_null(log_level_to_string(LOG_LEVEL_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_name_valid),
	        cmocka_unit_test(test_name_empty_and_null),
	        cmocka_unit_test(test_name_first_char),
	        cmocka_unit_test(test_name_bad_chars),
	        cmocka_unit_test(test_name_length_limit),
	        cmocka_unit_test(test_name_what_not_doubled),
	        cmocka_unit_test(test_uuid_generate),
	        cmocka_unit_test(test_uuid_is_valid),
	        cmocka_unit_test(test_str_copy),
	        cmocka_unit_test(test_str_printf_and_prefix),
	        cmocka_unit_test(test_secure_erase),
	        cmocka_unit_test(test_log_level_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
