/* SPDX-License-Identifier: MIT */
/* libvirt's default event loop, run on a thread of its own. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <libvirt/libvirt.h>

#include "common/common.h"
#include "libvirt-glue/libvirt-glue.h"

struct virt_event_loop {
	pthread_t thread;
	atomic_bool stop;
	int tick; /* a timer that wakes the loop so it sees stop */
};

static void virt_event_tick(int timer, void *opaque)
{
	(void)timer;
	(void)opaque;
}

static void *virt_event_main(void *arg)
{
	struct virt_event_loop *l = arg;

	while (!atomic_load(&l->stop))
		if (virEventRunDefaultImpl() < 0)
			break;
	return NULL;
}

int virt_event_loop_start(struct virt_event_loop **ret)
{
	struct virt_event_loop *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	if (virEventRegisterDefaultImpl() < 0) {
		free(l);
		return -EIO;
	}
	l->tick = virEventAddTimeout(500, virt_event_tick, NULL, NULL);
	if (l->tick < 0) {
		free(l);
		return -EIO;
	}
	r = pthread_create(&l->thread, NULL, virt_event_main, l);
	if (r != 0) {
		virEventRemoveTimeout(l->tick);
		free(l);
		return -r;
	}
	*ret = l;
	return 0;
}

struct virt_event_loop *virt_event_loop_stop(struct virt_event_loop *l)
{
	if (!l)
		return NULL;
	atomic_store(&l->stop, true);
	pthread_join(l->thread, NULL);
	virEventRemoveTimeout(l->tick);
	free(l);
	return NULL;
}
