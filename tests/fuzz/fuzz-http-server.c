/* SPDX-License-Identifier: MIT */
/*
 * svc/http: the whole request path of the HTTP layer (http-parser callbacks, limits,
 * target splitting and decoding, headers, bodies, pipelining, errors) fed through a real
 * Unix socket on a libuv loop, as cairnd runs it. Each input is what one client sends on
 * one connection before it shuts its side; the handler answers every request at once.
 * Properties: every answer starts with a status line, the server always ends the
 * connection (bounded), and handlers only ever see requests whose path starts with '/'.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "tests/fuzz/fuzz.h"

#include "common/common.h"
#include "svc/http.h"

static uv_loop_t loop;
static struct http_server *server;
static struct sockaddr_un addr;

static void on_request(struct http_request *req, void *userdata)
{
	const char *path = http_request_path(req);
	size_t len = 0;

	FUZZ_ASSERT(path && path[0] == '/');
	(void)http_request_query(req);
	(void)http_request_query_param(req, "a");
	(void)http_request_header(req, "Content-Type");
	(void)http_request_header(req, "Idempotency-Key");
	(void)http_request_body(req, &len);
	(void)http_request_method(req);
	http_reply(req, 200, "text/plain", NULL, "ok\n", 3);
}

static void cleanup(void)
{
	unlink(addr.sun_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct http_limits limits = {
	        .max_header = 2048,
	        .max_body = 4096,
	        .max_connections = 8,
	        .idle_timeout_ms = 2000,
	        .max_stream_backlog = 4096,
	};

	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&loop) < 0 ||
	    http_server_new(&loop, &limits, on_request, NULL, &server) < 0)
		abort();
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "/tmp/cairn-fuzz-http.%ld.sock",
	         (long)getpid());
	unlink(addr.sun_path);
	if (http_server_listen(server, addr.sun_path, 0600, (gid_t)-1, false) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	size_t off = 0, got = 0;
	bool shut = false, closed = false;
	char first[16] = "";
	uint64_t start;

	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		abort();
	start = now_ms();
	/* bounded: the idle timeout (2 s) closes whatever a client leaves hanging */
	while (!closed && now_ms() - start < 5000) {
		char buf[4096];
		ssize_t n;

		if (off < size) {
			n = write(fd, data + off, size - off);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				off = size; /* the server closed on us: fine */
		}
		if (off == size && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		uv_run(&loop, UV_RUN_NOWAIT);
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN))
			closed = true;
		if (n > 0) {
			if (got < sizeof(first) - 1) {
				size_t room = sizeof(first) - 1 - got;
				size_t k = (size_t)n < room ? (size_t)n : room;
				memcpy(first + got, buf, k);
				first[got + k] = '\0';
			}
			got += (size_t)n;
		}
		if (!closed && n < 0)
			usleep(50);
	}
	FUZZ_ASSERT(closed);
	if (got >= 9)
		FUZZ_ASSERT(strncmp(first, "HTTP/1.1 ", 9) == 0);
	close(fd);
	/* let the server release the connection */
	for (int i = 0; i < 20; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	return 0;
}
