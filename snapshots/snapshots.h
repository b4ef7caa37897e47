/* SPDX-License-Identifier: MIT */
/*
 * snapshots: snapshots of RBD images over librbd — create, list, remove (never under a
 * clone), roll back (never under a running VM), the clones of a snapshot, and consistent
 * snapshots of several images at once through an RBD group.
 *
 * Plain blocking calls for worker threads. They take an io context and an RBD image
 * name (not a volume name): volumes/ and backup/ map their names to images. librbd's
 * error codes come back unchanged with a message that names pool, image and snapshot.
 *
 * Clones are format 2 (mimic and later): a snapshot needs no protection to be cloned.
 * A snapshot protected by older tools is unprotected when it is removed.
 */
#ifndef CAIRN_SNAPSHOTS_H
#define CAIRN_SNAPSHOTS_H

#include <stdbool.h>
#include <stddef.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "common/common.h"
#include "pools/pools.h"

struct json_object;

/* Snapshots whose names start with this are cairn's own (base snapshots of images,
 * backup points): snap_list hides them unless asked. */
#define SNAP_HIDDEN_PREFIX "cairn-"

/* Without waiting for the guest to quiesce (freezing is libvirt's job). -EEXIST if the
 * image already has a snapshot of that name. */
int snap_create(rados_ioctx_t io, const char *image, const char *snap, struct cairn_err *err);

/* -ENOTEMPTY, naming them, while the snapshot has clones (even clones in the trash);
 * -ENOENT when there is no such snapshot. A protected snapshot is unprotected first. */
int snap_remove(rados_ioctx_t io, const char *image, const char *snap, struct cairn_err *err);

/*
 * The user snapshots of the image, oldest first, as a new JSON array of
 *   {"name", "id", "size", "created" (RFC 3339 UTC), "protected", "clones"}
 * Names starting with SNAP_HIDDEN_PREFIX only when include_hidden. Snapshots that belong
 * to a group snapshot or sit in the snapshot trash are never listed.
 */
int snap_list(struct cluster *c, rados_ioctx_t io, const char *image, bool include_hidden,
              struct json_object **ret_array, struct cairn_err *err);

/*
 * Put the image's data (and size) back to the snapshot. -EBUSY when anybody else has the
 * image open (a watcher that is not this call: a VM, rbd-nbd, another host); the image's
 * exclusive lock is held for the whole rollback so nobody can start writing meanwhile.
 * progress gets the bytes done; a cancel is honoured only before the rollback starts.
 */
int snap_rollback(rados_ioctx_t io, const char *image, const char *snap,
                  struct cairn_progress *progress, struct cairn_err *err);

/* The clones of a snapshot as a new JSON array of
 *   {"pool", "namespace", "image", "id", "trash"} */
int snap_children(struct cluster *c, rados_ioctx_t io, const char *image, const char *snap,
                  struct json_object **ret_array, struct cairn_err *err);

/* The same clones as a C string "pool/image, pool/image (trash), ..." (malloc'd),
 * and their number; "" and 0 when there is none. */
int snap_children_names(struct cluster *c, rados_ioctx_t io, const char *image, const char *snap,
                        char **ret_names, size_t *ret_count, struct cairn_err *err);

/* ---- groups: one consistent point across several images ------------------------------------- */
/*
 * An RBD group (in the volumes pool) holds the images to snapshot together, e.g. all disks
 * of one VM. A group snapshot is one crash-consistent point across all of them: librbd
 * blocks writes to every member, snapshots each, and lets them go. On each image it is a
 * snapshot in the "group" namespace (rbd snap ls --all shows "group (pool/group@snap)"),
 * not a user snapshot: snap_list does not show it.
 *
 * An image is in at most one group, and librbd refuses to remove an image that is in a
 * group: snap_group_image_remove (or snap_group_destroy) first.
 */

/*
 * Make sure the group exists and holds the n images (pools[i]/images[i]; pools[i] NULL:
 * the volumes pool), then take the group snapshot snap of all its images at once.
 * Images already in the group stay in it. -EEXIST when the group already has a snapshot
 * named snap, or when an image is in another group (named in the message).
 */
int snap_group_create(struct cluster *c, const char *group_name, const char *snap,
                      const char *const *pools, const char *const *images, size_t n,
                      struct cairn_err *err);

/*
 * The groups cairn made in the volumes pool (names starting with SNAP_HIDDEN_PREFIX: the
 * group of a group snapshot or of a backup set is "cairn-<first volume's id>"), as a new
 * JSON array of names. Groups of other tools are not listed.
 */
int snap_group_names(struct cluster *c, struct json_object **ret_array, struct cairn_err *err);

/*
 * Remove group snapshot group@snap (its snapshot on every image), and then the group itself
 * when it has no snapshot left (its images leave it): *ret_group_removed says so. -ENOENT,
 * naming it, when the group or the snapshot is missing; -EBUSY when another request holds
 * the group longer than its lock's lease. Two steps: a crash between them leaves a group
 * without snapshots, which snap_group_sweep removes.
 *
 * snap_group_create and this take a RADOS lock per group (lock.group.<name> in cairn's state
 * namespace, a 30 s lease), so no cairnd removes a group another one is snapshotting.
 */
int snap_group_snap_delete(struct cluster *c, const char *group_name, const char *snap,
                           bool *ret_group_removed, struct cairn_err *err);

/* Remove every group cairn made that has no snapshot left (under its lock): the reconcile
 * pass's share for groups. The number removed. */
int snap_group_sweep(struct cluster *c, struct cairn_err *err);

/* Remove a group snapshot (and its snapshot on every image). -ENOENT when missing. */
int snap_group_remove(struct cluster *c, const char *group_name, const char *snap,
                      struct cairn_err *err);

/* The group's snapshots as a new JSON array of {"name", "complete"}; -ENOENT if no group. */
int snap_group_list(struct cluster *c, const char *group_name, struct json_object **ret_array,
                    struct cairn_err *err);

/* The group's images as a new JSON array of {"pool", "image"}; -ENOENT if no group. */
int snap_group_images(struct cluster *c, const char *group_name, struct json_object **ret_array,
                      struct cairn_err *err);

/* Take one image out of its group (its group snapshots stay until they are removed);
 * not being in the group is not an error. */
int snap_group_image_remove(struct cluster *c, const char *group_name, rados_ioctx_t io,
                            const char *image, struct cairn_err *err);

/*
 * The group (in the volumes pool) that holds pool io's image: 1 with its name in ret_group,
 * 0 when the image is in no group. -EEXIST, naming it, when the image is in a group of
 * another pool (cairn never made that one).
 */
int snap_image_group(struct cluster *c, rados_ioctx_t io, const char *image, char *ret_group,
                     size_t len, struct cairn_err *err);

/* The id of img's snapshot that is its part of group snapshot group@snap; -ENOENT when it
 * has none. Open the image at it with rbd_snap_set_by_id(). */
int snap_group_snap_id(rbd_image_t img, const char *group, const char *snap, uint64_t *ret_id,
                       struct cairn_err *err);

/* Remove the group, its snapshots, and the membership of its images. Missing is fine. */
int snap_group_destroy(struct cluster *c, const char *group_name, struct cairn_err *err);

#endif
