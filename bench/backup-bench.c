/* SPDX-License-Identifier: MIT */
/*
 * backup-bench: cairn's backups against the stock tool, in one run, on a real cluster.
 *
 *   backup-bench [-c CEPH_CONF] [-s SIZE] [-f FILL_PERCENT] [-d DIR] [-u USER]
 *
 * On one volume of SIZE (default 2G) with FILL_PERCENT (default 50) of it written:
 *   1. a full backup through cairn (backup_create, file target), then the same with the
 *      stock tool as a script would do it (`rbd snap create`, `rbd export-diff` to a file,
 *      fsync): their times, and the ratio (target: cairn <= 1x); the bare export-diff too;
 *   2. 1% of the volume changed (64 KiB writes spread over it), an incremental through
 *      cairn and the stock `rbd export-diff --from-snap` of the same change: the
 *      incremental against the full (target <= 5%);
 *   3. the same full and incremental into the backups pool, for reference.
 * It prints a table and one JSON line; it asserts nothing about time. It makes its own
 * pools ("bench-XXXXXXXX-*") and removes them at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <rbd/librbd.h>

#include "backup/backup.h"
#include "common/json.h"
#include "volumes/volumes.h"

#define MiB (1024ULL * 1024)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct cairn_err *err)
{
	fprintf(stderr, "backup-bench: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

/* Run argv (no shell), stdout and stderr to /dev/null unless verbose; exit status. */
static int run(const char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void set_str(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	if (!*field)
		die("out of memory", NULL);
}

/* Write len bytes of a pattern at off through a window of aio writes. */
struct filler {
	rbd_image_t img;
	rbd_completion_t comp[16];
	char *buf;
	int n;
};

static void fill_flush(struct filler *fl)
{
	for (int i = 0; i < fl->n; i++) {
		rbd_aio_wait_for_complete(fl->comp[i]);
		if (rbd_aio_get_return_value(fl->comp[i]) < 0) {
			fprintf(stderr, "backup-bench: a write failed\n");
			exit(1);
		}
		rbd_aio_release(fl->comp[i]);
	}
	fl->n = 0;
}

static void fill_write(struct filler *fl, uint64_t off, uint64_t len)
{
	if (fl->n == 16)
		fill_flush(fl);
	if (rbd_aio_create_completion(NULL, NULL, &fl->comp[fl->n]) < 0 ||
	    rbd_aio_write(fl->img, off, len, fl->buf, fl->comp[fl->n]) < 0) {
		fprintf(stderr, "backup-bench: cannot write\n");
		exit(1);
	}
	fl->n++;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

struct result {
	double secs;
	double data_secs; /* cairn: from the first progress report to the last (the data phase) */
	uint64_t bytes;   /* data bytes copied */
	uint64_t file;    /* bytes of the file, 0 for the pool */
	char id[40];
	char path[512];
};

struct timing {
	struct cairn_progress p;
	double first, last;
};

static void timing_report(struct cairn_progress *p, uint64_t done, uint64_t total)
{
	struct timing *t = container_of(p, struct timing, p);
	double n = now();

	if (t->first == 0)
		t->first = n;
	t->last = n;
}

static void cairn_backup(struct cluster *c, const char *volume, bool incremental,
                         enum backup_target target, struct result *res)
{
	struct timing tm = {.p = {.report = timing_report}};
	struct backup_create_params p = {
	        .volume = volume, .incremental = incremental, .has_target = true, .target = target};
	struct cairn_err err = {0};
	struct json_object *o = NULL;
	const char *path;
	double t0 = now();

	if (backup_create(c, &p, &tm.p, &o, &err) < 0)
		die("backup_create", &err);
	res->secs = now() - t0;
	res->data_secs = tm.last - tm.first;
	res->bytes = (uint64_t)json_get_int(o, "bytes", 0);
	snprintf(res->id, sizeof(res->id), "%s", json_get_string(o, "id"));
	if (incremental && strcmp(json_get_string(o, "kind"), "incremental") != 0) {
		fprintf(stderr, "backup-bench: the incremental backup was full: %s\n",
		        json_get_string(o, "why_full"));
		exit(1);
	}
	path = json_get_string(o, "path");
	if (path) {
		snprintf(res->path, sizeof(res->path), "%s", path);
		res->file = file_size(path);
	}
	json_object_put(o);
	/* what cairnd's backups pass does after a backup, outside the timing: the older bases
	 * go */
	{
		struct backup_reconcile_opts opts = {0};

		err_clear(&err);
		if (backup_reconcile(c, &opts, NULL, &err) < 0)
			die("backup_reconcile", &err);
	}
}

/*
 * What a script does for the same backup with the stock tool: `rbd snap create`, `rbd
 * export-diff` (--from-snap from for an incremental), and an fsync of the file so it is
 * on disk as cairn's is. res->secs: all of it; res->data_secs: export-diff alone.
 */
static void stock_backup(const char *conf, const char *user, const char *image_spec,
                         const char *snap, const char *from, const char *path, struct result *res)
{
	char spec[400];
	const char *mk[] = {"rbd", "-c", conf, "--id", user, "snap", "create", spec, NULL};
	const char *full[] = {"rbd",           "-c", conf, "--id", user, "export-diff",
	                      "--no-progress", spec, path, NULL};
	const char *inc[] = {"rbd",           "-c",          conf, "--id", user, "export-diff",
	                     "--no-progress", "--from-snap", from, spec,   path, NULL};
	double t0 = now(), t1;
	int fd;

	snprintf(spec, sizeof(spec), "%s@%s", image_spec, snap);
	unlink(path);
	if (run(mk) != 0) {
		fprintf(stderr, "backup-bench: rbd snap create %s failed\n", spec);
		exit(1);
	}
	t1 = now();
	if (run(from ? inc : full) != 0) {
		fprintf(stderr, "backup-bench: rbd export-diff %s failed\n", spec);
		exit(1);
	}
	res->data_secs = now() - t1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		die("fsync", NULL);
	close(fd);
	res->secs = now() - t0;
	res->file = file_size(path);
	unlink(path);
}

int main(int argc, char **argv)
{
	const char *ceph_conf = getenv("CAIRN_TEST_CEPH_CONF");
	const char *user = "admin";
	uint64_t size = 2048 * MiB;
	unsigned fill = 50;
	char dir[256] = "", prefix[32], uuid[UUID_STR_LEN], buf[512];
	struct cairn_config conf;
	struct cairn_err err = {0};
	struct cluster *c = NULL;
	struct result full, stock_full, inc, stock_inc, pool_full, pool_inc;
	int opt;

	uint64_t chunk = 0;
	uint32_t window = 0;

	while ((opt = getopt(argc, argv, "c:s:f:d:u:k:w:h")) != -1) {
		switch (opt) {
		case 'c':
			ceph_conf = optarg;
			break;
		case 's':
			if (size_parse(optarg, &size) < 0 || size < 64 * MiB || size % (4 * MiB)) {
				fprintf(stderr, "backup-bench: -s: a size of at least 64M, a "
				                "multiple of 4M\n");
				return 2;
			}
			break;
		case 'f':
			fill = (unsigned)atoi(optarg);
			if (fill > 100)
				return 2;
			break;
		case 'd':
			snprintf(dir, sizeof(dir), "%s", optarg);
			break;
		case 'u':
			user = optarg;
			break;
		case 'k':
			if (size_parse(optarg, &chunk) < 0)
				return 2;
			break;
		case 'w':
			window = (uint32_t)atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: backup-bench [-c CEPH_CONF] [-s SIZE] [-f FILL%%] "
			                "[-d DIR] [-u USER] [-k CHUNK] [-w IN_FLIGHT]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (getenv("BENCH_DEBUG"))
		log_setup(LOG_LEVEL_DEBUG, true);
	if (!ceph_conf || !*ceph_conf) {
		fprintf(stderr, "backup-bench: give -c CEPH_CONF (or CAIRN_TEST_CEPH_CONF)\n");
		return 2;
	}
	uuid_generate_str(uuid);
	snprintf(prefix, sizeof(prefix), "bench-%.8s", uuid);
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/%s-XXXXXX", prefix);
		if (!mkdtemp(dir))
			die("mkdtemp", NULL);
	}

	if (conf_init_defaults(&conf) < 0)
		die("config", NULL);
	set_str(&conf.ceph.conf, ceph_conf);
	set_str(&conf.ceph.user, user);
	set_str(&conf.backup.directory, dir);
	if (chunk)
		conf.backup.chunk = chunk;
	if (window)
		conf.backup.in_flight = window;
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		char **field[] = {&conf.pools.images, &conf.pools.volumes, &conf.pools.vms,
		                  &conf.pools.backups};
		snprintf(buf, sizeof(buf), "%s-%s", prefix, pool_role_to_string(role));
		set_str(field[role], buf);
	}
	if (conf_validate(&conf, &err) < 0)
		die("config", &err);
	if (cluster_connect(&conf, &c, &err) < 0)
		die("connect", &err);
	if (pools_ensure(c, &err) < 0)
		die("pools", &err);

	/* the volume, FILL% written in 4 MiB objects spread over it */
	struct vol_create_params vp = {.name = "bench", .size = size};
	struct json_object *vo = NULL;
	rados_ioctx_t io;
	rbd_image_t img;
	char spec[256], image[128];
	uint64_t objects = size / (4 * MiB), written = 0;

	if (vol_create(c, &vp, &vo, &err) < 0)
		die("vol_create", &err);
	snprintf(image, sizeof(image), "%s", json_get_string(vo, "rbd_image"));
	snprintf(spec, sizeof(spec), "%s/%s", conf.pools.volumes, image);
	json_object_put(vo);
	if (cluster_ioctx(c, POOL_ROLE_VOLUMES, &io, &err) < 0)
		die("ioctx", &err);
	if (rbd_open(io, image, &img, NULL) < 0)
		die("rbd_open", NULL);
	struct filler fl = {.img = img, .buf = malloc(4 * MiB)};
	if (!fl.buf)
		die("out of memory", NULL);
	srand(42);
	for (size_t i = 0; i < 4 * MiB; i++)
		fl.buf[i] = (char)(rand() | 1);
	printf("filling %llu MiB of a %llu MiB volume...\n",
	       (unsigned long long)(objects * fill / 100 * 4), (unsigned long long)(size / MiB));
	fflush(stdout);
	for (uint64_t o = 0; o < objects; o++) {
		/* every object whose share crosses the next whole percent gets written */
		if ((o + 1) * fill / 100 == o * fill / 100)
			continue;
		fill_write(&fl, o * 4 * MiB, 4 * MiB);
		written += 4 * MiB;
	}
	fill_flush(&fl);
	rbd_flush(img);

	/* 1. full: cairn, then the stock tool from the same point (nothing written between) */
	cairn_backup(c, "bench", false, BACKUP_TARGET_FILE, &full);
	snprintf(buf, sizeof(buf), "%s/stock-full.diff", dir);
	stock_backup(ceph_conf, user, spec, "stock-base", NULL, buf, &stock_full);

	/* 2. 1% changed: 64 KiB writes at spread offsets; the same change both ways */
	uint64_t change = size / 100;
	for (uint64_t k = 0, done = 0; done < change; k++) {
		uint64_t off = (k * 2654435761ULL % (size / (64 * 1024))) * 64 * 1024;
		fill_write(&fl, off, 64 * 1024);
		done += 64 * 1024;
	}
	fill_flush(&fl);
	rbd_flush(img);
	cairn_backup(c, "bench", true, BACKUP_TARGET_FILE, &inc);
	snprintf(buf, sizeof(buf), "%s/stock-inc.diff", dir);
	stock_backup(ceph_conf, user, spec, "stock-next", "stock-base", buf, &stock_inc);

	/* 3. the pool target, for reference */
	cairn_backup(c, "bench", false, BACKUP_TARGET_POOL, &pool_full);
	for (uint64_t k = 0, done = 0; done < change; k++) {
		uint64_t off = (k * 40503ULL % (size / (64 * 1024))) * 64 * 1024;
		fill_write(&fl, off, 64 * 1024);
		done += 64 * 1024;
	}
	fill_flush(&fl);
	rbd_flush(img);
	cairn_backup(c, "bench", true, BACKUP_TARGET_POOL, &pool_inc);
	free(fl.buf);
	rbd_close(img);

	/* the table */
	printf("\nvolume %llu MiB, %llu MiB written, then %llu MiB changed (1%%)\n",
	       (unsigned long long)(size / MiB), (unsigned long long)(written / MiB),
	       (unsigned long long)(change / MiB));
	printf("%-44s %8s %8s %10s %10s\n", "run", "total s", "data s", "data MiB", "file MiB");
	printf("%-44s %8.2f %8.2f %10.1f %10.1f\n", "cairn full (file)", full.secs, full.data_secs,
	       full.bytes / (double)MiB, full.file / (double)MiB);
	printf("%-44s %8.2f %8.2f %10s %10.1f\n", "rbd snap create + export-diff + fsync",
	       stock_full.secs, stock_full.data_secs, "-", stock_full.file / (double)MiB);
	printf("%-44s %8.2f %8.2f %10.1f %10.1f\n", "cairn incremental (file)", inc.secs,
	       inc.data_secs, inc.bytes / (double)MiB, inc.file / (double)MiB);
	printf("%-44s %8.2f %8.2f %10s %10.1f\n", "rbd snap create + export-diff --from-snap",
	       stock_inc.secs, stock_inc.data_secs, "-", stock_inc.file / (double)MiB);
	printf("%-44s %8.2f %8.2f %10.1f %10s\n", "cairn full (pool)", pool_full.secs,
	       pool_full.data_secs, pool_full.bytes / (double)MiB, "-");
	printf("%-44s %8.2f %8.2f %10.1f %10s\n", "cairn incremental (pool)", pool_inc.secs,
	       pool_inc.data_secs, pool_inc.bytes / (double)MiB, "-");
	printf("(data s: cairn's data phase, from its first progress report to its last; the "
	       "stock tool's export-diff alone)\n");
	double r_full = full.secs / stock_full.secs, r_full_bare = full.secs / stock_full.data_secs;
	double r_inc = inc.secs / full.secs;
	printf("\ncairn full / stock (snap + export-diff + fsync): %.2fx (target <= 1.00x: %s)\n",
	       r_full, r_full <= 1.0 ? "met" : "missed");
	printf("cairn full / bare rbd export-diff: %.2fx\n", r_full_bare);
	printf("cairn incremental / cairn full: %.1f%% (target <= 5%%: %s); data phases: %.1f%%\n",
	       r_inc * 100, r_inc <= 0.05 ? "met" : "missed",
	       full.data_secs > 0 ? 100 * inc.data_secs / full.data_secs : 0.0);
	printf("{\"bench\":\"backup\",\"size\":%llu,\"written\":%llu,\"changed\":%llu,"
	       "\"cairn_full_s\":%.3f,\"cairn_full_data_s\":%.3f,\"stock_full_s\":%.3f,"
	       "\"rbd_export_diff_full_s\":%.3f,\"full_ratio\":%.3f,\"full_ratio_bare\":%.3f,"
	       "\"cairn_incremental_s\":%.3f,\"cairn_incremental_data_s\":%.3f,"
	       "\"stock_incremental_s\":%.3f,\"rbd_export_diff_incremental_s\":%.3f,"
	       "\"incremental_ratio\":%.4f,\"cairn_full_bytes\":%llu,\"cairn_full_file\":%llu,"
	       "\"stock_full_file\":%llu,\"cairn_incremental_bytes\":%llu,"
	       "\"cairn_incremental_file\":%llu,\"stock_incremental_file\":%llu,"
	       "\"cairn_pool_full_s\":%.3f,\"cairn_pool_incremental_s\":%.3f}\n",
	       (unsigned long long)size, (unsigned long long)written, (unsigned long long)change,
	       full.secs, full.data_secs, stock_full.secs, stock_full.data_secs, r_full,
	       r_full_bare, inc.secs, inc.data_secs, stock_inc.secs, stock_inc.data_secs, r_inc,
	       (unsigned long long)full.bytes, (unsigned long long)full.file,
	       (unsigned long long)stock_full.file, (unsigned long long)inc.bytes,
	       (unsigned long long)inc.file, (unsigned long long)stock_inc.file, pool_full.secs,
	       pool_inc.secs);
	fflush(stdout);

	/* clean up: the pools go with everything in them */
	cluster_free(c);
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		const char *pool = conf_pool_name(&conf, (enum pool_role)role);
		const char *rm[] = {"ceph",
		                    "-c",
		                    ceph_conf,
		                    "--id",
		                    user,
		                    "osd",
		                    "pool",
		                    "rm",
		                    pool,
		                    pool,
		                    "--yes-i-really-really-mean-it",
		                    NULL};
		run(rm);
	}
	snprintf(buf, sizeof(buf), "%s", dir);
	{
		const char *rm[] = {"rm", "-rf", buf, NULL};
		run(rm);
	}
	conf_release(&conf);
	return 0;
}
