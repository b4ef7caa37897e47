/* SPDX-License-Identifier: MIT */
/*
 * svc/http against real clients: a real libuv loop and a real Unix socket in a temporary
 * directory; the client side runs in a thread with plain blocking sockets. The client
 * checks what it receives with CHECK() (the first failure is recorded and reported by the
 * main thread); the handler records what it was given and the main thread asserts on it.
 * Every test ends with uv_loop_close() == 0, so a leaked handle fails it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "common/common.h"
#include "svc/http.h"
#include "svc/http-util.h"

#define MAX_RECS 8

/* what the handler was given, one per request */
struct rec {
	enum http_method method;
	char path[128];
	char query[128];
	char name[64];
	bool has_name;
	bool has_force;
	char force[8];
	bool has_missing;
	char x_test[64];
	char body[4096];
	size_t body_len;
	uint64_t id;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool readonly;
};

struct env {
	char dir[64];
	char path[128];
	uv_loop_t loop;
	struct http_server *server;
	struct http_limits limits;

	/* the handler */
	struct rec recs[MAX_RECS];
	unsigned n_recs;
	unsigned active;
	unsigned max_active;
	unsigned in_flight_seen; /* http_server_requests_in_flight() in a deferred answer */
	bool connected_at_answer;
	int stream_write_err;
	unsigned stream_writes;
	unsigned disconnect_calls;
	bool stop_in_handler;

	/* what the server answered by itself (http_server_on_refused), loop thread */
	unsigned refused[HTTP_METHOD_MAX][6]; /* by method and status class */
	unsigned n_refused;

	/* handler -> client */
	atomic_int answered;
	atomic_int dropped;

	/* the client thread */
	pthread_t thread;
	void (*client)(struct env *e);
	uv_async_t done;
	uv_timer_t watchdog;
	bool closed;
	unsigned in_flight_at_end;
	char client_err[256];
};

/* ---- client side (runs in its own thread: no cmocka calls here) ----------------------- */

#define CHECK(cond)                                                                           \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			if (!e->client_err[0])                                                \
				snprintf(e->client_err, sizeof(e->client_err), "line %d: %s", \
				         __LINE__, #cond);                                    \
			goto out;                                                             \
		}                                                                             \
	} while (0)

struct cconn {
	int fd;
	char *buf;
	size_t len;
	size_t cap;
};

struct resp {
	int status;
	char *head;
	char *body;
	size_t body_len;
};

static int c_connect(const char *path, struct cconn *cc)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 10};
	int fd;

	memset(cc, 0, sizeof(*cc));
	cc->fd = -1;
	if (str_copy(sa.sun_path, sizeof(sa.sun_path), path) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	cc->fd = fd;
	return 0;
}

static void c_close(struct cconn *cc)
{
	if (cc->fd >= 0)
		close(cc->fd);
	cc->fd = -1;
	free(cc->buf);
	cc->buf = NULL;
	cc->len = cc->cap = 0;
}

static bool c_send(struct cconn *cc, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(cc->fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

static bool c_sends(struct cconn *cc, const char *s)
{
	return c_send(cc, s, strlen(s));
}

/* Read more: bytes read, 0 at EOF, -1 on error or timeout. */
static ssize_t c_fill(struct cconn *cc)
{
	ssize_t n;

	if (cc->cap - cc->len < 65536) {
		char *p = realloc(cc->buf, cc->cap + 65536);
		if (!p)
			return -1;
		cc->buf = p;
		cc->cap += 65536;
	}
	do
		n = recv(cc->fd, cc->buf + cc->len, cc->cap - cc->len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		cc->len += (size_t)n;
	return n < 0 ? -1 : n;
}

static void c_consume(struct cconn *cc, size_t n)
{
	memmove(cc->buf, cc->buf + n, cc->len - n);
	cc->len -= n;
}

static bool c_need(struct cconn *cc, size_t n)
{
	while (cc->len < n)
		if (c_fill(cc) <= 0)
			return false;
	return true;
}

static void resp_release(struct resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* The value of a response header (case-insensitive name) into out; false when absent. */
static bool resp_header(const struct resp *r, const char *name, char *out, size_t n)
{
	const char *p = r->head;
	size_t len = strlen(name);

	while ((p = strstr(p, "\r\n"))) {
		p += 2;
		if (strncasecmp(p, name, len) == 0 && p[len] == ':') {
			const char *v = p + len + 1, *end;

			while (*v == ' ')
				v++;
			end = strstr(v, "\r\n");
			snprintf(out, n, "%.*s", (int)(end - v), v);
			return true;
		}
	}
	return false;
}

static bool body_append(struct resp *r, const char *data, size_t n)
{
	char *p = realloc(r->body, r->body_len + n + 1);

	if (!p)
		return false;
	memcpy(p + r->body_len, data, n);
	r->body_len += n;
	p[r->body_len] = '\0';
	r->body = p;
	return true;
}

/* Read one response; head_only for HEAD. false on a protocol error, timeout or EOF. */
static bool c_read_response(struct cconn *cc, bool head_only, struct resp *r)
{
	char *end, value[64];
	size_t head_len;

	memset(r, 0, sizeof(*r));
	for (;;) {
		end = cc->len ? memmem(cc->buf, cc->len, "\r\n\r\n", 4) : NULL;
		if (end)
			break;
		if (c_fill(cc) <= 0)
			return false;
	}
	head_len = (size_t)(end - cc->buf) + 4;
	r->head = strndup(cc->buf, head_len);
	c_consume(cc, head_len);
	if (!r->head || sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
		return false;
	if (!body_append(r, "", 0))
		return false;
	if (head_only || r->status == 100 || r->status == 204 || r->status == 304)
		return true;
	if (resp_header(r, "Transfer-Encoding", value, sizeof(value))) {
		if (strcmp(value, "chunked") != 0)
			return false;
		for (;;) {
			char *eol;
			unsigned long size;

			while (!(eol = cc->len ? memmem(cc->buf, cc->len, "\r\n", 2) : NULL))
				if (c_fill(cc) <= 0)
					return false;
			size = strtoul(cc->buf, NULL, 16);
			c_consume(cc, (size_t)(eol - cc->buf) + 2);
			if (!c_need(cc, size + 2) || memcmp(cc->buf + size, "\r\n", 2) != 0)
				return false;
			if (!body_append(r, cc->buf, size))
				return false;
			c_consume(cc, size + 2);
			if (size == 0)
				return true;
		}
	}
	if (resp_header(r, "Content-Length", value, sizeof(value))) {
		size_t len = strtoul(value, NULL, 10);

		if (!c_need(cc, len) || !body_append(r, cc->buf, len))
			return false;
		c_consume(cc, len);
		return true;
	}
	/* no framing: the body runs to EOF */
	for (;;) {
		ssize_t n = c_fill(cc);

		if (n < 0)
			return false;
		if (n == 0)
			break;
	}
	if (!body_append(r, cc->buf, cc->len))
		return false;
	c_consume(cc, cc->len);
	return true;
}

/* True when the server closed the connection and sent nothing more. */
static bool c_eof(struct cconn *cc)
{
	return cc->len == 0 && c_fill(cc) == 0;
}

static bool wait_flag(atomic_int *flag, int want)
{
	for (int i = 0; i < 1000; i++) {
		if (atomic_load(flag) >= want)
			return true;
		usleep(10000);
	}
	return false;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- server side ---------------------------------------------------------------------- */

/* handler state of one request: owned by its timer and/or its disconnect registration */
struct later {
	uv_timer_t timer;
	struct env *e;
	struct http_request *req;
	unsigned ticks;
	unsigned refs;
};

static void later_unref(struct later *l)
{
	if (--l->refs == 0)
		free(l);
}

static void later_timer_closed(uv_handle_t *h)
{
	later_unref(h->data);
}

static void later_close_timer(struct later *l)
{
	uv_close((uv_handle_t *)&l->timer, later_timer_closed);
}

static void answer(struct env *e, struct http_request *req, int status, const char *body)
{
	e->active--;
	http_reply(req, status, NULL, "X-Served-By: test\r\n", body, strlen(body));
}

static void answer_echo(struct env *e, struct http_request *req)
{
	char body[256];

	e->connected_at_answer = http_request_connected(req);
	snprintf(body, sizeof(body), "{\"path\":\"%s\",\"id\":%llu}", http_request_path(req),
	         (unsigned long long)http_request_id(req));
	answer(e, req, 200, body);
}

static void on_defer_timer(uv_timer_t *t)
{
	struct later *l = t->data;

	l->e->in_flight_seen = http_server_requests_in_flight(l->e->server);
	answer_echo(l->e, l->req);
	atomic_fetch_add(&l->e->answered, 1);
	later_close_timer(l);
}

/* answer once the client is gone (the answer is dropped) */
static void on_wait_gone_timer(uv_timer_t *t)
{
	struct later *l = t->data;

	if (http_request_connected(l->req) && ++l->ticks < 500)
		return;
	answer_echo(l->e, l->req);
	atomic_fetch_add(&l->e->answered, 1);
	later_close_timer(l);
}

static void on_disconnect(struct http_request *req, void *userdata)
{
	struct later *l = userdata;

	l->e->disconnect_calls++;
	l->e->active--;
	http_stream_end(req);
	l->req = NULL; /* a timer still running stops on its next tick */
	atomic_fetch_add(&l->e->dropped, 1);
	later_unref(l);
}

/* writes 256 KiB chunks to a client that never reads, until it is dropped */
static void on_flood_timer(uv_timer_t *t)
{
	struct later *l = t->data;
	static const size_t size = 256 * 1024;
	char *chunk;
	int r;

	if (!l->req) {
		later_close_timer(l);
		return;
	}
	chunk = malloc(size);
	assert_non_null(chunk);
	memset(chunk, 'x', size);
	r = http_stream_write(l->req, chunk, size);
	free(chunk);
	l->e->stream_writes++;
	if (r < 0 || l->e->stream_writes > 400) {
		l->e->stream_write_err = r;
		if (r == 0) {
			/* never dropped: end it so the test fails rather than hangs */
			l->e->active--;
			http_stream_end(l->req);
			l->req = NULL;
			l->refs--; /* the disconnect registration ended with the request */
		}
		/* otherwise the disconnect callback ends the stream */
		later_close_timer(l);
	}
}

static void on_hold_late_timer(uv_timer_t *t)
{
	struct later *l = t->data;
	struct http_request *req = l->req;

	if (http_request_connected(req) && ++l->ticks < 500)
		return;
	/* the client is gone already: the notification must still come, later */
	l->refs++;
	http_stream_begin(req, 200, "application/x-ndjson");
	http_request_on_disconnect(req, on_disconnect, l);
	later_close_timer(l);
}

static struct later *later_new(struct env *e, struct http_request *req)
{
	struct later *l = calloc(1, sizeof(*l));

	assert_non_null(l);
	l->e = e;
	l->req = req;
	l->refs = 1;
	uv_timer_init(&e->loop, &l->timer);
	l->timer.data = l;
	return l;
}

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static void handler(struct http_request *req, void *userdata)
{
	struct env *e = userdata;
	const char *path = http_request_path(req);
	struct rec *r = &e->recs[e->n_recs < MAX_RECS ? e->n_recs : MAX_RECS - 1];
	const char *v, *body;
	size_t len;

	e->n_recs++;
	e->active++;
	if (e->active > e->max_active)
		e->max_active = e->active;
	memset(r, 0, sizeof(*r));
	r->method = http_request_method(req);
	copy_str(r->path, sizeof(r->path), path);
	copy_str(r->query, sizeof(r->query), http_request_query(req));
	v = http_request_query_param(req, "name");
	r->has_name = v != NULL;
	copy_str(r->name, sizeof(r->name), v);
	v = http_request_query_param(req, "force");
	r->has_force = v != NULL;
	copy_str(r->force, sizeof(r->force), v);
	r->has_missing = http_request_query_param(req, "missing") != NULL;
	copy_str(r->x_test, sizeof(r->x_test), http_request_header(req, "x-TEST"));
	body = http_request_body(req, &len);
	r->body_len = len;
	memcpy(r->body, body, len < sizeof(r->body) - 1 ? len : sizeof(r->body) - 1);
	r->id = http_request_id(req);
	http_request_peer(req, &r->pid, &r->uid, &r->gid);
	r->readonly = http_request_readonly(req);

	if (e->stop_in_handler)
		http_server_stop_accepting(e->server);

	if (r->method == HTTP_METHOD_OTHER) {
		answer(e, req, 405, "{\"error\":\"method\"}");
	} else if (strncmp(path, "/defer/", 7) == 0) {
		struct later *l = later_new(e, req);

		uv_timer_start(&l->timer, on_defer_timer, strtoul(path + 7, NULL, 10), 0);
	} else if (strcmp(path, "/wait-gone") == 0) {
		struct later *l = later_new(e, req);

		uv_timer_start(&l->timer, on_wait_gone_timer, 10, 10);
	} else if (strcmp(path, "/stream") == 0) {
		static const char *const lines[] = {"{\"n\":1}\n", "{\"n\":2}\n", "{\"n\":3}\n"};

		http_stream_begin(req, 200, "application/x-ndjson");
		for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
			e->stream_write_err |= http_stream_write(req, lines[i], strlen(lines[i]));
		/* an empty write is no chunk (it would end the body) */
		e->stream_write_err |= http_stream_write(req, "", 0);
		e->active--;
		http_stream_end(req);
	} else if (strcmp(path, "/flood") == 0) {
		struct later *l = later_new(e, req);

		l->refs++;
		http_stream_begin(req, 200, "application/octet-stream");
		http_request_on_disconnect(req, on_disconnect, l);
		uv_timer_start(&l->timer, on_flood_timer, 1, 5);
	} else if (strcmp(path, "/hold") == 0) {
		struct later *l = calloc(1, sizeof(*l));

		assert_non_null(l);
		l->e = e;
		l->req = req;
		l->refs = 1;
		http_stream_begin(req, 200, "application/x-ndjson");
		http_stream_write(req, "hello\n", 6);
		http_request_on_disconnect(req, on_disconnect, l);
	} else if (strcmp(path, "/hold-late") == 0) {
		struct later *l = later_new(e, req);

		uv_timer_start(&l->timer, on_hold_late_timer, 10, 10);
	} else {
		answer_echo(e, req);
	}
}

static void on_watchdog(uv_timer_t *t)
{
	fprintf(stderr, "test-svc-http: watchdog: the test is stuck\n");
	abort();
}

static void on_server_closed(void *userdata)
{
	struct env *e = userdata;

	e->closed = true;
	uv_close((uv_handle_t *)&e->watchdog, NULL);
}

static void on_client_done(uv_async_t *a)
{
	struct env *e = a->data;

	uv_close((uv_handle_t *)a, NULL);
	e->in_flight_at_end = http_server_requests_in_flight(e->server);
	http_server_close(e->server, on_server_closed, e);
}

static void *client_main(void *arg)
{
	struct env *e = arg;

	e->client(e);
	uv_async_send(&e->done);
	return NULL;
}

static const struct http_limits default_limits = {
        .max_header = 4096,
        .max_body = 64 * 1024,
        .max_connections = 16,
        .idle_timeout_ms = 5000,
        .max_stream_backlog = 1024 * 1024,
};

static void on_refused(enum http_method method, int status, void *userdata)
{
	struct env *e = userdata;

	if ((unsigned)method < HTTP_METHOD_MAX && status >= 100 && status < 600)
		e->refused[method][status / 100]++;
	e->n_refused++;
}

static void server_start(struct env *e, bool do_listen)
{
	assert_int_equal(http_server_new(&e->loop, &e->limits, handler, e, &e->server), 0);
	http_server_on_refused(e->server, on_refused);
	if (do_listen)
		assert_int_equal(http_server_listen(e->server, e->path, 0660, (gid_t)-1, false), 0);
}

/* Run the client in a thread while the loop serves it; then close the server. */
static void run_client(struct env *e, void (*fn)(struct env *e))
{
	e->client = fn;
	assert_int_equal(uv_async_init(&e->loop, &e->done, on_client_done), 0);
	e->done.data = e;
	uv_timer_init(&e->loop, &e->watchdog);
	uv_timer_start(&e->watchdog, on_watchdog, 60000, 0);
	uv_unref((uv_handle_t *)&e->watchdog);
	assert_int_equal(pthread_create(&e->thread, NULL, client_main, e), 0);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_int_equal(pthread_join(e->thread, NULL), 0);
	assert_true(e->closed);
	assert_string_equal(e->client_err, "");
}

/* Free the server and check that nothing is left on the loop. */
static void finish(struct env *e)
{
	http_server_free(e->server);
	e->server = NULL;
	assert_int_equal(uv_loop_close(&e->loop), 0);
}

/* Close a server that served no client. */
static void close_quietly(struct env *e)
{
	uv_timer_init(&e->loop, &e->watchdog);
	http_server_close(e->server, on_server_closed, e);
	uv_run(&e->loop, UV_RUN_DEFAULT);
	assert_true(e->closed);
	finish(e);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/cairn-http-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->path, sizeof(e->path), "%s/cairn.sock", e->dir);
	e->limits = default_limits;
	assert_int_equal(uv_loop_init(&e->loop), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char sub[160];

	unlink(e->path);
	snprintf(sub, sizeof(sub), "%s/sub/cairn.sock", e->dir);
	unlink(sub);
	snprintf(sub, sizeof(sub), "%s/sub", e->dir);
	rmdir(sub);
	assert_int_equal(rmdir(e->dir), 0);
	free(e);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static void test_percent_decode(void **state)
{
	char *s = NULL;

	assert_int_equal(http_percent_decode("/v1/a%20b%2Fc", 13, false, &s), 0);
	assert_string_equal(s, "/v1/a b/c");
	free(s);
	assert_int_equal(http_percent_decode("a+b%2b", 6, false, &s), 0);
	assert_string_equal(s, "a+b+");
	free(s);
	assert_int_equal(http_percent_decode("a+b%2B", 6, true, &s), 0);
	assert_string_equal(s, "a b+");
	free(s);
	assert_int_equal(http_percent_decode("%C3%A9", 6, false, &s), 0);
	assert_string_equal(s, "\xc3\xa9");
	free(s);
	assert_int_equal(http_percent_decode("", 0, false, &s), 0);
	assert_string_equal(s, "");
	free(s);
	s = NULL;
	assert_int_equal(http_percent_decode("a%00b", 5, false, &s), -EINVAL);
	assert_int_equal(http_percent_decode("a%zzb", 5, false, &s), -EINVAL);
	assert_int_equal(http_percent_decode("a%4", 3, false, &s), -EINVAL);
	assert_int_equal(http_percent_decode("a%", 2, false, &s), -EINVAL);
	assert_int_equal(http_percent_decode("a\0b", 3, false, &s), -EINVAL);
	/* the length bounds the input: "%41" cut after "%4" is malformed */
	assert_int_equal(http_percent_decode("%41", 2, false, &s), -EINVAL);
	assert_null(s);
}

static void test_query_parse(void **state)
{
	struct http_param *p = NULL;
	size_t n = 0;

	assert_int_equal(http_query_parse("name=web%201&force&&x=1+2&name=second&e=", &p, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(http_params_get(p, n, "name"), "web 1");
	assert_string_equal(http_params_get(p, n, "force"), "");
	assert_string_equal(http_params_get(p, n, "x"), "1 2");
	assert_string_equal(http_params_get(p, n, "e"), "");
	assert_null(http_params_get(p, n, "missing"));
	http_params_free(p, n);

	assert_int_equal(http_query_parse("", &p, &n), 0);
	assert_int_equal(n, 0);
	assert_null(p);
	assert_int_equal(http_query_parse("a=%00", &p, &n), -EINVAL);
	assert_int_equal(http_query_parse("a=1&b%g=2", &p, &n), -EINVAL);

	assert_string_equal(http_status_text(200), "OK");
	assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
	assert_string_equal(http_status_text(799), "Unknown");
	assert_string_equal(http_method_to_string(HTTP_METHOD_PATCH), "PATCH");
	assert_null(http_method_to_string(HTTP_METHOD_MAX));

	char *body = http_error_body(400, "bad \"x\"\n");
	assert_string_equal(body, "{\"error\":{\"code\":400,\"reason\":\"bad_request\","
	                          "\"message\":\"bad \\\"x\\\"\\u000a\"}}");
	free(body);
}

/* ---- requests and answers ----------------------------------------------------------- */

static void client_get_json(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r = {0};
	char v[64];

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "GET /v1/volumes HTTP/1.1\r\nHost: cairn\r\nX-Test:  hello  \r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r));
	CHECK(r.status == 200);
	CHECK(strncmp(r.head, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK(resp_header(&r, "Content-Type", v, sizeof(v)) && strcmp(v, "application/json") == 0);
	CHECK(resp_header(&r, "X-Served-By", v, sizeof(v)) && strcmp(v, "test") == 0);
	CHECK(resp_header(&r, "Content-Length", v, sizeof(v)) &&
	      strtoul(v, NULL, 10) == r.body_len);
	CHECK(!resp_header(&r, "Connection", v, sizeof(v)));
	CHECK(strcmp(r.body, "{\"path\":\"/v1/volumes\",\"id\":1}") == 0);
out:
	resp_release(&r);
	c_close(&cc);
}

static void test_get_json(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_get_json);
	assert_int_equal(e->n_recs, 1);
	assert_int_equal(e->recs[0].method, HTTP_METHOD_GET);
	assert_string_equal(e->recs[0].path, "/v1/volumes");
	assert_string_equal(e->recs[0].query, "");
	assert_string_equal(e->recs[0].x_test, "hello");
	assert_int_equal(e->recs[0].body_len, 0);
	assert_int_equal(e->recs[0].id, 1);
	/* the client is a thread of this process */
	assert_int_equal(e->recs[0].pid, getpid());
	assert_int_equal(e->recs[0].uid, getuid());
	assert_int_equal(e->recs[0].gid, getgid());
	assert_false(e->recs[0].readonly);
	assert_int_equal(e->in_flight_at_end, 0);
	finish(e);
}

static void client_keepalive(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r1 = {0}, r2 = {0}, r3 = {0};
	char v[64];

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "GET /one HTTP/1.1\r\nHost: cairn\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r1));
	CHECK(r1.status == 200 && strstr(r1.body, "\"/one\""));
	CHECK(c_sends(&cc, "GET /two HTTP/1.1\r\nHost: cairn\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r2));
	CHECK(r2.status == 200 && strstr(r2.body, "\"/two\""));
	/* Connection: close is honoured */
	CHECK(c_sends(&cc, "GET /three HTTP/1.1\r\nConnection: close\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r3));
	CHECK(r3.status == 200 && strstr(r3.body, "\"/three\""));
	CHECK(resp_header(&r3, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0);
	CHECK(c_eof(&cc));
out:
	resp_release(&r1);
	resp_release(&r2);
	resp_release(&r3);
	c_close(&cc);
}

static void test_keepalive(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_keepalive);
	assert_int_equal(e->n_recs, 3);
	assert_int_equal(e->recs[0].id, 1);
	assert_int_equal(e->recs[1].id, 2);
	assert_int_equal(e->recs[2].id, 3);
	finish(e);
}

static void client_pipelined(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r1 = {0}, r2 = {0}, r3 = {0};

	CHECK(c_connect(e->path, &cc) == 0);
	/* the first is answered 100 ms later, the others at once: the order must hold */
	CHECK(c_sends(&cc, "GET /defer/100 HTTP/1.1\r\n\r\n"
	                   "GET /b HTTP/1.1\r\n\r\n"
	                   "POST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"));
	CHECK(c_read_response(&cc, false, &r1));
	CHECK(c_read_response(&cc, false, &r2));
	CHECK(c_read_response(&cc, false, &r3));
	CHECK(strstr(r1.body, "\"/defer/100\""));
	CHECK(strstr(r2.body, "\"/b\""));
	CHECK(strstr(r3.body, "\"/c\""));
out:
	resp_release(&r1);
	resp_release(&r2);
	resp_release(&r3);
	c_close(&cc);
}

static void test_pipelined(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_pipelined);
	assert_int_equal(e->n_recs, 3);
	/* one request of a connection at a time */
	assert_int_equal(e->max_active, 1);
	assert_string_equal(e->recs[2].body, "abc");
	finish(e);
}

static void client_deferred(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r = {0};
	double t0 = now_ms();

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "DELETE /defer/150 HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r));
	CHECK(r.status == 200);
	CHECK(now_ms() - t0 >= 140);
out:
	resp_release(&r);
	c_close(&cc);
}

static void test_deferred_reply(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_deferred);
	assert_int_equal(e->n_recs, 1);
	assert_int_equal(e->recs[0].method, HTTP_METHOD_DELETE);
	assert_int_equal(e->in_flight_seen, 1);
	assert_true(e->connected_at_answer);
	assert_int_equal(e->in_flight_at_end, 0);
	finish(e);
}

static void client_post(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r1 = {0}, r2 = {0};

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "POST /v1/volumes HTTP/1.1\r\nContent-Type: application/json\r\n"
	                   "Content-Length: 27\r\n\r\n{\"name\":\"web1\",\"size\":1024}"));
	CHECK(c_read_response(&cc, false, &r1));
	CHECK(r1.status == 200);
	/* a chunked request body, split over several writes */
	CHECK(c_sends(&cc, "PUT /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"));
	usleep(20000);
	CHECK(c_sends(&cc, "lo\r\n6\r\n world\r\n0\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r2));
	CHECK(r2.status == 200);
out:
	resp_release(&r1);
	resp_release(&r2);
	c_close(&cc);
}

static void test_post_body(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_post);
	assert_int_equal(e->n_recs, 2);
	assert_int_equal(e->recs[0].method, HTTP_METHOD_POST);
	assert_int_equal(e->recs[0].body_len, 27);
	assert_string_equal(e->recs[0].body, "{\"name\":\"web1\",\"size\":1024}");
	assert_int_equal(e->recs[1].method, HTTP_METHOD_PUT);
	assert_int_equal(e->recs[1].body_len, 11);
	assert_string_equal(e->recs[1].body, "hello world");
	finish(e);
}

/* Send raw, expect one error answer with this status and reason, then EOF. */
static bool expect_error(struct env *e, const char *raw, int status, const char *reason)
{
	struct cconn cc = {.fd = -1};
	struct resp r = {0};
	char want[64], v[64];
	bool ok = false;

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_send(&cc, raw, strlen(raw)));
	CHECK(c_read_response(&cc, false, &r));
	CHECK(r.status == status);
	CHECK(resp_header(&r, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0);
	CHECK(resp_header(&r, "Content-Type", v, sizeof(v)) && strcmp(v, "application/json") == 0);
	snprintf(want, sizeof(want), "{\"error\":{\"code\":%d,\"reason\":\"%s\",\"message\":\"",
	         status, reason);
	CHECK(strncmp(r.body, want, strlen(want)) == 0);
	CHECK(c_eof(&cc));
	ok = true;
out:
	resp_release(&r);
	c_close(&cc);
	return ok;
}

static void client_body_too_large(struct env *e)
{
	/* refused from the Content-Length alone, before any body byte */
	CHECK(expect_error(e, "POST /v1/volumes HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", 413,
	                   "payload_too_large"));
out:;
}

static void test_body_too_large(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_body_too_large);
	assert_int_equal(e->n_recs, 0);
	/* the refusal is reported, with the method read from the request line */
	assert_int_equal(e->n_refused, 1);
	assert_int_equal(e->refused[HTTP_METHOD_POST][4], 1);
	finish(e);
}

static void client_chunked_too_large(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r = {0};
	char chunk[8192 + 16];

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "POST /v1/volumes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
	snprintf(chunk, sizeof(chunk), "2000\r\n");
	memset(chunk + 6, 'a', 8192);
	memcpy(chunk + 6 + 8192, "\r\n", 2);
	/* 9 chunks of 8 KiB are over the 64 KiB limit; the server may close before the last */
	for (int i = 0; i < 9; i++)
		if (!c_send(&cc, chunk, 6 + 8192 + 2))
			break;
	CHECK(c_read_response(&cc, false, &r));
	CHECK(r.status == 413);
	CHECK(strstr(r.body, "\"payload_too_large\""));
out:
	resp_release(&r);
	c_close(&cc);
}

static void test_chunked_body_too_large(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_chunked_too_large);
	assert_int_equal(e->n_recs, 0);
	finish(e);
}

static void client_header_too_large(struct env *e)
{
	char *raw = malloc(8192);
	char *many = malloc(120 * 16 + 64);
	size_t n;

	CHECK(raw && many);
	/* a 5000-byte header with max_header 4096 */
	n = (size_t)snprintf(raw, 8192, "GET / HTTP/1.1\r\nX-Big: ");
	memset(raw + n, 'b', 5000);
	n += 5000;
	snprintf(raw + n, 8192 - n, "\r\n\r\n");
	CHECK(expect_error(e, raw, 431, "header_too_large"));
	/* a long request target counts as well */
	n = (size_t)snprintf(raw, 8192, "GET /");
	memset(raw + n, 'p', 5000);
	n += 5000;
	snprintf(raw + n, 8192 - n, " HTTP/1.1\r\n\r\n");
	CHECK(expect_error(e, raw, 431, "header_too_large"));
	/* more than 100 small header fields */
	n = (size_t)snprintf(many, 64, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 120; i++)
		n += (size_t)snprintf(many + n, 17, "H%03d: v\r\n", i);
	snprintf(many + n, 3, "\r\n");
	CHECK(expect_error(e, many, 431, "header_too_large"));
out:
	free(raw);
	free(many);
}

static void test_header_too_large(void **state)
{
	struct env *e = *state;

	e->limits.max_header = 4096;
	server_start(e, true);
	run_client(e, client_header_too_large);
	assert_int_equal(e->n_recs, 0);
	/* refused before the headers were complete: the method is not known yet */
	assert_int_equal(e->n_refused, 3);
	assert_int_equal(e->refused[HTTP_METHOD_OTHER][4], 3);
	finish(e);
}

static void client_garbage(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r = {0};

	CHECK(expect_error(e, "hello there\r\n\r\n", 400, "bad_request"));
	CHECK(expect_error(e, "GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400, "bad_request"));
	CHECK(expect_error(e, "GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400, "bad_request"));
	/* an unknown method name cannot be parsed at all */
	CHECK(expect_error(e, "FROB / HTTP/1.1\r\n\r\n", 400, "bad_request"));
	CHECK(expect_error(e, "GET /a%00b HTTP/1.1\r\n\r\n", 400, "bad_request"));
	CHECK(expect_error(e, "GET /a%zz HTTP/1.1\r\n\r\n", 400, "bad_request"));
	CHECK(expect_error(e, "GET /a?x=%0 HTTP/1.1\r\n\r\n", 400, "bad_request"));
	/* the absolute form is accepted: its path is "/" */
	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "GET http://cairn HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r));
	CHECK(r.status == 200 && strstr(r.body, "\"path\":\"/\""));
out:
	resp_release(&r);
	c_close(&cc);
}

static void test_garbage(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_garbage);
	/* only the absolute-form target reached the handler, as path "/" */
	assert_int_equal(e->n_recs, 1);
	assert_string_equal(e->recs[0].path, "/");
	/* the seven others were reported refused: four the parser could not read, three GETs
	 * whose target was bad */
	assert_int_equal(e->n_refused, 7);
	assert_int_equal(e->refused[HTTP_METHOD_OTHER][4], 4);
	assert_int_equal(e->refused[HTTP_METHOD_GET][4], 3);
	finish(e);
}

static void client_query(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r = {0}, r2 = {0};

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "GET /v1/vol%20umes/a%2Fb?name=web%201&force&x=1+2 HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r));
	CHECK(r.status == 200);
	CHECK(c_sends(&cc, "OPTIONS /v1/volumes HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r2));
	CHECK(r2.status == 405);
out:
	resp_release(&r);
	resp_release(&r2);
	c_close(&cc);
}

static void test_query_params(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_query);
	assert_int_equal(e->n_recs, 2);
	assert_string_equal(e->recs[0].path, "/v1/vol umes/a/b");
	assert_string_equal(e->recs[0].query, "name=web%201&force&x=1+2");
	assert_true(e->recs[0].has_name);
	assert_string_equal(e->recs[0].name, "web 1");
	assert_true(e->recs[0].has_force);
	assert_string_equal(e->recs[0].force, "");
	assert_false(e->recs[0].has_missing);
	/* a method the API does not know still reaches the router */
	assert_int_equal(e->recs[1].method, HTTP_METHOD_OTHER);
	assert_string_equal(e->recs[1].path, "/v1/volumes");
	finish(e);
}

static void client_gone(struct env *e)
{
	struct cconn cc = {.fd = -1}, cc2 = {.fd = -1};

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "GET /wait-gone HTTP/1.1\r\n\r\n"));
	usleep(50000);
	c_close(&cc);
	/* the handler answers once it sees the client gone; the answer goes nowhere */
	CHECK(wait_flag(&e->answered, 1));
	/* half a request, then gone: nothing reaches the handler */
	CHECK(c_connect(e->path, &cc2) == 0);
	CHECK(c_sends(&cc2, "POST /v1/volumes HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"));
	usleep(50000);
	c_close(&cc2);
	usleep(50000);
out:
	c_close(&cc);
	c_close(&cc2);
}

static void test_client_gone(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_gone);
	assert_int_equal(e->n_recs, 1);
	assert_false(e->connected_at_answer);
	assert_int_equal(e->in_flight_at_end, 0);
	finish(e);
}

static void client_stream(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r = {0}, r2 = {0};
	char v[64];

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "GET /stream HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r));
	CHECK(r.status == 200);
	CHECK(resp_header(&r, "Transfer-Encoding", v, sizeof(v)) && strcmp(v, "chunked") == 0);
	CHECK(resp_header(&r, "Content-Type", v, sizeof(v)) &&
	      strcmp(v, "application/x-ndjson") == 0);
	CHECK(!resp_header(&r, "Content-Length", v, sizeof(v)));
	CHECK(strcmp(r.body, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n") == 0);
	/* the connection carries on after the stream */
	CHECK(c_sends(&cc, "GET /after HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r2));
	CHECK(r2.status == 200 && strstr(r2.body, "/after"));
out:
	resp_release(&r);
	resp_release(&r2);
	c_close(&cc);
}

static void test_stream(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_stream);
	assert_int_equal(e->n_recs, 2);
	assert_int_equal(e->stream_write_err, 0);
	finish(e);
}

static void client_stream_slow(struct env *e)
{
	struct cconn cc = {.fd = -1};

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "GET /flood HTTP/1.1\r\n\r\n"));
	/* never read: the server must drop this client */
	CHECK(wait_flag(&e->dropped, 1));
out:
	c_close(&cc);
}

static void test_stream_slow_client(void **state)
{
	struct env *e = *state;

	e->limits.max_stream_backlog = 64 * 1024;
	server_start(e, true);
	run_client(e, client_stream_slow);
	assert_int_equal(e->stream_write_err, -EPIPE);
	assert_true(e->stream_writes >= 1 && e->stream_writes < 50);
	assert_int_equal(e->disconnect_calls, 1);
	assert_int_equal(e->in_flight_at_end, 0);
	finish(e);
}

static void client_stream_gone(struct env *e)
{
	struct cconn cc = {.fd = -1}, cc2 = {.fd = -1};

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "GET /hold HTTP/1.1\r\n\r\n"));
	/* the head and the first chunk, then go away */
	while (!(cc.len && memmem(cc.buf, cc.len, "hello\n", 6)))
		CHECK(c_fill(&cc) > 0);
	CHECK(cc.len >= 15 && strncmp(cc.buf, "HTTP/1.1 200 OK", 15) == 0);
	c_close(&cc);
	CHECK(wait_flag(&e->dropped, 1));
	/* gone before the stream began: the notification still comes */
	CHECK(c_connect(e->path, &cc2) == 0);
	CHECK(c_sends(&cc2, "GET /hold-late HTTP/1.1\r\n\r\n"));
	usleep(30000);
	c_close(&cc2);
	CHECK(wait_flag(&e->dropped, 2));
out:
	c_close(&cc);
	c_close(&cc2);
}

static void test_stream_client_gone(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_stream_gone);
	assert_int_equal(e->n_recs, 2);
	assert_int_equal(e->disconnect_calls, 2);
	assert_int_equal(e->in_flight_at_end, 0);
	finish(e);
}

static void client_max_connections(struct env *e)
{
	struct cconn a = {.fd = -1}, b = {.fd = -1}, c = {.fd = -1};
	struct resp r = {0}, rb = {0}, rc = {0};
	bool served = false;

	CHECK(c_connect(e->path, &a) == 0);
	CHECK(c_sends(&a, "GET /a HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&a, false, &r));
	CHECK(r.status == 200);
	/* a second one is one too many */
	CHECK(c_connect(e->path, &b) == 0);
	CHECK(c_read_response(&b, false, &rb));
	CHECK(rb.status == 503);
	CHECK(strstr(rb.body, "\"reason\":\"overloaded\""));
	CHECK(c_eof(&b));
	/* once the first goes, there is room again */
	c_close(&a);
	for (int i = 0; i < 100 && !served; i++) {
		CHECK(c_connect(e->path, &c) == 0);
		CHECK(c_sends(&c, "GET /c HTTP/1.1\r\n\r\n"));
		CHECK(c_read_response(&c, false, &rc));
		served = rc.status == 200;
		resp_release(&rc);
		c_close(&c);
		if (!served)
			usleep(10000);
	}
	CHECK(served);
out:
	resp_release(&r);
	resp_release(&rb);
	c_close(&a);
	c_close(&b);
}

static void test_max_connections(void **state)
{
	struct env *e = *state;

	e->limits.max_connections = 1;
	server_start(e, true);
	run_client(e, client_max_connections);
	assert_string_equal(e->recs[0].path, "/a");
	assert_string_equal(e->recs[e->n_recs - 1].path, "/c");
	finish(e);
}

static void client_simple(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r = {0};

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "GET /simple HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r));
	CHECK(r.status == 200);
out:
	resp_release(&r);
	c_close(&cc);
}

static void test_stale_socket(void **state)
{
	struct env *e = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	/* a socket file left behind by a dead daemon */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(str_copy(sa.sun_path, sizeof(sa.sun_path), e->path), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(lstat(e->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));

	server_start(e, true);
	run_client(e, client_simple);
	assert_int_equal(e->n_recs, 1);
	/* closing removed the socket file */
	assert_int_equal(lstat(e->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	finish(e);
}

static void test_live_socket(void **state)
{
	struct env *e = *state;
	struct http_server *other = NULL, *other2 = NULL;
	char file[160];
	struct stat st;
	int fd;

	server_start(e, true);
	assert_int_equal(http_server_new(&e->loop, &e->limits, handler, e, &other), 0);
	/* something answers on the path: it is not ours to take */
	assert_int_equal(http_server_listen(other, e->path, 0660, (gid_t)-1, false), -EADDRINUSE);
	assert_int_equal(lstat(e->path, &st), 0);
	http_server_close(other, NULL, NULL);
	/* a file that is not a socket is never removed */
	snprintf(file, sizeof(file), "%s/sub", e->dir);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(http_server_new(&e->loop, &e->limits, handler, e, &other2), 0);
	assert_int_equal(http_server_listen(other2, file, 0660, (gid_t)-1, false), -EEXIST);
	assert_int_equal(lstat(file, &st), 0);
	assert_int_equal(unlink(file), 0);
	http_server_close(other2, NULL, NULL);
	/* one loop turn runs the close callbacks of both */
	uv_run(&e->loop, UV_RUN_NOWAIT);
	http_server_free(other);
	http_server_free(other2);
	run_client(e, client_simple);
	assert_int_equal(e->n_recs, 1);
	finish(e);
}

static void test_socket_mode(void **state)
{
	struct env *e = *state;
	char path[160];
	struct stat st;
	mode_t old;
	gid_t gid = getuid() == 0 ? 4242 : getgid();

	/* the parent directory is made; the umask does not narrow the mode */
	snprintf(path, sizeof(path), "%s/sub/cairn.sock", e->dir);
	old = umask(0077);
	assert_int_equal(http_server_new(&e->loop, &e->limits, handler, e, &e->server), 0);
	assert_int_equal(http_server_listen(e->server, path, 0660, gid, true), 0);
	umask(old);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, gid);
	snprintf(path, sizeof(path), "%s/sub", e->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* another mode, to be sure it is not a default */
	assert_int_equal(http_server_listen(e->server, e->path, 0600, (gid_t)-1, false), 0);
	assert_int_equal(lstat(e->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	run_client(e, client_simple);
	assert_false(e->recs[0].readonly);
	finish(e);
}

static void client_readonly(struct env *e)
{
	client_simple(e);
}

static void test_listen_fd(void **state)
{
	struct env *e = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, bad;

	server_start(e, false);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(str_copy(sa.sun_path, sizeof(sa.sun_path), e->path), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* not listening yet: refused, and fd is still the caller's */
	assert_int_equal(http_server_listen_fd(e->server, fd, true), -EINVAL);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(http_server_listen_fd(e->server, fd, true), 0);
	/* fd was taken (closed): the number is free again */
	bad = fcntl(fd, F_GETFD);
	assert_int_equal(bad, -1);
	run_client(e, client_readonly);
	assert_int_equal(e->n_recs, 1);
	assert_true(e->recs[0].readonly);
	finish(e);
}

static void client_expect(struct env *e)
{
	struct cconn cc = {.fd = -1};
	struct resp r = {0}, r100 = {0};
	char body[2000];
	struct pollfd pfd;

	memset(body, 'z', sizeof(body));
	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "PUT /v1/volumes/a HTTP/1.1\r\nExpect: 100-continue\r\n"
	                   "Content-Length: 2000\r\n\r\n"));
	/* the interim answer comes before any body byte is sent */
	pfd = (struct pollfd){.fd = cc.fd, .events = POLLIN};
	CHECK(poll(&pfd, 1, 5000) == 1);
	CHECK(c_read_response(&cc, false, &r100));
	CHECK(r100.status == 100);
	CHECK(strcmp(r100.head, "HTTP/1.1 100 Continue\r\n\r\n") == 0);
	CHECK(c_send(&cc, body, sizeof(body)));
	CHECK(c_read_response(&cc, false, &r));
	CHECK(r.status == 200);
out:
	resp_release(&r);
	resp_release(&r100);
	c_close(&cc);
}

static void test_expect_continue(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_expect);
	assert_int_equal(e->n_recs, 1);
	assert_int_equal(e->recs[0].body_len, 2000);
	assert_int_equal(e->recs[0].body[1999], 'z');
	finish(e);
}

static void client_idle(struct env *e)
{
	struct cconn a = {.fd = -1}, b = {.fd = -1}, c = {.fd = -1};
	struct resp r = {0}, rc = {0};
	double t0;

	/* half a request, then silence */
	CHECK(c_connect(e->path, &a) == 0);
	t0 = now_ms();
	CHECK(c_sends(&a, "GET /stalled HTTP/1.1\r\nHost: ca"));
	CHECK(c_eof(&a));
	CHECK(now_ms() - t0 >= 150);
	/* idle between keep-alive requests */
	CHECK(c_connect(e->path, &b) == 0);
	CHECK(c_sends(&b, "GET /one HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&b, false, &r));
	t0 = now_ms();
	CHECK(c_eof(&b));
	CHECK(now_ms() - t0 >= 150);
	/* a request with the handler for longer than the timeout is not cut */
	CHECK(c_connect(e->path, &c) == 0);
	CHECK(c_sends(&c, "GET /defer/600 HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&c, false, &rc));
	CHECK(rc.status == 200);
out:
	resp_release(&r);
	resp_release(&rc);
	c_close(&a);
	c_close(&b);
	c_close(&c);
}

static void test_idle_timeout(void **state)
{
	struct env *e = *state;

	e->limits.idle_timeout_ms = 200;
	server_start(e, true);
	run_client(e, client_idle);
	assert_int_equal(e->n_recs, 2);
	assert_string_equal(e->recs[0].path, "/one");
	finish(e);
}

static void client_head_http10(struct env *e)
{
	struct cconn cc = {.fd = -1}, c10 = {.fd = -1}, c10k = {.fd = -1};
	struct resp r = {0}, r2 = {0}, r3 = {0}, r4 = {0}, r5 = {0};
	char v[64];

	CHECK(c_connect(e->path, &cc) == 0);
	CHECK(c_sends(&cc, "HEAD /h HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&cc, true, &r));
	CHECK(r.status == 200);
	CHECK(resp_header(&r, "Content-Length", v, sizeof(v)) && strtoul(v, NULL, 10) > 0);
	/* no body followed: the next answer parses right after the head */
	CHECK(c_sends(&cc, "GET /g HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r2));
	CHECK(r2.status == 200 && strstr(r2.body, "\"/g\""));

	/* HTTP/1.0 closes after the answer */
	CHECK(c_connect(e->path, &c10) == 0);
	CHECK(c_sends(&c10, "GET /ten HTTP/1.0\r\n\r\n"));
	CHECK(c_read_response(&c10, false, &r3));
	CHECK(r3.status == 200);
	CHECK(resp_header(&r3, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0);
	CHECK(c_eof(&c10));
	/* ... unless it asks for keep-alive */
	CHECK(c_connect(e->path, &c10k) == 0);
	CHECK(c_sends(&c10k, "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
	CHECK(c_read_response(&c10k, false, &r4));
	CHECK(resp_header(&r4, "Connection", v, sizeof(v)) && strcmp(v, "keep-alive") == 0);
	CHECK(c_sends(&c10k, "GET /k2 HTTP/1.0\r\n\r\n"));
	CHECK(c_read_response(&c10k, false, &r5));
	CHECK(r5.status == 200 && strstr(r5.body, "\"/k2\""));
	CHECK(c_eof(&c10k));
out:
	resp_release(&r);
	resp_release(&r2);
	resp_release(&r3);
	resp_release(&r4);
	resp_release(&r5);
	c_close(&cc);
	c_close(&c10);
	c_close(&c10k);
}

static void test_head_and_http10(void **state)
{
	struct env *e = *state;

	server_start(e, true);
	run_client(e, client_head_http10);
	assert_int_equal(e->n_recs, 5);
	assert_int_equal(e->recs[0].method, HTTP_METHOD_HEAD);
	finish(e);
}

static void client_stop_accepting(struct env *e)
{
	struct cconn cc = {.fd = -1}, c2 = {.fd = -1};
	struct resp r = {0};
	char v[64];

	CHECK(c_connect(e->path, &cc) == 0);
	/* the handler stops the server; this request is still answered, then closed */
	CHECK(c_sends(&cc, "GET /defer/50 HTTP/1.1\r\n\r\n"));
	CHECK(c_read_response(&cc, false, &r));
	CHECK(r.status == 200);
	CHECK(resp_header(&r, "Connection", v, sizeof(v)) && strcmp(v, "close") == 0);
	CHECK(c_eof(&cc));
	/* nobody listens any more: the socket file is gone */
	CHECK(c_connect(e->path, &c2) == -ENOENT);
out:
	resp_release(&r);
	c_close(&cc);
}

static void test_stop_accepting(void **state)
{
	struct env *e = *state;

	e->stop_in_handler = true;
	server_start(e, true);
	run_client(e, client_stop_accepting);
	assert_int_equal(e->n_recs, 1);
	finish(e);
}

static void test_new_errors(void **state)
{
	struct env *e = *state;
	struct http_server *s = NULL;
	char longpath[200];

	assert_int_equal(http_server_new(NULL, NULL, handler, e, &s), -EINVAL);
	assert_int_equal(http_server_new(&e->loop, NULL, NULL, e, &s), -EINVAL);
	assert_null(s);
	/* NULL limits take the defaults */
	assert_int_equal(http_server_new(&e->loop, NULL, handler, e, &e->server), 0);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(http_server_listen(e->server, longpath, 0660, (gid_t)-1, false),
	                 -ENAMETOOLONG);
	assert_int_equal(http_server_listen(e->server, "", 0660, (gid_t)-1, false), -EINVAL);
	close_quietly(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_percent_decode),
	        cmocka_unit_test(test_query_parse),
	        cmocka_unit_test_setup_teardown(test_get_json, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_deferred_reply, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_post_body, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_body_too_large, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_chunked_body_too_large, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_header_too_large, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_query_params, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_client_gone, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stream_slow_client, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stream_client_gone, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_max_connections, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stale_socket, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_live_socket, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_socket_mode, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_listen_fd, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_head_and_http10, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stop_accepting, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_new_errors, setup, teardown),
	};

	/* writes to a vanished client must fail with EPIPE, not kill the process */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
