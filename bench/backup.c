/* SPDX-License-Identifier: MIT */
/*
 * Backups against the stock tools, on a volume of --size bytes, half of it data:
 *   full backup to a file (POST /v1/backups, target "file")
 *       vs `rbd snap create` + `rbd export-diff` of the snapshot to a file + `sync FILE`;
 *   incremental after 1% of the volume changed (64 KiB writes spread over it) vs the full
 *       one (both through cairnd);
 *   restore of that chain into a new volume (POST /v1/backups/{id}/restore)
 *       vs `rbd create` + `rbd import-diff` of the full and the incremental file.
 * cairnd without the backup API (GET /v1/backups is a 404) gives rows saying so.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "common/json.h"

#define CHUNK (4ull << 20)

enum { T_FULL, T_INCR, T_RESTORE, T_MAX };

struct backup_ctx {
	const struct bench_opts *o;
	struct bench_conn c;
	rados_t cl;
	rados_ioctx_t io;
	char volume[128];
	char rbd_image[128];
	char dir[4096]; /* where the stock tools' files go */
	struct bench_samples cairn[T_MAX];
	struct bench_samples stock[T_MAX];
};

static const char *const titles[T_MAX] = {
        "full backup: cairnd vs rbd export-diff",
        "incremental backup (1% changed) vs full",
        "restore: cairnd vs rbd import-diff",
};

static int probe(struct bench_conn *c, struct cairn_err *err)
{
	struct cli_response resp = {0};
	int r, status;

	r = bench_http(c, "GET", "/v1/backups", NULL, &resp, err);
	status = resp.status;
	cli_response_release(&resp);
	if (r < 0)
		return r;
	return status == 200;
}

/* POST a backup and follow it: ret_id gets the backup's id */
static int cairn_backup(struct backup_ctx *x, bool incremental, char ret_id[UUID_STR_LEN],
                        double *ret_seconds, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *op = NULL, *done = NULL;
	struct json_object *result;
	char body[256];
	const char *id;
	double t0 = bench_now();
	int r;

	snprintf(body, sizeof(body),
	         "{\"volume\": \"%s\", \"incremental\": %s, \"target\": \"file\"}", x->volume,
	         incremental ? "true" : "false");
	r = bench_call(&x->c, "POST", "/v1/backups", body, 202, &op, err);
	if (r >= 0)
		r = bench_op_wait(&x->c, op, &done, err);
	if (r < 0)
		return r;
	*ret_seconds = bench_now() - t0;
	if (!json_object_object_get_ex(done, "result", &result) ||
	    !(id = json_get_string(result, "id")))
		return err_set(err, -EPROTO, "backup operation without a result id");
	if (incremental && json_get_string(result, "why_full"))
		bench_note("backup", "the incremental backup was full: %s",
		           json_get_string(result, "why_full"));
	return str_copy(ret_id, UUID_STR_LEN, id) < 0 ? err_set(err, -EPROTO, "bad backup id") : 0;
}

static int cairn_restore(struct backup_ctx *x, const char *id, unsigned round, double *ret_seconds,
                         struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *op = NULL;
	char body[256], path[256];
	double t0 = bench_now();
	int r;

	snprintf(path, sizeof(path), "/v1/backups/%s/restore", id);
	snprintf(body, sizeof(body), "{\"volume\": \"%s-rs%u\"}", x->o->prefix, round);
	r = bench_call(&x->c, "POST", path, body, 202, &op, err);
	if (r >= 0)
		r = bench_op_wait(&x->c, op, NULL, err);
	if (r < 0)
		return r;
	*ret_seconds = bench_now() - t0;
	/* the restored volume goes, outside the timing: the OSD's memory is not endless */
	json_object_put(TAKE_PTR(op));
	snprintf(path, sizeof(path), "/v1/volumes/%s-rs%u?force", x->o->prefix, round);
	r = bench_call(&x->c, "DELETE", path, NULL, 202, &op, err);
	if (r >= 0)
		r = bench_op_wait(&x->c, op, NULL, err);
	return r < 0 ? r : 0;
}

/* rbd snap create + rbd export-diff [--from-snap] to dir/<snap>.diff + sync of the file */
static int stock_backup(struct backup_ctx *x, const char *snap, const char *from,
                        double *ret_seconds, struct cairn_err *err)
{
	const char *conf = x->o->ceph_conf;
	char spec[400], file[4200];
	const char *create[] = {"rbd", "-c", conf, "snap", "create", "--no-progress", spec, NULL};
	const char *exp_full[] = {"rbd",           "-c", conf, "export-diff",
	                          "--no-progress", spec, file, NULL};
	const char *exp_incr[] = {"rbd",         "-c", conf, "export-diff", "--no-progress",
	                          "--from-snap", from, spec, file,          NULL};
	const char *sync[] = {"sync", file, NULL};
	double t0;
	int r;

	snprintf(spec, sizeof(spec), "%s/%s@%s", x->o->volumes_pool, x->rbd_image, snap);
	snprintf(file, sizeof(file), "%s/%s.diff", x->dir, snap);
	unlink(file);
	t0 = bench_now();
	r = bench_spawn(create, err);
	if (r >= 0)
		r = bench_spawn(from ? exp_incr : exp_full, err);
	if (r >= 0)
		r = bench_spawn(sync, err); /* cairnd fsyncs its files too */
	if (r < 0)
		return r;
	*ret_seconds = bench_now() - t0;
	return 0;
}

/* rbd create + rbd import-diff of each file */
static int stock_restore(struct backup_ctx *x, const char *full, const char *incr, unsigned round,
                         double *ret_seconds, struct cairn_err *err)
{
	const char *conf = x->o->ceph_conf;
	char spec[400], file[4200], size[32];
	const char *create[] = {"rbd",
	                        "-c",
	                        conf,
	                        "create",
	                        "--size",
	                        size,
	                        "--image-feature",
	                        "layering,exclusive-lock,object-map,fast-diff,deep-flatten",
	                        spec,
	                        NULL};
	const char *imp[] = {"rbd", "-c", conf, "import-diff", "--no-progress", file, spec, NULL};
	double t0;
	int r;

	snprintf(size, sizeof(size), "%lluM", (unsigned long long)(x->o->size >> 20));
	snprintf(spec, sizeof(spec), "%s/%s-rsraw%u", x->o->volumes_pool, x->o->prefix, round);
	t0 = bench_now();
	r = bench_spawn(create, err);
	snprintf(file, sizeof(file), "%s/%s.diff", x->dir, full);
	if (r >= 0)
		r = bench_spawn(imp, err);
	snprintf(file, sizeof(file), "%s/%s.diff", x->dir, incr);
	if (r >= 0)
		r = bench_spawn(imp, err);
	if (r < 0)
		return r;
	*ret_seconds = bench_now() - t0;
	{
		/* import-diff left the diffs' end snapshots on the image */
		const char *purge[] = {"rbd",           "-c", conf, "snap", "purge",
		                       "--no-progress", spec, NULL};
		const char *rm[] = {"rbd", "-c", conf, "rm", "--no-progress", spec, NULL};
		r = bench_spawn(purge, err);
		return r < 0 ? r : bench_spawn(rm, err);
	}
}

static int setup(struct backup_ctx *x, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *vol = NULL;
	const struct bench_opts *o = x->o;
	char body[256];
	rbd_image_t img;
	uint64_t off;
	const char *rbd, *pool;
	int r;

	snprintf(x->volume, sizeof(x->volume), "%s-bk", o->prefix);
	snprintf(body, sizeof(body), "{\"name\": \"%s\", \"size\": %llu}", x->volume,
	         (unsigned long long)o->size);
	r = bench_call(&x->c, "POST", "/v1/volumes", body, 201, &vol, err);
	if (r < 0)
		return r;
	rbd = json_get_string(vol, "rbd_image");
	pool = json_get_string(vol, "pool");
	if (!rbd || !pool || strcmp(pool, o->volumes_pool) != 0)
		return err_set(err, -EPROTO, "volume '%s' is not in pool '%s'", x->volume,
		               o->volumes_pool);
	str_copy(x->rbd_image, sizeof(x->rbd_image), rbd);
	r = bench_rados_connect(o->ceph_conf, &x->cl, err);
	if (r < 0)
		return r;
	r = rados_ioctx_create(x->cl, o->volumes_pool, &x->io);
	if (r < 0)
		return err_set(err, r, "cannot open pool '%s': %s", o->volumes_pool, strerror(-r));
	r = rbd_open(x->io, x->rbd_image, &img, NULL);
	if (r < 0)
		return err_set(err, r, "cannot open '%s': %s", x->rbd_image, strerror(-r));
	/* half data, half holes: every other 4 MiB */
	for (off = 0; off < o->size && r >= 0; off += 2 * CHUNK)
		r = bench_rbd_fill(img, off, o->size - off < CHUNK ? o->size - off : CHUNK,
		                   (unsigned char)(off >> 22), err);
	rbd_close(img);
	return r;
}

/* 1% of the volume in 64 KiB writes spread evenly over it (as bench/backup-bench does) */
static int change_one_percent(struct backup_ctx *x, unsigned round, struct cairn_err *err)
{
	uint64_t piece = 64 << 10, n = (x->o->size / 100 + piece - 1) / piece, stride, i;
	rbd_image_t img;
	int r;

	if (n == 0)
		n = 1;
	stride = (x->o->size / n) & ~(piece - 1);
	r = rbd_open(x->io, x->rbd_image, &img, NULL);
	if (r < 0)
		return err_set(err, r, "cannot open '%s': %s", x->rbd_image, strerror(-r));
	for (i = 0; i < n && r >= 0; i++)
		r = bench_rbd_fill(img, i * stride, piece, (unsigned char)(0x80 + round + i), err);
	rbd_close(img);
	return r;
}

static int one_round(struct backup_ctx *x, unsigned round, struct cairn_err *err)
{
	char full_id[UUID_STR_LEN], incr_id[UUID_STR_LEN], sf[64], si[64];
	bool cairn_first = round % 2 == 0;
	double dt, dt2;
	int r, k;

	snprintf(sf, sizeof(sf), "%s-full%u", x->o->prefix, round);
	snprintf(si, sizeof(si), "%s-incr%u", x->o->prefix, round);
	for (k = 0; k < 2; k++) {
		if ((k == 0) == cairn_first) {
			r = cairn_backup(x, false, full_id, &dt, err);
			if (r >= 0 && (r = bench_samples_add(&x->cairn[T_FULL], dt)) < 0)
				return err_set(err, r, "out of memory");
		} else {
			r = stock_backup(x, sf, NULL, &dt, err);
			if (r >= 0 && (r = bench_samples_add(&x->stock[T_FULL], dt)) < 0)
				return err_set(err, r, "out of memory");
		}
		if (r < 0)
			return r;
	}
	r = change_one_percent(x, round, err);
	if (r < 0)
		return r;
	/* the incremental through cairnd, against its own full one; the stock pair too */
	r = cairn_backup(x, true, incr_id, &dt, err);
	if (r >= 0)
		r = stock_backup(x, si, sf, &dt2, err);
	if (r < 0)
		return r;
	if (bench_samples_add(&x->cairn[T_INCR], dt) < 0 ||
	    bench_samples_add(&x->stock[T_INCR], dt2) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	for (k = 0; k < 2; k++) {
		if ((k == 0) == cairn_first) {
			r = cairn_restore(x, incr_id, round, &dt, err);
			if (r >= 0 && (r = bench_samples_add(&x->cairn[T_RESTORE], dt)) < 0)
				return err_set(err, r, "out of memory");
		} else {
			r = stock_restore(x, sf, si, round, &dt, err);
			if (r >= 0 && (r = bench_samples_add(&x->stock[T_RESTORE], dt)) < 0)
				return err_set(err, r, "out of memory");
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int rows_add(struct backup_ctx *x, struct json_object *rows)
{
	char cairn[128], alt[128], sz[SIZE_STR_MAX], title[160];
	unsigned t;
	int r = 0;

	size_format(x->o->size, sz);
	for (t = 0; t < T_MAX && r >= 0; t++) {
		/* few runs of seconds each on a host whose load comes and goes: the best of
		 * each is the run least disturbed, and the fairer pair to compare */
		struct bench_samples *cs = &x->cairn[t];
		struct bench_samples *ss = t == T_INCR ? &x->cairn[T_FULL] : &x->stock[t];
		double c0 = bench_samples_pct(cs, 0), s0 = bench_samples_pct(ss, 0);
		double ratio = c0 / s0;
		/* issue 5 and 8: full backup and restore no slower than the stock tools, an
		 * incremental of 1% at most 5% of the full */
		const char *target = t == T_INCR ? "<= 0.05" : "<= 1.0";
		double limit = t == T_INCR ? 0.05 : 1.0;
		enum bench_met met = ratio <= limit ? BENCH_MET_YES : BENCH_MET_NO;
		struct json_object *data = json_object_new_object();

		json_add(data, "cairnd", bench_samples_json(cs));
		json_add(data, "stock", bench_samples_json(&x->stock[t]));
		snprintf(cairn, sizeof(cairn), "best %.2f s (p50 %.2f s)", c0,
		         bench_samples_pct(cs, 50));
		if (t == T_INCR)
			snprintf(alt, sizeof(alt),
			         "cairnd full best %.2f s (export-diff incr %.2f s)", s0,
			         bench_samples_pct(&x->stock[t], 0));
		else
			snprintf(alt, sizeof(alt), "%s best %.2f s (p50 %.2f s)",
			         t == T_FULL ? "snap create + export-diff + sync"
			                     : "rbd create + 2 import-diff",
			         s0, bench_samples_pct(ss, 50));
		snprintf(title, sizeof(title), "%s, %s volume", titles[t], sz);
		r = bench_row_add(rows, title, cairn, alt, ratio,
		                  t == T_INCR ? "incremental best / full best"
		                              : "cairnd best / stock best",
		                  target, met, data);
	}
	return r;
}

int bench_backup(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err)
{
	struct backup_ctx x = {.o = o};
	unsigned round, t;
	int r;

	if (!o->raw || !o->size)
		return err_set(err, -EINVAL,
		               "backup needs --raw DIR (for the stock files) and --size");
	bench_conn_init(&x.c, o->socket);
	str_copy(x.dir, sizeof(x.dir), o->raw);
	r = probe(&x.c, err);
	if (r <= 0) {
		for (t = 0; t < T_MAX && r == 0; t++)
			r = bench_row_na(rows, titles[t], "backups not available");
		bench_conn_release(&x.c);
		if (r == 0)
			bench_note("backup",
			           "GET /v1/backups is not served: backups not available");
		return r;
	}
	r = setup(&x, err);
	for (round = 0; round < o->rounds && r >= 0; round++) {
		bench_note("backup", "round %u of %u", round + 1, o->rounds);
		r = one_round(&x, round, err);
	}
	if (r >= 0 && rows_add(&x, rows) < 0)
		r = err_set(err, -ENOMEM, "out of memory");
	for (t = 0; t < T_MAX; t++) {
		bench_samples_release(&x.cairn[t]);
		bench_samples_release(&x.stock[t]);
	}
	if (x.io)
		rados_ioctx_destroy(x.io);
	if (x.cl)
		rados_shutdown(x.cl);
	bench_conn_release(&x.c);
	return r;
}
