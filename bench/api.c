/* SPDX-License-Identifier: MIT */
/*
 * API overhead: GET of one volume at 1 and at --clients keep-alive clients; the list of
 * --count volumes (made first through the API, --clients at a time: real volumes, RBD
 * images and records alike); cairnd's resident memory, idle, with them all.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "common/json.h"

#define GET_SINGLE_PER_ROUND 200
#define GET_MULTI_PER_ROUND  50 /* per client */
#define LIST_PER_ROUND       3

struct api_run {
	const struct bench_opts *o;
	unsigned requests; /* per client */
	atomic_uint next;  /* fill: next volume to create */
	struct bench_samples *lat;
	struct cairn_err *errs;
};

static int fill_client(unsigned i, void *userdata)
{
	struct api_run *run = userdata;
	struct bench_conn conn;
	char body[256];
	int r = 0;

	bench_conn_init(&conn, run->o->socket);
	for (;;) {
		unsigned n = atomic_fetch_add(&run->next, 1);

		if (n >= run->o->count)
			break;
		snprintf(body, sizeof(body), "{\"name\": \"%s-l%u\", \"size\": %llu}",
		         run->o->prefix, n, 1ull << 30);
		r = bench_call(&conn, "POST", "/v1/volumes", body, 201, NULL, &run->errs[i]);
		if (r < 0)
			break;
	}
	bench_conn_release(&conn);
	return r;
}

static int get_client(unsigned i, void *userdata)
{
	struct api_run *run = userdata;
	struct bench_conn conn;
	char path[256];
	unsigned k;
	int r = 0;

	snprintf(path, sizeof(path), "/v1/volumes/%s-l0", run->o->prefix);
	bench_conn_init(&conn, run->o->socket);
	/* a first request to connect, not counted */
	r = bench_call(&conn, "GET", path, NULL, 200, NULL, &run->errs[i]);
	for (k = 0; k < run->requests && r >= 0; k++) {
		double t0 = bench_now();

		r = bench_call(&conn, "GET", path, NULL, 200, NULL, &run->errs[i]);
		if (r >= 0 && bench_samples_add(&run->lat[i], bench_now() - t0) < 0)
			r = -ENOMEM;
	}
	bench_conn_release(&conn);
	return r;
}

static int run_clients(const struct bench_opts *o, unsigned clients, bench_thread_fn fn,
                       unsigned requests, struct bench_samples *all, struct cairn_err *err)
{
	struct api_run run = {.o = o, .requests = requests};
	unsigned i;
	int r;

	atomic_init(&run.next, 0);
	run.lat = calloc(clients, sizeof(*run.lat));
	run.errs = calloc(clients, sizeof(*run.errs));
	if (!run.lat || !run.errs) {
		free(run.lat);
		free(run.errs);
		return err_set(err, -ENOMEM, "out of memory");
	}
	r = bench_threads(clients, fn, &run, err);
	for (i = 0; i < clients; i++) {
		size_t j;

		if (run.errs[i].code && !err->code)
			err_set(err, run.errs[i].code, "%s", run.errs[i].msg);
		for (j = 0; all && j < run.lat[i].n; j++) {
			if (bench_samples_add(all, run.lat[i].v[j]) < 0 && r >= 0)
				r = -ENOMEM;
		}
		bench_samples_release(&run.lat[i]);
	}
	free(run.lat);
	free(run.errs);
	if (r == -ENOMEM)
		return err_set(err, r, "out of memory");
	return r < 0 ? err_set(err, r, "a client failed") : 0;
}

/* VmRSS and VmHWM of pid in KiB */
static int read_rss(int pid, uint64_t *ret_rss, uint64_t *ret_hwm, struct cairn_err *err)
{
	_cleanup_(fclosep) FILE *f = NULL;
	char path[64], line[256];
	unsigned long long v;
	bool rss = false;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return err_set(err, -errno, "cannot read '%s': %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmRSS: %llu kB", &v) == 1) {
			*ret_rss = v;
			rss = true;
		} else if (sscanf(line, "VmHWM: %llu kB", &v) == 1) {
			*ret_hwm = v;
		}
	}
	return rss ? 0 : err_set(err, -EPROTO, "no VmRSS in '%s'", path);
}

static int list_rounds(const struct bench_opts *o, struct bench_samples *s, size_t *ret_n,
                       struct cairn_err *err)
{
	struct bench_conn c;
	unsigned k, total = LIST_PER_ROUND * o->rounds;
	int r = 0;

	bench_conn_init(&c, o->socket);
	for (k = 0; k <= total && r >= 0; k++) {
		_cleanup_(json_putp) struct json_object *reply = NULL;
		struct cli_response resp = {0};
		struct json_object *arr;
		double t0 = bench_now();

		/* until the whole reply is in: what cairnd costs, not the client's parsing */
		r = bench_http(&c, "GET", "/v1/volumes", NULL, &resp, err);
		if (r < 0)
			break;
		if (k > 0 && bench_samples_add(s, bench_now() - t0) < 0)
			r = err_set(err, -ENOMEM, "out of memory");
		if (resp.status == 200)
			reply = json_tokener_parse(cli_buf_str(&resp.body));
		if (!reply || !json_object_object_get_ex(reply, "volumes", &arr) ||
		    !json_object_is_type(arr, json_type_array))
			r = err_set(err, -EPROTO, "GET /v1/volumes: %d, no array of volumes",
			            resp.status);
		else
			*ret_n = json_object_array_length(arr);
		cli_response_release(&resp);
	}
	bench_conn_release(&c);
	return r;
}

int bench_api(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err)
{
	struct bench_samples one = {0}, many = {0}, list = {0};
	char cairn[160], title[128], st[96];
	struct json_object *data;
	uint64_t rss = 0, hwm = 0;
	size_t listed = 0;
	double t0, fill_s;
	int r;

	if (!o->pid)
		return err_set(err, -EINVAL, "api needs --pid of cairnd");
	bench_note("api", "creating %u volumes from %u clients", o->count, o->clients);
	t0 = bench_now();
	r = run_clients(o, o->clients, fill_client, 0, NULL, err);
	fill_s = bench_now() - t0;
	if (r < 0)
		return r;
	bench_note("api", "%u volumes in %.1f s; GET one volume", o->count, fill_s);

	r = run_clients(o, 1, get_client, GET_SINGLE_PER_ROUND * o->rounds, &one, err);
	if (r >= 0)
		r = run_clients(o, o->clients, get_client, GET_MULTI_PER_ROUND * o->rounds, &many,
		                err);
	if (r >= 0) {
		bench_note("api", "list");
		r = list_rounds(o, &list, &listed, err);
	}
	if (r >= 0) {
		sleep(3); /* idle: cairnd gives memory back 1 s after its last large reply */
		r = read_rss(o->pid, &rss, &hwm, err);
	}
	if (r < 0)
		goto out;

	bench_samples_format(&one, cairn, sizeof(cairn));
	data = json_object_new_object();
	json_add(data, "latency", bench_samples_json(&one));
	r = bench_row_add(rows, "GET one volume, 1 client", cairn, "-", NAN, "-", "-",
	                  BENCH_MET_NONE, data);
	if (r < 0)
		goto oom;

	bench_samples_format(&many, cairn, sizeof(cairn));
	snprintf(title, sizeof(title), "GET one volume, %u clients", o->clients);
	data = json_object_new_object();
	json_add_uint(data, "clients", o->clients);
	json_add(data, "latency", bench_samples_json(&many));
	r = bench_row_add(rows, title, cairn, "-", NAN, "-", "p99 < 2 ms",
	                  bench_samples_pct(&many, 99) < 0.002 ? BENCH_MET_YES : BENCH_MET_NO,
	                  data);
	if (r < 0)
		goto oom;

	bench_samples_format(&list, st, sizeof(st));
	snprintf(cairn, sizeof(cairn), "%s", st);
	snprintf(title, sizeof(title), "list of %zu volumes", listed);
	data = json_object_new_object();
	json_add_uint(data, "volumes", listed);
	json_add(data, "latency", bench_samples_json(&list));
	json_object_object_add(data, "fill_seconds", json_object_new_double(fill_s));
	r = bench_row_add(rows, title, cairn, "-", NAN, "-", "p50 < 250 ms",
	                  bench_samples_pct(&list, 50) < 0.250 ? BENCH_MET_YES : BENCH_MET_NO,
	                  data);
	if (r < 0)
		goto oom;

	snprintf(cairn, sizeof(cairn), "%.1f MiB (peak %.1f MiB)", rss / 1024.0, hwm / 1024.0);
	snprintf(title, sizeof(title), "cairnd RSS idle, %zu volumes", listed);
	data = json_object_new_object();
	json_add_uint(data, "rss_kib", rss);
	json_add_uint(data, "hwm_kib", hwm);
	r = bench_row_add(rows, title, cairn, "-", NAN, "-", "< 64 MiB",
	                  rss < 64 * 1024 ? BENCH_MET_YES : BENCH_MET_NO, data);
	if (r < 0)
		goto oom;
	goto out;
oom:
	err_set(err, r, "out of memory");
out:
	bench_samples_release(&one);
	bench_samples_release(&many);
	bench_samples_release(&list);
	return r;
}
