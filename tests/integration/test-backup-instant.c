/* SPDX-License-Identifier: MIT */
/*
 * Instant restore against the real cluster: each point of a pool chain restored as a
 * copy-on-write clone of its backup snapshot holds exactly what the volume held then; the
 * clone names the backup as its parent; the backup cannot be deleted while the clone
 * depends on it, and can once it is flattened; retention keeps a chain a clone depends on;
 * a file backup, the original volume and a bad backup are refused and make nothing.
 */
#include "tests/integration/test-backup-util.h"

static int group_setup(void **state)
{
	*state = fixture_new("tbins");
	return 0;
}

static int group_teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

/* Restore instantly into a new volume "name"; its SHA-256 must be want. */
static void instant_check(struct fixture *f, const char *id, const char *name, const char *want,
                          uint64_t want_size)
{
	struct backup_restore_params p = {.volume = name};
	struct cairn_err err = {0};
	struct json_object *o = NULL, *parent = NULL;
	char got[65];
	uint64_t size = 0;

	if (backup_restore_instant(f->c, id, &p, &o, &err) < 0)
		fail_msg("instant restore of '%s': %s", id, err.msg);
	assert_string_equal(json_get_string(o, "name"), name);
	assert_string_equal(json_get_string(o, "status"), "available");
	assert_true(json_object_object_get_ex(o, "parent", &parent));
	assert_string_equal(json_get_string(parent, "kind"), "backup");
	assert_string_equal(json_get_string(parent, "name"), id); /* the backup */
	json_object_put(o);
	volume_sha(f, name, got, &size);
	assert_int_equal(size, want_size);
	assert_string_equal(got, want);
}

static int count_volumes(struct fixture *f)
{
	struct cairn_err err = {0};
	struct json_object *a = NULL;
	int n;

	assert_int_equal(vol_list(f->c, NULL, &a, &err), 0);
	n = (int)json_object_array_length(a);
	json_object_put(a);
	return n;
}

static void test_instant_chain(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct tvol v;
	struct tbackup b[2];
	char sha[2][65], r0[64], r1[64];

	tvol_create(f, &v, "inst", 64 * MiB);
	tvol_write(&v, 0, 5 * MiB, 1);
	tvol_write(&v, 60 * MiB, 64 * 1024, 2);
	tvol_flush(&v);
	sha_of(v.model, v.size, sha[0]);
	tbackup_must(f, v.name, false, BACKUP_TARGET_POOL, &b[0]);
	tvol_write(&v, 2 * MiB, 8192, 3);
	tvol_zero(&v, 60 * MiB, 64 * 1024);
	tvol_flush(&v);
	sha_of(v.model, v.size, sha[1]);
	tbackup_must(f, v.name, true, BACKUP_TARGET_POOL, &b[1]);
	assert_string_equal(b[1].kind, "incremental");

	/* the volume changes on: the clones hold the backups' points, not the volume's */
	tvol_write(&v, 0, 1 * MiB, 4);
	tvol_flush(&v);

	itest_unique_name(r0, sizeof(r0), "ri0");
	itest_unique_name(r1, sizeof(r1), "ri1");
	instant_check(f, b[0].id, r0, sha[0], v.size);
	instant_check(f, b[1].id, r1, sha[1], v.size);

	/* a backup a volume depends on stays, and says which */
	assert_int_equal(backup_delete(f->c, b[1].id, &err), -ENOTEMPTY);
	assert_non_null(strstr(err.msg, "instant restores"));
	{
		struct json_object *o = NULL;
		assert_int_equal(backup_show(f->c, b[1].id, &o, &err), 0);
		assert_string_equal(json_get_string(o, "status"), "available");
		json_object_put(o);
	}
	/* flattened, the volume is its own: the backup can go, the volume keeps its bytes */
	err_clear(&err);
	if (vol_flatten(f->c, r1, NULL, &err) < 0)
		fail_msg("flatten: %s", err.msg);
	if (backup_delete(f->c, b[1].id, &err) < 0)
		fail_msg("delete after flatten: %s", err.msg);
	{
		char got[65];
		uint64_t size;
		volume_sha(f, r1, got, &size);
		assert_string_equal(got, sha[1]);
	}
	/* the clone of the full one: delete the volume (its trash entry still counts as a
	 * clone until it is purged), flatten is not needed for that */
	assert_int_equal(vol_delete(f->c, r1, true, NULL, &err), 0);
	assert_int_equal(vol_delete(f->c, r0, true, NULL, &err), 0);
	tvol_close(&v);
}

static void test_instant_refused(void **state)
{
	struct fixture *f = *state;
	struct backup_restore_params p = {0};
	struct cairn_err err = {0};
	struct json_object *o = NULL;
	struct tvol v;
	struct tbackup fb, pb;
	int before;

	tvol_create(f, &v, "instr", 16 * MiB);
	tvol_write(&v, 0, 1 * MiB, 9);
	tvol_flush(&v);
	tbackup_must(f, v.name, false, BACKUP_TARGET_FILE, &fb);
	tbackup_must(f, v.name, false, BACKUP_TARGET_POOL, &pb);
	before = count_volumes(f);

	p.volume = "tbins-from-file";
	assert_int_equal(backup_restore_instant(f->c, fb.id, &p, &o, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "is a file"));
	err_clear(&err);
	p.volume = NULL;
	p.original = true;
	assert_int_equal(backup_restore_instant(f->c, pb.id, &p, &o, &err), -EINVAL);
	err_clear(&err);
	p.original = false;
	p.volume = "tbins-nosuch";
	assert_int_equal(
	        backup_restore_instant(f->c, "00000000-0000-4000-8000-000000000000", &p, &o, &err),
	        -ENOENT);
	err_clear(&err);
	p.volume = v.name; /* taken */
	assert_int_equal(backup_restore_instant(f->c, pb.id, &p, &o, &err), -EEXIST);
	assert_int_equal(count_volumes(f), before);
	tvol_close(&v);
}

/* Retention never takes a backup a volume depends on; it takes the rest. */
static void test_instant_retention(void **state)
{
	struct fixture *f = *state;
	struct backup_restore_params p = {0};
	struct cairn_err err = {0};
	struct json_object *o = NULL, *list = NULL;
	struct tvol v;
	struct tbackup b[3];
	char name[64];

	tvol_create(f, &v, "inret", 16 * MiB);
	tvol_write(&v, 0, 1 * MiB, 5);
	tvol_flush(&v);
	tbackup_must(f, v.name, false, BACKUP_TARGET_POOL, &b[0]);
	itest_unique_name(name, sizeof(name), "rret");
	p.volume = name;
	if (backup_restore_instant(f->c, b[0].id, &p, &o, &err) < 0)
		fail_msg("instant restore: %s", err.msg);
	json_object_put(o);

	f->conf.backup.keep_last = 1;
	tbackup_must(f, v.name, false, BACKUP_TARGET_POOL, &b[1]);
	tbackup_must(f, v.name, false, BACKUP_TARGET_POOL, &b[2]);
	f->conf.backup.keep_last = 0;

	/* b[0] stays for the clone, b[1] went, b[2] is the one kept */
	assert_int_equal(backup_list(f->c, v.name, &list, &err), 0);
	assert_int_equal(json_object_array_length(list), 2);
	assert_string_equal(json_get_string(json_object_array_get_idx(list, 0), "id"), b[0].id);
	assert_string_equal(json_get_string(json_object_array_get_idx(list, 1), "id"), b[2].id);
	json_object_put(list);
	assert_int_equal(vol_delete(f->c, name, true, NULL, &err), 0);
	tvol_close(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_instant_chain),
	        cmocka_unit_test(test_instant_refused),
	        cmocka_unit_test(test_instant_retention),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
