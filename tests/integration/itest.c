/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/integration/itest.h"

const char *itest_ceph_conf(void)
{
	const char *conf = getenv("CAIRN_TEST_CEPH_CONF");

	if (!conf || !*conf) {
		fprintf(stderr, "CAIRN_TEST_CEPH_CONF is not set: integration tests need the "
		                "cluster that scripts/test starts (scripts/dev-cluster up DIR)\n");
		fail();
	}
	if (access(conf, R_OK) < 0) {
		fprintf(stderr, "CAIRN_TEST_CEPH_CONF: cannot read '%s'\n", conf);
		fail();
	}
	return conf;
}

static void itest_set(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	assert_non_null(*field);
}

void itest_config(struct cairn_config *conf, const char *prefix)
{
	const char *user = getenv("CAIRN_TEST_CEPH_USER");
	struct cairn_err err = {0};
	char buf[256];

	assert_int_equal(conf_init_defaults(conf), 0);
	itest_set(&conf->ceph.conf, itest_ceph_conf());
	itest_set(&conf->ceph.user, user && *user ? user : "admin");
	conf->ceph.mon_op_timeout = 10;
	conf->ceph.osd_op_timeout = 10;
	conf->ceph.client_mount_timeout = 10;
	if (prefix) {
		snprintf(buf, sizeof(buf), "%s-images", prefix);
		itest_set(&conf->pools.images, buf);
		snprintf(buf, sizeof(buf), "%s-volumes", prefix);
		itest_set(&conf->pools.volumes, buf);
		snprintf(buf, sizeof(buf), "%s-vms", prefix);
		itest_set(&conf->pools.vms, buf);
		snprintf(buf, sizeof(buf), "%s-backups", prefix);
		itest_set(&conf->pools.backups, buf);
	}
	if (conf_validate(conf, &err) < 0) {
		fprintf(stderr, "test configuration: %s\n", err.msg);
		fail();
	}
}

struct cluster *itest_cluster(struct cairn_config *conf, const char *prefix)
{
	struct cairn_err err = {0};
	struct cluster *c = NULL;

	crash_handler_install(); /* a crash in librbd under a test says where */
	itest_config(conf, prefix);
	if (cluster_connect(conf, &c, &err) < 0) {
		fprintf(stderr, "cannot connect to the test cluster: %s\n", err.msg);
		fail();
	}
	if (pools_ensure(c, &err) < 0) {
		fprintf(stderr, "cannot make the test pools: %s\n", err.msg);
		cluster_free(c);
		fail();
	}
	return c;
}

void itest_unique_name(char *buf, size_t len, const char *base)
{
	char uuid[UUID_STR_LEN];

	assert_int_equal(uuid_generate_str(uuid), 0);
	snprintf(buf, len, "%s-%.8s", base, uuid);
}

int itest_run(char **ret_out, const char *const argv[])
{
	int pipefd[2], status;
	size_t len = 0, cap = 4096;
	char *out;
	pid_t pid;

	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	out = malloc(cap);
	assert_non_null(out);
	for (;;) {
		ssize_t n;
		if (len + 1 >= cap) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
		n = read(pipefd[0], out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (ret_out)
		*ret_out = out;
	else
		free(out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void itest_cluster_free(struct cluster *c, struct cairn_config *conf, const char *prefix)
{
	cluster_free(c);
	if (prefix) {
		/* each pool holds placement groups: a run must not leave them behind */
		for (int role = 0; role < POOL_ROLE_MAX; role++) {
			const char *pool = conf_pool_name(conf, (enum pool_role)role);
			const char *argv[] = {"ceph", "-c",   itest_ceph_conf(),
			                      "osd",  "pool", "rm",
			                      pool,   pool,   "--yes-i-really-really-mean-it",
			                      NULL};
			itest_run(NULL, argv);
		}
	}
	conf_release(conf);
}
