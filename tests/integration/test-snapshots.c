/* SPDX-License-Identifier: MIT */
/*
 * snapshots/ against the real cluster: create/list/remove, clones blocking removal,
 * rollback restoring data, a VM-like second client blocking rollback, and a group
 * snapshot of eight images checked with the rbd CLI.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <rbd/librbd.h>

#include "common/json.h"
#include "snapshots/snapshots.h"
#include "tests/integration/itest.h"

#define MiB (1024ULL * 1024)

struct fixture {
	struct cairn_config conf;
	struct cluster *c;
	rados_ioctx_t io; /* the volumes pool */
	char prefix[32];
};

static int group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct cairn_err err = {0};

	assert_non_null(f);
	itest_unique_name(f->prefix, sizeof(f->prefix), "tsnap");
	f->c = itest_cluster(&f->conf, f->prefix);
	assert_int_equal(cluster_ioctx(f->c, POOL_ROLE_VOLUMES, &f->io, &err), 0);
	*state = f;
	return 0;
}

/* The pools this binary made are removed at the end, so runs do not pile up PGs. */
static void pools_remove(const struct cairn_config *conf)
{
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		const char *pool = conf_pool_name(conf, (enum pool_role)role);
		const char *argv[] = {"ceph", "-c",   itest_ceph_conf(),
		                      "osd",  "pool", "rm",
		                      pool,   pool,   "--yes-i-really-really-mean-it",
		                      NULL};
		assert_int_equal(itest_run(NULL, argv), 0);
	}
}

static int group_teardown(void **state)
{
	struct fixture *f = *state;

	cluster_free(f->c);
	pools_remove(&f->conf);
	conf_release(&f->conf);
	free(f);
	return 0;
}

static void image_create(struct fixture *f, char *name, size_t len, const char *base, uint64_t size)
{
	rbd_image_options_t opts;

	itest_unique_name(name, len, base);
	/* librbd 16 crashes on NULL options */
	rbd_image_options_create(&opts);
	assert_int_equal(rbd_create4(f->io, name, size, opts), 0);
	rbd_image_options_destroy(opts);
}

/* Clone format 2: no protection needed (explicit: the cluster may allow older clients). */
static void clone_v2(struct fixture *f, const char *parent, const char *snap, const char *child)
{
	rbd_image_options_t opts;

	rbd_image_options_create(&opts);
	assert_int_equal(rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_CLONE_FORMAT, 2), 0);
	assert_int_equal(rbd_clone3(f->io, parent, snap, f->io, child, opts), 0);
	rbd_image_options_destroy(opts);
}

static struct json_object *find_snap(struct json_object *a, const char *name)
{
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		const char *n = json_get_string(o, "name");
		if (n && strcmp(n, name) == 0)
			return o;
	}
	return NULL;
}

static bool get_bool(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	assert_true(json_object_is_type(v, json_type_boolean));
	return json_object_get_boolean(v);
}

/* `rbd snap ls --all POOL/IMAGE` as the operator would see it */
static char *rbd_snap_ls(struct fixture *f, const char *image)
{
	char spec[256], *out = NULL;

	snprintf(spec, sizeof(spec), "%s/%s", f->conf.pools.volumes, image);
	const char *argv[] = {"rbd", "-c", itest_ceph_conf(), "snap", "ls", "--all", spec, NULL};
	assert_int_equal(itest_run(&out, argv), 0);
	return out;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- create / list / remove ----------------------------------------------------------------- */

static void test_create_list_remove(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct json_object *a = NULL, *s;
	char img[48], *out;

	image_create(f, img, sizeof(img), "img", 16 * MiB);
	assert_int_equal(snap_create(f->io, img, "s1", &err), 0);
	assert_int_equal(snap_create(f->io, img, "cairn-base", &err), 0);
	assert_int_equal(snap_create(f->io, img, "s1", &err), -EEXIST);
	assert_non_null(strstr(err.msg, "@s1' already exists"));
	err_clear(&err);
	assert_int_equal(snap_create(f->io, img, "bad/name", &err), -EINVAL);
	err_clear(&err);
	assert_int_equal(snap_create(f->io, "no-such-image", "s1", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no-such-image' not found"));
	err_clear(&err);

	/* hidden snapshots are listed only when asked */
	assert_int_equal(snap_list(f->c, f->io, img, false, &a, &err), 0);
	assert_int_equal(json_object_array_length(a), 1);
	s = find_snap(a, "s1");
	assert_non_null(s);
	assert_int_equal(json_get_int(s, "size", -1), 16 * MiB);
	assert_true(json_get_int(s, "id", -1) > 0);
	assert_int_equal(json_get_int(s, "clones", -1), 0);
	assert_false(get_bool(s, "protected"));
	const char *created = json_get_string(s, "created");
	assert_non_null(created);
	assert_int_equal(strlen(created), 20); /* 2026-01-02T03:04:05Z */
	assert_int_equal(created[10], 'T');
	assert_int_equal(created[19], 'Z');
	json_object_put(a);
	assert_int_equal(snap_list(f->c, f->io, img, true, &a, &err), 0);
	assert_int_equal(json_object_array_length(a), 2);
	assert_non_null(find_snap(a, "cairn-base"));
	json_object_put(a);

	/* remove, and the truth in Ceph */
	assert_int_equal(snap_remove(f->io, img, "s1", &err), 0);
	assert_int_equal(snap_remove(f->io, img, "s1", &err), -ENOENT);
	assert_non_null(strstr(err.msg, "@s1' not found"));
	err_clear(&err);
	out = rbd_snap_ls(f, img);
	assert_null(strstr(out, " s1 "));
	assert_non_null(strstr(out, "cairn-base"));
	free(out);
	assert_int_equal(snap_list(f->c, f->io, img, false, &a, &err), 0);
	assert_int_equal(json_object_array_length(a), 0);
	json_object_put(a);

	/* a snapshot protected by an older tool is unprotected and removed */
	rbd_image_t h;
	int prot = 0;
	assert_int_equal(rbd_open(f->io, img, &h, NULL), 0);
	assert_int_equal(rbd_snap_protect(h, "cairn-base"), 0);
	assert_int_equal(rbd_close(h), 0);
	assert_int_equal(snap_list(f->c, f->io, img, true, &a, &err), 0);
	assert_true(get_bool(find_snap(a, "cairn-base"), "protected"));
	json_object_put(a);
	assert_int_equal(snap_remove(f->io, img, "cairn-base", &err), 0);
	assert_int_equal(rbd_open(f->io, img, &h, NULL), 0);
	assert_int_equal(rbd_snap_is_protected(h, "cairn-base", &prot), -ENOENT);
	assert_int_equal(rbd_close(h), 0);

	assert_int_equal(rbd_remove(f->io, img), 0);
}

/* ---- clones ------------------------------------------------------------------------------ */

static void test_clone_blocks_remove(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct json_object *a = NULL;
	char img[48], child[48], want[160], *names = NULL, *out;
	size_t count = 0;

	image_create(f, img, sizeof(img), "parent", 8 * MiB);
	itest_unique_name(child, sizeof(child), "child");
	assert_int_equal(snap_create(f->io, img, "base", &err), 0);
	clone_v2(f, img, "base", child);

	assert_int_equal(snap_remove(f->io, img, "base", &err), -ENOTEMPTY);
	snprintf(want, sizeof(want), "snapshot 'base' has clones: %s/%s", f->conf.pools.volumes,
	         child);
	assert_string_equal(err.msg, want);
	err_clear(&err);
	/* still there, as a user snapshot (not moved to the snapshot trash) */
	out = rbd_snap_ls(f, img);
	assert_non_null(strstr(out, " base "));
	assert_null(strstr(out, "trash"));
	free(out);

	assert_int_equal(snap_children(f->c, f->io, img, "base", &a, &err), 0);
	assert_int_equal(json_object_array_length(a), 1);
	struct json_object *ch = json_object_array_get_idx(a, 0);
	assert_string_equal(json_get_string(ch, "image"), child);
	assert_string_equal(json_get_string(ch, "pool"), f->conf.pools.volumes);
	assert_false(get_bool(ch, "trash"));
	json_object_put(a);
	assert_int_equal(snap_children_names(f->c, f->io, img, "base", &names, &count, &err), 0);
	assert_int_equal(count, 1);
	assert_non_null(strstr(names, child));
	free(names);
	assert_int_equal(snap_list(f->c, f->io, img, false, &a, &err), 0);
	assert_int_equal(json_get_int(find_snap(a, "base"), "clones", -1), 1);
	json_object_put(a);
	assert_int_equal(snap_children(f->c, f->io, img, "nope", &a, &err), -ENOENT);
	err_clear(&err);

	/* once the clone is gone the snapshot can go */
	assert_int_equal(rbd_remove(f->io, child), 0);
	assert_int_equal(snap_remove(f->io, img, "base", &err), 0);
	out = rbd_snap_ls(f, img);
	assert_null(strstr(out, "base"));
	free(out);
	assert_int_equal(rbd_remove(f->io, img), 0);
}

/* ---- rollback ---------------------------------------------------------------------------- */

struct counting_progress {
	struct cairn_progress p;
	int calls;
	uint64_t last_done, last_total;
};

static void count_report(struct cairn_progress *p, uint64_t done, uint64_t total)
{
	struct counting_progress *cp = container_of(p, struct counting_progress, p);

	cp->calls++;
	cp->last_done = done;
	cp->last_total = total;
}

static void fill(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)((i * 31 + seed * 7 + (i >> 9)) & 0xff);
}

static void test_rollback_restores_data(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct counting_progress cp = {.p = {.report = count_report}};
	const uint64_t offsets[] = {0, 4 * MiB + 4096, 12 * MiB - 65536};
	enum { LEN = 65536 };
	char img[48], *before = malloc(LEN), *after = malloc(LEN), *got = malloc(LEN);
	rbd_image_t h;

	assert_non_null(before);
	assert_non_null(after);
	assert_non_null(got);
	image_create(f, img, sizeof(img), "rb", 12 * MiB);
	fill(before, LEN, 1);
	fill(after, LEN, 2);
	assert_memory_not_equal(before, after, LEN);

	assert_int_equal(rbd_open(f->io, img, &h, NULL), 0);
	for (size_t i = 0; i < ARRAY_SIZE(offsets); i++)
		assert_int_equal(rbd_write(h, offsets[i], LEN, before), LEN);
	assert_int_equal(rbd_flush(h), 0);
	assert_int_equal(rbd_close(h), 0);
	assert_int_equal(snap_create(f->io, img, "good", &err), 0);
	assert_int_equal(rbd_open(f->io, img, &h, NULL), 0);
	for (size_t i = 0; i < ARRAY_SIZE(offsets); i++)
		assert_int_equal(rbd_write(h, offsets[i], LEN, after), LEN);
	assert_int_equal(rbd_resize(h, 16 * MiB), 0); /* the size comes back too */
	assert_int_equal(rbd_flush(h), 0);
	assert_int_equal(rbd_close(h), 0);

	assert_int_equal(snap_rollback(f->io, img, "good", &cp.p, &err), 0);
	assert_true(cp.calls > 0);
	assert_int_equal(cp.last_done, cp.last_total);

	uint64_t size = 0;
	assert_int_equal(rbd_open(f->io, img, &h, NULL), 0);
	assert_int_equal(rbd_get_size(h, &size), 0);
	assert_int_equal(size, 12 * MiB);
	for (size_t i = 0; i < ARRAY_SIZE(offsets); i++) {
		assert_int_equal(rbd_read(h, offsets[i], LEN, got), LEN);
		assert_memory_equal(got, before, LEN);
	}
	assert_int_equal(rbd_close(h), 0);

	assert_int_equal(snap_rollback(f->io, img, "missing", NULL, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "@missing' not found"));
	err_clear(&err);

	assert_int_equal(snap_remove(f->io, img, "good", &err), 0);
	assert_int_equal(rbd_remove(f->io, img), 0);
	free(before);
	free(after);
	free(got);
}

static void test_rollback_refused_while_in_use(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct cluster *vm = NULL;
	rados_ioctx_t vm_io;
	rbd_image_t h, vm_img;
	char img[48], buf[4096], got[4096];

	image_create(f, img, sizeof(img), "busy", 8 * MiB);
	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(rbd_open(f->io, img, &h, NULL), 0);
	assert_int_equal(rbd_write(h, 0, sizeof(buf), buf), sizeof(buf));
	assert_int_equal(rbd_close(h), 0);
	assert_int_equal(snap_create(f->io, img, "s", &err), 0);

	/* a "VM" on another client has the disk open and writes to it */
	assert_int_equal(cluster_connect(&f->conf, &vm, &err), 0);
	assert_int_equal(cluster_ioctx(vm, POOL_ROLE_VOLUMES, &vm_io, &err), 0);
	assert_int_equal(rbd_open(vm_io, img, &vm_img, NULL), 0);
	memset(buf, 0x22, sizeof(buf));
	assert_int_equal(rbd_write(vm_img, 0, sizeof(buf), buf), sizeof(buf));
	assert_int_equal(rbd_flush(vm_img), 0);

	assert_int_equal(snap_rollback(f->io, img, "s", NULL, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "is in use"));
	err_clear(&err);
	/* nothing was rolled back under the VM */
	assert_int_equal(rbd_read(vm_img, 0, sizeof(got), got), sizeof(got));
	assert_memory_equal(got, buf, sizeof(buf));

	/* our own open handle is "somebody else" too */
	assert_int_equal(rbd_close(vm_img), 0);
	cluster_free(vm);
	assert_int_equal(rbd_open(f->io, img, &h, NULL), 0);
	assert_int_equal(snap_rollback(f->io, img, "s", NULL, &err), -EBUSY);
	err_clear(&err);
	assert_int_equal(rbd_close(h), 0);

	/* VM stopped: the rollback goes ahead */
	assert_int_equal(snap_rollback(f->io, img, "s", NULL, &err), 0);
	assert_int_equal(rbd_open(f->io, img, &h, NULL), 0);
	assert_int_equal(rbd_read(h, 0, sizeof(got), got), sizeof(got));
	memset(buf, 0x11, sizeof(buf));
	assert_memory_equal(got, buf, sizeof(buf));
	assert_int_equal(rbd_close(h), 0);

	assert_int_equal(snap_remove(f->io, img, "s", &err), 0);
	assert_int_equal(rbd_remove(f->io, img), 0);
}

/* ---- groups -------------------------------------------------------------------------------- */

#define GROUP_IMAGES 8

static void test_group_snapshot(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	char names[GROUP_IMAGES][48], group[48], other[48], want[256], *out;
	const char *images[GROUP_IMAGES];
	struct json_object *a = NULL;
	double t0, t_group, t_single;

	for (int i = 0; i < GROUP_IMAGES; i++) {
		image_create(f, names[i], sizeof(names[i]), "vmdisk", 8 * MiB);
		images[i] = names[i];
	}
	itest_unique_name(group, sizeof(group), "vm");

	t0 = now_s();
	assert_int_equal(snap_group_create(f->c, group, "gs1", NULL, images, GROUP_IMAGES, &err),
	                 0);
	t_group = now_s() - t0;

	/* the group snapshot exists and is complete */
	assert_int_equal(snap_group_list(f->c, group, &a, &err), 0);
	assert_int_equal(json_object_array_length(a), 1);
	assert_string_equal(json_get_string(json_object_array_get_idx(a, 0), "name"), "gs1");
	assert_true(get_bool(json_object_array_get_idx(a, 0), "complete"));
	json_object_put(a);
	assert_int_equal(snap_group_images(f->c, group, &a, &err), 0);
	assert_int_equal(json_object_array_length(a), GROUP_IMAGES);
	json_object_put(a);

	/* each image has it, in the group namespace, as the rbd CLI shows */
	snprintf(want, sizeof(want), "group (%s/%s@gs1)", f->conf.pools.volumes, group);
	for (int i = 0; i < GROUP_IMAGES; i++) {
		out = rbd_snap_ls(f, names[i]);
		assert_non_null(strstr(out, want));
		free(out);
	}
	/* ... and it is not a user snapshot */
	assert_int_equal(snap_list(f->c, f->io, names[0], true, &a, &err), 0);
	assert_int_equal(json_object_array_length(a), 0);
	json_object_put(a);

	/* a second snapshot in the same group: images already in it are fine */
	assert_int_equal(snap_group_create(f->c, group, "gs2", NULL, images, GROUP_IMAGES, &err),
	                 0);
	assert_int_equal(snap_group_create(f->c, group, "gs2", NULL, images, GROUP_IMAGES, &err),
	                 -EEXIST);
	assert_non_null(strstr(err.msg, "@gs2' already exists"));
	err_clear(&err);

	/* an image of this group cannot join another one */
	itest_unique_name(other, sizeof(other), "vm");
	const char *pools1[] = {f->conf.pools.volumes};
	assert_int_equal(snap_group_create(f->c, other, "x", pools1, images, 1, &err), -EEXIST);
	snprintf(want, sizeof(want), "is in another group '%s'", group);
	assert_non_null(strstr(err.msg, want));
	err_clear(&err);
	assert_int_equal(snap_group_destroy(f->c, other, &err), 0);

	/* the same eight images one by one */
	t0 = now_s();
	for (int i = 0; i < GROUP_IMAGES; i++)
		assert_int_equal(snap_create(f->io, names[i], "single", &err), 0);
	t_single = now_s() - t0;
	printf("# snapshot of %d images: group %.3f s, %d single snap_create %.3f s\n",
	       GROUP_IMAGES, t_group, GROUP_IMAGES, t_single);

	/* removing a group snapshot removes it from every image */
	assert_int_equal(snap_group_remove(f->c, group, "gs1", &err), 0);
	assert_int_equal(snap_group_remove(f->c, group, "gs1", &err), -ENOENT);
	err_clear(&err);
	snprintf(want, sizeof(want), "@gs1)");
	for (int i = 0; i < GROUP_IMAGES; i++) {
		out = rbd_snap_ls(f, names[i]);
		assert_null(strstr(out, want));
		assert_non_null(strstr(out, "@gs2)"));
		free(out);
	}

	/* librbd refuses to remove an image in a group; out of the group it can go */
	for (int i = 0; i < GROUP_IMAGES; i++)
		assert_int_equal(snap_remove(f->io, names[i], "single", &err), 0);
	assert_int_equal(snap_group_image_remove(f->c, group, f->io, names[0], &err), 0);
	assert_int_equal(snap_group_image_remove(f->c, group, f->io, names[0], &err), 0);
	assert_int_equal(snap_group_images(f->c, group, &a, &err), 0);
	assert_int_equal(json_object_array_length(a), GROUP_IMAGES - 1);
	json_object_put(a);

	assert_int_equal(snap_group_destroy(f->c, group, &err), 0);
	assert_int_equal(snap_group_destroy(f->c, group, &err), 0);
	assert_int_equal(snap_group_list(f->c, group, &a, &err), -ENOENT);
	err_clear(&err);
	/* every group snapshot went with the group, on the image taken out early too */
	for (int i = 0; i < GROUP_IMAGES; i++) {
		out = rbd_snap_ls(f, names[i]);
		assert_null(strstr(out, "group ("));
		free(out);
		assert_int_equal(rbd_remove(f->io, names[i]), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_create_list_remove),
	        cmocka_unit_test(test_clone_blocks_remove),
	        cmocka_unit_test(test_rollback_restores_data),
	        cmocka_unit_test(test_rollback_refused_while_in_use),
	        cmocka_unit_test(test_group_snapshot),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
