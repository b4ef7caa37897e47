/* SPDX-License-Identifier: MIT */
/*
 * Backup sets against the real cluster: the disks of one VM backed up at one point through
 * an RBD group snapshot. A chain of sets (full, incremental, a single backup between) to
 * files and to the pool, each point of each volume restored and compared with a model;
 * the group snapshots that nothing needs go; a writer that keeps two disks in step
 * (counter k on disk A, then on disk B) while the set is taken finds them in step in the
 * restored pair; a volume in another group is refused before anything is made.
 */
#include "tests/integration/test-backup-util.h"

#include <pthread.h>
#include <stdatomic.h>

#include "snapshots/snapshots.h"

static int group_setup(void **state)
{
	*state = fixture_new("tbset");
	return 0;
}

static int group_teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

#define SET_N 2

struct tset {
	char set[40];
	char group[80];
	struct tbackup b[SET_N];
};

static int tset_create(struct fixture *f, struct tvol *v, size_t n, bool incremental,
                       enum backup_target target, struct tset *ret, struct cairn_err *err)
{
	const char *names[SET_N];
	struct backup_create_params p = {
	        .volumes = names,
	        .n_volumes = n,
	        .incremental = incremental,
	        .has_target = true,
	        .target = target,
	};
	struct json_object *o = NULL, *a = NULL;
	int r;

	for (size_t i = 0; i < n; i++)
		names[i] = v[i].name;
	r = backup_create(f->c, &p, NULL, &o, err);
	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	snprintf(ret->set, sizeof(ret->set), "%s", json_get_string(o, "set"));
	snprintf(ret->group, sizeof(ret->group), "%s", json_get_string(o, "group"));
	assert_true(json_object_object_get_ex(o, "backups", &a));
	assert_int_equal(json_object_array_length(a), n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *b = json_object_array_get_idx(a, i);
		tbackup_from(b, &ret->b[i]);
		/* each backup names its set and group, in the order asked */
		assert_string_equal(json_get_string(b, "set"), ret->set);
		assert_string_equal(json_get_string(b, "group"), ret->group);
		assert_string_equal(json_get_string(b, "volume"), v[i].name);
	}
	json_object_put(o);
	return 0;
}

static void tset_must(struct fixture *f, struct tvol *v, size_t n, bool incremental,
                      enum backup_target target, struct tset *ret)
{
	struct cairn_err err = {0};

	if (tset_create(f, v, n, incremental, target, ret, &err) < 0)
		fail_msg("backup set: %s", err.msg);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(ret->b[i].status, "available");
}

/* The group snapshots of group whose names start with cairn-backup-. */
static int count_group_snaps(struct fixture *f, const char *group)
{
	struct json_object *a = NULL;
	struct cairn_err err = {0};
	int k = 0;

	if (snap_group_list(f->c, group, &a, &err) < 0)
		fail_msg("group snapshots of '%s': %s", group, err.msg);
	for (size_t i = 0; i < json_object_array_length(a); i++)
		if (strncmp(json_get_string(json_object_array_get_idx(a, i), "name"),
		            BACKUP_SNAP_PREFIX, strlen(BACKUP_SNAP_PREFIX)) == 0)
			k++;
	json_object_put(a);
	return k;
}

static void pass(struct fixture *f)
{
	struct backup_reconcile_opts opts = {0};
	struct cairn_err err = {0};

	if (backup_reconcile(f->c, &opts, NULL, &err) < 0)
		fail_msg("backups pass: %s", err.msg);
}

static void set_chain(struct fixture *f, enum backup_target target)
{
	struct tvol v[SET_N];
	struct tset s[3];
	struct tbackup single;
	char sha[4][SET_N][65], digest[65];

	tvol_create(f, &v[0], "root", 48 * MiB);
	tvol_create(f, &v[1], "data", 40 * MiB);

	/* point 0: full, asked as incremental */
	tvol_write(&v[0], 0, 6 * MiB, 1);
	tvol_write(&v[1], 8 * MiB, 5 * MiB, 2);
	for (int i = 0; i < SET_N; i++) {
		tvol_flush(&v[i]);
		sha_of(v[i].model, v[i].size, sha[0][i]);
	}
	tset_must(f, v, SET_N, true, target, &s[0]);
	for (int i = 0; i < SET_N; i++) {
		assert_string_equal(s[0].b[i].kind, "full");
		block_digest_of(v[i].model, v[i].size, digest);
		assert_string_equal(s[0].b[i].volume_sum, digest);
	}
	assert_int_equal(count_group_snaps(f, s[0].group), 1);

	/* point 1: scattered changes, a zeroed range; incremental from the set */
	tvol_write(&v[0], 20 * MiB + 4096, 64 * 1024, 3);
	tvol_zero(&v[0], 4 * MiB, 1 * MiB);
	tvol_write(&v[1], 40 * MiB - 8192, 8192, 4);
	for (int i = 0; i < SET_N; i++) {
		tvol_flush(&v[i]);
		sha_of(v[i].model, v[i].size, sha[1][i]);
	}
	tset_must(f, v, SET_N, true, target, &s[1]);
	assert_string_equal(s[1].group, s[0].group);
	for (int i = 0; i < SET_N; i++) {
		assert_string_equal(s[1].b[i].kind, "incremental");
		assert_string_equal(s[1].b[i].parent, s[0].b[i].id);
		block_digest_of(v[i].model, v[i].size, digest);
		assert_string_equal(s[1].b[i].volume_sum, digest);
		assert_true(s[1].b[i].bytes < 8 * MiB);
	}

	/* a single backup of one disk between sets: its base is the set's point */
	tvol_write(&v[0], 30 * MiB, 128 * 1024, 5);
	tvol_flush(&v[0]);
	sha_of(v[0].model, v[0].size, sha[2][0]);
	tbackup_must(f, v[0].name, true, target, &single);
	assert_string_equal(single.kind, "incremental");
	assert_string_equal(single.parent, s[1].b[0].id);
	block_digest_of(v[0].model, v[0].size, digest);
	assert_string_equal(single.volume_sum, digest);

	/* point 3: a set again, the first disk's base is the single backup */
	tvol_write(&v[0], 2 * MiB, 4096, 6);
	tvol_write(&v[1], 0, 3 * MiB, 7);
	for (int i = 0; i < SET_N; i++) {
		tvol_flush(&v[i]);
		sha_of(v[i].model, v[i].size, sha[3][i]);
	}
	tset_must(f, v, SET_N, true, target, &s[2]);
	assert_string_equal(s[2].b[0].parent, single.id);
	assert_string_equal(s[2].b[1].parent, s[1].b[1].id);
	for (int i = 0; i < SET_N; i++) {
		block_digest_of(v[i].model, v[i].size, digest);
		assert_string_equal(s[2].b[i].volume_sum, digest);
	}

	/* the backups pass keeps only the group snapshot some disk's latest backup is at */
	assert_true(count_group_snaps(f, s[0].group) >= 2);
	pass(f);
	assert_int_equal(count_group_snaps(f, s[0].group), 1);
	for (int i = 0; i < SET_N; i++)
		assert_int_equal(count_snaps(f->c, v[i].pool, v[i].rbd_image, BACKUP_SNAP_PREFIX),
		                 1);

	/* every point of every disk, restored */
	for (int i = 0; i < SET_N; i++) {
		restore_check(f, s[0].b[i].id, sha[0][i], v[i].size, "rset");
		restore_check(f, s[1].b[i].id, sha[1][i], v[i].size, "rset");
		restore_check(f, s[2].b[i].id, sha[3][i], v[i].size, "rset");
	}
	restore_check(f, single.id, sha[2][0], v[0].size, "rset");

	/* deleting the newest set's backups lets its group snapshot go */
	{
		struct cairn_err err = {0};
		for (int i = 0; i < SET_N; i++)
			if (backup_delete(f->c, s[2].b[i].id, &err) < 0)
				fail_msg("delete: %s", err.msg);
		assert_int_equal(count_group_snaps(f, s[0].group), 0);
	}
	for (int i = 0; i < SET_N; i++)
		tvol_close(&v[i]);
}

static void test_set_file(void **state)
{
	set_chain(*state, BACKUP_TARGET_FILE);
}

static void test_set_pool(void **state)
{
	set_chain(*state, BACKUP_TARGET_POOL);
}

/* ---- one point across disks --------------------------------------------------------------- */

struct writer {
	rbd_image_t a, b;
	atomic_bool stop;
	uint64_t rounds;
	int error;
};

/* Counter k into the first 4 KiB of disk A, then of disk B: at any moment A holds k or k+1
 * when B holds k. */
static void *writer_run(void *arg)
{
	struct writer *w = arg;
	char buf[4096];

	for (uint64_t k = 1; !atomic_load(&w->stop); k++) {
		memset(buf, 0, sizeof(buf));
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)k);
		if (rbd_write(w->a, 0, sizeof(buf), buf) != (ssize_t)sizeof(buf) ||
		    rbd_write(w->b, 0, sizeof(buf), buf) != (ssize_t)sizeof(buf)) {
			w->error = 1;
			break;
		}
		w->rounds = k;
	}
	return NULL;
}

/* The counter in the first bytes of a restored backup. */
static uint64_t restored_counter(struct fixture *f, const char *backup_id)
{
	struct backup_restore_params p = {0};
	struct cairn_err err = {0};
	struct json_object *o = NULL;
	char name[64], buf[32] = "";
	rados_ioctx_t io;
	rbd_image_t img;

	itest_unique_name(name, sizeof(name), "rcnt");
	p.volume = name;
	if (backup_restore(f->c, backup_id, &p, NULL, &o, &err) < 0)
		fail_msg("restore of backup '%s': %s", backup_id, err.msg);
	assert_int_equal(cluster_ioctx_by_name(f->c, json_get_string(o, "pool"), &io, &err), 0);
	assert_int_equal(rbd_open_read_only(io, json_get_string(o, "rbd_image"), &img, NULL), 0);
	assert_int_equal(rbd_read(img, 0, sizeof(buf) - 1, buf), sizeof(buf) - 1);
	rbd_close(img);
	json_object_put(o);
	assert_int_equal(vol_delete(f->c, name, true, NULL, &err), 0);
	return strtoull(buf, NULL, 10);
}

static void test_set_consistent(void **state)
{
	struct fixture *f = *state;
	struct tvol v[SET_N];
	struct writer w = {0};
	struct tset s;
	pthread_t t;
	uint64_t ka, kb;

	tvol_create(f, &v[0], "vma", 16 * MiB);
	tvol_create(f, &v[1], "vmb", 16 * MiB);
	w.a = v[0].img;
	w.b = v[1].img;
	assert_int_equal(pthread_create(&t, NULL, writer_run, &w), 0);
	while (w.rounds < 20 && !w.error)
		usleep(10 * 1000);
	tset_must(f, v, SET_N, false, BACKUP_TARGET_POOL, &s);
	atomic_store(&w.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.error, 0);

	ka = restored_counter(f, s.b[0].id);
	kb = restored_counter(f, s.b[1].id);
	print_message("# writer at %llu rounds; the set holds A=%llu B=%llu\n",
	              (unsigned long long)w.rounds, (unsigned long long)ka, (unsigned long long)kb);
	assert_true(kb >= 1);
	assert_true(ka == kb || ka == kb + 1);
	for (int i = 0; i < SET_N; i++)
		tvol_close(&v[i]);
}

/* ---- refused before anything is made -------------------------------------------------------- */

static void test_set_refused(void **state)
{
	struct fixture *f = *state;
	struct tvol v[SET_N], other;
	struct tset s;
	struct cairn_err err = {0};
	struct json_object *all = NULL;
	const char *pools[1], *images[1];
	size_t before;

	tvol_create(f, &v[0], "ra", 8 * MiB);
	tvol_create(f, &v[1], "rb", 8 * MiB);
	tvol_create(f, &other, "ro", 8 * MiB);
	assert_int_equal(backup_list(f->c, NULL, &all, &err), 0);
	before = json_object_array_length(all);
	json_object_put(all);

	/* the second disk is in a group of its own */
	pools[0] = v[1].pool;
	images[0] = v[1].rbd_image;
	if (snap_group_create(f->c, "tbset-elsewhere", "s1", pools, images, 1, &err) < 0)
		fail_msg("group snapshot: %s", err.msg);
	pools[0] = v[0].pool;
	images[0] = v[0].rbd_image;
	if (snap_group_create(f->c, "tbset-first", "s1", pools, images, 1, &err) < 0)
		fail_msg("group snapshot: %s", err.msg);
	assert_int_equal(tset_create(f, v, SET_N, false, BACKUP_TARGET_POOL, &s, &err), -EEXIST);
	assert_non_null(strstr(err.msg, v[1].name));
	assert_non_null(strstr(err.msg, "tbset-elsewhere"));

	/* an unknown volume */
	err_clear(&err);
	snprintf(other.name, sizeof(other.name), "tbset-nosuch");
	{
		struct tvol pair[SET_N] = {v[0], other};
		assert_int_equal(tset_create(f, pair, SET_N, false, BACKUP_TARGET_POOL, &s, &err),
		                 -ENOENT);
	}

	/* nothing was made: no record, no backup snapshot */
	assert_int_equal(backup_list(f->c, NULL, &all, &err), 0);
	assert_int_equal(json_object_array_length(all), before);
	json_object_put(all);
	assert_int_equal(count_group_snaps(f, "tbset-first"), 0);
	assert_int_equal(count_snaps(f->c, v[0].pool, v[0].rbd_image, BACKUP_SNAP_PREFIX), 0);
	assert_int_equal(snap_group_destroy(f->c, "tbset-elsewhere", &err), 0);
	assert_int_equal(snap_group_destroy(f->c, "tbset-first", &err), 0);
	for (int i = 0; i < SET_N; i++)
		tvol_close(&v[i]);
	tvol_close(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_set_file),
	        cmocka_unit_test(test_set_pool),
	        cmocka_unit_test(test_set_consistent),
	        cmocka_unit_test(test_set_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
