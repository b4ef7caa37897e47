/* SPDX-License-Identifier: MIT */
/*
 * svc/http: HTTP/1.1 over Unix stream sockets on a libuv loop (internal to svc/).
 *
 * The server accepts connections on one or more listening sockets, parses requests with
 * http-parser, and hands each complete request to the request callback on the loop
 * thread. Requests of one connection are handled one at a time in order (pipelined
 * requests wait their turn), so replies always go out in request order.
 *
 * The handler owns the request until it answers it exactly once, with http_reply() or a
 * stream (http_stream_begin ... http_stream_end). It may answer later (after work on the
 * thread pool); if the client goes away in the meantime the request stays valid and the
 * answer is dropped silently. Nothing here blocks.
 */
#ifndef CAIRN_SVC_HTTP_H
#define CAIRN_SVC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

struct http_server;
struct http_request;

enum http_method {
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_PATCH,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_OTHER,
	HTTP_METHOD_MAX,
};

const char *http_method_to_string(enum http_method m);

struct http_limits {
	size_t max_header;         /* bytes of request line + headers; over it: 431 and close */
	size_t max_body;           /* bytes; over it: 413 and close */
	unsigned max_connections;  /* over it: accepted, answered 503, closed */
	unsigned idle_timeout_ms;  /* keep-alive idle or stalled mid-request: closed */
	size_t max_stream_backlog; /* bytes queued to a stream client before it is dropped */
};

/* Called on the loop thread for each complete, well-formed request. */
typedef void (*http_request_cb)(struct http_request *req, void *userdata);

int http_server_new(uv_loop_t *loop, const struct http_limits *limits, http_request_cb cb,
                    void *userdata, struct http_server **ret);

/*
 * Called on the loop thread for each request the server answers by itself, before the
 * request callback could see it: malformed (400), body or headers over the limits (413,
 * 431), a connection over max_connections (503). method is HTTP_METHOD_OTHER when the
 * request line was not parsed yet. userdata is the server's.
 */
typedef void (*http_refused_cb)(enum http_method method, int status, void *userdata);
void http_server_on_refused(struct http_server *s, http_refused_cb cb);

/*
 * Listen on a Unix socket path (a stale socket file is replaced; a live one — something
 * answers connect() — is -EADDRINUSE), created with mode and, when gid != (gid_t)-1, that
 * group. readonly marks requests from it (http_request_readonly()).
 */
int http_server_listen(struct http_server *s, const char *path, unsigned mode, gid_t gid,
                       bool readonly);
/* Listen on an fd already bound and listening (systemd socket activation). */
int http_server_listen_fd(struct http_server *s, int fd, bool readonly);

/* Stop accepting; connections with no request in flight are closed. */
void http_server_stop_accepting(struct http_server *s);
/* Number of requests handed to the callback and not yet answered. */
unsigned http_server_requests_in_flight(const struct http_server *s);
/* Close everything; cb runs once every handle is closed (then free with _free). */
void http_server_close(struct http_server *s, void (*cb)(void *userdata), void *userdata);
void http_server_free(struct http_server *s);

/* ---- a request ---- */
enum http_method http_request_method(const struct http_request *req);
const char *http_request_path(const struct http_request *req);  /* percent-decoded, no query */
const char *http_request_query(const struct http_request *req); /* raw, without '?', or "" */
/* Value of a query parameter, percent-decoded (NULL when absent); "" for "?force". */
const char *http_request_query_param(struct http_request *req, const char *name);
/* Header value by case-insensitive name, or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
const char *http_request_body(const struct http_request *req, size_t *ret_len);
bool http_request_readonly(const struct http_request *req);
/* Peer credentials read with SO_PEERCRED when the connection was accepted. */
void http_request_peer(const struct http_request *req, pid_t *pid, uid_t *uid, gid_t *gid);
/* A number unique in this daemon's life, for logs. */
uint64_t http_request_id(const struct http_request *req);
/* false once the client went away: work for it may be skipped (the answer is still due). */
bool http_request_connected(const struct http_request *req);

/*
 * Answer with a complete body (copied). content_type NULL means application/json.
 * extra_headers: NULL or "Name: value\r\n..." lines. Frees the request.
 */
void http_reply(struct http_request *req, int status, const char *content_type,
                const char *extra_headers, const char *body, size_t len);

/* Chunked streaming answer: begin once, write any number of chunks, end once (frees req). */
void http_stream_begin(struct http_request *req, int status, const char *content_type);
/* -EPIPE when the client is gone or was dropped for falling behind: call http_stream_end. */
int http_stream_write(struct http_request *req, const char *data, size_t len);
void http_stream_end(struct http_request *req);
/*
 * For a long-lived stream: cb runs once on the loop thread when the client goes away or is
 * dropped; the handler must then call http_stream_end (possibly from cb).
 */
void http_request_on_disconnect(struct http_request *req,
                                void (*cb)(struct http_request *req, void *userdata),
                                void *userdata);

const char *http_status_text(int status);

#endif
