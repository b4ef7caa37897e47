/* SPDX-License-Identifier: MIT */
/*
 * pools: the connection to the Ceph cluster, the RBD pools cairn works in, and cairn's
 * own state in RADOS (directory objects in the "cairn" namespace).
 *
 * Plain blocking C over librados: callers run these on worker threads. Every call that
 * reaches Ceph is bounded by the timeouts set at connect time, so a dead cluster gives
 * -ETIMEDOUT (or -ENOTCONN), never a hung thread.
 */
#ifndef CAIRN_POOLS_H
#define CAIRN_POOLS_H

#include <stdbool.h>
#include <stdint.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "common/common.h"
#include "conf/conf.h"

struct json_object;

/* ---- the cluster ------------------------------------------------------------------------ */

struct cluster;

/*
 * Connect as the configured cephx user with the configured timeouts. The config must
 * outlive the cluster. The key is read by librados from the keyring file; cairn never
 * holds it except to hand it to libvirt (cluster_secret_key).
 */
int cluster_connect(const struct cairn_config *conf, struct cluster **ret, struct cairn_err *err);
struct cluster *cluster_free(struct cluster *c);

rados_t cluster_rados(struct cluster *c);
const struct cairn_config *cluster_config(struct cluster *c);

/*
 * The io context of the pool with this role (cached; safe from any thread; not to be
 * destroyed by the caller). Default namespace. The backups role is in the backup cluster
 * when one is configured (see below).
 */
int cluster_ioctx(struct cluster *c, enum pool_role role, rados_ioctx_t *ret,
                  struct cairn_err *err);
/* Same, for any pool by name (cached too). */
int cluster_ioctx_by_name(struct cluster *c, const char *pool, rados_ioctx_t *ret,
                          struct cairn_err *err);
/* The io context of the "cairn" namespace in the volumes pool, for state objects (cached). */
int cluster_state_ioctx(struct cluster *c, rados_ioctx_t *ret, struct cairn_err *err);

/* ---- the backup cluster ------------------------------------------------------------------ */
/*
 * With [backup] cluster_conf set, the backups pool lives in another Ceph cluster: a second
 * rados_t, connected as the same cephx user ([ceph] user) with the same timeouts, its key
 * found through that cluster's ceph.conf ("keyring = ..."; librados' defaults use the cluster
 * name, taken from the file name as ceph does: /etc/ceph/backup.conf is cluster "backup").
 * cluster_ioctx(c, POOL_ROLE_BACKUPS, ...) answers with that cluster's pool; everything else
 * (records, intents, locks) stays in the main cluster. A backup cluster that does not answer
 * is not fatal: calls that need it fail with -ETIMEDOUT (503) and a message naming it, the
 * rest of cairn works, and the next call after it answers again connects (or reconnects).
 */

/* A failed check is answered from memory for this long, so a burst fails at once. */
#define CLUSTER_BACKUP_RETRY_MS 2000

/* Whether [backup] cluster_conf names a second cluster (false for NULL). */
bool cluster_has_backup(struct cluster *c);

/*
 * Connect to the backup cluster if not yet, ping it (a mon round trip, every time: librbd
 * calls that need a monitor, such as snapshot creation, may wait for one far beyond the
 * timeouts, so work is not started on a cluster whose monitors do not answer), make the
 * backups pool there if missing; all bounded by the timeouts. 0 at once without a backup
 * cluster.
 */
int cluster_backup_check(struct cluster *c, struct cairn_err *err);

/* The backups pool's io context after a check (cluster_ioctx(c, POOL_ROLE_BACKUPS) is this). */
int cluster_backup_ioctx(struct cluster *c, rados_ioctx_t *ret, struct cairn_err *err);

/* The rados_t the backups pool lives in (the main one without a backup cluster). */
int cluster_backup_rados(struct cluster *c, rados_t *ret, struct cairn_err *err);

/*
 * What the last check found, without any I/O (for health and metrics on the loop thread);
 * c may be NULL (nothing configured).
 */
struct cluster_backup_status {
	bool configured;      /* false: no backup cluster; nothing else is set */
	bool checked;         /* a check has run */
	uint64_t checked_ago; /* milliseconds since it ran */
	bool reachable;       /* the last check succeeded */
	bool pool_ready;      /* the backups pool is known to exist there */
	char conf[256];       /* its ceph.conf */
	char pool[NAME_MAX_LEN + 1];
	char fsid[37];   /* "" until connected once */
	char error[256]; /* why the last check failed */
};
void cluster_backup_status(struct cluster *c, struct cluster_backup_status *ret);

/*
 * An operation of this process gave up with its intent left for the reconciler (its undo
 * failed, e.g. while the cluster was down): the next reconcile pass of this process takes
 * the intent as abandoned at once, not only after the intent timeout or a restart. The last
 * CLUSTER_ORPHANS_MAX are remembered.
 */
#define CLUSTER_ORPHANS_MAX 64
#define CLUSTER_OP_ID_MAX   64
void cluster_intent_orphan(struct cluster *c, const char *op_id);
bool cluster_intent_orphaned(struct cluster *c, const char *op_id);

/*
 * The base64 cephx key of the configured user, read from its keyring file (for libvirt's
 * secret, the only place it goes). ret_key must hold 128 bytes; the caller erases it with
 * secure_erase() after use. -ENOENT when no keyring names the user.
 */
#define CEPHX_KEY_B64_MAX 128
int cluster_secret_key(struct cluster *c, char ret_key[CEPHX_KEY_B64_MAX], struct cairn_err *err);

/* Quick reachability probe (a mon round trip bounded by the timeouts). */
int cluster_ping(struct cluster *c, struct cairn_err *err);

/* fsid and the monitors' v2 addresses ("mon dump" JSON), for XML and health. */
int cluster_fsid(struct cluster *c, char ret[37]);
int cluster_mon_dump(struct cluster *c, char **ret_json, struct cairn_err *err);

/* A mon command with JSON output; *ret_out owned by the caller. */
int cluster_mon_command(struct cluster *c, const char *cmd_json, char **ret_out,
                        struct cairn_err *err);

/* ---- images opened read-only ------------------------------------------------------------ */

/*
 * Every read-only open of an RBD image goes through these: a read-only image is closed a
 * second after its user is done with it, on a thread of the cluster's, because librbd 16.2
 * still touches an image for a moment after rbd_open has returned and a read-only close is
 * quick enough to free it first (ro-image.c says more). An image of any rados_t (the backup
 * cluster's too) may go through them.
 */
struct ro_image {
	struct cluster *c;
	rbd_image_t img; /* NULL when closed */
};

/*
 * Open io's image by name, or by id when name is NULL, read-only at snap (NULL: the head).
 * A negative librbd errno, and ret untouched, on failure; ret is closed first on success.
 */
int cluster_ro_open(struct cluster *c, rados_ioctx_t io, const char *name, const char *id,
                    const char *snap, struct ro_image *ret);
/* Close it (late); does nothing when it is closed already. Fit for _cleanup_. */
void ro_image_close(struct ro_image *ri);

/*
 * The clones of an open image: of the snapshot it is set to (rbd_snap_set), or on its head
 * of all its snapshots, clones in the trash included. *ret goes to image_clones_free.
 */
int image_clones(rbd_image_t img, rbd_linked_image_spec_t **ret, size_t *ret_n,
                 struct cairn_err *err);
void image_clones_free(rbd_linked_image_spec_t *specs, size_t n);

/* ---- leases: exclusive locks that a dead holder cannot keep ------------------------------ */

/*
 * An exclusive RADOS lock on an object in cairn's state namespace that lasts `seconds`
 * unless renewed: a holder that dies stops the others that long at most, and a process
 * of the same host breaks it at once when it sees the holder's process gone (the cookie
 * says "<host>:<pid>:<tag>"). lease.c says more.
 */
struct lease {
	rados_ioctx_t io;
	char oid[128];
	const char *name; /* the lock's name, and what it is for: string constants */
	const char *desc;
	char cookie[192];
	int seconds;
	int64_t renewed; /* CLOCK_MONOTONIC ms */
	bool held;
};

struct lease_holder {
	char host[128]; /* the client's name when the cookie is not cairn's */
	long pid;       /* 0 when the cookie is not cairn's */
	char client[128];
	char cookie[192];
	char addr[128];
};

/* tag: the cookie's last part (an operation id); NULL: a new uuid, a holder of its own. */
int lease_init(struct cluster *c, struct lease *l, const char *oid, const char *name,
               const char *desc, int seconds, const char *tag, struct cairn_err *err);
/* 0 taken; -EBUSY held by somebody else (or by this lease: take it once); else an errno. */
int lease_take(struct lease *l);
/* lease_take, trying again for up to wait_ms; break_gone: breaking the lock of a holder
 * that is gone first (when nothing it left half done needs a cleanup of its own). */
int lease_take_wait(struct lease *l, int wait_ms, bool break_gone);
/* 1 and the holder, 0 when nobody holds it, or a negative errno. */
int lease_holder(struct lease *l, struct lease_holder *ret);
/* The holder is a process of this host that is no more (any_other: any but this one). */
bool lease_holder_gone(const struct lease_holder *h, bool any_other);
int lease_break(struct lease *l, const struct lease_holder *h);
/* Renew once a third of the lease went by (cheap to call often); an error when it was lost. */
int lease_renew(struct lease *l, struct cairn_err *err);
/* Nothing when not held. remove: the lock object goes too (locks used once, or per name). */
void lease_release(struct lease *l, bool remove);
/* lease_release(l, true), for _cleanup_. */
void lease_releasep(struct lease *l);

/* ---- pools ------------------------------------------------------------------------------ */

/*
 * Make sure every configured pool exists, has the rbd application enabled and is
 * initialised for RBD. Idempotent; safe from several hosts at once. The backups pool is
 * made in the backup cluster when one is configured; if that cluster does not answer, this
 * does not fail: the pool is made when it first does.
 */
int pools_ensure(struct cluster *c, struct cairn_err *err);

/* Check only (for health): each pool exists (the backups pool in the backup cluster). */
int pools_check(struct cluster *c, struct cairn_err *err);

struct pool_info {
	enum pool_role role;
	char name[NAME_MAX_LEN + 1];
	bool exists;
	uint64_t stored_bytes;    /* data stored (logical) */
	uint64_t used_bytes;      /* raw used */
	uint64_t available_bytes; /* max_avail */
	uint64_t quota_bytes;     /* 0: none */
	uint64_t objects;
	uint64_t images; /* RBD images in the pool */
	bool remote;     /* in the backup cluster ("cluster": "backup" in JSON) */
	bool reachable;  /* false: its cluster did not answer; the numbers are 0 */
	char error[256]; /* why, when not reachable */
};

/*
 * One entry per role, in role order. A backup cluster that does not answer is not an error:
 * its entry says so (reachable false, error).
 */
int pools_list(struct cluster *c, struct pool_info ret[POOL_ROLE_MAX], struct cairn_err *err);
/* What more the pool of role (in the main cluster) can take: "ceph df"'s max_avail, or less
 * when the pool's byte quota leaves less. */
int pool_free_bytes(struct cluster *c, enum pool_role role, uint64_t *ret, struct cairn_err *err);
struct json_object *pool_info_to_json(const struct pool_info *p);

/* ---- state: cairn's own records in RADOS ------------------------------------------------ */
/*
 * A directory is one RADOS object per kind in the "cairn" namespace of the volumes pool
 * ("directory.volumes", ...). Its omap maps "name.<name>" -> id and "id.<id>" -> the JSON
 * record. Every change is one atomic rados_write_op with guards, so two daemons on two
 * hosts can never both create the same name, and a record is never half written.
 */
enum dir_kind {
	DIR_IMAGES,
	DIR_VOLUMES,
	DIR_SNAPSHOTS,
	DIR_BACKUPS,
	DIR_OPERATIONS,
	DIR_INTENTS,     /* op id -> intent of a multi-step operation (no names) */
	DIR_IDEMPOTENCY, /* idempotency key -> result (no names) */
	DIR_KIND_MAX,
};
const char *dir_kind_to_string(enum dir_kind k);

/* Insert name -> id and id -> record; -EEXIST when the name (or id) is taken. */
int dir_insert(struct cluster *c, enum dir_kind k, const char *name, const char *id,
               const char *record, struct cairn_err *err);
/* Replace the record of id; when expect is not NULL only if the stored record equals it
 * (-ECANCELED otherwise: somebody else changed it). -ENOENT when id is unknown. */
int dir_update(struct cluster *c, enum dir_kind k, const char *id, const char *expect,
               const char *record, struct cairn_err *err);
/* Rename: new name must be free, old name must still map to id; one atomic step. */
int dir_rename(struct cluster *c, enum dir_kind k, const char *id, const char *old_name,
               const char *new_name, const char *record, struct cairn_err *err);
/* The record of another id that changes in the same step, if it is still expect. */
struct dir_change {
	const char *id, *expect, *record;
};
/* dir_rename that also applies n changes, all or nothing (-ECANCELED when one of them was
 * changed by somebody else meanwhile). */
int dir_rename_with(struct cluster *c, enum dir_kind k, const char *id, const char *old_name,
                    const char *new_name, const char *record, const struct dir_change *also,
                    size_t n, struct cairn_err *err);
/* Remove name and id (name may be NULL for kinds without names). Missing is not an error. */
int dir_remove(struct cluster *c, enum dir_kind k, const char *name, const char *id,
               struct cairn_err *err);
/* id of a name: -ENOENT when unknown. ret_id of UUID_STR_LEN-ish size (<= 128). */
int dir_lookup(struct cluster *c, enum dir_kind k, const char *name, char *ret_id, size_t len,
               struct cairn_err *err);
/* The record of id (malloc'd string): -ENOENT when unknown. */
int dir_get(struct cluster *c, enum dir_kind k, const char *id, char **ret_record,
            struct cairn_err *err);
/* Every record of the kind, in id order, paged internally (10,000 entries stay fast). */
typedef int (*dir_each_cb)(const char *id, const char *record, void *userdata);
int dir_list(struct cluster *c, enum dir_kind k, dir_each_cb cb, void *userdata,
             struct cairn_err *err);

/* ---- intents of multi-step operations -------------------------------------------------- */
/*
 * An operation that takes several steps (reserve a name, create an image, snapshot, clone,
 * write the record...) writes an intent before its first step, advances it before each
 * step, and removes it after the last. The intent is a DIR_INTENTS record keyed by the
 * operation id: {"kind": "volume.create", "step": "cloned", "host": ..., "created": ...,
 * "targets": {...whatever names the undo needs...}}. After a crash, the reconciler of
 * that kind reads the intent and rolls the operation forward or back.
 */
int intent_begin(struct cluster *c, const char *op_id, const char *kind,
                 struct json_object *targets, struct cairn_err *err);
int intent_step(struct cluster *c, const char *op_id, const char *step, struct cairn_err *err);
/* Add or replace one target (e.g. an image name known only after a step). */
int intent_set_target(struct cluster *c, const char *op_id, const char *key, const char *value,
                      struct cairn_err *err);
int intent_end(struct cluster *c, const char *op_id, struct cairn_err *err);
/* Every intent whose kind starts with kind_prefix ("volume.") : cb gets the parsed record. */
typedef int (*intent_each_cb)(const char *op_id, struct json_object *intent, void *userdata);
int intent_list(struct cluster *c, const char *kind_prefix, intent_each_cb cb, void *userdata,
                struct cairn_err *err);

#endif
