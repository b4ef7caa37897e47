/* SPDX-License-Identifier: MIT */
/*
 * svc: cairnd, the daemon. One libuv loop serves the REST API on Unix sockets; blocking
 * domain calls run on the thread pool. This header is what main() needs.
 */
#ifndef CAIRN_SVC_H
#define CAIRN_SVC_H

#include "conf/conf.h"

/* Run the daemon with a loaded and validated configuration until SIGTERM/SIGINT. */
int svc_run(const struct cairn_config *conf, const char *config_path);

#endif
