/* SPDX-License-Identifier: MIT */
/*
 * Group snapshot: one consistent snapshot of --count volumes (POST /v1/snapshots/group)
 * against a snapshot of each volume, one request after the other (POST
 * /v1/volumes/{name}/snapshots): what a point consistent across the disks of a VM costs
 * over snapshots that are not.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "common/json.h"

static int group_once(struct bench_conn *c, const struct bench_opts *o, const char *snap,
                      double *ret_seconds, struct cairn_err *err)
{
	struct cli_buf body = {0};
	double t0;
	unsigned i;
	int r;

	cli_buf_printf(&body, "{\"name\": \"%s\", \"volumes\": [", snap);
	for (i = 0; i < o->count; i++)
		cli_buf_printf(&body, "%s\"%s-g%u\"", i ? ", " : "", o->prefix, i);
	cli_buf_puts(&body, "]}");
	if (cli_buf_error(&body)) {
		cli_buf_release(&body);
		return err_set(err, -ENOMEM, "out of memory");
	}
	t0 = bench_now();
	r = bench_call(c, "POST", "/v1/snapshots/group", cli_buf_str(&body), 201, NULL, err);
	*ret_seconds = bench_now() - t0;
	cli_buf_release(&body);
	return r;
}

static int singles_once(struct bench_conn *c, const struct bench_opts *o, const char *snap,
                        double *ret_seconds, struct cairn_err *err)
{
	char path[256], body[256];
	double t0 = bench_now();
	unsigned i;
	int r;

	snprintf(body, sizeof(body), "{\"name\": \"%s\"}", snap);
	for (i = 0; i < o->count; i++) {
		snprintf(path, sizeof(path), "/v1/volumes/%s-g%u/snapshots", o->prefix, i);
		r = bench_call(c, "POST", path, body, 201, NULL, err);
		if (r < 0)
			return r;
	}
	*ret_seconds = bench_now() - t0;
	return 0;
}

int bench_group(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err)
{
	struct bench_samples g = {0}, s = {0};
	struct bench_conn c;
	char body[256], snap[128], title[96], cairn[128], alt[128], st[96];
	struct json_object *data;
	unsigned i, round;
	double dt;
	int r = 0;

	bench_conn_init(&c, o->socket);
	bench_note("group", "%u volumes, %u rounds", o->count, o->rounds);
	for (i = 0; i < o->count && r >= 0; i++) {
		snprintf(body, sizeof(body), "{\"name\": \"%s-g%u\", \"size\": %llu}", o->prefix, i,
		         1ull << 30);
		r = bench_call(&c, "POST", "/v1/volumes", body, 201, NULL, err);
	}
	/* warm-up, not counted */
	if (r >= 0)
		r = group_once(&c, o, "warm-g", &dt, err);
	if (r >= 0)
		r = singles_once(&c, o, "warm-s", &dt, err);
	for (round = 0; round < o->rounds && r >= 0; round++) {
		unsigned k;

		for (k = 0; k < 2 && r >= 0; k++) {
			bool group = (k + round) % 2 == 0;

			snprintf(snap, sizeof(snap), "%s%u", group ? "g" : "s", round);
			r = group ? group_once(&c, o, snap, &dt, err)
			          : singles_once(&c, o, snap, &dt, err);
			if (r >= 0 && bench_samples_add(group ? &g : &s, dt) < 0)
				r = err_set(err, -ENOMEM, "out of memory");
		}
	}
	bench_conn_release(&c);
	if (r >= 0) {
		double ratio = bench_samples_pct(&g, 50) / bench_samples_pct(&s, 50);

		bench_samples_format(&g, st, sizeof(st));
		snprintf(cairn, sizeof(cairn), "group %s", st);
		bench_samples_format(&s, st, sizeof(st));
		snprintf(alt, sizeof(alt), "%u single snapshots %s", o->count, st);
		snprintf(title, sizeof(title), "group snapshot of %u volumes vs %u single ones",
		         o->count, o->count);
		data = json_object_new_object();
		json_add(data, "group", bench_samples_json(&g));
		json_add(data, "singles", bench_samples_json(&s));
		r = bench_row_add(rows, title, cairn, alt, ratio, "group p50 / singles p50", "-",
		                  BENCH_MET_NONE, data);
		if (r < 0)
			err_set(err, r, "out of memory");
	}
	bench_samples_release(&g);
	bench_samples_release(&s);
	return r;
}
