/* SPDX-License-Identifier: MIT */
/* cli: tables, key: value lines, progress lines and done messages, against golden text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"

static struct json_object *parse(const char *s)
{
	struct json_object *o = json_tokener_parse(s);

	assert_non_null(o);
	return o;
}

static void test_table_alignment(void **state)
{
	static const char *const headers[] = {"NAME", "SIZE", "STATUS"};
	static const bool right[] = {false, true, false};
	static const char *const cells[] = {
	        "web1",       "10 GiB",  "available", /* */
	        "database-1", "1.5 TiB", "in-use",    /* */
	        "x",          "512 B",   "-",
	};
	struct cli_buf b = {0};

	cli_table_render(&b, headers, right, 3, cells, 3);
	assert_string_equal(cli_buf_str(&b), "NAME           SIZE  STATUS\n"
	                                     "web1         10 GiB  available\n"
	                                     "database-1  1.5 TiB  in-use\n"
	                                     "x             512 B  -\n");
	cli_buf_reset(&b);
	/* no rows: the header alone, still without trailing spaces */
	cli_table_render(&b, headers, right, 3, cells, 0);
	assert_string_equal(cli_buf_str(&b), "NAME  SIZE  STATUS\n");
	cli_buf_reset(&b);
	/* widths count characters, not UTF-8 bytes */
	{
		static const char *const h[] = {"K", "V"};
		static const char *const c[] = {"\xc3\xa9t\xc3\xa9", "1", "abcd", "2"};

		cli_table_render(&b, h, NULL, 2, c, 2);
		assert_string_equal(cli_buf_str(&b), "K     V\n"
		                                     "\xc3\xa9t\xc3\xa9   1\n"
		                                     "abcd  2\n");
	}
	cli_buf_release(&b);
}

static void test_view_table_volumes(void **state)
{
	size_t n;
	const struct cli_command *list = cli_command_find("volume", "list");
	struct json_object *reply = parse(
	        "{\"volumes\": ["
	        "{\"id\": \"1\", \"name\": \"web1\", \"pool\": \"volumes\", \"size\": 10737418240,"
	        " \"status\": \"available\", \"parent\": {\"kind\": \"image\", \"name\": "
	        "\"debian12\","
	        " \"snapshot\": \"base\"}, \"labels\": {\"env\": \"prod\", \"tier\": \"web\"}},"
	        "{\"id\": \"2\", \"name\": \"scratch\", \"pool\": \"vms\", \"size\": 536870912,"
	        " \"status\": \"in-use\", \"parent\": null, \"labels\": {}}]}");
	struct cli_buf b = {0};

	(void)cli_commands(&n);
	assert_non_null(list);
	assert_int_equal(cli_view_table(&b, reply, list->view), 0);
	assert_string_equal(
	        cli_buf_str(&b),
	        "NAME     POOL        SIZE  STATUS     PARENT               LABELS\n"
	        "web1     volumes   10 GiB  available  image debian12@base  env=prod,tier=web\n"
	        "scratch  vms      512 MiB  in-use     -                    -\n");
	cli_buf_reset(&b);
	/* a reply without the list is refused, not shown empty */
	json_object_put(reply);
	reply = parse("{\"images\": []}");
	assert_int_equal(cli_view_table(&b, reply, list->view), -EBADMSG);
	json_object_put(reply);
	cli_buf_release(&b);
}

static void test_view_table_operations(void **state)
{
	const struct cli_command *list = cli_command_find("op", "list");
	struct json_object *reply = parse(
	        "{\"operations\": [{\"id\": \"3f0c\", \"kind\": \"image.import\", \"status\": "
	        "\"running\", \"progress\": 42, \"resource\": {\"kind\": \"image\", \"name\": "
	        "\"debian12\"}, \"updated\": \"2026-11-26T12:00:00Z\"},"
	        "{\"id\": \"77aa\", \"kind\": \"volume.flatten\", \"status\": \"succeeded\", "
	        "\"progress\": 100, \"resource\": {\"kind\": \"volume\", \"name\": \"web1\"}, "
	        "\"updated\": \"2026-11-26T12:01:00Z\"}]}");
	struct cli_buf b = {0};

	assert_int_equal(cli_view_table(&b, reply, list->view), 0);
	assert_string_equal(
	        cli_buf_str(&b),
	        "ID    KIND            STATUS     PROGRESS  RESOURCE        UPDATED\n"
	        "3f0c  image.import    running         42%  image debian12  2026-11-26T12:00:00Z\n"
	        "77aa  volume.flatten  succeeded      100%  volume web1     "
	        "2026-11-26T12:01:00Z\n");
	json_object_put(reply);
	cli_buf_release(&b);
}

static void test_view_show(void **state)
{
	struct json_object *health =
	        parse("{\"status\": \"degraded\", \"version\": \"0.1.0\", \"uptime\": 12,"
	              " \"cluster\": {\"reachable\": true, \"fsid\": \"f00\"},"
	              " \"pools\": {\"ready\": false, \"missing\": [\"backups\", \"vms\"]}}");
	struct json_object *vol =
	        parse("{\"name\": \"web1\", \"size\": 10737418240, \"used\": 1610612736,"
	              " \"parent\": {\"kind\": \"image\", \"name\": \"debian12\", \"snapshot\": "
	              "\"base\"},"
	              " \"labels\": {\"env\": \"prod\"}, \"qos\": {\"iops\": 500},"
	              " \"snapshots\": [{\"name\": \"s1\"}, {\"name\": \"s2\"}], \"children\": [],"
	              " \"error\": null}");
	struct cli_buf b = {0};

	assert_int_equal(cli_view_show(&b, health), 0);
	assert_string_equal(cli_buf_str(&b), "status:            degraded\n"
	                                     "version:           0.1.0\n"
	                                     "uptime:            12\n"
	                                     "cluster.reachable: yes\n"
	                                     "cluster.fsid:      f00\n"
	                                     "pools.ready:       no\n"
	                                     "pools.missing:     backups, vms\n");
	cli_buf_reset(&b);
	assert_int_equal(cli_view_show(&b, vol), 0);
	assert_string_equal(cli_buf_str(&b), "name:      web1\n"
	                                     "size:      10 GiB\n"
	                                     "used:      1.5 GiB\n"
	                                     "parent:    image debian12@base\n"
	                                     "labels:    env=prod\n"
	                                     "qos.iops:  500\n"
	                                     "snapshots: s1, s2\n"
	                                     "children:  -\n"
	                                     "error:     -\n");
	json_object_put(health);
	json_object_put(vol);
	cli_buf_release(&b);
}

static void test_format_values(void **state)
{
	struct json_object *o =
	        parse("{\"a\": [1, 2, 3], \"n\": 7, \"p\": 5, \"l\": {},"
	              " \"e\": {\"code\": 409, \"message\": \"volume 'x' is busy\"},"
	              " \"s\": 1073741824, \"str\": \"12G\"}");
	struct cli_buf b = {0};

#define FMT(key, fmt, expected)                                   \
	do {                                                      \
		cli_buf_reset(&b);                                \
		cli_format_value(&b, cli_json_path(o, key), fmt); \
		assert_string_equal(cli_buf_str(&b), expected);   \
	} while (0)

	FMT("a", CLI_FMT_COUNT, "3");
	FMT("n", CLI_FMT_COUNT, "7");
	FMT("a", CLI_FMT_AUTO, "1, 2, 3");
	FMT("p", CLI_FMT_PERCENT, "5%");
	FMT("l", CLI_FMT_LABELS, "-");
	FMT("e", CLI_FMT_AUTO, "volume 'x' is busy");
	FMT("s", CLI_FMT_SIZE, "1 GiB");
	FMT("str", CLI_FMT_SIZE, "12G");
	FMT("missing", CLI_FMT_SIZE, "-");
	FMT("e.code", CLI_FMT_AUTO, "409");
#undef FMT
	json_object_put(o);
	cli_buf_release(&b);
}

static void test_progress_format(void **state)
{
	struct cli_progress p = {
	        .percent = 42,
	        .bytes_done = 450ULL << 20,
	        .bytes_total = 1ULL << 30,
	        .kind = "image.import",
	        .name = "debian12",
	};
	struct cli_buf b = {0};
	struct json_object *op;

	cli_progress_format(&b, &p, 10);
	assert_string_equal(cli_buf_str(&b),
	                    "[####......] 42% 450 MiB/1 GiB image.import debian12");
	cli_buf_reset(&b);
	p = (struct cli_progress){.percent = 100, .kind = "volume.flatten"};
	cli_progress_format(&b, &p, 20);
	assert_string_equal(cli_buf_str(&b), "[####################] 100% volume.flatten");
	cli_buf_reset(&b);
	p = (struct cli_progress){.percent = 140};
	cli_progress_format(&b, &p, 4);
	assert_string_equal(cli_buf_str(&b), "[####] 100%");
	cli_buf_reset(&b);

	op = parse("{\"id\": \"3f0c\", \"kind\": \"image.import\", \"status\": \"running\","
	           " \"progress\": 42, \"bytes_done\": 450887680, \"bytes_total\": 1073741824,"
	           " \"resource\": {\"kind\": \"image\", \"name\": \"debian12\"}}");
	cli_progress_from_op(op, &p);
	assert_int_equal(p.percent, 42);
	assert_true(p.bytes_done == 450887680);
	assert_true(p.bytes_total == 1073741824);
	assert_string_equal(p.kind, "image.import");
	assert_string_equal(p.name, "debian12");
	cli_progress_format(&b, &p, 10);
	assert_string_equal(cli_buf_str(&b),
	                    "[####......] 42% 430 MiB/1 GiB image.import debian12");
	json_object_put(op);
	cli_buf_release(&b);
}

static void test_progress_plain_steps(void **state)
{
	static const int seen[] = {0, 3, 9, 10, 12, 19, 35, 35, 99, 100, 100};
	static const bool due[] = {true, false, false, true, false, false,
	                           true, false, true,  true, false};
	int last = -1;

	for (size_t i = 0; i < ARRAY_SIZE(seen); i++)
		if (cli_progress_plain_due(&last, seen[i]) != due[i])
			fail_msg("step %zu (%d%%) should %sbe printed", i, seen[i],
			         due[i] ? "" : "not ");
}

static void test_done_format(void **state)
{
	struct cli_invocation inv = {.args = {"web1", "s1"}, .n_args = 2};
	struct cli_buf b = {0};

	cli_done_format(&b, "deleted snapshot '{0}@{1}'", &inv);
	assert_string_equal(cli_buf_str(&b), "deleted snapshot 'web1@s1'");
	cli_buf_reset(&b);
	cli_done_format(&b, "{2} {x}", &inv);
	assert_string_equal(cli_buf_str(&b), " {x}");
	cli_buf_release(&b);
}

static void test_buf_encoding(void **state)
{
	struct cli_buf b = {0};

	assert_string_equal(cli_buf_str(&b), "");
	cli_buf_put_encoded(&b, "a b/c=d&e%~._-Z9\xc3\xa9");
	assert_string_equal(cli_buf_str(&b), "a%20b%2Fc%3Dd%26e%25~._-Z9%C3%A9");
	assert_int_equal(cli_buf_error(&b), 0);
	cli_buf_release(&b);
	assert_int_equal(cli_text_width("\xc3\xa9t\xc3\xa9"), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_table_alignment),
	        cmocka_unit_test(test_view_table_volumes),
	        cmocka_unit_test(test_view_table_operations),
	        cmocka_unit_test(test_view_show),
	        cmocka_unit_test(test_format_values),
	        cmocka_unit_test(test_progress_format),
	        cmocka_unit_test(test_progress_plain_steps),
	        cmocka_unit_test(test_done_format),
	        cmocka_unit_test(test_buf_encoding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
