/* SPDX-License-Identifier: MIT */
/*
 * backup: what the files of the folder share. The first half is pure (no cluster) and
 * unit-tested: SHA-256, the block digest, the export-diff stream, extent planning, the
 * manifest. The second half works against the cluster.
 */
#ifndef CAIRN_BACKUP_INTERNAL_H
#define CAIRN_BACKUP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "backup/backup.h"
#include "common/sha256.h"
#include "volumes/volumes.h"

struct json_object;

DEFINE_TRIVIAL_CLEANUP_FUNC(rbd_image_t, rbd_close)

#define BK_MiB (1024ULL * 1024)
#define BK_GiB (1024ULL * BK_MiB)

/* ---- the volume digest: a homomorphic hash of 64 KiB sub-blocks ---------------------------- */
/*
 * The volume's content is cut into sub-blocks of BK_SUB bytes (the last one shorter when
 * the size is not a multiple). A sub-block i of length n that holds any non-zero byte has
 * the value
 *   v_i = SHAKE256(SHA-256(le64(i) || le64(n) || its bytes)), 2048 bytes read as 1024
 *         little-endian 16-bit lanes;
 * an all-zero sub-block has the value 0. The state is the lane-wise sum of all v_i modulo
 * 2^16 (LtHash16, as Facebook's "Securing update propagation with homomorphic hashing"),
 * and the digest is the SHA-256 of the 2048 bytes of the state.
 *
 * A sum can be updated: an incremental backup subtracts the old value and adds the new one
 * of each sub-block it touches, reading those sub-blocks at the base snapshot and at the
 * new one, and never reads the rest of the volume. Zeros cost nothing, so a full backup
 * hashes only the data it copies.
 */
#define BK_SUB       (64 * 1024)
#define LTHASH_LANES 1024
#define LTHASH_BYTES (2 * LTHASH_LANES)
#define BK_BLOCK     (4 * BK_MiB) /* largest read or write request */
#define BK_POOL_RUN  (64 * 1024)  /* zero runs of this size are not written as data */

struct lthash {
	uint16_t lane[LTHASH_LANES];
};

void lthash_add(struct lthash *s, const struct lthash *v);
void lthash_sub(struct lthash *s, const struct lthash *v);
/* v of a sub-block from SHA-256(le64(i) || le64(n) || bytes). */
int lthash_expand(const uint8_t sha[SHA256_LEN], struct lthash *ret);
/* The digest: SHA-256 of the state's bytes (lanes little-endian). */
int lthash_digest(const struct lthash *s, uint8_t out[SHA256_LEN]);
/* Stored form: "cairn-lthash v1\n", le64 size, 2048 bytes of state. */
#define LTHASH_STORED_LEN (16 + 8 + LTHASH_BYTES)
void lthash_serialize(const struct lthash *s, uint64_t size, uint8_t out[LTHASH_STORED_LEN]);
int lthash_parse(const uint8_t *data, size_t len, struct lthash *ret, uint64_t *ret_size);

/*
 * Keeps the state while content is fed in increasing offset order: new content (added)
 * and, separately, old content (subtracted), each a stream of its own. NULL data is zeros.
 * Each sub-block fed must be fed whole, from its start (-EINVAL otherwise: a planning
 * bug); a sub-block of zeros costs nothing.
 */
struct hcursor {
	uint64_t size;  /* of the volume this stream reads */
	uint64_t sub;   /* sub-block being fed, UINT64_MAX when none */
	uint64_t pos;   /* next expected offset */
	uint64_t zeros; /* zeros fed before the first non-zero byte (hashed lazily) */
	struct sha256 sha;
	bool started; /* sha holds the prefix and the bytes so far */
};

struct vhasher {
	struct lthash *state;
	struct hcursor add, sub;
};

/* new_size: the size the added content has; old_size: the subtracted content's. */
int vhasher_init(struct vhasher *h, struct lthash *state, uint64_t new_size, uint64_t old_size);
int vhasher_feed(struct vhasher *h, bool old, uint64_t off, const void *data, uint64_t len);
/* -EINVAL when a sub-block was left half fed. */
int vhasher_finish(struct vhasher *h);
void vhasher_release(struct vhasher *h);

/*
 * The digest of what a restore writes, as it writes it (no read-back pass). The streams of
 * a chain are fed one after the other, each in offset order (one "pass" per stream); data
 * NULL is zeros. A sub-block fed whole and contiguously within a pass gets the value of
 * what was fed; one fed only in part (a record that starts or ends inside it, a gap, a
 * resize) is listed as partial: the caller reads it back from the volume once the pass's
 * writes are done and gives it to wsum_set(). Later passes replace the values of the
 * sub-blocks they touch (the old value out, the new one in); zeros take the value out.
 * A stream out of order sets lost: the caller then reads the whole volume back.
 *
 * Memory: one entry (index and inner SHA-256, 40 bytes) per non-zero sub-block written, in
 * a table at most 3/4 empty: at most 160 bytes per 64 KiB of data written (0.25%; 5 MiB
 * for 2 GiB of data), nothing for zeros or for the size of the volume; plus 8 bytes per
 * partial sub-block (at most WSUM_PARTIAL_MAX, then lost).
 */
#define WSUM_PARTIAL_MAX 65536

struct wsum_entry {
	uint64_t key; /* sub-block index + 1; 0: empty slot */
	uint8_t sha[SHA256_LEN];
};

struct wsum {
	struct lthash state;
	uint64_t size;          /* of the volume restored */
	struct wsum_entry *tab; /* open addressing, linear probing, power-of-two cap */
	size_t n, cap;
	uint64_t sub, pos, zeros; /* the sub-block being fed, as struct hcursor */
	struct sha256 sha;
	bool started;
	uint64_t pass_end; /* end of the last record fed in this pass */
	uint64_t *partial;
	size_t npartial, partial_cap;
	bool lost;
};

int wsum_init(struct wsum *w, uint64_t size);
int wsum_feed(struct wsum *w, uint64_t off, const void *data, uint64_t len);
/* A stream ended: a sub-block left half fed becomes partial. */
int wsum_pass_end(struct wsum *w);
/* The partial sub-blocks so far, sorted, each once (borrowed until the next feed); the
 * list is emptied. */
size_t wsum_partial_take(struct wsum *w, uint64_t **ret);
/* Sub-block i's whole content (its length: 64 KiB, or less at the end of the volume). */
int wsum_set(struct wsum *w, uint64_t i, const void *data);
/* -EDOM when lost, -EINVAL when a sub-block is still partial or half fed. */
int wsum_digest(struct wsum *w, uint8_t out[SHA256_LEN]);
void wsum_release(struct wsum *w);

/* ---- extents and chunks -------------------------------------------------------------------- */

struct extent {
	uint64_t off;
	uint64_t len;
	bool data; /* false: zeroed or discarded since the base (exists == 0) */
};

struct extent_list {
	struct extent *v;
	size_t n, cap;
};

int extent_list_add(struct extent_list *l, uint64_t off, uint64_t len, bool data);
void extent_list_release(struct extent_list *l);
/*
 * Sort by offset, clip to [0, size), and merge: touching extents of the same kind become
 * one; where data and zero extents overlap, data wins (reading the snapshot gives the
 * truth either way).
 */
int extent_list_normalize(struct extent_list *l, uint64_t size);

enum chunk_kind {
	CHUNK_DATA, /* read from the new point, written to the target, hashed in */
	CHUNK_ZERO, /* zeros: a zero record / zeroed in the target; hashed in as zeros */
	CHUNK_OLD,  /* read from the base point, hashed out (incremental only) */
};

struct chunk {
	uint64_t off;
	uint64_t len;
	enum chunk_kind kind;
};

struct chunk_plan {
	struct chunk *v;
	size_t n, cap;
	uint64_t read_bytes; /* DATA + OLD */
	uint64_t data_bytes; /* DATA */
};

#define BK_ZERO_CHUNK_MAX BK_GiB /* one zeroing request at most */

/*
 * Cut normalized extents into chunks in offset order. DATA and OLD chunks never cross a
 * BK_BLOCK boundary and are at most chunk_max bytes; ZERO chunks are at most
 * BK_ZERO_CHUNK_MAX.
 *
 * Full (old_size ignored): data extents grow to whole sub-blocks, everything else is a
 * ZERO chunk: the chunks cover [0, size).
 *
 * Incremental: every sub-block an extent touches is covered whole, by DATA (data extents
 * grow to whole sub-blocks; the partial sub-blocks at the ends of a zero extent are read
 * as data) or by ZERO; when the size changed, so is everything from the sub-block holding
 * the smaller size to the end. Each covered sub-block that existed at the base (below
 * old_size) is also read there, as OLD chunks, to take its old value out of the sum —
 * only where old_alloc (the base's allocated extents; NULL: all of it) says there was
 * anything: what was not allocated was zero, and zero sub-blocks count nothing.
 */
int chunk_plan_build(const struct extent_list *l, uint64_t size, uint64_t chunk_max, bool full,
                     uint64_t old_size, const struct extent_list *old_alloc,
                     struct chunk_plan *ret);
void chunk_plan_release(struct chunk_plan *p);

bool buf_is_zero(const void *buf, size_t len);

/* ---- the rbd export-diff stream ------------------------------------------------------------ */
/*
 * doc/dev/rbd-diff.rst in Ceph. v1 ("rbd diff v1\n"): 'f' le32 len + from-snap, 't' le32
 * len + to-snap, 's' le64 size, then 'w' le64 off, le64 len, data and 'z' le64 off, le64
 * len, then 'e'. v2 ("rbd diff v2\n") puts a le64 payload length after every tag but 'e'.
 * `rbd import-diff` (pacific) accepts v1 only, so cairn writes v1 and reads both.
 */
#define DSTREAM_V1_BANNER  "rbd diff v1\n"
#define DSTREAM_V2_BANNER  "rbd diff v2\n"
#define DSTREAM_BANNER_LEN 12
#define DSTREAM_SNAP_MAX   4096          /* bytes of a snapshot name we accept */
#define DSTREAM_DATA_MAX   (64 * BK_MiB) /* bytes of one 'w' record we accept */

#define DSTREAM_SYNC_EVERY (16 * BK_MiB) /* writeback started every so many bytes */

struct dstream_writer {
	int fd;
	int version;
	struct sha256 sha;
	uint64_t bytes;        /* written so far */
	uint64_t synced, prev; /* writeback started up to synced; done up to prev */
	uint8_t hdr[4096];
	size_t used;
	bool zero_pending;
	uint64_t zoff, zlen;
};

int dstream_writer_init(struct dstream_writer *w, int fd, int version);
/* from_snap NULL for a full stream. */
int dstream_write_header(struct dstream_writer *w, const char *from_snap, const char *to_snap,
                         uint64_t size);
int dstream_write_data(struct dstream_writer *w, uint64_t off, uint64_t len, const void *data);
/* Touching zero runs are merged into one record. */
int dstream_write_zero(struct dstream_writer *w, uint64_t off, uint64_t len);
/* Data cut in DSTREAM_RUN pieces: the non-zero ones as 'w' records (counted in
 * *data_bytes), the zero ones as 'z'; touching pieces of a kind make one record. */
#define DSTREAM_RUN 4096
int dstream_write_runs(struct dstream_writer *w, uint64_t off, const void *data, uint64_t len,
                       uint64_t *data_bytes);
/* 'e', and everything flushed; the SHA-256 of all bytes written into ret_sha. */
int dstream_write_end(struct dstream_writer *w, uint8_t ret_sha[SHA256_LEN]);
void dstream_writer_release(struct dstream_writer *w);

struct dstream_reader {
	int fd;
	int version;
	uint8_t *buf;
	size_t cap, pos, len;
	uint64_t consumed;  /* stream offset of buf[pos] */
	uint64_t rec_start; /* stream offset of the record being read (for messages) */
	uint64_t size;      /* from 's', 0 before */
	bool have_size;
	bool ended;
	uint64_t pending;  /* data bytes of the last 'w' not read yet */
	uint64_t last_end; /* end of the last data/zero record (order check) */
	bool ordered;      /* every data/zero record started at or after the previous end */
};

struct dstream_rec {
	char tag; /* 'f', 't', 's', 'w', 'z', 'e' */
	char snap[DSTREAM_SNAP_MAX + 1];
	uint64_t size;
	uint64_t off, len;
};

/* Reads and checks the banner: -EILSEQ when it is neither v1 nor v2. */
int dstream_reader_init(struct dstream_reader *r, int fd, struct cairn_err *err);
/*
 * The next record: 1 with rec filled, 0 after 'e' (and nothing may follow it). After a 'w'
 * the caller reads its len bytes with dstream_read_data() (or they are skipped by the
 * next call). -EILSEQ, with the stream offset in the message, for anything malformed:
 * an unknown tag (v1), a length that does not match, data before 's' or past the size,
 * a truncated stream.
 */
int dstream_next(struct dstream_reader *r, struct dstream_rec *rec, struct cairn_err *err);
int dstream_read_data(struct dstream_reader *r, void *buf, uint64_t len, struct cairn_err *err);
void dstream_reader_release(struct dstream_reader *r);

/* ---- the manifest of a volume's file backups ---------------------------------------------- */
/*
 * <directory>/<volume id>.manifest.json:
 *   {"volume_id", "volume", "backups": [{"id", "parent", "kind", "file", "size", "bytes",
 *    "file_sha256", "volume_sha256", "created"}...]} in the order they were made.
 */
char *bk_file_name(const char *volume_id, const char *backup_id);     /* "<vid>.<bid>.diff" */
char *bk_manifest_path(const char *directory, const char *volume_id); /* malloc'd */
/* The manifest, or a new empty one when there is no file (-errno / -EILSEQ otherwise). */
int manifest_load(const char *directory, const char *volume_id, const char *volume,
                  struct json_object **ret, struct cairn_err *err);
/* Temporary file, fsync, rename, fsync of the directory. An empty chain removes the file. */
int manifest_store(const char *directory, const char *volume_id, struct json_object *m,
                   struct cairn_err *err);
/* Borrowed entry of id, or NULL. */
struct json_object *manifest_find(struct json_object *m, const char *id);
int manifest_add(struct json_object *m, const struct backup_record *r, const char *file);
/* 1 when removed, 0 when it was not there. */
int manifest_remove(struct json_object *m, const char *id);

/* Write a whole file durably: temporary name, fsync, rename, fsync of the directory. */
int bk_write_file_atomic(const char *path, const void *data, size_t len, struct cairn_err *err);
int bk_fsync_dir_of(const char *path);
int bk_mkdir_p(const char *path, mode_t mode);

/* ---- time ---------------------------------------------------------------------------------- */

/* "2026-11-26T12:00:00.123Z" (milliseconds, so records of one second still sort). */
void bk_time_now(char buf[BACKUP_TIME_MAX]);

/* ---- against the cluster ------------------------------------------------------------------ */

/* The RADOS lock that serialises backups (and restores over the original) of a volume. */
struct bk_lock {
	struct lease lease;
};

/* what: "backup", "restore", "delete" for messages. -EBUSY naming the host that holds it. */
int bk_lock_acquire(struct cluster *c, const char *volume_id, const char *volume, const char *op_id,
                    struct bk_lock *ret, struct cairn_err *err);
/* The same, trying again for up to wait_ms while the lock is busy: the backups pass holds
 * it for a moment after each backup (to remove the older base snapshot). */
int bk_lock_acquire_wait(struct cluster *c, const char *volume_id, const char *volume,
                         const char *op_id, int wait_ms, struct bk_lock *ret,
                         struct cairn_err *err);
/* Renew when a third of the lease went by; -EBUSY when the lock was lost. */
int bk_lock_renew(struct bk_lock *l, struct cairn_err *err);
void bk_lock_release(struct bk_lock *l);
/* Release and remove the lock object (locks keyed by an operation id, used once). */
void bk_lock_release_remove(struct bk_lock *l);
/* Blocklist a client address ("127.0.0.1:0/123"): its watches go at once. */
int bk_blocklist(struct cluster *c, const char *addr);
/*
 * Reconcile: take the lock if nobody holds it, breaking it first when its holder is a dead
 * process of this host (or, startup, any other process of this host). 0 when taken, -EBUSY
 * when a live holder has it.
 */
int bk_lock_take_abandoned(struct cluster *c, const char *volume_id, const char *host, bool startup,
                           struct bk_lock *ret, struct cairn_err *err);

/* Records in DIR_BACKUPS. */
int bk_record_load(struct cluster *c, const char *id, struct backup_record *ret, char **ret_text,
                   struct cairn_err *err);
int bk_record_insert(struct cluster *c, const struct backup_record *r, struct cairn_err *err);
/* Read, change with fn, write back guarded by the text read (again on a race). */
typedef int (*bk_record_change_fn)(struct backup_record *r, const void *arg);
int bk_record_modify(struct cluster *c, const char *id, bk_record_change_fn fn, const void *arg,
                     struct backup_record *ret, struct cairn_err *err);

struct bk_record_set {
	struct backup_record *v;
	size_t n, cap;
};
/* Every record whose volume_id matches (NULL: all), oldest first. Unparsable ones skipped. */
int bk_record_list(struct cluster *c, const char *volume_id, struct bk_record_set *ret,
                   struct cairn_err *err);
void bk_record_set_release(struct bk_record_set *s);

/*
 * Open an image read-only (closed late: see pools.h) at a user snapshot (NULL: its head).
 * librbd's error, negative; ret is closed first on success.
 */
int bk_open_snap(struct cluster *c, rados_ioctx_t io, const char *image, const char *snap,
                 struct ro_image *ret);

/* Remove the backup group snapshots of group that nothing needs any more (see "Sets" in
 * backup.h), counting a backup "except" (NULL: none) as gone: the number removed. */
int bk_group_sweep(struct cluster *c, const char *group, const char *except, struct cairn_err *err);

/* Names. */
void bk_snap_name(char buf[128], const char *backup_id);       /* cairn-backup-<id> */
void bk_image_name(char buf[128], const char *volume_id);      /* backup-<vid> */
void bk_image_snap_name(char buf[128], const char *backup_id); /* backup-<id> */
/* A restore's default volume name: "<volume>-restore-<first 8 of the backup id>". */
void bk_restore_name(char buf[NAME_MAX_LEN + 1], const struct backup_record *b);
void bk_blocks_oid(char buf[128], const char *backup_id); /* backup.digest.<id> */

/* The digest state of a backup (state namespace); -ENOENT when there is none. */
int bk_blocks_store(struct cluster *c, const char *backup_id, const struct lthash *s, uint64_t size,
                    struct cairn_err *err);
int bk_blocks_load(struct cluster *c, const char *backup_id, struct lthash *ret, uint64_t *ret_size,
                   struct cairn_err *err);
int bk_blocks_remove(struct cluster *c, const char *backup_id);

/* The volume's record by name (available or not). */
int bk_volume_load(struct cluster *c, const char *name, struct vol_record *ret,
                   struct cairn_err *err);
int bk_volume_load_id(struct cluster *c, const char *id, struct vol_record *ret,
                      struct cairn_err *err);

/*
 * The data mover: chunks in offset order through a window of in_flight rbd_aio requests
 * of at most chunk bytes. DATA chunks are read from src and OLD ones from src_old
 * (rbd_aio_read2); each chunk is then handled in order: hashed, written to the stream
 * (ordered writes), and/or written to dst with rbd_aio_write2 / rbd_aio_write_zeroes (out
 * of order, bounded by the same window). Zeros are written as zeros, never as data.
 */
struct copier {
	rbd_image_t src;             /* the new point: DATA chunks */
	rbd_image_t src_old;         /* the base point: OLD chunks; NULL: none */
	rbd_image_t dst;             /* NULL: none */
	bool dst_zero;               /* zero ZERO chunks in dst (false: dst is zero there) */
	struct dstream_writer *file; /* NULL: none; data is written in runs of non-zero 4 KiB */
	struct vhasher *hasher;      /* NULL: none */
	uint32_t window;
	uint64_t chunk_max;
	struct cairn_progress *progress;
	uint64_t progress_base, progress_total;
	struct bk_lock *lease; /* renewed as data moves; NULL: none */
	const char *failpoint; /* called after each chunk; NULL: none */
	const char *what;      /* for messages: "backup 'x'" */
	/* out */
	uint64_t bytes_data; /* written as data */
	uint64_t bytes_read;
};

int copier_run(struct copier *cp, const struct chunk_plan *plan, struct cairn_err *err);

/*
 * The digest of an image (at its snapshot when it was opened there) over [0, size):
 * reads only the allocated extents (rbd_diff_iterate2), zeros cost nothing.
 */
int bk_image_digest(rbd_image_t img, uint64_t size, const struct cairn_config *conf,
                    struct cairn_progress *progress, uint64_t progress_base,
                    uint64_t progress_total, struct bk_lock *lease, uint8_t out[SHA256_LEN],
                    struct cairn_err *err);

/* Changed extents of img (opened at the new snapshot) since from_snap (NULL: all). */
int bk_diff_extents(rbd_image_t img, const char *from_snap, uint64_t size, struct extent_list *ret,
                    struct cairn_err *err);
/* The allocated extents of img, in whole objects, when its object map can say cheaply
 * (fast-diff): 1 with ret filled; 0 when it cannot (ret empty). */
int bk_alloc_extents(rbd_image_t img, uint64_t size, struct extent_list *ret,
                     struct cairn_err *err);

/* Remove what an unfinished backup left (idempotent). created_image: the intent says the
 * backup image was made by this backup. */
int bk_cleanup_partial(struct cluster *c, const struct backup_record *r, bool created_image,
                       struct cairn_err *err);
/* Settle the abandoned backups of one volume while holding its lock; trim: also remove the
 * older bases that finished backups left ("backup.trim" intents). */
int bk_settle_volume(struct cluster *c, const char *volume_id, bool trim,
                     struct backup_reconcile_stats *st, struct cairn_err *err);
/* With the volume's lock held: remove the backup snapshots and digest states of all but the
 * latest good backup. Returns how many snapshots went. */
int bk_trim_locked(struct cluster *c, const char *volume_id, struct cairn_err *err);
/* Delete with the volume's lock held by the caller. */
int bk_delete_locked(struct cluster *c, const char *id, struct cairn_err *err);
int bk_prune_locked(struct cluster *c, const char *volume_id, struct cairn_err *err);

struct bk_retention {
	uint32_t last, daily, weekly; /* see [backup] keep_*; all 0: keep all */
};
/*
 * Which of one volume's records (oldest first, as bk_record_list gives them) retention
 * keeps: keep[i] for each. Only "available" ones are ever kept; a kept one keeps its
 * parent chain. Pure: no cluster. -EINVAL when a created time cannot be read.
 */
int bk_retention_select(const struct backup_record *v, size_t n, const struct bk_retention *rules,
                        bool *keep);

/*
 * A window of rbd_aio writes from buffers the caller fills (restore from a stream):
 * aiow_buffer hands out a free buffer of buf_size bytes (waiting for a write to finish
 * when all are busy), aiow_write / aiow_zero send it out.
 */
struct aio_writer;
int aiow_new(rbd_image_t dst, uint32_t window, uint64_t buf_size, struct aio_writer **ret);
int aiow_buffer(struct aio_writer *a, uint8_t **ret_buf, struct cairn_err *err);
int aiow_write(struct aio_writer *a, uint8_t *buf, uint64_t off, uint64_t len,
               struct cairn_err *err);
int aiow_zero(struct aio_writer *a, uint64_t off, uint64_t len, struct cairn_err *err);
/* Wait for every write; the first failure. Always call before aiow_free. */
int aiow_drain(struct aio_writer *a, struct cairn_err *err);
void aiow_free(struct aio_writer *a);

/* -EBUSY when anybody but this handle watches the image (a VM, rbd-nbd...). */
int bk_check_unused(rados_ioctx_t io, rbd_image_t img, const char *what, struct cairn_err *err);

/* The chain that ends at a backup, the full backup first: -ENOENT naming a missing link. */
struct chain {
	struct backup_record *v;
	size_t n;
};
int chain_load(struct cluster *c, const char *id, struct chain *ret, struct cairn_err *err);
void chain_release(struct chain *ch);
/* Each file of a file chain is there and has its recorded SHA-256: -ENOENT / -EILSEQ. */
int bk_chain_files_check(const struct backup_record *v, size_t n, struct cairn_err *err);

/* The ioctx and name of the volume image of a record. */
int bk_volume_io(struct cluster *c, const struct vol_record *v, rados_ioctx_t *ret,
                 struct cairn_err *err);

#endif
