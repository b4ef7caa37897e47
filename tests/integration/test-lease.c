/* SPDX-License-Identifier: MIT */
/*
 * pools/lease.c against the real cluster: the lock excludes, names its holder, runs out
 * when not renewed, is lost to whoever took it then, and is broken at once when its
 * holder was a process of this host that is gone, but not when it lives. The holders
 * that are not this process are made with the rados CLI, as another client would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/itest.h"

#define LOCK_NAME "cairn.test"

struct fixture {
	struct cairn_config conf;
	struct cluster *c;
	char oid[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->c = itest_cluster(&f->conf, NULL);
	itest_unique_name(f->oid, sizeof(f->oid), "lock.test");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rados_ioctx_t io;

	if (cluster_state_ioctx(f->c, &io, NULL) == 0)
		rados_remove(io, f->oid);
	itest_cluster_free(f->c, &f->conf, NULL);
	free(f);
	return 0;
}

static void lease_new(struct fixture *f, struct lease *l, int seconds)
{
	struct cairn_err err = {0};

	assert_int_equal(lease_init(f->c, l, f->oid, LOCK_NAME, "test", seconds, NULL, &err), 0);
}

static void test_excludes_and_names_holder(void **state)
{
	struct fixture *f = *state;
	struct lease a, b;
	struct lease_holder h;
	char host[256] = "";
	rados_ioctx_t io;
	uint64_t size;
	time_t mtime;

	lease_new(f, &a, 30);
	lease_new(f, &b, 30);
	assert_int_equal(lease_take(&a), 0);
	assert_true(a.held);
	assert_int_equal(lease_take(&b), -EBUSY); /* another holder in the same process too */
	assert_int_equal(lease_take_wait(&b, 300, true), -EBUSY);

	assert_int_equal(lease_holder(&b, &h), 1);
	assert_string_equal(h.cookie, a.cookie);
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(h.host, host);
	assert_int_equal(h.pid, (long)getpid());
	assert_false(lease_holder_gone(&h, false)); /* this process */
	assert_false(lease_holder_gone(&h, true));

	/* released with its object: nothing stays behind, and the next one takes it */
	lease_release(&a, true);
	assert_false(a.held);
	assert_int_equal(cluster_state_ioctx(f->c, &io, NULL), 0);
	assert_int_equal(rados_stat(io, f->oid, &size, &mtime), -ENOENT);
	assert_int_equal(lease_holder(&b, &h), -ENOENT);
	assert_int_equal(lease_take(&b), 0);
	lease_release(&b, false);
	assert_int_equal(lease_holder(&b, &h), 0); /* unlocked, the object stays */
}

static void test_runs_out_and_is_lost(void **state)
{
	struct fixture *f = *state;
	struct cairn_err err = {0};
	struct lease_holder h;
	struct lease a, b;

	lease_new(f, &a, 2);
	lease_new(f, &b, 30);
	assert_int_equal(lease_take(&a), 0);
	assert_int_equal(lease_renew(&a, &err), 0); /* too early: nothing to do */
	sleep(1);
	assert_int_equal(lease_renew(&a, &err), 0); /* renewed for 2 s from now */
	assert_int_equal(lease_take(&b), -EBUSY);
	/* not renewed any more: it runs out, and the next one gets it */
	assert_int_equal(lease_take_wait(&b, 10000, false), 0);
	assert_int_equal(lease_renew(&a, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "lost the lock"));
	/* the one that lost it lets go without taking it from the new holder */
	lease_release(&a, true);
	assert_int_equal(lease_holder(&b, &h), 1);
	assert_string_equal(h.cookie, b.cookie);
	lease_release(&b, true);
}

/* A holder as another client makes it, with the cookie "<host>:<pid>:t". */
static void lock_as(struct fixture *f, long pid)
{
	char host[256] = "", cookie[400];

	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	snprintf(cookie, sizeof(cookie), "%s:%ld:t", host, pid);
	const char *argv[] = {"rados",
	                      "-c",
	                      itest_ceph_conf(),
	                      "-p",
	                      f->conf.pools.volumes,
	                      "--namespace",
	                      "cairn",
	                      "lock",
	                      "get",
	                      f->oid,
	                      LOCK_NAME,
	                      "--lock-cookie",
	                      cookie,
	                      "--lock-duration",
	                      "600",
	                      NULL};
	assert_int_equal(itest_run(NULL, argv), 0);
}

static void test_breaks_a_gone_holder_only(void **state)
{
	struct fixture *f = *state;
	struct lease_holder h;
	struct lease a;
	pid_t gone;

	/* a process of this host that has ended */
	gone = fork();
	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);

	lease_new(f, &a, 30);
	lock_as(f, (long)getppid()); /* alive */
	assert_int_equal(lease_holder(&a, &h), 1);
	assert_int_equal(h.pid, (long)getppid());
	assert_false(lease_holder_gone(&h, false));
	assert_true(lease_holder_gone(&h, true)); /* "any other process of this host" */
	assert_int_equal(lease_take_wait(&a, 300, true), -EBUSY);
	assert_int_equal(lease_break(&a, &h), 0);

	lock_as(f, (long)gone);
	assert_int_equal(lease_holder(&a, &h), 1);
	assert_true(lease_holder_gone(&h, false));
	assert_int_equal(lease_take_wait(&a, 300, false), -EBUSY); /* not asked to break it */
	assert_int_equal(lease_take_wait(&a, 0, true), 0);         /* broken and taken at once */
	assert_int_equal(lease_holder(&a, &h), 1);
	assert_string_equal(h.cookie, a.cookie);
	lease_release(&a, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_excludes_and_names_holder, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_runs_out_and_is_lost, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_breaks_a_gone_holder_only, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
