/* SPDX-License-Identifier: MIT */
/* The core routes: health, pools, operations, events, metrics. */
#define LOG_MODULE "svc"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "svc/svc-internal.h"

/* ---- health ----------------------------------------------------------------------------- */

/* How long a failed check of the backup cluster stands before health tries it again. */
#define HEALTH_BACKUP_RECHECK_MS 30000

/* The backup cluster of [backup] cluster_conf, as its last check found it; NULL: none. */
static struct json_object *health_backup_json(struct svc *svc)
{
	struct cluster_backup_status st;
	struct json_object *o;

	cluster_backup_status(svc->cluster, &st);
	if (!st.configured)
		return NULL;
	o = json_object_new_object();
	if (!o)
		return NULL;
	json_add_string(o, "conf", st.conf);
	json_add_bool(o, "reachable", st.reachable);
	json_add_string(o, "fsid", st.fsid);
	json_add_string(o, "pool", st.pool);
	json_add_bool(o, "pool_ready", st.pool_ready);
	if (!st.reachable)
		json_add_string(o, "error", st.checked ? st.error : "not checked yet");
	return o;
}

static struct json_object *health_json(struct svc *svc, bool reachable, const char *why,
                                       struct json_object *missing)
{
	struct json_object *o = json_object_new_object(), *cl = json_object_new_object(),
	                   *pools = json_object_new_object(), *bk = health_backup_json(svc);
	char fsid[37] = "";
	bool ready = reachable && json_object_array_length(missing) == 0;
	bool backup_ok = true;

	if (!o || !cl || !pools) {
		json_object_put(o);
		json_object_put(cl);
		json_object_put(pools);
		json_object_put(missing);
		json_object_put(bk);
		return NULL;
	}
	if (bk) {
		struct json_object *v;
		backup_ok = json_object_object_get_ex(bk, "reachable", &v) &&
		            json_object_get_boolean(v);
	}
	cluster_fsid(svc->cluster, fsid);
	json_add_string(o, "status", ready && backup_ok ? "ok" : "degraded");
	json_add_string(o, "version", CAIRN_VERSION);
	json_add_uint(o, "uptime", (svc_now_ns() - svc->started_ns) / 1000000000ULL);
	json_add_string(o, "host", svc->hostname);
	json_add_bool(cl, "reachable", reachable);
	json_add_string(cl, "fsid", fsid);
	if (why)
		json_add_string(cl, "error", why);
	json_add(o, "cluster", cl);
	if (bk)
		json_add(o, "backup_cluster", bk);
	json_add_bool(pools, "ready", ready);
	json_add(pools, "missing", missing);
	json_add(o, "pools", pools);
	return o;
}

static void health_work(struct svc_call *call)
{
	struct json_object *missing = json_object_new_array();
	struct cairn_err err = {0}, berr = {0};
	bool reachable = true;
	int r;

	r = cluster_ping(call->svc->cluster, &err);
	if (r < 0) {
		reachable = false;
		/* the health answer is a 200 that says degraded; health_after notes the outage */
		call->status = 200;
	} else {
		for (int role = 0; role < POOL_ROLE_MAX; role++) {
			const char *name = conf_pool_name(call->svc->conf, (enum pool_role)role);
			if (role == POOL_ROLE_BACKUPS && cluster_has_backup(call->svc->cluster))
				continue; /* in the backup cluster: "backup_cluster" tells */
			if (rados_pool_lookup(cluster_rados(call->svc->cluster), name) < 0)
				json_object_array_add(missing, json_object_new_string(name));
		}
	}
	/*
	 * The backup cluster: pinged when it was up at its last check (quick), or when that
	 * check failed long enough ago; meanwhile what backups and the last check found
	 * stands, so that polling health does not tie a worker up for the timeouts.
	 */
	{
		struct cluster_backup_status st;

		cluster_backup_status(call->svc->cluster, &st);
		if (st.configured &&
		    (st.reachable || !st.checked || st.checked_ago >= HEALTH_BACKUP_RECHECK_MS))
			cluster_backup_check(call->svc->cluster, &berr);
	}
	call->data = (void *)(intptr_t)r;
	call->reply = health_json(call->svc, reachable, reachable ? NULL : err.msg, missing);
}

static bool health_after(struct svc_call *call)
{
	int r = (int)(intptr_t)call->data;

	call->data = NULL;
	svc_note_result(call->svc, r); /* the loop thread owns reachability */
	return false;
}

static void route_health(struct svc_call *call)
{
	if (!call->svc->cluster_up) {
		call_reply_json(call, 200,
		                health_json(call->svc, false, "unreachable; cairnd retries",
		                            json_object_new_array()));
		return;
	}
	call->after_fn = health_after;
	call_submit(call, health_work, false);
}

/* ---- pools ------------------------------------------------------------------------------ */

static void pools_work(struct svc_call *call)
{
	struct pool_info info[POOL_ROLE_MAX];
	struct json_object *arr;

	if (call->data && pools_ensure(call->svc->cluster, &call->err) < 0)
		return;
	if (pools_list(call->svc->cluster, info, &call->err) < 0)
		return;
	call->reply = json_object_new_object();
	arr = json_object_new_array();
	for (int i = 0; i < POOL_ROLE_MAX; i++)
		json_object_array_add(arr, pool_info_to_json(&info[i]));
	json_add(call->reply, "pools", arr);
}

static void route_pools_list(struct svc_call *call)
{
	call_submit(call, pools_work, false);
}

static void route_pools_init(struct svc_call *call)
{
	static const struct jfield no_fields[] = {{NULL, 0, 0, 0, NULL}};

	if (call_parse_body(call, no_fields, NULL, NULL) < 0)
		return;
	call->data = (void *)1; /* ensure first */
	call_submit(call, pools_work, true);
}

/* ---- metrics ---------------------------------------------------------------------------- */

static void route_metrics(struct svc_call *call)
{
	char *text = svc_metrics_render(call->svc);

	if (!text) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return;
	}
	call_reply_text(call, 200, "text/plain; version=0.0.4", text, strlen(text));
	free(text);
}

const struct route routes_core[] = {
        {HTTP_METHOD_GET, "/metrics", route_metrics, 0, "Prometheus metrics"},
        {HTTP_METHOD_GET, "/v1/events", route_events, ROUTE_STREAM, "stream of JSON events"},
        {HTTP_METHOD_GET, "/v1/health", route_health, 0, "health of cairnd and the cluster"},
        {HTTP_METHOD_GET, "/v1/operations", route_ops_list, ROUTE_CLUSTER, "list operations"},
        {HTTP_METHOD_GET, "/v1/operations/{id}", route_op_get, ROUTE_CLUSTER, "show an operation"},
        {HTTP_METHOD_DELETE, "/v1/operations/{id}", route_op_cancel, ROUTE_MUTATING,
         "cancel an operation"},
        {HTTP_METHOD_GET, "/v1/operations/{id}/wait", route_op_wait, ROUTE_CLUSTER,
         "wait for an operation to end"},
        {HTTP_METHOD_GET, "/v1/pools", route_pools_list, ROUTE_CLUSTER, "list pools"},
        {HTTP_METHOD_POST, "/v1/pools/init", route_pools_init, ROUTE_MUTATING | ROUTE_CLUSTER,
         "create and initialise the configured pools"},
        {0, NULL, NULL, 0, NULL},
};
