/* SPDX-License-Identifier: MIT */
/*
 * Image import: a qcow2 file (half data, half holes) through cairnd (POST /v1/images and
 * the operation followed to its end: qemu-img convert into RBD, the base snapshot, the
 * record) against `rbd import` of the same content as a raw file. Each round imports both
 * and removes them again (not timed), the order alternating.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "common/json.h"

static int import_cairnd(struct bench_conn *c, const struct bench_opts *o, unsigned round,
                         double *ret_seconds, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *op = NULL;
	char body[512], path[256];
	double t0 = bench_now();
	int r;

	snprintf(body, sizeof(body),
	         "{\"name\": \"%s-im%u\", \"file\": \"%s\", \"format\": \"qcow2\"}", o->prefix,
	         round, o->qcow2);
	r = bench_call(c, "POST", "/v1/images", body, 202, &op, err);
	if (r >= 0)
		r = bench_op_wait(c, op, NULL, err);
	if (r < 0)
		return r;
	*ret_seconds = bench_now() - t0;
	snprintf(path, sizeof(path), "/v1/images/%s-im%u", o->prefix, round);
	return bench_call(c, "DELETE", path, NULL, 200, NULL, err);
}

static int import_rbd(const struct bench_opts *o, unsigned round, double *ret_seconds,
                      struct cairn_err *err)
{
	char spec[300];
	const char *imp[] = {"rbd",
	                     "-c",
	                     o->ceph_conf,
	                     "import",
	                     "--image-format",
	                     "2",
	                     "--image-feature",
	                     "layering,exclusive-lock,object-map,fast-diff,deep-flatten",
	                     o->raw,
	                     spec,
	                     NULL};
	const char *rm[] = {"rbd", "-c", o->ceph_conf, "rm", "--no-progress", spec, NULL};
	double t0 = bench_now();
	int r;

	snprintf(spec, sizeof(spec), "%s/%s-imraw%u", o->images_pool, o->prefix, round);
	r = bench_spawn(imp, err);
	if (r < 0)
		return r;
	*ret_seconds = bench_now() - t0;
	return bench_spawn(rm, err);
}

int bench_import(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err)
{
	struct bench_samples a = {0}, b = {0};
	char cairn[128], alt[128], title[128], sz[SIZE_STR_MAX];
	struct json_object *data;
	struct bench_conn c;
	unsigned round, k;
	double dt;
	int r = 0;

	if (!o->qcow2 || !o->raw || !o->size)
		return err_set(err, -EINVAL, "import needs --qcow2, --raw and --size");
	bench_conn_init(&c, o->socket);
	for (round = 0; round < o->rounds && r >= 0; round++) {
		bench_note("import", "round %u of %u", round + 1, o->rounds);
		for (k = 0; k < 2 && r >= 0; k++) {
			bool cairnd = (k + round) % 2 == 0;

			r = cairnd ? import_cairnd(&c, o, round, &dt, err)
			           : import_rbd(o, round, &dt, err);
			if (r >= 0 && bench_samples_add(cairnd ? &a : &b, dt) < 0)
				r = err_set(err, -ENOMEM, "out of memory");
		}
	}
	bench_conn_release(&c);
	if (r >= 0) {
		/*
		 * A few runs of seconds each on a host whose load comes and goes: the best of
		 * each is the run least disturbed, and the fairer pair to compare.
		 */
		double ratio = bench_samples_pct(&a, 0) / bench_samples_pct(&b, 0);

		snprintf(cairn, sizeof(cairn), "qcow2 best %.2f s (p50 %.2f s)",
		         bench_samples_pct(&a, 0), bench_samples_pct(&a, 50));
		snprintf(alt, sizeof(alt), "rbd import raw best %.2f s (p50 %.2f s)",
		         bench_samples_pct(&b, 0), bench_samples_pct(&b, 50));
		snprintf(title, sizeof(title), "image import, %s qcow2 (half data)",
		         size_format(o->size, sz));
		data = json_object_new_object();
		json_add_uint(data, "virtual_size", o->size);
		json_add(data, "cairnd", bench_samples_json(&a));
		json_add(data, "rbd_import", bench_samples_json(&b));
		r = bench_row_add(rows, title, cairn, alt, ratio, "cairnd best / rbd import best",
		                  "<= 1.0", ratio <= 1.0 ? BENCH_MET_YES : BENCH_MET_NO, data);
		if (r < 0)
			err_set(err, r, "out of memory");
	}
	bench_samples_release(&a);
	bench_samples_release(&b);
	return r;
}
