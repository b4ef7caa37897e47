/* SPDX-License-Identifier: MIT */
/*
 * Calls (requests in handling) and jobs on the thread pool. Quick jobs go straight to
 * libuv's pool; slow ones take one of a bounded number of slots (at most half the
 * workers) so quick requests never starve; past queue_max quick jobs, or queue_max slow
 * jobs waiting for a slot, a request is a prompt 503.
 */
#define LOG_MODULE "svc"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "svc/http-util.h"
#include "svc/svc-internal.h"

/* A reply at least this large gives the memory that built it back (malloc_trim), once no
 * other large reply has followed it for this long. */
#define CALL_TRIM_AFTER    (256 * 1024)
#define CALL_TRIM_DELAY_MS 1000

static void trim_timer_cb(uv_timer_t *t)
{
	(void)t;
	malloc_trim(0);
}

struct svc_slow_pending {
	struct svc_slow_pending *next;
	uv_work_t *work;
	uv_work_cb work_cb;
	uv_after_work_cb after_cb;
};

static void call_log_and_count(struct svc_call *call, int status, const char *msg)
{
	struct svc *svc = call->svc;
	uint64_t dur = svc_now_ns() - call->start_ns;

	if (call->route)
		svc_metrics_observe(svc, call->route, status, dur);
	else
		svc_metrics_unmatched(svc, http_request_method(call->req), status);
	if (call->route && (call->route->flags & ROUTE_MUTATING)) {
		pid_t pid;
		uid_t uid;
		gid_t gid;

		http_request_peer(call->req, &pid, &uid, &gid);
		log_info("request %llu uid=%u gid=%u pid=%d %s %s -> %d %.3fms%s%s",
		         (unsigned long long)http_request_id(call->req), (unsigned)uid,
		         (unsigned)gid, (int)pid, http_method_to_string(call->route->method),
		         call->route->pattern, status, (double)dur / 1e6, msg ? ": " : "",
		         msg ? msg : "");
	} else {
		log_debug("request %llu %s %s -> %d %.3fms",
		          (unsigned long long)http_request_id(call->req),
		          http_method_to_string(http_request_method(call->req)),
		          http_request_path(call->req), status, (double)dur / 1e6);
	}
}

static void call_free(struct svc_call *call)
{
	free(call->idem_record);
	free(call->idem_body);
	if (call->data_free)
		call->data_free(call->data);
	json_object_put(call->body);
	json_object_put(call->reply);
	free(call);
}

void call_reply_text(struct svc_call *call, int status, const char *content_type, const char *body,
                     size_t len)
{
	call_log_and_count(call, status, NULL);
	http_reply(call->req, status, content_type, NULL, body, len);
	call_free(call);
}

static void call_idem_store(struct svc_call *call, int status, const char *body, size_t len);
static void call_reply_error_status(struct svc_call *call, int status, const char *reason,
                                    const char *msg, const char *extra_headers);

/*
 * A 202 says an operation was made: a reply without an id but with an error object (what
 * op_start() gives when the operation could not start) is answered as that error.
 */
static bool call_reply_refused(struct svc_call *call, int status, struct json_object *reply)
{
	struct json_object *e;
	int64_t code;

	if (status != 202 || json_object_object_get_ex(reply, "id", NULL) ||
	    !json_object_object_get_ex(reply, "error", &e) ||
	    !json_object_is_type(e, json_type_object))
		return false;
	code = json_get_int(e, "code", 500);
	if (code < 400 || code > 599)
		code = 500;
	call_reply_error_status(call, (int)code,
	                        json_get_string(e, "reason") ? json_get_string(e, "reason")
	                                                     : "internal_error",
	                        json_get_string(e, "message") ? json_get_string(e, "message")
	                                                      : "the operation did not start",
	                        code == 503 ? "Retry-After: 1\r\n" : NULL);
	json_object_put(reply);
	return true;
}

void call_reply_json(struct svc_call *call, int status, struct json_object *reply)
{
	struct svc *svc = call->svc;
	const char *text;
	size_t len;

	if (!reply) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return;
	}
	if (call_reply_refused(call, status, reply))
		return;
	text = json_object_to_json_string_length(reply, JSON_C_TO_STRING_PLAIN, &len);
	if (call->idem_key[0] && !call->idem_body && status >= 200 && status < 300) {
		/* store the answer before giving it, so a replay can never run the work again */
		call_idem_store(call, status, text, len);
		json_object_put(reply);
		return;
	}
	call_log_and_count(call, status, NULL);
	if (status == 202 && json_get_string(reply, "id")) {
		char loc[128];
		snprintf(loc, sizeof(loc), "Location: /v1/operations/%s\r\n",
		         json_get_string(reply, "id"));
		http_reply(call->req, status, "application/json", loc, text, len);
	} else {
		http_reply(call->req, status, "application/json", NULL, text, len);
	}
	json_object_put(reply);
	call_free(call);
	/*
	 * A large reply (a list of thousands of volumes) was built on a worker: its freed
	 * pieces stay in that worker's malloc arena, so an idle cairnd would keep the peak of
	 * its biggest list for good. Give them back once such replies stop: not after each,
	 * or back-to-back lists would fault all those pages in again (twice as slow).
	 */
	if (len >= CALL_TRIM_AFTER)
		uv_timer_start(&svc->trim_timer, trim_timer_cb, CALL_TRIM_DELAY_MS, 0);
}

static void call_reply_error_status(struct svc_call *call, int status, const char *reason,
                                    const char *msg, const char *extra_headers)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	struct json_object *e = json_object_new_object();
	const char *text;
	size_t len;

	if (!o || !e || json_add(o, "error", e) < 0 || json_add_int(e, "code", status) < 0 ||
	    json_add_string(e, "reason", reason) < 0 || json_add_string(e, "message", msg) < 0) {
		call_log_and_count(call, 500, "out of memory");
		http_reply(call->req, 500, NULL, NULL, "{}", 2);
		call_free(call);
		return;
	}
	text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	call_log_and_count(call, status, msg);
	http_reply(call->req, status, "application/json", extra_headers, text, len);
	call_free(call);
}

void call_reply_err(struct svc_call *call, const struct cairn_err *err)
{
	int code = err->code ? err->code : -EIO;

	call_reply_error_status(call, err_http_status(code), err_reason(code),
	                        err->msg[0] ? err->msg : strerror(-code), NULL);
}

void call_reply_error(struct svc_call *call, int code, const char *fmt, ...)
{
	struct cairn_err err = {0};
	va_list ap;

	va_start(ap, fmt);
	err_setv(&err, code, fmt, ap);
	va_end(ap);
	call_reply_err(call, &err);
}

/* Answer 405 with the Allow header. */
void call_reply_method_not_allowed(struct svc_call *call, const char *allow)
{
	char hdr[160], msg[200];

	snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
	snprintf(msg, sizeof(msg), "method %s is not allowed here (allowed: %s)",
	         http_method_to_string(http_request_method(call->req)), allow);
	call_reply_error_status(call, 405, "method_not_allowed", msg, hdr);
}

int call_parse_body(struct svc_call *call, const struct jfield *table, void *target,
                    uint64_t *ret_present)
{
	struct cairn_err err = {0};
	const char *body;
	size_t len;
	int r;

	body = http_request_body(call->req, &len);
	if (len == 0) {
		/* an empty body is an empty object: every field optional or missing */
		call->body = json_object_new_object();
	} else {
		r = json_parse_object(body, len, &call->body, &err);
		if (r < 0) {
			call_reply_err(call, &err);
			return r;
		}
	}
	if (!call->body) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return -ENOMEM;
	}
	r = json_dispatch(call->body, table, target, ret_present, &err);
	if (r < 0) {
		call_reply_err(call, &err);
		return r;
	}
	return 0;
}

int call_param_name(struct svc_call *call, int i, const char *what)
{
	struct cairn_err err = {0};
	int r = name_validate(call->params[i], what, &err);

	if (r < 0)
		call_reply_err(call, &err);
	return r;
}

/* ---- the thread pool -------------------------------------------------------------------- */

static int pool_queue(struct svc *svc, uv_work_t *work, uv_work_cb work_cb,
                      uv_after_work_cb after_cb, bool slow)
{
	unsigned slow_max = conf_slow_workers(svc->conf);
	int r;

	/*
	 * Quick jobs and waiting slow jobs have a budget of queue_max each: a backlog of slow
	 * work (deletes, backups a burst accepted with 202) must not turn reads away. The
	 * records of the operations a stop cancels are not held to it: each must be written.
	 */
	if (!svc->unbudgeted && (slow ? svc->slow_pending >= svc->conf->service.queue_max
	                              : svc->jobs_queued >= svc->conf->service.queue_max)) {
		svc->requests_rejected++;
		return -EAGAIN;
	}
	if (slow && svc->slow_running >= slow_max) {
		struct svc_slow_pending *p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->work = work;
		p->work_cb = work_cb;
		p->after_cb = after_cb;
		if (svc->slow_tail)
			svc->slow_tail->next = p;
		else
			svc->slow_head = p;
		svc->slow_tail = p;
		svc->slow_pending++;
		return 0;
	}
	r = uv_queue_work(&svc->loop, work, work_cb, after_cb);
	if (r < 0)
		return r;
	svc->jobs_queued++;
	if (slow)
		svc->slow_running++;
	return 0;
}

/* A job ended: free its slot, start a waiting slow job. */
static void pool_done(struct svc *svc, bool slow)
{
	svc->jobs_queued--;
	if (!slow)
		return;
	svc->slow_running--;
	while (svc->slow_head && !svc->stopping) {
		struct svc_slow_pending *p = svc->slow_head;

		svc->slow_head = p->next;
		if (!svc->slow_head)
			svc->slow_tail = NULL;
		svc->slow_pending--;
		if (uv_queue_work(&svc->loop, p->work, p->work_cb, p->after_cb) == 0) {
			svc->jobs_queued++;
			svc->slow_running++;
			free(p);
			return;
		}
		/* cannot happen with a live loop; the work is lost: run its after with an error */
		p->after_cb(p->work, UV_ECANCELED);
		free(p);
	}
}

static void call_work_cb(uv_work_t *w)
{
	struct svc_call *call = container_of(w, struct svc_call, work);

	call->work_fn(call);
}

static void call_after_cb(uv_work_t *w, int status)
{
	struct svc_call *call = container_of(w, struct svc_call, work);
	struct svc *svc = call->svc;

	pool_done(svc, call->slow);
	if (status == UV_ECANCELED && !call->err.code)
		err_set(&call->err, -ECANCELED, "request canceled");
	svc_note_result(svc, call->err.code);
	if (call->err.code == -ENOENT)
		svc_show_changed(svc); /* another host deleted something: forget what was kept */
	if (!call->err.code && call->after_fn && call->after_fn(call))
		return;
	if (call->err.code) {
		call_reply_err(call, &call->err);
		return;
	}
	call_reply_json(call, call->status ? call->status : 200, TAKE_PTR(call->reply));
}

void call_submit(struct svc_call *call, call_work_fn work, bool slow)
{
	int r;

	call->work_fn = work;
	call->slow = slow;
	r = pool_queue(call->svc, &call->work, call_work_cb, call_after_cb, slow);
	if (r == -EAGAIN) {
		call_reply_error(call, -EAGAIN, "cairnd is busy: %u %s are queued, try again",
		                 slow ? call->svc->slow_pending : call->svc->jobs_queued,
		                 slow ? "long jobs" : "requests");
	} else if (r < 0) {
		call_reply_error(call, r, "cannot queue the request: %s", uv_strerror(r));
	}
}

static void job_work_cb(uv_work_t *w)
{
	struct svc_job *job = container_of(w, struct svc_job, work);

	job->work_fn(job);
}

static void job_after_cb(uv_work_t *w, int status)
{
	struct svc_job *job = container_of(w, struct svc_job, work);

	pool_done(job->svc, job->slow);
	if (status == UV_ECANCELED && job->result >= 0)
		job->result = err_set(&job->err, -ECANCELED, "canceled");
	svc_note_result(job->svc, job->result);
	if (job->done_fn)
		job->done_fn(job);
	if (job->data_free)
		job->data_free(job->data);
	free(job);
}

int svc_job_submit(struct svc *svc, svc_job_fn work, svc_job_fn done, bool slow, void *data,
                   void (*data_free)(void *))
{
	struct svc_job *job = calloc(1, sizeof(*job));
	int r;

	if (!job) {
		if (data_free)
			data_free(data);
		return -ENOMEM;
	}
	job->svc = svc;
	job->slow = slow;
	job->work_fn = work;
	job->done_fn = done;
	job->data = data;
	job->data_free = data_free;
	r = pool_queue(svc, &job->work, job_work_cb, job_after_cb, slow);
	if (r < 0) {
		/* the callback never runs: the data is still ours to free */
		if (data_free)
			data_free(data);
		free(job);
	}
	return r;
}

/* ---- idempotency keys ------------------------------------------------------------------- */

static void call_send_raw_json(struct svc_call *call, int status, const char *body, size_t len,
                               bool replay)
{
	char hdr[160] = "";

	call_log_and_count(call, status, replay ? "replayed for its idempotency key" : NULL);
	if (replay)
		snprintf(hdr, sizeof(hdr), "Idempotent-Replayed: true\r\n");
	http_reply(call->req, status, "application/json", hdr[0] ? hdr : NULL, body, len);
	call_free(call);
}

static char *idem_record_format(const struct svc_call *call, int status, const char *body)
{
	_cleanup_(json_putp) struct json_object *o = json_object_new_object();
	struct json_object *b = json_tokener_parse(body);
	char *text;

	if (!o || !b) {
		json_object_put(b);
		return NULL;
	}
	json_add_int(o, "status", status);
	json_add_string(o, "method", http_method_to_string(call->route->method));
	json_add_string(o, "route", call->route->pattern);
	json_add_string(o, "path", http_request_path(call->req));
	json_add_int(o, "created", (int64_t)time(NULL));
	json_add(o, "body", b);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	return text;
}

static void idem_store_work(uv_work_t *w)
{
	struct svc_call *call = container_of(w, struct svc_call, work);
	_cleanup_(freep) char *rec = idem_record_format(call, call->idem_status, call->idem_body);
	struct cairn_err err = {0};

	if (!rec) {
		err_set(&call->err, -ENOMEM, "out of memory");
		return;
	}
	if (dir_insert(call->svc->cluster, DIR_IDEMPOTENCY, call->idem_key, call->idem_key, rec,
	               &err) < 0 &&
	    err.code != -EEXIST)
		/* the work is done; only a replay would not see it: say so in the log */
		log_warn("cannot store the answer of idempotency key '%s': %s", call->idem_key,
		         err.msg);
}

static void idem_store_after(uv_work_t *w, int status)
{
	struct svc_call *call = container_of(w, struct svc_call, work);

	pool_done(call->svc, false);
	call_send_raw_json(call, call->idem_status, call->idem_body, strlen(call->idem_body),
	                   false);
}

static void call_idem_store(struct svc_call *call, int status, const char *body, size_t len)
{
	call->idem_status = status;
	call->idem_body = strndup(body, len);
	if (!call->idem_body ||
	    pool_queue(call->svc, &call->work, idem_store_work, idem_store_after, false) < 0) {
		/* cannot store: answer anyway, the work is done */
		log_warn("cannot store the answer of idempotency key '%s'", call->idem_key);
		if (call->idem_body)
			call_send_raw_json(call, status, call->idem_body, len, false);
		else
			call_send_raw_json(call, status, body, len, false);
	}
}

static void idem_lookup_work(uv_work_t *w)
{
	struct svc_call *call = container_of(w, struct svc_call, work);
	int r;

	r = dir_get(call->svc->cluster, DIR_IDEMPOTENCY, call->idem_key, &call->idem_record,
	            &call->err);
	if (r == -ENOENT)
		err_clear(&call->err);
}

static void idem_lookup_after(uv_work_t *w, int status)
{
	struct svc_call *call = container_of(w, struct svc_call, work);
	_cleanup_(json_putp) struct json_object *o = NULL;
	struct json_object *body;
	const char *route, *path, *text;
	size_t len;

	pool_done(call->svc, false);
	svc_note_result(call->svc, call->err.code);
	if (call->err.code) {
		call_reply_err(call, &call->err);
		return;
	}
	if (!call->idem_record) {
		call->route->handler(call);
		return;
	}
	o = json_tokener_parse(call->idem_record);
	route = json_get_string(o, "route");
	path = json_get_string(o, "path");
	if (!o || !json_object_object_get_ex(o, "body", &body) || !route || !path) {
		call_reply_error(call, -EILSEQ,
		                 "the stored answer of idempotency key '%s' is corrupt",
		                 call->idem_key);
		return;
	}
	if (strcmp(route, call->route->pattern) != 0 ||
	    strcmp(path, http_request_path(call->req)) != 0) {
		call_reply_error(call, -EPROTO,
		                 "idempotency key '%s' was used for another request (%s)",
		                 call->idem_key, path);
		return;
	}
	text = json_object_to_json_string_length(body, JSON_C_TO_STRING_PLAIN, &len);
	call->idem_body = strndup(text, len); /* marks the answer as stored already */
	call_send_raw_json(call, (int)json_get_int(o, "status", 200), text, len, true);
}

void call_dispatch(struct svc_call *call)
{
	const char *key = http_request_header(call->req, "Idempotency-Key");
	struct cairn_err err = {0};
	int r;

	if (!key || !(call->route->flags & ROUTE_MUTATING)) {
		call->route->handler(call);
		return;
	}
	if (name_validate(key, "Idempotency-Key", &err) < 0) {
		call_reply_err(call, &err);
		return;
	}
	str_copy(call->idem_key, sizeof(call->idem_key), key);
	r = pool_queue(call->svc, &call->work, idem_lookup_work, idem_lookup_after, false);
	if (r < 0)
		call_reply_error(call, r == -EAGAIN ? -EAGAIN : r, "cairnd is busy, try again");
}

void svc_jobs_cancel_pending(struct svc *svc)
{
	svc->unbudgeted = true; /* the cancelled operations' records (op_job_done) */
	while (svc->slow_head) {
		struct svc_slow_pending *p = svc->slow_head;

		svc->slow_head = p->next;
		if (!svc->slow_head)
			svc->slow_tail = NULL;
		svc->slow_pending--;
		/* balanced by pool_done() in the after callback, which starts nothing new now */
		svc->jobs_queued++;
		svc->slow_running++;
		p->after_cb(p->work, UV_ECANCELED);
		free(p);
	}
	svc->unbudgeted = false;
}

/* A JF_CUSTOM field: an array of 1 to 64 distinct volume names. */
int call_check_volume_list(struct json_object *v, void *field, const char *name,
                           struct cairn_err *err)
{
	size_t n;

	if (!json_object_is_type(v, json_type_array))
		return err_set(err, -EINVAL, "field '%s' must be an array of volume names", name);
	n = json_object_array_length(v);
	if (n == 0 || n > 64)
		return err_set(err, -EINVAL, "field '%s' must name 1 to 64 volumes", name);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_string) ||
		    name_validate(json_object_get_string(e), "volume", err) < 0)
			return err_set(err, -EINVAL, "field '%s': entry %zu is not a volume name",
			               name, i + 1);
		for (size_t j = 0; j < i; j++)
			if (strcmp(json_object_get_string(e),
			           json_object_get_string(json_object_array_get_idx(v, j))) == 0)
				return err_set(err, -EINVAL,
				               "field '%s': volume '%s' is named twice", name,
				               json_object_get_string(e));
	}
	*(struct json_object **)field = v;
	return 0;
}
