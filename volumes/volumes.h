/* SPDX-License-Identifier: MIT */
/*
 * volumes: cairn's core domain — images (Glance-like, read-only golden disks in the images
 * pool) and volumes (Cinder-like writable disks in the volumes or vms pool).
 *
 * Plain blocking C over librbd: the service runs these on worker threads. Every call takes
 * the cluster first and the request's error last, and returns >= 0 or a negative errno with
 * err set; ret_* outputs are untouched on failure.
 *
 * State. What cairn knows of an image or a volume is a JSON record in the directory
 * (DIR_IMAGES / DIR_VOLUMES, see pools/pools.h):
 *   {"id", "name", "pool", "rbd_image", "size", "status", "parent", "labels", "qos",
 *    "created", "updated", "op", ...}
 * The RBD image is named after the id ("volume-<id>", "image-<id>", Cinder's convention),
 * so a rename touches the directory only. Images cairn makes carry the image metadata
 * "cairn_id" = <id>: the reconciler removes only images with that mark that nothing
 * accounts for, so foreign images (even "volume-<uuid>" ones left by Cinder) are safe.
 *
 * Multi-step operations (create, import, delete) write an intent first (op id, targets)
 * and end it after the last step; a crash at any step leaves nothing vol_reconcile() does
 * not roll back (an unfinished create or import) or forward (an unfinished delete).
 *
 * Deleting never orphans a clone: an image or volume with children is hidden (status
 * "hidden", renamed "hidden-<id>" in the directory so its name is free again) and removed
 * by vol_purge() once its last child is gone or flattened.
 */
#ifndef CAIRN_VOLUMES_H
#define CAIRN_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "pools/pools.h"

struct json_object;

/* ---- records ------------------------------------------------------------------------------ */

enum vol_status {
	VOL_STATUS_CREATING,
	VOL_STATUS_AVAILABLE,
	VOL_STATUS_IMPORTING,
	VOL_STATUS_DELETING,
	VOL_STATUS_HIDDEN, /* deleted by the user, kept while clones depend on it */
	VOL_STATUS_ERROR,
	VOL_STATUS_MAX,
};
/* "creating", "available", "importing", "deleting", "hidden", "error"; NULL / -EINVAL */
const char *vol_status_to_string(enum vol_status s);
int vol_status_from_string(const char *s);

enum vol_parent_kind {
	VOL_PARENT_NONE,
	VOL_PARENT_IMAGE,    /* the "cairn-base" snapshot of an image */
	VOL_PARENT_SNAPSHOT, /* a user snapshot of a volume ("volume@snap") */
	VOL_PARENT_VOLUME,   /* a volume, through its hidden snapshot "cairn-clone-<child id>" */
	VOL_PARENT_BACKUP,   /* a backup's snapshot in the backups pool (an instant restore) */
	VOL_PARENT_MAX,
};
/* "none", "image", "snapshot", "volume", "backup"; NULL / -EINVAL */
const char *vol_parent_kind_to_string(enum vol_parent_kind k);
int vol_parent_kind_from_string(const char *s);

#define VOL_RBD_NAME_MAX 128 /* RBD image and snapshot names cairn handles, with the NUL */
#define VOL_TIME_MAX     32  /* "2026-11-26T12:00:00Z" */
#define VOL_OP_ID_MAX    65

/* The name of the base snapshot of an image, and the prefix of cairn's hidden snapshots. */
#define IMG_BASE_SNAP          "cairn-base"
#define VOL_HIDDEN_SNAP_PREFIX "cairn-"
#define VOL_CLONE_SNAP_PREFIX  "cairn-clone-"
/* The image metadata key that marks RBD images cairn made (value: the record id). */
#define VOL_MARK_KEY "cairn_id"

struct vol_parent {
	enum vol_parent_kind kind;
	char name[NAME_MAX_LEN + 1];     /* image or volume name when the clone was made */
	char snapshot[NAME_MAX_LEN + 1]; /* the user snapshot (kind snapshot), else "" */
	char id[UUID_STR_LEN];           /* record id of the image or volume, "" if unknown */
	char pool[NAME_MAX_LEN + 1];     /* the RBD parent: pool, image, snapshot */
	char rbd_image[VOL_RBD_NAME_MAX];
	char rbd_snap[VOL_RBD_NAME_MAX];
};

/* One record of DIR_IMAGES or DIR_VOLUMES. */
struct vol_record {
	bool is_image;
	char id[UUID_STR_LEN];
	char name[NAME_MAX_LEN + 1];        /* the directory name ("hidden-<id>" once hidden) */
	char former_name[NAME_MAX_LEN + 1]; /* the name before it was hidden, else "" */
	char pool[NAME_MAX_LEN + 1];
	char rbd_image[VOL_RBD_NAME_MAX];
	uint64_t size;
	enum vol_status status;
	struct vol_parent parent;
	struct json_object *labels; /* owned; object of strings, never NULL after parse */
	struct json_object *qos;    /* owned; object of integers, never NULL after parse */
	char created[VOL_TIME_MAX];
	char updated[VOL_TIME_MAX];
	char op[VOL_OP_ID_MAX]; /* the last operation that changed it */
	char format[16];        /* images: "qcow2", "raw", "vmdk" */
	char checksum[80];      /* images: "sha256:<hex>" of the imported file; "" if unknown */
	bool flattened;         /* a clone made independent of its parent */
	bool managed;           /* adopted with vol_manage(): the RBD name is not cairn's */
	char error[128];        /* why the status is "error" */
};

/*
 * Look a name up and parse its record: -ENOENT "volume 'x' not found". ret_text (may be
 * NULL) receives the stored text, for a guarded update.
 */
int vol_record_load(struct cluster *c, bool is_image, const char *name, struct vol_record *ret,
                    char **ret_text, struct cairn_err *err);

/* Parse a stored record (JSON text); is_image tells the directory it came from. */
int vol_record_parse(const char *text, bool is_image, struct vol_record *ret,
                     struct cairn_err *err);
/* The stored form (malloc'd JSON text) or NULL on out-of-memory. */
char *vol_record_format(const struct vol_record *r);
void vol_record_release(struct vol_record *r);

/*
 * The API objects (docs/api.md). Volume: {"id", "name", "pool", "rbd_image", "size",
 * "status", "parent": {"kind", "name", "snapshot"}|null, "labels", "qos", "created",
 * "updated"} (+ "flattened", "managed", "error" when set). Image: {"id", "name", "pool",
 * "rbd_image", "size", "format", "checksum", "status", "clones", "created", "updated"};
 * clones < 0 leaves it null; so does an unknown checksum (an image recorded before cairn
 * kept one). NULL on out-of-memory.
 */
struct json_object *vol_record_to_json(const struct vol_record *r);
struct json_object *img_record_to_json(const struct vol_record *r, int64_t clones);

/* ---- images ------------------------------------------------------------------------------- */

struct img_import_params {
	const char *name;
	const char *file;   /* absolute, or relative to [import] directory; must be under it */
	const char *format; /* "qcow2", "raw", "vmdk"; NULL: detect with qemu-img info */
	const char *op_id;  /* the operation's id (intent key); NULL: a new one */
};

/*
 * Import a disk file as an image: reserve the name (status "importing"), create the RBD
 * image with the source's virtual size, write it with `qemu-img convert` (sparse, 16
 * parallel requests), snapshot "cairn-base", record it "available". progress gets
 * (bytes done, bytes total); cancelling kills qemu-img (-ECANCELED). A failure leaves
 * nothing: no RBD image, no record. The file must be a regular file under [import]
 * directory (-EACCES otherwise, naming the path) without a backing file.
 */
int img_import(struct cluster *c, const struct img_import_params *p,
               struct cairn_progress *progress, struct json_object **ret_image,
               struct cairn_err *err);

/*
 * Check, without reading it, that file may be imported: a regular file under [import]
 * directory (-EACCES naming the path otherwise, -ENOENT when missing). img_import checks
 * again when it opens the file; this lets a request be refused before any work starts.
 */
int img_import_check(struct cluster *c, const char *file, struct cairn_err *err);

/* Every image as an API object (hidden ones only when include_hidden), name order. */
int img_list(struct cluster *c, bool include_hidden, struct json_object **ret_array,
             struct cairn_err *err);
/* One image; "clones" counts the live children of its base snapshot. */
int img_show(struct cluster *c, const char *name, struct json_object **ret_image,
             struct cairn_err *err);
/*
 * Delete an image. While clones exist: -ENOTEMPTY naming the dependent volumes, or, when
 * deferred, hide it until the last clone goes (vol_purge removes it). Returns 0 when
 * deleted, 1 when hidden. Missing: -ENOENT.
 */
int img_delete(struct cluster *c, const char *name, bool deferred, struct cairn_err *err);

/*
 * The deferred delete of user snapshot snap of a volume that has clones: it is hidden
 * (renamed "cairn-deleted-<snap id>-<snap>", so lists show it only with their hidden
 * flag and the name is free again) and vol_purge removes it once its last clone is gone
 * or flattened. Returns 1 when hidden, 0 when it has no clone (remove it now instead),
 * -ENOENT when the volume or the snapshot is missing.
 */
int vol_snap_hide(struct cluster *c, const char *volume, const char *snap, struct cairn_err *err);
/* The live clones of a volume's snapshot by their volume names ("web2, web3"), for a
 * message; "" when it has none. */
int vol_snap_clone_names(struct cluster *c, const char *volume, const char *snap, char *buf,
                         size_t len, struct cairn_err *err);

/* ---- volumes ------------------------------------------------------------------------------ */

struct vol_create_params {
	const char *name;
	uint64_t size;                   /* bytes; 0 for a clone: the parent's size */
	const char *image;               /* clone of this image's base snapshot */
	const char *snapshot;            /* "volume@snap": clone of a volume's snapshot */
	const char *volume;              /* clone of a volume (through a hidden snapshot) */
	const struct vol_parent *backup; /* clone of a backup's snapshot: kind BACKUP, id and
	                                  * name the backup's id, pool, rbd_image, rbd_snap
	                                  * (backup/ checks the backup and fills it) */
	const char *pool;                /* NULL: the volumes pool; else the volumes or vms pool
				   * (its role name "volumes"/"vms" or its configured name) */
	struct json_object *labels;      /* borrowed; NULL: none */
	struct json_object *qos;         /* borrowed; NULL: none; see vol_update() */
	const char *op_id;               /* NULL: a new one */
	/* a clone deeper than max_clone_depth is flattened, O(size): */
	struct cairn_progress *progress; /* its progress; NULL: none */
	bool quick;                      /* return 1 instead, having done nothing */
};

/*
 * Create a volume: blank (size required) or an O(1) copy-on-write clone of at most one
 * source, optionally larger than it (never smaller: -EINVAL). A clone deeper than
 * [volumes] max_clone_depth is flattened right away ("flattened": true), or, when p->quick,
 * 1 is returned before anything is done (the caller runs it as an operation). The name is
 * reserved first: -EEXIST when taken. A failure leaves nothing behind.
 */
int vol_create(struct cluster *c, const struct vol_create_params *p,
               struct json_object **ret_volume, struct cairn_err *err);

struct vol_filter {
	const char *pool;   /* pool name or role name; NULL: any */
	const char *label;  /* "key=value" (or "key": has the key); NULL: any */
	const char *parent; /* name of the parent image or volume; NULL: any */
	bool include_hidden;
};
/* Volumes from the directory only (no image is opened): 10,000 stay fast. */
int vol_list(struct cluster *c, const struct vol_filter *filter, struct json_object **ret_array,
             struct cairn_err *err);
/*
 * The same list as the reply's JSON text, {"volumes": [...]}, byte for byte what vol_list's
 * array would serialize to (json-c's plain form), made without json-c objects for records
 * in the form cairn writes them: 10,000 volumes in a fraction of the time and memory.
 */
int vol_list_text(struct cluster *c, const struct vol_filter *filter, char **ret_text,
                  size_t *ret_len, struct cairn_err *err);
/* Free vol_list_text's text (pages of its own, not malloc's: see volumes/record.c). */
void vol_text_free(char *text, size_t len);
/*
 * The record plus live facts: "provisioned" and "used" bytes, "parent_chain" (nearest
 * first), "snapshots" (user snapshots), "children" (clones of any of its snapshots).
 */
int vol_show(struct cluster *c, const char *name, struct json_object **ret_volume,
             struct cairn_err *err);
/*
 * vol_show's replies kept for a moment, for a service that answers GETs of hot volumes
 * without opening their images. Keyed by name; each entry holds the reply's text, when it
 * was read (a monotonic clock, ns) and the generation it was read in. Whoever changes a
 * volume calls vol_show_cache_invalidate() before and after the change: a reply read before
 * that is then never given again (nor stored, when its read began before). Changes made
 * elsewhere (another host) are bounded by the caller's max_age only.
 *
 * One thread uses the cache (the service's loop); vol_show_cache_invalidate() and
 * vol_show_cache_generation() may be called from any.
 */
struct vol_show_cache;
struct vol_show_cache *vol_show_cache_new(size_t max_entries);
struct vol_show_cache *vol_show_cache_free(struct vol_show_cache *sc);
uint64_t vol_show_cache_generation(struct vol_show_cache *sc);
void vol_show_cache_invalidate(struct vol_show_cache *sc);
/*
 * The reply of name when one of this generation read at most max_age_ns before now_ns is
 * kept: its text (borrowed until the next call), length and read time. NULL otherwise.
 */
const char *vol_show_cache_get(struct vol_show_cache *sc, const char *name, uint64_t now_ns,
                               uint64_t max_age_ns, size_t *ret_len, uint64_t *ret_read_ns);
/*
 * Keep text (copied) as name's reply read at read_ns in generation gen. 0 when kept; 1
 * when gen is no longer current (dropped: something changed meanwhile); -ENOMEM. A full
 * cache drops its oldest entry.
 */
int vol_show_cache_put(struct vol_show_cache *sc, const char *name, uint64_t gen, uint64_t read_ns,
                       const char *text, size_t len);
/* Forget name's reply. */
void vol_show_cache_drop(struct vol_show_cache *sc, const char *name);
/*
 * Claim the refresh of name's reply: true for the first caller while an entry exists and no
 * refresh is claimed; vol_show_cache_put or _drop ends the claim.
 */
bool vol_show_cache_claim(struct vol_show_cache *sc, const char *name);
size_t vol_show_cache_count(struct vol_show_cache *sc);

/* Grow (shrinking is -EINVAL, saying both sizes). */
int vol_extend(struct cluster *c, const char *name, uint64_t size, struct json_object **ret_volume,
               struct cairn_err *err);
/* Copy the parent's data in and detach from it (no parent: nothing to do). */
int vol_flatten(struct cluster *c, const char *name, struct cairn_progress *progress,
                struct cairn_err *err);
/* Roll back to a user snapshot; -EBUSY while the volume is in use (has watchers). */
int vol_revert(struct cluster *c, const char *name, const char *snapshot, struct cairn_err *err);
/* Rename in the directory (the RBD image keeps its id-based name); -EEXIST when taken. */
int vol_rename(struct cluster *c, const char *name, const char *new_name,
               struct json_object **ret_volume, struct cairn_err *err);
/*
 * Replace the labels and/or the QoS limits (NULL: unchanged). QoS is an object of
 * non-negative integers, 0 or absent meaning no limit: "iops", "read_iops", "write_iops",
 * "bps", "read_bps", "write_bps" (image metadata conf_rbd_qos_<key>_limit).
 */
int vol_update(struct cluster *c, const char *name, struct json_object *labels,
               struct json_object *qos, struct json_object **ret_volume, struct cairn_err *err);
/*
 * Delete a volume. User snapshots refuse it (-ENOTEMPTY) unless force, which removes them;
 * so do group snapshots that include it (not a backup set's), naming them: force removes
 * them from every volume of their group. A volume in a group leaves it.
 * With clones of any of its snapshots it is hidden (status "hidden") until they are gone.
 * Otherwise its snapshots are removed and the image goes to the RBD trash ([volumes]
 * deferred_delete; removed at once otherwise), and the record goes. A hidden parent whose
 * last child this was follows it. Returns 0 when deleted, 1 when hidden (or hidden
 * already). -ENOENT when missing; in use: -EBUSY.
 */
int vol_delete(struct cluster *c, const char *name, bool force, struct cairn_progress *progress,
               struct cairn_err *err);
/* Before a delete without force, at once: -ENOTEMPTY naming them when group snapshots of the
 * user's include the volume (vol_delete refuses the same); -ENOENT when there is no volume. */
int vol_delete_check_groups(struct cluster *c, const char *name, struct cairn_err *err);
/*
 * Background pass: remove cairn's trashed images whose delay ([volumes] trash_delay) is
 * over, then hidden snapshots, images and volumes that have no child left. Returns how
 * many RBD images and snapshots it removed.
 */
int vol_purge(struct cluster *c, struct cairn_err *err);

/* Adopt an existing RBD image in the volumes or vms pool as a volume (record only). */
int vol_manage(struct cluster *c, const char *name, const char *pool, const char *rbd_image,
               struct json_object **ret_volume, struct cairn_err *err);
/* Drop the record only: the RBD image stays, unmarked, for others to use. */
int vol_unmanage(struct cluster *c, const char *name, struct cairn_err *err);

/* ---- reconciliation ----------------------------------------------------------------------- */

struct vol_reconcile_opts {
	/*
	 * The daemon just started on this host: the intents this host wrote belong to work
	 * that died with the previous process and are settled whatever their age.
	 */
	bool startup;
	/* Intents of other hosts (or of this one, when not startup) older than this many
	 * seconds are taken as abandoned; 0: 3600. */
	uint32_t intent_timeout;
	const char *host; /* this host's name as intents record it; NULL: gethostname() */
};

struct vol_reconcile_stats {
	unsigned intents_rolled_back;
	unsigned intents_rolled_forward;
	unsigned orphans_removed;
	unsigned records_missing; /* records marked "error" because their image vanished */
};

/*
 * Settle abandoned intents of kind "volume." and "image." (back for an unfinished create or
 * import, forward for an unfinished delete); remove RBD images marked by cairn that no
 * record and no intent accounts for; mark records whose image vanished as "error".
 * opts NULL: not startup, the default timeout. ret_stats may be NULL.
 */
int vol_reconcile(struct cluster *c, const struct vol_reconcile_opts *opts,
                  struct vol_reconcile_stats *ret_stats, struct cairn_err *err);

#endif
