/* SPDX-License-Identifier: MIT */
/*
 * Volume from image: the latency of one copy-on-write clone of an image's base snapshot,
 * through cairnd (POST /v1/volumes on a keep-alive connection), through the rbd CLI (a
 * process per clone, what a shell script or an orchestrator shelling out does) and
 * through librbd in-process (rbd_clone3, clone format 2: the floor every other path pays
 * on top of). The paths take turns, round by round, in a rotating order.
 *
 * Then the same clone from a 1 GiB and from a 1 TiB thin parent (rbd_create4, a little
 * data, a snapshot; adopted by cairnd with /v1/volumes/manage): a clone must cost the
 * same whatever the size of its parent.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "common/json.h"

enum clone_path {
	PATH_CAIRND,
	PATH_CLI,
	PATH_LIBRBD,
	PATH_MAX,
};

static const char *const path_names[PATH_MAX] = {"cairnd", "rbd CLI", "librbd"};

struct parent {
	const char *pool;
	char rbd_image[128];
	const char *snap;
	char source[160]; /* the cairnd body's source: "image": "x" or "snapshot": "v@s" */
};

struct clone_ctx {
	const struct bench_opts *o;
	rados_t cl;
	rados_ioctx_t io_images;
	rados_ioctx_t io_volumes;
	struct bench_conn conn;
	rbd_image_options_t opts;
	unsigned seq;
};

static int clone_one(struct clone_ctx *x, enum clone_path path, const struct parent *p,
                     double *ret_seconds, struct cairn_err *err)
{
	const struct bench_opts *o = x->o;
	char name[128], spec[400], dest[300], body[400];
	rados_ioctx_t pio;
	double t0, t1;
	int r;

	x->seq++;
	switch (path) {
	case PATH_CAIRND:
		snprintf(name, sizeof(name), "%s-c%u", o->prefix, x->seq);
		snprintf(body, sizeof(body), "{\"name\": \"%s\", %s}", name, p->source);
		t0 = bench_now();
		r = bench_call(&x->conn, "POST", "/v1/volumes", body, 201, NULL, err);
		t1 = bench_now();
		break;
	case PATH_CLI: {
		const char *argv[] = {"rbd",
		                      "-c",
		                      o->ceph_conf,
		                      "clone",
		                      "--rbd-default-clone-format",
		                      "2",
		                      "--image-feature",
		                      "layering,exclusive-lock,object-map,fast-diff,deep-flatten",
		                      spec,
		                      dest,
		                      NULL};

		snprintf(spec, sizeof(spec), "%s/%s@%s", p->pool, p->rbd_image, p->snap);
		snprintf(dest, sizeof(dest), "%s/%s-cli%u", o->volumes_pool, o->prefix, x->seq);
		t0 = bench_now();
		r = bench_spawn(argv, err);
		t1 = bench_now();
		break;
	}
	case PATH_LIBRBD:
	default:
		snprintf(name, sizeof(name), "%s-lib%u", o->prefix, x->seq);
		pio = strcmp(p->pool, o->images_pool) == 0 ? x->io_images : x->io_volumes;
		t0 = bench_now();
		r = rbd_clone3(pio, p->rbd_image, p->snap, x->io_volumes, name, x->opts);
		t1 = bench_now();
		if (r < 0)
			err_set(err, r, "rbd_clone3 of '%s/%s@%s': %s", p->pool, p->rbd_image,
			        p->snap, strerror(-r));
		break;
	}
	if (r < 0)
		return r;
	*ret_seconds = t1 - t0;
	return 0;
}

/*
 * rounds x per_round clones of each parent through each path in use. The paths (and the
 * parents) take turns clone by clone, in an order that rotates, so that a change of load
 * on the machine hits them all alike.
 */
static int clone_rounds(struct clone_ctx *x, const struct parent *parents, unsigned n_parents,
                        const bool use[PATH_MAX], struct bench_samples (*s)[PATH_MAX],
                        struct cairn_err *err)
{
	unsigned round, i, k, n = n_parents * PATH_MAX, turn = 0;
	double dt;
	int r;

	/* warm up each path (connections, caches, the first exec): not counted */
	for (k = 0; k < n; k++) {
		if (use[k % PATH_MAX] && (r = clone_one(x, (enum clone_path)(k % PATH_MAX),
		                                        &parents[k / PATH_MAX], &dt, err)) < 0)
			return r;
	}
	for (round = 0; round < x->o->rounds; round++) {
		for (i = 0; i < x->o->per_round; i++, turn++) {
			for (k = 0; k < n; k++) {
				unsigned j = (k + turn) % n;
				enum clone_path path = (enum clone_path)(j % PATH_MAX);

				if (!use[path])
					continue;
				r = clone_one(x, path, &parents[j / PATH_MAX], &dt, err);
				if (r < 0)
					return r;
				if (bench_samples_add(&s[j / PATH_MAX][path], dt) < 0)
					return err_set(err, -ENOMEM, "out of memory");
			}
		}
	}
	return 0;
}

/* A thin parent of this size in the volumes pool, adopted by cairnd as a volume. */
static int parent_make(struct clone_ctx *x, uint64_t size, const char *tag, struct parent *ret,
                       struct cairn_err *err)
{
	const struct bench_opts *o = x->o;
	rbd_image_options_t opts;
	rbd_image_t img;
	char body[512], vol[128];
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->pool = o->volumes_pool;
	ret->snap = "base";
	snprintf(ret->rbd_image, sizeof(ret->rbd_image), "%s-parent-%s", o->prefix, tag);
	opts = bench_image_options(false);
	r = rbd_create4(x->io_volumes, ret->rbd_image, size, opts);
	rbd_image_options_destroy(opts);
	if (r < 0)
		return err_set(err, r, "cannot create '%s': %s", ret->rbd_image, strerror(-r));
	r = rbd_open(x->io_volumes, ret->rbd_image, &img, NULL);
	if (r < 0)
		return err_set(err, r, "cannot open '%s': %s", ret->rbd_image, strerror(-r));
	/* a little data, at the start and in the middle */
	r = bench_rbd_fill(img, 0, 4 << 20, 0xa5, err);
	if (r >= 0)
		r = bench_rbd_fill(img, size / 2, 4 << 20, 0x5a, err);
	if (r >= 0) {
		r = rbd_snap_create(img, ret->snap);
		if (r < 0)
			err_set(err, r, "cannot snapshot '%s': %s", ret->rbd_image, strerror(-r));
	}
	rbd_close(img);
	if (r < 0)
		return r;
	snprintf(vol, sizeof(vol), "%s-p%s", o->prefix, tag);
	snprintf(body, sizeof(body), "{\"name\": \"%s\", \"pool\": \"%s\", \"rbd_image\": \"%s\"}",
	         vol, o->volumes_pool, ret->rbd_image);
	r = bench_call(&x->conn, "POST", "/v1/volumes/manage", body, 201, NULL, err);
	if (r < 0)
		return r;
	snprintf(ret->source, sizeof(ret->source), "\"snapshot\": \"%s@%s\"", vol, ret->snap);
	return 0;
}

static int image_parent(struct clone_ctx *x, struct parent *ret, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *img = NULL;
	char path[256];
	const char *rbd;
	int r;

	snprintf(path, sizeof(path), "/v1/images/%s", x->o->image);
	r = bench_call(&x->conn, "GET", path, NULL, 200, &img, err);
	if (r < 0)
		return r;
	rbd = json_get_string(img, "rbd_image");
	if (!rbd)
		return err_set(err, -EPROTO, "image '%s' has no rbd_image", x->o->image);
	memset(ret, 0, sizeof(*ret));
	ret->pool = x->o->images_pool;
	str_copy(ret->rbd_image, sizeof(ret->rbd_image), rbd);
	ret->snap = "cairn-base"; /* IMG_BASE_SNAP */
	snprintf(ret->source, sizeof(ret->source), "\"image\": \"%s\"", x->o->image);
	return 0;
}

static void fmt_path(char *buf, size_t len, const char *who, struct bench_samples *s)
{
	char st[96];

	bench_samples_format(s, st, sizeof(st));
	snprintf(buf, len, "%s %s", who, st);
}

static int rows_latency(struct clone_ctx *x, struct json_object *rows,
                        struct bench_samples s[PATH_MAX])
{
	double c50 = bench_samples_pct(&s[PATH_CAIRND], 50);
	double l50 = bench_samples_pct(&s[PATH_LIBRBD], 50);
	double r50 = bench_samples_pct(&s[PATH_CLI], 50);
	char cairn[128], alt[128];
	struct json_object *data;
	unsigned k;
	int r;

	fmt_path(cairn, sizeof(cairn), "", &s[PATH_CAIRND]);
	for (k = 0; k < 2; k++) {
		enum clone_path other = k == 0 ? PATH_LIBRBD : PATH_CLI;
		double ratio = c50 / (k == 0 ? l50 : r50);
		bool met = k == 0 ? ratio <= 1.3 : ratio <= 0.5;

		data = json_object_new_object();
		json_add(data, "cairnd", bench_samples_json(&s[PATH_CAIRND]));
		json_add(data, k == 0 ? "librbd" : "rbd_cli", bench_samples_json(&s[other]));
		fmt_path(alt, sizeof(alt), k == 0 ? "librbd in-process" : "rbd clone CLI",
		         &s[other]);
		r = bench_row_add(rows,
		                  k == 0 ? "volume from image: cairnd vs librbd"
		                         : "volume from image: cairnd vs rbd CLI",
		                  cairn + 1, alt, ratio,
		                  k == 0 ? "cairnd p50 / librbd p50" : "cairnd p50 / CLI p50",
		                  k == 0 ? "<= 1.3" : "<= 0.5", met ? BENCH_MET_YES : BENCH_MET_NO,
		                  data);
		if (r < 0)
			return r;
	}
	return 0;
}

static int rows_size(struct json_object *rows, enum clone_path path, struct bench_samples *g,
                     struct bench_samples *t)
{
	double ratio = bench_samples_pct(t, 50) / bench_samples_pct(g, 50);
	char a[128], b[128], title[96];
	struct json_object *data = json_object_new_object();

	fmt_path(a, sizeof(a), "1 TiB parent", t);
	fmt_path(b, sizeof(b), "1 GiB parent", g);
	json_add(data, "parent_1tib", bench_samples_json(t));
	json_add(data, "parent_1gib", bench_samples_json(g));
	snprintf(title, sizeof(title), "clone of 1 TiB vs 1 GiB parent (%s)", path_names[path]);
	return bench_row_add(rows, title, a, b, ratio, "p50 1 TiB / p50 1 GiB", "0.8 .. 1.2",
	                     fabs(ratio - 1) <= 0.2 ? BENCH_MET_YES : BENCH_MET_NO, data);
}

int bench_clone(const struct bench_opts *o, struct json_object *rows, struct cairn_err *err)
{
	struct clone_ctx x = {.o = o};
	struct bench_samples s[PATH_MAX] = {0}, sz[2][PATH_MAX] = {0};
	struct parent img, par[2];
	const bool all[PATH_MAX] = {true, true, true};
	const bool no_cli[PATH_MAX] = {true, false, true};
	unsigned k;
	int r;

	if (!o->image)
		return err_set(err, -EINVAL, "clone needs --image");
	r = bench_rados_connect(o->ceph_conf, &x.cl, err);
	if (r < 0)
		return r;
	x.opts = bench_image_options(true);
	bench_conn_init(&x.conn, o->socket);
	r = rados_ioctx_create(x.cl, o->images_pool, &x.io_images);
	if (r < 0) {
		err_set(err, r, "cannot open pool '%s': %s", o->images_pool, strerror(-r));
		goto out_cl;
	}
	r = rados_ioctx_create(x.cl, o->volumes_pool, &x.io_volumes);
	if (r < 0) {
		err_set(err, r, "cannot open pool '%s': %s", o->volumes_pool, strerror(-r));
		goto out_img;
	}

	r = image_parent(&x, &img, err);
	if (r < 0)
		goto out;
	bench_note("clone", "%u rounds of %u clones of image '%s' per path", o->rounds,
	           o->per_round, o->image);
	r = clone_rounds(&x, &img, 1, all, &s, err);
	if (r < 0)
		goto out;
	r = rows_latency(&x, rows, s);
	if (r < 0)
		goto out;

	bench_note("clone", "1 GiB and 1 TiB parents");
	r = parent_make(&x, 1ull << 30, "1g", &par[0], err);
	if (r >= 0)
		r = parent_make(&x, 1ull << 40, "1t", &par[1], err);
	if (r < 0)
		goto out;
	r = clone_rounds(&x, par, 2, no_cli, sz, err);
	if (r < 0)
		goto out;
	r = rows_size(rows, PATH_CAIRND, &sz[0][PATH_CAIRND], &sz[1][PATH_CAIRND]);
	if (r >= 0)
		r = rows_size(rows, PATH_LIBRBD, &sz[0][PATH_LIBRBD], &sz[1][PATH_LIBRBD]);
	if (r < 0)
		err_set(err, r, "out of memory");
out:
	for (k = 0; k < PATH_MAX; k++) {
		bench_samples_release(&s[k]);
		bench_samples_release(&sz[0][k]);
		bench_samples_release(&sz[1][k]);
	}
	rados_ioctx_destroy(x.io_volumes);
out_img:
	rados_ioctx_destroy(x.io_images);
out_cl:
	bench_conn_release(&x.conn);
	rbd_image_options_destroy(x.opts);
	rados_shutdown(x.cl);
	return r;
}
