/* SPDX-License-Identifier: MIT */
/*
 * cairnd's context: start-up (cluster, pools, sockets), the request entry point, cluster
 * reachability, background passes, signals and an orderly stop.
 */
#define LOG_MODULE "svc"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "svc/svc-internal.h"
#include "volumes/volumes.h"
#include "svc/svc.h"

#define PROBE_INTERVAL_MS 2000

uint64_t svc_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- cluster reachability --------------------------------------------------------------- */

static bool svc_is_cluster_error(int r)
{
	return r == -ETIMEDOUT || r == -ENOTCONN || r == -ECONNREFUSED || r == -ESHUTDOWN ||
	       r == -EHOSTUNREACH;
}

struct probe {
	bool ok;
	struct cairn_err err;
};

static void probe_timer_cb(uv_timer_t *t);

static void probe_work(struct svc_job *job)
{
	struct probe *p = job->data;
	rados_ioctx_t io;
	uint64_t size;
	time_t mtime;
	int r;

	/* a mon round trip and an OSD round trip: either side may be the one that is down */
	r = cluster_ping(job->svc->cluster, &p->err);
	if (r >= 0)
		r = cluster_state_ioctx(job->svc->cluster, &io, &p->err);
	if (r >= 0) {
		r = rados_stat(io, "directory.volumes", &size, &mtime);
		if (r == -ENOENT)
			r = 0;
		if (r < 0)
			err_set(&p->err, r, "cannot reach the OSDs: %s", strerror(-r));
	}
	p->ok = r >= 0;
	/* the probe's own result must not feed back into svc_note_result */
	job->result = 0;
}

static void cluster_down(struct svc *svc, const char *why)
{
	svc->cluster_up = false;
	log_warn("the ceph cluster is unreachable (%s): answering 503 until it is back", why);
	uv_timer_start(&svc->probe_timer, probe_timer_cb, PROBE_INTERVAL_MS, PROBE_INTERVAL_MS);
}

static void probe_done(struct svc_job *job)
{
	struct svc *svc = job->svc;
	struct probe *p = job->data;

	svc->probe_running = false;
	if (!p->ok) {
		if (svc->cluster_up) /* a confirming probe (see svc_note_result): it is down */
			cluster_down(svc, p->err.msg);
		else
			log_debug("cluster still unreachable: %s", p->err.msg);
		return;
	}
	if (!svc->cluster_up)
		log_info("the ceph cluster is reachable again");
	svc->cluster_up = true;
	uv_timer_stop(&svc->probe_timer);
}

static void probe_start(struct svc *svc)
{
	struct probe *p;

	if (svc->probe_running || svc->stopping)
		return;
	p = calloc(1, sizeof(*p));
	if (!p)
		return;
	if (svc_job_submit(svc, probe_work, probe_done, false, p, free) == 0)
		svc->probe_running = true;
}

static void probe_timer_cb(uv_timer_t *t)
{
	probe_start(container_of(t, struct svc, probe_timer));
}

void svc_note_result(struct svc *svc, int r)
{
	if (!svc_is_cluster_error(r))
		return;
	svc->cluster_errors++;
	if (!svc->cluster_up)
		return;
	if (cluster_has_backup(svc->cluster)) {
		/* The failure may be the backup cluster's alone ([backup] cluster_conf): ask the
		 * main cluster before answering 503 to everything. */
		probe_start(svc);
		return;
	}
	cluster_down(svc, strerror(-r));
}

/* ---- requests --------------------------------------------------------------------------- */

static void on_request(struct http_request *req, void *userdata)
{
	struct svc *svc = userdata;
	struct svc_call *call;
	enum http_method m = http_request_method(req);
	char allow[128];
	int r;

	call = calloc(1, sizeof(*call));
	if (!call) {
		http_reply(req, 500, NULL, NULL, "{}", 2);
		return;
	}
	call->svc = svc;
	call->req = req;
	call->start_ns = svc_now_ns();

	r = route_match(&svc->routes, m, http_request_path(req), call->scratch,
	                sizeof(call->scratch), call->params, &call->route, allow, sizeof(allow));
	if (r == -ENOTSUP) {
		call_reply_method_not_allowed(call, allow);
		return;
	}
	if (r < 0) {
		call_reply_error(call, -ENOENT, "no such resource: %s %.200s",
		                 http_method_to_string(m), http_request_path(req));
		return;
	}
	if (http_request_readonly(req) && (call->route->flags & ROUTE_MUTATING)) {
		call_reply_error(call, -EACCES,
		                 "this socket is read-only: %s %s needs the read-write socket",
		                 http_method_to_string(m), call->route->pattern);
		return;
	}
	if (svc->stopping && (call->route->flags & ROUTE_MUTATING)) {
		call_reply_error(call, -ESHUTDOWN, "cairnd is shutting down");
		return;
	}
	if ((call->route->flags & ROUTE_CLUSTER) && !svc->cluster_up) {
		call_reply_error(call, -ETIMEDOUT,
		                 "the ceph cluster is unreachable; cairnd retries every %d s",
		                 PROBE_INTERVAL_MS / 1000);
		return;
	}
	call_dispatch(call);
}

/* A request svc/http answered by itself (malformed, over a limit): counted, unrouted. */
static void on_refused(enum http_method method, int status, void *userdata)
{
	svc_metrics_unmatched(userdata, method, status);
}

/* ---- signals and stop ------------------------------------------------------------------- */

static void svc_close_handles(struct svc *svc);

static void shutdown_timer_cb(uv_timer_t *t)
{
	struct svc *svc = container_of(t, struct svc, shutdown_timer);

	if (svc->jobs_queued == 0 && svc->slow_pending == 0 &&
	    http_server_requests_in_flight(svc->http) == 0) {
		svc_close_handles(svc);
		return;
	}
	if (svc_now_ns() - svc->stop_started_ns >
	    (uint64_t)svc->conf->service.shutdown_timeout * 1000000000ULL) {
		/* operations that can stop do so now (ending "interrupted"); the exit waits
		 * for the jobs to return, and what they leave is the next start's reconcile's */
		log_warn("%u jobs still running after %u s: interrupting their operations",
		         svc->jobs_queued, svc->conf->service.shutdown_timeout);
		ops_interrupt(svc);
		svc_close_handles(svc);
		uv_stop(&svc->loop);
	}
}

static void svc_stop(struct svc *svc, const char *why)
{
	if (svc->stopping)
		return;
	svc->stopping = true;
	svc->stop_started_ns = svc_now_ns();
	log_info("%s: stopping (no new connections; waiting for running work)", why);
#if HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	http_server_stop_accepting(svc->http);
	svc_jobs_cancel_pending(svc);
	events_close_all(svc);
	ops_stop(svc);
	uv_timer_stop(&svc->reconcile_timer);
	uv_timer_stop(&svc->trim_timer);
	uv_timer_stop(&svc->probe_timer);
	uv_timer_start(&svc->shutdown_timer, shutdown_timer_cb, 0, 100);
}

static void on_signal(uv_signal_t *s, int signum)
{
	struct svc *svc = s->data;

	if (signum == SIGHUP) {
		/* Nothing in the config is safe to swap under running work yet except the log
		 * level; the rest needs a restart (said in cairnd(8)). */
		struct cairn_config fresh;
		struct cairn_err err = {0};

		if (conf_init_defaults(&fresh) < 0)
			return;
		if (conf_load_file(&fresh, svc->config_path, &err) < 0 ||
		    conf_validate(&fresh, &err) < 0) {
			log_err("reload: %s (keeping the running configuration)", err.msg);
		} else {
			log_setup(fresh.service.log_level, true);
			log_info("reload: log level is now %s",
			         log_level_to_string(fresh.service.log_level));
			if (strcmp(fresh.backup.cluster_conf, svc->conf->backup.cluster_conf) != 0)
				log_warn("reload: [backup] cluster_conf changed from '%s' to '%s': "
				         "it takes effect only when cairnd restarts",
				         svc->conf->backup.cluster_conf, fresh.backup.cluster_conf);
		}
		conf_release(&fresh);
		return;
	}
	svc_stop(svc, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void on_http_closed(void *userdata)
{
	(void)userdata;
}

static void svc_close_handles(struct svc *svc)
{
	uv_handle_t *handles[] = {
	        (uv_handle_t *)&svc->probe_timer, (uv_handle_t *)&svc->reconcile_timer,
	        (uv_handle_t *)&svc->trim_timer,  (uv_handle_t *)&svc->shutdown_timer,
	        (uv_handle_t *)&svc->sigterm,     (uv_handle_t *)&svc->sigint,
	        (uv_handle_t *)&svc->sighup,      (uv_handle_t *)&svc->ops_async,
	};

	for (size_t i = 0; i < ARRAY_SIZE(handles); i++)
		if (!uv_is_closing(handles[i]))
			uv_close(handles[i], on_handle_closed);
	if (svc->http)
		http_server_close(svc->http, on_http_closed, svc);
}

/* ---- start ------------------------------------------------------------------------------ */

static int svc_socket_gid(const struct cairn_config *conf, gid_t *ret)
{
	const char *g = conf->service.socket_group;
	char *end;

	*ret = (gid_t)-1;
	if (!g[0])
		return 0;
	errno = 0;
	unsigned long n = strtoul(g, &end, 10);
	if (!*end && errno == 0) {
		*ret = (gid_t)n;
		return 0;
	}
	struct group grp, *res = NULL;
	char buf[4096];
	int r = getgrnam_r(g, &grp, buf, sizeof(buf), &res);
	if (r != 0 || !res)
		return -ENOENT;
	*ret = grp.gr_gid;
	return 0;
}

static int svc_listen(struct svc *svc, struct cairn_err *err)
{
	const struct cairn_config *conf = svc->conf;
	gid_t gid;
	int r;

#if HAVE_SYSTEMD
	int n = sd_listen_fds(1);
	if (n > 0) {
		for (int i = 0; i < n; i++) {
			int fd = SD_LISTEN_FDS_START + i;
			/* a second socket unit, if any, is the read-only one */
			r = http_server_listen_fd(svc->http, fd, i > 0);
			if (r < 0)
				return err_set(err, r,
				               "cannot use the socket passed by systemd: %s",
				               strerror(-r));
		}
		log_info("serving on %d socket(s) passed by systemd", n);
		return 0;
	}
#endif
	if (svc_socket_gid(conf, &gid) < 0)
		return err_set(err, -ENOENT, "[service] socket_group: no group '%s'",
		               conf->service.socket_group);
	r = http_server_listen(svc->http, conf->service.socket, conf->service.socket_mode, gid,
	                       false);
	if (r < 0)
		return err_set(err, r, "cannot listen on '%s': %s", conf->service.socket,
		               strerror(-r));
	log_info("serving the API on %s", conf->service.socket);
	if (conf->service.readonly_socket[0]) {
		r = http_server_listen(svc->http, conf->service.readonly_socket,
		                       conf->service.socket_mode, gid, true);
		if (r < 0)
			return err_set(err, r, "cannot listen on '%s': %s",
			               conf->service.readonly_socket, strerror(-r));
		log_info("serving read-only on %s", conf->service.readonly_socket);
	}
	return 0;
}

static void svc_release(struct svc *svc)
{
	ops_release(svc);
	http_server_free(svc->http);
	svc->http = NULL;
	route_table_release(&svc->routes);
	free(svc->route_metrics);
	svc->show_cache = vol_show_cache_free(svc->show_cache);
	svc->cluster = cluster_free(svc->cluster);
	virt_conns_close(svc);
	pthread_mutex_destroy(&svc->ops_lock);
	pthread_mutex_destroy(&svc->virt_lock);
}

int svc_run(const struct cairn_config *conf, const char *config_path)
{
	struct http_limits limits = {0};
	struct svc svc_storage, *svc = &svc_storage;
	struct cairn_err err = {0};
	char threads[16];
	int r;

	memset(svc, 0, sizeof(*svc));
	svc->conf = conf;
	svc->config_path = config_path;
	svc->started_ns = svc_now_ns();
	svc->started_wall = time(NULL);
	if (gethostname(svc->hostname, sizeof(svc->hostname) - 1) < 0)
		str_copy(svc->hostname, sizeof(svc->hostname), "localhost");
	pthread_mutex_init(&svc->ops_lock, NULL);
	pthread_mutex_init(&svc->virt_lock, NULL);

	/* libuv sizes its pool from the environment at the first uv_queue_work */
	snprintf(threads, sizeof(threads), "%u", conf->service.workers);
	setenv("UV_THREADPOOL_SIZE", threads, 1);

	r = uv_loop_init(&svc->loop);
	if (r < 0) {
		log_err("cannot start the event loop: %s", uv_strerror(r));
		return r;
	}
	r = route_table_build(&svc->routes);
	if (r < 0) {
		log_err("route table: %s", strerror(-r));
		goto out_loop;
	}
	svc->route_metrics = calloc(svc->routes.n, sizeof(*svc->route_metrics));
	svc->show_cache = vol_show_cache_new(SVC_SHOW_CACHE_MAX);
	if (!svc->route_metrics || !svc->show_cache) {
		r = -ENOMEM;
		goto out_loop;
	}

	log_info("cairnd %s starting; connecting to the cluster with %s as client.%s",
	         CAIRN_VERSION, conf->ceph.conf, conf->ceph.user);
	r = cluster_connect(conf, &svc->cluster, &err);
	if (r < 0) {
		log_err("%s", err.msg);
		goto out_loop;
	}
	svc->cluster_up = true;
	r = pools_ensure(svc->cluster, &err);
	if (r < 0) {
		log_err("%s", err.msg);
		goto out_loop;
	}
	svc->pools_ready = true;

	uv_timer_init(&svc->loop, &svc->probe_timer);
	uv_timer_init(&svc->loop, &svc->reconcile_timer);
	uv_timer_init(&svc->loop, &svc->trim_timer);
	uv_timer_init(&svc->loop, &svc->shutdown_timer);
	ops_init(svc);

	limits.max_header = conf->service.max_header;
	limits.max_body = conf->service.max_body;
	limits.max_connections = conf->service.max_connections;
	limits.idle_timeout_ms = 60000;
	limits.max_stream_backlog = 1 << 20;
	r = http_server_new(&svc->loop, &limits, on_request, svc, &svc->http);
	if (r < 0) {
		log_err("cannot create the http server: %s", strerror(-r));
		goto out_handles;
	}
	http_server_on_refused(svc->http, on_refused);
	r = svc_listen(svc, &err);
	if (r < 0) {
		log_err("%s", err.msg);
		goto out_handles;
	}

	ops_recover(svc);
	svc_background_start(svc);

	uv_signal_init(&svc->loop, &svc->sigterm);
	uv_signal_init(&svc->loop, &svc->sigint);
	uv_signal_init(&svc->loop, &svc->sighup);
	svc->sigterm.data = svc->sigint.data = svc->sighup.data = svc;
	uv_signal_start(&svc->sigterm, on_signal, SIGTERM);
	uv_signal_start(&svc->sigint, on_signal, SIGINT);
	uv_signal_start(&svc->sighup, on_signal, SIGHUP);
	signal(SIGPIPE, SIG_IGN);

#if HAVE_SYSTEMD
	sd_notify(0, "READY=1");
#endif
	log_info("ready");
	uv_run(&svc->loop, UV_RUN_DEFAULT);
	r = 0;
	goto out_close;

out_handles:
	svc_close_handles(svc);
out_close:
	/* let close callbacks (and, after uv_stop, stragglers) run */
	while (uv_loop_alive(&svc->loop) && uv_run(&svc->loop, UV_RUN_NOWAIT) != 0)
		if (svc->jobs_queued) /* jobs left after the shutdown timeout: wait for them */
			uv_run(&svc->loop, UV_RUN_ONCE);
	if (uv_loop_close(&svc->loop) != 0)
		log_warn("event loop closed with handles left open");
	svc_release(svc);
	if (r == 0)
		log_info("stopped");
	return r;
out_loop:
	uv_loop_close(&svc->loop);
	svc_release(svc);
	return r;
}
