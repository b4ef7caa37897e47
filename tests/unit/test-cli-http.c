/* SPDX-License-Identifier: MIT */
/* cli: HTTP requests as bytes, and responses parsed however they arrive. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "cli/cli.h"

static void test_format_request(void **state)
{
	struct cli_buf b = {0};
	const char *body = "{\"name\":\"s1\"}";

	assert_int_equal(cli_http_format_request(&b, "POST", "/v1/volumes/web1/snapshots", body,
	                                         strlen(body), "k-1"),
	                 0);
	assert_string_equal(cli_buf_str(&b), "POST /v1/volumes/web1/snapshots HTTP/1.1\r\n"
	                                     "Host: cairn\r\n"
	                                     "User-Agent: cairn/" CAIRN_VERSION "\r\n"
	                                     "Accept: application/json\r\n"
	                                     "Content-Type: application/json\r\n"
	                                     "Content-Length: 13\r\n"
	                                     "Idempotency-Key: k-1\r\n"
	                                     "Connection: close\r\n"
	                                     "\r\n"
	                                     "{\"name\":\"s1\"}");
	cli_buf_reset(&b);
	assert_int_equal(cli_http_format_request(&b, "GET", "/v1/health", NULL, 0, NULL), 0);
	assert_string_equal(cli_buf_str(&b), "GET /v1/health HTTP/1.1\r\n"
	                                     "Host: cairn\r\n"
	                                     "User-Agent: cairn/" CAIRN_VERSION "\r\n"
	                                     "Accept: application/json\r\n"
	                                     "Content-Type: application/json\r\n"
	                                     "Connection: close\r\n"
	                                     "\r\n");
	cli_buf_reset(&b);
	assert_int_equal(cli_http_format_request(&b, "DELETE", "/v1/volumes/a", NULL, 0, NULL), 0);
	assert_non_null(strstr(cli_buf_str(&b), "\r\nContent-Length: 0\r\n"));
	cli_buf_release(&b);
}

/* Feed text in pieces of step bytes (0: all at once); returns the last feed result. */
static int feed(struct cli_http_reader *r, const char *text, size_t step, struct cairn_err *err)
{
	size_t len = strlen(text), off = 0;
	int res = 0;

	if (step == 0)
		step = len;
	while (off < len && res == 0) {
		size_t n = len - off < step ? len - off : step;

		res = cli_http_reader_feed(r, text + off, n, err);
		off += n;
	}
	return res;
}

static const char reply_cl[] =
        "HTTP/1.1 404 Not Found\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 85\r\n"
        "\r\n"
        "{\"error\": {\"code\": 404, \"reason\": \"not_found\", \"message\": "
        "\"volume 'web1' not found\"}}";

static void test_response_content_length(void **state)
{
	static const size_t steps[] = {0, 1, 2, 7, 64};

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		struct cli_response resp = {0};
		struct cli_http_reader r;
		struct cairn_err err = {0};
		struct json_object *o;

		cli_http_reader_init(&r, &resp, NULL, NULL);
		assert_int_equal(feed(&r, reply_cl, steps[i], &err), 1);
		assert_int_equal(resp.status, 404);
		assert_string_equal(resp.content_type, "application/json");
		assert_int_equal(resp.body.len, 85);
		o = json_tokener_parse(cli_buf_str(&resp.body));
		assert_non_null(o);
		assert_string_equal(cli_error_message(o), "volume 'web1' not found");
		json_object_put(o);
		cli_http_reader_release(&r);
		cli_response_release(&resp);
	}
}

static const char reply_chunked[] = "HTTP/1.1 202 Accepted\r\n"
                                    "Content-Type: application/json\r\n"
                                    "Location: /v1/operations/3f0c\r\n"
                                    "Transfer-Encoding: chunked\r\n"
                                    "\r\n"
                                    "5\r\n{\"id\"\r\n"
                                    "e\r\n: \"3f0c\", \"sta\r\n"
                                    "11\r\ntus\": \"running\"}\n\r\n"
                                    "0\r\n\r\n";

static void test_response_chunked(void **state)
{
	static const size_t steps[] = {0, 1, 3, 10};

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		struct cli_response resp = {0};
		struct cli_http_reader r;
		struct cairn_err err = {0};

		cli_http_reader_init(&r, &resp, NULL, NULL);
		assert_int_equal(feed(&r, reply_chunked, steps[i], &err), 1);
		assert_int_equal(resp.status, 202);
		assert_string_equal(resp.location, "/v1/operations/3f0c");
		assert_string_equal(cli_buf_str(&resp.body),
		                    "{\"id\": \"3f0c\", \"status\": \"running\"}\n");
		cli_http_reader_release(&r);
		cli_response_release(&resp);
	}
}

struct lines {
	char text[1024];
	int count;
};

static void collect_line(const char *line, size_t len, void *userdata)
{
	struct lines *l = userdata;
	size_t used = strlen(l->text);

	assert_int_equal(strlen(line), len);
	assert_true(used + len + 2 < sizeof(l->text));
	memcpy(l->text + used, line, len);
	l->text[used + len] = '|';
	l->text[used + len + 1] = '\0';
	l->count++;
}

static const char reply_events[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: application/x-ndjson\r\n"
                                   "Transfer-Encoding: chunked\r\n"
                                   "\r\n"
                                   "1b\r\n{\"type\": \"volume\", \"n\": 1}\n\r\n"
                                   "f\r\n{\"type\": \"opera\r\n"
                                   "18\r\ntion\", \"n\": 2}\r\n{\"n\": 3}\r\n"
                                   "2\r\n\n\n\r\n"
                                   "8\r\n{\"n\": 4}\r\n"
                                   "0\r\n\r\n";

static void test_response_stream_lines(void **state)
{
	static const size_t steps[] = {0, 1, 5, 33};

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		struct cli_response resp = {0};
		struct cli_http_reader r;
		struct cairn_err err = {0};
		struct lines l = {{0}, 0};

		cli_http_reader_init(&r, &resp, collect_line, &l);
		assert_int_equal(feed(&r, reply_events, steps[i], &err), 1);
		assert_int_equal(resp.status, 200);
		assert_int_equal(resp.body.len, 0); /* handed on, not kept */
		assert_string_equal(l.text, "{\"type\": \"volume\", \"n\": 1}|"
		                            "{\"type\": \"operation\", \"n\": 2}|"
		                            "{\"n\": 3}|{\"n\": 4}|");
		assert_int_equal(l.count, 4);
		cli_http_reader_release(&r);
		cli_response_release(&resp);
	}
}

static void test_response_stream_lines_arrive_early(void **state)
{
	/* each line is handed on as soon as its newline arrives, before the stream ends */
	static const char part[] = "HTTP/1.1 200 OK\r\n"
	                           "Transfer-Encoding: chunked\r\n"
	                           "\r\n"
	                           "9\r\n{\"n\": 1}\n\r\n"
	                           "4\r\n{\"n\"";
	struct cli_response resp = {0};
	struct cli_http_reader r;
	struct cairn_err err = {0};
	struct lines l = {{0}, 0};

	cli_http_reader_init(&r, &resp, collect_line, &l);
	assert_int_equal(feed(&r, part, 0, &err), 0);
	assert_string_equal(l.text, "{\"n\": 1}|");
	/* the daemon goes away mid-stream */
	assert_int_equal(cli_http_reader_eof(&r, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "closed the connection"));
	cli_http_reader_release(&r);
	cli_response_release(&resp);
}

static void test_response_error_with_stream_kept(void **state)
{
	struct cli_response resp = {0};
	struct cli_http_reader r;
	struct cairn_err err = {0};
	struct lines l = {{0}, 0};

	cli_http_reader_init(&r, &resp, collect_line, &l);
	assert_int_equal(feed(&r, reply_cl, 3, &err), 1);
	assert_int_equal(resp.status, 404);
	assert_int_equal(l.count, 0);
	assert_int_equal(resp.body.len, 85);
	cli_http_reader_release(&r);
	cli_response_release(&resp);
}

static void test_response_until_close(void **state)
{
	static const char text[] = "HTTP/1.1 200 OK\r\n"
	                           "Content-Type: application/xml\r\n"
	                           "\r\n"
	                           "<disk type='network'/>\n";
	struct cli_response resp = {0};
	struct cli_http_reader r;
	struct cairn_err err = {0};

	cli_http_reader_init(&r, &resp, NULL, NULL);
	assert_int_equal(feed(&r, text, 4, &err), 0);
	assert_int_equal(cli_http_reader_eof(&r, &err), 1);
	assert_int_equal(resp.status, 200);
	assert_string_equal(cli_buf_str(&resp.body), "<disk type='network'/>\n");
	cli_http_reader_release(&r);
	cli_response_release(&resp);
}

static void test_response_truncated_and_malformed(void **state)
{
	struct cli_response resp = {0};
	struct cli_http_reader r;
	struct cairn_err err = {0};
	char partial[64];

	/* Content-Length promised more than came */
	memcpy(partial, reply_cl, sizeof(partial) - 1);
	partial[sizeof(partial) - 1] = '\0';
	cli_http_reader_init(&r, &resp, NULL, NULL);
	assert_int_equal(feed(&r, partial, 0, &err), 0);
	assert_int_equal(cli_http_reader_eof(&r, &err), -EPROTO);
	cli_http_reader_release(&r);
	cli_response_release(&resp);

	err_clear(&err);
	cli_http_reader_init(&r, &resp, NULL, NULL);
	assert_int_equal(feed(&r, "SPDY/9 what\r\n\r\n", 0, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "malformed HTTP reply"));
	/* and it stays failed */
	assert_int_equal(cli_http_reader_feed(&r, "x", 1, &err), -EPROTO);
	cli_http_reader_release(&r);
	cli_response_release(&resp);

	err_clear(&err);
	cli_http_reader_init(&r, &resp, NULL, NULL);
	assert_int_equal(
	        feed(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, &err),
	        -EPROTO);
	cli_http_reader_release(&r);
	cli_response_release(&resp);
}

static void test_response_too_large(void **state)
{
	struct cli_response resp = {0};
	struct cli_http_reader r;
	struct cairn_err err = {0};
	char head[128];
	static char block[1 << 20];
	int res = 0;

	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n",
	         CLI_MAX_BODY + 1);
	memset(block, 'x', sizeof(block));
	cli_http_reader_init(&r, &resp, NULL, NULL);
	assert_int_equal(feed(&r, head, 0, &err), 0);
	for (unsigned i = 0; i <= (CLI_MAX_BODY >> 20) && res == 0; i++)
		res = cli_http_reader_feed(&r, block, sizeof(block), &err);
	assert_int_equal(res, -EMSGSIZE);
	assert_non_null(strstr(err.msg, "larger than"));
	cli_http_reader_release(&r);
	cli_response_release(&resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_format_request),
	        cmocka_unit_test(test_response_content_length),
	        cmocka_unit_test(test_response_chunked),
	        cmocka_unit_test(test_response_stream_lines),
	        cmocka_unit_test(test_response_stream_lines_arrive_early),
	        cmocka_unit_test(test_response_error_with_stream_kept),
	        cmocka_unit_test(test_response_until_close),
	        cmocka_unit_test(test_response_truncated_and_malformed),
	        cmocka_unit_test(test_response_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
