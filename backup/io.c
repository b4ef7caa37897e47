/* SPDX-License-Identifier: MIT */
/*
 * backup: the data mover. A window of slots, each with one buffer: reads go out with
 * rbd_aio_read2, completions (on librbd's threads) only record the result and wake the
 * caller's thread, which handles chunks strictly in offset order (hash, ordered stream
 * writes) and sends the target writes out with rbd_aio_write2 / rbd_aio_write_zeroes
 * through the same slots. Nothing ever waits for one request before sending the next.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backup/backup-internal.h"

enum slot_state {
	SLOT_FREE,
	SLOT_READING, /* read in flight (or done, not yet handled) */
	SLOT_READY,   /* a ZERO chunk: nothing to read */
	SLOT_WRITING, /* target write in flight */
};

struct window;

struct slot {
	struct window *w;
	enum slot_state state;
	size_t chunk;
	uint8_t *buf;
	rbd_completion_t comp;
	bool done;   /* set by the completion (the last one, for several writes) */
	ssize_t ret; /* its result (the first failure, for several writes) */
	int pending; /* writes of this slot in flight, plus one while they are sent */
};

struct window {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct slot *slots;
	uint32_t n;
	uint32_t busy;
};

static void aio_done(rbd_completion_t comp, void *arg)
{
	struct slot *s = arg;
	ssize_t r = rbd_aio_get_return_value(comp);

	pthread_mutex_lock(&s->w->mu);
	s->ret = r;
	s->done = true;
	pthread_cond_signal(&s->w->cond);
	pthread_mutex_unlock(&s->w->mu);
}

/* One of several writes of a slot: each completion is released here, the last one done. */
static void aio_part_done(rbd_completion_t comp, void *arg)
{
	struct slot *s = arg;
	ssize_t r = rbd_aio_get_return_value(comp);

	rbd_aio_release(comp);
	pthread_mutex_lock(&s->w->mu);
	if (r < 0 && s->ret >= 0)
		s->ret = r;
	if (--s->pending == 0) {
		s->done = true;
		pthread_cond_signal(&s->w->cond);
	}
	pthread_mutex_unlock(&s->w->mu);
}

static void parts_begin(struct slot *s)
{
	s->done = false;
	s->ret = 0;
	s->pending = 1; /* held until every part is sent */
}

static int part_send(struct slot *s, rbd_image_t dst, uint64_t off, uint64_t len,
                     const uint8_t *data)
{
	rbd_completion_t comp;
	int r;

	r = rbd_aio_create_completion(s, aio_part_done, &comp);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->w->mu);
	s->pending++;
	pthread_mutex_unlock(&s->w->mu);
	if (data)
		r = rbd_aio_write2(dst, off, (size_t)len, (const char *)data, comp, 0);
	else
		r = rbd_aio_write_zeroes(dst, off, (size_t)len, comp, 0, 0);
	if (r < 0) {
		rbd_aio_release(comp);
		pthread_mutex_lock(&s->w->mu);
		s->pending--;
		pthread_mutex_unlock(&s->w->mu);
	}
	return r;
}

static void parts_sent(struct slot *s)
{
	pthread_mutex_lock(&s->w->mu);
	if (--s->pending == 0) {
		s->done = true;
		pthread_cond_signal(&s->w->cond);
	}
	pthread_mutex_unlock(&s->w->mu);
}

static int window_init(struct window *w, uint32_t n, uint64_t buf_size)
{
	memset(w, 0, sizeof(*w));
	w->slots = calloc(n, sizeof(*w->slots));
	if (!w->slots)
		return -ENOMEM;
	w->n = n;
	for (uint32_t i = 0; i < n; i++) {
		void *p = NULL;
		if (buf_size && posix_memalign(&p, 4096, buf_size) != 0) {
			for (uint32_t k = 0; k < i; k++)
				free(w->slots[k].buf);
			free(w->slots);
			return -ENOMEM;
		}
		w->slots[i].buf = p;
		w->slots[i].w = w;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	return 0;
}

static void window_release(struct window *w)
{
	for (uint32_t i = 0; i < w->n; i++)
		free(w->slots[i].buf);
	free(w->slots);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cond);
	memset(w, 0, sizeof(*w));
}

static struct slot *window_free_slot(struct window *w)
{
	for (uint32_t i = 0; i < w->n; i++)
		if (w->slots[i].state == SLOT_FREE)
			return &w->slots[i];
	return NULL;
}

static int slot_completion(struct slot *s)
{
	s->done = false;
	s->ret = 0;
	return rbd_aio_create_completion(s, aio_done, &s->comp);
}

static void slot_reap(struct slot *s)
{
	if (s->comp)
		rbd_aio_release(s->comp);
	s->comp = NULL;
}

/* ---- the copier ------------------------------------------------------------------------------ */

struct run {
	struct copier *cp;
	const struct chunk_plan *plan;
	struct window w;
	size_t next_issue, next_proc;
	uint64_t done_bytes;
	int failure;
};

static int run_fail(struct run *rn, struct cairn_err *err, int r, const char *verb, uint64_t off,
                    const char *why)
{
	if (!rn->failure)
		rn->failure = r;
	return err_set(err, r, "%s: %s at offset %llu: %s", rn->cp->what, verb,
	               (unsigned long long)off, why);
}

static void issue(struct run *rn, struct cairn_err *err)
{
	struct copier *cp = rn->cp;

	while (!rn->failure && rn->next_issue < rn->plan->n) {
		struct slot *s = window_free_slot(&rn->w);
		const struct chunk *ch;
		int r;

		if (!s)
			return;
		ch = &rn->plan->v[rn->next_issue];
		s->chunk = rn->next_issue;
		if (ch->kind == CHUNK_ZERO) {
			s->state = SLOT_READY;
			s->done = true;
			s->ret = 0;
		} else {
			r = slot_completion(s);
			if (r < 0) {
				run_fail(rn, err, r, "cannot read", ch->off, strerror(-r));
				return;
			}
			rbd_image_t from = ch->kind == CHUNK_OLD ? cp->src_old : cp->src;
			if (!from) {
				slot_reap(s);
				run_fail(rn, err, -EINVAL, "cannot read", ch->off,
				         "no base image to read old data from");
				return;
			}
			r = rbd_aio_read2(from, ch->off, (size_t)ch->len, (char *)s->buf, s->comp,
			                  LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL);
			if (r < 0) {
				slot_reap(s);
				run_fail(rn, err, r, "cannot read", ch->off, strerror(-r));
				return;
			}
			s->state = SLOT_READING;
		}
		rn->w.busy++;
		rn->next_issue++;
	}
}

static void slot_free(struct run *rn, struct slot *s)
{
	s->state = SLOT_FREE;
	rn->w.busy--;
}

/* Handle the chunk in s (its turn has come, its data is in). */
static void process(struct run *rn, struct slot *s, struct cairn_err *err)
{
	struct copier *cp = rn->cp;
	const struct chunk *ch = &rn->plan->v[s->chunk];
	bool zero;
	int r;

	if (s->state == SLOT_READING) {
		slot_reap(s);
		if (s->ret < 0) {
			run_fail(rn, err, (int)s->ret, "cannot read", ch->off,
			         strerror((int)-s->ret));
			slot_free(rn, s);
			return;
		}
		if ((uint64_t)s->ret != ch->len) {
			run_fail(rn, err, -EIO, "short read", ch->off, "fewer bytes than asked");
			slot_free(rn, s);
			return;
		}
		cp->bytes_read += ch->len;
	}
	zero = ch->kind == CHUNK_ZERO || buf_is_zero(s->buf, ch->len);
	if (cp->hasher) {
		r = vhasher_feed(cp->hasher, ch->kind == CHUNK_OLD, ch->off, zero ? NULL : s->buf,
		                 ch->len);
		if (r < 0) {
			run_fail(rn, err, r, "cannot hash", ch->off, strerror(-r));
			slot_free(rn, s);
			return;
		}
	}
	if (ch->kind != CHUNK_ZERO) {
		rn->done_bytes += ch->len;
		progress_report(cp->progress, cp->progress_base + rn->done_bytes,
		                cp->progress_total);
	}
	if (ch->kind == CHUNK_OLD) {
		slot_free(rn, s);
		return;
	}
	if (cp->file) {
		if (zero)
			r = dstream_write_zero(cp->file, ch->off, ch->len);
		else
			r = dstream_write_runs(cp->file, ch->off, s->buf, ch->len, &cp->bytes_data);
		if (r < 0) {
			run_fail(rn, err, r, "cannot write the file", ch->off, strerror(-r));
			slot_free(rn, s);
			return;
		}
	}
	if (!cp->dst || (zero && !cp->dst_zero)) {
		slot_free(rn, s);
		return;
	}
	/* runs of BK_POOL_RUN: data written, zeros zeroed (or left alone on a blank image) */
	parts_begin(s);
	r = 0;
	for (uint64_t pos = 0; pos < ch->len && r >= 0;) {
		uint64_t n = ch->len - pos < BK_POOL_RUN ? ch->len - pos : BK_POOL_RUN;
		uint64_t end = pos + n;
		bool z = zero || buf_is_zero(s->buf + pos, (size_t)n);

		while (!zero && end < ch->len) {
			uint64_t m = ch->len - end < BK_POOL_RUN ? ch->len - end : BK_POOL_RUN;
			if (buf_is_zero(s->buf + end, (size_t)m) != z)
				break;
			end += m;
		}
		if (zero)
			end = ch->len;
		if (!z)
			r = part_send(s, cp->dst, ch->off + pos, end - pos, s->buf + pos);
		else if (cp->dst_zero)
			r = part_send(s, cp->dst, ch->off + pos, end - pos, NULL);
		if (r >= 0 && !z && !cp->file)
			cp->bytes_data += end - pos;
		pos = end;
	}
	if (r < 0)
		run_fail(rn, err, r, "cannot write", ch->off, strerror(-r));
	s->state = SLOT_WRITING;
	parts_sent(s); /* done once the parts sent so far are */
}

/* Under the lock: is there anything for the caller's thread to do? */
static bool something_to_do(struct run *rn)
{
	for (uint32_t i = 0; i < rn->w.n; i++) {
		struct slot *s = &rn->w.slots[i];
		if (s->state == SLOT_FREE || !s->done)
			continue;
		if (s->state == SLOT_WRITING)
			return true;
		if (rn->failure)
			return true;
		if (!rn->failure && s->chunk == rn->next_proc)
			return true;
	}
	return false;
}

static struct slot *slot_of_chunk(struct run *rn, size_t chunk)
{
	for (uint32_t i = 0; i < rn->w.n; i++) {
		struct slot *s = &rn->w.slots[i];
		if ((s->state == SLOT_READING || s->state == SLOT_READY) && s->chunk == chunk)
			return s;
	}
	return NULL;
}

int copier_run(struct copier *cp, const struct chunk_plan *plan, struct cairn_err *err)
{
	struct run rn = {.cp = cp, .plan = plan};
	uint32_t window = cp->window ? cp->window : 1;
	uint64_t buf_size = 0;
	int r;

	for (size_t i = 0; i < plan->n; i++)
		if (plan->v[i].kind != CHUNK_ZERO && plan->v[i].len > buf_size)
			buf_size = plan->v[i].len;
	if (buf_size > cp->chunk_max && cp->chunk_max)
		return err_set(err, -EINVAL, "%s: a chunk is larger than the buffers", cp->what);
	r = window_init(&rn.w, window, buf_size);
	if (r < 0)
		return err_set(err, r, "out of memory");

	for (;;) {
		issue(&rn, err);
		if (rn.w.busy == 0 && (rn.failure || rn.next_proc == plan->n))
			break;

		pthread_mutex_lock(&rn.w.mu);
		while (!something_to_do(&rn))
			pthread_cond_wait(&rn.w.cond, &rn.w.mu);
		pthread_mutex_unlock(&rn.w.mu);

		/* the done flags read below were set under the lock we just took */
		for (uint32_t i = 0; i < rn.w.n; i++) {
			struct slot *s = &rn.w.slots[i];
			if (s->state == SLOT_FREE || !s->done)
				continue;
			if (s->state == SLOT_WRITING) {
				slot_reap(s);
				if (s->ret < 0)
					run_fail(&rn, err, (int)s->ret, "cannot write",
					         rn.plan->v[s->chunk].off, strerror((int)-s->ret));
				slot_free(&rn, s);
			} else if (rn.failure) {
				if (s->state == SLOT_READING)
					slot_reap(s);
				slot_free(&rn, s);
			}
		}
		while (!rn.failure && rn.next_proc < plan->n) {
			struct slot *s = slot_of_chunk(&rn, rn.next_proc);
			bool ready;

			if (!s)
				break;
			pthread_mutex_lock(&rn.w.mu);
			ready = s->done;
			pthread_mutex_unlock(&rn.w.mu);
			if (!ready)
				break;
			rn.next_proc++;
			process(&rn, s, err);
			if (rn.failure)
				break;
			if (cp->failpoint)
				failpoint(cp->failpoint);
			if (cp->lease && (r = bk_lock_renew(cp->lease, err)) < 0)
				rn.failure = r;
		}
		if (!rn.failure && progress_cancelled(cp->progress))
			rn.failure = err_set(err, -ECANCELED, "%s: cancelled", cp->what);
	}
	window_release(&rn.w);
	return rn.failure;
}

/* ---- extents --------------------------------------------------------------------------------- */

static int diff_cb(uint64_t off, size_t len, int exists, void *arg)
{
	return extent_list_add(arg, off, len, exists != 0);
}

int bk_open_snap(struct cluster *c, rados_ioctx_t io, const char *image, const char *snap,
                 struct ro_image *ret)
{
	struct ro_image img = {0};
	int r;

	r = cluster_ro_open(c, io, image, NULL, NULL, &img);
	if (r < 0)
		return r;
	if (snap && (r = rbd_snap_set(img.img, snap)) < 0) {
		ro_image_close(&img);
		return r;
	}
	ro_image_close(ret);
	*ret = img;
	return 0;
}

int bk_diff_extents(rbd_image_t img, const char *from_snap, uint64_t size, struct extent_list *ret,
                    struct cairn_err *err)
{
	struct extent_list l = {0};
	uint64_t features = 0, flags = 0;
	bool whole;
	int r;

	r = rbd_get_features(img, &features);
	if (r >= 0)
		r = rbd_get_flags(img, &flags);
	if (r < 0)
		return err_set(err, r, "cannot read the features of the image: %s", strerror(-r));
	whole = (features & RBD_FEATURE_FAST_DIFF) &&
	        !(flags & (RBD_FLAG_FAST_DIFF_INVALID | RBD_FLAG_OBJECT_MAP_INVALID));
	/* include_parent: a clone's full backup holds its parent's data too */
	r = rbd_diff_iterate2(img, from_snap, 0, size, 1, whole ? 1 : 0, diff_cb, &l);
	if (r < 0) {
		extent_list_release(&l);
		return err_set(err, r, "cannot list the changed extents%s%s: %s",
		               from_snap ? " since snapshot " : "", from_snap ? from_snap : "",
		               strerror(-r));
	}
	r = extent_list_normalize(&l, size);
	if (r < 0) {
		extent_list_release(&l);
		return err_set(err, r, "out of memory");
	}
	if (whole && from_snap) {
		/*
		 * The object map says which objects changed, in whole objects: a 4 KiB write
		 * would cost 4 MiB. Ask again for the exact extents, only over those objects.
		 */
		struct extent_list exact = {0};
		for (size_t i = 0; i < l.n && r >= 0; i++) {
			if (l.v[i].data)
				r = rbd_diff_iterate2(img, from_snap, l.v[i].off, l.v[i].len, 1, 0,
				                      diff_cb, &exact);
			else
				r = extent_list_add(&exact, l.v[i].off, l.v[i].len, false);
		}
		extent_list_release(&l);
		if (r >= 0)
			r = extent_list_normalize(&exact, size);
		if (r < 0) {
			extent_list_release(&exact);
			return err_set(err, r,
			               "cannot list the changed extents since snapshot %s: %s",
			               from_snap, strerror(-r));
		}
		l = exact;
	}
	log_debug("diff since %s: %zu extents (%s)", from_snap ? from_snap : "the start", l.n,
	          whole ? "fast-diff, whole objects" : "exact");
	*ret = l;
	return 0;
}

int bk_alloc_extents(rbd_image_t img, uint64_t size, struct extent_list *ret, struct cairn_err *err)
{
	struct extent_list l = {0};
	uint64_t features = 0, flags = 0;
	int r;

	r = rbd_get_features(img, &features);
	if (r >= 0)
		r = rbd_get_flags(img, &flags);
	if (r < 0)
		return err_set(err, r, "cannot read the features of the image: %s", strerror(-r));
	if (!(features & RBD_FEATURE_FAST_DIFF) ||
	    (flags & (RBD_FLAG_FAST_DIFF_INVALID | RBD_FLAG_OBJECT_MAP_INVALID)))
		return 0;
	r = rbd_diff_iterate2(img, NULL, 0, size, 1, 1, diff_cb, &l);
	if (r >= 0)
		r = extent_list_normalize(&l, size);
	if (r < 0) {
		extent_list_release(&l);
		return err_set(err, r, "cannot list the allocated extents: %s", strerror(-r));
	}
	*ret = l;
	return 1;
}

int bk_image_digest(rbd_image_t img, uint64_t size, const struct cairn_config *conf,
                    struct cairn_progress *progress, uint64_t progress_base,
                    uint64_t progress_total, struct bk_lock *lease, uint8_t out[SHA256_LEN],
                    struct cairn_err *err)
{
	struct extent_list l = {0};
	struct chunk_plan plan = {0};
	struct lthash state = {{0}};
	struct vhasher h;
	struct copier cp = {0};
	int r;

	r = bk_diff_extents(img, NULL, size, &l, err);
	if (r < 0)
		return r;
	r = chunk_plan_build(&l, size, conf->backup.chunk, true, 0, NULL, &plan);
	extent_list_release(&l);
	if (r < 0)
		return err_set(err, r, "out of memory");
	vhasher_init(&h, &state, size, 0);
	cp.src = img;
	cp.hasher = &h;
	cp.window = conf->backup.in_flight;
	cp.chunk_max = conf->backup.chunk < BK_BLOCK ? conf->backup.chunk : BK_BLOCK;
	cp.progress = progress;
	cp.progress_base = progress_base;
	cp.progress_total = progress_total;
	cp.lease = lease;
	cp.what = "checksum";
	r = copier_run(&cp, &plan, err);
	if (r < 0)
		goto out;
	r = vhasher_finish(&h);
	if (r < 0) {
		err_set(err, r, "checksum: a sub-block was not hashed whole");
		goto out;
	}
	r = lthash_digest(&state, out);
	if (r < 0)
		err_set(err, r, "out of memory");
out:
	vhasher_release(&h);
	chunk_plan_release(&plan);
	return r;
}

/* ---- a window of writes ------------------------------------------------------------------------ */

struct aio_writer {
	struct window w;
	rbd_image_t dst;
	int failure;
	uint64_t failed_off;
};

int aiow_new(rbd_image_t dst, uint32_t window, uint64_t buf_size, struct aio_writer **ret)
{
	struct aio_writer *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	r = window_init(&a->w, window ? window : 1, buf_size);
	if (r < 0) {
		free(a);
		return r;
	}
	a->dst = dst;
	*ret = a;
	return 0;
}

/* Reap finished writes; with wait, block until at least one finished. */
static void aiow_reap(struct aio_writer *a, bool wait)
{
	bool any = false;

	pthread_mutex_lock(&a->w.mu);
	for (;;) {
		for (uint32_t i = 0; i < a->w.n; i++) {
			struct slot *s = &a->w.slots[i];
			if (s->state != SLOT_WRITING || !s->done)
				continue;
			slot_reap(s);
			if (s->ret < 0 && !a->failure) {
				a->failure = (int)s->ret;
				a->failed_off = s->chunk;
			}
			s->state = SLOT_FREE;
			a->w.busy--;
			any = true;
		}
		if (any || !wait || a->w.busy == 0)
			break;
		pthread_cond_wait(&a->w.cond, &a->w.mu);
	}
	pthread_mutex_unlock(&a->w.mu);
}

static int aiow_failed(struct aio_writer *a, struct cairn_err *err)
{
	return err_set(err, a->failure, "cannot write at offset %llu: %s",
	               (unsigned long long)a->failed_off, strerror(-a->failure));
}

static struct slot *aiow_slot(struct aio_writer *a, struct cairn_err *err)
{
	struct slot *s;

	for (;;) {
		aiow_reap(a, false);
		if (a->failure) {
			aiow_failed(a, err);
			return NULL;
		}
		s = window_free_slot(&a->w);
		if (s)
			break;
		aiow_reap(a, true);
	}
	s->state = SLOT_READY; /* handed out */
	a->w.busy++;
	return s;
}

int aiow_buffer(struct aio_writer *a, uint8_t **ret_buf, struct cairn_err *err)
{
	struct slot *s = aiow_slot(a, err);

	if (!s)
		return err->code;
	*ret_buf = s->buf;
	return 0;
}

static int aiow_send(struct aio_writer *a, struct slot *s, uint64_t off, uint64_t len, bool zero,
                     struct cairn_err *err)
{
	int r;

	s->chunk = off;
	r = slot_completion(s);
	if (r >= 0) {
		if (zero)
			r = rbd_aio_write_zeroes(a->dst, off, (size_t)len, s->comp, 0, 0);
		else
			r = rbd_aio_write2(a->dst, off, (size_t)len, (const char *)s->buf, s->comp,
			                   0);
		if (r < 0)
			slot_reap(s);
	}
	if (r < 0) {
		s->state = SLOT_FREE;
		a->w.busy--;
		return err_set(err, r, "cannot write at offset %llu: %s", (unsigned long long)off,
		               strerror(-r));
	}
	pthread_mutex_lock(&a->w.mu);
	s->state = SLOT_WRITING;
	pthread_mutex_unlock(&a->w.mu);
	return 0;
}

int aiow_write(struct aio_writer *a, uint8_t *buf, uint64_t off, uint64_t len,
               struct cairn_err *err)
{
	for (uint32_t i = 0; i < a->w.n; i++) {
		struct slot *s = &a->w.slots[i];
		if (s->buf == buf && s->state == SLOT_READY)
			return aiow_send(a, s, off, len, false, err);
	}
	return err_set(err, -EINVAL, "write from a buffer that was not handed out");
}

int aiow_zero(struct aio_writer *a, uint64_t off, uint64_t len, struct cairn_err *err)
{
	struct slot *s = aiow_slot(a, err);

	if (!s)
		return err->code;
	return aiow_send(a, s, off, len, true, err);
}

int aiow_drain(struct aio_writer *a, struct cairn_err *err)
{
	/* buffers handed out but never sent go back */
	for (uint32_t i = 0; i < a->w.n; i++) {
		if (a->w.slots[i].state == SLOT_READY) {
			a->w.slots[i].state = SLOT_FREE;
			a->w.busy--;
		}
	}
	while (a->w.busy)
		aiow_reap(a, true);
	if (a->failure)
		return aiow_failed(a, err);
	return 0;
}

void aiow_free(struct aio_writer *a)
{
	if (!a)
		return;
	window_release(&a->w);
	free(a);
}

/* ---- in use? ----------------------------------------------------------------------------------- */

int bk_check_unused(rados_ioctx_t io, rbd_image_t img, const char *what, struct cairn_err *err)
{
	uint64_t me = rados_get_instance_id(rados_ioctx_get_cluster(io));
	rbd_image_watcher_t *w = NULL;
	size_t max = 8, mine = 0, other = SIZE_MAX;
	int r;

	for (;;) {
		size_t n = max;

		w = calloc(max, sizeof(*w));
		if (!w)
			return err_set(err, -ENOMEM, "out of memory");
		r = rbd_watchers_list(img, w, &n);
		if (r == -ERANGE && n > max) {
			free(w);
			max = n;
			continue;
		}
		if (r < 0) {
			free(w);
			return err_set(err, r, "cannot list the watchers of %s: %s", what,
			               strerror(-r));
		}
		max = n;
		break;
	}
	for (size_t i = 0; i < max; i++) {
		if ((uint64_t)w[i].id == me && mine++ == 0)
			continue;
		if (other == SIZE_MAX)
			other = i;
	}
	if (other != SIZE_MAX)
		err_set(err, -EBUSY,
		        "%s is in use (opened by client.%lld at %s): stop the VM using "
		        "it first",
		        what, (long long)w[other].id, w[other].addr ? w[other].addr : "?");
	rbd_watchers_list_cleanup(w, max);
	free(w);
	return other != SIZE_MAX ? -EBUSY : 0;
}
