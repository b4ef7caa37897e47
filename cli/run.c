/* SPDX-License-Identifier: MIT */
/*
 * Running one command: parse, let the handler build the request, send it, follow a long
 * operation with a progress display, render the reply, pick the exit code.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "common/json.h"
#include "cli/cli.h"

#define CLI_READ_TIMEOUT_MS (330 * 1000) /* longer than the API's longest wait (300 s) */
#define CLI_BAR_WIDTH       30

struct cli_ctx {
	const struct cli_env *env;
	struct cli_parsed p;
	struct cli_client client;
};

static int fail(struct cli_ctx *c, int code, const char *msg)
{
	fprintf(c->env->err, "cairn: %s\n", msg);
	return code;
}

static void print_buf(FILE *f, const struct cli_buf *b)
{
	if (b->len)
		fwrite(b->data, 1, b->len, f);
}

/* The body as is; a newline after it when it has none, so the shell prompt stays clean. */
static void print_body(FILE *f, const struct cli_buf *b)
{
	print_buf(f, b);
	if (b->len && b->data[b->len - 1] != '\n')
		fputc('\n', f);
}

static struct json_object *parse_json(const struct cli_buf *b)
{
	struct json_tokener *tok;
	struct json_object *obj;

	if (b->len == 0 || b->len > INT32_MAX)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, b->data, (int)b->len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

const char *cli_error_message(struct json_object *reply)
{
	struct json_object *m = cli_json_path(reply, "error.message");

	return m && json_object_is_type(m, json_type_string) ? json_object_get_string(m) : NULL;
}

static int fail_reply(struct cli_ctx *c, const struct cli_response *resp, struct json_object *reply)
{
	const char *msg = cli_error_message(reply);
	char fallback[128];

	if (c->p.global.json)
		print_body(c->env->out, &resp->body);
	if (!msg) {
		snprintf(fallback, sizeof(fallback), "cairnd answered HTTP %d %s", resp->status,
		         http_status_str((enum http_status)resp->status));
		msg = fallback;
	}
	return fail(c, CLI_EXIT_FAILED, msg);
}

/* A call; on failure the message is printed and the exit code returned (> 0). */
static int call(struct cli_ctx *c, const char *method, const char *path, struct json_object *body,
                const char *idempotency_key, cli_line_cb on_line, struct cli_response *resp)
{
	struct cairn_err err = {0};
	const char *text = NULL;
	size_t len = 0;
	int r;

	if (body) {
		text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
		                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!text)
			return fail(c, CLI_EXIT_FAILED, "out of memory");
		len = strlen(text);
	}
	r = cli_http_call(&c->client, method, path, text, len, idempotency_key, on_line, c, resp,
	                  &err);
	if (r == -EHOSTUNREACH)
		return fail(c, CLI_EXIT_UNREACHABLE, err.msg);
	if (r < 0)
		return fail(c, CLI_EXIT_FAILED, err.code ? err.msg : strerror(-r));
	return 0;
}

/* ---- progress -------------------------------------------------------------------------- */

struct progress {
	FILE *f;
	bool tty;
	bool quiet;
	bool drew;
	int last_decade;
};

static void progress_update(struct progress *pr, struct json_object *op)
{
	struct cli_progress p;
	struct cli_buf line = {0};

	if (pr->quiet)
		return;
	cli_progress_from_op(op, &p);
	if (pr->tty) {
		cli_buf_putc(&line, '\r');
		cli_progress_format(&line, &p, CLI_BAR_WIDTH);
		cli_buf_puts(&line, "\033[K");
		print_buf(pr->f, &line);
		pr->drew = true;
	} else if (cli_progress_plain_due(&pr->last_decade, p.percent)) {
		fprintf(pr->f, "progress %d%%\n", p.percent);
	}
	fflush(pr->f);
	cli_buf_release(&line);
}

static void progress_end(struct progress *pr)
{
	if (pr->drew)
		fputc('\n', pr->f);
	pr->drew = false;
}

/* ---- rendering ------------------------------------------------------------------------- */

static void print_done(struct cli_ctx *c)
{
	struct cli_buf b = {0};

	if (!c->p.cmd->done)
		return;
	cli_done_format(&b, c->p.cmd->done, &c->p.inv);
	cli_buf_putc(&b, '\n');
	print_buf(c->env->out, &b);
	cli_buf_release(&b);
}

/* Human output of a successful reply (obj may be NULL: no or non-JSON body). */
static int render(struct cli_ctx *c, const struct cli_buf *raw, struct json_object *obj)
{
	const struct cli_view *view = c->p.cmd->view;
	struct cli_buf out = {0};
	int r = 0;

	if (view->kind == CLI_VIEW_RAW) {
		print_body(c->env->out, raw);
		return 0;
	}
	if ((c->p.cmd->flags & CLI_CMD_MUTATING) && c->p.global.quiet)
		return 0;
	if (!obj || view->kind == CLI_VIEW_NONE) {
		print_done(c);
		return 0;
	}
	if (view->kind == CLI_VIEW_TABLE && cli_json_path(obj, view->list_key))
		r = cli_view_table(&out, obj, view);
	else if (json_object_is_type(obj, json_type_object))
		r = cli_view_show(&out, obj);
	else
		print_body(c->env->out, raw);
	if (r == 0)
		print_buf(c->env->out, &out);
	cli_buf_release(&out);
	return r < 0 ? fail(c, CLI_EXIT_FAILED, "cannot show cairnd's reply") : 0;
}

static bool op_ended(const char *status)
{
	return status && (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
	                  strcmp(status, "canceled") == 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Follow the operation in resp and obj until it ends (or the --timeout of op wait passes),
 * polling GET /v1/operations/ID/wait; *resp and *obj are replaced by the last answer.
 */
static int follow(struct cli_ctx *c, struct cli_response *resp, struct json_object **obj)
{
	struct progress pr = {
	        .f = c->env->err,
	        .tty = c->env->err_is_tty,
	        .quiet = c->p.global.quiet,
	        .last_decade = -1,
	};
	const struct cli_value *timeout = cli_opt(&c->p.inv, "timeout");
	double deadline = timeout->set ? now_s() + (double)timeout->num : 0;
	_cleanup_(freep) char *id = NULL;
	const char *status;
	char msg[256];

	id = strdup(json_get_string(*obj, "id") ? json_get_string(*obj, "id") : "");
	if (!id)
		return fail(c, CLI_EXIT_FAILED, "out of memory");
	if (!*id)
		return fail(c, CLI_EXIT_FAILED, "cairnd answered an operation without an id");
	for (;;) {
		struct cli_buf path = {0};
		struct cli_response next = {0};
		struct json_object *op;
		int r;

		status = json_get_string(*obj, "status");
		if (op_ended(status) || (timeout->set && now_s() >= deadline))
			break;
		progress_update(&pr, *obj);
		cli_buf_puts(&path, "/v1/operations/");
		cli_buf_put_encoded(&path, id);
		cli_buf_printf(&path, "/wait?timeout=%u", c->env->poll_timeout);
		if (cli_buf_error(&path)) {
			cli_buf_release(&path);
			progress_end(&pr);
			return fail(c, CLI_EXIT_FAILED, "out of memory");
		}
		r = call(c, "GET", path.data, NULL, NULL, NULL, &next);
		cli_buf_release(&path);
		if (r > 0) {
			progress_end(&pr);
			return r;
		}
		op = parse_json(&next.body);
		if (next.status != 200 || !op || !json_object_is_type(op, json_type_object)) {
			progress_end(&pr);
			r = fail_reply(c, &next, op);
			json_object_put(op);
			cli_response_release(&next);
			return r;
		}
		cli_response_release(resp);
		*resp = next;
		json_object_put(*obj);
		*obj = op;
	}
	if (status && strcmp(status, "succeeded") == 0)
		progress_update(&pr, *obj);
	progress_end(&pr);
	if (c->p.global.json)
		print_body(c->env->out, &resp->body);
	if (status && strcmp(status, "succeeded") == 0) {
		struct json_object *result = cli_json_path(*obj, "result");

		if (c->p.global.json || ((c->p.cmd->flags & CLI_CMD_MUTATING) && c->p.global.quiet))
			return 0;
		if (result && json_object_is_type(result, json_type_object) &&
		    c->p.cmd->view->kind != CLI_VIEW_NONE && !(c->p.cmd->flags & CLI_CMD_FOLLOW))
			return render(c, &resp->body, result);
		if (c->p.cmd->done)
			print_done(c);
		else
			fprintf(c->env->out, "operation '%s' (%s) succeeded\n", id,
			        json_get_string(*obj, "kind") ? json_get_string(*obj, "kind")
			                                      : "?");
		return 0;
	}
	if (status && strcmp(status, "failed") == 0) {
		const char *m = cli_error_message(*obj);

		snprintf(msg, sizeof(msg), "operation '%s' (%s) failed", id,
		         json_get_string(*obj, "kind") ? json_get_string(*obj, "kind") : "?");
		return fail(c, CLI_EXIT_FAILED, m ? m : msg);
	}
	if (status && strcmp(status, "canceled") == 0) {
		snprintf(msg, sizeof(msg), "operation '%s' was canceled", id);
		return fail(c, CLI_EXIT_FAILED, msg);
	}
	snprintf(msg, sizeof(msg), "operation '%s' is still %s after %llu seconds", id,
	         status ? status : "running", (unsigned long long)timeout->num);
	return fail(c, CLI_EXIT_FAILED, msg);
}

/* ---- events ---------------------------------------------------------------------------- */

static void on_event_line(const char *line, size_t len, void *userdata)
{
	struct cli_ctx *c = userdata;

	fwrite(line, 1, len, c->env->out);
	fputc('\n', c->env->out);
	fflush(c->env->out);
}

/* ---- the program ----------------------------------------------------------------------- */

static int usage_error(struct cli_ctx *c, const char *msg)
{
	struct cli_buf b = {0};

	cli_buf_printf(&b, "cairn: %s\n", msg);
	cli_help_hint(&b, c->p.noun, c->p.cmd);
	print_buf(c->env->err, &b);
	cli_buf_release(&b);
	return CLI_EXIT_USAGE;
}

static int print_help(struct cli_ctx *c)
{
	struct cli_buf b = {0};

	switch (c->p.action) {
	case CLI_ACTION_HELP_NOUN:
		cli_help_noun(&b, c->p.noun);
		break;
	case CLI_ACTION_HELP_COMMAND:
		cli_help_command(&b, c->p.cmd);
		break;
	case CLI_ACTION_VERSION:
		cli_buf_printf(&b, "cairn %s\n", CAIRN_VERSION);
		break;
	default:
		cli_help_top(&b);
		break;
	}
	print_buf(c->env->out, &b);
	cli_buf_release(&b);
	return CLI_EXIT_OK;
}

static int run_request(struct cli_ctx *c, struct cli_request *req)
{
	const struct cli_command *cmd = c->p.cmd;
	struct cli_response resp = {0};
	struct json_object *obj = NULL;
	bool is_op, follow_it;
	int r;

	r = call(c, req->method, cli_buf_str(&req->path), req->body,
	         (cmd->flags & CLI_CMD_MUTATING) ? c->p.global.idempotency_key : NULL,
	         (cmd->flags & CLI_CMD_STREAM) ? on_event_line : NULL, &resp);
	if (r > 0)
		return r;
	obj = parse_json(&resp.body);
	if (resp.status < 200 || resp.status >= 300) {
		r = fail_reply(c, &resp, obj);
		goto out;
	}
	if (cmd->flags & CLI_CMD_STREAM) {
		r = CLI_EXIT_OK;
		goto out;
	}
	is_op = obj && json_object_is_type(obj, json_type_object) && json_get_string(obj, "id") &&
	        json_get_string(obj, "status");
	follow_it = is_op && !(cmd->flags & CLI_CMD_NO_FOLLOW) &&
	            ((cmd->flags & CLI_CMD_FOLLOW) || (resp.status == 202 && !c->p.global.no_wait));
	if (follow_it) {
		r = follow(c, &resp, &obj);
		goto out;
	}
	if (c->p.global.json) {
		print_body(c->env->out, &resp.body);
		r = CLI_EXIT_OK;
	} else if (resp.status == 202 && is_op && !(cmd->flags & CLI_CMD_NO_FOLLOW)) {
		/* --no-wait: the operation to follow later */
		struct cli_buf b = {0};

		if (c->p.global.quiet)
			cli_buf_printf(&b, "%s\n", json_get_string(obj, "id"));
		else
			cli_view_show(&b, obj);
		print_buf(c->env->out, &b);
		cli_buf_release(&b);
		r = CLI_EXIT_OK;
	} else {
		r = render(c, &resp.body, obj);
	}
	if (r == 0 && (cmd->flags & CLI_CMD_STATUS_OK)) {
		const char *status = json_get_string(obj, "status");
		char msg[128];

		if (!status || strcmp(status, "ok") != 0) {
			snprintf(msg, sizeof(msg), "cairnd reports status '%s'",
			         status ? status : "unknown");
			r = fail(c, CLI_EXIT_FAILED, msg);
		}
	}
out:
	json_object_put(obj);
	cli_response_release(&resp);
	return r;
}

int cli_run(int argc, char **argv, const struct cli_env *env)
{
	struct cli_ctx c = {.env = env};
	struct cli_request req = {0};
	struct cairn_err err = {0};
	int r;

	r = cli_parse(argc, argv, env->env_socket, &c.p, &err);
	if (r < 0)
		return usage_error(&c, err.code ? err.msg : strerror(-r));
	if (c.p.action != CLI_ACTION_RUN)
		return print_help(&c);

	c.client = (struct cli_client){
	        .socket = c.p.global.socket,
	        .idempotency_key = c.p.global.idempotency_key,
	        .timeout_ms = CLI_READ_TIMEOUT_MS,
	};
	r = c.p.cmd->handler(&c.p.inv, &req, &err);
	if (r < 0) {
		cli_request_release(&req);
		if (err.code)
			return usage_error(&c, err.msg);
		return fail(&c, CLI_EXIT_FAILED, strerror(-r));
	}
	r = run_request(&c, &req);
	cli_request_release(&req);
	fflush(env->out);
	return r;
}
