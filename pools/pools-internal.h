/* SPDX-License-Identifier: MIT */
/* pools: what cluster.c and pools.c share, not for other folders. */
#ifndef CAIRN_POOLS_INTERNAL_H
#define CAIRN_POOLS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <rados/librados.h>

#include "common/common.h"

/* A mon command on any connected rados_t; *ret_out (if wanted) owned by the caller. */
int cluster_rados_mon_command(rados_t rados, const char *cmd_json, char **ret_out,
                              struct cairn_err *err);

/*
 * Make pool name exist in that cluster with the rbd application enabled and initialised
 * for RBD (pg_num when cairn creates it). Idempotent; safe from several hosts at once.
 */
int pool_ensure_on(rados_t rados, const char *name, uint32_t pg_num, struct cairn_err *err);

/* The thread that closes read-only images late (ro-image.c), one per struct cluster. */
struct cluster;
struct ro_pending;
struct ro_closer {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running, stopping;
	struct ro_pending *head, *tail; /* oldest first: all wait the same delay */
	size_t n;
};

void ro_closer_start(struct ro_closer *rc);
/* Closes what is still waiting, at once, and ends the thread. */
void ro_closer_stop(struct ro_closer *rc);
struct ro_closer *cluster_ro_closer(struct cluster *c);

#endif
