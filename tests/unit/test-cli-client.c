/* SPDX-License-Identifier: MIT */
/*
 * cli: the whole client (cli_run) against a tiny fake cairnd: a thread that accepts
 * connections on a Unix socket in a temporary directory, records each request and
 * answers it with the next scripted reply.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "cli/cli.h"

#define FAKE_MAX 8

struct fake {
	char dir[64];
	char path[128];
	int lfd;
	pthread_t thread;
	const char *replies[FAKE_MAX];
	size_t n_replies;
	char *requests[FAKE_MAX];
	size_t n_requests;
};

static char *read_request(int fd)
{
	struct cli_buf b = {0};
	char chunk[4096];
	size_t want = 0;

	for (;;) {
		ssize_t n;
		const char *end;

		if (want && b.len >= want)
			break;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			break;
		cli_buf_append(&b, chunk, (size_t)n);
		end = strstr(cli_buf_str(&b), "\r\n\r\n");
		if (end && !want) {
			const char *cl = strcasestr(cli_buf_str(&b), "\r\nContent-Length: ");
			size_t body = cl && cl < end ? strtoul(cl + 18, NULL, 10) : 0;

			want = (size_t)(end + 4 - b.data) + body;
		}
	}
	return b.data ? b.data : strdup("");
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	for (size_t i = 0; i < f->n_replies; i++) {
		struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
		const char *p = f->replies[i];
		size_t left = strlen(p);
		int fd;

		if (poll(&pfd, 1, 5000) <= 0)
			break;
		fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			break;
		f->requests[f->n_requests++] = read_request(fd);
		while (left) {
			ssize_t w = send(fd, p, left, MSG_NOSIGNAL);

			if (w <= 0)
				break;
			p += w;
			left -= (size_t)w;
		}
		close(fd);
	}
	return NULL;
}

/* Start a fake answering with the given replies, NULL-terminated. */
static void fake_start(struct fake *f, ...)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	va_list ap;
	const char *r;

	*f = (struct fake){.lfd = -1};
	snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-cli-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/cairn.sock", f->dir);
	va_start(ap, f);
	while ((r = va_arg(ap, const char *)) && f->n_replies < FAKE_MAX)
		f->replies[f->n_replies++] = r;
	va_end(ap);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(str_copy(sa.sun_path, sizeof(sa.sun_path), f->path), 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	assert_int_equal(pthread_join(f->thread, NULL), 0);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
}

static void fake_release(struct fake *f)
{
	for (size_t i = 0; i < f->n_requests; i++)
		free(f->requests[i]);
	f->n_requests = 0;
}

struct result {
	int code;
	char *out;
	char *err;
};

static void result_release(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* Run the client with $CAIRN_SOCKET = socket; stderr a terminal or not. */
static struct result run_tty(const char *socket, bool tty, int argc, char **argv)
{
	struct result res = {0};
	size_t n_out = 0, n_err = 0;
	struct cli_env env = {
	        .env_socket = socket,
	        .err_is_tty = tty,
	        .poll_timeout = 1,
	};

	env.out = open_memstream(&res.out, &n_out);
	env.err = open_memstream(&res.err, &n_err);
	assert_non_null(env.out);
	assert_non_null(env.err);
	res.code = cli_run(argc, argv, &env);
	fclose(env.out);
	fclose(env.err);
	return res;
}

static struct result run(const char *socket, int argc, char **argv)
{
	return run_tty(socket, false, argc, argv);
}

#define RUN(socket, ...)                                                              \
	run(socket, (int)(sizeof((char *[]){"cairn", __VA_ARGS__}) / sizeof(char *)), \
	    (char *[]){"cairn", __VA_ARGS__, NULL})

static char *reply(const char *status, const char *body)
{
	char *s = str_printf("HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
	                     "Content-Length: %zu\r\n\r\n%s",
	                     status, strlen(body), body);

	assert_non_null(s);
	return s;
}

static void test_health_ok(void **state)
{
	char *r1 = reply("200 OK", "{\"status\": \"ok\", \"version\": \"0.1.0\","
	                           " \"cluster\": {\"reachable\": true}}");
	struct fake f;
	struct result res;

	fake_start(&f, r1, NULL);
	res = RUN(f.path, "health");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(res.out, "status:            ok\n"
	                             "version:           0.1.0\n"
	                             "cluster.reachable: yes\n");
	assert_string_equal(res.err, "");
	assert_int_equal(f.n_requests, 1);
	assert_true(str_has_prefix(f.requests[0], "GET /v1/health HTTP/1.1\r\n"));
	assert_non_null(strstr(f.requests[0], "\r\nHost: cairn\r\n"));
	assert_non_null(strstr(f.requests[0], "\r\nUser-Agent: cairn/" CAIRN_VERSION "\r\n"));
	assert_non_null(strstr(f.requests[0], "\r\nContent-Type: application/json\r\n"));
	fake_release(&f);
	result_release(&res);
	free(r1);
}

static void test_health_degraded_exit_1(void **state)
{
	char *r1 = reply("200 OK", "{\"status\": \"degraded\"}");
	struct fake f;
	struct result res;

	fake_start(&f, r1, NULL);
	res = RUN(f.path, "health");
	fake_stop(&f);
	assert_int_equal(res.code, 1);
	assert_string_equal(res.out, "status: degraded\n");
	assert_string_equal(res.err, "cairn: cairnd reports status 'degraded'\n");
	fake_release(&f);
	result_release(&res);
	free(r1);
}

static void test_json_is_byte_for_byte(void **state)
{
	static const char body[] = "{ \"name\":\"web1\",\n  \"size\" : 10737418240 ,\"x\":[ ] }\n";
	char *r1 = reply("200 OK", body);
	struct fake f;
	struct result res;

	fake_start(&f, r1, NULL);
	res = RUN(f.path, "volume", "show", "web1", "--json");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(res.out, body);
	assert_true(str_has_prefix(f.requests[0], "GET /v1/volumes/web1 HTTP/1.1\r\n"));
	fake_release(&f);
	result_release(&res);
	free(r1);
}

static void test_not_found_exit_1(void **state)
{
	char *r1 = reply("404 Not Found", "{\"error\": {\"code\": 404, \"reason\": \"not_found\","
	                                  " \"message\": \"volume 'web1' not found\"}}");
	struct fake f;
	struct result res;

	fake_start(&f, r1, NULL);
	res = RUN(f.path, "volume", "show", "web1");
	fake_stop(&f);
	assert_int_equal(res.code, 1);
	assert_string_equal(res.out, "");
	assert_string_equal(res.err, "cairn: volume 'web1' not found\n");
	fake_release(&f);
	result_release(&res);
	free(r1);
}

static void test_error_without_json_body(void **state)
{
	struct fake f;
	struct result res;

	fake_start(&f, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad", NULL);
	res = RUN(f.path, "pool", "list");
	fake_stop(&f);
	assert_int_equal(res.code, 1);
	assert_string_equal(res.err, "cairn: cairnd answered HTTP 502 Bad Gateway\n");
	fake_release(&f);
	result_release(&res);
}

static void test_missing_socket_exit_3(void **state)
{
	struct result res = RUN("/nonexistent/cairn-test/cairn.sock", "volume", "list");

	assert_int_equal(res.code, 3);
	assert_string_equal(res.out, "");
	assert_non_null(
	        strstr(res.err, "cannot reach cairnd at '/nonexistent/cairn-test/cairn.sock'"));
	assert_non_null(strstr(res.err, "no such file or directory"));
	assert_non_null(strstr(res.err, "cairnd is running"));
	result_release(&res);

	/* --socket wins over $CAIRN_SOCKET */
	res = RUN("/also/missing.sock", "--socket", "/nonexistent/other.sock", "health");
	assert_int_equal(res.code, 3);
	assert_non_null(strstr(res.err, "'/nonexistent/other.sock'"));
	result_release(&res);
}

static void test_refused_socket_exit_3(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[] = "/tmp/cairn-cli-test-XXXXXX";
	char path[64];
	struct result res;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dead.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(str_copy(sa.sun_path, sizeof(sa.sun_path), path), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd); /* the file stays; nobody listens */
	res = RUN(path, "health");
	unlink(path);
	rmdir(dir);
	assert_int_equal(res.code, 3);
	assert_non_null(strstr(res.err, "connection refused"));
	result_release(&res);
}

static void test_usage_error_exit_2(void **state)
{
	struct result res = RUN("/nonexistent.sock", "volume", "create", "web1", "--size", "10Q");

	assert_int_equal(res.code, 2);
	assert_string_equal(res.err, "cairn: '10Q' is not a size: give bytes or a binary unit, "
	                             "like 512M, 10G or 1T\n"
	                             "Try 'cairn volume create --help'.\n");
	result_release(&res);

	res = RUN("/nonexistent.sock", "snapshot", "create", "--help");
	assert_int_equal(res.code, 0);
	assert_true(str_has_prefix(res.out, "Usage: cairn snapshot create VOLUME SNAP\n"));
	result_release(&res);
}

static const char op_running[] =
        "{\"id\": \"op-1\", \"kind\": \"image.import\", \"status\": \"running\", \"progress\": 40,"
        " \"bytes_done\": 400, \"bytes_total\": 1000,"
        " \"resource\": {\"kind\": \"image\", \"name\": \"deb\"}, \"error\": null, \"result\": "
        "null}";
static const char op_running2[] =
        "{\"id\": \"op-1\", \"kind\": \"image.import\", \"status\": \"running\", \"progress\": 75,"
        " \"resource\": {\"kind\": \"image\", \"name\": \"deb\"}, \"error\": null, \"result\": "
        "null}";
static const char op_done[] =
        "{\"id\": \"op-1\", \"kind\": \"image.import\", \"status\": \"succeeded\", \"progress\": "
        "100,"
        " \"resource\": {\"kind\": \"image\", \"name\": \"deb\"}, \"error\": null,"
        " \"result\": {\"name\": \"deb\", \"size\": 2147483648, \"format\": \"qcow2\"}}";
static const char op_failed[] =
        "{\"id\": \"op-1\", \"kind\": \"volume.flatten\", \"status\": \"failed\", \"progress\": 10,"
        " \"error\": {\"code\": 503, \"reason\": \"cluster_unavailable\","
        " \"message\": \"cannot flatten 'web1': connection timed out\"}, \"result\": null}";

static void test_operation_followed(void **state)
{
	char *r1 = reply("202 Accepted", op_running), *r2 = reply("200 OK", op_running2),
	     *r3 = reply("200 OK", op_done);
	struct fake f;
	struct result res;

	fake_start(&f, r1, r2, r3, NULL);
	res = RUN(f.path, "image", "import", "deb", "/srv/import/deb.qcow2");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(res.err, "progress 40%\nprogress 75%\nprogress 100%\n");
	assert_string_equal(res.out, "name:   deb\nsize:   2 GiB\nformat: qcow2\n");
	assert_int_equal(f.n_requests, 3);
	assert_true(str_has_prefix(f.requests[0], "POST /v1/images HTTP/1.1\r\n"));
	assert_non_null(strstr(f.requests[0], "\r\n\r\n{\"name\":\"deb\","
	                                      "\"file\":\"/srv/import/deb.qcow2\"}"));
	assert_true(str_has_prefix(f.requests[1], "GET /v1/operations/op-1/wait?timeout=1 "));
	assert_true(str_has_prefix(f.requests[2], "GET /v1/operations/op-1/wait?timeout=1 "));
	fake_release(&f);
	result_release(&res);

	/* with --json the operation's final body is printed as it came */
	fake_start(&f, r1, r3, NULL);
	res = RUN(f.path, "--json", "--quiet", "image", "import", "deb", "/srv/import/deb.qcow2");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(res.err, "");
	assert_true(str_has_prefix(res.out, op_done));
	fake_release(&f);
	result_release(&res);
	free(r1);
	free(r2);
	free(r3);
}

static void test_operation_progress_bar_on_tty(void **state)
{
	char *r1 = reply("202 Accepted", op_running), *r2 = reply("200 OK", op_running2),
	     *r3 = reply("200 OK", op_done);
	char *argv[] = {"cairn", "image", "import", "deb", "/srv/import/deb.qcow2", NULL};
	struct fake f;
	struct result res;

	fake_start(&f, r1, r2, r3, NULL);
	res = run_tty(f.path, true, 5, argv);
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(
	        res.err,
	        "\r[############..................] 40% 400 B/1000 B image.import deb\033[K"
	        "\r[######################........] 75% image.import deb\033[K"
	        "\r[##############################] 100% image.import deb\033[K\n");
	assert_string_equal(res.out, "name:   deb\nsize:   2 GiB\nformat: qcow2\n");
	fake_release(&f);
	result_release(&res);
	free(r1);
	free(r2);
	free(r3);
}

static void test_operation_failed_exit_1(void **state)
{
	char *r1 = reply("202 Accepted", op_running), *r2 = reply("200 OK", op_failed);
	struct fake f;
	struct result res;

	fake_start(&f, r1, r2, NULL);
	res = RUN(f.path, "volume", "flatten", "web1", "--quiet");
	fake_stop(&f);
	assert_int_equal(res.code, 1);
	assert_string_equal(res.out, "");
	assert_string_equal(res.err, "cairn: cannot flatten 'web1': connection timed out\n");
	fake_release(&f);
	result_release(&res);
	free(r1);
	free(r2);
}

static void test_op_wait(void **state)
{
	char *r1 = reply("200 OK", op_running), *r2 = reply("200 OK", op_done);
	struct fake f;
	struct result res;

	fake_start(&f, r1, r2, NULL);
	res = RUN(f.path, "op", "wait", "op-1");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(res.out, "operation 'op-1' succeeded\n");
	assert_true(str_has_prefix(f.requests[0], "GET /v1/operations/op-1 HTTP/1.1\r\n"));
	assert_true(str_has_prefix(f.requests[1], "GET /v1/operations/op-1/wait?timeout=1 "));
	fake_release(&f);
	result_release(&res);

	/* --timeout 0: one look, still running, exit 1; the operation is left alone */
	fake_start(&f, r1, NULL);
	res = RUN(f.path, "op", "wait", "op-1", "--timeout", "0", "--quiet");
	fake_stop(&f);
	assert_int_equal(res.code, 1);
	assert_int_equal(f.n_requests, 1);
	assert_string_equal(res.err, "cairn: operation 'op-1' is still running after 0 seconds\n");
	fake_release(&f);
	result_release(&res);
	free(r1);
	free(r2);
}

static void test_no_wait(void **state)
{
	char *r1 = reply("202 Accepted", op_running);
	struct fake f;
	struct result res;

	fake_start(&f, r1, NULL);
	res = RUN(f.path, "--no-wait", "volume", "delete", "web1");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_int_equal(f.n_requests, 1);
	assert_true(str_has_prefix(f.requests[0], "DELETE /v1/volumes/web1 HTTP/1.1\r\n"));
	assert_non_null(strstr(res.out, "id:          op-1\n"));
	assert_non_null(strstr(res.out, "status:      running\n"));
	assert_non_null(strstr(res.out, "progress:    40%\n"));
	fake_release(&f);
	result_release(&res);
	free(r1);
}

static void test_created_with_idempotency_key(void **state)
{
	char *r1 = reply("201 Created", "{\"name\": \"s1\", \"size\": 1073741824}");
	struct fake f;
	struct result res;

	fake_start(&f, r1, NULL);
	res = RUN(f.path, "--idempotency-key", "snap-web1-s1", "snapshot", "create", "web1", "s1");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(res.out, "name: s1\nsize: 1 GiB\n");
	assert_true(str_has_prefix(f.requests[0], "POST /v1/volumes/web1/snapshots HTTP/1.1\r\n"));
	assert_non_null(strstr(f.requests[0], "\r\nIdempotency-Key: snap-web1-s1\r\n"));
	assert_non_null(strstr(f.requests[0], "\r\nContent-Length: 13\r\n"));
	assert_non_null(strstr(f.requests[0], "\r\n\r\n{\"name\":\"s1\"}"));
	fake_release(&f);
	result_release(&res);
	free(r1);
}

static void test_no_content_done_message(void **state)
{
	struct fake f;
	struct result res;

	fake_start(&f, "HTTP/1.1 204 No Content\r\n\r\n", NULL);
	res = RUN(f.path, "snapshot", "delete", "web1", "s1");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(res.out, "deleted snapshot 'web1@s1'\n");
	fake_release(&f);
	result_release(&res);
}

static void test_list_table(void **state)
{
	char *r1 =
	        reply("200 OK", "{\"images\": [{\"name\": \"debian12\", \"size\": 2147483648,"
	                        " \"format\": \"qcow2\", \"status\": \"available\", \"clones\": 3,"
	                        " \"created\": \"2026-11-26T12:00:00Z\"}]}");
	struct fake f;
	struct result res;

	fake_start(&f, r1, NULL);
	res = RUN(f.path, "image", "list");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(res.out,
	                    "NAME       SIZE  FORMAT  STATUS     CLONES  CREATED\n"
	                    "debian12  2 GiB  qcow2   available       3  2026-11-26T12:00:00Z\n");
	fake_release(&f);
	result_release(&res);
	free(r1);
}

static void test_events_stream(void **state)
{
	static const char stream[] = "HTTP/1.1 200 OK\r\n"
	                             "Content-Type: application/x-ndjson\r\n"
	                             "Transfer-Encoding: chunked\r\n"
	                             "\r\n"
	                             "d\r\n{\"type\": \"a\"}\r\n"
	                             "1\r\n\n\r\n"
	                             "e\r\n{\"type\": \"b\"}\n\r\n"
	                             "0\r\n\r\n";
	struct fake f;
	struct result res;

	fake_start(&f, stream, NULL);
	res = RUN(f.path, "events");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(res.out, "{\"type\": \"a\"}\n{\"type\": \"b\"}\n");
	assert_true(str_has_prefix(f.requests[0], "GET /v1/events HTTP/1.1\r\n"));
	fake_release(&f);
	result_release(&res);
}

static void test_xml_raw(void **state)
{
	static const char xml[] = "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n"
	                          "Content-Length: 22\r\n\r\n<disk type='network'/>";
	struct fake f;
	struct result res;

	fake_start(&f, xml, NULL);
	res = RUN(f.path, "volume", "xml", "web1", "--target", "vdb");
	fake_stop(&f);
	assert_int_equal(res.code, 0);
	assert_string_equal(res.out, "<disk type='network'/>\n");
	assert_true(str_has_prefix(f.requests[0], "GET /v1/volumes/web1/xml?target=vdb HTTP/1.1"));
	fake_release(&f);
	result_release(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_health_ok),
	        cmocka_unit_test(test_health_degraded_exit_1),
	        cmocka_unit_test(test_json_is_byte_for_byte),
	        cmocka_unit_test(test_not_found_exit_1),
	        cmocka_unit_test(test_error_without_json_body),
	        cmocka_unit_test(test_missing_socket_exit_3),
	        cmocka_unit_test(test_refused_socket_exit_3),
	        cmocka_unit_test(test_usage_error_exit_2),
	        cmocka_unit_test(test_operation_followed),
	        cmocka_unit_test(test_operation_progress_bar_on_tty),
	        cmocka_unit_test(test_operation_failed_exit_1),
	        cmocka_unit_test(test_op_wait),
	        cmocka_unit_test(test_no_wait),
	        cmocka_unit_test(test_created_with_idempotency_key),
	        cmocka_unit_test(test_no_content_done_message),
	        cmocka_unit_test(test_list_table),
	        cmocka_unit_test(test_events_stream),
	        cmocka_unit_test(test_xml_raw),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
