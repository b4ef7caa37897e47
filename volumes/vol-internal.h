/* SPDX-License-Identifier: MIT */
/* volumes: pieces shared by the files of this folder only. */
#ifndef CAIRN_VOL_INTERNAL_H
#define CAIRN_VOL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <json-c/json.h>
#include <rbd/librbd.h>

#include "common/common.h"
#include "common/json.h"
#include "pools/pools.h"
#include "volumes/volumes.h"

/* ---- cleanup helpers ------------------------------------------------------------------------ */

static inline void rbd_closep(rbd_image_t *img)
{
	if (*img)
		rbd_close(*img);
}

static inline void vol_record_releasep(struct vol_record *r)
{
	vol_record_release(r);
}

/* ---- record.c -------------------------------------------------------------------------------- */

/* Now as RFC 3339 UTC. */
void vol_time_now(char buf[VOL_TIME_MAX]);
/* RFC 3339 UTC (or an integer of seconds) -> seconds since the epoch; -1 when unreadable. */
int64_t vol_time_parse(const char *s);

/* Kind of directory for records of images or volumes. */
static inline enum dir_kind vol_dir(bool is_image)
{
	return is_image ? DIR_IMAGES : DIR_VOLUMES;
}

static inline const char *vol_what(bool is_image)
{
	return is_image ? "image" : "volume";
}

/* "volume-<id>" / "image-<id>" */
void vol_rbd_name(bool is_image, const char *id, char ret[VOL_RBD_NAME_MAX]);
/* True for "volume-<uuid>" or "image-<uuid>" (cairn's naming scheme). */
bool vol_rbd_name_is_cairns(const char *rbd_image);

/* Labels: an object of at most 64 name -> string (<= 255, no control characters). */
int vol_labels_validate(struct json_object *labels, struct cairn_err *err);
/* QoS: an object of the known keys -> non-negative integers. */
int vol_qos_validate(struct json_object *qos, struct cairn_err *err);
/* The QoS keys and their image metadata keys, NULL-terminated. */
struct vol_qos_key {
	const char *name;
	const char *metadata;
};
extern const struct vol_qos_key vol_qos_keys[];

/* Fill a new record. */
void vol_record_init(struct vol_record *r, bool is_image);

int vol_record_load_id(struct cluster *c, bool is_image, const char *id, struct vol_record *ret,
                       char **ret_text, struct cairn_err *err);
/*
 * Store r over the record whose stored text was *old_text (compare-and-swap); on success
 * *old_text becomes the new text. -ECANCELED when somebody else changed it meanwhile.
 */
int vol_record_store(struct cluster *c, struct vol_record *r, char **old_text,
                     struct cairn_err *err);

/*
 * Load the record of id, let fn change it, store it guarded by what was read; again when
 * somebody else was quicker. ret (may be NULL) gets the stored record.
 */
typedef int (*vol_record_change_fn)(struct vol_record *r, void *arg, struct cairn_err *err);
int vol_record_modify(struct cluster *c, bool is_image, const char *id, vol_record_change_fn fn,
                      void *arg, struct vol_record *ret, struct cairn_err *err);

/* A growing buffer in pages of its own (always NUL-terminated once text is appended). */
struct vol_buf {
	char *p;
	size_t len, cap;
};
int vol_buf_reserve(struct vol_buf *b, size_t need);
int vol_buf_append(struct vol_buf *b, const char *s, size_t n);
void vol_buf_release(struct vol_buf *b);
/* len + 1 bytes in pages of their own, for vol_text_free(). */
char *vol_text_alloc(size_t len);

/* A value's text inside a stored record, quotes included; p NULL: absent. */
struct vol_span {
	const char *p;
	size_t n;
};

/*
 * A stored volume record read without json-c (vol_splice_scan), for the list: what it is
 * filtered and sorted on (pointers into the record's text, strings without their quotes)
 * and the members its API text is made of (m, pm: record.c's own order).
 */
#define VOL_SPLICE_MEMBERS        17
#define VOL_SPLICE_PARENT_MEMBERS 7
struct vol_splice {
	enum vol_status status;
	enum vol_parent_kind parent_kind;
	const char *name, *pool, *parent_name, *parent_snapshot;
	size_t name_len, pool_len, parent_name_len, parent_snapshot_len;
	const char *labels; /* the labels object's text, NULL when not an object */
	size_t labels_len;
	struct vol_span m[VOL_SPLICE_MEMBERS], pm[VOL_SPLICE_PARENT_MEMBERS];
};
/*
 * 1 when the record (len bytes of text) is json-c's plain form of a record that
 * vol_record_parse takes, filled into ret; 0 when it is for the json-c path (any other
 * shape, or a record that path refuses).
 */
int vol_splice_scan(const char *text, size_t len, struct vol_splice *ret);
/* Append the API text of a scanned record: the bytes of vol_record_to_json's plain form. */
int vol_splice_emit(const struct vol_splice *v, struct vol_buf *out);

/*
 * The list's reply, built one stored record at a time: {"volumes": [...]} in name order,
 * filtered as vol_list. Records are spliced when they can be, parsed otherwise.
 */
struct vol_list_item;
struct vol_list_builder {
	const struct vol_filter *f;
	const char *pool;                  /* the pool filter, resolved; NULL: any */
	struct vol_buf text, names, items; /* items: struct vol_list_item[n] */
	size_t n;
	unsigned spliced, parsed, skipped; /* how each record went */
};
void vol_list_builder_init(struct vol_list_builder *b, const struct vol_filter *f,
                           const char *pool);
int vol_list_builder_add(struct vol_list_builder *b, const char *id, const char *record);
/* The whole reply (NUL-terminated; free with vol_text_free) and its length. */
int vol_list_builder_finish(struct vol_list_builder *b, char **ret_text, size_t *ret_len);
void vol_list_builder_release(struct vol_list_builder *b);

/* ---- rbd.c ------------------------------------------------------------------------------------ */

/* The pool of a volume: NULL -> volumes pool; a role name or the name of volumes/vms. */
int vol_pool_resolve(struct cluster *c, const char *pool, const char **ret_name,
                     struct cairn_err *err);
/* True when pool is one of cairn's pools holding images or volumes. */
bool vol_pool_is_cairns(struct cluster *c, const char *pool);

int vol_features(struct cluster *c, uint64_t *ret, struct cairn_err *err);

/* Open pool/rbd_image[@snap] read-write, or read-only (closed late: see pools.h). */
int vol_open(struct cluster *c, const char *pool, const char *rbd_image, const char *snap,
             rbd_image_t *ret, struct cairn_err *err);
int vol_open_ro(struct cluster *c, const char *pool, const char *rbd_image, const char *snap,
                struct ro_image *ret, struct cairn_err *err);

/* Create a blank image with the configured features. */
int vol_rbd_create(struct cluster *c, const char *pool, const char *rbd_image, uint64_t size,
                   struct cairn_err *err);
/* Clone parent pool/image@snap to pool/rbd_image: clone v2, or protect + v1 when refused. */
int vol_rbd_clone(struct cluster *c, const char *ppool, const char *pimage, const char *psnap,
                  const char *pool, const char *rbd_image, struct cairn_err *err);
/* Set the cairn_id mark. */
int vol_rbd_mark(struct cluster *c, const char *pool, const char *rbd_image, const char *id,
                 struct cairn_err *err);
/* Set the mark of an image made a moment ago that nobody has open, without opening it. */
int vol_rbd_mark_new(struct cluster *c, const char *pool, const char *rbd_image, const char *id,
                     struct cairn_err *err);
/* Is the image marked as cairn's? (0 no, 1 yes, <0 error; -ENOENT missing) */
int vol_rbd_is_marked(rbd_image_t img);

/* The group of an open image as "pool/group" in ret_name: 1 in a group, 0 in none. */
int vol_rbd_group(struct cluster *c, rbd_image_t img, char *ret_name, size_t len,
                  struct cairn_err *err);
/* The group snapshots the open image is part of, but cairn's own (backup sets'): their
 * number, and "group@snap, ..." in ret_list (the first that fit). */
int vol_rbd_group_snaps(rbd_image_t img, char *ret_list, size_t len, struct cairn_err *err);
/* Take an open (read-write) image out of its group and remove its user and group
 * snapshots, so that it can be removed or trashed. */
int vol_rbd_strip(struct cluster *c, rbd_image_t img, const char *pool, const char *rbd_image,
                  struct cairn_err *err);
/* Remove an image for good (vol_rbd_strip first); missing is done (0). */
int vol_rbd_remove(struct cluster *c, const char *pool, const char *rbd_image,
                   struct cairn_progress *progress, struct cairn_err *err);
/* Remove a snapshot (unprotecting it); missing is done; with v2 children it goes to the
 * snapshot trash and RBD removes it with the last child. */
int vol_rbd_snap_remove(struct cluster *c, const char *pool, const char *rbd_image,
                        const char *snap, struct cairn_err *err);

/* Apply QoS limits as image metadata (absent keys are removed). */
int vol_rbd_set_qos(rbd_image_t img, struct json_object *qos, const char *name,
                    struct cairn_err *err);

/* Every snapshot of an open image (all namespaces). Free with vol_rbd_snaps_free. */
struct vol_snap {
	uint64_t id;
	uint64_t size;
	char *name;
	rbd_snap_namespace_type_t ns;
};
int vol_rbd_snaps(rbd_image_t img, struct vol_snap **ret, size_t *ret_n, struct cairn_err *err);
void vol_rbd_snaps_free(struct vol_snap *s, size_t n);
static inline bool vol_snap_is_user(const struct vol_snap *s)
{
	return s->ns == RBD_SNAP_NAMESPACE_TYPE_USER &&
	       !str_has_prefix(s->name, VOL_HIDDEN_SNAP_PREFIX);
}

/* Number of ancestors of an open image (0: no parent). */
int vol_rbd_depth(struct cluster *c, rbd_image_t img, unsigned *ret, struct cairn_err *err);

/* Names of every image in a pool (rbd_list2). */
int vol_rbd_list(rados_ioctx_t io, char ***ret, size_t *ret_n, struct cairn_err *err);
void vol_strv_free(char **v, size_t n);

/*
 * While a long step runs under an intent (qemu-img convert, a flatten, the removal of a big
 * image), a thread touches the intent every minute, so that no reconciler takes the
 * operation for abandoned. Starting cannot fail the step: without a thread it just goes on.
 */
struct intent_keeper {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, running;
	struct cluster *c;
	char op[VOL_OP_ID_MAX];
	char step[32];
};
void intent_keeper_start(struct intent_keeper *k, struct cluster *c, const char *op,
                         const char *step);
void intent_keeper_stop(struct intent_keeper *k);

/* A librbd progress callback that reports to a cairn_progress and stops when cancelled. */
int vol_rbd_progress_cb(uint64_t done, uint64_t total, void *p);

/* ---- import.c -------------------------------------------------------------------------------- */

/*
 * Resolve file against dir (realpath both), and open it: a regular file strictly under dir.
 * -EACCES otherwise, naming the path. Returns the open fd (O_RDONLY|O_CLOEXEC).
 */
int vol_import_open(const char *dir, const char *file, char **ret_path, struct cairn_err *err);

/*
 * Parse qemu-img's -p progress "(42.00/100%)" in a chunk of its output. The parser keeps a
 * partial line between calls. Returns the last percentage seen * 100 (0..10000), or -1.
 */
struct qemu_progress {
	char buf[64];
	size_t len;
};
int qemu_progress_feed(struct qemu_progress *p, const char *data, size_t len);

/* What qemu-img info says about a file. */
struct qemu_info {
	char format[16];
	uint64_t virtual_size;
	bool has_backing;
	bool has_data_file;
};
int qemu_info_parse(const char *json, struct qemu_info *ret, struct cairn_err *err);

/* qemu-img rbd target ("rbd:pool/image:id=...:conf=...[:keyring=...]"). */
char *qemu_rbd_target(const struct cairn_config *conf, const char *pool, const char *image);

/* Run qemu-img with fd as /dev/fd/3; see import.c. */
int qemu_img_info(const struct cairn_config *conf, int fd, const char *format,
                  struct qemu_info *ret, struct cairn_err *err);
int qemu_img_convert(const struct cairn_config *conf, int fd, const char *format,
                     const char *target, uint64_t size, struct cairn_progress *progress,
                     struct cairn_err *err);

/* "web1, web2, pool/foreign" for a message: the live children, by their volume's name
 * when cairn has a record of them (delete.c). */
void vol_children_names(struct cluster *c, const rbd_linked_image_spec_t *specs, size_t n,
                        char *buf, size_t len);

/* ---- snaphide.c ------------------------------------------------------------------------------- */

/*
 * Roll every hidden (deferred-deleted) snapshot forward: hide the ones a crash left half
 * way, point their clones' records at the hidden name, and remove those without any clone
 * left (and their entries). Counts removed snapshots in *removed.
 */
int vol_snap_hidden_settle(struct cluster *c, unsigned *removed, struct cairn_err *err);

/* ---- delete.c --------------------------------------------------------------------------------- */

/*
 * After a child's RBD image went (removed or trashed): drop the hidden snapshot it was
 * cloned from when cairn made one, and remove hidden ancestors without children left.
 */
/*
 * librbd's -EROFS from a snapshot or another maintenance step: the image's exclusive lock
 * did not come to this handle in time (its holder did not hand it over, or the cluster did
 * not answer). Not the client's fault, and worth a retry: -EAGAIN (503), with why.
 */
static inline const char *vol_rbd_why(int r)
{
	return r == -EROFS ? "its exclusive lock could not be taken in time; try again"
	                   : strerror(-r);
}
static inline int vol_rbd_code(int r)
{
	return r == -EROFS ? -EAGAIN : r;
}

/*
 * A flatten got through in RBD (the image has no parent any more) but the record still
 * names one: record it as flattened and release the parent. 1 when it did, 0 when there was
 * nothing to do (still a clone, flattened already, or gone).
 */
int vol_flatten_settle(struct cluster *c, const char *id, struct cairn_err *err);
/*
 * A change of a volume in RBD (extend, revert, QoS) was interrupted before or after its
 * record: the record takes the image's size and the image the record's QoS limits. 1 when
 * settled, 0 when the volume or its image is gone.
 */
int vol_change_settle(struct cluster *c, const char *id, struct cairn_err *err);
void vol_parent_release(struct cluster *c, const struct vol_record *child);
/* Remove a hidden record's image and record when it has no children; 1 when removed. */
int vol_hidden_try_remove(struct cluster *c, bool is_image, const char *id, struct cairn_err *err);
/* Finish deleting a record already marked deleting (used by reconcile). */
int vol_delete_record(struct cluster *c, struct vol_record *r, char **text, bool force,
                      bool deferred_ok, struct cairn_progress *progress, struct cairn_err *err);

#endif
