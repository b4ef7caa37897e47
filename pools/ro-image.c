/* SPDX-License-Identifier: MIT */
/*
 * Images opened read-only, closed a second late; and the clones of an image.
 *
 * librbd 16.2 finishes an open on a librados thread: that thread wakes the caller of
 * rbd_open, then takes the image's state lock once more (ImageState::complete_action_unlock)
 * and only then lets go of the image. A read-only image has no watch on its header, so its
 * rbd_close does nothing on the network and can free the image before that thread has come
 * back to the lock: a use after free, which aborted cairnd ("terminate called after
 * throwing an instance of 'std::system_error'" or a pthread assertion) in the race test,
 * where deletes open and close read-only images in quick succession on two busy cores.
 * Read-write images drop a watch when they close (a round trip to an OSD), which leaves
 * that thread time enough.
 *
 * So a read-only image goes to the closer when its user is done, and the closer's thread
 * closes it RO_CLOSE_DELAY_MS later. A read-only image holds no watch and no lock, so the
 * delay changes nothing that another client can see.
 */
#define LOG_MODULE "cluster"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pools/pools-internal.h"
#include "pools/pools.h"

#define RO_CLOSE_DELAY_MS 1000
/* more than this many waiting (a burst of opens): the oldest is closed at once */
#define RO_PENDING_MAX 256

struct ro_pending {
	struct ro_pending *next;
	rbd_image_t img;
	uint64_t due_ms;
};

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *closer_main(void *arg)
{
	struct ro_closer *rc = arg;

	pthread_mutex_lock(&rc->lock);
	for (;;) {
		struct ro_pending *p = rc->head;

		if (!p && rc->stopping)
			break;
		if (!p) {
			pthread_cond_wait(&rc->wake, &rc->lock);
			continue;
		}
		if (!rc->stopping && monotonic_ms() < p->due_ms) {
			struct timespec until = {.tv_sec = (time_t)(p->due_ms / 1000),
			                         .tv_nsec = (long)(p->due_ms % 1000) * 1000000};

			pthread_cond_timedwait(&rc->wake, &rc->lock, &until);
			continue;
		}
		rc->head = p->next;
		if (!rc->head)
			rc->tail = NULL;
		rc->n--;
		pthread_mutex_unlock(&rc->lock);
		rbd_close(p->img);
		free(p);
		pthread_mutex_lock(&rc->lock);
	}
	pthread_mutex_unlock(&rc->lock);
	return NULL;
}

void ro_closer_start(struct ro_closer *rc)
{
	pthread_condattr_t attr;

	*rc = (struct ro_closer){0};
	pthread_mutex_init(&rc->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&rc->wake, &attr);
	pthread_condattr_destroy(&attr);
	rc->running = pthread_create(&rc->thread, NULL, closer_main, rc) == 0;
	if (!rc->running)
		log_warn("no thread for late closes: read-only images are closed at once");
}

void ro_closer_stop(struct ro_closer *rc)
{
	if (rc->running) {
		pthread_mutex_lock(&rc->lock);
		rc->stopping = true;
		pthread_cond_signal(&rc->wake);
		pthread_mutex_unlock(&rc->lock);
		pthread_join(rc->thread, NULL);
		rc->running = false;
	}
	pthread_cond_destroy(&rc->wake);
	pthread_mutex_destroy(&rc->lock);
}

/* Hand img to the closer; false: it is not running (stopping, or never started). */
static bool closer_add(struct ro_closer *rc, rbd_image_t img)
{
	struct ro_pending *p = malloc(sizeof(*p)), *oldest = NULL;

	if (!p)
		return false;
	*p = (struct ro_pending){.img = img, .due_ms = monotonic_ms() + RO_CLOSE_DELAY_MS};
	pthread_mutex_lock(&rc->lock);
	if (!rc->running || rc->stopping) {
		pthread_mutex_unlock(&rc->lock);
		free(p);
		return false;
	}
	if (rc->tail)
		rc->tail->next = p;
	else
		rc->head = p;
	rc->tail = p;
	if (++rc->n > RO_PENDING_MAX) {
		oldest = rc->head;
		rc->head = oldest->next;
		rc->n--;
	}
	pthread_cond_signal(&rc->wake);
	pthread_mutex_unlock(&rc->lock);
	if (oldest) {
		rbd_close(oldest->img);
		free(oldest);
	}
	return true;
}

int cluster_ro_open(struct cluster *c, rados_ioctx_t io, const char *name, const char *id,
                    const char *snap, struct ro_image *ret)
{
	rbd_image_t img = NULL;
	int r;

	r = name ? rbd_open_read_only(io, name, &img, snap)
	         : rbd_open_by_id_read_only(io, id, &img, snap);
	if (r < 0)
		return r;
	ro_image_close(ret);
	*ret = (struct ro_image){.c = c, .img = img};
	return 0;
}

void ro_image_close(struct ro_image *ri)
{
	rbd_image_t img = ri->img;

	ri->img = NULL;
	if (img && !closer_add(cluster_ro_closer(ri->c), img))
		rbd_close(img);
}

/* ---- the clones of an image ------------------------------------------------------------- */

#define CLONES_START 64
#define CLONES_MAX   1048576

int image_clones(rbd_image_t img, rbd_linked_image_spec_t **ret, size_t *ret_n,
                 struct cairn_err *err)
{
	size_t max = CLONES_START;

	for (;;) {
		rbd_linked_image_spec_t *specs = calloc(max, sizeof(*specs));
		size_t n = max;
		int r;

		if (!specs)
			return err_set(err, -ENOMEM, "out of memory");
		r = rbd_list_children3(img, specs, &n);
		if (r >= 0) {
			*ret = specs;
			*ret_n = n;
			return 0;
		}
		free(specs);
		if (r != -ERANGE)
			return err_set(err, r, "cannot list clones: %s", strerror(-r));
		max = n > max ? n : max * 2; /* more clones appeared meanwhile */
		if (max > CLONES_MAX)
			return err_set(err, -E2BIG, "too many clones");
	}
}

void image_clones_free(rbd_linked_image_spec_t *specs, size_t n)
{
	if (!specs)
		return;
	rbd_linked_image_spec_list_cleanup(specs, n);
	free(specs);
}
