/* SPDX-License-Identifier: MIT */
/*
 * volumes/ against the real cluster. What cairn says is checked against what Ceph says
 * (rbd CLI, librbd): the truth is in the pools.
 */
#include <errno.h>
#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <rbd/librbd.h>

#include "common/json.h"
#include "tests/integration/itest.h"
#include "volumes/volumes.h"

#define MiB (1024ULL * 1024)

struct fixture {
	struct cairn_config conf;
	struct cluster *c;
	char prefix[32];
	char import_dir[64];
	char image[NAME_MAX_LEN + 1]; /* an image to clone from (4 MiB) */
	char self[PATH_MAX];          /* this test binary, for the crash tests */
};

/* ---- helpers --------------------------------------------------------------------------------- */

static char *rbd_cmd(int *ret_status, const char *a1, const char *a2, const char *a3,
                     const char *a4)
{
	const char *argv[] = {"rbd", "-c", itest_ceph_conf(), a1, a2, a3, a4, NULL};
	char *out = NULL;
	int status = itest_run(&out, argv);

	if (ret_status)
		*ret_status = status;
	return out;
}

static char *rbd_info(const char *pool, const char *image)
{
	char spec[256];
	int status;
	char *out;

	snprintf(spec, sizeof(spec), "%s/%s", pool, image);
	out = rbd_cmd(&status, "info", spec, NULL, NULL);
	assert_int_equal(status, 0);
	return out;
}

static bool rbd_exists(const char *pool, const char *image)
{
	char spec[256];
	int status;

	snprintf(spec, sizeof(spec), "%s/%s", pool, image);
	free(rbd_cmd(&status, "info", spec, NULL, NULL));
	return status == 0;
}

static int rbd_count(const char *pool)
{
	int status, n = 0;
	char *out = rbd_cmd(&status, "ls", pool, NULL, NULL);

	assert_int_equal(status, 0);
	for (char *p = out; *p; p++)
		n += *p == '\n';
	free(out);
	return n;
}

static int trash_count(const char *pool)
{
	int status, n = 0;
	char *out = rbd_cmd(&status, "trash", "ls", pool, NULL);

	assert_int_equal(status, 0);
	for (char *p = out; *p; p++)
		n += *p == '\n';
	free(out);
	return n;
}

static void name(char *buf, const char *base)
{
	itest_unique_name(buf, NAME_MAX_LEN + 1, base);
}

static struct json_object *create(struct fixture *fx, const struct vol_create_params *p)
{
	struct cairn_err err = {0};
	struct json_object *v = NULL;
	int r = vol_create(fx->c, p, &v, &err);

	if (r < 0)
		fprintf(stderr, "vol_create '%s': %s\n", p->name, err.msg);
	assert_int_equal(r, 0);
	assert_non_null(v);
	assert_string_equal(json_get_string(v, "status"), "available");
	return v;
}

static struct json_object *create_blank(struct fixture *fx, const char *n, uint64_t size)
{
	return create(fx, &(struct vol_create_params){.name = n, .size = size});
}

static void write_pattern(struct fixture *fx, const char *rbd_image, uint64_t off, char byte,
                          size_t len)
{
	rados_ioctx_t io;
	rbd_image_t img;
	struct cairn_err err = {0};
	char *buf = malloc(len);

	assert_non_null(buf);
	memset(buf, byte, len);
	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	assert_int_equal(rbd_open(io, rbd_image, &img, NULL), 0);
	assert_int_equal(rbd_write(img, off, len, buf), (ssize_t)len);
	assert_int_equal(rbd_flush(img), 0);
	assert_int_equal(rbd_close(img), 0);
	free(buf);
}

static char read_byte(struct fixture *fx, const char *rbd_image, uint64_t off)
{
	rados_ioctx_t io;
	rbd_image_t img;
	struct cairn_err err = {0};
	char b = 0;

	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	assert_int_equal(rbd_open_read_only(io, rbd_image, &img, NULL), 0);
	assert_int_equal(rbd_read(img, off, 1, &b), 1);
	assert_int_equal(rbd_close(img), 0);
	return b;
}

static void snap_create(struct fixture *fx, const char *rbd_image, const char *snap)
{
	rados_ioctx_t io;
	rbd_image_t img;
	struct cairn_err err = {0};

	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	assert_int_equal(rbd_open(io, rbd_image, &img, NULL), 0);
	assert_int_equal(rbd_snap_create(img, snap), 0);
	assert_int_equal(rbd_close(img), 0);
}

/* ---- fixture --------------------------------------------------------------------------------- */

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct cairn_err err = {0};
	struct json_object *img = NULL;
	char path[PATH_MAX];
	int fd;

	assert_non_null(fx);
	*state = fx; /* before anything can fail: teardown runs anyway */
	/* (read here rather than exec'd as /proc/self/exe, which under valgrind is valgrind) */
	ssize_t len = readlink("/proc/self/exe", fx->self, sizeof(fx->self) - 1);
	assert_true(len > 0);
	fx->self[len] = '\0';
	itest_unique_name(fx->prefix, sizeof(fx->prefix), "tv");
	fx->c = itest_cluster(&fx->conf, fx->prefix);
	snprintf(fx->import_dir, sizeof(fx->import_dir), "/tmp/cairn-tv-XXXXXX");
	assert_non_null(mkdtemp(fx->import_dir));
	free(fx->conf.import.directory);
	fx->conf.import.directory = strdup(fx->import_dir);

	/* a 4 MiB raw image whose first MiB is 0x5a */
	snprintf(path, sizeof(path), "%s/base.raw", fx->import_dir);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	char *buf = malloc(MiB);
	memset(buf, 0x5a, MiB);
	assert_int_equal(write(fd, buf, MiB), (ssize_t)MiB);
	assert_int_equal(ftruncate(fd, 4 * MiB), 0);
	free(buf);
	close(fd);
	name(fx->image, "base");
	if (img_import(fx->c,
	               &(struct img_import_params){
	                       .name = fx->image, .file = "base.raw", .format = "raw"},
	               NULL, &img, &err) < 0) {
		fprintf(stderr, "import: %s\n", err.msg);
		fail();
	}
	json_object_put(img);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	if (!fx || !fx->c) {
		free(fx);
		return 0;
	}
	char path[PATH_MAX];
	const char *pools[] = {fx->conf.pools.images, fx->conf.pools.volumes, fx->conf.pools.vms,
	                       fx->conf.pools.backups};

	snprintf(path, sizeof(path), "%s/base.raw", fx->import_dir);
	unlink(path);
	rmdir(fx->import_dir);
	cluster_free(fx->c);
	/* the pools were this run's own: give their placement groups back */
	for (size_t i = 0; i < ARRAY_SIZE(pools); i++) {
		const char *argv[] = {"ceph",   "-c",     itest_ceph_conf(),
		                      "osd",    "pool",   "rm",
		                      pools[i], pools[i], "--yes-i-really-really-mean-it",
		                      NULL};
		itest_run(NULL, argv);
	}
	conf_release(&fx->conf);
	free(fx);
	return 0;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_create_blank(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v, *shown = NULL;
	char n[NAME_MAX_LEN + 1], *info;

	name(n, "blank");
	v = create_blank(fx, n, 64 * MiB);
	assert_string_equal(json_get_string(v, "name"), n);
	assert_string_equal(json_get_string(v, "pool"), fx->conf.pools.volumes);
	assert_int_equal(json_get_int(v, "size", 0), 64 * MiB);
	assert_true(str_has_prefix(json_get_string(v, "rbd_image"), "volume-"));
	assert_string_equal(json_get_string(v, "rbd_image") + 7, json_get_string(v, "id"));

	info = rbd_info(fx->conf.pools.volumes, json_get_string(v, "rbd_image"));
	assert_non_null(strstr(info, "size 64 MiB"));
	assert_null(strstr(info, "parent:"));
	free(info);

	assert_int_equal(vol_show(fx->c, n, &shown, &err), 0);
	assert_int_equal(json_get_int(shown, "provisioned", 0), 64 * MiB);
	assert_int_equal(json_get_int(shown, "used", -1), 0);
	write_pattern(fx, json_get_string(v, "rbd_image"), 0, 1, 4096);
	json_object_put(shown);
	assert_int_equal(vol_show(fx->c, n, &shown, &err), 0);
	assert_true(json_get_int(shown, "used", 0) >= 4096);
	json_object_put(shown);

	/* in the vms pool, by role name */
	char n2[NAME_MAX_LEN + 1];
	name(n2, "invms");
	json_object_put(
	        create(fx, &(struct vol_create_params){.name = n2, .size = MiB, .pool = "vms"}));
	assert_int_equal(rbd_count(fx->conf.pools.vms), 1);
	json_object_put(v);
}

static void test_size_rules(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v = NULL;
	char n[NAME_MAX_LEN + 1];
	int before = rbd_count(fx->conf.pools.volumes);

	name(n, "sizes");
	assert_int_equal(
	        vol_create(fx->c, &(struct vol_create_params){.name = n, .size = 0}, &v, &err),
	        -EINVAL);
	err_clear(&err);
	assert_int_equal(
	        vol_create(fx->c, &(struct vol_create_params){.name = n, .size = 1000}, &v, &err),
	        -EINVAL);
	err_clear(&err);
	/* a clone smaller than its parent */
	assert_int_equal(
	        vol_create(fx->c,
	                   &(struct vol_create_params){.name = n, .size = MiB, .image = fx->image},
	                   &v, &err),
	        -EINVAL);
	assert_non_null(strstr(err.msg, "smaller"));
	err_clear(&err);
	/* a bad pool, two sources */
	assert_int_equal(
	        vol_create(fx->c,
	                   &(struct vol_create_params){.name = n, .size = MiB, .pool = "backups"},
	                   &v, &err),
	        -EINVAL);
	err_clear(&err);
	assert_int_equal(vol_create(fx->c,
	                            &(struct vol_create_params){
	                                    .name = n, .image = fx->image, .volume = "x"},
	                            &v, &err),
	                 -EINVAL);
	err_clear(&err);
	assert_null(v);
	/* nothing was made: not in Ceph, not in the directory */
	assert_int_equal(rbd_count(fx->conf.pools.volumes), before);
	assert_int_equal(vol_show(fx->c, n, &v, &err), -ENOENT);
	assert_non_null(strstr(err.msg, n));
}

static void test_clone_from_image(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v, *p, *img = NULL, *shown = NULL, *chain;
	char n[NAME_MAX_LEN + 1], expect[256], *info;

	assert_int_equal(img_show(fx->c, fx->image, &img, &err), 0);
	name(n, "fromimg");
	v = create(fx, &(struct vol_create_params){.name = n, .image = fx->image});
	assert_int_equal(json_get_int(v, "size", 0), 4 * MiB);
	assert_true(json_object_object_get_ex(v, "parent", &p));
	assert_string_equal(json_get_string(p, "kind"), "image");
	assert_string_equal(json_get_string(p, "name"), fx->image);

	info = rbd_info(fx->conf.pools.volumes, json_get_string(v, "rbd_image"));
	snprintf(expect, sizeof(expect), "parent: %s/%s@cairn-base", fx->conf.pools.images,
	         json_get_string(img, "rbd_image"));
	assert_non_null(strstr(info, expect));
	free(info);
	/* the data is the image's */
	assert_int_equal(read_byte(fx, json_get_string(v, "rbd_image"), 0), 0x5a);
	assert_int_equal(read_byte(fx, json_get_string(v, "rbd_image"), 2 * MiB), 0);

	assert_int_equal(vol_show(fx->c, n, &shown, &err), 0);
	assert_true(json_object_object_get_ex(shown, "parent_chain", &chain));
	assert_int_equal(json_object_array_length(chain), 1);
	assert_string_equal(json_get_string(json_object_array_get_idx(chain, 0), "name"),
	                    fx->image);
	json_object_put(shown);
	json_object_put(img);
	assert_int_equal(img_show(fx->c, fx->image, &img, &err), 0);
	assert_true(json_get_int(img, "clones", 0) >= 1);
	json_object_put(img);

	/* flatten: no parent left in Ceph, the data stays */
	assert_int_equal(vol_flatten(fx->c, n, NULL, &err), 0);
	info = rbd_info(fx->conf.pools.volumes, json_get_string(v, "rbd_image"));
	assert_null(strstr(info, "parent:"));
	free(info);
	assert_int_equal(read_byte(fx, json_get_string(v, "rbd_image"), 0), 0x5a);
	json_object_put(v);
}

static void test_clone_larger(void **state)
{
	struct fixture *fx = *state;
	struct json_object *v;
	char n[NAME_MAX_LEN + 1], *info;

	name(n, "larger");
	v = create(fx,
	           &(struct vol_create_params){.name = n, .image = fx->image, .size = 32 * MiB});
	assert_int_equal(json_get_int(v, "size", 0), 32 * MiB);
	info = rbd_info(fx->conf.pools.volumes, json_get_string(v, "rbd_image"));
	assert_non_null(strstr(info, "size 32 MiB"));
	assert_non_null(strstr(info, "parent:"));
	free(info);
	json_object_put(v);
}

static void assert_list_text_same(struct fixture *fx, const struct vol_filter *f);

static void test_clone_of_volume_and_snapshot(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *src, *v, *s, *p, *shown = NULL, *kids;
	char n[NAME_MAX_LEN + 1], c1[NAME_MAX_LEN + 1], c2[NAME_MAX_LEN + 1], snap[160];
	char expect[256], *info;

	name(n, "src");
	src = create_blank(fx, n, 8 * MiB);
	write_pattern(fx, json_get_string(src, "rbd_image"), 0, 0x11, 4096);

	/* of a volume: through a hidden snapshot named after the clone */
	name(c1, "ofvol");
	v = create(fx, &(struct vol_create_params){.name = c1, .volume = n});
	assert_true(json_object_object_get_ex(v, "parent", &p));
	assert_string_equal(json_get_string(p, "kind"), "volume");
	assert_string_equal(json_get_string(p, "name"), n);
	info = rbd_info(fx->conf.pools.volumes, json_get_string(v, "rbd_image"));
	snprintf(expect, sizeof(expect), "parent: %s/%s@cairn-clone-%s", fx->conf.pools.volumes,
	         json_get_string(src, "rbd_image"), json_get_string(v, "id"));
	assert_non_null(strstr(info, expect));
	free(info);
	assert_int_equal(read_byte(fx, json_get_string(v, "rbd_image"), 0), 0x11);

	/* the source's own view: the clone is a child, the hidden snapshot is not listed */
	assert_int_equal(vol_show(fx->c, n, &shown, &err), 0);
	assert_true(json_object_object_get_ex(shown, "children", &kids));
	assert_int_equal(json_object_array_length(kids), 1);
	assert_string_equal(json_get_string(json_object_array_get_idx(kids, 0), "name"), c1);
	assert_true(json_object_object_get_ex(shown, "snapshots", &kids));
	assert_int_equal(json_object_array_length(kids), 0);
	json_object_put(shown);

	/* of a user snapshot */
	snap_create(fx, json_get_string(src, "rbd_image"), "s1");
	write_pattern(fx, json_get_string(src, "rbd_image"), 0, 0x22, 4096);
	name(c2, "ofsnap");
	snprintf(snap, sizeof(snap), "%s@s1", n);
	s = create(fx, &(struct vol_create_params){.name = c2, .snapshot = snap});
	assert_true(json_object_object_get_ex(s, "parent", &p));
	assert_string_equal(json_get_string(p, "kind"), "snapshot");
	assert_string_equal(json_get_string(p, "snapshot"), "s1");
	info = rbd_info(fx->conf.pools.volumes, json_get_string(s, "rbd_image"));
	snprintf(expect, sizeof(expect), "parent: %s/%s@s1", fx->conf.pools.volumes,
	         json_get_string(src, "rbd_image"));
	assert_non_null(strstr(info, expect));
	free(info);
	assert_int_equal(read_byte(fx, json_get_string(s, "rbd_image"), 0), 0x11);

	/* a snapshot that does not exist, or a hidden one: not found, nothing made */
	int before = rbd_count(fx->conf.pools.volumes);
	snprintf(snap, sizeof(snap), "%s@nope", n);
	struct json_object *none = NULL;
	err_clear(&err);
	assert_int_equal(vol_create(fx->c,
	                            &(struct vol_create_params){.name = "x1", .snapshot = snap},
	                            &none, &err),
	                 -ENOENT);
	snprintf(snap, sizeof(snap), "%s@cairn-clone-%s", n, json_get_string(v, "id"));
	err_clear(&err);
	assert_int_equal(vol_create(fx->c,
	                            &(struct vol_create_params){.name = "x1", .snapshot = snap},
	                            &none, &err),
	                 -ENOENT);
	assert_int_equal(rbd_count(fx->conf.pools.volumes), before);

	/* list by parent */
	struct json_object *arr = NULL;
	assert_int_equal(vol_list(fx->c, &(struct vol_filter){.parent = n}, &arr, &err), 0);
	assert_int_equal(json_object_array_length(arr), 2);
	json_object_put(arr);

	/* a renamed parent: its clones name it by its new name, found by it, in one step */
	char n2[NAME_MAX_LEN + 1];
	name(n2, "srcnew");
	assert_int_equal(vol_rename(fx->c, n, n2, NULL, &err), 0);
	assert_int_equal(vol_list(fx->c, &(struct vol_filter){.parent = n}, &arr, &err), 0);
	assert_int_equal(json_object_array_length(arr), 0);
	json_object_put(arr);
	assert_int_equal(vol_list(fx->c, &(struct vol_filter){.parent = n2}, &arr, &err), 0);
	assert_int_equal(json_object_array_length(arr), 2);
	json_object_put(arr);
	snprintf(snap, sizeof(snap), "%s@s1", n2);
	assert_int_equal(vol_list(fx->c, &(struct vol_filter){.parent = snap}, &arr, &err), 0);
	assert_int_equal(json_object_array_length(arr), 1);
	assert_string_equal(json_get_string(json_object_array_get_idx(arr, 0), "name"), c2);
	json_object_put(arr);
	assert_list_text_same(fx, &(struct vol_filter){.parent = n2});
	assert_int_equal(vol_show(fx->c, c1, &shown, &err), 0);
	assert_true(json_object_object_get_ex(shown, "parent", &p));
	assert_string_equal(json_get_string(p, "name"), n2);
	json_object_put(shown);

	json_object_put(src);
	json_object_put(v);
	json_object_put(s);
}

static void test_depth_limit(void **state)
{
	struct fixture *fx = *state;
	struct json_object *v1, *v2, *v3;
	char n1[NAME_MAX_LEN + 1], n2[NAME_MAX_LEN + 1], n3[NAME_MAX_LEN + 1], spec[256];
	char *info, *snaps;
	int status;

	fx->conf.volumes.max_clone_depth = 2;
	name(n1, "d1");
	name(n2, "d2");
	name(n3, "d3");
	v1 = create(fx, &(struct vol_create_params){.name = n1, .image = fx->image});
	v2 = create(fx, &(struct vol_create_params){.name = n2, .volume = n1});
	v3 = create(fx, &(struct vol_create_params){.name = n3, .volume = n2});
	fx->conf.volumes.max_clone_depth = 8;

	info = rbd_info(fx->conf.pools.volumes, json_get_string(v2, "rbd_image"));
	assert_non_null(strstr(info, "parent:"));
	free(info);
	/* the third level was made independent: no parent, the data is there */
	info = rbd_info(fx->conf.pools.volumes, json_get_string(v3, "rbd_image"));
	assert_null(strstr(info, "parent:"));
	free(info);
	assert_true(json_object_get_boolean(json_object_object_get(v3, "flattened")));
	assert_int_equal(read_byte(fx, json_get_string(v3, "rbd_image"), 0), 0x5a);
	/* and the hidden snapshot it was cloned from is gone */
	snprintf(spec, sizeof(spec), "%s/%s", fx->conf.pools.volumes,
	         json_get_string(v2, "rbd_image"));
	snaps = rbd_cmd(&status, "snap", "ls", "--all", spec);
	assert_int_equal(status, 0);
	assert_null(strstr(snaps, "cairn-clone-"));
	free(snaps);
	json_object_put(v1);
	json_object_put(v2);
	json_object_put(v3);
}

static void test_name_conflict(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v, *v2 = NULL;
	char n[NAME_MAX_LEN + 1];
	int before;

	name(n, "dup");
	v = create_blank(fx, n, MiB);
	before = rbd_count(fx->conf.pools.volumes);
	assert_int_equal(
	        vol_create(fx->c, &(struct vol_create_params){.name = n, .size = MiB}, &v2, &err),
	        -EEXIST);
	assert_non_null(strstr(err.msg, n));
	assert_null(v2);
	assert_int_equal(rbd_count(fx->conf.pools.volumes), before);
	json_object_put(v);
}

struct racer {
	struct fixture *fx;
	const char *name;
	const char *disk; /* manage this rbd image; NULL: create a volume */
	pthread_barrier_t *start;
	int result;
	char msg[256];
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct cairn_err err = {0};
	struct cluster *c = NULL;
	struct json_object *v = NULL;

	/* a daemon of its own: own connection */
	r->result = cluster_connect(&r->fx->conf, &c, &err);
	pthread_barrier_wait(r->start);
	if (r->result < 0)
		return NULL;
	if (r->disk)
		r->result = vol_manage(c, r->name, NULL, r->disk, &v, &err);
	else
		r->result = vol_create(
		        c, &(struct vol_create_params){.name = r->name, .size = 4 * MiB}, &v, &err);
	snprintf(r->msg, sizeof(r->msg), "%s", err.msg);
	json_object_put(v);
	cluster_free(c);
	return NULL;
}

/* Eight racers, each a daemon of its own: one wins, seven get -EEXIST. */
static void run_race(struct fixture *fx, char names[8][NAME_MAX_LEN + 1], const char *disk)
{
	struct racer racers[8];
	pthread_t threads[8];
	pthread_barrier_t start;
	int won = 0, lost = 0;

	pthread_barrier_init(&start, NULL, 8);
	for (int i = 0; i < 8; i++) {
		racers[i] =
		        (struct racer){.fx = fx, .name = names[i], .disk = disk, .start = &start};
		assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(threads[i], NULL);
		if (racers[i].result == 0)
			won++;
		else if (racers[i].result == -EEXIST)
			lost++;
		else
			fprintf(stderr, "racer %d: %d %s\n", i, racers[i].result, racers[i].msg);
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(won, 1);
	assert_int_equal(lost, 7);
}

static void test_create_race(void **state)
{
	struct fixture *fx = *state;
	char n[8][NAME_MAX_LEN + 1];
	int before = rbd_count(fx->conf.pools.volumes);

	name(n[0], "race");
	for (int i = 1; i < 8; i++)
		memcpy(n[i], n[0], sizeof(n[0])); /* all for one name */
	run_race(fx, n, NULL);
	/* exactly one image in Ceph */
	assert_int_equal(rbd_count(fx->conf.pools.volumes), before + 1);
}

struct count_image {
	const char *rbd_image;
	int n;
};

static int count_image(const char *id, const char *record, void *userdata)
{
	struct count_image *ci = userdata;
	_cleanup_(json_putp) struct json_object *o = json_tokener_parse(record);
	const char *image = o ? json_get_string(o, "rbd_image") : NULL;

	ci->n += image && strcmp(image, ci->rbd_image) == 0;
	return 0;
}

/* Eight managers of one rbd image under eight names: one record, the others refused. */
static void test_manage_race(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	char n[8][NAME_MAX_LEN + 1], disk[NAME_MAX_LEN + 1];
	struct count_image ci = {.rbd_image = disk};
	rados_ioctx_t io;

	name(disk, "mrace-disk");
	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	assert_int_equal(rbd_create(io, disk, 4 * MiB, &(int){22}), 0);
	for (int i = 0; i < 8; i++)
		name(n[i], "mrace");
	run_race(fx, n, disk);
	assert_int_equal(dir_list(fx->c, DIR_VOLUMES, count_image, &ci, &err), 0);
	assert_int_equal(ci.n, 1);
}

static void test_delete_trash_purge(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v, *none = NULL;
	char n[NAME_MAX_LEN + 1], rbd_image[128];

	name(n, "del");
	v = create_blank(fx, n, 8 * MiB);
	str_copy(rbd_image, sizeof(rbd_image), json_get_string(v, "rbd_image"));
	json_object_put(v);
	assert_int_equal(trash_count(fx->conf.pools.volumes), 0);

	/* a user snapshot refuses it without force */
	snap_create(fx, rbd_image, "keep");
	assert_int_equal(vol_delete(fx->c, n, false, NULL, &err), -ENOTEMPTY);
	assert_non_null(strstr(err.msg, "keep"));
	assert_true(rbd_exists(fx->conf.pools.volumes, rbd_image));
	err_clear(&err);

	/* in use (a writer has it open): refused, nothing changed */
	rados_ioctx_t io;
	rbd_image_t user;
	struct json_object *shown = NULL;
	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	assert_int_equal(rbd_open(io, rbd_image, &user, NULL), 0);
	assert_int_equal(vol_delete(fx->c, n, true, NULL, &err), -EBUSY);
	assert_int_equal(rbd_close(user), 0);
	err_clear(&err);
	assert_int_equal(vol_show(fx->c, n, &shown, &err), 0);
	assert_string_equal(json_get_string(shown, "status"), "available");
	assert_int_equal(json_object_array_length(json_object_object_get(shown, "snapshots")), 1);
	json_object_put(shown);

	assert_int_equal(vol_delete(fx->c, n, true, NULL, &err), 0);
	assert_false(rbd_exists(fx->conf.pools.volumes, rbd_image));
	assert_int_equal(trash_count(fx->conf.pools.volumes), 1);
	assert_int_equal(vol_show(fx->c, n, &none, &err), -ENOENT);
	err_clear(&err);
	assert_int_equal(vol_delete(fx->c, n, false, NULL, &err), -ENOENT);

	assert_true(vol_purge(fx->c, &err) >= 1);
	assert_int_equal(trash_count(fx->conf.pools.volumes), 0);
}

/* The trash entry of image id set to "moving" (expect: its state now), as librbd's move
 * leaves it when an outage cuts it short after the image left the directory: a cls_rbd
 * trash_state_set call (an encoded id string, the new state, the expected one). */
static void trash_state_set(struct fixture *fx, const char *id, uint8_t state, uint8_t expect)
{
	char in[128];
	uint32_t len = htole32((uint32_t)strlen(id));
	size_t off = 0;
	rados_ioctx_t io;
	struct cairn_err err = {0};

	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	memcpy(in, &len, 4);
	off = 4;
	memcpy(in + off, id, strlen(id));
	off += strlen(id);
	in[off++] = (char)state;
	in[off++] = (char)expect;
	assert_int_equal(rados_exec(io, "rbd_trash", "rbd", "trash_state_set", in, off, NULL, 0),
	                 0);
}

#define TRASH_STATE_NORMAL 0
#define TRASH_STATE_MOVING 1

/* An image id of the pool's trash by name, or "" */
static void trash_id_of(struct fixture *fx, const char *rbd_image, char id[64])
{
	rbd_trash_image_info_t e[64];
	size_t n = 64;
	rados_ioctx_t io;
	struct cairn_err err = {0};

	id[0] = '\0';
	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	assert_true(rbd_trash_list(io, e, &n) >= 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].name, rbd_image) == 0)
			str_copy(id, 64, e[i].id);
	rbd_trash_list_cleanup(e, n);
}

/*
 * A move to the trash that an outage cut short leaves the entry "moving", which
 * rbd_trash_remove refuses (-EUCLEAN): the delete that finds the image gone from the
 * directory finishes the move, and so does the purge when the record went already.
 */
static void test_trash_move_cut_short(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v;
	char n[NAME_MAX_LEN + 1], n2[NAME_MAX_LEN + 1], img[128], img2[128], id[64];
	rados_ioctx_t io;

	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	assert_int_equal(trash_count(fx->conf.pools.volumes), 0);

	/* the delete: its image moved to the trash, the move not finished */
	name(n, "cutshort");
	v = create_blank(fx, n, 8 * MiB);
	str_copy(img, sizeof(img), json_get_string(v, "rbd_image"));
	json_object_put(v);
	assert_int_equal(rbd_trash_move(io, img, 0), 0);
	trash_id_of(fx, img, id);
	assert_true(id[0]);
	trash_state_set(fx, id, TRASH_STATE_MOVING, TRASH_STATE_NORMAL);
	assert_int_equal(rbd_trash_remove(io, id, false), -EUCLEAN);
	assert_int_equal(vol_delete(fx->c, n, false, NULL, &err), 0);
	assert_int_equal(vol_show(fx->c, n, &v, &err), -ENOENT);
	err_clear(&err);
	assert_true(vol_purge(fx->c, &err) >= 1);
	assert_int_equal(trash_count(fx->conf.pools.volumes), 0);

	/* the purge: a volume deleted, its trash entry left "moving" */
	name(n2, "cutshort");
	v = create_blank(fx, n2, 8 * MiB);
	str_copy(img2, sizeof(img2), json_get_string(v, "rbd_image"));
	json_object_put(v);
	assert_int_equal(vol_delete(fx->c, n2, false, NULL, &err), 0);
	trash_id_of(fx, img2, id);
	assert_true(id[0]);
	trash_state_set(fx, id, TRASH_STATE_MOVING, TRASH_STATE_NORMAL);
	assert_int_equal(rbd_trash_remove(io, id, false), -EUCLEAN);
	assert_true(vol_purge(fx->c, &err) >= 1);
	assert_int_equal(trash_count(fx->conf.pools.volumes), 0);
}

static void test_delete_grouped(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v;
	char n[NAME_MAX_LEN + 1], group[NAME_MAX_LEN + 1], rbd_image[128];
	rados_ioctx_t io;

	name(n, "grouped");
	name(group, "vm");
	v = create_blank(fx, n, MiB);
	str_copy(rbd_image, sizeof(rbd_image), json_get_string(v, "rbd_image"));
	json_object_put(v);
	/* in an RBD group with a group snapshot, as snapshots/ makes them */
	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	assert_int_equal(rbd_group_create(io, group), 0);
	assert_int_equal(rbd_group_image_add(io, group, io, rbd_image), 0);
	assert_int_equal(rbd_group_snap_create(io, group, "consistent"), 0);

	assert_int_equal(vol_delete(fx->c, n, false, NULL, &err), -ENOTEMPTY);
	assert_non_null(strstr(err.msg, group));
	assert_true(rbd_exists(fx->conf.pools.volumes, rbd_image));
	err_clear(&err);

	/* force: out of the group, its group snapshot gone, the image through the trash */
	assert_int_equal(vol_delete(fx->c, n, true, NULL, &err), 0);
	assert_false(rbd_exists(fx->conf.pools.volumes, rbd_image));
	assert_true(vol_purge(fx->c, &err) >= 1);
	assert_int_equal(trash_count(fx->conf.pools.volumes), 0);
	assert_int_equal(rbd_group_remove(io, group), 0);
}

/* vol_list_text gives the bytes of vol_list's array in a {"volumes": [...]} reply. */
static void assert_list_text_same(struct fixture *fx, const struct vol_filter *f)
{
	struct cairn_err err = {0};
	struct json_object *arr = NULL, *reply = json_object_new_object();
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(vol_list(fx->c, f, &arr, &err), 0);
	assert_int_equal(vol_list_text(fx->c, f, &text, &len, &err), 0);
	json_object_object_add(reply, "volumes", arr);
	assert_int_equal(strlen(text), len);
	assert_string_equal(text, json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
	vol_text_free(text, len);
	json_object_put(reply);
}

static void test_delete_parent_hidden_until_clone_goes(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *parent, *child, *again, *arr = NULL;
	char pn[NAME_MAX_LEN + 1], cn[NAME_MAX_LEN + 1], prbd[128];

	name(pn, "parent");
	name(cn, "child");
	parent = create_blank(fx, pn, 8 * MiB);
	str_copy(prbd, sizeof(prbd), json_get_string(parent, "rbd_image"));
	child = create(fx, &(struct vol_create_params){.name = cn, .volume = pn});

	/* the parent has a clone: hidden, not removed; its name is free again */
	assert_int_equal(vol_delete(fx->c, pn, false, NULL, &err), 1);
	assert_true(rbd_exists(fx->conf.pools.volumes, prbd));
	assert_int_equal(vol_list(fx->c, &(struct vol_filter){.include_hidden = true}, &arr, &err),
	                 0);
	bool seen = false;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		if (strcmp(json_get_string(o, "id"), json_get_string(parent, "id")) == 0) {
			assert_string_equal(json_get_string(o, "status"), "hidden");
			seen = true;
		}
	}
	assert_true(seen);
	json_object_put(arr);
	assert_list_text_same(fx, &(struct vol_filter){.include_hidden = true});
	assert_list_text_same(fx, NULL);
	assert_list_text_same(fx, &(struct vol_filter){.parent = pn});
	assert_int_equal(vol_list(fx->c, NULL, &arr, &err), 0);
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		assert_string_not_equal(json_get_string(json_object_array_get_idx(arr, i), "id"),
		                        json_get_string(parent, "id"));
	json_object_put(arr);
	again = create_blank(fx, pn, MiB);
	json_object_put(again);
	/* the purge leaves it while the clone lives */
	vol_purge(fx->c, &err);
	assert_true(rbd_exists(fx->conf.pools.volumes, prbd));
	assert_int_equal(read_byte(fx, json_get_string(child, "rbd_image"), 0), 0);

	/* the clone goes (to the trash, then purged): the hidden parent follows */
	assert_int_equal(vol_delete(fx->c, cn, false, NULL, &err), 0);
	assert_true(vol_purge(fx->c, &err) >= 2);
	assert_false(rbd_exists(fx->conf.pools.volumes, prbd));
	assert_int_equal(vol_list(fx->c, &(struct vol_filter){.include_hidden = true}, &arr, &err),
	                 0);
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		assert_string_not_equal(json_get_string(json_object_array_get_idx(arr, i), "id"),
		                        json_get_string(parent, "id"));
	json_object_put(arr);
	assert_int_equal(trash_count(fx->conf.pools.volumes), 0);
	json_object_put(parent);
	json_object_put(child);
}

static void test_list_by_label(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *arr = NULL, *labels, *labels2;
	char a[NAME_MAX_LEN + 1], b[NAME_MAX_LEN + 1], c[NAME_MAX_LEN + 1], want[128], tag[32];

	itest_unique_name(tag, sizeof(tag), "t");
	snprintf(want, sizeof(want), "env=%s", tag);
	labels = json_object_new_object();
	json_add_string(labels, "env", tag);
	labels2 = json_object_new_object();
	json_add_string(labels2, "env", "other");
	name(a, "la");
	name(b, "lb");
	name(c, "lc");
	json_object_put(
	        create(fx, &(struct vol_create_params){.name = a, .size = MiB, .labels = labels}));
	json_object_put(
	        create(fx, &(struct vol_create_params){.name = b, .size = MiB, .labels = labels}));
	json_object_put(
	        create(fx, &(struct vol_create_params){.name = c, .size = MiB, .labels = labels2}));

	assert_list_text_same(fx, &(struct vol_filter){.label = want});
	assert_list_text_same(fx, &(struct vol_filter){.label = "env"});
	assert_list_text_same(fx, &(struct vol_filter){.pool = "vms"});
	assert_list_text_same(fx, &(struct vol_filter){.pool = "volumes"});
	assert_int_equal(vol_list(fx->c, &(struct vol_filter){.label = want}, &arr, &err), 0);
	assert_int_equal(json_object_array_length(arr), 2);
	/* sorted by name */
	assert_string_equal(json_get_string(json_object_array_get_idx(arr, 0), "name"), a);
	assert_string_equal(json_get_string(json_object_array_get_idx(arr, 1), "name"), b);
	json_object_put(arr);
	assert_int_equal(vol_list(fx->c, &(struct vol_filter){.label = "env=nomatch"}, &arr, &err),
	                 0);
	assert_int_equal(json_object_array_length(arr), 0);
	json_object_put(arr);
	assert_int_equal(vol_list(fx->c, &(struct vol_filter){.pool = "vms"}, &arr, &err), 0);
	for (size_t i = 0; i < json_object_array_length(arr); i++)
		assert_string_equal(json_get_string(json_object_array_get_idx(arr, i), "pool"),
		                    fx->conf.pools.vms);
	json_object_put(arr);

	/* labels and qos change; qos lands in the image metadata */
	struct json_object *qos = json_tokener_parse("{\"iops\": 100, \"write_bps\": 1048576}");
	struct json_object *out = NULL;
	assert_int_equal(vol_update(fx->c, c, labels, qos, &out, &err), 0);
	assert_int_equal(json_get_int(json_object_object_get(out, "qos"), "iops", 0), 100);
	char spec[256], *val;
	int status;
	snprintf(spec, sizeof(spec), "%s/%s", fx->conf.pools.volumes,
	         json_get_string(out, "rbd_image"));
	val = rbd_cmd(&status, "image-meta", "get", spec, "conf_rbd_qos_iops_limit");
	assert_int_equal(status, 0);
	assert_int_equal(atoi(val), 100);
	free(val);
	json_object_put(out);
	json_object_put(qos);
	assert_int_equal(vol_list(fx->c, &(struct vol_filter){.label = want}, &arr, &err), 0);
	assert_int_equal(json_object_array_length(arr), 3);
	json_object_put(arr);
	qos = json_tokener_parse("{}");
	assert_int_equal(vol_update(fx->c, c, NULL, qos, NULL, &err), 0);
	val = rbd_cmd(&status, "image-meta", "get", spec, "conf_rbd_qos_iops_limit");
	assert_true(status != 0);
	free(val);
	json_object_put(qos);
	qos = json_tokener_parse("{\"iopz\": 1}");
	assert_int_equal(vol_update(fx->c, c, NULL, qos, NULL, &err), -EINVAL);
	json_object_put(qos);
	json_object_put(labels);
	json_object_put(labels2);
}

static void test_extend(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v, *out = NULL;
	char n[NAME_MAX_LEN + 1], *info;

	name(n, "ext");
	v = create_blank(fx, n, 10 * MiB);
	assert_int_equal(vol_extend(fx->c, n, 20 * MiB, &out, &err), 0);
	assert_int_equal(json_get_int(out, "size", 0), 20 * MiB);
	json_object_put(out);
	info = rbd_info(fx->conf.pools.volumes, json_get_string(v, "rbd_image"));
	assert_non_null(strstr(info, "size 20 MiB"));
	free(info);
	out = NULL;
	assert_int_equal(vol_extend(fx->c, n, 5 * MiB, &out, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "is 20 MiB; shrinking to 5 MiB is refused"));
	assert_null(out);
	err_clear(&err);
	assert_int_equal(vol_extend(fx->c, n, 20 * MiB + 1, &out, &err), -EINVAL);
	info = rbd_info(fx->conf.pools.volumes, json_get_string(v, "rbd_image"));
	assert_non_null(strstr(info, "size 20 MiB"));
	free(info);
	json_object_put(v);
}

static void test_rename(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v, *out = NULL, *other;
	char n[NAME_MAX_LEN + 1], n2[NAME_MAX_LEN + 1], n3[NAME_MAX_LEN + 1];

	name(n, "old");
	name(n2, "new");
	name(n3, "taken");
	v = create_blank(fx, n, MiB);
	other = create_blank(fx, n3, MiB);
	assert_int_equal(vol_rename(fx->c, n, n3, &out, &err), -EEXIST);
	err_clear(&err);
	assert_int_equal(vol_rename(fx->c, n, n2, &out, &err), 0);
	assert_string_equal(json_get_string(out, "name"), n2);
	/* same id, same RBD image */
	assert_string_equal(json_get_string(out, "rbd_image"), json_get_string(v, "rbd_image"));
	assert_true(rbd_exists(fx->conf.pools.volumes, json_get_string(v, "rbd_image")));
	json_object_put(out);
	assert_int_equal(vol_show(fx->c, n2, &out, &err), 0);
	json_object_put(out);
	assert_int_equal(vol_show(fx->c, n, &out, &err), -ENOENT);
	json_object_put(v);
	json_object_put(other);
}

static void test_revert(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v;
	char n[NAME_MAX_LEN + 1];
	rados_ioctx_t io;
	rbd_image_t user;

	name(n, "rev");
	v = create_blank(fx, n, 4 * MiB);
	write_pattern(fx, json_get_string(v, "rbd_image"), 0, 0x33, 4096);
	snap_create(fx, json_get_string(v, "rbd_image"), "good");
	write_pattern(fx, json_get_string(v, "rbd_image"), 0, 0x44, 4096);

	/* in use (a writer has it open): refused */
	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	assert_int_equal(rbd_open(io, json_get_string(v, "rbd_image"), &user, NULL), 0);
	assert_int_equal(vol_revert(fx->c, n, "good", &err), -EBUSY);
	assert_int_equal(rbd_close(user), 0);
	err_clear(&err);
	assert_int_equal(vol_revert(fx->c, n, "missing", &err), -ENOENT);
	err_clear(&err);

	assert_int_equal(vol_revert(fx->c, n, "good", &err), 0);
	assert_int_equal(read_byte(fx, json_get_string(v, "rbd_image"), 0), 0x33);
	json_object_put(v);
}

static void test_manage_unmanage(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *v = NULL;
	char n[NAME_MAX_LEN + 1], n2[NAME_MAX_LEN + 1], disk[NAME_MAX_LEN + 1];
	rados_ioctx_t io;

	name(disk, "mydisk");
	name(n, "managed");
	name(n2, "managed2");
	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_VOLUMES, &io, &err), 0);
	assert_int_equal(rbd_create(io, disk, 6 * MiB, &(int){22}), 0);
	write_pattern(fx, disk, 0, 0x77, 4096);

	assert_int_equal(vol_manage(fx->c, n, NULL, disk, &v, &err), 0);
	assert_string_equal(json_get_string(v, "rbd_image"), disk);
	assert_int_equal(json_get_int(v, "size", 0), 6 * MiB);
	json_object_put(v);
	v = NULL;
	assert_int_equal(vol_manage(fx->c, n2, NULL, disk, &v, &err), -EEXIST);
	err_clear(&err);
	assert_int_equal(vol_manage(fx->c, n2, NULL, "does-not-exist", &v, &err), -ENOENT);
	err_clear(&err);

	/* a managed volume clones like any other */
	struct json_object *c = create(fx, &(struct vol_create_params){.name = n2, .volume = n});
	assert_int_equal(read_byte(fx, json_get_string(c, "rbd_image"), 0), 0x77);
	json_object_put(c);

	assert_int_equal(vol_unmanage(fx->c, n, &err), 0);
	assert_int_equal(vol_show(fx->c, n, &v, &err), -ENOENT);
	/* the data is untouched */
	assert_true(rbd_exists(fx->conf.pools.volumes, disk));
	assert_int_equal(read_byte(fx, disk, 0), 0x77);
}

static void test_reconcile(void **state)
{
	struct cairn_config conf;
	struct cairn_err err = {0};
	struct vol_reconcile_stats stats = {0};
	struct vol_reconcile_opts opts = {.startup = true};
	struct json_object *targets, *v = NULL, *shown = NULL;
	char prefix[32], orphan[128], foreign[128], leftover[128], id[UUID_STR_LEN],
	        op[UUID_STR_LEN];
	char uuid[UUID_STR_LEN], record[1024], lname[NAME_MAX_LEN + 1], gone[NAME_MAX_LEN + 1];
	struct cluster *c;
	rados_ioctx_t io;
	rbd_image_t img;
	int order = 22;

	itest_unique_name(prefix, sizeof(prefix), "tr");
	c = itest_cluster(&conf, prefix);
	assert_int_equal(cluster_ioctx(c, POOL_ROLE_VOLUMES, &io, &err), 0);

	/* an image cairn made (it carries the mark) that nothing accounts for */
	uuid_generate_str(uuid);
	snprintf(orphan, sizeof(orphan), "volume-%s", uuid);
	assert_int_equal(rbd_create(io, orphan, MiB, &order), 0);
	assert_int_equal(rbd_open(io, orphan, &img, NULL), 0);
	assert_int_equal(rbd_metadata_set(img, VOL_MARK_KEY, uuid), 0);
	assert_int_equal(rbd_close(img), 0);
	/* a foreign image in cairn's naming (say, Cinder's) and one in any naming */
	uuid_generate_str(uuid);
	snprintf(foreign, sizeof(foreign), "volume-%s", uuid);
	assert_int_equal(rbd_create(io, foreign, MiB, &order), 0);
	assert_int_equal(rbd_create(io, "mydisk", MiB, &order), 0);

	/* a create that died after making its image: intent, record "creating", image */
	uuid_generate_str(id);
	uuid_generate_str(op);
	snprintf(leftover, sizeof(leftover), "volume-%s", id);
	itest_unique_name(lname, sizeof(lname), "leftover");
	targets = json_object_new_object();
	json_add_string(targets, "id", id);
	json_add_string(targets, "name", lname);
	json_add_string(targets, "pool", conf.pools.volumes);
	json_add_string(targets, "rbd_image", leftover);
	assert_int_equal(intent_begin(c, op, "volume.create", targets, &err), 0);
	json_object_put(targets);
	snprintf(record, sizeof(record),
	         "{\"id\": \"%s\", \"name\": \"%s\", \"pool\": \"%s\", \"rbd_image\": \"%s\", "
	         "\"size\": 1048576, \"status\": \"creating\", \"parent\": null}",
	         id, lname, conf.pools.volumes, leftover);
	assert_int_equal(dir_insert(c, DIR_VOLUMES, lname, id, record, &err), 0);
	assert_int_equal(rbd_create(io, leftover, MiB, &order), 0);

	/* a volume whose image vanished behind cairn's back */
	itest_unique_name(gone, sizeof(gone), "gone");
	assert_int_equal(
	        vol_create(c, &(struct vol_create_params){.name = gone, .size = MiB}, &v, &err), 0);
	assert_int_equal(rbd_remove(io, json_get_string(v, "rbd_image")), 0);
	json_object_put(v);

	assert_int_equal(vol_reconcile(c, &opts, &stats, &err), 0);
	assert_int_equal(stats.intents_rolled_back, 1);
	assert_int_equal(stats.orphans_removed, 1);
	assert_int_equal(stats.records_missing, 1);

	/* the truth in Ceph */
	assert_false(rbd_exists(conf.pools.volumes, orphan));
	assert_false(rbd_exists(conf.pools.volumes, leftover));
	assert_true(rbd_exists(conf.pools.volumes, foreign));
	assert_true(rbd_exists(conf.pools.volumes, "mydisk"));
	/* and in the directory: no intent, no record, the name free */
	char buf[128];
	assert_int_equal(dir_lookup(c, DIR_VOLUMES, lname, buf, sizeof(buf), &err), -ENOENT);
	err_clear(&err);
	char *text = NULL;
	assert_int_equal(dir_get(c, DIR_INTENTS, op, &text, &err), -ENOENT);
	err_clear(&err);
	assert_int_equal(vol_show(c, gone, &shown, &err), 0);
	assert_string_equal(json_get_string(shown, "status"), "error");
	assert_string_equal(json_get_string(shown, "error"), "image missing");
	json_object_put(shown);

	/* a second pass finds nothing to do */
	assert_int_equal(vol_reconcile(c, &opts, &stats, &err), 0);
	assert_int_equal(stats.intents_rolled_back + stats.orphans_removed + stats.records_missing,
	                 0);

	/* a fresh intent of another host is left alone (its create may be running) */
	uuid_generate_str(op);
	targets = json_object_new_object();
	json_add_string(targets, "pool", conf.pools.volumes);
	json_add_string(targets, "rbd_image", foreign);
	assert_int_equal(intent_begin(c, op, "volume.create", targets, &err), 0);
	json_object_put(targets);
	opts.host = "another-host";
	assert_int_equal(vol_reconcile(c, &opts, &stats, &err), 0);
	assert_int_equal(stats.intents_rolled_back, 0);
	assert_int_equal(dir_get(c, DIR_INTENTS, op, &text, &err), 0);
	free(text);
	assert_int_equal(intent_end(c, op, &err), 0);

	cluster_free(c);
	const char *pools[] = {conf.pools.images, conf.pools.volumes, conf.pools.vms,
	                       conf.pools.backups};
	for (size_t i = 0; i < ARRAY_SIZE(pools); i++) {
		const char *argv[] = {"ceph",   "-c",     itest_ceph_conf(),
		                      "osd",    "pool",   "rm",
		                      pools[i], pools[i], "--yes-i-really-really-mean-it",
		                      NULL};
		itest_run(NULL, argv);
	}
	conf_release(&conf);
}

/* ---- crashes at every step ------------------------------------------------------------------- */
/*
 * The test binary runs itself as the "daemon" that crashes: argv "--crash PREFIX DIR ACTION
 * NAME ARG SIZE_MIB MAX_DEPTH", with CAIRN_FAILPOINT naming the step where it kills itself.
 * The parent then reconciles as the restarted daemon would, and checks the cluster.
 */
static int crash_child(int argc, char **argv)
{
	struct cairn_config conf;
	struct cairn_err err = {0};
	struct cluster *c = NULL;
	struct json_object *out = NULL;
	const char *action, *n, *arg;
	int r = -EINVAL;

	if (argc != 9)
		return 2;
	action = argv[4];
	n = argv[5];
	arg = argv[6];
	itest_config(&conf, argv[2]);
	free(conf.import.directory);
	conf.import.directory = strdup(argv[3]);
	conf.volumes.max_clone_depth = (uint32_t)atoi(argv[8]);
	if (cluster_connect(&conf, &c, &err) < 0)
		return 2;
	if (strcmp(action, "clone-volume") == 0)
		r = vol_create(c,
		               &(struct vol_create_params){.name = n,
		                                           .volume = arg,
		                                           .size = (uint64_t)atoi(argv[7]) * MiB},
		               &out, &err);
	else if (strcmp(action, "delete") == 0)
		r = vol_delete(c, n, true, NULL, &err);
	else if (strcmp(action, "import") == 0)
		r = img_import(c, &(struct img_import_params){.name = n, .file = arg}, NULL, &out,
		               &err);
	/* reaching here means the fail point was never passed */
	fprintf(stderr, "crash child: %s '%s' returned %d (%s) without crashing\n", action, n, r,
	        err.msg);
	json_object_put(out);
	cluster_free(c);
	conf_release(&conf);
	return 3;
}

static void crash_run(struct fixture *fx, const char *failpoint, const char *action, const char *n,
                      const char *arg, int size_mib, int max_depth)
{
	char size[16], depth[16];
	int status;
	pid_t pid;

	snprintf(size, sizeof(size), "%d", size_mib);
	snprintf(depth, sizeof(depth), "%d", max_depth);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *args[] = {"itest-volumes", "--crash", fx->prefix,  fx->import_dir,
		                (char *)action,  (char *)n, (char *)arg, size,
		                depth,           NULL};
		setenv("CAIRN_FAILPOINT", failpoint, 1);
		execv(fx->self, args);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fprintf(stderr, "fail point '%s' not reached (status %d)\n", failpoint, status);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static int count_intent(const char *op_id, struct json_object *intent, void *userdata)
{
	(*(int *)userdata)++;
	return 0;
}

static void recover(struct fixture *fx)
{
	struct vol_reconcile_opts opts = {.startup = true};
	struct cairn_err err = {0};
	int n = 0;

	if (vol_reconcile(fx->c, &opts, NULL, &err) < 0)
		fprintf(stderr, "reconcile: %s\n", err.msg);
	assert_int_equal(err.code, 0);
	/* nothing left unsettled */
	assert_int_equal(intent_list(fx->c, "volume.", count_intent, &n, &err), 0);
	assert_int_equal(intent_list(fx->c, "image.", count_intent, &n, &err), 0);
	assert_int_equal(n, 0);
}

static bool volume_exists(struct fixture *fx, const char *n)
{
	struct cairn_err err = {0};
	struct json_object *v = NULL;
	int r = vol_show(fx->c, n, &v, &err);

	if (r == 0)
		assert_string_equal(json_get_string(v, "status"), "available");
	json_object_put(v);
	assert_true(r == 0 || r == -ENOENT);
	return r == 0;
}

/* How many hidden clone snapshots the image has. */
static int hidden_snaps(const char *spec)
{
	int status, n = 0;
	char *snaps = rbd_cmd(&status, "snap", "ls", "--all", spec);

	assert_int_equal(status, 0);
	for (const char *p = snaps; (p = strstr(p, "cairn-clone-")); p++)
		n++;
	free(snaps);
	return n;
}

static void test_crash_at_every_step(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *p;
	char pn[NAME_MAX_LEN + 1], n[NAME_MAX_LEN + 1], spec[256];
	int before;

	/* a volume to clone, itself a clone of the image (so depth 1 makes clones flatten) */
	name(pn, "crashsrc");
	p = create(fx, &(struct vol_create_params){.name = pn, .image = fx->image});
	snprintf(spec, sizeof(spec), "%s/%s", fx->conf.pools.volumes,
	         json_get_string(p, "rbd_image"));

	static const struct {
		const char *failpoint;
		int size_mib, max_depth;
		bool survives;
	} creates[] = {
	        {"volume.create.intent", 0, 8, false},
	        {"volume.create.reserved", 0, 8, false},
	        {"volume.create.snapshotted", 0, 8, false},
	        {"volume.create.cloned", 0, 8, false},
	        {"volume.create.marked", 0, 8, false},
	        {"volume.create.resized", 8, 8, false},
	        {"volume.create.flattened", 0, 1, false},
	        {"volume.create.configured", 0, 8, false},
	        {"volume.create.recorded", 0, 8, true},
	};
	for (size_t i = 0; i < ARRAY_SIZE(creates); i++) {
		int hidden = hidden_snaps(spec);

		before = rbd_count(fx->conf.pools.volumes);
		name(n, "crashed");
		crash_run(fx, creates[i].failpoint, "clone-volume", n, pn, creates[i].size_mib,
		          creates[i].max_depth);
		recover(fx);
		if (creates[i].survives) {
			/* it had finished: rolled forward */
			assert_true(volume_exists(fx, n));
			assert_int_equal(rbd_count(fx->conf.pools.volumes), before + 1);
			continue;
		}
		/* rolled back: no record, no image, no hidden snapshot on the source */
		assert_false(volume_exists(fx, n));
		assert_int_equal(rbd_count(fx->conf.pools.volumes), before);
		assert_int_equal(hidden_snaps(spec), hidden);
		/* and the name works again */
		json_object_put(create(fx, &(struct vol_create_params){.name = n, .volume = pn}));
	}

	/* deletes: finished by the reconciler once the volume was marked deleting */
	static const struct {
		const char *failpoint;
		bool survives;
	} deletes[] = {
	        {"volume.delete.intent", true},      {"volume.delete.marked", false},
	        {"volume.delete.snapshots", false},  {"volume.delete.removed", false},
	        {"volume.delete.unrecorded", false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(deletes); i++) {
		struct json_object *v;
		char rbd_image[128];

		name(n, "doomed");
		v = create_blank(fx, n, MiB);
		str_copy(rbd_image, sizeof(rbd_image), json_get_string(v, "rbd_image"));
		json_object_put(v);
		snap_create(fx, rbd_image, "user-snap");
		crash_run(fx, deletes[i].failpoint, "delete", n, "-", 0, 8);
		recover(fx);
		assert_true(volume_exists(fx, n) == deletes[i].survives);
		assert_true(rbd_exists(fx->conf.pools.volumes, rbd_image) == deletes[i].survives);
	}
	assert_true(vol_purge(fx->c, &err) >= 0);
	assert_int_equal(trash_count(fx->conf.pools.volumes), 0);

	/* imports */
	static const struct {
		const char *failpoint;
		bool survives;
	} imports[] = {
	        {"image.import.reserved", false},  {"image.import.created", false},
	        {"image.import.converted", false}, {"image.import.snapshotted", false},
	        {"image.import.recorded", true},
	};
	for (size_t i = 0; i < ARRAY_SIZE(imports); i++) {
		struct json_object *img = NULL;

		before = rbd_count(fx->conf.pools.images);
		name(n, "crashimg");
		crash_run(fx, imports[i].failpoint, "import", n, "base.raw", 0, 8);
		recover(fx);
		err_clear(&err);
		int r = img_show(fx->c, n, &img, &err);
		assert_int_equal(r, imports[i].survives ? 0 : -ENOENT);
		if (img)
			assert_string_equal(json_get_string(img, "status"), "available");
		json_object_put(img);
		assert_int_equal(rbd_count(fx->conf.pools.images), before + imports[i].survives);
	}
	json_object_put(p);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--crash") == 0)
		return crash_child(argc, argv);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_create_blank),
	        cmocka_unit_test(test_size_rules),
	        cmocka_unit_test(test_clone_from_image),
	        cmocka_unit_test(test_clone_larger),
	        cmocka_unit_test(test_clone_of_volume_and_snapshot),
	        cmocka_unit_test(test_depth_limit),
	        cmocka_unit_test(test_name_conflict),
	        cmocka_unit_test(test_create_race),
	        cmocka_unit_test(test_delete_trash_purge),
	        cmocka_unit_test(test_trash_move_cut_short),
	        cmocka_unit_test(test_delete_grouped),
	        cmocka_unit_test(test_delete_parent_hidden_until_clone_goes),
	        cmocka_unit_test(test_list_by_label),
	        cmocka_unit_test(test_extend),
	        cmocka_unit_test(test_rename),
	        cmocka_unit_test(test_revert),
	        cmocka_unit_test(test_manage_unmanage),
	        cmocka_unit_test(test_manage_race),
	        cmocka_unit_test(test_crash_at_every_step),
	        cmocka_unit_test(test_reconcile),
	};
	/* CAIRN_TEST_FILTER=test_rename runs one test (cmocka's glob) */
	if (getenv("CAIRN_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CAIRN_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}
