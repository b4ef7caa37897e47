/* SPDX-License-Identifier: MIT */
/*
 * Volume creates under load: --count blank 1 GiB volumes from --clients concurrent
 * clients (a thread and a keep-alive connection each) against the same number of
 * `rbd create` run one after the other (what a provisioning script does). Throughput of
 * both, and every cairnd error counted: the target is >= 4x with zero errors.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "common/json.h"

#define CREATE_SIZE (1ull << 30)

struct create_run {
	const struct bench_opts *o;
	unsigned round;
	atomic_uint next;
	atomic_uint errors;
	struct bench_samples *lat; /* one per client */
	struct cairn_err *errs;    /* one per client */
};

static int create_client(unsigned i, void *userdata)
{
	struct create_run *run = userdata;
	const struct bench_opts *o = run->o;
	struct bench_conn conn;
	char body[256];

	bench_conn_init(&conn, o->socket);
	for (;;) {
		unsigned n = atomic_fetch_add(&run->next, 1);
		struct cairn_err e = {0};
		double t0;

		if (n >= o->count)
			break;
		snprintf(body, sizeof(body), "{\"name\": \"%s-cr%u-%u\", \"size\": %llu}",
		         o->prefix, run->round, n, CREATE_SIZE);
		t0 = bench_now();
		if (bench_call(&conn, "POST", "/v1/volumes", body, 201, NULL, &e) < 0) {
			atomic_fetch_add(&run->errors, 1);
			if (!run->errs[i].code)
				run->errs[i] = e;
			continue;
		}
		if (bench_samples_add(&run->lat[i], bench_now() - t0) < 0) {
			bench_conn_release(&conn);
			return -ENOMEM;
		}
	}
	bench_conn_release(&conn);
	return 0;
}

static int run_cairnd(const struct bench_opts *o, unsigned round, double *ret_seconds,
                      unsigned *ret_errors, struct bench_samples *all, struct cairn_err *err)
{
	struct create_run run = {.o = o, .round = round};
	double t0, t1;
	unsigned i;
	int r;

	run.lat = calloc(o->clients, sizeof(*run.lat));
	run.errs = calloc(o->clients, sizeof(*run.errs));
	if (!run.lat || !run.errs) {
		free(run.lat);
		free(run.errs);
		return err_set(err, -ENOMEM, "out of memory");
	}
	atomic_init(&run.next, 0);
	atomic_init(&run.errors, 0);
	t0 = bench_now();
	r = bench_threads(o->clients, create_client, &run, err);
	t1 = bench_now();
	for (i = 0; i < o->clients; i++) {
		size_t j;

		if (run.errs[i].code)
			bench_note("create", "client %u: %s", i, run.errs[i].msg);
		for (j = 0; j < run.lat[i].n && r >= 0; j++)
			r = bench_samples_add(all, run.lat[i].v[j]);
		bench_samples_release(&run.lat[i]);
	}
	free(run.lat);
	free(run.errs);
	if (r < 0)
		return err_set(err, r, "out of memory");
	*ret_seconds = t1 - t0;
	*ret_errors = atomic_load(&run.errors);
	return 0;
}

static int run_cli(const struct bench_opts *o, unsigned round, double *ret_seconds,
                   struct cairn_err *err)
{
	char spec[300];
	const char *argv[] = {"rbd",
	                      "-c",
	                      o->ceph_conf,
	                      "create",
	                      "--size",
	                      "1024",
	                      "--image-feature",
	                      "layering,exclusive-lock,object-map,fast-diff,deep-flatten",
	                      spec,
	                      NULL};
	double t0 = bench_now();
	unsigned i;
	int r;

	for (i = 0; i < o->count; i++) {
		snprintf(spec, sizeof(spec), "%s/%s-crcli%u-%u", o->volumes_pool, o->prefix, round,
		         i);
		r = bench_spawn(argv, err);
		if (r < 0)
			return r;
	}
	*ret_seconds = bench_now() - t0;
	return 0;
}

int bench_create(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err)
{
	struct bench_samples lat = {0};
	double t_cairn = 0, t_cli = 0, dt;
	unsigned round, errors = 0, e;
	char cairn[160], alt[160], title[96], st[96];
	struct json_object *data;
	double ratio;
	int r = 0;

	for (round = 0; round < o->rounds && r >= 0; round++) {
		bench_note("create", "round %u: %u creates from %u clients, %u rbd create",
		           round + 1, o->count, o->clients, o->count);
		if (round % 2 == 0) {
			r = run_cairnd(o, round, &dt, &e, &lat, err);
			if (r >= 0) {
				t_cairn += dt;
				errors += e;
				r = run_cli(o, round, &dt, err);
				t_cli += dt;
			}
		} else {
			r = run_cli(o, round, &dt, err);
			if (r >= 0) {
				t_cli += dt;
				r = run_cairnd(o, round, &dt, &e, &lat, err);
				t_cairn += dt;
				errors += e;
			}
		}
	}
	if (r < 0) {
		bench_samples_release(&lat);
		return r;
	}
	/* creates per second over all rounds; failed ones do not count */
	ratio = ((double)(o->count * o->rounds - errors) / t_cairn) /
	        ((double)(o->count * o->rounds) / t_cli);
	bench_samples_format(&lat, st, sizeof(st));
	snprintf(cairn, sizeof(cairn), "%.1f/s, %u errors (each %s)",
	         (o->count * o->rounds - errors) / t_cairn, errors, st);
	snprintf(alt, sizeof(alt), "rbd create serial %.1f/s", o->count * o->rounds / t_cli);
	snprintf(title, sizeof(title), "%u volume creates, %u clients vs serial CLI", o->count,
	         o->clients);
	data = json_object_new_object();
	json_add_uint(data, "creates_per_round", o->count);
	json_add_uint(data, "rounds", o->rounds);
	json_add_uint(data, "clients", o->clients);
	json_add_uint(data, "errors", errors);
	json_object_object_add(data, "cairnd_seconds", json_object_new_double(t_cairn));
	json_object_object_add(data, "cli_seconds", json_object_new_double(t_cli));
	json_add(data, "cairnd_latency", bench_samples_json(&lat));
	bench_samples_release(&lat);
	r = bench_row_add(rows, title, cairn, alt, ratio, "cairnd creates/s / CLI creates/s",
	                  ">= 4, 0 errors",
	                  ratio >= 4 && errors == 0 ? BENCH_MET_YES : BENCH_MET_NO, data);
	return r < 0 ? err_set(err, r, "out of memory") : 0;
}
