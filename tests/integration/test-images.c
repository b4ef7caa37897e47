/* SPDX-License-Identifier: MIT */
/*
 * Images against the real cluster: import with qemu-img (real qcow2 files made with qemu-img
 * and qemu-io), read back with librbd, failures that leave nothing, delete and deferral.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	char dir[64];
};

static void path_of(struct fixture *fx, char *buf, const char *file)
{
	snprintf(buf, PATH_MAX, "%s/%s", fx->dir, file);
}

static void run_ok(const char *const argv[])
{
	char *out = NULL;
	int status = itest_run(&out, argv);

	if (status != 0)
		fprintf(stderr, "%s: exit %d: %s\n", argv[0], status, out);
	free(out);
	assert_int_equal(status, 0);
}

/* An 8 MiB qcow2 whose first MiB is 0xab, written by qemu-io. */
static void make_qcow2(struct fixture *fx, const char *file)
{
	char path[PATH_MAX];

	path_of(fx, path, file);
	const char *create[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, "8M", NULL};
	run_ok(create);
	const char *io[] = {"qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 1M", path, NULL};
	run_ok(io);
}

static void write_file(struct fixture *fx, const char *file, const void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	path_of(fx, path, file);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int rbd_count(const char *pool)
{
	const char *argv[] = {"rbd", "-c", itest_ceph_conf(), "ls", pool, NULL};
	char *out = NULL;
	int n = 0;

	assert_int_equal(itest_run(&out, argv), 0);
	for (char *p = out; *p; p++)
		n += *p == '\n';
	free(out);
	return n;
}

static bool name_free(struct fixture *fx, const char *name)
{
	struct cairn_err err = {0};
	char id[128];

	return dir_lookup(fx->c, DIR_IMAGES, name, id, sizeof(id), &err) == -ENOENT;
}

struct counter {
	struct cairn_progress p;
	uint64_t last_done, total;
	unsigned calls;
	bool monotonic;
	bool cancel;
};

static void count_report(struct cairn_progress *p, uint64_t done, uint64_t total)
{
	struct counter *c = (struct counter *)p;

	if (done < c->last_done || done > total)
		c->monotonic = false;
	c->last_done = done;
	c->total = total;
	c->calls++;
}

static bool count_cancel(struct cairn_progress *p)
{
	return ((struct counter *)p)->cancel;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	*state = fx; /* before anything can fail: teardown runs anyway */
	itest_unique_name(fx->prefix, sizeof(fx->prefix), "ti");
	fx->c = itest_cluster(&fx->conf, fx->prefix);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/cairn-ti-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	free(fx->conf.import.directory);
	fx->conf.import.directory = strdup(fx->dir);
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
	const char *pools[] = {fx->conf.pools.images, fx->conf.pools.volumes, fx->conf.pools.vms,
	                       fx->conf.pools.backups};
	const char *rm[] = {"rm", "-rf", fx->dir, NULL};

	itest_run(NULL, rm);
	cluster_free(fx->c);
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

static void test_import_qcow2(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct counter progress = {{count_report, count_cancel}, 0, 0, 0, true, false};
	struct json_object *img = NULL, *shown = NULL, *list = NULL;
	char name[NAME_MAX_LEN + 1], *buf;
	rados_ioctx_t io;
	rbd_image_t rbd;
	uint64_t size;

	make_qcow2(fx, "disk.qcow2");
	itest_unique_name(name, sizeof(name), "debian");
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){.name = name, .file = "disk.qcow2"},
	                            &progress.p, &img, &err),
	                 0);
	assert_string_equal(json_get_string(img, "status"), "available");
	assert_string_equal(json_get_string(img, "format"), "qcow2");
	assert_int_equal(json_get_int(img, "size", 0), 8 * MiB);
	assert_string_equal(json_get_string(img, "pool"), fx->conf.pools.images);

	/* the checksum is the SHA-256 of the file as sha256sum sees it, and it was stored */
	{
		char path[PATH_MAX], want[80], *out = NULL;

		path_of(fx, path, "disk.qcow2");
		const char *sum[] = {"sha256sum", path, NULL};
		assert_int_equal(itest_run(&out, sum), 0);
		assert_non_null(out);
		assert_true(strlen(out) > 64);
		snprintf(want, sizeof(want), "sha256:%.64s", out);
		free(out);
		assert_string_equal(json_get_string(img, "checksum"), want);
		assert_int_equal(img_show(fx->c, name, &shown, &err), 0);
		assert_string_equal(json_get_string(shown, "checksum"), want);
		json_object_put(shown);
		shown = NULL;
	}

	/* progress: called, never going back, ending at the total */
	assert_true(progress.calls >= 2);
	assert_true(progress.monotonic);
	assert_int_equal(progress.total, 8 * MiB);
	assert_int_equal(progress.last_done, 8 * MiB);

	/* the bytes in RBD are the bytes qemu-io wrote */
	assert_int_equal(cluster_ioctx(fx->c, POOL_ROLE_IMAGES, &io, &err), 0);
	assert_int_equal(rbd_open_read_only(io, json_get_string(img, "rbd_image"), &rbd, NULL), 0);
	assert_int_equal(rbd_get_size(rbd, &size), 0);
	assert_int_equal(size, 8 * MiB);
	buf = malloc(8 * MiB);
	assert_int_equal(rbd_read(rbd, 0, 8 * MiB, buf), (ssize_t)(8 * MiB));
	for (uint64_t i = 0; i < 8 * MiB; i++)
		if ((unsigned char)buf[i] != (i < MiB ? 0xab : 0)) {
			fprintf(stderr, "byte %llu is 0x%02x\n", (unsigned long long)i,
			        (unsigned char)buf[i]);
			fail();
		}
	free(buf);
	/* the base snapshot clones are made from */
	bool exists = false;
	assert_int_equal(rbd_snap_exists(rbd, IMG_BASE_SNAP, &exists), 0);
	assert_true(exists);
	assert_int_equal(rbd_close(rbd), 0);

	assert_int_equal(img_show(fx->c, name, &shown, &err), 0);
	assert_int_equal(json_get_int(shown, "clones", -1), 0);
	json_object_put(shown);
	assert_int_equal(img_list(fx->c, false, &list, &err), 0);
	bool listed = false;
	for (size_t i = 0; i < json_object_array_length(list); i++)
		listed |= strcmp(json_get_string(json_object_array_get_idx(list, i), "name"),
		                 name) == 0;
	assert_true(listed);
	json_object_put(list);

	/* the same name again: taken */
	err_clear(&err);
	struct json_object *again = NULL;
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){.name = name, .file = "disk.qcow2"},
	                            NULL, &again, &err),
	                 -EEXIST);
	assert_null(again);
	json_object_put(img);
}

static void test_import_failures_leave_nothing(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *img = NULL;
	char name[NAME_MAX_LEN + 1], junk[4096], outside[PATH_MAX];
	int before = rbd_count(fx->conf.pools.images);

	itest_unique_name(name, sizeof(name), "bad");
	memset(junk, 'j', sizeof(junk));
	write_file(fx, "junk.bin", junk, sizeof(junk));

	/* not what the format says: qemu-img's own words come back */
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){
	                                    .name = name, .file = "junk.bin", .format = "qcow2"},
	                            NULL, &img, &err),
	                 -EINVAL);
	assert_non_null(strstr(err.msg, "qcow2"));
	assert_null(img);
	assert_int_equal(rbd_count(fx->conf.pools.images), before);
	assert_true(name_free(fx, name));

	/* an unknown format */
	err_clear(&err);
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){
	                                    .name = name, .file = "junk.bin", .format = "vhdx"},
	                            NULL, &img, &err),
	                 -EINVAL);

	/* a qcow2 whose header is cut short: qemu-img info refuses it */
	char path[PATH_MAX];
	make_qcow2(fx, "cut.qcow2");
	path_of(fx, path, "cut.qcow2");
	assert_int_equal(truncate(path, 64), 0);
	err_clear(&err);
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){.name = name, .file = "cut.qcow2"},
	                            NULL, &img, &err),
	                 -EINVAL);
	assert_non_null(strstr(err.msg, "header"));
	assert_int_equal(rbd_count(fx->conf.pools.images), before);
	assert_true(name_free(fx, name));

	/*
	 * a corrupt qcow2 (its first L1 entry unaligned) that qemu-img info accepts: the RBD
	 * image is made, qemu-img convert fails half-way, and all of it is undone
	 */
	make_qcow2(fx, "corrupt.qcow2");
	path_of(fx, path, "corrupt.qcow2");
	int fd = open(path, O_RDWR | O_CLOEXEC);
	unsigned char hdr[48], entry[8] = {0x80, 0, 0, 0, 0, 0x01, 0x02, 0x00};
	uint64_t l1 = 0;
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
	for (int i = 40; i < 48; i++)
		l1 = l1 << 8 | hdr[i];
	assert_int_equal(pwrite(fd, entry, sizeof(entry), (off_t)l1), (ssize_t)sizeof(entry));
	close(fd);
	err_clear(&err);
	assert_int_equal(
	        img_import(fx->c,
	                   &(struct img_import_params){.name = name, .file = "corrupt.qcow2"}, NULL,
	                   &img, &err),
	        -EINVAL);
	assert_non_null(strstr(err.msg, "qemu-img convert failed"));
	assert_non_null(strstr(err.msg, "corrupt"));
	assert_int_equal(rbd_count(fx->conf.pools.images), before);
	assert_true(name_free(fx, name));
	char *trash = NULL;
	const char *tls[] = {"rbd", "-c", itest_ceph_conf(), "trash", "ls", fx->conf.pools.images,
	                     NULL};
	assert_int_equal(itest_run(&trash, tls), 0);
	assert_string_equal(trash, "");
	free(trash);

	/* a qcow2 with a backing file (it could read any file on the host) */
	make_qcow2(fx, "base.qcow2");
	path_of(fx, path, "base.qcow2");
	char top[PATH_MAX];
	path_of(fx, top, "top.qcow2");
	const char *mk[] = {"qemu-img", "create", "-q",    "-f", "qcow2", "-b",
	                    path,       "-F",     "qcow2", top,  NULL};
	run_ok(mk);
	err_clear(&err);
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){.name = name, .file = "top.qcow2"},
	                            NULL, &img, &err),
	                 -EINVAL);
	assert_non_null(strstr(err.msg, "backing"));
	assert_int_equal(rbd_count(fx->conf.pools.images), before);

	/* outside the import directory, by path, by "..", by a symlink: refused at once */
	err_clear(&err);
	assert_int_equal(
	        img_import(fx->c, &(struct img_import_params){.name = name, .file = "/etc/passwd"},
	                   NULL, &img, &err),
	        -EACCES);
	assert_non_null(strstr(err.msg, "/etc/passwd"));
	err_clear(&err);
	assert_int_equal(
	        img_import(fx->c,
	                   &(struct img_import_params){.name = name, .file = "../../etc/passwd"},
	                   NULL, &img, &err),
	        -EACCES);
	path_of(fx, outside, "escape");
	assert_int_equal(symlink("/etc/passwd", outside), 0);
	err_clear(&err);
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){.name = name, .file = "escape"},
	                            NULL, &img, &err),
	                 -EACCES);
	assert_non_null(strstr(err.msg, "escape"));
	assert_int_equal(rbd_count(fx->conf.pools.images), before);
	assert_true(name_free(fx, name));

	/* cancelled: qemu-img is killed, nothing stays */
	struct counter cancel = {{count_report, count_cancel}, 0, 0, 0, true, true};
	err_clear(&err);
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){.name = name, .file = "base.qcow2"},
	                            &cancel.p, &img, &err),
	                 -ECANCELED);
	assert_int_equal(rbd_count(fx->conf.pools.images), before);
	assert_true(name_free(fx, name));

	/* and after all that, the name works */
	err_clear(&err);
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){.name = name, .file = "base.qcow2"},
	                            NULL, &img, &err),
	                 0);
	json_object_put(img);
	assert_int_equal(rbd_count(fx->conf.pools.images), before + 1);
}

static void test_delete_with_clones(void **state)
{
	struct fixture *fx = *state;
	struct cairn_err err = {0};
	struct json_object *img = NULL, *vol = NULL, *list = NULL, *shown = NULL;
	char name[NAME_MAX_LEN + 1], vname[NAME_MAX_LEN + 1], rbd_image[128];
	char raw[4096];

	memset(raw, 0xcd, sizeof(raw));
	write_file(fx, "small.raw", raw, sizeof(raw));
	itest_unique_name(name, sizeof(name), "golden");
	itest_unique_name(vname, sizeof(vname), "vm1");
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){.name = name, .file = "small.raw"},
	                            NULL, &img, &err),
	                 0);
	assert_string_equal(json_get_string(img, "format"), "raw");
	str_copy(rbd_image, sizeof(rbd_image), json_get_string(img, "rbd_image"));
	json_object_put(img);
	assert_int_equal(vol_create(fx->c,
	                            &(struct vol_create_params){.name = vname, .image = name}, &vol,
	                            &err),
	                 0);
	json_object_put(vol);
	assert_int_equal(img_show(fx->c, name, &shown, &err), 0);
	assert_int_equal(json_get_int(shown, "clones", -1), 1);
	json_object_put(shown);

	/* refused, naming the volume that depends on it */
	assert_int_equal(img_delete(fx->c, name, false, &err), -ENOTEMPTY);
	assert_non_null(strstr(err.msg, vname));
	err_clear(&err);

	/* deferred: hidden (out of the list, name free), still in the pool */
	assert_int_equal(img_delete(fx->c, name, true, &err), 1);
	assert_true(name_free(fx, name));
	assert_int_equal(img_list(fx->c, false, &list, &err), 0);
	for (size_t i = 0; i < json_object_array_length(list); i++)
		assert_string_not_equal(
		        json_get_string(json_object_array_get_idx(list, i), "rbd_image"),
		        rbd_image);
	json_object_put(list);
	assert_int_equal(vol_purge(fx->c, &err), 0);
	int before = rbd_count(fx->conf.pools.images);

	/* the last clone goes: so does the image */
	assert_int_equal(vol_delete(fx->c, vname, false, NULL, &err), 0);
	assert_true(vol_purge(fx->c, &err) >= 2);
	assert_int_equal(rbd_count(fx->conf.pools.images), before - 1);
	assert_int_equal(img_list(fx->c, true, &list, &err), 0);
	for (size_t i = 0; i < json_object_array_length(list); i++)
		assert_string_not_equal(
		        json_get_string(json_object_array_get_idx(list, i), "rbd_image"),
		        rbd_image);
	json_object_put(list);

	/* an image without clones goes through the trash */
	itest_unique_name(name, sizeof(name), "plain");
	assert_int_equal(img_import(fx->c,
	                            &(struct img_import_params){.name = name, .file = "small.raw"},
	                            NULL, &img, &err),
	                 0);
	json_object_put(img);
	before = rbd_count(fx->conf.pools.images);
	assert_int_equal(img_delete(fx->c, name, false, &err), 0);
	assert_int_equal(rbd_count(fx->conf.pools.images), before - 1);
	assert_true(vol_purge(fx->c, &err) >= 1);
	const char *trash[] = {"rbd", "-c", itest_ceph_conf(), "trash", "ls", fx->conf.pools.images,
	                       NULL};
	char *out = NULL;
	assert_int_equal(itest_run(&out, trash), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(img_delete(fx->c, name, false, &err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_import_qcow2),
	        cmocka_unit_test(test_import_failures_leave_nothing),
	        cmocka_unit_test(test_delete_with_clones),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
