/* SPDX-License-Identifier: MIT */
/* GET /metrics: Prometheus text format, counted on the loop thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc/svc-internal.h"

/* upper bounds of the latency buckets, in seconds */
static const double metric_bounds[METRIC_BUCKETS] = {
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30,
};

void svc_metrics_observe(struct svc *svc, const struct route *route, int status,
                         uint64_t duration_ns)
{
	struct route_metrics *m = &svc->route_metrics[route_index(&svc->routes, route)];
	double s = (double)duration_ns / 1e9;
	int cls = status / 100 - 1;

	if (cls >= 0 && cls < METRIC_STATUS_CLASSES)
		m->by_status[cls]++;
	for (int i = 0; i < METRIC_BUCKETS; i++)
		if (s <= metric_bounds[i]) {
			m->latency_buckets[i]++;
			break;
		}
	m->latency_sum += s;
	m->count++;
}

void svc_metrics_unmatched(struct svc *svc, enum http_method method, int status)
{
	int cls = status / 100 - 1;

	if ((unsigned)method >= HTTP_METHOD_MAX)
		method = HTTP_METHOD_OTHER;
	if (cls >= 0 && cls < METRIC_STATUS_CLASSES)
		svc->unmatched_by_status[method][cls]++;
}

struct mbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void mbuf_printf(struct mbuf *b, const char *fmt, ...) _printf_(2, 3);
static void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

/* A label value as the text format wants it: backslash, double quote and newline escaped. */
static void mbuf_label(struct mbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			mbuf_printf(b, "\\\\");
		else if (*s == '"')
			mbuf_printf(b, "\\\"");
		else if (*s == '\n')
			mbuf_printf(b, "\\n");
		else
			mbuf_printf(b, "%c", *s);
	}
}

/* ---- operations by kind and state ------------------------------------------------------- */

/* The kinds of operation cairnd starts (svc/routes-*.c): each shown from the start. */
static const char *const metric_op_kinds_known[] = {
        "image.import",  "volume.create",  "volume.delete", "volume.flatten",
        "backup.create", "backup.restore", "backup.verify",
};

static struct metric_op_kind *metric_op_kind_get(struct metric_op_counts *c, const char *kind)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].kind, kind) == 0)
			return &c->v[i];
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		struct metric_op_kind *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		c->v = v;
		c->cap = cap;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	str_copy(c->v[c->n].kind, sizeof(c->v[c->n].kind), kind);
	return &c->v[c->n++];
}

int metric_op_counts_init(struct metric_op_counts *c)
{
	*c = (struct metric_op_counts){0};
	for (size_t i = 0; i < ARRAY_SIZE(metric_op_kinds_known); i++)
		if (!metric_op_kind_get(c, metric_op_kinds_known[i]))
			return -ENOMEM;
	return 0;
}

int metric_op_counts_add(struct metric_op_counts *c, const char *kind, enum op_status s)
{
	struct metric_op_kind *k;

	if ((unsigned)s >= OP_STATUS_MAX)
		return -EINVAL;
	k = metric_op_kind_get(c, kind);
	if (!k)
		return -ENOMEM;
	k->by_state[s]++;
	return 0;
}

void metric_op_counts_release(struct metric_op_counts *c)
{
	free(c->v);
	*c = (struct metric_op_counts){0};
}

static void mbuf_operations(struct mbuf *b, const struct metric_op_counts *c)
{
	mbuf_printf(b, "# HELP cairn_operations Operations known to this daemon, by kind and "
	               "state.\n# TYPE cairn_operations gauge\n");
	for (size_t i = 0; i < c->n; i++)
		for (int s = 0; s < OP_STATUS_MAX; s++) {
			mbuf_printf(b, "cairn_operations{kind=\"");
			mbuf_label(b, c->v[i].kind);
			mbuf_printf(b, "\",status=\"%s\"} %u\n",
			            op_status_to_string((enum op_status)s), c->v[i].by_state[s]);
		}
}

char *metric_operations_text(const struct metric_op_counts *c)
{
	struct mbuf b = {.cap = 1024};

	b.s = malloc(b.cap);
	if (!b.s)
		return NULL;
	b.s[0] = '\0';
	mbuf_operations(&b, c);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* ---- the whole page --------------------------------------------------------------------- */

char *svc_metrics_render(struct svc *svc)
{
	struct mbuf b = {.cap = 8192};
	_cleanup_(metric_op_counts_release) struct metric_op_counts ops = {0};

	b.s = malloc(b.cap);
	if (!b.s)
		return NULL;
	b.s[0] = '\0';

	mbuf_printf(&b, "# HELP cairn_http_requests_total API requests answered, by route and "
	                "status class (route \"unmatched\": no route, or refused before "
	                "routing).\n# TYPE cairn_http_requests_total counter\n");
	for (size_t i = 0; i < svc->routes.n; i++) {
		const struct route *r = svc->routes.entries[i];
		for (int c = 0; c < METRIC_STATUS_CLASSES; c++)
			if (svc->route_metrics[i].by_status[c])
				mbuf_printf(&b,
				            "cairn_http_requests_total{method=\"%s\",route=\"%s\","
				            "code=\"%dxx\"} %llu\n",
				            http_method_to_string(r->method), r->pattern, c + 1,
				            (unsigned long long)svc->route_metrics[i].by_status[c]);
	}
	for (int m = 0; m < HTTP_METHOD_MAX; m++)
		for (int c = 0; c < METRIC_STATUS_CLASSES; c++)
			if (svc->unmatched_by_status[m][c])
				mbuf_printf(&b,
				            "cairn_http_requests_total{method=\"%s\",route="
				            "\"unmatched\","
				            "code=\"%dxx\"} %llu\n",
				            http_method_to_string((enum http_method)m), c + 1,
				            (unsigned long long)svc->unmatched_by_status[m][c]);
	mbuf_printf(&b, "# HELP cairn_http_request_duration_seconds Time to answer, by route.\n"
	                "# TYPE cairn_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < svc->routes.n; i++) {
		const struct route *r = svc->routes.entries[i];
		const struct route_metrics *m = &svc->route_metrics[i];
		uint64_t cum = 0;

		if (!m->count)
			continue;
		for (int k = 0; k < METRIC_BUCKETS; k++) {
			cum += m->latency_buckets[k];
			mbuf_printf(&b,
			            "cairn_http_request_duration_seconds_bucket{method=\"%s\","
			            "route=\"%s\",le=\"%g\"} %llu\n",
			            http_method_to_string(r->method), r->pattern, metric_bounds[k],
			            (unsigned long long)cum);
		}
		mbuf_printf(
		        &b,
		        "cairn_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\","
		        "le=\"+Inf\"} %llu\n"
		        "cairn_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n"
		        "cairn_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} "
		        "%llu\n",
		        http_method_to_string(r->method), r->pattern, (unsigned long long)m->count,
		        http_method_to_string(r->method), r->pattern, m->latency_sum,
		        http_method_to_string(r->method), r->pattern, (unsigned long long)m->count);
	}
	if (metric_op_counts_init(&ops) < 0 || svc_ops_count(svc, &ops) < 0)
		b.oom = true;
	mbuf_operations(&b, &ops);
	mbuf_printf(&b,
	            "# HELP cairn_worker_queue_depth Jobs queued or running on the thread pool.\n"
	            "# TYPE cairn_worker_queue_depth gauge\ncairn_worker_queue_depth %u\n"
	            "# HELP cairn_slow_jobs_waiting Slow jobs waiting for a slot.\n"
	            "# TYPE cairn_slow_jobs_waiting gauge\ncairn_slow_jobs_waiting %u\n"
	            "# HELP cairn_cluster_errors_total Calls that failed because Ceph was "
	            "unreachable.\n# TYPE cairn_cluster_errors_total counter\n"
	            "cairn_cluster_errors_total %llu\n"
	            "# HELP cairn_requests_rejected_total Requests answered 503 because the queue "
	            "was full.\n# TYPE cairn_requests_rejected_total counter\n"
	            "cairn_requests_rejected_total %llu\n"
	            "# HELP cairn_cluster_up Whether the Ceph cluster answers.\n"
	            "# TYPE cairn_cluster_up gauge\ncairn_cluster_up %d\n"
	            "# HELP cairn_uptime_seconds Seconds since cairnd started.\n"
	            "# TYPE cairn_uptime_seconds gauge\ncairn_uptime_seconds %llu\n",
	            svc->jobs_queued, svc->slow_pending, (unsigned long long)svc->cluster_errors,
	            (unsigned long long)svc->requests_rejected, svc->cluster_up ? 1 : 0,
	            (unsigned long long)((svc_now_ns() - svc->started_ns) / 1000000000ULL));
	{
		struct cluster_backup_status st;

		cluster_backup_status(svc->cluster, &st);
		if (st.configured)
			mbuf_printf(&b,
			            "# HELP cairn_backup_cluster_up Whether the backup cluster "
			            "([backup] cluster_conf) answered its last check.\n"
			            "# TYPE cairn_backup_cluster_up gauge\n"
			            "cairn_backup_cluster_up %d\n",
			            st.reachable ? 1 : 0);
	}
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}
