/* SPDX-License-Identifier: MIT */
/*
 * cli: `cairn`, the command-line client of the cairnd REST API.
 *
 * Commands are data: a sorted table of {noun, verb, handler, args, opts, flags, view,
 * usage} looked up with bsearch. The arguments are checked against the table before the
 * handler runs; a handler only turns a checked invocation into an HTTP request (pure, no
 * I/O). The reply is rendered through the entry's view. Everything but the socket calls is
 * a pure function over buffers, so it is unit-tested without a daemon.
 *
 * Exit codes: 0 success, 1 the request failed, 2 usage error, 3 cannot reach cairnd.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <http_parser.h>
#include <json-c/json.h>

#include "common/common.h"

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_UNREACHABLE = 3,
};

#define CLI_DEFAULT_SOCKET "/run/cairn/cairn.sock"
#define CLI_ENV_SOCKET     "CAIRN_SOCKET"

/* ---- growing string buffer (cli/buf.c) ----------------------------------------------- */

/*
 * Appends never fail loudly: on out-of-memory the buffer remembers it, later appends do
 * nothing, and cli_buf_error() reports -ENOMEM once the text is complete. data is always
 * NUL-terminated once anything was appended (or NULL when nothing was).
 */
struct cli_buf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;
};

void cli_buf_append(struct cli_buf *b, const char *s, size_t n);
void cli_buf_puts(struct cli_buf *b, const char *s);
void cli_buf_putc(struct cli_buf *b, char c);
void cli_buf_printf(struct cli_buf *b, const char *fmt, ...) _printf_(2, 3);
void cli_buf_pad(struct cli_buf *b, char c, size_t n);
/* Percent-encode everything but [A-Za-z0-9._~-] (a path segment or a query value). */
void cli_buf_put_encoded(struct cli_buf *b, const char *s);
/* "" when empty; never NULL */
const char *cli_buf_str(const struct cli_buf *b);
int cli_buf_error(const struct cli_buf *b);
void cli_buf_reset(struct cli_buf *b);
void cli_buf_release(struct cli_buf *b);

/* Display width of UTF-8 text: code points, not bytes. */
size_t cli_text_width(const char *s);

/* ---- the command table (cli/table.c) ----------------------------------------------------- */

enum cli_type {
	CLI_T_FLAG,     /* option without a value */
	CLI_T_STRING,   /* any non-empty string */
	CLI_T_NAME,     /* a cairn name, checked with name_validate(what) */
	CLI_T_SIZE,     /* a disk size: "10G", "512M", bytes; positive, multiple of 512 */
	CLI_T_RATE,     /* bytes per second: "100M", bytes; positive */
	CLI_T_UINT,     /* decimal integer >= 0 */
	CLI_T_LABEL,    /* key=value, the key a name */
	CLI_T_SNAPSPEC, /* VOLUME@SNAPSHOT */
	CLI_T_ID,       /* an id: non-empty printable, at most 128 characters */
	CLI_T_CHOICE,   /* one of what: "pool|file" */
	CLI_T_MAX,
};

enum {
	CLI_P_OPTIONAL = 1 << 0, /* positional: may be left out */
	CLI_P_MORE = 1 << 1,     /* positional, last: one or more */
	CLI_P_REPEAT = 1 << 2,   /* option: may be given more than once */
	CLI_P_REQUIRED = 1 << 3, /* option: must be given */
};

struct cli_param {
	const char *name; /* option "size" (--size); positional "NAME" */
	enum cli_type type;
	unsigned flags;
	const char *what;    /* NAME: what is named ("volume"); CHOICE: "pool|file" */
	const char *metavar; /* option value in help ("SIZE"); NULL for flags and positionals */
	const char *help;
};

#define CLI_ARGS_MAX   64
#define CLI_OPTS_MAX   12
#define CLI_REPEAT_MAX 64

struct cli_value {
	bool set;
	const char *str;                   /* as given (borrowed from argv) */
	uint64_t num;                      /* SIZE, RATE, UINT */
	const char *items[CLI_REPEAT_MAX]; /* REPEAT: every value in order */
	size_t n_items;
};

struct cli_command;

struct cli_invocation {
	const struct cli_command *cmd;
	const char *args[CLI_ARGS_MAX]; /* positionals, borrowed from argv */
	uint64_t arg_num[CLI_ARGS_MAX]; /* SIZE/UINT positionals */
	size_t n_args;
	struct cli_value opts[CLI_OPTS_MAX]; /* parallel to cmd->opts */
};

/* An HTTP request a handler built: method, path with query, JSON body or none. */
struct cli_request {
	const char *method;
	struct cli_buf path;
	struct json_object *body;
};

void cli_request_release(struct cli_request *req);

enum cli_fmt {
	CLI_FMT_AUTO,    /* string as is, numbers, true/false, objects inline, null "-" */
	CLI_FMT_SIZE,    /* bytes -> "10 GiB" */
	CLI_FMT_PERCENT, /* 42 -> "42%" */
	CLI_FMT_COUNT,   /* array -> its length; number as is */
	CLI_FMT_LABELS,  /* {"a": "b"} -> "a=b,c=d" */
	CLI_FMT_MAX,
};

struct cli_column {
	const char *header;
	const char *key; /* dotted path: "resource.name" */
	enum cli_fmt fmt;
};

enum cli_view_kind {
	CLI_VIEW_NONE,  /* nothing but the done message */
	CLI_VIEW_SHOW,  /* key: value lines */
	CLI_VIEW_TABLE, /* an aligned table of list_key's array */
	CLI_VIEW_RAW,   /* the body as is (XML) */
};

struct cli_view {
	enum cli_view_kind kind;
	const char *list_key;
	const struct cli_column *columns; /* terminated by header NULL */
};

enum {
	CLI_CMD_MUTATING = 1 << 0,  /* changes something: --quiet hides its output */
	CLI_CMD_STREAM = 1 << 1,    /* reply is a stream of JSON lines (events) */
	CLI_CMD_FOLLOW = 1 << 2,    /* reply is an operation to follow even on 200 (op wait) */
	CLI_CMD_NO_FOLLOW = 1 << 3, /* a 202 is shown, not followed (op cancel) */
	CLI_CMD_STATUS_OK = 1 << 4, /* exit 1 unless the reply's "status" is "ok" (health) */
};

typedef int (*cli_handler)(const struct cli_invocation *inv, struct cli_request *req,
                           struct cairn_err *err);

struct cli_command {
	const char *noun;
	const char *verb; /* "" for one-word commands (health, events) */
	cli_handler handler;
	const struct cli_param *args; /* terminated by name NULL */
	const struct cli_param *opts; /* terminated by name NULL */
	unsigned flags;
	const struct cli_view *view;
	const char *usage;   /* what follows "cairn noun verb" */
	const char *summary; /* one line, lowercase */
	const char *done;    /* printed on success when there is nothing to show; {0} {1} = args */
};

/* The table, sorted by (noun, verb). */
const struct cli_command *cli_commands(size_t *ret_n);
int cli_command_cmp(const struct cli_command *a, const struct cli_command *b);
/* NULL when unknown. verb "" finds a one-word command. */
const struct cli_command *cli_command_find(const char *noun, const char *verb);
bool cli_noun_exists(const char *noun);
/* The noun's only command when it takes no verb (health, events), else NULL. */
const struct cli_command *cli_command_single(const char *noun);
/* Index of option name in cmd->opts or -1. */
int cli_command_opt_index(const struct cli_command *cmd, const char *name);
/* The value of option name (NULL when the command has no such option or it was not given). */
const struct cli_value *cli_opt(const struct cli_invocation *inv, const char *name);

/* ---- argument parsing (cli/args.c) ----------------------------------------------------- */

struct cli_global {
	const char *socket;
	const char *idempotency_key;
	bool json;
	bool no_wait;
	bool quiet;
};

enum cli_action {
	CLI_ACTION_RUN,
	CLI_ACTION_HELP,         /* top-level help */
	CLI_ACTION_HELP_NOUN,    /* cairn volume --help */
	CLI_ACTION_HELP_COMMAND, /* cairn volume create --help */
	CLI_ACTION_VERSION,
};

struct cli_parsed {
	enum cli_action action;
	struct cli_global global;
	const char *noun;              /* known so far, for help and error hints */
	const struct cli_command *cmd; /* known so far */
	struct cli_invocation inv;
};

/*
 * Parse argv (argv[0] is the program) against the table. env_socket is $CAIRN_SOCKET or
 * NULL. Any failure is a usage error: -EINVAL with the message in err, and ret->noun /
 * ret->cmd set as far as they were understood (for the --help hint).
 */
int cli_parse(int argc, char **argv, const char *env_socket, struct cli_parsed *ret,
              struct cairn_err *err);

/* Check one value against its parameter; fills v->num for numbers. */
int cli_value_check(const struct cli_param *p, const char *s, struct cli_value *v,
                    struct cairn_err *err);

/* Split "key=value": key checked as a name; ret_key is allocated. */
int cli_label_split(const char *s, char **ret_key, const char **ret_value, struct cairn_err *err);

/* Help texts. */
void cli_help_top(struct cli_buf *out);
void cli_help_noun(struct cli_buf *out, const char *noun);
void cli_help_command(struct cli_buf *out, const struct cli_command *cmd);
/* "Try 'cairn volume create --help'." for what is known. */
void cli_help_hint(struct cli_buf *out, const char *noun, const struct cli_command *cmd);

/* ---- rendering (cli/render.c) ---------------------------------------------------------- */

/* Member by dotted path ("resource.name"), borrowed; NULL when absent. */
struct json_object *cli_json_path(struct json_object *obj, const char *path);
/* One value as text for a cell or a show line. */
void cli_format_value(struct cli_buf *out, struct json_object *v, enum cli_fmt fmt);

/*
 * An aligned table: header row and rows of cells (row-major, n_rows * n_cols), columns
 * as wide as their widest cell, two spaces apart, right-aligned where right[c], no
 * trailing spaces.
 */
void cli_table_render(struct cli_buf *out, const char *const *headers, const bool *right,
                      size_t n_cols, const char *const *cells, size_t n_rows);
/* A table of the objects in reply[view->list_key]. */
int cli_view_table(struct cli_buf *out, struct json_object *reply, const struct cli_view *view);
/* key: value lines, values aligned; nested plain objects flattened as "cluster.fsid". */
int cli_view_show(struct cli_buf *out, struct json_object *obj);

struct cli_progress {
	int percent;
	uint64_t bytes_done;
	uint64_t bytes_total; /* 0: unknown */
	const char *kind;     /* "image.import" */
	const char *name;     /* "debian12" */
};

void cli_progress_from_op(struct json_object *op, struct cli_progress *ret);
/* "[#####.....] 42% 450 MiB/1.0 GiB image.import debian12" with a bar width cells wide */
void cli_progress_format(struct cli_buf *out, const struct cli_progress *p, unsigned width);
/* Not on a terminal: true when "progress N%" is due (at most one line per 10%). */
bool cli_progress_plain_due(int *last_decade, int percent);

/* "{0}"/"{1}" in a done message replaced by the positional arguments. */
void cli_done_format(struct cli_buf *out, const char *tmpl, const struct cli_invocation *inv);

/* ---- HTTP over the Unix socket (cli/http.c) --------------------------------------------- */

#define CLI_MAX_BODY (64u << 20)

struct cli_response {
	int status;
	struct cli_buf body;
	char *content_type;
	char *location;
};

void cli_response_release(struct cli_response *r);

/* The request as bytes: request line, Host, User-Agent, Content-Type, Content-Length... */
int cli_http_format_request(struct cli_buf *out, const char *method, const char *path,
                            const char *body, size_t body_len, const char *idempotency_key);

typedef void (*cli_line_cb)(const char *line, size_t len, void *userdata);

/*
 * Incremental response parser (http-parser): feed bytes as they arrive, in any pieces.
 * With on_line set, a 2xx body is not kept but handed on line by line (without the
 * newline) as soon as each line is complete; other statuses are kept for the error.
 */
struct cli_http_reader {
	http_parser parser;
	struct cli_response *resp;
	cli_line_cb on_line;
	void *userdata;
	struct cli_buf line;
	struct cli_buf field;
	struct cli_buf value;
	bool in_value;
	bool done;
	int error;
};

void cli_http_reader_init(struct cli_http_reader *r, struct cli_response *resp, cli_line_cb on_line,
                          void *userdata);
/* 1: the response is complete; 0: more is needed; negative: malformed. */
int cli_http_reader_feed(struct cli_http_reader *r, const char *data, size_t len,
                         struct cairn_err *err);
/* The peer closed: 1 when that completed the response, else -EPROTO. */
int cli_http_reader_eof(struct cli_http_reader *r, struct cairn_err *err);
void cli_http_reader_release(struct cli_http_reader *r);

struct cli_client {
	const char *socket;
	const char *idempotency_key; /* sent with the first request of the command only */
	int timeout_ms;              /* per read; 0: none */
};

/*
 * One request on a new connection. Connection failures are -EHOSTUNREACH with the
 * socket and the reason in err (exit code 3); other failures are negative errnos.
 */
int cli_http_call(const struct cli_client *c, const char *method, const char *path,
                  const char *body, size_t body_len, const char *idempotency_key,
                  cli_line_cb on_line, void *userdata, struct cli_response *ret,
                  struct cairn_err *err);

/* ---- running a command (cli/run.c) ------------------------------------------------------ */

struct cli_env {
	FILE *out;
	FILE *err;
	bool err_is_tty;
	const char *env_socket; /* $CAIRN_SOCKET or NULL */
	unsigned poll_timeout;  /* seconds per wait poll (1) */
};

/* The whole program minus main(): parse, build, call, follow, render; the exit code. */
int cli_run(int argc, char **argv, const struct cli_env *env);

/* The message of an API error body, or NULL. */
const char *cli_error_message(struct json_object *reply);

#endif
