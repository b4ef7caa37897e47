/* SPDX-License-Identifier: MIT */
/*
 * svc/http: HTTP/1.1 over Unix stream sockets on the libuv loop.
 *
 * Objects and who keeps them alive:
 * - the server: freed by http_server_free() once closed, or later, when the last
 *   connection kept alive by an unanswered request goes;
 * - a listener: a uv_pipe_t handle, freed in its close callback;
 * - a connection: two handles (the pipe and a timer) and a reference count: one for the
 *   handles (dropped when both close callbacks ran) and one while a request handed to the
 *   callback is unanswered, so a client that vanishes costs the handler nothing;
 * - a request: owned by its connection while it is parsed, by the handler from dispatch
 *   until http_reply()/http_stream_end().
 *
 * A connection parses with one http_parser. The parser is paused in on_message_complete,
 * the request is dispatched, and nothing more is parsed (bytes that arrive are buffered,
 * with a bound) until its answer is written out: pipelined replies go out in order.
 *
 * The connection timer is the idle/stall timeout while the connection waits for input
 * (and the send timeout while a finished answer is flushed); it never runs while a request
 * is with the handler. It also serves as a zero-delay "resume" when an answer completes
 * with nothing left to flush.
 *
 * Disconnect notifications (http_request_on_disconnect) never run from inside a call of
 * the handler: they are queued and delivered from a server timer.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

/* http_parser.h declares its own enum http_method: give it another name here. */
#define http_method http_parser_method
#include <http_parser.h>
#undef http_method

#define LOG_MODULE "http"
#include "common/common.h"
#include "svc/http.h"
#include "svc/http-util.h"

#define HTTP_DEFAULT_MAX_HEADER         (16 * 1024)
#define HTTP_DEFAULT_MAX_BODY           (1024 * 1024)
#define HTTP_DEFAULT_MAX_CONNECTIONS    256
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS    60000
#define HTTP_DEFAULT_MAX_STREAM_BACKLOG (1024 * 1024)

#define HTTP_MAX_HEADERS    100
#define HTTP_LISTEN_BACKLOG 128
#define HTTP_READ_CHUNK     16384
#define HTTP_LINGER_MS      5000
/* what a request line costs beyond its target, for the header byte count */
#define HTTP_LINE_OVERHEAD   16
#define HTTP_HEADER_OVERHEAD 4

struct http_header {
	char *name;
	size_t name_len;
	char *value;
	size_t value_len;
};

struct http_request {
	struct http_conn *conn;
	uint64_t id;
	enum http_method method;
	unsigned parser_method;
	unsigned short http_major;
	unsigned short http_minor;

	char *url;
	size_t url_len;
	char *path;
	char *query;
	struct http_param *params;
	size_t n_params;

	struct http_header *headers;
	size_t n_headers;
	size_t headers_cap;

	char *body;
	size_t body_len;
	size_t body_cap;

	bool readonly;
	pid_t pid;
	uid_t uid;
	gid_t gid;

	bool keep_alive;
	bool streaming;
	bool chunked;

	void (*disconnect_cb)(struct http_request *req, void *userdata);
	void *disconnect_userdata;
	bool notify_queued;
	bool notified;
	struct http_request *notify_prev;
	struct http_request *notify_next;
};

struct http_listener {
	uv_pipe_t pipe;
	struct http_server *server;
	struct http_listener *next;
	char *path; /* NULL for an inherited fd: never unlinked */
	dev_t dev;
	ino_t ino;
	bool readonly;
};

struct http_conn {
	uv_pipe_t pipe;
	uv_timer_t timer;
	uv_shutdown_t shutdown;
	struct http_server *server;
	struct http_conn *prev;
	struct http_conn *next;
	unsigned refs;
	unsigned handles_open;

	http_parser parser;
	bool readonly;
	pid_t pid;
	uid_t uid;
	gid_t gid;

	/* received bytes not parsed yet: in[in_off .. in_len) */
	char *in;
	size_t in_off;
	size_t in_len;
	size_t in_cap;
	size_t discarded;

	struct http_request *parsing; /* being parsed, owned by the connection */
	struct http_request *active;  /* with the handler */
	size_t hdr_bytes;
	bool last_was_value;
	int fail_status;
	char fail_msg[160];

	unsigned writes_pending;

	bool counted;           /* counts against max_connections */
	bool reading;           /* uv_read_start active */
	bool busy;              /* a request dispatched and its answer not flushed yet */
	bool close_after_write; /* close (lingering) once the answer is flushed */
	bool no_keepalive;      /* the server stops accepting: answer with Connection: close */
	bool lingering;         /* write side shut down, discarding input until EOF */
	bool eof;
	bool closing; /* uv_close called */
};

struct http_server {
	uv_loop_t *loop;
	struct http_limits limits;
	http_request_cb cb;
	http_refused_cb refused_cb;
	void *userdata;
	http_parser_settings settings;

	uv_timer_t defer; /* delivers disconnect notifications; closed last */
	struct http_listener *listeners;
	struct http_conn *conns;
	struct http_request *notify_head;
	struct http_request *notify_tail;

	unsigned n_conns;      /* open connections counted against max_connections */
	unsigned conns_alive;  /* connection structs not freed yet */
	unsigned open_handles; /* handles whose close callback has not run */
	unsigned in_flight;
	uint64_t next_id;

	bool stopped;
	bool closing;
	bool defer_closing;
	bool freed;
	void (*close_cb)(void *userdata);
	void *close_userdata;
};

/* one uv_write with its bytes in the same allocation, freed in the callback */
struct http_write {
	uv_write_t req;
	struct http_conn *conn;
	size_t len;
	char data[];
};

static void conn_close(struct http_conn *c);
static void conn_process(struct http_conn *c);
static void conn_response_complete(struct http_conn *c);
static void conn_send_error(struct http_conn *c, int status, const char *fmt, ...) _printf_(3, 4);

/* ---- requests ------------------------------------------------------------------------- */

static void notify_unlink(struct http_server *s, struct http_request *req)
{
	if (!req->notify_queued)
		return;
	if (req->notify_prev)
		req->notify_prev->notify_next = req->notify_next;
	else
		s->notify_head = req->notify_next;
	if (req->notify_next)
		req->notify_next->notify_prev = req->notify_prev;
	else
		s->notify_tail = req->notify_prev;
	req->notify_prev = req->notify_next = NULL;
	req->notify_queued = false;
}

static void req_free(struct http_request *req)
{
	if (!req)
		return;
	if (req->conn)
		notify_unlink(req->conn->server, req);
	free(req->url);
	free(req->path);
	free(req->query);
	http_params_free(req->params, req->n_params);
	for (size_t i = 0; i < req->n_headers; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	free(req->headers);
	free(req->body);
	free(req);
}

static void server_on_defer(uv_timer_t *t);

/*
 * Queue the disconnect notification of req (delivered from the server timer, never from
 * inside a call of the handler). Once http_server_close() has finished, nothing is
 * delivered any more: a handler still streaming then only learns from -EPIPE.
 */
static void req_queue_disconnect(struct http_request *req)
{
	struct http_server *s = req->conn->server;

	if (!req->disconnect_cb || req->notify_queued || req->notified || s->defer_closing)
		return;
	req->notify_prev = s->notify_tail;
	req->notify_next = NULL;
	if (s->notify_tail)
		s->notify_tail->notify_next = req;
	else
		s->notify_head = req;
	s->notify_tail = req;
	req->notify_queued = true;
	uv_timer_start(&s->defer, server_on_defer, 0, 0);
}

static void server_run_notifications(struct http_server *s)
{
	struct http_request *req;

	while ((req = s->notify_head)) {
		notify_unlink(s, req);
		req->notified = true;
		/* may end the request, freeing it */
		req->disconnect_cb(req, req->disconnect_userdata);
	}
}

static void server_on_defer(uv_timer_t *t)
{
	server_run_notifications(t->data);
}

/* Append n bytes to a NUL-terminated growing string. */
static int str_append(char **s, size_t *len, const char *data, size_t n)
{
	char *p = realloc(*s, *len + n + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p + *len, data, n);
	*len += n;
	p[*len] = '\0';
	*s = p;
	return 0;
}

static const char *req_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (req->headers[i].name && strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value ? req->headers[i].value : "";
	return NULL;
}

static enum http_method method_from_parser(unsigned m)
{
	switch (m) {
	case HTTP_GET:
		return HTTP_METHOD_GET;
	case HTTP_HEAD:
		return HTTP_METHOD_HEAD;
	case HTTP_POST:
		return HTTP_METHOD_POST;
	case HTTP_PUT:
		return HTTP_METHOD_PUT;
	case HTTP_PATCH:
		return HTTP_METHOD_PATCH;
	case HTTP_DELETE:
		return HTTP_METHOD_DELETE;
	default:
		return HTTP_METHOD_OTHER;
	}
}

/* Split and decode the request target; a message for the 400 answer on failure. */
static int req_prepare(struct http_request *req, const char **ret_msg)
{
	struct http_parser_url u;
	const char *path = "/";
	size_t path_len = 1;
	int r;

	if (!req->url || req->url_len > UINT16_MAX) {
		*ret_msg = "malformed request target";
		return -EINVAL;
	}
	http_parser_url_init(&u);
	if (http_parser_parse_url(req->url, req->url_len, req->parser_method == HTTP_CONNECT, &u)) {
		*ret_msg = "malformed request target";
		return -EINVAL;
	}
	if (u.field_set & (1 << UF_PATH)) {
		path = req->url + u.field_data[UF_PATH].off;
		path_len = u.field_data[UF_PATH].len;
	}
	if (path_len == 0 || path[0] != '/') {
		*ret_msg = "malformed path";
		return -EINVAL;
	}
	r = http_percent_decode(path, path_len, false, &req->path);
	if (r < 0) {
		*ret_msg = r == -ENOMEM ? "out of memory" : "malformed path";
		return r;
	}
	if (u.field_set & (1 << UF_QUERY))
		req->query =
		        strndup(req->url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
	else
		req->query = strdup("");
	if (!req->query) {
		*ret_msg = "out of memory";
		return -ENOMEM;
	}
	r = http_query_parse(req->query, &req->params, &req->n_params);
	if (r < 0) {
		*ret_msg = r == -ENOMEM ? "out of memory" : "malformed query string";
		return r;
	}
	return 0;
}

/* ---- parser callbacks ----------------------------------------------------------------- */

static int parse_fail(struct http_conn *c, int status, const char *fmt, ...) _printf_(3, 4);
static int parse_fail(struct http_conn *c, int status, const char *fmt, ...)
{
	va_list ap;

	if (c->fail_status == 0) {
		c->fail_status = status;
		va_start(ap, fmt);
		vsnprintf(c->fail_msg, sizeof(c->fail_msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int hdr_account(struct http_conn *c, size_t n)
{
	size_t max = c->server->limits.max_header;

	c->hdr_bytes += n;
	if (c->hdr_bytes > max)
		return parse_fail(c, 431, "request header too large (limit %zu bytes)", max);
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	if (c->closing)
		return -1;
	req_free(c->parsing);
	c->parsing = calloc(1, sizeof(*c->parsing));
	if (!c->parsing)
		return parse_fail(c, 500, "out of memory");
	c->parsing->method = HTTP_METHOD_OTHER; /* until the headers are complete */
	c->hdr_bytes = HTTP_LINE_OVERHEAD;
	c->last_was_value = false;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->parsing;

	if (c->closing || !req)
		return -1;
	if (hdr_account(c, n) < 0)
		return -1;
	if (str_append(&req->url, &req->url_len, at, n) < 0)
		return parse_fail(c, 500, "out of memory");
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->parsing;
	struct http_header *h;

	if (c->closing || !req)
		return -1;
	if (hdr_account(c, n) < 0)
		return -1;
	if (req->n_headers == 0 || c->last_was_value) {
		if (req->n_headers >= HTTP_MAX_HEADERS)
			return parse_fail(c, 431, "too many header fields (limit %d)",
			                  HTTP_MAX_HEADERS);
		if (req->n_headers == req->headers_cap) {
			size_t cap = req->headers_cap ? req->headers_cap * 2 : 16;
			struct http_header *nh = reallocarray(req->headers, cap, sizeof(*nh));

			if (!nh)
				return parse_fail(c, 500, "out of memory");
			req->headers = nh;
			req->headers_cap = cap;
		}
		req->headers[req->n_headers++] = (struct http_header){0};
		if (hdr_account(c, HTTP_HEADER_OVERHEAD) < 0)
			return -1;
		c->last_was_value = false;
	}
	h = &req->headers[req->n_headers - 1];
	if (str_append(&h->name, &h->name_len, at, n) < 0)
		return parse_fail(c, 500, "out of memory");
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->parsing;
	struct http_header *h;

	if (c->closing || !req || req->n_headers == 0)
		return -1;
	if (hdr_account(c, n) < 0)
		return -1;
	h = &req->headers[req->n_headers - 1];
	if (str_append(&h->value, &h->value_len, at, n) < 0)
		return parse_fail(c, 500, "out of memory");
	c->last_was_value = true;
	return 0;
}

static int conn_write(struct http_conn *c, const char *a, size_t alen, const char *b, size_t blen,
                      const char *z, size_t zlen);

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->parsing;
	const struct http_limits *lim = &c->server->limits;
	bool has_body;

	if (c->closing || !req)
		return -1;
	for (size_t i = 0; i < req->n_headers; i++) {
		struct http_header *h = &req->headers[i];

		if (!h->value && str_append(&h->value, &h->value_len, "", 0) < 0)
			return parse_fail(c, 500, "out of memory");
		while (h->value_len > 0 &&
		       (h->value[h->value_len - 1] == ' ' || h->value[h->value_len - 1] == '\t'))
			h->value[--h->value_len] = '\0';
	}
	req->parser_method = p->method;
	req->method = method_from_parser(p->method);
	req->http_major = p->http_major;
	req->http_minor = p->http_minor;
	req->keep_alive = http_should_keep_alive(p) && !p->upgrade;

	if ((p->flags & F_CONTENTLENGTH) && p->content_length > lim->max_body)
		return parse_fail(c, 413, "request body too large (limit %zu bytes)",
		                  lim->max_body);
	has_body =
	        (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
	if (!has_body)
		return 0;
	if (p->flags & F_CONTENTLENGTH) {
		req->body = malloc((size_t)p->content_length + 1);
		if (!req->body)
			return parse_fail(c, 500, "out of memory");
		req->body_cap = (size_t)p->content_length + 1;
	}
	if (req->http_major == 1 && req->http_minor >= 1) {
		const char *expect = req_header(req, "Expect");
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		if (expect && strcasecmp(expect, "100-continue") == 0 &&
		    conn_write(c, cont, sizeof(cont) - 1, NULL, 0, NULL, 0) < 0)
			return -1;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->parsing;
	size_t max = c->server->limits.max_body;

	if (c->closing || !req)
		return -1;
	if (n > max - req->body_len)
		return parse_fail(c, 413, "request body too large (limit %zu bytes)", max);
	if (req->body_len + n + 1 > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap * 2 : 4096;
		char *nb;

		while (cap < req->body_len + n + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		nb = realloc(req->body, cap);
		if (!nb)
			return parse_fail(c, 500, "out of memory");
		req->body = nb;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, at, n);
	req->body_len += n;
	req->body[req->body_len] = '\0';
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;

	if (c->closing || !c->parsing)
		return -1;
	/* stop here: the request is dispatched before the next one is parsed */
	http_parser_pause(p, 1);
	return 0;
}

/* ---- connections ---------------------------------------------------------------------- */

static void server_maybe_closed(struct http_server *s);
static void server_free_now(struct http_server *s);

static void conn_unref(struct http_conn *c)
{
	struct http_server *s = c->server;

	assert(c->refs > 0);
	if (--c->refs > 0)
		return;
	req_free(c->parsing);
	free(c->in);
	free(c);
	s->conns_alive--;
	if (s->freed && s->conns_alive == 0)
		server_free_now(s);
}

static void conn_on_handle_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;
	struct http_server *s = c->server;

	s->open_handles--;
	if (--c->handles_open > 0)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->counted)
		s->n_conns--;
	conn_unref(c);
	server_maybe_closed(s);
}

static void conn_close(struct http_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->reading = false;
	if (c->active)
		req_queue_disconnect(c->active);
	/* pending writes and the shutdown complete with UV_ECANCELED before the close cb */
	uv_close((uv_handle_t *)&c->pipe, conn_on_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_on_handle_closed);
}

static void conn_on_timeout(uv_timer_t *t)
{
	struct http_conn *c = t->data;

	log_debug("closing a connection: idle or stalled for %u ms",
	          c->server->limits.idle_timeout_ms);
	conn_close(c);
}

static void conn_arm_timeout(struct http_conn *c, uint64_t ms)
{
	if (c->closing)
		return;
	if (ms == 0)
		ms = c->server->limits.idle_timeout_ms;
	uv_timer_start(&c->timer, conn_on_timeout, ms, 0);
}

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct http_conn *c = h->data;

	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	if (c->in_cap - c->in_len < HTTP_READ_CHUNK && c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_cap - c->in_len < HTTP_READ_CHUNK) {
		size_t cap = c->in_cap * 2;
		char *p;

		if (cap < c->in_len + HTTP_READ_CHUNK)
			cap = c->in_len + HTTP_READ_CHUNK;
		p = realloc(c->in, cap);
		if (!p) {
			*buf = uv_buf_init(NULL, 0); /* the read callback gets UV_ENOBUFS */
			return;
		}
		c->in = p;
		c->in_cap = cap;
	}
	*buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

/* Bytes buffered past an unanswered request before reading stops. */
static size_t conn_buffer_bound(const struct http_conn *c)
{
	return c->server->limits.max_header + c->server->limits.max_body;
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void conn_read_start(struct http_conn *c)
{
	int r;

	if (c->reading || c->closing || c->eof)
		return;
	r = uv_read_start((uv_stream_t *)&c->pipe, conn_on_alloc, conn_on_read);
	if (r < 0) {
		log_debug("cannot read from a connection: %s", uv_strerror(r));
		conn_close(c);
		return;
	}
	c->reading = true;
}

static void conn_read_stop(struct http_conn *c)
{
	if (!c->reading)
		return;
	uv_read_stop((uv_stream_t *)&c->pipe);
	c->reading = false;
}

static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
	struct http_conn *c = req->data;

	if (status < 0)
		conn_close(c);
}

/* The last answer is out: send FIN, then discard input until EOF or a short timeout. */
static void conn_start_linger(struct http_conn *c)
{
	unsigned ms = c->server->limits.idle_timeout_ms;

	if (c->closing)
		return;
	if (c->eof) {
		conn_close(c);
		return;
	}
	c->lingering = true;
	c->in_off = c->in_len = 0;
	c->shutdown.data = c;
	if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->pipe, conn_on_shutdown) < 0) {
		conn_close(c);
		return;
	}
	conn_read_start(c);
	conn_arm_timeout(c, ms < HTTP_LINGER_MS ? ms : HTTP_LINGER_MS);
}

/* The answer of the current request is complete and flushed. */
static void conn_after_response(struct http_conn *c)
{
	if (c->closing || !c->busy || c->active || c->writes_pending > 0)
		return;
	c->busy = false;
	if (c->close_after_write || c->no_keepalive) {
		conn_start_linger(c);
		return;
	}
	conn_process(c);
}

static void conn_on_resume(uv_timer_t *t)
{
	conn_after_response(t->data);
}

static void conn_on_write(uv_write_t *w, int status)
{
	struct http_write *hw = container_of(w, struct http_write, req);
	struct http_conn *c = hw->conn;

	free(hw);
	assert(c->writes_pending > 0);
	c->writes_pending--;
	if (status < 0) {
		if (status != UV_ECANCELED)
			log_debug("cannot write to a connection: %s", uv_strerror(status));
		conn_close(c);
		return;
	}
	if (c->busy && !c->active) {
		if (c->writes_pending == 0)
			conn_after_response(c);
		else
			conn_arm_timeout(c, 0); /* progress: restart the send timeout */
	}
}

/*
 * Send a + b + z. Most answers fit in the socket buffer: they go out at once with one
 * writev, with no copy, no write request and no wait for the next loop iteration (and no
 * epoll_ctl, which libuv's completed uv_write costs). What the socket does not take now
 * is copied into one uv_write. On failure the connection is closed.
 */
static int conn_write(struct http_conn *c, const char *a, size_t alen, const char *b, size_t blen,
                      const char *z, size_t zlen)
{
	uv_buf_t bufs[3] = {
	        uv_buf_init((char *)a, (unsigned)alen),
	        uv_buf_init((char *)b, (unsigned)blen),
	        uv_buf_init((char *)z, (unsigned)zlen),
	};
	size_t total = alen + blen + zlen, skip = 0, off = 0;
	struct http_write *hw;
	uv_buf_t buf;
	int r;

	if (c->closing)
		return -EPIPE;
	r = uv_try_write((uv_stream_t *)&c->pipe, bufs, 3);
	if (r >= 0 && (size_t)r == total)
		return 0;
	if (r < 0 && r != UV_EAGAIN) {
		log_debug("cannot write to a connection: %s", uv_strerror(r));
		conn_close(c);
		return r;
	}
	if (r > 0)
		skip = (size_t)r;

	hw = malloc(sizeof(*hw) + total - skip);
	if (!hw) {
		conn_close(c);
		return -ENOMEM;
	}
	hw->conn = c;
	hw->len = total - skip;
	for (size_t i = 0; i < 3; i++) {
		size_t n = bufs[i].len;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		memcpy(hw->data + off, bufs[i].base + skip, n - skip);
		off += n - skip;
		skip = 0;
	}
	buf = uv_buf_init(hw->data, (unsigned)hw->len);
	r = uv_write(&hw->req, (uv_stream_t *)&c->pipe, &buf, 1, conn_on_write);
	if (r < 0) {
		log_debug("cannot write to a connection: %s", uv_strerror(r));
		free(hw);
		conn_close(c);
		return r;
	}
	c->writes_pending++;
	return 0;
}

/* The answer's last bytes are queued (or dropped): resume once they are flushed. */
static void conn_response_complete(struct http_conn *c)
{
	if (c->closing)
		return;
	if (c->writes_pending == 0)
		uv_timer_start(&c->timer, conn_on_resume, 0, 0);
	else
		conn_arm_timeout(c, 0); /* a client that does not read its answer is closed */
}

static void conn_send_error(struct http_conn *c, int status, const char *fmt, ...)
{
	_cleanup_(freep) char *body = NULL;
	_cleanup_(freep) char *head = NULL;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_debug("answering %d: %s", status, msg);
	if (c->server->refused_cb)
		c->server->refused_cb(c->parsing ? c->parsing->method : HTTP_METHOD_OTHER, status,
		                      c->server->userdata);

	req_free(c->parsing);
	c->parsing = NULL;
	c->busy = true;
	c->close_after_write = true;
	c->in_off = c->in_len = 0;
	body = http_error_body(status, msg);
	if (body)
		head = str_printf("HTTP/1.1 %d %s\r\n"
		                  "Content-Type: application/json\r\n"
		                  "Content-Length: %zu\r\n"
		                  "Connection: close\r\n\r\n",
		                  status, http_status_text(status), strlen(body));
	if (!head) {
		conn_close(c);
		return;
	}
	if (conn_write(c, head, strlen(head), body, strlen(body), NULL, 0) < 0)
		return;
	conn_response_complete(c);
}

static void conn_dispatch(struct http_conn *c)
{
	struct http_server *s = c->server;
	struct http_request *req = TAKE_PTR(c->parsing);
	const char *msg = NULL;
	int r;

	if (!req)
		return;
	req->conn = c;
	r = req_prepare(req, &msg);
	if (r < 0) {
		c->parsing = req; /* freed by the error answer, which counts its method */
		conn_send_error(c, r == -ENOMEM ? 500 : 400, "%s", msg);
		return;
	}
	req->id = ++s->next_id;
	req->readonly = c->readonly;
	req->pid = c->pid;
	req->uid = c->uid;
	req->gid = c->gid;
	if (c->no_keepalive)
		req->keep_alive = false;

	c->refs++;
	c->active = req;
	c->busy = true;
	s->in_flight++;
	uv_timer_stop(&c->timer);
	s->cb(req, s->userdata);
}

static void conn_parse_error(struct http_conn *c, enum http_errno e)
{
	if (c->fail_status)
		conn_send_error(c, c->fail_status, "%s", c->fail_msg);
	else if (e == HPE_HEADER_OVERFLOW)
		conn_send_error(c, 431, "request header too large");
	else
		conn_send_error(c, 400, "malformed http request: %s", http_errno_description(e));
}

/* Parse what is buffered, dispatching at most one request at a time. */
static void conn_process(struct http_conn *c)
{
	struct http_server *s = c->server;

	while (!c->closing && !c->busy && !c->lingering && c->in_off < c->in_len) {
		size_t n = http_parser_execute(&c->parser, &s->settings, c->in + c->in_off,
		                               c->in_len - c->in_off);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

		c->in_off += n;
		if (c->closing)
			break;
		if (e == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			conn_dispatch(c);
		} else if (e != HPE_OK) {
			conn_parse_error(c, e);
		}
	}
	if (c->closing || c->lingering)
		return;
	if (c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
		if (c->in_cap > 4 * HTTP_READ_CHUNK) {
			free(c->in);
			c->in = NULL;
			c->in_cap = 0;
		}
	}
	if (!c->busy)
		conn_arm_timeout(c, 0);
	if (c->in_len - c->in_off <= conn_buffer_bound(c))
		conn_read_start(c);
}

static void conn_on_eof(struct http_conn *c)
{
	c->eof = true;
	conn_read_stop(c);
	if (c->busy && !c->active && !c->lingering) {
		/* the answer is complete but not flushed yet: finish it, then close */
		c->close_after_write = true;
		return;
	}
	/* idle, half a request, lingering, or gone while its request is with the handler */
	conn_close(c);
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct http_conn *c = stream->data;

	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		if (nread == UV_EOF) {
			conn_on_eof(c);
		} else {
			log_debug("cannot read from a connection: %s", uv_strerror((int)nread));
			conn_close(c);
		}
		return;
	}
	if (c->lingering || c->close_after_write) {
		/* after an answer that closes the connection: drop what the client still sends */
		c->in_off = c->in_len = 0;
		c->discarded += (size_t)nread;
		if (c->discarded > conn_buffer_bound(c))
			conn_close(c);
		return;
	}
	c->in_len += (size_t)nread;
	if (!c->busy) {
		conn_process(c);
		return;
	}
	if (c->in_len - c->in_off > conn_buffer_bound(c))
		conn_read_stop(c);
}

static void server_on_connection(uv_stream_t *listener, int status)
{
	struct http_listener *l = listener->data;
	struct http_server *s = l->server;
	struct http_conn *c;
	struct ucred cred = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;
	int r;

	if (status < 0) {
		log_warn("cannot accept a connection: %s", uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_err("cannot accept a connection: out of memory");
		return;
	}
	c->server = s;
	c->refs = 1;
	s->conns_alive++;
	uv_pipe_init(s->loop, &c->pipe, 0);
	uv_timer_init(s->loop, &c->timer);
	c->pipe.data = c;
	c->timer.data = c;
	c->handles_open = 2;
	s->open_handles += 2;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->readonly = l->readonly;

	r = uv_accept(listener, (uv_stream_t *)&c->pipe);
	if (r < 0) {
		log_warn("cannot accept a connection: %s", uv_strerror(r));
		conn_close(c);
		return;
	}
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		log_warn("cannot read the peer credentials: %m");
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;

	if (s->limits.max_connections && s->n_conns >= s->limits.max_connections) {
		log_warn("refusing a connection from uid %u: too many connections (limit %u)",
		         (unsigned)c->uid, s->limits.max_connections);
		conn_read_start(c);
		conn_send_error(c, 503, "too many connections (limit %u)",
		                s->limits.max_connections);
		return;
	}
	c->counted = true;
	s->n_conns++;
	conn_read_start(c);
	conn_arm_timeout(c, 0);
}

/* ---- answers -------------------------------------------------------------------------- */

/* The request is answered: detach it from its connection and free it. */
static void req_finish(struct http_request *req)
{
	struct http_conn *c = req->conn;
	struct http_server *s = c->server;

	assert(c->active == req);
	c->active = NULL;
	assert(s->in_flight > 0);
	s->in_flight--;
	if (!c->closing) {
		if (!req->keep_alive)
			c->close_after_write = true;
		conn_response_complete(c);
	}
	req_free(req);
	conn_unref(c);
}

/* Status line and headers; framing is the Content-Length or Transfer-Encoding line. */
static char *response_head(struct http_request *req, int status, const char *content_type,
                           const char *extra_headers, const char *framing)
{
	const char *connection = "";

	if (req->conn->no_keepalive || req->conn->server->stopped)
		req->keep_alive = false;
	if (!req->keep_alive)
		connection = "Connection: close\r\n";
	else if (req->http_major == 1 && req->http_minor == 0)
		connection = "Connection: keep-alive\r\n";
	return str_printf("HTTP/1.1 %d %s\r\n"
	                  "Content-Type: %s\r\n"
	                  "%s%s%s\r\n",
	                  status, http_status_text(status),
	                  content_type ? content_type : "application/json", framing,
	                  extra_headers ? extra_headers : "", connection);
}

static int status_sane(int status)
{
	return status >= 200 && status <= 999 ? status : 500;
}

void http_reply(struct http_request *req, int status, const char *content_type,
                const char *extra_headers, const char *body, size_t len)
{
	struct http_conn *c = req->conn;

	assert(!req->streaming);
	status = status_sane(status);
	if (!body)
		len = 0;
	if (!c->closing) {
		_cleanup_(freep) char *head = NULL;
		bool no_body = status == 204 || status == 304;
		char framing[48] = "";

		if (!no_body)
			snprintf(framing, sizeof(framing), "Content-Length: %zu\r\n", len);
		head = response_head(req, status, content_type, extra_headers, framing);
		if (!head)
			conn_close(c);
		else if (req->method == HTTP_METHOD_HEAD || no_body || !body)
			conn_write(c, head, strlen(head), NULL, 0, NULL, 0);
		else
			conn_write(c, head, strlen(head), body, len, NULL, 0);
	}
	req_finish(req);
}

void http_stream_begin(struct http_request *req, int status, const char *content_type)
{
	struct http_conn *c = req->conn;
	_cleanup_(freep) char *head = NULL;

	assert(!req->streaming);
	req->streaming = true;
	/* HTTP/1.0 has no chunked encoding: the end of the body is the end of the connection */
	req->chunked = req->http_major == 1 && req->http_minor >= 1;
	if (!req->chunked)
		req->keep_alive = false;
	if (c->closing)
		return;
	head = response_head(req, status_sane(status), content_type, NULL,
	                     req->chunked ? "Transfer-Encoding: chunked\r\n" : "");
	if (!head) {
		conn_close(c);
		return;
	}
	conn_write(c, head, strlen(head), NULL, 0, NULL, 0);
}

int http_stream_write(struct http_request *req, const char *data, size_t len)
{
	struct http_conn *c = req->conn;
	size_t backlog = c->server->limits.max_stream_backlog;
	int r;

	assert(req->streaming);
	if (c->closing)
		return -EPIPE;
	if (len == 0 || req->method == HTTP_METHOD_HEAD)
		return 0;
	if (req->chunked) {
		char size[24];
		int n = snprintf(size, sizeof(size), "%zx\r\n", len);

		r = conn_write(c, size, (size_t)n, data, len, "\r\n", 2);
	} else {
		r = conn_write(c, data, len, NULL, 0, NULL, 0);
	}
	if (r < 0)
		return -EPIPE;
	if (backlog && uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > backlog) {
		log_warn("dropping a stream client (uid %u): more than %zu bytes unsent",
		         (unsigned)c->uid, backlog);
		conn_close(c);
		return -EPIPE;
	}
	return 0;
}

void http_stream_end(struct http_request *req)
{
	struct http_conn *c = req->conn;

	assert(req->streaming);
	if (!c->closing && req->chunked && req->method != HTTP_METHOD_HEAD)
		conn_write(c, "0\r\n\r\n", 5, NULL, 0, NULL, 0);
	req_finish(req);
}

void http_request_on_disconnect(struct http_request *req,
                                void (*cb)(struct http_request *req, void *userdata),
                                void *userdata)
{
	req->disconnect_cb = cb;
	req->disconnect_userdata = userdata;
	if (cb && req->conn->closing)
		req_queue_disconnect(req);
}

/* ---- request accessors ---------------------------------------------------------------- */

enum http_method http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *http_request_query(const struct http_request *req)
{
	return req->query;
}

const char *http_request_query_param(struct http_request *req, const char *name)
{
	return http_params_get(req->params, req->n_params, name);
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	return req_header(req, name);
}

const char *http_request_body(const struct http_request *req, size_t *ret_len)
{
	if (ret_len)
		*ret_len = req->body_len;
	return req->body ? req->body : "";
}

bool http_request_readonly(const struct http_request *req)
{
	return req->readonly;
}

void http_request_peer(const struct http_request *req, pid_t *pid, uid_t *uid, gid_t *gid)
{
	if (pid)
		*pid = req->pid;
	if (uid)
		*uid = req->uid;
	if (gid)
		*gid = req->gid;
}

uint64_t http_request_id(const struct http_request *req)
{
	return req->id;
}

bool http_request_connected(const struct http_request *req)
{
	return !req->conn->closing;
}

/* ---- the server ----------------------------------------------------------------------- */

int http_server_new(uv_loop_t *loop, const struct http_limits *limits, http_request_cb cb,
                    void *userdata, struct http_server **ret)
{
	struct http_server *s;
	int r;

	if (!loop || !cb || !ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->cb = cb;
	s->userdata = userdata;
	if (limits)
		s->limits = *limits;
	if (!s->limits.max_header)
		s->limits.max_header = HTTP_DEFAULT_MAX_HEADER;
	if (!s->limits.max_body)
		s->limits.max_body = HTTP_DEFAULT_MAX_BODY;
	if (!s->limits.max_connections)
		s->limits.max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
	if (!s->limits.idle_timeout_ms)
		s->limits.idle_timeout_ms = HTTP_DEFAULT_IDLE_TIMEOUT_MS;
	if (!s->limits.max_stream_backlog)
		s->limits.max_stream_backlog = HTTP_DEFAULT_MAX_STREAM_BACKLOG;

	http_parser_settings_init(&s->settings);
	s->settings.on_message_begin = on_message_begin;
	s->settings.on_url = on_url;
	s->settings.on_header_field = on_header_field;
	s->settings.on_header_value = on_header_value;
	s->settings.on_headers_complete = on_headers_complete;
	s->settings.on_body = on_body;
	s->settings.on_message_complete = on_message_complete;

	r = uv_timer_init(loop, &s->defer);
	if (r < 0) {
		free(s);
		return r;
	}
	s->defer.data = s;
	s->open_handles = 1;
	*ret = s;
	return 0;
}

void http_server_on_refused(struct http_server *s, http_refused_cb cb)
{
	s->refused_cb = cb;
}

static void listener_on_closed(uv_handle_t *h)
{
	struct http_listener *l = h->data;
	struct http_server *s = l->server;

	free(l->path);
	free(l);
	s->open_handles--;
	server_maybe_closed(s);
}

static void server_close_listeners(struct http_server *s)
{
	struct http_listener *l;

	while ((l = s->listeners)) {
		struct stat st;

		s->listeners = l->next;
		/* unlink our socket, not one a successor may have bound in the meantime */
		if (l->path && lstat(l->path, &st) == 0 && st.st_dev == l->dev &&
		    st.st_ino == l->ino)
			unlink(l->path);
		uv_close((uv_handle_t *)&l->pipe, listener_on_closed);
	}
}

/* Start listening on fd (bound and listening); fd is taken in every case. */
static int server_add_listener(struct http_server *s, int fd, const char *path,
                               const struct stat *st, bool readonly)
{
	struct http_listener *l;
	int r;

	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	if (path) {
		l->path = strdup(path);
		if (!l->path) {
			free(l);
			close(fd);
			return -ENOMEM;
		}
		l->dev = st->st_dev;
		l->ino = st->st_ino;
	}
	l->server = s;
	l->readonly = readonly;
	r = uv_pipe_init(s->loop, &l->pipe, 0);
	if (r < 0) {
		free(l->path);
		free(l);
		close(fd);
		return r;
	}
	l->pipe.data = l;
	s->open_handles++;
	r = uv_pipe_open(&l->pipe, fd);
	if (r < 0)
		close(fd);
	else
		r = uv_listen((uv_stream_t *)&l->pipe, HTTP_LISTEN_BACKLOG, server_on_connection);
	if (r < 0) {
		/* the caller removes the socket file */
		free(TAKE_PTR(l->path));
		uv_close((uv_handle_t *)&l->pipe, listener_on_closed);
		return r;
	}
	l->next = s->listeners;
	s->listeners = l;
	return 0;
}

static int ensure_parent_dir(const char *path)
{
	_cleanup_(freep) char *dir = NULL;
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!slash || slash == path)
		return 0;
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (errno != ENOENT)
		return -errno;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A socket file nobody answers on is removed; a live one is -EADDRINUSE. */
static int remove_stale_socket(const char *path, const struct sockaddr_un *sa)
{
	_cleanup_(closep) int fd = -1;
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return -EADDRINUSE;
	if (errno == EAGAIN || errno == EINPROGRESS) /* a full backlog: alive */
		return -EADDRINUSE;
	if (errno != ECONNREFUSED)
		return -errno;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	log_info("removed the stale socket '%s'", path);
	return 0;
}

int http_server_listen(struct http_server *s, const char *path, unsigned mode, gid_t gid,
                       bool readonly)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_(closep) int fd = -1;
	struct stat st;
	int r;

	if (!path || !*path || s->closing || s->stopped)
		return -EINVAL;
	if (str_copy(sa.sun_path, sizeof(sa.sun_path), path) < 0)
		return -ENAMETOOLONG;
	r = ensure_parent_dir(path);
	if (r < 0)
		return r;
	r = remove_stale_socket(path, &sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* on Linux the file takes the socket inode's mode (less the umask): never wider */
	(void)fchmod(fd, mode & 0777);
	if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if ((gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) || chmod(path, mode) < 0 ||
	    lstat(path, &st) < 0 || listen(fd, HTTP_LISTEN_BACKLOG) < 0) {
		r = -errno;
		unlink(path);
		return r;
	}
	r = server_add_listener(s, TAKE_FD(fd), path, &st, readonly);
	if (r < 0) {
		unlink(path);
		return r;
	}
	return 0;
}

int http_server_listen_fd(struct http_server *s, int fd, bool readonly)
{
	int listening = 0, domain = 0, dup_fd, r;
	socklen_t len = sizeof(listening);

	if (fd < 0 || s->closing || s->stopped)
		return -EINVAL;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		return -errno;
	len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return -errno;
	if (!listening || domain != AF_UNIX)
		return -EINVAL;
	/* libuv owns (and closes) what it is given: give it a copy, close fd on success */
	dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup_fd < 0)
		return -errno;
	r = server_add_listener(s, dup_fd, NULL, NULL, readonly);
	if (r < 0)
		return r;
	close(fd);
	return 0;
}

void http_server_stop_accepting(struct http_server *s)
{
	if (s->stopped || s->closing)
		return;
	s->stopped = true;
	server_close_listeners(s);
	for (struct http_conn *c = s->conns; c; c = c->next) {
		if (c->closing)
			continue;
		if (c->busy)
			c->no_keepalive = true;
		else
			conn_close(c);
	}
}

unsigned http_server_requests_in_flight(const struct http_server *s)
{
	return s->in_flight;
}

static void server_on_defer_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;

	s->open_handles--;
	assert(s->open_handles == 0);
	if (s->close_cb)
		s->close_cb(s->close_userdata); /* may free the server */
}

static void server_maybe_closed(struct http_server *s)
{
	if (!s->closing || s->defer_closing || s->open_handles != 1)
		return;
	/* every connection is closed: tell the stream handlers still waiting, then finish */
	server_run_notifications(s);
	s->defer_closing = true;
	uv_close((uv_handle_t *)&s->defer, server_on_defer_closed);
}

void http_server_close(struct http_server *s, void (*cb)(void *userdata), void *userdata)
{
	if (s->closing) /* a second call changes nothing: the first callback still runs */
		return;
	s->closing = true;
	s->stopped = true;
	s->close_cb = cb;
	s->close_userdata = userdata;
	server_close_listeners(s);
	for (struct http_conn *c = s->conns; c; c = c->next)
		conn_close(c);
	server_maybe_closed(s);
}

static void server_free_now(struct http_server *s)
{
	free(s);
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	/* only once http_server_close() finished: every handle is closed */
	assert(s->closing && s->open_handles == 0);
	s->freed = true;
	if (s->conns_alive == 0)
		server_free_now(s);
}
