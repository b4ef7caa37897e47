/* SPDX-License-Identifier: MIT */
/*
 * The pieces every benchmark shares: samples, the keep-alive HTTP client, spawning the
 * stock tools, the in-process cluster, threads and rows.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "common/json.h"

extern char **environ;

/* cairnd closes a connection idle for 60 s: reconnect well before that */
#define BENCH_IDLE_RECONNECT 20.0
#define BENCH_READ_TIMEOUT   120 /* seconds: a hung cairnd fails the benchmark */
#define BENCH_FILL_CHUNK     (4u << 20)

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_note(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cairn-bench %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- samples ---------------------------------------------------------------------------- */

int bench_samples_add(struct bench_samples *s, double seconds)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		double *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = seconds;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_samples_pct(struct bench_samples *s, double p)
{
	size_t rank;

	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	rank = (size_t)ceil(p / 100.0 * (double)s->n);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1];
}

void bench_samples_release(struct bench_samples *s)
{
	free(s->v);
	*s = (struct bench_samples){0};
}

static double ms3(double seconds)
{
	return round(seconds * 1e6) / 1e3; /* milliseconds, to the microsecond */
}

struct json_object *bench_samples_json(struct bench_samples *s)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_add_uint(o, "n", s->n);
	json_object_object_add(o, "p50_ms", json_object_new_double(ms3(bench_samples_pct(s, 50))));
	json_object_object_add(o, "p99_ms", json_object_new_double(ms3(bench_samples_pct(s, 99))));
	json_object_object_add(o, "min_ms", json_object_new_double(ms3(bench_samples_pct(s, 0))));
	json_object_object_add(o, "max_ms", json_object_new_double(ms3(bench_samples_pct(s, 100))));
	return o;
}

void bench_samples_format(struct bench_samples *s, char *buf, size_t len)
{
	snprintf(buf, len, "p50 %.2f / p99 %.2f ms", bench_samples_pct(s, 50) * 1e3,
	         bench_samples_pct(s, 99) * 1e3);
}

/* ---- HTTP ------------------------------------------------------------------------------- */

void bench_conn_init(struct bench_conn *c, const char *socket)
{
	*c = (struct bench_conn){.socket = socket, .fd = -1};
}

void bench_conn_release(struct bench_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int conn_open(struct bench_conn *c, struct cairn_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = BENCH_READ_TIMEOUT};
	int fd;

	if (str_copy(sa.sun_path, sizeof(sa.sun_path), c->socket) < 0)
		return err_set(err, -ENAMETOOLONG, "socket path '%s' is too long", c->socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, -errno, "cannot create a socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return err_set(err, -EHOSTUNREACH, "cannot reach cairnd at '%s': %s", c->socket,
		               strerror(e));
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	c->fd = fd;
	c->last_used = bench_now();
	return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One exchange: 0 and *ret filled, -EPIPE when the peer closed before any reply byte. */
static int exchange(struct bench_conn *c, const struct cli_buf *req, struct cli_response *ret,
                    struct cairn_err *err)
{
	struct cli_response resp = {0};
	struct cli_http_reader reader;
	char chunk[65536];
	bool got = false;
	int r;

	r = send_all(c->fd, req->data, req->len);
	if (r == -EPIPE || r == -ECONNRESET)
		return -EPIPE;
	if (r < 0)
		return err_set(err, r, "cannot send to cairnd: %s", strerror(-r));
	cli_http_reader_init(&reader, &resp, NULL, NULL);
	for (r = 0; r == 0;) {
		ssize_t n = recv(c->fd, chunk, sizeof(chunk), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if ((n == 0 || (n < 0 && errno == ECONNRESET)) && !got) {
			r = -EPIPE;
			break;
		}
		if (n < 0) {
			r = err_set(err, -errno, "cannot read cairnd's reply: %s", strerror(errno));
			break;
		}
		got = true;
		r = n == 0 ? cli_http_reader_eof(&reader, err)
		           : cli_http_reader_feed(&reader, chunk, (size_t)n, err);
	}
	cli_http_reader_release(&reader);
	if (r < 0) {
		cli_response_release(&resp);
		return r;
	}
	*ret = resp;
	return 0;
}

int bench_http(struct bench_conn *c, const char *method, const char *path, const char *body,
               struct cli_response *ret, struct cairn_err *err)
{
	struct cli_buf req = {0};
	size_t body_len = body ? strlen(body) : 0;
	int r, attempt;

	cli_buf_printf(&req,
	               "%s %s HTTP/1.1\r\nHost: cairn\r\nUser-Agent: cairn-bench\r\n"
	               "Accept: application/json\r\n",
	               method, path);
	if (body)
		cli_buf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
		               body_len);
	else if (strcmp(method, "GET") != 0)
		cli_buf_puts(&req, "Content-Length: 0\r\n");
	cli_buf_puts(&req, "\r\n");
	if (body)
		cli_buf_append(&req, body, body_len);
	if (cli_buf_error(&req)) {
		cli_buf_release(&req);
		return err_set(err, -ENOMEM, "out of memory");
	}
	if (c->fd >= 0 && bench_now() - c->last_used > BENCH_IDLE_RECONNECT)
		bench_conn_release(c);
	for (attempt = 0;; attempt++) {
		if (c->fd < 0) {
			r = conn_open(c, err);
			if (r < 0)
				break;
		}
		r = exchange(c, &req, ret, err);
		if (r != -EPIPE)
			break;
		/* closed by cairnd before it read the request: once more on a new connection */
		bench_conn_release(c);
		if (attempt == 1) {
			r = err_set(err, -EPIPE, "cairnd closed the connection");
			break;
		}
	}
	cli_buf_release(&req);
	if (r >= 0)
		c->last_used = bench_now();
	else
		bench_conn_release(c);
	return r;
}

int bench_call(struct bench_conn *c, const char *method, const char *path, const char *body,
               int want, struct json_object **ret_json, struct cairn_err *err)
{
	struct cli_response resp = {0};
	struct json_object *o = NULL;
	int r;

	r = bench_http(c, method, path, body, &resp, err);
	if (r < 0)
		return r;
	if (resp.body.len)
		o = json_tokener_parse(cli_buf_str(&resp.body));
	if (resp.status != want) {
		const char *msg = o ? cli_error_message(o) : NULL;

		r = err_set(err, -EPROTO, "%s %s: %d %s", method, path, resp.status,
		            msg ? msg : cli_buf_str(&resp.body));
		json_object_put(o);
		cli_response_release(&resp);
		return r;
	}
	cli_response_release(&resp);
	if (ret_json)
		*ret_json = o;
	else
		json_object_put(o);
	return 0;
}

int bench_op_wait(struct bench_conn *c, struct json_object *op, struct json_object **ret_op,
                  struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *cur = json_object_get(op);
	char path[256];

	for (;;) {
		const char *status = json_get_string(cur, "status");
		const char *id = json_get_string(cur, "id");
		struct json_object *next = NULL;
		int r;

		if (!status || !id)
			return err_set(err, -EPROTO, "not an operation: %s",
			               json_object_to_json_string(cur));
		if (strcmp(status, "succeeded") == 0) {
			if (ret_op)
				*ret_op = TAKE_PTR(cur);
			return 0;
		}
		if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0) {
			const char *msg = cli_error_message(cur);

			return err_set(err, -EIO, "operation %s %s: %s", id, status,
			               msg ? msg : json_object_to_json_string(cur));
		}
		snprintf(path, sizeof(path), "/v1/operations/%s/wait?timeout=60", id);
		r = bench_call(c, "GET", path, NULL, 200, &next, err);
		if (r < 0)
			return r;
		json_object_put(cur);
		cur = next;
	}
}

/* ---- the stock tools -------------------------------------------------------------------- */

int bench_spawn(const char *const *argv, struct cairn_err *err)
{
	posix_spawn_file_actions_t fa;
	char buf[4096];
	size_t got = 0;
	int pipefd[2], status, r;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return err_set(err, -errno, "cannot make a pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (r != 0) {
		close(pipefd[0]);
		return err_set(err, -r, "cannot run '%s': %s", argv[0], strerror(r));
	}
	for (;;) {
		ssize_t n = read(pipefd[0], buf + got, sizeof(buf) - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf) - 1) {
			char sink[4096];

			while (read(pipefd[0], sink, sizeof(sink)) > 0)
				; /* keep only the start */
			break;
		}
	}
	close(pipefd[0]);
	buf[got] = '\0';
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return err_set(err, -errno, "cannot wait for '%s': %s", argv[0],
			               strerror(errno));
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	buf[strcspn(buf, "\n")] = '\0';
	return err_set(err, -EIO, "'%s %s' failed (status %d): %s", argv[0], argv[1] ? argv[1] : "",
	               WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), buf);
}

/* ---- the cluster in-process ------------------------------------------------------------ */

int bench_rados_connect(const char *ceph_conf, rados_t *ret, struct cairn_err *err)
{
	rados_t cl;
	int r;

	r = rados_create2(&cl, "ceph", "client.admin", 0);
	if (r < 0)
		return err_set(err, r, "cannot create a rados handle: %s", strerror(-r));
	r = rados_conf_read_file(cl, ceph_conf);
	if (r >= 0)
		r = rados_conf_set(cl, "client_mount_timeout", "30");
	if (r >= 0)
		r = rados_connect(cl);
	if (r < 0) {
		rados_shutdown(cl);
		return err_set(err, r, "cannot connect to the cluster of '%s': %s", ceph_conf,
		               strerror(-r));
	}
	*ret = cl;
	return 0;
}

rbd_image_options_t bench_image_options(bool clone)
{
	rbd_image_options_t opts;

	rbd_image_options_create(&opts);
	rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FORMAT, 2);
	/* layering, exclusive-lock, object-map, fast-diff, deep-flatten: cairn's default */
	rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FEATURES, 61);
	if (clone)
		rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_CLONE_FORMAT, 2);
	return opts;
}

int bench_rbd_fill(rbd_image_t img, uint64_t offset, uint64_t len, unsigned char pattern,
                   struct cairn_err *err)
{
	_cleanup_(freep) char *buf = malloc(BENCH_FILL_CHUNK);

	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	memset(buf, pattern, BENCH_FILL_CHUNK);
	while (len) {
		size_t n = len < BENCH_FILL_CHUNK ? (size_t)len : BENCH_FILL_CHUNK;
		ssize_t w = rbd_write(img, offset, n, buf);

		if (w < 0)
			return err_set(err, (int)w, "cannot write to an rbd image: %s",
			               strerror((int)-w));
		offset += n;
		len -= n;
	}
	return 0;
}

/* ---- threads ---------------------------------------------------------------------------- */

struct thread_start {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool go;
	bool cancel; /* a thread could not be started: nobody runs */
};

struct thread_ctx {
	struct thread_start *start;
	bench_thread_fn fn;
	void *userdata;
	unsigned i;
	int result;
};

static void *thread_main(void *arg)
{
	struct thread_ctx *t = arg;
	bool cancel;

	pthread_mutex_lock(&t->start->lock);
	while (!t->start->go)
		pthread_cond_wait(&t->start->cond, &t->start->lock);
	cancel = t->start->cancel;
	pthread_mutex_unlock(&t->start->lock);
	t->result = cancel ? -ECANCELED : t->fn(t->i, t->userdata);
	return NULL;
}

int bench_threads(unsigned n, bench_thread_fn fn, void *userdata, struct cairn_err *err)
{
	_cleanup_(freep) struct thread_ctx *ctx = calloc(n, sizeof(*ctx));
	_cleanup_(freep) pthread_t *tid = calloc(n, sizeof(*tid));
	struct thread_start start = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false,
	                             false};
	unsigned i, started;
	int r = 0;

	if (!ctx || !tid)
		return err_set(err, -ENOMEM, "out of memory");
	for (started = 0; started < n; started++) {
		ctx[started] = (struct thread_ctx){&start, fn, userdata, started, 0};
		r = pthread_create(&tid[started], NULL, thread_main, &ctx[started]);
		if (r != 0)
			break;
	}
	/* all at once, so the first ones do not run alone */
	pthread_mutex_lock(&start.lock);
	start.go = true;
	start.cancel = started < n;
	pthread_cond_broadcast(&start.cond);
	pthread_mutex_unlock(&start.lock);
	for (i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	if (started < n)
		return err_set(err, -r, "cannot start a thread: %s", strerror(r));
	for (i = 0; i < n; i++) {
		if (ctx[i].result < 0)
			return ctx[i].result;
	}
	return 0;
}

/* ---- rows ------------------------------------------------------------------------------- */

static const char *met_string(enum bench_met m)
{
	return m == BENCH_MET_YES ? "yes" : m == BENCH_MET_NO ? "no" : "-";
}

int bench_row_add(struct json_object *rows, const char *benchmark, const char *cairn,
                  const char *alternative, double ratio, const char *ratio_means,
                  const char *target, enum bench_met met, struct json_object *data)
{
	struct json_object *row = json_object_new_object();

	if (!row) {
		json_object_put(data);
		return -ENOMEM;
	}
	json_add_string(row, "benchmark", benchmark);
	json_add_string(row, "cairn", cairn);
	json_add_string(row, "alternative", alternative);
	if (isfinite(ratio))
		json_object_object_add(row, "ratio",
		                       json_object_new_double(round(ratio * 1000) / 1000));
	else
		json_object_object_add(row, "ratio", NULL);
	json_add_string(row, "ratio_means", ratio_means);
	json_add_string(row, "target", target ? target : "-");
	json_add_string(row, "met", met_string(met));
	json_object_object_add(row, "data", data ? data : json_object_new_object());
	return json_object_array_add(rows, row) == 0 ? 0 : -ENOMEM;
}

int bench_row_na(struct json_object *rows, const char *benchmark, const char *why)
{
	char na[256];

	snprintf(na, sizeof(na), "n/a (%s)", why);
	return bench_row_add(rows, benchmark, na, na, NAN, "-", "-", BENCH_MET_NONE, NULL);
}
