/* SPDX-License-Identifier: MIT */
/*
 * A small blocking HTTP/1.1 client over a Unix stream socket: one request per connection,
 * the request built into a buffer and written whole, the response parsed with
 * http-parser as it arrives (Content-Length, chunked, or until the peer closes).
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "cli/cli.h"

void cli_response_release(struct cli_response *r)
{
	cli_buf_release(&r->body);
	free(r->content_type);
	free(r->location);
	*r = (struct cli_response){0};
}

int cli_http_format_request(struct cli_buf *out, const char *method, const char *path,
                            const char *body, size_t body_len, const char *idempotency_key)
{
	cli_buf_printf(out,
	               "%s %s HTTP/1.1\r\n"
	               "Host: cairn\r\n"
	               "User-Agent: cairn/%s\r\n"
	               "Accept: application/json\r\n"
	               "Content-Type: application/json\r\n",
	               method, path, CAIRN_VERSION);
	if (body || strcmp(method, "GET") != 0)
		cli_buf_printf(out, "Content-Length: %zu\r\n", body ? body_len : 0);
	if (idempotency_key)
		cli_buf_printf(out, "Idempotency-Key: %s\r\n", idempotency_key);
	cli_buf_puts(out, "Connection: close\r\n\r\n");
	if (body)
		cli_buf_append(out, body, body_len);
	return cli_buf_error(out);
}

/* ---- response parsing ----------------------------------------------------------------- */

static struct cli_http_reader *reader_of(http_parser *p)
{
	return p->data;
}

static int reader_fail(struct cli_http_reader *r, int code)
{
	if (!r->error)
		r->error = code;
	return 1; /* stops http_parser_execute */
}

static int header_commit(struct cli_http_reader *r)
{
	char **slot = NULL;

	if (r->field.len == 0)
		return 0;
	if (strcasecmp(cli_buf_str(&r->field), "Content-Type") == 0)
		slot = &r->resp->content_type;
	else if (strcasecmp(cli_buf_str(&r->field), "Location") == 0)
		slot = &r->resp->location;
	if (slot) {
		free(*slot);
		*slot = strdup(cli_buf_str(&r->value));
		if (!*slot)
			return -ENOMEM;
	}
	cli_buf_reset(&r->field);
	cli_buf_reset(&r->value);
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct cli_http_reader *r = reader_of(p);

	if (r->in_value) {
		if (header_commit(r) < 0)
			return reader_fail(r, -ENOMEM);
		r->in_value = false;
	}
	cli_buf_append(&r->field, at, len);
	return cli_buf_error(&r->field) ? reader_fail(r, -ENOMEM) : 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct cli_http_reader *r = reader_of(p);

	r->in_value = true;
	cli_buf_append(&r->value, at, len);
	return cli_buf_error(&r->value) ? reader_fail(r, -ENOMEM) : 0;
}

static int on_headers_complete(http_parser *p)
{
	struct cli_http_reader *r = reader_of(p);

	if (header_commit(r) < 0)
		return reader_fail(r, -ENOMEM);
	r->in_value = false;
	r->resp->status = (int)p->status_code;
	return 0;
}

static bool reader_streams(const struct cli_http_reader *r)
{
	return r->on_line && r->resp->status >= 200 && r->resp->status < 300;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct cli_http_reader *r = reader_of(p);

	if (!reader_streams(r)) {
		if (r->resp->body.len + len > CLI_MAX_BODY)
			return reader_fail(r, -EMSGSIZE);
		cli_buf_append(&r->resp->body, at, len);
		return cli_buf_error(&r->resp->body) ? reader_fail(r, -ENOMEM) : 0;
	}
	while (len) {
		const char *nl = memchr(at, '\n', len);
		size_t n = nl ? (size_t)(nl - at) : len;

		if (r->line.len + n > CLI_MAX_BODY)
			return reader_fail(r, -EMSGSIZE);
		cli_buf_append(&r->line, at, n);
		if (cli_buf_error(&r->line))
			return reader_fail(r, -ENOMEM);
		if (!nl)
			break;
		if (r->line.len && r->line.data[r->line.len - 1] == '\r')
			r->line.data[--r->line.len] = '\0';
		if (r->line.len)
			r->on_line(cli_buf_str(&r->line), r->line.len, r->userdata);
		cli_buf_reset(&r->line);
		at = nl + 1;
		len -= n + 1;
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct cli_http_reader *r = reader_of(p);

	if (reader_streams(r) && r->line.len) {
		r->on_line(cli_buf_str(&r->line), r->line.len, r->userdata);
		cli_buf_reset(&r->line);
	}
	r->done = true;
	http_parser_pause(p, 1); /* nothing after the one reply is ours */
	return 0;
}

static const http_parser_settings reader_settings = {
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

void cli_http_reader_init(struct cli_http_reader *r, struct cli_response *resp, cli_line_cb on_line,
                          void *userdata)
{
	*r = (struct cli_http_reader){.resp = resp, .on_line = on_line, .userdata = userdata};
	http_parser_init(&r->parser, HTTP_RESPONSE);
	r->parser.data = r;
}

static int reader_result(struct cli_http_reader *r, struct cairn_err *err)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);

	if (r->error == -ENOMEM)
		return -ENOMEM;
	if (r->error == -EMSGSIZE)
		return err_set(err, -EMSGSIZE, "reply from cairnd is larger than %u MiB",
		               CLI_MAX_BODY >> 20);
	if (r->error)
		return err_set(err, r->error, "cannot read the reply from cairnd");
	if (r->done)
		return 1;
	if (e != HPE_OK)
		return err_set(err, -EPROTO, "malformed HTTP reply from cairnd: %s",
		               http_errno_description(e));
	return 0;
}

int cli_http_reader_feed(struct cli_http_reader *r, const char *data, size_t len,
                         struct cairn_err *err)
{
	if (r->done)
		return 1;
	if (r->error || HTTP_PARSER_ERRNO(&r->parser) != HPE_OK)
		return reader_result(r, err);
	http_parser_execute(&r->parser, &reader_settings, data, len);
	return reader_result(r, err);
}

int cli_http_reader_eof(struct cli_http_reader *r, struct cairn_err *err)
{
	if (r->done)
		return 1;
	if (!r->error && HTTP_PARSER_ERRNO(&r->parser) == HPE_OK)
		http_parser_execute(&r->parser, &reader_settings, NULL, 0);
	if (r->done || r->error)
		return reader_result(r, err);
	return err_set(err, -EPROTO, "cairnd closed the connection before its reply was complete");
}

void cli_http_reader_release(struct cli_http_reader *r)
{
	cli_buf_release(&r->line);
	cli_buf_release(&r->field);
	cli_buf_release(&r->value);
}

/* ---- the socket ------------------------------------------------------------------------ */

/* strerror() in our style: lowercase */
static const char *errstr(int e, char buf[128])
{
	str_copy(buf, 128, strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

static int cli_connect(const char *path, int timeout_ms, int *ret_fd, struct cairn_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_(closep) int fd = -1;
	char eb[128];
	const char *hint = "check that cairnd is running";

	if (str_copy(sa.sun_path, sizeof(sa.sun_path), path) < 0)
		return err_set(err, -EHOSTUNREACH,
		               "cannot reach cairnd: socket path '%s' is "
		               "too long",
		               path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, -errno, "cannot create a socket: %s", errstr(errno, eb));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (e == EACCES || e == EPERM)
			hint = "check that you are in cairnd's socket group, or use sudo";
		else if (e == ENOENT || e == ECONNREFUSED)
			hint = "check that cairnd is running (systemctl status cairnd), or give "
			       "--socket";
		return err_set(err, -EHOSTUNREACH, "cannot reach cairnd at '%s': %s; %s", path,
		               errstr(e, eb), hint);
	}
	if (timeout_ms > 0) {
		struct timeval tv = {.tv_sec = timeout_ms / 1000,
		                     .tv_usec = (timeout_ms % 1000) * 1000};

		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int send_all(int fd, const char *p, size_t n, struct cairn_err *err)
{
	char eb[128];

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return err_set(err, -ETIMEDOUT, "timed out sending to cairnd");
			return err_set(err, -errno, "cannot send the request to cairnd: %s",
			               errstr(errno, eb));
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int cli_http_call(const struct cli_client *c, const char *method, const char *path,
                  const char *body, size_t body_len, const char *idempotency_key,
                  cli_line_cb on_line, void *userdata, struct cli_response *ret,
                  struct cairn_err *err)
{
	struct cli_buf req = {0};
	struct cli_http_reader reader;
	struct cli_response resp = {0};
	_cleanup_(closep) int fd = -1;
	char chunk[16384], eb[128];
	int r;

	r = cli_connect(c->socket, on_line ? 0 : c->timeout_ms, &fd, err);
	if (r < 0)
		return r;
	r = cli_http_format_request(&req, method, path, body, body_len, idempotency_key);
	if (r == 0)
		r = send_all(fd, req.data, req.len, err);
	cli_buf_release(&req);
	if (r < 0)
		return r;

	cli_http_reader_init(&reader, &resp, on_line, userdata);
	for (r = 0; r == 0;) {
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				r = err_set(err, -ETIMEDOUT,
				            "timed out waiting for cairnd's reply");
			else
				r = err_set(err, -errno, "cannot read cairnd's reply: %s",
				            errstr(errno, eb));
			break;
		}
		if (n == 0)
			r = cli_http_reader_eof(&reader, err);
		else
			r = cli_http_reader_feed(&reader, chunk, (size_t)n, err);
	}
	cli_http_reader_release(&reader);
	if (r < 0) {
		cli_response_release(&resp);
		return r;
	}
	*ret = resp;
	return 0;
}
