/* SPDX-License-Identifier: MIT */
/* pools/ against the real cluster: pools are made, initialised, and reported truly. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <rbd/librbd.h>

#include "tests/integration/itest.h"

static void test_pools_ensure_creates_and_initialises(void **state)
{
	struct cairn_config conf;
	struct cairn_err err = {0};
	struct pool_info info[POOL_ROLE_MAX];
	char prefix[32], *out = NULL;
	struct cluster *c;
	rados_ioctx_t io;
	rbd_image_t img;

	itest_unique_name(prefix, sizeof(prefix), "tp");
	c = itest_cluster(&conf, prefix);

	/* idempotent: a second run (as another host would) changes nothing and succeeds */
	assert_int_equal(pools_ensure(c, &err), 0);
	assert_int_equal(pools_check(c, &err), 0);

	/* the truth in Ceph: the pool exists with the rbd application, seen by the ceph CLI */
	const char *argv[] = {"ceph",        "-c",  itest_ceph_conf(),  "osd", "pool",
	                      "application", "get", conf.pools.volumes, NULL};
	assert_int_equal(itest_run(&out, argv), 0);
	assert_non_null(strstr(out, "\"rbd\""));
	free(out);

	/* an image made in the pool is counted */
	assert_int_equal(cluster_ioctx(c, POOL_ROLE_VOLUMES, &io, &err), 0);
	rbd_image_options_t opts;
	rbd_image_options_create(&opts);
	assert_int_equal(rbd_create4(io, "counted", 1 << 20, opts), 0);
	rbd_image_options_destroy(opts);
	assert_int_equal(pools_list(c, info, &err), 0);
	for (int role = 0; role < POOL_ROLE_MAX; role++) {
		assert_true(info[role].exists);
		assert_string_equal(info[role].name, conf_pool_name(&conf, (enum pool_role)role));
		assert_true(info[role].available_bytes > 0);
	}
	assert_int_equal(info[POOL_ROLE_VOLUMES].images, 1);
	assert_int_equal(info[POOL_ROLE_IMAGES].images, 0);

	/* written data shows up as stored bytes */
	assert_int_equal(rbd_open(io, "counted", &img, NULL), 0);
	char buf[4096];
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(rbd_write(img, 0, sizeof(buf), buf), sizeof(buf));
	assert_int_equal(rbd_flush(img), 0);
	assert_int_equal(rbd_close(img), 0);
	assert_int_equal(rbd_remove(io, "counted"), 0);

	itest_cluster_free(c, &conf, prefix);
}

static void test_pools_check_reports_missing(void **state)
{
	struct cairn_config conf;
	struct cairn_err err = {0};
	struct cluster *c = NULL;
	char prefix[32];

	itest_unique_name(prefix, sizeof(prefix), "tm");
	itest_config(&conf, prefix);
	assert_int_equal(cluster_connect(&conf, &c, &err), 0);
	assert_int_equal(pools_check(c, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "-images' (images) does not exist"));
	cluster_free(c);
	conf_release(&conf);
}

static void test_cluster_ping_and_mon_dump(void **state)
{
	struct cairn_config conf;
	struct cairn_err err = {0};
	struct cluster *c = NULL;
	char fsid[37], *dump = NULL;

	itest_config(&conf, NULL);
	assert_int_equal(cluster_connect(&conf, &c, &err), 0);
	assert_int_equal(cluster_ping(c, &err), 0);
	assert_int_equal(cluster_fsid(c, fsid), 0);
	assert_true(uuid_is_valid(fsid));
	assert_int_equal(cluster_mon_dump(c, &dump, &err), 0);
	assert_non_null(strstr(dump, "\"v2\""));
	assert_non_null(strstr(dump, fsid));
	free(dump);
	cluster_free(c);
	conf_release(&conf);
}

static void test_cluster_connect_bad_conf(void **state)
{
	struct cairn_config conf;
	struct cairn_err err = {0};
	struct cluster *c = NULL;

	itest_config(&conf, NULL);
	free(conf.ceph.conf);
	conf.ceph.conf = strdup("/nonexistent/ceph.conf");
	assert_true(cluster_connect(&conf, &c, &err) < 0);
	assert_null(c);
	assert_non_null(strstr(err.msg, "/nonexistent/ceph.conf"));
	conf_release(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pools_ensure_creates_and_initialises),
	        cmocka_unit_test(test_pools_check_reports_missing),
	        cmocka_unit_test(test_cluster_ping_and_mon_dump),
	        cmocka_unit_test(test_cluster_connect_bad_conf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
