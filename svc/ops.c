/* SPDX-License-Identifier: MIT */
/*
 * Operations: long work answered 202 at once and followed through /v1/operations. Each
 * operation is a record in RADOS (DIR_OPERATIONS) written when it starts and when it
 * ends, so every cairnd sees it and a restarted one never forgets it: on start, this
 * host's operations that were still queued or running are marked failed ("interrupted").
 * Progress lives in memory, written by the worker under ops_lock and published as
 * events from the loop thread (uv_async, coalesced).
 */
#define LOG_MODULE "ops"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "svc/svc-internal.h"

struct op_waiter {
	struct op_waiter *next;
	struct svc_call *call;
	uv_timer_t timer;
	struct op *op;
};

struct op {
	struct op *next;
	struct svc *svc;
	char id[UUID_STR_LEN];
	char kind[METRIC_OP_KIND_MAX];
	char resource_kind[24];
	char resource_name[NAME_MAX_LEN + 1];
	time_t created, updated, ended;

	/* written by the worker under svc->ops_lock */
	enum op_status status;
	uint64_t done, total;
	bool dirty;
	atomic_bool cancel;
	atomic_bool interrupt; /* the cancel is cairnd's stop (ops_interrupt), not a client's */
	bool recording;        /* a job writes its record (loop thread only) */

	struct cairn_err err;
	struct json_object *result;
	op_work_fn work;
	void *data;
	void (*data_free)(void *);
	struct cairn_progress progress;
	struct op_waiter *waiters;
};

static const char *const op_status_names[OP_STATUS_MAX] = {
        [OP_QUEUED] = "queued", [OP_RUNNING] = "running",   [OP_SUCCEEDED] = "succeeded",
        [OP_FAILED] = "failed", [OP_CANCELED] = "canceled",
};

const char *op_status_to_string(enum op_status s)
{
	return (unsigned)s < OP_STATUS_MAX ? op_status_names[s] : NULL;
}

int op_status_from_string(const char *s)
{
	for (int i = 0; i < OP_STATUS_MAX; i++)
		if (strcmp(op_status_names[i], s) == 0)
			return i;
	return -EINVAL;
}

static bool op_status_final(enum op_status s)
{
	return s == OP_SUCCEEDED || s == OP_FAILED || s == OP_CANCELED;
}

static void time_rfc3339(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The operation as JSON; call with ops_lock held when a worker may write. */
static struct json_object *op_to_json_locked(const struct op *op)
{
	struct json_object *o = json_object_new_object(), *res = json_object_new_object();
	char created[32], updated[32];
	int pct = 0;

	if (!o || !res) {
		json_object_put(o);
		json_object_put(res);
		return NULL;
	}
	if (op->total)
		pct = (int)((op->done * 100) / op->total);
	if (op->status == OP_SUCCEEDED)
		pct = 100;
	time_rfc3339(op->created, created);
	time_rfc3339(op->updated, updated);
	json_add_string(res, "kind", op->resource_kind);
	json_add_string(res, "name", op->resource_name);
	if (json_add_string(o, "id", op->id) < 0 || json_add_string(o, "kind", op->kind) < 0 ||
	    json_add_string(o, "status", op_status_to_string(op->status)) < 0 ||
	    json_add_int(o, "progress", pct) < 0 || json_add_uint(o, "bytes_done", op->done) < 0 ||
	    json_add_uint(o, "bytes_total", op->total) < 0 || json_add(o, "resource", res) < 0 ||
	    json_add_string(o, "created", created) < 0 ||
	    json_add_string(o, "updated", updated) < 0 ||
	    json_add_string(o, "host", op->svc->hostname) < 0) {
		json_object_put(o);
		return NULL;
	}
	if (op->err.code) {
		struct json_object *e = json_object_new_object();
		json_add_int(e, "code", err_http_status(op->err.code));
		json_add_string(e, "reason", err_reason(op->err.code));
		json_add_string(e, "message", op->err.msg);
		json_add(o, "error", e);
	} else {
		json_add_string(o, "error", NULL);
	}
	if (op->result)
		json_add(o, "result", json_object_get(op->result));
	else
		json_add_string(o, "result", NULL);
	return o;
}

static struct json_object *op_to_json(struct op *op)
{
	struct json_object *o;

	pthread_mutex_lock(&op->svc->ops_lock);
	o = op_to_json_locked(op);
	pthread_mutex_unlock(&op->svc->ops_lock);
	return o;
}

static struct op *op_find(struct svc *svc, const char *id)
{
	for (struct op *op = svc->ops; op; op = op->next)
		if (strcmp(op->id, id) == 0)
			return op;
	return NULL;
}

static void op_publish(struct op *op)
{
	struct json_object *ev = json_object_new_object();

	if (!ev)
		return;
	json_add_string(ev, "type", "operation");
	json_add(ev, "operation", op_to_json(op));
	events_publish(op->svc, ev);
}

/* ---- waiters ---------------------------------------------------------------------------- */

static void waiter_closed(uv_handle_t *h)
{
	free(container_of((uv_timer_t *)h, struct op_waiter, timer));
}

static void waiter_answer(struct op_waiter *w)
{
	struct op *op = w->op;
	struct op_waiter **pp;

	for (pp = &op->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	call_reply_json(w->call, 200, op_to_json(op));
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void waiter_timeout(uv_timer_t *t)
{
	waiter_answer(container_of(t, struct op_waiter, timer));
}

static void op_wake_waiters(struct op *op)
{
	while (op->waiters)
		waiter_answer(op->waiters);
}

/* ---- the work --------------------------------------------------------------------------- */

static void op_progress_report(struct cairn_progress *p, uint64_t done, uint64_t total)
{
	struct op *op = container_of(p, struct op, progress);

	pthread_mutex_lock(&op->svc->ops_lock);
	op->done = done;
	op->total = total;
	op->updated = time(NULL);
	op->dirty = true;
	pthread_mutex_unlock(&op->svc->ops_lock);
	uv_async_send(&op->svc->ops_async);
}

static bool op_cancel_requested(struct cairn_progress *p)
{
	struct op *op = container_of(p, struct op, progress);

	return atomic_load(&op->cancel);
}

static int op_persist(struct op *op, bool first, struct cairn_err *err)
{
	struct json_object *o = op_to_json(op);
	const char *text;
	int r;

	if (!o)
		return err_set(err, -ENOMEM, "out of memory");
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (first)
		r = dir_insert(op->svc->cluster, DIR_OPERATIONS, op->id, op->id, text, err);
	else
		r = dir_update(op->svc->cluster, DIR_OPERATIONS, op->id, NULL, text, err);
	json_object_put(o);
	return r;
}

static void op_job_work(struct svc_job *job)
{
	struct op *op = job->data;
	struct json_object *result = NULL;
	struct cairn_err err = {0};
	int r;

	pthread_mutex_lock(&op->svc->ops_lock);
	op->status = OP_RUNNING;
	op->updated = time(NULL);
	op->dirty = true;
	pthread_mutex_unlock(&op->svc->ops_lock);
	uv_async_send(&op->svc->ops_async);

	r = op_persist(op, true, &err);
	if (r >= 0) {
		if (atomic_load(&op->cancel))
			r = err_set(&err, -ECANCELED, "canceled before it started");
		else
			r = op->work(op->svc, op->data, &op->progress, &result, &err);
	}

	if (r == -ENOENT)
		svc_show_changed(op->svc); /* gone meanwhile, maybe through another host */
	pthread_mutex_lock(&op->svc->ops_lock);
	if (r == -ECANCELED && atomic_load(&op->interrupt)) {
		/* the same end as one a restarted cairnd finds (ops_recover) */
		op->status = OP_FAILED;
		err_set(&op->err, -EINTR,
		        "cairnd stopped while this operation ran: it did not end within "
		        "[service] shutdown_timeout and was stopped (%s)",
		        err.msg);
	} else if (r < 0) {
		op->status = r == -ECANCELED ? OP_CANCELED : OP_FAILED;
		op->err = err;
		if (!op->err.code)
			err_set(&op->err, r, "%s", strerror(-r));
	} else {
		op->status = OP_SUCCEEDED;
		op->result = result;
		result = NULL;
	}
	op->updated = op->ended = time(NULL);
	pthread_mutex_unlock(&op->svc->ops_lock);
	json_object_put(result);

	/* the end is recorded for every host to see; a failure to record it is logged */
	err_clear(&err);
	if (op_persist(op, false, &err) < 0)
		log_warn("operation %s: cannot record its end: %s", op->id, err.msg);
	job->result = op->status == OP_FAILED ? op->err.code : 0;
}

static void op_free_data(struct op *op)
{
	if (op->data_free)
		op->data_free(op->data);
	op->data = NULL;
	op->data_free = NULL;
}

static void op_record_work(struct svc_job *job)
{
	struct op *op = job->data;
	struct cairn_err err = {0};

	if (op_persist(op, true, &err) < 0)
		log_warn("operation %s: cannot record its end: %s", op->id, err.msg);
}

static void op_record_done(struct svc_job *job)
{
	struct op *op = job->data;

	op->recording = false;
}

static void op_job_done(struct svc_job *job)
{
	struct op *op = job->data;

	if (op->status == OP_QUEUED) {
		/* a stop canceled it before a worker took it (svc_jobs_cancel_pending) */
		op->status = OP_FAILED;
		err_set(&op->err, -EINTR,
		        "cairnd stopped before this operation started: nothing "
		        "was done");
		op->updated = op->ended = time(NULL);
		/* it has no record yet: write one, or a restarted cairnd would not know it (the
		 * stop waits for this quick job) */
		if (svc_job_submit(op->svc, op_record_work, op_record_done, false, op, NULL) == 0)
			op->recording = true;
		else
			log_warn("operation %s: cannot record its end", op->id);
	}
	if (op->status == OP_FAILED)
		log_info("operation %s (%s %s) failed: %s", op->id, op->kind, op->resource_name,
		         op->err.msg);
	else
		log_info("operation %s (%s %s) %s", op->id, op->kind, op->resource_name,
		         op_status_to_string(op->status));
	op_free_data(op);
	op_publish(op);
	op_wake_waiters(op);
}

/* The answer to a request whose operation could not start: an error document, no id. */
static struct json_object *op_refusal(int code, const char *fmt, ...) _printf_(2, 3);

static struct json_object *op_refusal(int code, const char *fmt, ...)
{
	struct json_object *o = json_object_new_object(), *e = json_object_new_object();
	struct cairn_err err = {0};
	va_list ap;

	va_start(ap, fmt);
	err_setv(&err, code, fmt, ap);
	va_end(ap);
	if (!o || !e || json_add(o, "error", e) < 0) {
		json_object_put(o);
		json_object_put(e);
		return NULL;
	}
	if (json_add_int(e, "code", err_http_status(code)) < 0 ||
	    json_add_string(e, "reason", err_reason(code)) < 0 ||
	    json_add_string(e, "message", err.msg) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

struct json_object *op_start(struct svc *svc, const char *kind, const char *resource_kind,
                             const char *resource_name, op_work_fn work, void *data,
                             void (*data_free)(void *), char ret_id[UUID_STR_LEN])
{
	struct op *op = calloc(1, sizeof(*op));
	int r;

	if (!op || uuid_generate_str(op->id) < 0) {
		free(op);
		if (data_free)
			data_free(data);
		return NULL;
	}
	op->svc = svc;
	str_copy(op->kind, sizeof(op->kind), kind);
	str_copy(op->resource_kind, sizeof(op->resource_kind), resource_kind);
	str_copy(op->resource_name, sizeof(op->resource_name), resource_name);
	op->created = op->updated = time(NULL);
	op->status = OP_QUEUED;
	op->work = work;
	op->data = data;
	op->data_free = data_free;
	op->progress.report = op_progress_report;
	op->progress.cancel_requested = op_cancel_requested;
	if (ret_id) /* before the job starts: the work may read it */
		memcpy(ret_id, op->id, UUID_STR_LEN);

	/*
	 * The job's data is the op itself, which outlives the job. When the job cannot be
	 * queued (the slow-work queue is full), there is no operation: nobody could ever
	 * follow one that failed before it was answered, so the request itself gets the error.
	 */
	r = svc_job_submit(svc, op_job_work, op_job_done, true, op, NULL);
	if (r < 0) {
		unsigned waiting = svc->slow_pending;

		op_free_data(op);
		free(op);
		if (r == -EAGAIN)
			return op_refusal(
			        -EAGAIN,
			        "cairnd is busy: %u long jobs are waiting for a worker "
			        "([service] queue_max), no operation was started: try again "
			        "later",
			        waiting);
		return op_refusal(r, "cannot start the operation: %s", strerror(-r));
	}
	/* the worker never touches the list: linking after the submit is safe on the loop */
	op->next = svc->ops;
	svc->ops = op;
	op_publish(op);
	return op_to_json(op);
}

/* ---- loop side: progress events and the sweep of old operations ------------------------ */

static void ops_async_cb(uv_async_t *a)
{
	struct svc *svc = container_of(a, struct svc, ops_async);
	time_t now = time(NULL);
	struct op **pp = &svc->ops;

	for (struct op *op = svc->ops; op; op = op->next) {
		bool dirty;

		pthread_mutex_lock(&svc->ops_lock);
		dirty = op->dirty;
		op->dirty = false;
		pthread_mutex_unlock(&svc->ops_lock);
		if (dirty && !op_status_final(op->status))
			op_publish(op);
	}
	/* forget finished operations after the retention time (their record stays in RADOS
	 * until the background sweep removes it) */
	while (*pp) {
		struct op *op = *pp;
		if (op_status_final(op->status) && op->ended && !op->waiters && !op->data &&
		    !op->recording &&
		    now - op->ended > (time_t)svc->conf->service.operation_retention) {
			*pp = op->next;
			json_object_put(op->result);
			free(op);
			continue;
		}
		pp = &op->next;
	}
}

void ops_init(struct svc *svc)
{
	uv_async_init(&svc->loop, &svc->ops_async, ops_async_cb);
}

void ops_release(struct svc *svc)
{
	while (svc->ops) {
		struct op *op = svc->ops;
		svc->ops = op->next;
		op_free_data(op);
		json_object_put(op->result);
		free(op);
	}
}

struct recover_ctx {
	struct svc *svc;
	unsigned marked;
};

static int recover_one(const char *id, const char *record, void *userdata)
{
	struct recover_ctx *rc = userdata;
	_cleanup_(json_putp) struct json_object *o = json_tokener_parse(record);
	const char *status = json_get_string(o, "status"), *host = json_get_string(o, "host");
	struct json_object *e;
	struct cairn_err err = {0};

	if (!o || !status || !host || strcmp(host, rc->svc->hostname) != 0)
		return 0;
	if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
		return 0;
	json_object_object_add(o, "status", json_object_new_string("failed"));
	e = json_object_new_object();
	json_add_int(e, "code", 500);
	json_add_string(e, "reason", "interrupted");
	json_add_string(e, "message",
	                "cairnd stopped while this operation ran; reconcile rolled it back or "
	                "finished it");
	json_object_object_add(o, "error", e);
	if (dir_update(rc->svc->cluster, DIR_OPERATIONS, id, record,
	               json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), &err) == 0)
		rc->marked++;
	return 0;
}

void ops_recover(struct svc *svc)
{
	struct recover_ctx rc = {.svc = svc};
	struct cairn_err err = {0};

	if (dir_list(svc->cluster, DIR_OPERATIONS, recover_one, &rc, &err) < 0) {
		log_warn("cannot read the operations of the last run: %s", err.msg);
		return;
	}
	if (rc.marked)
		log_info("marked %u interrupted operation(s) of this host as failed", rc.marked);
}

/* ---- routes ----------------------------------------------------------------------------- */

struct ops_list {
	struct json_object *array;
	const char *status_filter, *kind_filter;
};

static int ops_list_one(const char *id, const char *record, void *userdata)
{
	struct ops_list *l = userdata;
	struct json_object *o = json_tokener_parse(record);
	const char *s, *k;

	if (!o)
		return 0;
	s = json_get_string(o, "status");
	k = json_get_string(o, "kind");
	if ((l->status_filter && (!s || strcmp(s, l->status_filter) != 0)) ||
	    (l->kind_filter && (!k || strcmp(k, l->kind_filter) != 0))) {
		json_object_put(o);
		return 0;
	}
	json_object_array_add(l->array, o);
	return 0;
}

static void ops_list_work(struct svc_call *call)
{
	struct ops_list *l = call->data;

	l->array = json_object_new_array();
	if (!l->array) {
		err_set(&call->err, -ENOMEM, "out of memory");
		return;
	}
	dir_list(call->svc->cluster, DIR_OPERATIONS, ops_list_one, l, &call->err);
}

static void ops_list_free(void *data)
{
	struct ops_list *l = data;

	json_object_put(l->array);
	free(l);
}

static bool op_matches(const struct op *op, const struct ops_list *l)
{
	return (!l->status_filter ||
	        strcmp(op_status_to_string(op->status), l->status_filter) == 0) &&
	       (!l->kind_filter || strcmp(op->kind, l->kind_filter) == 0);
}

/* Overlay this host's live operations (fresher than their records) on the list. */
static bool ops_list_after(struct svc_call *call)
{
	struct ops_list *l = call->data;
	struct json_object *out = json_object_new_object();

	for (struct op *op = call->svc->ops; op; op = op->next) {
		size_t n = json_object_array_length(l->array), i;

		for (i = 0; i < n; i++) {
			const char *id =
			        json_get_string(json_object_array_get_idx(l->array, i), "id");
			if (id && strcmp(id, op->id) == 0)
				break;
		}
		if (!op_matches(op, l)) {
			if (i < n)
				json_object_array_del_idx(l->array, i, 1);
			continue;
		}
		if (i < n)
			json_object_array_put_idx(l->array, i, op_to_json(op));
		else
			json_object_array_add(l->array, op_to_json(op));
	}
	json_add(out, "operations", TAKE_PTR(l->array));
	call->reply = out;
	return false;
}

void route_ops_list(struct svc_call *call)
{
	struct ops_list *l = calloc(1, sizeof(*l));
	const char *s;

	if (!l) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return;
	}
	call->data = l;
	call->data_free = ops_list_free;
	s = http_request_query_param(call->req, "status");
	if (s && op_status_from_string(s) < 0) {
		call_reply_error(
		        call, -EINVAL,
		        "query 'status': '%.32s' is not one of queued, running, succeeded, "
		        "failed, canceled",
		        s);
		return;
	}
	l->status_filter = s;
	l->kind_filter = http_request_query_param(call->req, "kind");
	call->after_fn = ops_list_after;
	call_submit(call, ops_list_work, false);
}

struct op_get {
	char *record;
};

static void op_get_free(void *data)
{
	struct op_get *g = data;

	free(g->record);
	free(g);
}

static void op_get_work(struct svc_call *call)
{
	struct op_get *g = call->data;
	int r = dir_get(call->svc->cluster, DIR_OPERATIONS, call->params[0], &g->record,
	                &call->err);

	if (r == -ENOENT) {
		err_clear(&call->err);
		err_set(&call->err, -ENOENT, "operation '%s' not found", call->params[0]);
		return;
	}
	if (r < 0)
		return;
	call->reply = json_tokener_parse(g->record);
	if (!call->reply)
		err_set(&call->err, -EBADMSG, "operation '%s' has a corrupt record",
		        call->params[0]);
}

static int op_param(struct svc_call *call)
{
	if (!uuid_is_valid(call->params[0])) {
		call_reply_error(call, -ENOENT, "operation '%.64s' not found (ids are UUIDs)",
		                 call->params[0]);
		return -ENOENT;
	}
	return 0;
}

static void op_get_remote(struct svc_call *call)
{
	struct op_get *g = calloc(1, sizeof(*g));

	if (!g) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return;
	}
	call->data = g;
	call->data_free = op_get_free;
	call_submit(call, op_get_work, false);
}

void route_op_get(struct svc_call *call)
{
	struct op *op;

	if (op_param(call) < 0)
		return;
	op = op_find(call->svc, call->params[0]);
	if (op) {
		call_reply_json(call, 200, op_to_json(op));
		return;
	}
	op_get_remote(call);
}

void route_op_wait(struct svc_call *call)
{
	const char *t = http_request_query_param(call->req, "timeout");
	unsigned long timeout = 30;
	struct op_waiter *w;
	struct op *op;

	if (op_param(call) < 0)
		return;
	if (t) {
		char *end;
		errno = 0;
		timeout = strtoul(t, &end, 10);
		if (!*t || *end || errno || timeout > 300) {
			call_reply_error(call, -EINVAL,
			                 "query 'timeout' must be whole seconds from 0 to 300");
			return;
		}
	}
	op = op_find(call->svc, call->params[0]);
	if (!op) {
		/* another host's, or one from before a restart: its record is the answer */
		op_get_remote(call);
		return;
	}
	if (op_status_final(op->status) || timeout == 0) {
		call_reply_json(call, 200, op_to_json(op));
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return;
	}
	w->call = call;
	w->op = op;
	w->next = op->waiters;
	op->waiters = w;
	uv_timer_init(&call->svc->loop, &w->timer);
	uv_timer_start(&w->timer, waiter_timeout, timeout * 1000, 0);
}

void route_op_cancel(struct svc_call *call)
{
	struct op *op;

	if (op_param(call) < 0)
		return;
	op = op_find(call->svc, call->params[0]);
	if (!op) {
		call_reply_error(call, -ENOENT,
		                 "operation '%s' is not running on this host (%s); cancel it on "
		                 "the host that runs it",
		                 call->params[0], call->svc->hostname);
		return;
	}
	if (op_status_final(op->status)) {
		call_reply_error(call, -EALREADY, "operation '%s' already %s", op->id,
		                 op_status_to_string(op->status));
		return;
	}
	atomic_store(&op->cancel, true);
	log_info("operation %s: cancel requested", op->id);
	call_reply_json(call, 202, op_to_json(op));
}

/*
 * Stop: the operations still running when [service] shutdown_timeout is over are asked to
 * stop as a cancel would (an import kills qemu-img and undoes itself), so that cairnd can
 * exit; they end failed with reason "interrupted". Work that does not look at its cancel
 * flag still runs to its end.
 */
void ops_interrupt(struct svc *svc)
{
	for (struct op *op = svc->ops; op; op = op->next) {
		if (op_status_final(op->status))
			continue;
		atomic_store(&op->interrupt, true);
		atomic_store(&op->cancel, true);
		log_warn("operation %s (%s %s) interrupted: cairnd is stopping", op->id, op->kind,
		         op->resource_name);
	}
}

/* Waiters are answered before the loop closes (daemon stop). */
void ops_stop(struct svc *svc)
{
	for (struct op *op = svc->ops; op; op = op->next)
		op_wake_waiters(op);
}

int svc_ops_count(struct svc *svc, struct metric_op_counts *c)
{
	for (struct op *op = svc->ops; op; op = op->next) {
		int r = metric_op_counts_add(c, op->kind, op->status);
		if (r < 0)
			return r;
	}
	return 0;
}

struct json_object *op_find_active(struct svc *svc, const char *kind, const char *name)
{
	for (struct op *op = svc->ops; op; op = op->next)
		if (!op_status_final(op->status) && strcmp(op->kind, kind) == 0 &&
		    strcmp(op->resource_name, name) == 0)
			return op_to_json(op);
	return NULL;
}
