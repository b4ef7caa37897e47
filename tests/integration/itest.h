/* SPDX-License-Identifier: MIT */
/*
 * Integration tests run against the real Ceph cluster that scripts/test starts
 * (scripts/dev-cluster). CAIRN_TEST_CEPH_CONF names its ceph.conf; without it a test
 * fails — it never skips.
 */
#ifndef CAIRN_ITEST_H
#define CAIRN_ITEST_H

#include "conf/conf.h"
#include "pools/pools.h"

/*
 * A configuration for the test cluster as the cephx user CAIRN_TEST_CEPH_USER (default
 * "admin"). prefix NULL: the default pool names, shared by tests; otherwise pools named
 * "<prefix>-images" and so on, for tests that must own their pools.
 */
void itest_config(struct cairn_config *conf, const char *prefix);

/* itest_config + cluster_connect + pools_ensure; any failure fails the test. */
struct cluster *itest_cluster(struct cairn_config *conf, const char *prefix);

/* Disconnect, delete the pools of prefix (when not NULL) and release conf. */
void itest_cluster_free(struct cluster *c, struct cairn_config *conf, const char *prefix);

/* A name unique to this run: "<base>-<8 random hex>". */
void itest_unique_name(char *buf, size_t len, const char *base);

/* Run a shell command (argv, no shell); returns its exit status, stdout in *ret_out. */
int itest_run(char **ret_out, const char *const argv[]);

/* The path of the test cluster's ceph.conf. */
const char *itest_ceph_conf(void);

#endif
