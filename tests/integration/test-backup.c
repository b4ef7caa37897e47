/* SPDX-License-Identifier: MIT */
/*
 * backup/ against the real cluster: a full and two incremental backups of a volume to
 * files and to the backups pool, each point restored to a new volume and compared with a
 * model of what was written; the file chain restored by the stock `rbd import-diff`; a
 * flipped byte caught by verify and restore; a chain that cannot lose a middle link;
 * restore over the original (refused while in use); zeros never copied; retention. A
 * restore checks the digest of what it writes without reading the volume back (and reads
 * it back when asked): right through chains of overlapping, unaligned, zeroed, discarded
 * and resized changes, and a recorded digest that does not match fails either way.
 */
#include "tests/integration/test-backup-util.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "pools/pools.h"

static int group_setup(void **state)
{
	*state = fixture_new("tbak");
	return 0;
}

static int group_teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

/* Scattered writes of a few sizes; one zeroed object; return nothing, the model knows. */
static void change_round(struct tvol *v, uint32_t seed)
{
	tvol_write(v, (seed * 7 % 31) * 4 * MiB + 4096 * seed, 64 * 1024, seed);
	tvol_write(v, (seed * 13 % 29) * 4 * MiB + 123 * 512, 3 * MiB, seed + 1);
	tvol_write(v, v->size - 8192, 8192, seed + 2); /* the very end */
	tvol_write(v, 5 * MiB - 4096, 8192, seed + 3); /* across an object boundary */
	tvol_flush(v);
}

static void chain(struct fixture *f, enum backup_target target)
{
	const char *tname = target == BACKUP_TARGET_FILE ? "file" : "pool";
	struct tvol v;
	struct tbackup b[3];
	char sha[3][65], digest[65];
	struct cairn_err err = {0};

	tvol_create(f, &v, target == BACKUP_TARGET_FILE ? "chainf" : "chainp", 128 * MiB);

	/* point 0: a first backup asked as incremental is full, and says why */
	change_round(&v, 1);
	tvol_write(&v, 40 * MiB, 8 * MiB, 99);
	tvol_flush(&v);
	sha_of(v.model, v.size, sha[0]);
	tbackup_must(f, v.name, true, target, &b[0]);
	assert_string_equal(b[0].kind, "full");
	assert_non_null(strstr(b[0].why_full, "no earlier good backup"));
	block_digest_of(v.model, v.size, digest);
	assert_string_equal(b[0].volume_sum, digest);
	assert_int_equal(b[0].size, v.size);

	/* point 1: scattered changes and a zeroed object */
	change_round(&v, 2);
	tvol_zero(&v, 40 * MiB, 4 * MiB);
	tvol_flush(&v);
	sha_of(v.model, v.size, sha[1]);
	tbackup_must(f, v.name, true, target, &b[1]);
	assert_string_equal(b[1].kind, "incremental");
	assert_string_equal(b[1].parent, b[0].id);
	block_digest_of(v.model, v.size, digest);
	assert_string_equal(b[1].volume_sum, digest);
	/* only what changed, never the whole volume */
	assert_true(b[1].bytes < 32 * MiB);

	/* point 2 */
	change_round(&v, 3);
	sha_of(v.model, v.size, sha[2]);
	tbackup_must(f, v.name, true, target, &b[2]);
	assert_string_equal(b[2].kind, "incremental");
	assert_string_equal(b[2].parent, b[1].id);

	/* the older bases go in the backups pass, not in the backup: then only the latest
	 * backup's snapshot stays on the volume */
	assert_int_equal(count_snaps(f->c, v.pool, v.rbd_image, BACKUP_SNAP_PREFIX), 3);
	{
		struct backup_reconcile_opts opts = {0};

		err_clear(&err);
		assert_int_equal(backup_reconcile(f->c, &opts, NULL, &err), 0);
	}
	assert_int_equal(count_snaps(f->c, v.pool, v.rbd_image, BACKUP_SNAP_PREFIX), 1);

	/* each point back into a new volume, equal to the model at that point */
	for (int i = 0; i < 3; i++)
		restore_check(f, b[i].id, sha[i], v.size, "restored");

	/* verify: the chain is whole */
	for (int i = 0; i < 3; i++) {
		struct json_object *rep = NULL, *ok = NULL;
		if (backup_verify(f->c, b[i].id, NULL, &rep, &err) < 0)
			fail_msg("verify %s (%s): %s", b[i].id, tname, err.msg);
		assert_true(json_object_object_get_ex(rep, "ok", &ok));
		assert_true(json_object_get_boolean(ok));
		json_object_put(rep);
	}

	/* a middle link cannot go; the list shows the three */
	err_clear(&err);
	assert_int_equal(backup_delete(f->c, b[1].id, &err), -ENOTEMPTY);
	assert_non_null(strstr(err.msg, b[2].id));
	{
		struct json_object *arr = NULL;
		assert_int_equal(backup_list(f->c, v.name, &arr, &err), 0);
		assert_int_equal(json_object_array_length(arr), 3);
		assert_string_equal(json_get_string(json_object_array_get_idx(arr, 0), "id"),
		                    b[0].id);
		json_object_put(arr);
	}

	if (target == BACKUP_TARGET_FILE) {
		/* the stock tool restores the chain without cairn */
		char img[64], spec[160], size[32], got[65];
		const char *conf = itest_ceph_conf();
		const char *create[] = {"rbd", "-c", conf, "create", "--size", size, spec, NULL};

		itest_unique_name(img, sizeof(img), "stock");
		snprintf(spec, sizeof(spec), "%s/%s", f->conf.pools.volumes, img);
		snprintf(size, sizeof(size), "%lluM", (unsigned long long)(v.size / MiB));
		assert_int_equal(itest_run(NULL, create), 0);
		for (int i = 0; i < 3; i++) {
			const char *imp[] = {"rbd",           "-c",      conf, "import-diff",
			                     "--no-progress", b[i].path, spec, NULL};
			assert_int_equal(itest_run(NULL, imp), 0);
		}
		image_sha(f->c, f->conf.pools.volumes, img, NULL, got, NULL);
		assert_string_equal(got, sha[2]);

		/* the zeroed object is a 'z' record: the full file is the bigger one */
		struct stat st0, st1;
		assert_int_equal(stat(b[0].path, &st0), 0);
		assert_int_equal(stat(b[1].path, &st1), 0);
		assert_true((uint64_t)st0.st_size < b[0].bytes + 64 * 1024);
		assert_true((uint64_t)st1.st_size < b[1].bytes + 64 * 1024);

		/* a flipped byte in the middle file: verify and restore name it and stop */
		int fd = open(b[1].path, O_RDWR);
		unsigned char c;
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &c, 1, st1.st_size / 2), 1);
		c ^= 0x40;
		assert_int_equal(pwrite(fd, &c, 1, st1.st_size / 2), 1);
		close(fd);
		err_clear(&err);
		struct json_object *rep = NULL;
		assert_int_equal(backup_verify(f->c, b[2].id, NULL, &rep, &err), -EILSEQ);
		assert_non_null(strstr(err.msg, b[1].id));
		assert_non_null(strstr(err.msg, "corrupt"));
		err_clear(&err);
		struct backup_restore_params rp = {.volume = "never-restored"};
		struct json_object *o = NULL;
		assert_int_equal(backup_restore(f->c, b[2].id, &rp, NULL, &o, &err), -EILSEQ);
		assert_non_null(strstr(err.msg, b[1].id));
		err_clear(&err);
		assert_int_equal(vol_show(f->c, "never-restored", &o, &err), -ENOENT);
		/* the full one is still fine on its own */
		assert_int_equal(backup_verify(f->c, b[0].id, NULL, &rep, &err), 0);
		json_object_put(rep);
		/* flip it back */
		fd = open(b[1].path, O_RDWR);
		c ^= 0x40;
		assert_int_equal(pwrite(fd, &c, 1, st1.st_size / 2), 1);
		close(fd);

		/* a missing link: the middle file gone */
		char moved[300];
		snprintf(moved, sizeof(moved), "%s.away", b[1].path);
		assert_int_equal(rename(b[1].path, moved), 0);
		err_clear(&err);
		assert_int_equal(backup_verify(f->c, b[2].id, NULL, &rep, &err), -ENOENT);
		assert_non_null(strstr(err.msg, b[1].id));
		assert_non_null(strstr(err.msg, "missing"));
		assert_int_equal(rename(moved, b[1].path), 0);
	} else {
		/* the backup image holds one snapshot per backup */
		char image[128];
		struct json_object *o = NULL;
		assert_int_equal(vol_show(f->c, v.name, &o, &err), 0);
		snprintf(image, sizeof(image), "%s%s", BACKUP_IMAGE_PREFIX,
		         json_get_string(o, "id"));
		json_object_put(o);
		assert_int_equal(
		        count_snaps(f->c, f->conf.pools.backups, image, BACKUP_IMAGE_SNAP_PREFIX),
		        3);
	}

	/* restore over the original: refused while somebody has it open, then done */
	{
		struct backup_restore_params rp = {.original = true};
		struct json_object *o = NULL;
		char got[65];

		change_round(&v, 4); /* the volume moves on */
		err_clear(&err);
		assert_int_equal(backup_restore(f->c, b[1].id, &rp, NULL, &o, &err), -EBUSY);
		assert_non_null(strstr(err.msg, "in use"));
		rbd_close(v.img); /* the "VM" stops */
		v.img = NULL;
		err_clear(&err);
		if (backup_restore(f->c, b[1].id, &rp, NULL, &o, &err) < 0)
			fail_msg("restore over the original: %s", err.msg);
		json_object_put(o);
		volume_sha(f, v.name, got, NULL);
		assert_string_equal(got, sha[1]);
	}

	/* deleting the newest first works down the chain */
	for (int i = 2; i >= 0; i--) {
		err_clear(&err);
		if (backup_delete(f->c, b[i].id, &err) < 0)
			fail_msg("delete %s: %s", b[i].id, err.msg);
		err_clear(&err);
		struct json_object *o = NULL;
		assert_int_equal(backup_show(f->c, b[i].id, &o, &err), -ENOENT);
	}
	assert_int_equal(count_snaps(f->c, v.pool, v.rbd_image, BACKUP_SNAP_PREFIX), 0);
	if (target == BACKUP_TARGET_FILE) {
		assert_int_equal(count_files(f->dir, ".diff"), 0);
		assert_int_equal(count_files(f->dir, "manifest"), 0);
	} else {
		char image[128];
		struct json_object *o = NULL;
		assert_int_equal(vol_show(f->c, v.name, &o, &err), 0);
		snprintf(image, sizeof(image), "%s%s", BACKUP_IMAGE_PREFIX,
		         json_get_string(o, "id"));
		json_object_put(o);
		assert_int_equal(count_snaps(f->c, f->conf.pools.backups, image, ""), -ENOENT);
	}
	assert_int_equal(vol_delete(f->c, v.name, true, NULL, &err), 0);
	tvol_close(&v);
}

/* ---- the restore check ----------------------------------------------------------------------- */

/* Replace the recorded volume digest of a backup in its RADOS record; returns the old one. */
static void record_digest_set(struct fixture *f, const char *id, const char *digest, char old[65])
{
	struct cairn_err err = {0};
	struct backup_record rec;
	char *text = NULL, *ntext;

	assert_int_equal(dir_get(f->c, DIR_BACKUPS, id, &text, &err), 0);
	assert_int_equal(backup_record_parse(text, &rec, &err), 0);
	if (old)
		snprintf(old, 65, "%s", rec.checksum_volume);
	snprintf(rec.checksum_volume, sizeof(rec.checksum_volume), "%s", digest);
	ntext = backup_record_format(&rec);
	assert_non_null(ntext);
	if (dir_update(f->c, DIR_BACKUPS, id, text, ntext, &err) < 0)
		fail_msg("dir_update of backup '%s': %s", id, err.msg);
	free(ntext);
	free(text);
}

static void model_resize(struct tvol *v, struct fixture *f, uint64_t size)
{
	struct cairn_err err = {0};
	struct json_object *o = NULL;
	rados_ioctx_t io;
	uint8_t *m;

	if (vol_extend(f->c, v->name, size, &o, &err) < 0)
		fail_msg("extend '%s': %s", v->name, err.msg);
	json_object_put(o);
	m = realloc(v->model, size);
	assert_non_null(m);
	memset(m + v->size, 0, size - v->size);
	v->model = m;
	v->size = size;
	/* a handle opened before sees the new size only once it notices: open it again */
	rbd_close(v->img);
	assert_int_equal(cluster_ioctx_by_name(f->c, v->pool, &io, &err), 0);
	assert_int_equal(rbd_open(io, v->rbd_image, &v->img, NULL), 0);
}

/*
 * A chain of five: full, then incrementals that overwrite parts of what earlier ones wrote
 * (unaligned, across sub-blocks and objects), zero and discard ranges (unaligned too),
 * write again into them, and grow the volume to a size that is not a whole number of
 * sub-blocks. Each point restored both ways is exact; the default reads nothing back
 * (its progress counts the data of the chain only, the readback one that plus the volume);
 * a recorded digest that does not match fails both ways, naming the backup, leaving no
 * volume.
 */
static void restore_digest(struct fixture *f, enum backup_target target)
{
	const char *tname = target == BACKUP_TARGET_FILE ? "file" : "pool";
	struct cairn_err err = {0};
	struct tvol v;
	struct tbackup b[5];
	char sha[5][65], digest[65];
	uint64_t size[5];

	tvol_create(f, &v, target == BACKUP_TARGET_FILE ? "rdf" : "rdp", 24 * MiB + 4096);

	/* 0: scattered data, some of it unaligned, a run of zeros written as data */
	tvol_write(&v, 0, 3 * MiB + 512, 21);
	tvol_write(&v, 7 * MiB + 1000 * 512, 2 * MiB, 22);
	tvol_write(&v, 16 * MiB - 4096, 65536 + 8192, 23);
	tvol_write(&v, v.size - 4096, 4096, 24);
	tvol_flush(&v);
	/* 1: overwrite parts of 0 (inside a sub-block, across sub-blocks and an object) */
	/* 2: zero and discard ranges, one unaligned, one over a whole object */
	/* 3: write into the zeroed ranges again, grow to a size of no whole sub-blocks */
	/* 4: scattered small writes over everything */
	for (int i = 0; i < 5; i++) {
		switch (i) {
		case 1:
			tvol_write(&v, 4096, 8192, 31);
			tvol_write(&v, 3 * MiB - 65536 + 512, 3 * 65536, 32);
			tvol_write(&v, 8 * MiB - 3 * 4096, 4 * MiB + 6 * 4096, 33);
			tvol_write(&v, 16 * MiB, 4096, 34);
			break;
		case 2:
			tvol_zero(&v, 1 * MiB + 4096, 1 * MiB + 8192);
			/* a whole object: rbd_discard may skip partial ones */
			assert_int_equal(rbd_discard(v.img, 8 * MiB, 4 * MiB), 4 * MiB);
			memset(v.model + 8 * MiB, 0, 4 * MiB);
			tvol_zero(&v, 16 * MiB - 4096, 4096);
			tvol_write(&v, 20 * MiB, 1 * MiB, 35);
			break;
		case 3:
			tvol_write(&v, 1 * MiB + 65536 + 512, 4096, 36);
			tvol_write(&v, 9 * MiB, 65536, 37);
			model_resize(&v, f, 40 * MiB + 512);
			tvol_write(&v, 24 * MiB, 4096, 38); /* where the old end was */
			tvol_write(&v, v.size - 512, 512, 39);
			break;
		case 4:
			for (uint32_t k = 0; k < 12; k++)
				tvol_write(&v, (k * 3271 % 79) * 512 * 1024 + k * 1536,
				           5000 + k * 700, 40 + k);
			break;
		}
		tvol_flush(&v);
		sha_of(v.model, v.size, sha[i]);
		size[i] = v.size;
		tbackup_must(f, v.name, i > 0, target, &b[i]);
		assert_string_equal(b[i].kind, i ? "incremental" : "full");
		block_digest_of(v.model, v.size, digest);
		assert_string_equal(b[i].volume_sum, digest);
	}

	for (int i = 0; i < 5; i++) {
		uint64_t written, readback;

		written = restore_checked(f, b[i].id, BACKUP_RESTORE_CHECK_WRITTEN, sha[i], size[i],
		                          "rd-w");
		readback = restore_checked(f, b[i].id, BACKUP_RESTORE_CHECK_READBACK, sha[i],
		                           size[i], "rd-r");
		if (readback != written + size[i])
			fail_msg("%s point %d: the default restore moved %llu bytes, the readback "
			         "one %llu: the volume (%llu) should be read back only when asked",
			         tname, i, (unsigned long long)written,
			         (unsigned long long)readback, (unsigned long long)size[i]);
	}

	/* a recorded digest that is not the content's: both ways fail, nothing stays */
	for (int k = 0; k < 2; k++) {
		enum backup_restore_check check =
		        k ? BACKUP_RESTORE_CHECK_READBACK : BACKUP_RESTORE_CHECK_WRITTEN;
		const char *id = k ? b[2].id : b[4].id;
		char old[65], bad[65];
		struct backup_restore_params rp = {.volume = "never-restored-d", .check = check};
		struct json_object *o = NULL;

		snprintf(bad, sizeof(bad), "%s", k ? b[2].volume_sum : b[4].volume_sum);
		bad[10] = bad[10] == '0' ? '1' : '0';
		record_digest_set(f, id, bad, old);
		err_clear(&err);
		assert_int_equal(backup_restore(f->c, id, &rp, NULL, &o, &err), -EILSEQ);
		assert_non_null(strstr(err.msg, id));
		assert_non_null(strstr(err.msg, bad));
		err_clear(&err);
		assert_int_equal(vol_show(f->c, "never-restored-d", &o, &err), -ENOENT);
		record_digest_set(f, id, old, NULL);
	}
	/* and over the original, whose content moved on: the same */
	{
		struct backup_restore_params rp = {.original = true};
		struct json_object *o = NULL;
		char got[65];

		tvol_write(&v, 2 * MiB, 5 * MiB, 50);
		tvol_flush(&v);
		rbd_close(v.img);
		v.img = NULL;
		err_clear(&err);
		if (backup_restore(f->c, b[4].id, &rp, NULL, &o, &err) < 0)
			fail_msg("restore over the original (%s): %s", tname, err.msg);
		json_object_put(o);
		volume_sha(f, v.name, got, NULL);
		assert_string_equal(got, sha[4]);
	}

	for (int i = 4; i >= 0; i--)
		assert_int_equal(backup_delete(f->c, b[i].id, &err), 0);
	assert_int_equal(vol_delete(f->c, v.name, true, NULL, &err), 0);
	tvol_close(&v);
}

static void test_restore_digest_file(void **state)
{
	restore_digest(*state, BACKUP_TARGET_FILE);
}

static void test_restore_digest_pool(void **state)
{
	restore_digest(*state, BACKUP_TARGET_POOL);
}

static void test_file_chain(void **state)
{
	chain(*state, BACKUP_TARGET_FILE);
}

static void test_pool_chain(void **state)
{
	chain(*state, BACKUP_TARGET_POOL);
}

/* A 256 MiB volume with 4 MiB written: about 4 MiB copied, a small file. */
static void test_zeros_not_copied(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct tvol v;
	struct tbackup b, p;
	struct stat st;
	char sha[65];

	tvol_create(f, &v, "sparse", 256 * MiB);
	tvol_write(&v, 100 * MiB, 4 * MiB, 7);
	tvol_flush(&v);
	sha_of(v.model, v.size, sha);
	tbackup_must(f, v.name, false, BACKUP_TARGET_FILE, &b);
	assert_true(b.bytes >= 4 * MiB && b.bytes <= 8 * MiB);
	assert_int_equal(stat(b.path, &st), 0);
	assert_true((uint64_t)st.st_size < b.bytes + 64 * 1024);
	tbackup_must(f, v.name, false, BACKUP_TARGET_POOL, &p);
	assert_true(p.bytes >= 4 * MiB && p.bytes <= 8 * MiB);
	restore_check(f, p.id, sha, v.size, "sparse-r");
	/* a volume of zeros written as data (not discarded): still no data copied */
	{
		uint8_t *z = calloc(1, 8 * MiB);
		assert_int_equal(rbd_write(v.img, 8 * MiB, 8 * MiB, (const char *)z), 8 * MiB);
		free(z);
		tvol_flush(&v);
	}
	tbackup_must(f, v.name, true, BACKUP_TARGET_POOL, &p);
	assert_string_equal(p.kind, "incremental");
	assert_int_equal(p.bytes, 0);
	assert_int_equal(backup_delete(f->c, p.id, &err), 0);
	tvol_close(&v);
	assert_int_equal(vol_delete(f->c, v.name, true, NULL, &err), 0);
}

/* Incremental asked, but no usable base: a full one that says why. */
static void test_why_full(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct tvol v;
	struct tbackup a, b, c;
	char snap[128], cmd[512];

	tvol_create(f, &v, "whyfull", 32 * MiB);
	tvol_write(&v, 0, 1 * MiB, 3);
	tvol_flush(&v);
	tbackup_must(f, v.name, false, BACKUP_TARGET_FILE, &a);
	assert_string_equal(a.why_full, ""); /* asked full */
	/* the base's snapshot removed behind cairn's back */
	snprintf(snap, sizeof(snap), "%s%s", BACKUP_SNAP_PREFIX, a.id);
	snprintf(cmd, sizeof(cmd), "rbd -c %s snap rm %s/%s@%s >/dev/null 2>&1", itest_ceph_conf(),
	         v.pool, v.rbd_image, snap);
	assert_int_equal(system(cmd), 0);
	tbackup_must(f, v.name, true, BACKUP_TARGET_FILE, &b);
	assert_string_equal(b.kind, "full");
	assert_non_null(strstr(b.why_full, "gone from the volume"));
	/* the latest went to files: a pool backup starts its own chain */
	tbackup_must(f, v.name, true, BACKUP_TARGET_POOL, &c);
	assert_string_equal(c.kind, "full");
	assert_non_null(strstr(c.why_full, "file target"));
	/* unknown ids */
	assert_int_equal(backup_delete(f->c, "00000000-0000-4000-8000-000000000000", &err),
	                 -ENOENT);
	tvol_close(&v);
	assert_int_equal(vol_delete(f->c, v.name, true, NULL, &err), 0);
}

/* keep_last = 2: whole chains go, oldest first, only when a newer full exists. */
static void test_retention(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct json_object *arr = NULL;
	struct tvol v;
	struct tbackup a, b, c, d;

	tvol_create(f, &v, "keep", 16 * MiB);
	tvol_write(&v, 0, 1 * MiB, 1);
	tvol_flush(&v);
	f->conf.backup.keep_last = 2;
	tbackup_must(f, v.name, false, BACKUP_TARGET_FILE, &a);
	tvol_write(&v, 2 * MiB, 1 * MiB, 2);
	tbackup_must(f, v.name, true, BACKUP_TARGET_FILE, &b);
	tvol_write(&v, 4 * MiB, 1 * MiB, 3);
	tbackup_must(f, v.name, false, BACKUP_TARGET_FILE, &c);
	/* three good ones: [a b] [c]; dropping [a b] would leave one: all stay */
	assert_int_equal(backup_list(f->c, v.name, &arr, &err), 0);
	assert_int_equal(json_object_array_length(arr), 3);
	json_object_put(arr);
	tvol_write(&v, 6 * MiB, 1 * MiB, 4);
	tbackup_must(f, v.name, true, BACKUP_TARGET_FILE, &d);
	/* four: [a b] goes, [c d] stays */
	assert_int_equal(backup_list(f->c, v.name, &arr, &err), 0);
	assert_int_equal(json_object_array_length(arr), 2);
	assert_string_equal(json_get_string(json_object_array_get_idx(arr, 0), "id"), c.id);
	assert_string_equal(json_get_string(json_object_array_get_idx(arr, 1), "id"), d.id);
	json_object_put(arr);
	assert_int_equal(access(a.path, F_OK), -1);
	assert_int_equal(access(b.path, F_OK), -1);
	/* explicit prune: nothing more to do */
	assert_int_equal(backup_prune(f->c, v.name, &err), 0);
	f->conf.backup.keep_last = 0;
	assert_int_equal(backup_delete(f->c, d.id, &err), 0);
	assert_int_equal(backup_delete(f->c, c.id, &err), 0);
	tvol_close(&v);
	assert_int_equal(vol_delete(f->c, v.name, true, NULL, &err), 0);
}

/* A clone's full backup holds its parent's data. */
static void test_clone(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct vol_create_params p = {0};
	struct json_object *o = NULL;
	struct tvol v;
	struct tbackup b;
	char child[64], sha[65];

	tvol_create(f, &v, "parent", 16 * MiB);
	tvol_write(&v, 1 * MiB, 2 * MiB, 11);
	tvol_flush(&v);
	sha_of(v.model, v.size, sha);
	itest_unique_name(child, sizeof(child), "child");
	p.name = child;
	p.volume = v.name;
	if (vol_create(f->c, &p, &o, &err) < 0)
		fail_msg("clone: %s", err.msg);
	json_object_put(o);
	tbackup_must(f, child, false, BACKUP_TARGET_POOL, &b);
	assert_true(b.bytes >= 2 * MiB);
	restore_check(f, b.id, sha, v.size, "child-r");
	assert_int_equal(backup_delete(f->c, b.id, &err), 0);
	assert_int_equal(vol_delete(f->c, child, true, NULL, &err), 0);
	tvol_close(&v);
	/* 1: hidden until the child in the trash is purged */
	assert_true(vol_delete(f->c, v.name, true, NULL, &err) >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_file_chain),
	        cmocka_unit_test(test_pool_chain),
	        cmocka_unit_test(test_zeros_not_copied),
	        cmocka_unit_test(test_why_full),
	        cmocka_unit_test(test_retention),
	        cmocka_unit_test(test_clone),
	        cmocka_unit_test(test_restore_digest_file),
	        cmocka_unit_test(test_restore_digest_pool),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
