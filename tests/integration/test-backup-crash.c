/* SPDX-License-Identifier: MIT */
/*
 * backup/ when things go wrong: a backup process killed at each step (CAIRN_FAILPOINT, the
 * process SIGKILLs itself there) leaves nothing marked good and no partial data once
 * backup_reconcile() ran — or, killed after its record said "available", a good backup;
 * a backup image written into by a killed incremental is reset before the next one; two
 * backups of one volume at once, each with its own cluster connection: one gets -EBUSY,
 * and the reconciler leaves the running one alone.
 */
#include "tests/integration/test-backup-util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static char self[4096];

/* ---- the child: one backup_create, in a process of its own ------------------------------------ */

static int child_main(int argc, char **argv)
{
	/* --child PREFIX DIR VOLUME TARGET INCREMENTAL */
	struct cairn_config conf;
	struct cluster *c = NULL;
	struct cairn_err err = {0};
	struct backup_create_params p = {0};
	struct json_object *o = NULL;
	int r;

	if (argc != 7)
		return 2;
	bool restore = strcmp(argv[5], "restore") == 0;
	itest_config(&conf, argv[2]);
	fixture_set(&conf.backup.directory, argv[3]);
	conf.backup.chunk = 1 * MiB;
	conf.backup.in_flight = 8;
	if (cluster_connect(&conf, &c, &err) < 0) {
		fprintf(stderr, "child: %s\n", err.msg);
		return 3;
	}
	if (restore) {
		/* --child PREFIX DIR BACKUP-ID restore NEW-VOLUME */
		struct backup_restore_params rp = {.volume = argv[6]};
		r = backup_restore(c, argv[4], &rp, NULL, &o, &err);
		if (r < 0)
			fprintf(stderr, "child: %s\n", err.msg);
		json_object_put(o);
		cluster_free(c);
		conf_release(&conf);
		return r < 0 ? 1 : 0;
	}
	p.volume = argv[4];
	p.has_target = true;
	p.target = strcmp(argv[5], "file") == 0 ? BACKUP_TARGET_FILE : BACKUP_TARGET_POOL;
	p.incremental = strcmp(argv[6], "1") == 0;
	r = backup_create(c, &p, NULL, &o, &err);
	if (r < 0)
		fprintf(stderr, "child: %s\n", err.msg);
	json_object_put(o);
	cluster_free(c);
	conf_release(&conf);
	return r < 0 ? 1 : 0;
}

/* Run a backup in a child that kills itself at failpoint; 1 when it died there. */
static int run_child_argv(const char *fp, char **argv);

static int run_child(struct fixture *f, const char *volume, const char *target, bool incremental,
                     const char *fp)
{
	char *argv[] = {self,
	                "--child",
	                f->prefix,
	                f->dir,
	                (char *)volume,
	                (char *)target,
	                incremental ? "1" : "0",
	                NULL};

	return run_child_argv(fp, argv);
}

static int run_child_argv(const char *fp, char **argv)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("CAIRN_FAILPOINT", fp, 1);
		execv(self, argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		return 1;
	assert_true(WIFEXITED(status));
	fail_msg("the backup child did not die at '%s' (exit %d)", fp, WEXITSTATUS(status));
	return 0;
}

/* ---- invariants after reconcile ------------------------------------------------------------------- */

struct census {
	int available, failed, other;
	char latest[40]; /* the newest available */
};

static void census_of(struct fixture *f, const char *volume, struct census *cs)
{
	struct cairn_err err = {0};
	struct json_object *arr = NULL;

	memset(cs, 0, sizeof(*cs));
	assert_int_equal(backup_list(f->c, volume, &arr, &err), 0);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		const char *st = json_get_string(o, "status");
		if (strcmp(st, "available") == 0) {
			cs->available++;
			snprintf(cs->latest, sizeof(cs->latest), "%s", json_get_string(o, "id"));
		} else if (strcmp(st, "failed") == 0) {
			cs->failed++;
			assert_non_null(strstr(json_get_string(o, "error"), "interrupted"));
		} else {
			cs->other++;
		}
	}
	json_object_put(arr);
}

static void reconcile(struct fixture *f, unsigned want_failed)
{
	struct backup_reconcile_opts opts = {0};
	struct backup_reconcile_stats st = {0};
	struct cairn_err err = {0};

	if (backup_reconcile(f->c, &opts, &st, &err) < 0)
		fail_msg("reconcile: %s", err.msg);
	assert_int_equal(st.failed, want_failed);
}

static int group_setup(void **state)
{
	*state = fixture_new("tbcr");
	return 0;
}

static int group_teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

static void test_crash_file(void **state)
{
	static const char *const steps[] = {"backup.begin", "backup.snapshot", "backup.chunk",
	                                    "backup.data", "backup.checksum"};
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct census cs;
	struct tvol v;
	struct tbackup b;
	char sha[65];

	tvol_create(f, &v, "crashf", 64 * MiB);
	tvol_write(&v, 0, 20 * MiB, 1);
	tvol_flush(&v);

	/* a full backup killed at every step before it is good */
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		assert_int_equal(run_child(f, v.name, "file", false, steps[i]), 1);
		reconcile(f, 1);
		census_of(f, v.name, &cs);
		assert_int_equal(cs.available, 0);
		assert_int_equal(cs.other, 0);
		assert_int_equal(count_files(f->dir, ".diff"), 0); /* neither final nor .tmp */
		assert_int_equal(count_files(f->dir, "manifest"), 0);
		assert_int_equal(count_snaps(f->c, v.pool, v.rbd_image, BACKUP_SNAP_PREFIX), 0);
		/* a second pass finds nothing to do */
		reconcile(f, 0);
	}

	/* killed just after its record said "available": a good backup */
	assert_int_equal(run_child(f, v.name, "file", false, "backup.record"), 1);
	reconcile(f, 0);
	census_of(f, v.name, &cs);
	assert_int_equal(cs.available, 1);
	assert_int_equal(count_files(f->dir, ".diff"), 1);

	/* an incremental killed mid-way; then one that works, restored right */
	tvol_write(&v, 30 * MiB, 2 * MiB, 2);
	tvol_flush(&v);
	assert_int_equal(run_child(f, v.name, "file", true, "backup.chunk"), 1);
	reconcile(f, 1);
	census_of(f, v.name, &cs);
	assert_int_equal(cs.available, 1);
	assert_int_equal(count_files(f->dir, ".diff"), 1);
	/* the base is untouched: the next incremental builds on it */
	assert_int_equal(count_snaps(f->c, v.pool, v.rbd_image, BACKUP_SNAP_PREFIX), 1);
	sha_of(v.model, v.size, sha);
	tbackup_must(f, v.name, true, BACKUP_TARGET_FILE, &b);
	assert_string_equal(b.kind, "incremental");
	assert_string_equal(b.parent, cs.latest);
	restore_check(f, b.id, sha, v.size, "crashf-r");
	(void)err;
	tvol_close(&v);
}

static void test_crash_pool(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct census cs;
	struct tvol v;
	struct tbackup b;
	char sha[65], image[128];
	struct json_object *o = NULL;

	tvol_create(f, &v, "crashp", 64 * MiB);
	tvol_write(&v, 4 * MiB, 24 * MiB, 3);
	tvol_flush(&v);
	assert_int_equal(vol_show(f->c, v.name, &o, &err), 0);
	snprintf(image, sizeof(image), "%s%s", BACKUP_IMAGE_PREFIX, json_get_string(o, "id"));
	json_object_put(o);

	/* a first full backup killed: the backup image it made goes too */
	assert_int_equal(run_child(f, v.name, "pool", false, "backup.chunk"), 1);
	reconcile(f, 1);
	assert_int_equal(count_snaps(f->c, f->conf.pools.backups, image, ""), -ENOENT);
	census_of(f, v.name, &cs);
	assert_int_equal(cs.available, 0);

	tbackup_must(f, v.name, false, BACKUP_TARGET_POOL, &b);

	/* an incremental killed after writing into the backup image, before its snapshot */
	tvol_write(&v, 0, 8 * MiB, 4);
	tvol_zero(&v, 12 * MiB, 4 * MiB);
	tvol_flush(&v);
	assert_int_equal(run_child(f, v.name, "pool", true, "backup.data"), 1);
	reconcile(f, 1);
	/* its snapshot went; the image's head still holds what it wrote */
	assert_int_equal(count_snaps(f->c, f->conf.pools.backups, image, ""), 1);
	/* the next one starts from the good snapshot, whatever the killed one wrote */
	tvol_write(&v, 40 * MiB, 1 * MiB, 5);
	tvol_flush(&v);
	sha_of(v.model, v.size, sha);
	tbackup_must(f, v.name, true, BACKUP_TARGET_POOL, &b);
	assert_string_equal(b.kind, "incremental");
	restore_check(f, b.id, sha, v.size, "crashp-r");
	{
		struct json_object *rep = NULL;
		if (backup_verify(f->c, b.id, NULL, &rep, &err) < 0)
			fail_msg("verify: %s", err.msg);
		json_object_put(rep);
	}

	/* a restore into a new volume killed mid-way: the half volume goes */
	{
		char name[64];
		char *argv[] = {self, "--child", f->prefix, f->dir, b.id, "restore", name, NULL};
		struct backup_reconcile_stats st = {0};
		struct backup_reconcile_opts opts = {0};

		itest_unique_name(name, sizeof(name), "half");
		assert_int_equal(run_child_argv("restore.chunk", argv), 1);
		assert_int_equal(vol_show(f->c, name, &o, &err), 0); /* it is there, half done */
		json_object_put(o);
		assert_int_equal(backup_reconcile(f->c, &opts, &st, &err), 0);
		assert_int_equal(st.restores_rolled_back, 1);
		err_clear(&err);
		o = NULL;
		assert_int_equal(vol_show(f->c, name, &o, &err), -ENOENT);
	}
	tvol_close(&v);
}

/* ---- two at once ------------------------------------------------------------------------------- */

struct race {
	struct fixture *f;
	const char *volume;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool a_holds, b_done;
	int ra, rb;
	struct cairn_err ea, eb;
	struct cairn_progress progress;
};

static void race_report(struct cairn_progress *p, uint64_t done, uint64_t total)
{
	struct race *r = container_of(p, struct race, progress);
	struct timespec until;

	pthread_mutex_lock(&r->mu);
	if (!r->a_holds) {
		r->a_holds = true;
		pthread_cond_broadcast(&r->cond);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 60;
		while (!r->b_done)
			if (pthread_cond_timedwait(&r->cond, &r->mu, &until) != 0)
				break;
	}
	pthread_mutex_unlock(&r->mu);
}

static int race_backup(struct race *r, struct cairn_progress *progress, struct cairn_err *err)
{
	struct cluster *c = NULL;
	struct backup_create_params p = {
	        .volume = r->volume, .has_target = true, .target = BACKUP_TARGET_POOL};
	struct json_object *o = NULL;
	int ret;

	/* a connection of its own, as a second host would have */
	ret = cluster_connect(&r->f->conf, &c, err);
	if (ret < 0)
		return ret;
	ret = backup_create(c, &p, progress, &o, err);
	json_object_put(o);
	cluster_free(c);
	return ret;
}

static void *thread_a(void *arg)
{
	struct race *r = arg;

	r->ra = race_backup(r, &r->progress, &r->ea);
	pthread_mutex_lock(&r->mu);
	r->a_holds = true; /* even if it failed early: let b go */
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static void *thread_b(void *arg)
{
	struct race *r = arg;

	pthread_mutex_lock(&r->mu);
	while (!r->a_holds)
		pthread_cond_wait(&r->cond, &r->mu);
	pthread_mutex_unlock(&r->mu);

	r->rb = race_backup(r, NULL, &r->eb);
	pthread_mutex_lock(&r->mu);
	r->b_done = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	struct race r = {.f = f, .progress = {.report = race_report}};
	struct backup_reconcile_opts opts = {0};
	struct backup_reconcile_stats st = {0};
	struct cairn_err err = {0};
	struct census cs;
	struct tvol v;
	pthread_t a, b;
	char host[256];

	tvol_create(f, &v, "race", 32 * MiB);
	tvol_write(&v, 0, 8 * MiB, 6);
	tvol_flush(&v);
	r.volume = v.name;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cond, NULL);
	assert_int_equal(pthread_create(&a, NULL, thread_a, &r), 0);
	assert_int_equal(pthread_create(&b, NULL, thread_b, &r), 0);
	assert_int_equal(pthread_join(b, NULL), 0);
	/* b ran while a held the volume: -EBUSY naming this host */
	assert_int_equal(r.rb, -EBUSY);
	gethostname(host, sizeof(host));
	assert_non_null(strstr(r.eb.msg, "is running on host"));
	assert_non_null(strstr(r.eb.msg, host));
	assert_int_equal(pthread_join(a, NULL), 0);
	if (r.ra < 0)
		fail_msg("the first backup: %s", r.ea.msg);
	census_of(f, v.name, &cs);
	assert_int_equal(cs.available, 1);
	assert_int_equal(cs.failed, 0);

	/* the reconciler never touches a running backup: run one and reconcile meanwhile */
	memset(&r, 0, sizeof(r));
	r.f = f;
	r.volume = v.name;
	r.progress.report = race_report;
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cond, NULL);
	assert_int_equal(pthread_create(&a, NULL, thread_a, &r), 0);
	pthread_mutex_lock(&r.mu);
	while (!r.a_holds)
		pthread_cond_wait(&r.cond, &r.mu);
	pthread_mutex_unlock(&r.mu);
	opts.startup = true; /* even at "startup" of this process: the holder is alive here */
	assert_int_equal(backup_reconcile(f->c, &opts, &st, &err), 0);
	assert_int_equal(st.failed, 0);
	pthread_mutex_lock(&r.mu);
	r.b_done = true;
	pthread_cond_broadcast(&r.cond);
	pthread_mutex_unlock(&r.mu);
	assert_int_equal(pthread_join(a, NULL), 0);
	if (r.ra < 0)
		fail_msg("the backup that ran during reconcile: %s", r.ea.msg);
	census_of(f, v.name, &cs);
	assert_int_equal(cs.available, 2);
	tvol_close(&v);
}

/* ---- a backup that loses its volume to another process midway ------------------------------ */

struct takeover {
	struct cairn_progress progress;
	struct fixture *f;
	char volume_id[40];
	bool done;
	int r;
	struct cairn_err err;
};

/* The volume's backup lock goes, as when its lease runs out: RADOS forgets the holder. */
static int lock_expire(struct cluster *c, const char *volume_id, struct cairn_err *err)
{
	char oid[128], tag[64], clients[256], cookies[256], addrs[256];
	size_t tag_len = sizeof(tag), clients_len = sizeof(clients), cookies_len = sizeof(cookies),
	       addrs_len = sizeof(addrs);
	int exclusive = 0, r;
	ssize_t n;
	rados_ioctx_t io;

	r = cluster_state_ioctx(c, &io, err);
	if (r < 0)
		return r;
	snprintf(oid, sizeof(oid), "%s%s", BACKUP_LOCK_PREFIX, volume_id);
	n = rados_list_lockers(io, oid, BACKUP_LOCK_NAME, &exclusive, tag, &tag_len, clients,
	                       &clients_len, cookies, &cookies_len, addrs, &addrs_len);
	if (n != 1)
		return err_set(err, -ENOENT, "the backup lock has %zd holders, not 1", n);
	r = rados_break_lock(io, oid, BACKUP_LOCK_NAME, clients, cookies);
	return r < 0 ? err_set(err, r, "break_lock: %s", strerror(-r)) : 0;
}

/* At the first progress: the lock expires (the backup hung past its lease), and another
 * process's backups pass settles the volume's backups. */
static void takeover_report(struct cairn_progress *p, uint64_t done, uint64_t total)
{
	struct takeover *t = container_of(p, struct takeover, progress);
	struct backup_reconcile_opts opts = {0};
	struct backup_reconcile_stats st = {0};
	struct cluster *other = NULL;

	(void)done;
	(void)total;
	if (t->done)
		return;
	t->done = true;
	t->r = cluster_connect(&t->f->conf, &other, &t->err);
	if (t->r >= 0)
		t->r = lock_expire(other, t->volume_id, &t->err);
	if (t->r >= 0)
		t->r = backup_reconcile(other, &opts, &st, &t->err);
	if (t->r >= 0 && st.failed != 1)
		t->r = err_set(&t->err, -EINVAL, "the pass marked %u backups failed, not 1",
		               st.failed);
	cluster_free(other);
}

static void test_lost_lock(void **state)
{
	struct fixture *f = *state;
	struct takeover t = {.progress = {.report = takeover_report}, .f = f};
	struct backup_create_params p = {
	        .has_target = true, .target = BACKUP_TARGET_POOL, .incremental = true};
	struct cairn_err err = {0};
	struct json_object *o = NULL;
	struct tbackup base;
	struct census cs;
	struct tvol v;

	tvol_create(f, &v, "lost", 32 * MiB);
	{
		struct json_object *vo = NULL;
		assert_int_equal(vol_show(f->c, v.name, &vo, &err), 0);
		snprintf(t.volume_id, sizeof(t.volume_id), "%s", json_get_string(vo, "id"));
		json_object_put(vo);
	}
	tvol_write(&v, 0, 8 * MiB, 7);
	tvol_flush(&v);
	tbackup_must(f, v.name, false, BACKUP_TARGET_POOL, &base);
	tvol_write(&v, 16 * MiB, 4 * MiB, 8);
	tvol_flush(&v);

	/* the incremental runs on; the other process marked it failed and took its data */
	p.volume = v.name;
	assert_true(backup_create(f->c, &p, &t.progress, &o, &err) < 0);
	print_message("# the backup that lost its lock: %s\n", err.msg);
	assert_true(t.done);
	if (t.r < 0)
		fail_msg("the other process's reconcile: %s", t.err.msg);
	/* it never comes back as good: failed it stays, the base stays the latest good one */
	census_of(f, v.name, &cs);
	assert_int_equal(cs.available, 1);
	assert_string_equal(cs.latest, base.id);
	assert_int_equal(cs.failed, 1);
	assert_int_equal(cs.other, 0);
	reconcile(f, 0);
	tvol_close(&v);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_crash_file),
	        cmocka_unit_test(test_crash_pool),
	        cmocka_unit_test(test_concurrent),
	        cmocka_unit_test(test_lost_lock),
	};
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return 2;
	self[n] = '\0';
	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_main(argc, argv);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
