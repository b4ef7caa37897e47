/* SPDX-License-Identifier: MIT */
/*
 * GET /v1/events: a chunked stream of JSON lines to any number of subscribers. The http
 * layer bounds each subscriber's backlog and drops one that does not read; we then
 * forget it.
 */
#define LOG_MODULE "events"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "svc/svc-internal.h"

struct svc_subscriber {
	struct svc_subscriber *next;
	struct svc_call *call;
};

static void subscriber_remove(struct svc *svc, struct svc_subscriber *sub)
{
	for (struct svc_subscriber **pp = &svc->subscribers; *pp; pp = &(*pp)->next)
		if (*pp == sub) {
			*pp = sub->next;
			break;
		}
	/* the call's metrics and log line are done at subscribe time; end the stream */
	http_stream_end(sub->call->req);
	free(sub->call);
	free(sub);
}

static void on_subscriber_gone(struct http_request *req, void *userdata)
{
	struct svc_subscriber *sub = userdata;

	log_debug("event subscriber of request %llu went away",
	          (unsigned long long)http_request_id(req));
	subscriber_remove(sub->call->svc, sub);
}

void events_publish(struct svc *svc, struct json_object *event)
{
	const char *text;
	size_t len;
	char *line;

	if (!event)
		return;
	if (!svc->subscribers) {
		json_object_put(event);
		return;
	}
	text = json_object_to_json_string_length(event, JSON_C_TO_STRING_PLAIN, &len);
	line = malloc(len + 1);
	if (!line) {
		json_object_put(event);
		return;
	}
	memcpy(line, text, len);
	line[len] = '\n';
	for (struct svc_subscriber *sub = svc->subscribers, *next; sub; sub = next) {
		next = sub->next;
		if (http_stream_write(sub->call->req, line, len + 1) < 0)
			subscriber_remove(svc, sub);
	}
	free(line);
	json_object_put(event);
}

void events_resource(struct svc *svc, const char *kind, const char *action, const char *name)
{
	struct json_object *ev = json_object_new_object();

	if (!ev)
		return;
	json_add_string(ev, "type", kind);
	json_add_string(ev, "action", action);
	json_add_string(ev, "name", name);
	events_publish(svc, ev);
}

void route_events(struct svc_call *call)
{
	struct svc *svc = call->svc;
	struct svc_subscriber *sub = calloc(1, sizeof(*sub));
	const char *hello = "{\"type\":\"hello\"}\n";

	if (!sub) {
		call_reply_error(call, -ENOMEM, "out of memory");
		return;
	}
	sub->call = call;
	sub->next = svc->subscribers;
	svc->subscribers = sub;
	svc_metrics_observe(svc, call->route, 200, svc_now_ns() - call->start_ns);
	http_stream_begin(call->req, 200, "application/x-ndjson");
	http_request_on_disconnect(call->req, on_subscriber_gone, sub);
	if (http_stream_write(call->req, hello, strlen(hello)) < 0)
		subscriber_remove(svc, sub);
}

void events_close_all(struct svc *svc)
{
	while (svc->subscribers)
		subscriber_remove(svc, svc->subscribers);
}
