/* SPDX-License-Identifier: MIT */
/*
 * bench: cairn's benchmarks against the stock tools (the rbd CLI, librbd in-process,
 * rbd import/export-diff), each measured side by side in the same run.
 *
 * cairn-bench is one program with a command per benchmark; bench/run starts a throwaway
 * cluster and a cairnd, calls each command and turns their output into the table. Every
 * command prints one JSON object on stdout, {"rows": [row...]}, a row being
 *   {"benchmark", "cairn", "alternative", "ratio", "ratio_means", "target", "met", "data"}
 * ("met": "yes", "no" or "-" when the row has no target; "data": the raw numbers).
 * Progress and failures go to stderr. A benchmark never asserts on time: a missed target
 * is a "no" in the table, not a failure. A command fails (exit 1) only when it cannot
 * measure at all (cairnd unreachable, a setup step refused...).
 *
 * The pieces shared by the commands live here: a keep-alive HTTP/1.1 client over the Unix
 * socket (reusing the CLI's response parser), samples and percentiles, fork/exec of the
 * stock tools, the in-process cluster connection and the row builder.
 */
#ifndef CAIRN_BENCH_H
#define CAIRN_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

#include "common/common.h"
#include "cli/cli.h"

/* ---- options of every command ------------------------------------------------------------- */

struct bench_opts {
	const char *socket;    /* cairnd's API socket */
	const char *ceph_conf; /* for librados/librbd in-process and the rbd CLI */
	const char *images_pool;
	const char *volumes_pool;
	const char *prefix; /* of every name the run makes, so runs never collide */
	unsigned rounds;
	unsigned per_round; /* samples per path and round (latency benchmarks) */
	unsigned clients;   /* concurrent connections */
	unsigned count;     /* operations (creates, volumes to list...) */
	const char *image;  /* a cairn image (clone) */
	const char *qcow2;  /* import: file name under cairnd's import directory */
	const char *raw;    /* import: path of the same content as raw, for rbd import */
	uint64_t size;      /* backup: size of the volume */
	int pid;            /* api: cairnd's pid, for its RSS */
};

/* ---- time and samples --------------------------------------------------------------------- */

/* Monotonic seconds. */
double bench_now(void);

struct bench_samples {
	double *v; /* seconds */
	size_t n;
	size_t cap;
};

int bench_samples_add(struct bench_samples *s, double seconds);
/* Nearest-rank percentile (p in 0..100) in seconds; 0 when empty. Sorts the samples. */
double bench_samples_pct(struct bench_samples *s, double p);
void bench_samples_release(struct bench_samples *s);
/* {"n", "p50_ms", "p99_ms", "min_ms", "max_ms"} */
struct json_object *bench_samples_json(struct bench_samples *s);
/* "p50 4.1 / p99 6.0 ms" */
void bench_samples_format(struct bench_samples *s, char *buf, size_t len);

/* ---- HTTP/1.1 over the Unix socket, one keep-alive connection ------------------------------ */

struct bench_conn {
	const char *socket;
	int fd;           /* -1: not connected */
	double last_used; /* bench_now() of the last reply */
};

void bench_conn_init(struct bench_conn *c, const char *socket);
void bench_conn_release(struct bench_conn *c);

/*
 * One request on the connection (connecting first when needed, and again when it was
 * idle long enough that cairnd may have closed it). body may be NULL. ret->body holds
 * the reply; the caller releases ret. Transport failures are negative errnos with err
 * set; any HTTP status is a success here.
 */
int bench_http(struct bench_conn *c, const char *method, const char *path, const char *body,
               struct cli_response *ret, struct cairn_err *err);

/*
 * Same, expecting status want: another status is -EPROTO with the status and the API's
 * message in err. ret_json (may be NULL) gets the parsed reply.
 */
int bench_call(struct bench_conn *c, const char *method, const char *path, const char *body,
               int want, struct json_object **ret_json, struct cairn_err *err);

/*
 * Follow an operation (the 202 reply of an asynchronous request) until it ends:
 * 0 when it succeeded (ret_op, may be NULL, gets its last state), -EIO with its error
 * when it failed.
 */
int bench_op_wait(struct bench_conn *c, struct json_object *op, struct json_object **ret_op,
                  struct cairn_err *err);

/* ---- the stock tools ---------------------------------------------------------------------- */

/*
 * fork/exec argv (argv[0] looked up in PATH), stdout to /dev/null, wait. A non-zero exit
 * is -EIO with the first line of its stderr in err.
 */
int bench_spawn(const char *const *argv, struct cairn_err *err);

/* ---- the cluster in-process ---------------------------------------------------------------- */

int bench_rados_connect(const char *ceph_conf, rados_t *ret, struct cairn_err *err);
/* RBD image options of cairn's default volumes: format 2, features 61 (and clone format 2
 * for a clone: rbd_create4 refuses that option). */
rbd_image_options_t bench_image_options(bool clone);
/* Fill [offset, offset + len) of an open image with a byte pattern, in 4 MiB writes. */
int bench_rbd_fill(rbd_image_t img, uint64_t offset, uint64_t len, unsigned char pattern,
                   struct cairn_err *err);

/* ---- rows --------------------------------------------------------------------------------- */

enum bench_met {
	BENCH_MET_NONE = -1, /* the row has no target */
	BENCH_MET_NO = 0,
	BENCH_MET_YES = 1,
};

/* Append a row to rows (a JSON array); data is taken (may be NULL). */
int bench_row_add(struct json_object *rows, const char *benchmark, const char *cairn,
                  const char *alternative, double ratio, const char *ratio_means,
                  const char *target, enum bench_met met, struct json_object *data);
/* A row that could not be measured: every column "n/a (why)". */
int bench_row_na(struct json_object *rows, const char *benchmark, const char *why);

/* progress on stderr: "cairn-bench clone: ..." */
void bench_note(const char *cmd, const char *fmt, ...) _printf_(2, 3);

/* ---- the commands ------------------------------------------------------------------------- */

typedef int (*bench_cmd_fn)(const struct bench_opts *o, struct json_object *rows,
                            struct cairn_err *err);

int bench_clone(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err);
int bench_create(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err);
int bench_group(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err);
int bench_import(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err);
int bench_api(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err);
int bench_backup(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err);

/* Run fn(i, userdata) on n threads at once (started together); first failure returned. */
typedef int (*bench_thread_fn)(unsigned i, void *userdata);
int bench_threads(unsigned n, bench_thread_fn fn, void *userdata, struct cairn_err *err);

#endif
