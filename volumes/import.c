/* SPDX-License-Identifier: MIT */
/*
 * volumes: the import source and qemu-img. The file is opened here, checked to be a regular
 * file under [import] directory, and handed to qemu-img as /dev/fd/3, so what qemu-img reads
 * is the file that was checked, whatever happens to the path meanwhile. qemu-img runs as a
 * child process from an argv array (no shell) with a minimal environment; the cephx key is
 * never in its arguments or environment (librados in qemu reads the keyring file).
 */
#define LOG_MODULE "import"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "volumes/vol-internal.h"

#define CHILD_FD        3
#define CHILD_SOURCE    "/dev/fd/3"
#define INFO_TIMEOUT_MS 60000
#define INFO_MAX_OUTPUT (1 << 20)
#define INFO_AS_LIMIT   (1ULL << 30) /* qemu-img info on a hostile file: 1 GiB, 30 s of CPU */
#define INFO_CPU_LIMIT  30
#define STDERR_KEEP     1024

static const char *const import_formats[] = {"qcow2", "raw", "vmdk", NULL};

static bool format_allowed(const char *f)
{
	for (const char *const *p = import_formats; *p; p++)
		if (strcmp(*p, f) == 0)
			return true;
	return false;
}

/* ---- the source file ------------------------------------------------------------------------ */

static bool has_dotdot(const char *path)
{
	const char *p = path;

	while (*p) {
		const char *end = strchrnul(p, '/');
		if (end - p == 2 && p[0] == '.' && p[1] == '.')
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return path[0] == '/' && path[1] != '\0';
	return strncmp(path, dir, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

int vol_import_open(const char *dir, const char *file, char **ret_path, struct cairn_err *err)
{
	_cleanup_(freep) char *rdir = NULL, *joined = NULL, *rpath = NULL;
	_cleanup_(closep) int fd = -1;
	char link[64], now[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (!file || !*file)
		return err_set(err, -EINVAL, "no file to import");
	if (has_dotdot(file))
		return err_set(err, -EACCES, "import file '%s' must not contain '..'", file);
	rdir = realpath(dir, NULL);
	if (!rdir)
		return err_set(err, -errno, "import directory '%s' is not usable: %s", dir,
		               strerror(errno));
	joined = file[0] == '/' ? strdup(file) : str_printf("%s/%s", rdir, file);
	if (!joined)
		return err_set(err, -ENOMEM, "out of memory");
	rpath = realpath(joined, NULL);
	if (!rpath) {
		int e = errno;
		if (e == ENOENT)
			return err_set(err, -ENOENT, "import file '%s' not found", file);
		return err_set(err, -EACCES, "import file '%s' is not accessible: %s", file,
		               strerror(e));
	}
	if (!path_under(rpath, rdir))
		return err_set(err, -EACCES,
		               "import file '%s' is outside the import directory '%s'", file, dir);
	fd = open(rpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return err_set(err, -EACCES, "cannot open import file '%s': %s", file,
		               strerror(errno));
	if (fstat(fd, &st) < 0)
		return err_set(err, -errno, "cannot stat import file '%s': %s", file,
		               strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(err, -EACCES, "import file '%s' is not a regular file", file);
	/* what was opened is still under the directory (no directory swapped meanwhile) */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, now, sizeof(now) - 1);
	if (n < 0 || (size_t)n >= sizeof(now) - 1)
		return err_set(err, -EACCES, "cannot check import file '%s'", file);
	now[n] = '\0';
	if (!path_under(now, rdir))
		return err_set(err, -EACCES,
		               "import file '%s' is outside the import directory '%s'", file, dir);
	/* back to blocking reads for qemu-img */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	if (ret_path)
		*ret_path = TAKE_PTR(rpath);
	return TAKE_FD(fd);
}

int img_import_check(struct cluster *c, const char *file, struct cairn_err *err)
{
	int fd = vol_import_open(cluster_config(c)->import.directory, file, NULL, err);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* ---- qemu-img output ------------------------------------------------------------------------- */

static int progress_line(const char *s)
{
	const char *p = strchr(s, '(');
	double v;
	char *end;

	if (!p)
		return -1;
	v = strtod(p + 1, &end);
	if (end == p + 1 || strncmp(end, "/100%)", 6) != 0 || v < 0 || v > 100)
		return -1;
	return (int)(v * 100 + 0.5);
}

int qemu_progress_feed(struct qemu_progress *p, const char *data, size_t len)
{
	int last = -1;

	for (size_t i = 0; i < len; i++) {
		char ch = data[i];

		if (ch == '\r' || ch == '\n') {
			p->buf[p->len] = '\0';
			int v = progress_line(p->buf);
			if (v >= 0)
				last = v;
			p->len = 0;
			continue;
		}
		if (p->len < sizeof(p->buf) - 1)
			p->buf[p->len++] = ch;
	}
	return last;
}

int qemu_info_parse(const char *json, struct qemu_info *ret, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *o = json_tokener_parse(json);
	struct json_object *v, *spec, *data, *extents;
	struct qemu_info info = {0};
	const char *format;
	int64_t size;

	if (!o || !json_object_is_type(o, json_type_object))
		return err_set(err, -EINVAL, "qemu-img info gave no JSON object");
	format = json_get_string(o, "format");
	if (!format || str_copy(info.format, sizeof(info.format), format) < 0)
		return err_set(err, -EINVAL, "qemu-img info gave no format");
	if (!json_object_object_get_ex(o, "virtual-size", &v) ||
	    !json_object_is_type(v, json_type_int) || (size = json_object_get_int64(v)) <= 0)
		return err_set(err, -EINVAL, "qemu-img info gave no virtual size");
	info.virtual_size = (uint64_t)size;
	info.has_backing = json_object_object_get_ex(o, "backing-filename", NULL) ||
	                   json_object_object_get_ex(o, "full-backing-filename", NULL);
	if (json_object_object_get_ex(o, "format-specific", &spec) &&
	    json_object_object_get_ex(spec, "data", &data)) {
		/* qcow2 external data file */
		if (json_object_object_get_ex(data, "data-file", NULL))
			info.has_data_file = true;
		/* vmdk: every extent must be the file itself */
		if (json_object_object_get_ex(data, "extents", &extents) &&
		    json_object_is_type(extents, json_type_array)) {
			size_t n = json_object_array_length(extents);
			for (size_t i = 0; i < n; i++) {
				const char *f = json_get_string(
				        json_object_array_get_idx(extents, i), "filename");
				if (!f || strcmp(f, CHILD_SOURCE) != 0)
					info.has_data_file = true;
			}
		}
	}
	*ret = info;
	return 0;
}

/* Append s to buf escaping what qemu's rbd: filename syntax splits on. */
static int rbd_escape(char **buf, size_t *len, size_t *cap, const char *s, const char *special)
{
	for (; *s; s++) {
		if (*len + 3 > *cap) {
			size_t ncap = *cap * 2 + 64;
			char *n = realloc(*buf, ncap);
			if (!n)
				return -ENOMEM;
			*buf = n;
			*cap = ncap;
		}
		if (*s == '\\' || strchr(special, *s))
			(*buf)[(*len)++] = '\\';
		(*buf)[(*len)++] = *s;
	}
	(*buf)[*len] = '\0';
	return 0;
}

char *qemu_rbd_target(const struct cairn_config *conf, const char *pool, const char *image)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int r = 0;

	/* rbd:POOL/IMAGE:id=USER:conf=PATH[:keyring=PATH] */
	r |= rbd_escape(&buf, &len, &cap, "rbd:", "");
	r |= rbd_escape(&buf, &len, &cap, pool, "/@:");
	r |= rbd_escape(&buf, &len, &cap, "/", "");
	r |= rbd_escape(&buf, &len, &cap, image, "/@:");
	r |= rbd_escape(&buf, &len, &cap, ":id=", "");
	r |= rbd_escape(&buf, &len, &cap, conf->ceph.user, ":");
	r |= rbd_escape(&buf, &len, &cap, ":conf=", "");
	r |= rbd_escape(&buf, &len, &cap, conf->ceph.conf, ":");
	if (conf->ceph.keyring && conf->ceph.keyring[0]) {
		/* a path, not the key: librados in qemu reads the file */
		r |= rbd_escape(&buf, &len, &cap, ":keyring=", "");
		r |= rbd_escape(&buf, &len, &cap, conf->ceph.keyring, ":");
	}
	if (r) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the child process ------------------------------------------------------------------------ */

struct child_run {
	const char *const *argv;
	int src_fd;
	bool limit;                      /* rlimits for an untrusted probe */
	int timeout_ms;                  /* 0: none */
	struct cairn_progress *progress; /* cancellation; may be NULL */
	void (*on_stdout)(struct child_run *run, const char *data, size_t len);
	void *userdata;
	/* results */
	char *out; /* collected stdout when collect_out */
	size_t out_len;
	bool collect_out;
	bool out_overflow;
	char errtail[STDERR_KEEP + 1];
	size_t err_len;
	bool cancelled, timed_out;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void keep_stderr(struct child_run *run, const char *data, size_t n)
{
	if (n >= STDERR_KEEP) {
		memcpy(run->errtail, data + n - STDERR_KEEP, STDERR_KEEP);
		run->err_len = STDERR_KEEP;
	} else {
		if (run->err_len + n > STDERR_KEEP) {
			size_t drop = run->err_len + n - STDERR_KEEP;
			memmove(run->errtail, run->errtail + drop, run->err_len - drop);
			run->err_len -= drop;
		}
		memcpy(run->errtail + run->err_len, data, n);
		run->err_len += n;
	}
	run->errtail[run->err_len] = '\0';
}

static void keep_stdout(struct child_run *run, const char *data, size_t n)
{
	if (run->on_stdout)
		run->on_stdout(run, data, n);
	if (!run->collect_out || run->out_overflow)
		return;
	if (run->out_len + n > INFO_MAX_OUTPUT) {
		run->out_overflow = true;
		return;
	}
	char *p = realloc(run->out, run->out_len + n + 1);
	if (!p) {
		run->out_overflow = true;
		return;
	}
	run->out = p;
	memcpy(run->out + run->out_len, data, n);
	run->out_len += n;
	run->out[run->out_len] = '\0';
}

/* In the child, between fork and exec: async-signal-safe calls only. */
static _Noreturn void child_exec(const struct child_run *run, int devnull, int out, int errfd,
                                 char *const envp[])
{
	int s, o, e, n;

	/* move everything above the target numbers first so no dup2 clobbers a source */
	s = fcntl(run->src_fd, F_DUPFD, 10);
	o = fcntl(out, F_DUPFD, 10);
	e = fcntl(errfd, F_DUPFD, 10);
	n = fcntl(devnull, F_DUPFD, 10);
	if (s < 0 || o < 0 || e < 0 || n < 0)
		_exit(126);
	if (dup2(n, STDIN_FILENO) < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0 ||
	    dup2(s, CHILD_FD) < 0)
		_exit(126);
	if (close_range(CHILD_FD + 1, ~0U, 0) < 0)
		for (int fd = CHILD_FD + 1; fd < 65536; fd++)
			close(fd);
	if (run->limit) {
		struct rlimit as = {INFO_AS_LIMIT, INFO_AS_LIMIT};
		struct rlimit cpu = {INFO_CPU_LIMIT, INFO_CPU_LIMIT};
		setrlimit(RLIMIT_AS, &as);
		setrlimit(RLIMIT_CPU, &cpu);
	}
	/* signals the daemon blocks or ignores must not stay so in qemu-img */
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sigset_t none;
	sigemptyset(&none);
	sigaction(SIGPIPE, &dfl, NULL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(run->argv[0], (char *const *)run->argv, envp);
	_exit(127);
}

static int child_run(struct child_run *run, int *ret_status, struct cairn_err *err)
{
	char *const envp[] = {"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	_cleanup_(closep) int devnull = -1, out_r = -1, out_w = -1, err_r = -1, err_w = -1;
	int64_t start = now_ms();
	int pipes[2], status = 0;
	bool out_open = true, err_open = true, killed = false;
	pid_t pid;

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return err_set(err, -errno, "cannot open /dev/null: %s", strerror(errno));
	if (pipe2(pipes, O_CLOEXEC) < 0)
		return err_set(err, -errno, "cannot make a pipe: %s", strerror(errno));
	out_r = pipes[0];
	out_w = pipes[1];
	if (pipe2(pipes, O_CLOEXEC) < 0)
		return err_set(err, -errno, "cannot make a pipe: %s", strerror(errno));
	err_r = pipes[0];
	err_w = pipes[1];

	pid = fork();
	if (pid < 0)
		return err_set(err, -errno, "cannot start '%s': %s", run->argv[0], strerror(errno));
	if (pid == 0)
		child_exec(run, devnull, out_w, err_w, envp);
	close(TAKE_FD(out_w));
	close(TAKE_FD(err_w));

	while (out_open || err_open) {
		struct pollfd fds[2] = {{out_r, POLLIN, 0}, {err_r, POLLIN, 0}};
		char buf[4096];
		int r;

		if (!out_open)
			fds[0].fd = -1;
		if (!err_open)
			fds[1].fd = -1;
		r = poll(fds, 2, 200);
		if (r < 0 && errno != EINTR)
			break;
		if (!killed && progress_cancelled(run->progress)) {
			run->cancelled = killed = true;
			kill(pid, SIGKILL);
		}
		if (!killed && run->timeout_ms && now_ms() - start > run->timeout_ms) {
			run->timed_out = killed = true;
			kill(pid, SIGKILL);
		}
		if (r <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(fds[i].fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				if (i == 0)
					out_open = false;
				else
					err_open = false;
				continue;
			}
			if (i == 0)
				keep_stdout(run, buf, (size_t)n);
			else
				keep_stderr(run, buf, (size_t)n);
		}
	}
	if (out_open || err_open) /* poll failed: do not leave the child behind */
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set(err, -errno, "cannot wait for '%s': %s", run->argv[0],
			               strerror(errno));
	*ret_status = status;
	return 0;
}

/* The first line of qemu-img's stderr without its "qemu-img: " prefix. */
static const char *child_message(struct child_run *run)
{
	char *s = run->errtail, *nl;

	while (*s == '\n' || *s == '\r' || *s == ' ')
		s++;
	if (str_has_prefix(s, "qemu-img: "))
		s += strlen("qemu-img: ");
	nl = strpbrk(s, "\r\n");
	if (nl)
		*nl = '\0';
	return *s ? s : "no message";
}

static int child_result(struct child_run *run, int status, const char *what, struct cairn_err *err)
{
	if (run->cancelled)
		return err_set(err, -ECANCELED, "%s cancelled", what);
	if (run->timed_out)
		return err_set(err, -ETIMEDOUT, "%s timed out", what);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return err_set(err, -ENOENT, "%s: cannot run '%s'", what, run->argv[0]);
	if (WIFSIGNALED(status))
		return err_set(err, -EIO, "%s: killed by signal %d: %s", what, WTERMSIG(status),
		               child_message(run));
	return err_set(err, -EINVAL, "%s failed: %s", what, child_message(run));
}

int qemu_img_info(const struct cairn_config *conf, int fd, const char *format,
                  struct qemu_info *ret, struct cairn_err *err)
{
	const char *argv[8];
	struct child_run run = {0};
	struct qemu_info info;
	size_t n = 0;
	int status, r;

	if (format && !format_allowed(format))
		return err_set(err, -EINVAL, "unknown image format '%s' (qcow2, raw, vmdk)",
		               format);
	argv[n++] = conf->import.qemu_img;
	argv[n++] = "info";
	argv[n++] = "--output=json";
	if (format) {
		argv[n++] = "-f";
		argv[n++] = format;
	}
	argv[n++] = CHILD_SOURCE;
	argv[n] = NULL;
	run.argv = argv;
	run.src_fd = fd;
	run.limit = true;
	run.timeout_ms = INFO_TIMEOUT_MS;
	run.collect_out = true;

	r = child_run(&run, &status, err);
	if (r >= 0)
		r = child_result(&run, status, "qemu-img info", err);
	if (r >= 0 && (run.out_overflow || !run.out))
		r = err_set(err, -EINVAL, "qemu-img info gave no usable output");
	if (r >= 0)
		r = qemu_info_parse(run.out, &info, err);
	free(run.out);
	if (r < 0)
		return r;
	if (!format_allowed(info.format))
		return err_set(err, -EINVAL, "unsupported image format '%s' (qcow2, raw, vmdk)",
		               info.format);
	if (info.has_backing)
		return err_set(err, -EINVAL,
		               "image file has a backing file: import a "
		               "standalone image (qemu-img convert it first)");
	if (info.has_data_file)
		return err_set(err, -EINVAL,
		               "image file refers to other files (external data "
		               "or extents): import a standalone image");
	*ret = info;
	return 0;
}

struct convert_state {
	struct qemu_progress parser;
	uint64_t size;
	int last;
};

static void convert_stdout(struct child_run *run, const char *data, size_t len)
{
	struct convert_state *s = run->userdata;
	int v = qemu_progress_feed(&s->parser, data, len);

	if (v < 0 || v < s->last)
		return;
	s->last = v;
	progress_report(run->progress, (uint64_t)((long double)s->size * v / 10000), s->size);
}

int qemu_img_convert(const struct cairn_config *conf, int fd, const char *format,
                     const char *target, uint64_t size, struct cairn_progress *progress,
                     struct cairn_err *err)
{
	const char *argv[] = {conf->import.qemu_img,
	                      "convert",
	                      "-p",
	                      "-n",               /* the target exists: made by cairn */
	                      "--target-is-zero", /* a new RBD image reads as zeros: skip them */
	                      "-S",
	                      "4k",
	                      "-m",
	                      "16",
	                      "-W",
	                      "-f",
	                      format,
	                      "-O",
	                      "raw",
	                      CHILD_SOURCE,
	                      target,
	                      NULL};
	struct convert_state state = {.size = size, .last = -1};
	struct child_run run = {0};
	int status, r;

	run.argv = argv;
	run.src_fd = fd;
	run.progress = progress;
	run.on_stdout = convert_stdout;
	run.userdata = &state;
	progress_report(progress, 0, size);
	r = child_run(&run, &status, err);
	if (r < 0)
		return r;
	r = child_result(&run, status, "qemu-img convert", err);
	if (r < 0)
		return r;
	progress_report(progress, size, size);
	return 0;
}
