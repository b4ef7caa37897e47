/* SPDX-License-Identifier: MIT */
/*
 * backup: full and incremental backups of volumes, into the backups pool or into files in
 * the standard `rbd export-diff` stream format, verify, restore, retention.
 *
 * Plain blocking C over librados/librbd for worker threads: the cluster first, the
 * request's error last, >= 0 or a negative errno with err set; ret_* untouched on failure.
 * Long calls take a struct cairn_progress (bytes done/total) and stop with -ECANCELED
 * once it says so.
 *
 * Records. A backup is a DIR_BACKUPS directory record whose name and id are both the
 * backup's UUID:
 *   {"id", "volume", "volume_id", "kind": "full"|"incremental", "target": "pool"|"file",
 *    "parent": id|null, "status": "creating"|"available"|"failed"|"deleting",
 *    "size" (volume size at that point), "bytes" (data bytes copied), "snapshot" (source
 *    snapshot on the volume, "cairn-backup-<id>"), "label", "created", "updated",
 *    "checksums": {"file": sha256 hex of the file|null, "volume": digest of the logical
 *    content, see below},
 *    "path" (file target), "why_full" (an incremental was asked but a full was made),
 *    "op" (the operation that made it), "error" (why it failed)}
 * The API object is the same plus "incremental": true|false, and "checksums" names the
 * volume digest's algorithm: "volume_algorithm": BACKUP_VOLUME_DIGEST.
 *
 * The volume digest. A SHA-256 of the whole volume would make every incremental backup
 * read the whole volume, so the digest is homomorphic (LtHash16, after Bellare-Micciancio
 * and Facebook's "homomorphic hashing" for update propagation): the volume's logical
 * content is cut into 64 KiB sub-blocks (the last one shorter); a sub-block i of n bytes
 * that holds a non-zero byte has the value
 *     v_i = SHAKE256(SHA-256(le64(i) || le64(n) || its bytes)) as 2048 bytes, read as
 *           1024 little-endian 16-bit lanes;
 * an all-zero sub-block is 0. The state is the lane-wise sum of all v_i modulo 2^16, and
 * the digest ("volume") is the SHA-256 of the state's 2048 bytes. It is a function of the
 * content alone (any two images with the same bytes have the same digest), zeros cost
 * nothing, and an incremental backup updates the base's state (kept in RADOS,
 * "backup.digest.<id>") by taking out the old values of the sub-blocks it touches (read
 * at the base snapshot) and putting in the new ones: it reads only what changed.
 * Restore computes it from what it writes (or, asked to, from the restored volume read
 * back), verify from the backup image.
 *
 * Source point. Each backup takes the snapshot "cairn-backup-<id>" of the volume's RBD
 * image and reads from it. Only the snapshot of the latest good backup stays (the base of
 * the next incremental): older cairn-backup-* snapshots go once a newer backup is good.
 *
 * Sets. The disks of one VM are backed up together, at one crash-consistent point: a set
 * of volumes gets one backup each ("set": the set's id, "group": its RBD group), read at
 * one RBD group snapshot "cairn-backup-<set id>" of the group that holds them (the group
 * they are in already, else "cairn-<first volume's id>" in the volumes pool, as group
 * snapshots name it). librbd holds the writes of every member while it snapshots them all.
 * Each volume also gets its own snapshot "cairn-backup-<id>" just BEFORE the group
 * snapshot: librbd diffs only from a user snapshot, so the next incremental diffs from that
 * one, a superset of the changes since the group point (what was written between the two
 * is copied again, read at the new point, so the bytes are right), and reads the old
 * values for the digest at the group point itself. A group snapshot stays while it is the
 * latest good backup of a member or a backup of the set is still being made; the backups
 * pass (and the clean-up of a failed backup) removes it after that. A set whose copy fails
 * for one volume leaves that backup "failed" and the others good.
 *
 * Changed extents come from rbd_diff_iterate2: with fast-diff (and a valid object map)
 * first the changed objects, then, for an incremental, the exact extents inside them, so
 * a 4 KiB write costs 64 KiB, not a 4 MiB object; a full backup of a clone includes the
 * parent's data. Zeros, zeroed and discarded ranges are never copied as data (4 KiB
 * runs in files, 64 KiB runs in the pool): "bytes" counts only what was written as data.
 * Data moves with rbd_aio_* through a window of [backup] in_flight requests of [backup]
 * chunk bytes (at most 4 MiB each).
 *
 * Targets.
 * - pool: one RBD image per volume in the backups pool, "backup-<volume id>", with one
 *   snapshot per backup, "backup-<backup id>" (Cinder's Ceph backup driver does the same).
 *   A full backup makes the image if there is none (or starts it over); an incremental
 *   writes the changed extents (zeroes for discarded ones) and snapshots.
 * - file: [backup] directory holds "<volume id>.<backup id>.diff", an `rbd export-diff`
 *   stream (a full one has no from-snap; an incremental's from-snap is its parent's
 *   "cairn-backup-<parent id>" snapshot), so `rbd import-diff` replays a chain without
 *   cairn. It is format v1 ("rbd diff v1\n"), the one `rbd export-diff` writes: pacific's
 *   `rbd import-diff` refuses v2 streams ("invalid or unexpected diff banner"); cairn
 *   reads both. Zeroed and discarded ranges are 'z' records, never data; a full backup
 *   also marks the unallocated ranges with 'z', so it restores right even over an image
 *   that is not blank. "<volume id>.manifest.json": the chain in order, each with file
 *   name, size, sha256 of the file, the volume digest at that point. Files are written
 *   to a temporary name, fsync'd, and renamed: a crash never leaves a half file under the
 *   final name.
 *
 * Chains. The first backup of a volume is full; later ones are incremental when asked and
 * a usable base exists: the latest good backup of the volume whose source snapshot still
 * exists on the volume (and, pool target, whose snapshot exists on the backup image). A
 * backup asked as incremental that had to be full says why in "why_full". A chain is a
 * full backup and the incrementals that follow it, each with its "parent".
 *
 * Concurrency. A backup (and a restore over the original) of a volume holds the RADOS lock
 * "lock.backup.<volume id>" (state namespace) with a 60 s lease renewed as data moves:
 * from any host, a second one gets -EBUSY naming the host that runs the first.
 *
 * Crash safety. A backup writes an intent ("backup.create") and its record (status
 * "creating") before the snapshot, and ends the intent after the record says "available".
 * backup_reconcile() settles what a crash or a failure left: the record marked "failed"
 * with its partial data removed (a new backup image or the backup's snapshot on it, the
 * temporary file, the source snapshot). failpoint("backup.<step>") marks each step:
 * backup.begin, backup.snapshot, backup.chunk (every data batch), backup.data,
 * backup.checksum, backup.record, backup.group (a set's group snapshot taken);
 * restore.created, restore.chunk.
 */
#ifndef CAIRN_BACKUP_H
#define CAIRN_BACKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"
#include "conf/conf.h"
#include "pools/pools.h"

struct json_object;

/* ---- names ------------------------------------------------------------------------------- */

#define BACKUP_SNAP_PREFIX       "cairn-backup-" /* source snapshot: + backup id */
#define BACKUP_IMAGE_PREFIX      "backup-"       /* backup image: + volume id */
#define BACKUP_IMAGE_SNAP_PREFIX "backup-"       /* snapshot on it: + backup id */
#define BACKUP_LOCK_PREFIX       "lock.backup."  /* RADOS lock object: + volume id */
#define BACKUP_LOCK_NAME         "cairn.backup"
#define BACKUP_LOCK_LEASE        60 /* seconds */
#define BACKUP_VOLUME_DIGEST     "sha256(lthash16(sha256, 64KiB))"

/* ---- records ----------------------------------------------------------------------------- */

enum backup_kind {
	BACKUP_KIND_FULL,
	BACKUP_KIND_INCREMENTAL,
	BACKUP_KIND_MAX,
};
/* "full", "incremental"; NULL / -EINVAL */
const char *backup_kind_to_string(enum backup_kind k);
int backup_kind_from_string(const char *s);

enum backup_status {
	BACKUP_STATUS_CREATING,
	BACKUP_STATUS_AVAILABLE,
	BACKUP_STATUS_FAILED,
	BACKUP_STATUS_DELETING,
	BACKUP_STATUS_MAX,
};
/* "creating", "available", "failed", "deleting"; NULL / -EINVAL */
const char *backup_status_to_string(enum backup_status s);
int backup_status_from_string(const char *s);

#define BACKUP_SHA256_HEX 65 /* 64 hex digits and a NUL */
#define BACKUP_TIME_MAX   32
#define BACKUP_PATH_MAX   4096
#define BACKUP_LABEL_MAX  256

struct backup_record {
	char id[UUID_STR_LEN];
	char volume[NAME_MAX_LEN + 1]; /* the volume's name when the backup was made */
	char volume_id[UUID_STR_LEN];
	enum backup_kind kind;
	enum backup_target target;
	char parent[UUID_STR_LEN]; /* "" for a full backup */
	enum backup_status status;
	uint64_t size;      /* bytes of the volume at that point */
	uint64_t bytes;     /* data bytes copied */
	char snapshot[128]; /* "cairn-backup-<id>" */
	char label[BACKUP_LABEL_MAX];
	char created[BACKUP_TIME_MAX];
	char updated[BACKUP_TIME_MAX];
	char checksum_file[BACKUP_SHA256_HEX];   /* "" when none (pool target, not yet) */
	char checksum_volume[BACKUP_SHA256_HEX]; /* "" until known */
	char path[BACKUP_PATH_MAX];              /* file target: the final file name, absolute */
	char why_full[256]; /* "" unless an incremental was asked and a full made */
	char op[65];
	char error[256];              /* why the status is "failed" */
	char set[UUID_STR_LEN];       /* "" unless backed up with other volumes at one point */
	char group[NAME_MAX_LEN + 1]; /* the set's RBD group in the volumes pool */
};

/* Parse a stored record (JSON text): -EBADMSG naming the field when it is not one. */
int backup_record_parse(const char *text, struct backup_record *ret, struct cairn_err *err);
/* The stored form (malloc'd JSON text) or NULL on out-of-memory. */
char *backup_record_format(const struct backup_record *r);
/* The API object (the record plus "incremental"); NULL on out-of-memory. */
struct json_object *backup_record_to_json(const struct backup_record *r);

/* ---- create ------------------------------------------------------------------------------ */

#define BACKUP_SET_MAX 64 /* volumes in one backup set */

struct backup_create_params {
	const char *volume;         /* name of the volume; or a set: */
	const char *const *volumes; /* n_volumes names (1..BACKUP_SET_MAX), backed up at one */
	size_t n_volumes;           /* point through an RBD group snapshot */
	bool incremental;           /* incremental when a usable base exists */
	bool has_target;            /* false: [backup] target */
	enum backup_target target;  /* when has_target */
	const char *label;          /* NULL: none; at most BACKUP_LABEL_MAX - 1 bytes */
	const char *op_id;          /* the operation's id (intent key); NULL: a new one */
};

/*
 * Back up a volume, or a set of volumes at one point (see above). progress gets (bytes of
 * data copied, bytes to copy; for a set, of all its volumes).
 * -ENOENT when the volume is unknown, -EBUSY when a backup of it is running (anywhere),
 * -ECANCELED when cancelled; any failure leaves the record "failed" (kept so the operator
 * sees why) and no partial data. ret_backup: the API object; for a set,
 * {"set", "group", "backups": [backup...]} (and when one volume of a set failed, the error
 * of the first that did, the others staying good).
 */
int backup_create(struct cluster *c, const struct backup_create_params *p,
                  struct cairn_progress *progress, struct json_object **ret_backup,
                  struct cairn_err *err);

/* ---- list, show, delete ------------------------------------------------------------------ */

/* The backups (of one volume name, or all when volume is NULL), oldest first. */
int backup_list(struct cluster *c, const char *volume, struct json_object **ret_array,
                struct cairn_err *err);
/* One backup by id; -ENOENT when unknown. */
int backup_show(struct cluster *c, const char *id, struct json_object **ret_backup,
                struct cairn_err *err);

/*
 * Delete a backup: its data (snapshot on the backup image, and the image with its last
 * snapshot; or its file and its manifest entry), the source snapshot when nothing needs
 * it any more, and the record. A backup that later incrementals depend on is refused with
 * -ENOTEMPTY naming them (delete them first, newest first). A "failed" backup is always
 * deletable. -ENOENT when unknown; -EBUSY while a backup of the volume is running.
 */
int backup_delete(struct cluster *c, const char *id, struct cairn_err *err);

/*
 * Retention by [backup] keep_last, keep_daily, keep_weekly (all 0: keep all): a good
 * backup stays when it is one of the newest keep_last, or the newest of one of the last
 * keep_daily days (UTC) or keep_weekly ISO weeks that have backups, or when a backup that
 * stays is built on it (an incremental is never left without its base), or while a volume
 * restored instantly from it depends on it. The others go, newest first, and "failed"
 * backups of the volume with them. Returns the number of backups deleted. backup_create()
 * applies it after each good backup.
 */
int backup_prune(struct cluster *c, const char *volume, struct cairn_err *err);

/* ---- restore ----------------------------------------------------------------------------- */

/*
 * How a restore checks what it restored:
 * - BACKUP_RESTORE_CHECK_WRITTEN ("written", the default): the volume digest of the
 *   content as it is written, compared at the end with the recorded one. No second pass
 *   over the volume: a sub-block written only in part (never by cairn's own streams) is
 *   read back alone, and a stream out of order makes the whole volume be read back.
 * - BACKUP_RESTORE_CHECK_READBACK ("readback"): once everything is written and flushed,
 *   the restored volume is read back through librbd and its digest computed from what
 *   the cluster returns: it also catches what went wrong in the cluster on the way. It
 *   reads the volume's allocated extents once more: it takes longer.
 */
enum backup_restore_check {
	BACKUP_RESTORE_CHECK_WRITTEN,
	BACKUP_RESTORE_CHECK_READBACK,
	BACKUP_RESTORE_CHECK_MAX,
};
/* "written", "readback"; NULL / -EINVAL */
const char *backup_restore_check_to_string(enum backup_restore_check c);
int backup_restore_check_from_string(const char *s);

struct backup_restore_params {
	const char *volume; /* a new volume of this name; NULL and !original:
	                     * "<volume>-restore-<first 8 of the backup id>" */
	bool original;      /* over the original volume (by id); -EBUSY while it is in use */
	enum backup_restore_check check; /* 0: written */
	const char *op_id;               /* NULL: a new one */
};

/*
 * Restore a backup: the full backup of its chain, then each incremental up to it, into a
 * new blank volume of the backup's size (vol_create) or over the original volume (resized
 * to the backup's size if it is smaller; refused with -EBUSY while it has watchers: a VM,
 * rbd-nbd...). Then the volume digest (see p->check) is compared with the recorded one: a
 * mismatch is -EILSEQ. A corrupt file is -EILSEQ and a missing link -ENOENT, each naming
 * the backup; nothing is restored silently. A failed restore to a new volume removes the
 * volume. ret_volume: the volume API object.
 */
int backup_restore(struct cluster *c, const char *id, const struct backup_restore_params *p,
                   struct cairn_progress *progress, struct json_object **ret_volume,
                   struct cairn_err *err);

/*
 * Restore a backup in the backups pool instantly: a new volume (p->volume, or the default
 * name) that is a copy-on-write clone of the backup's snapshot there, in O(1) whatever the
 * size ("parent": {"kind": "backup"}); flatten it to make it independent. The backup
 * cannot be deleted while such a volume depends on it (-ENOTEMPTY naming them). -EINVAL
 * for a file backup, over the original, or with the backups pool in another cluster.
 */
int backup_restore_instant(struct cluster *c, const char *id, const struct backup_restore_params *p,
                           struct json_object **ret_volume, struct cairn_err *err);

/* ---- verify ------------------------------------------------------------------------------ */

/*
 * Re-read a backup and its chain: file target, each file's SHA-256 against the manifest
 * and the record, and the stream parsed end to end (tags, lengths, bounds); pool target,
 * the SHA-256 of the backup snapshot against the recorded volume checksum. Failure names
 * the backup and what is wrong: -EILSEQ corrupt, -ENOENT a missing link. ret_report:
 *   {"id", "ok": true, "chain": [{"id", "kind", "target", "file_sha256"?, "volume_sha256",
 *    "bytes"}...]}
 */
int backup_verify(struct cluster *c, const char *id, struct cairn_progress *progress,
                  struct json_object **ret_report, struct cairn_err *err);

/* ---- reconciliation ---------------------------------------------------------------------- */

struct backup_reconcile_opts {
	/* The daemon just started on this host: backups this host was running died with the
	 * previous process, whatever their locks say. */
	bool startup;
	const char *host; /* this host's name; NULL: gethostname() */
};

struct backup_reconcile_stats {
	unsigned failed;  /* interrupted backups marked "failed", partial data removed */
	unsigned deleted; /* interrupted deletes finished */
	unsigned restores_rolled_back;
};

/*
 * Settle interrupted backups: a "creating" record (or a "backup.*" intent) whose volume
 * lock nobody holds — the lease ran out, or its holder on this host is dead, or startup —
 * is marked "failed" and its partial data removed; a "deleting" record is deleted; a
 * restore into a new volume that died is removed. Never touches a running backup. opts
 * and ret_stats may be NULL.
 */
int backup_reconcile(struct cluster *c, const struct backup_reconcile_opts *opts,
                     struct backup_reconcile_stats *ret_stats, struct cairn_err *err);

#endif
