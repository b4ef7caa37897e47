/* SPDX-License-Identifier: MIT */
/*
 * svc internals shared by the files of svc/: the daemon's one context, requests in
 * handling (calls), jobs on the thread pool, operations, events and metrics.
 */
#ifndef CAIRN_SVC_INTERNAL_H
#define CAIRN_SVC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/common.h"
#include "common/json.h"
#include "conf/conf.h"
#include "pools/pools.h"
#include "svc/http.h"

struct vol_show_cache;
#define SVC_SHOW_CACHE_MAX 1024 /* volumes whose GET reply is kept */

struct svc;
struct svc_call;
struct op;

/* ---- routes ------------------------------------------------------------------------------ */

enum {
	ROUTE_MUTATING = 1 << 0, /* changes something: refused on the read-only socket, logged */
	ROUTE_CLUSTER = 1 << 1,  /* needs Ceph: a prompt 503 while the cluster is unreachable */
	ROUTE_STREAM = 1 << 2,   /* long-lived streaming answer */
};

#define ROUTE_PARAMS_MAX 4

struct route {
	enum http_method method;
	const char *pattern; /* "/v1/volumes/{name}/snapshots/{snap}" */
	void (*handler)(struct svc_call *call);
	unsigned flags;
	const char *usage;
};

/* Each module's table, merged at start (svc/routes.c). */
extern const struct route routes_core[];
extern const struct route routes_volumes[];
extern const struct route routes_virt[];
extern const struct route routes_backups[];

struct route_table {
	const struct route **entries; /* sorted by pattern, then method */
	size_t n;
};

int route_table_build(struct route_table *t);
void route_table_release(struct route_table *t);
/*
 * Find the route of method and path; params receive the {} segments (pointers into
 * scratch, a copy of the path). -ENOENT: no such path; -ENOTSUP: path known, method not
 * (allow receives the allowed methods, "GET, POST").
 */
int route_match(const struct route_table *t, enum http_method method, const char *path,
                char *scratch, size_t scratch_len, const char *params[ROUTE_PARAMS_MAX],
                const struct route **ret, char *allow, size_t allow_len);
/* A route's metrics label, its pattern. Index in the table for counters. */
size_t route_index(const struct route_table *t, const struct route *r);

/* ---- a request in handling ---------------------------------------------------------------- */

typedef void (*call_work_fn)(struct svc_call *call);

struct svc_call {
	struct svc *svc;
	struct http_request *req;
	const struct route *route;
	const char *params[ROUTE_PARAMS_MAX];
	char scratch[512];
	uint64_t start_ns;
	struct json_object *body; /* parsed request body, when the route takes one */

	/* filled by work on a worker thread, answered on the loop thread */
	uv_work_t work;
	call_work_fn work_fn;
	/* optional, loop thread, after a successful work_fn; true when it answered the call */
	bool (*after_fn)(struct svc_call *call);
	bool slow;
	int status;                /* HTTP status of a success */
	struct json_object *reply; /* success body */
	struct cairn_err err;      /* failure */
	void *data;                /* the handler's own state */
	void (*data_free)(void *data);

	/* Idempotency-Key of a mutating request: the first answer is stored and replayed */
	char idem_key[NAME_MAX_LEN + 1];
	char *idem_record; /* the stored answer found by the lookup */
	int idem_status;   /* the answer being stored */
	char *idem_body;
};

/* Start handling a matched call: the idempotency lookup if any, then the handler. */
void call_dispatch(struct svc_call *call);

/* Answer a call (each frees the call). reply's reference is taken. */
void call_reply_json(struct svc_call *call, int status, struct json_object *reply);
void call_reply_text(struct svc_call *call, int status, const char *content_type, const char *body,
                     size_t len);
void call_reply_error(struct svc_call *call, int code, const char *fmt, ...) _printf_(3, 4);
void call_reply_err(struct svc_call *call, const struct cairn_err *err);

/*
 * Run work on the thread pool, then answer on the loop thread: call->err when set,
 * otherwise call->status with call->reply. Slow work may use at most half the workers.
 * When the queue is full the call is answered 503 at once.
 */
void call_submit(struct svc_call *call, call_work_fn work, bool slow);

/* Parse the body into call->body (answers 400 and returns < 0 on failure). */
int call_parse_body(struct svc_call *call, const struct jfield *table, void *target,
                    uint64_t *ret_present);
/* A JF_CUSTOM check: field is an array of 1 to 64 distinct volume names (a json_object *). */
int call_check_volume_list(struct json_object *v, void *field, const char *name,
                           struct cairn_err *err);
/* Validate the {} parameter i as a name (answers 400 and returns < 0 on failure). */
int call_param_name(struct svc_call *call, int i, const char *what);

/* ---- jobs without a request (background work, operations) ------------------------------- */

struct svc_job;
typedef void (*svc_job_fn)(struct svc_job *job);

struct svc_job {
	uv_work_t work;
	struct svc *svc;
	bool slow;
	svc_job_fn work_fn; /* worker thread */
	svc_job_fn done_fn; /* loop thread, then the job is freed with data_free(data) */
	void *data;
	void (*data_free)(void *data);
	int result;
	struct cairn_err err;
};

int svc_job_submit(struct svc *svc, svc_job_fn work, svc_job_fn done, bool slow, void *data,
                   void (*data_free)(void *));

/* ---- operations ------------------------------------------------------------------------- */

enum op_status {
	OP_QUEUED,
	OP_RUNNING,
	OP_SUCCEEDED,
	OP_FAILED,
	OP_CANCELED,
	OP_STATUS_MAX,
};
const char *op_status_to_string(enum op_status s);
int op_status_from_string(const char *s);

/*
 * The work of an operation, on a worker thread: do it, report progress through
 * progress, return 0 and *ret_result (the resource, may be NULL) or a negative errno
 * with err set.
 */
typedef int (*op_work_fn)(struct svc *svc, void *data, struct cairn_progress *progress,
                          struct json_object **ret_result, struct cairn_err *err);

/*
 * Start an operation: records it in RADOS (on the worker), runs work there, records the
 * end. Returns the operation as JSON (new reference) for the 202 answer, or NULL when
 * out of memory. data is freed with data_free when the operation ends.
 * When the work cannot be queued (the slow-work queue is full: -EAGAIN), no operation is
 * made, data is freed at once, and the JSON returned is an error document
 * {"error": {"code": 503, "reason": "overloaded", "message"}} without an id, which
 * call_reply_json(call, 202, it) answers as that error.
 */
struct json_object *op_start(struct svc *svc, const char *kind, const char *resource_kind,
                             const char *resource_name, op_work_fn work, void *data,
                             void (*data_free)(void *), char ret_id[UUID_STR_LEN]);

/* An operation of kind on resource name that has not ended, as JSON (new reference). */
struct json_object *op_find_active(struct svc *svc, const char *kind, const char *name);

/* ---- events ----------------------------------------------------------------------------- */

/* Send one event (a JSON object, reference taken) to every subscriber. Loop thread. */
void events_publish(struct svc *svc, struct json_object *event);
/* Same for a resource state change: {"type": kind, "action", "name", ...}. */
void events_resource(struct svc *svc, const char *kind, const char *action, const char *name);

/* ---- the daemon's one context ------------------------------------------------------------ */

#define METRIC_BUCKETS        12
#define METRIC_STATUS_CLASSES 5

struct route_metrics {
	uint64_t by_status[METRIC_STATUS_CLASSES]; /* 1xx..5xx */
	uint64_t latency_buckets[METRIC_BUCKETS];  /* cumulative at render time */
	double latency_sum;
	uint64_t count;
};

struct svc {
	uv_loop_t loop;
	const struct cairn_config *conf;
	const char *config_path;
	struct cluster *cluster;
	struct http_server *http;
	struct route_table routes;
	char hostname[256];
	uint64_t started_ns;
	time_t started_wall;

	/* cluster reachability, loop thread only */
	bool cluster_up;
	bool pools_ready;
	uv_timer_t probe_timer;
	bool probe_running;

	/* thread pool accounting, loop thread only */
	unsigned jobs_queued; /* submitted to libuv, not finished */
	unsigned slow_running;
	struct svc_slow_pending *slow_head, *slow_tail; /* slow jobs waiting for a slot */
	unsigned slow_pending;
	bool unbudgeted; /* svc_jobs_cancel_pending runs: what it submits is never turned away */

	/* operations */
	struct op *ops;           /* list, loop thread only */
	uv_async_t ops_async;     /* a worker changed an operation's progress */
	pthread_mutex_t ops_lock; /* guards progress fields written by workers */

	/* events */
	struct svc_subscriber *subscribers;

	/* background: reconcile and purge */
	uv_timer_t reconcile_timer;
	uv_timer_t trim_timer; /* gives freed memory back once large replies stop (call.c) */
	bool reconcile_running;
	bool reconciled_once; /* the first pass after start settles this host's intents */
	uint64_t reconciled_ms, purged_ms; /* when those passes last started (uv_now) */
	bool run_reconcile, run_purge;     /* what the running job does */

	/* signals */
	uv_signal_t sigterm, sigint, sighup;
	bool stopping;
	uv_timer_t shutdown_timer;
	uint64_t stop_started_ns;

	/* libvirt connections, one per URI, opened on workers (svc/routes-virt.c) */
	pthread_mutex_t virt_lock;
	struct virt_conn *virt_conns;

	/* metrics */
	struct route_metrics *route_metrics; /* one per route */
	uint64_t unmatched_by_status[HTTP_METHOD_MAX][METRIC_STATUS_CLASSES];
	struct vol_show_cache *show_cache; /* GET of a volume: replies kept a moment */
	uint64_t cluster_errors;
	uint64_t requests_rejected;
};

uint64_t svc_now_ns(void);
/* A job (or call) ended with r: notes cluster trouble to turn later calls into prompt 503s. */
void svc_note_result(struct svc *svc, int r);
/*
 * A volume changed, or turned out to be gone (a 404 here after another host deleted it):
 * no GET reply kept before this is given again (routes-volumes.c; any thread).
 */
void svc_show_changed(struct svc *svc);
void svc_metrics_observe(struct svc *svc, const struct route *route, int status,
                         uint64_t duration_ns);
/* A request answered without a route (unknown path or method, or refused by svc/http
 * before routing): counted under route="unmatched". */
void svc_metrics_unmatched(struct svc *svc, enum http_method method, int status);
char *svc_metrics_render(struct svc *svc);

/* Operations by kind and state, for the cairn_operations gauge. */
#define METRIC_OP_KIND_MAX 48
struct metric_op_kind {
	char kind[METRIC_OP_KIND_MAX];
	unsigned by_state[OP_STATUS_MAX];
};
struct metric_op_counts {
	struct metric_op_kind *v;
	size_t n, cap;
};
/* Seeds the kinds cairnd starts, so that each is shown (at 0) before its first operation. */
int metric_op_counts_init(struct metric_op_counts *c);
/* Counts one operation; a kind not seen yet is added. */
int metric_op_counts_add(struct metric_op_counts *c, const char *kind, enum op_status s);
void metric_op_counts_release(struct metric_op_counts *c);
/* The cairn_operations block of /metrics (HELP, TYPE, one line per kind and state, label
 * values escaped); NULL when out of memory. Pure: unit tested. */
char *metric_operations_text(const struct metric_op_counts *c);

/* The domain's background passes (reconcile, purge), run in order by svc/background.c. */
struct svc_background_pass {
	const char *name;
	int (*run)(struct svc *svc, struct cairn_err *err);
	bool purge; /* on [volumes] purge_interval, not [service] reconcile_interval */
};
extern const struct svc_background_pass svc_background_passes[];
void svc_background_start(struct svc *svc);

void virt_conns_close(struct svc *svc);

void ops_init(struct svc *svc);
void ops_release(struct svc *svc);
void ops_recover(struct svc *svc); /* at start: mark this host's interrupted operations */
void ops_stop(struct svc *svc);    /* answer every waiter (daemon stop) */
/* stop, after shutdown_timeout: ask every running operation to stop ("interrupted") */
void ops_interrupt(struct svc *svc);
void events_close_all(struct svc *svc);
void svc_jobs_cancel_pending(struct svc *svc); /* stop: slow jobs not started end canceled */
void call_reply_method_not_allowed(struct svc_call *call, const char *allow);

/* the core routes' handlers (svc/ops.c) */
void route_ops_list(struct svc_call *call);
void route_op_get(struct svc_call *call);
void route_op_wait(struct svc_call *call);
void route_op_cancel(struct svc_call *call);
void route_events(struct svc_call *call);
int svc_ops_count(struct svc *svc, struct metric_op_counts *c);

#endif
