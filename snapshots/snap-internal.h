/* SPDX-License-Identifier: MIT */
/* Shared between the files of snapshots/: image handles and names in messages. */
#ifndef CAIRN_SNAP_INTERNAL_H
#define CAIRN_SNAP_INTERNAL_H

#include <rbd/librbd.h>

#include "snapshots/snapshots.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(rbd_image_t, rbd_close)

/* "pool" of an io context, for messages; "?" when it cannot be had. */
#define SNAP_POOL_BUF 128
void snap_pool_name(rados_ioctx_t io, char buf[SNAP_POOL_BUF]);

/* Open an image read-write, or read-only (closed late: see pools.h), with a message naming
 * pool/image on failure. */
int snap_image_open(rados_ioctx_t io, const char *image, rbd_image_t *ret, struct cairn_err *err);
int snap_image_open_ro(struct cluster *c, rados_ioctx_t io, const char *image, struct ro_image *ret,
                       struct cairn_err *err);

/* All the image's snapshots, every namespace (rbd_snap_list, grown until they fit): their
 * number, *ret to rbd_snap_list_end() and free(); a negative errno. */
int snap_image_snaps(rbd_image_t img, rbd_snap_info_t **ret);

/* librbd wants a progress function even when nobody listens. */
int snap_progress_none(uint64_t offset, uint64_t total, void *ptr);

#endif
