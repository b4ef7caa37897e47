/* SPDX-License-Identifier: MIT */
/*
 * conf: /etc/cairn/cairn.conf (INI) -> struct cairn_config.
 *
 * The file is parsed by inih; what each key means, its type, limits and default live in one
 * static table in conf.c (one line per key), which drives loading, defaults, validation and
 * conf_dump() alike. docs/cairn.conf.5 documents every key; conf/cairn.conf.example lists
 * them all with their defaults.
 *
 * Syntax (inih, as Debian builds it):
 * - "[section]" lines and "key = value" lines ("key: value" also works); sections and keys
 *   are case-sensitive. Surrounding whitespace of keys and values is dropped (a path that
 *   ends in a space is given with a slash after it, "/srv/x /", and dumped the same way).
 * - Lines starting with '#' or ';' are comments, and so is the rest of a line from a ';'
 *   that follows whitespace ("workers = 8 ; more"). A '#' inside a value is kept.
 * - Leading whitespace is ignored, so keys may be indented: there are no multi-line values
 *   (cairn strips the indentation inih would otherwise take for a continuation line).
 * - A line may have at most 199 characters (inih's fixed line buffer); a longer line is an
 *   error rather than being cut.
 * - A key given twice: the last one wins, as does a later file over an earlier one.
 * - An unknown section or key, a key outside any section, a syntax error and a bad value
 *   are all errors, and the message names the file, the line and the key, e.g.
 *   "/etc/cairn/cairn.conf:12: unknown key 'wokers' in section [service]". Only the first
 *   error is reported.
 *
 * Lifecycle: conf_init_defaults(), any number of conf_load_*() (each one applies on top of
 * what is there: keys a file does not give keep their value), conf_validate() once after
 * the last load for the rules that span keys, conf_release() at the end. A failed load
 * leaves the configuration exactly as it was. No global state: configurations are plain
 * values, any number may exist.
 */
#ifndef CAIRN_CONF_H
#define CAIRN_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"

#define CONF_DEFAULT_PATH "/etc/cairn/cairn.conf"

/* The four pools cairn works in; their names come from [pools]. */
enum pool_role {
	POOL_ROLE_IMAGES,
	POOL_ROLE_VOLUMES,
	POOL_ROLE_VMS,
	POOL_ROLE_BACKUPS,
	POOL_ROLE_MAX,
};

/* "images", "volumes", "vms", "backups"; NULL / -EINVAL for anything else. */
const char *pool_role_to_string(enum pool_role role);
int pool_role_from_string(const char *s);

/* Where backups go: RBD images in the backups pool, or export-diff files in a directory. */
enum backup_target {
	BACKUP_TARGET_POOL,
	BACKUP_TARGET_FILE,
	BACKUP_TARGET_MAX,
};

/* "pool", "file"; NULL / -EINVAL for anything else. */
const char *backup_target_to_string(enum backup_target target);
int backup_target_from_string(const char *s);

/*
 * The effective configuration. Strings are owned (freed by conf_release) and never NULL
 * once conf_init_defaults() succeeded; "" means "not set" where the key allows it.
 * Durations are whole seconds, sizes bytes.
 */
struct cairn_config {
	struct {
		char *conf;                    /* ceph.conf path */
		char *user;                    /* cephx client id, without "client." */
		char *keyring;                 /* "": librados finds it from ceph.conf */
		char *cluster_name;            /* "ceph" */
		uint32_t mon_op_timeout;       /* seconds: rados_mon_op_timeout */
		uint32_t osd_op_timeout;       /* seconds: rados_osd_op_timeout */
		uint32_t client_mount_timeout; /* seconds: client_mount_timeout */
		char *secret_uuid;             /* libvirt secret for disk XML, lowercase; "" none */
	} ceph;
	struct {
		char *socket;                 /* the API socket */
		char *readonly_socket;        /* "": none; serves GETs only */
		char *socket_group;           /* "": the daemon's group; a name or a numeric gid */
		uint32_t socket_mode;         /* permission bits; never writable by others */
		uint32_t workers;             /* worker threads */
		uint32_t slow_workers_max;    /* 0: half the workers, see conf_slow_workers() */
		uint32_t queue_max;           /* queued jobs before 503 */
		uint32_t max_connections;     /* open client connections */
		uint64_t max_body;            /* bytes of request body */
		uint64_t max_header;          /* bytes of request line and headers */
		enum log_level log_level;     /* most verbose level logged */
		uint32_t reconcile_interval;  /* seconds between reconcile passes */
		uint32_t operation_retention; /* seconds a finished operation stays visible */
		uint32_t shutdown_timeout;    /* seconds to let running jobs finish on stop */
	} service;
	struct {
		char *images;    /* POOL_ROLE_IMAGES */
		char *volumes;   /* POOL_ROLE_VOLUMES */
		char *vms;       /* POOL_ROLE_VMS */
		char *backups;   /* POOL_ROLE_BACKUPS */
		uint32_t pg_num; /* placement groups of a pool cairn creates (a power of two) */
	} pools;
	struct {
		uint32_t max_clone_depth; /* flatten when a clone would be deeper */
		bool deferred_delete;     /* delete through the RBD trash */
		uint32_t trash_delay;     /* seconds an image stays in the trash */
		uint32_t purge_interval;  /* seconds between trash purges */
		char *default_features;   /* "layering,exclusive-lock,..." normalised, no spaces */
	} volumes;
	struct {
		enum backup_target target;
		char *directory;    /* files, when target is file */
		char *cluster_conf; /* "": same cluster; else the ceph.conf of the backup cluster */
		uint64_t chunk;     /* bytes per read/write request */
		uint32_t in_flight; /* requests in flight per backup */
		uint32_t keep_last; /* the newest backups kept per volume; 0: no such rule */
		uint32_t keep_daily;  /* the newest of each of the last N days with backups */
		uint32_t keep_weekly; /* the newest of each of the last N ISO weeks with backups */
	} backup;
	struct {
		char *directory; /* image import sources must be under it */
		char *qemu_img;  /* the qemu-img binary */
	} import;
};

/*
 * Fill c with the defaults (every default goes through the same parser and checks as a
 * value read from a file). Returns 0 or -ENOMEM; on failure c holds nothing to release.
 */
int conf_init_defaults(struct cairn_config *c);

/*
 * Read an INI file on top of c. path NULL means CONF_DEFAULT_PATH, which may be missing
 * (then c keeps its values and the call returns 0); any other path that cannot be opened
 * is an error naming it (-ENOENT, -EACCES, -EISDIR...). Returns 1 when a file was read,
 * a negative errno with err set otherwise; on failure c is unchanged.
 */
int conf_load_file(struct cairn_config *c, const char *path, struct cairn_err *err);

/*
 * The same from a string; name stands for the file in messages (NULL: "<string>").
 * Returns 0 or a negative errno with err set; on failure c is unchanged.
 */
int conf_load_string(struct cairn_config *c, const char *text, const char *name,
                     struct cairn_err *err);

/*
 * Check c as a whole: every field within its key's rules (so a struct filled in code is
 * checked like a file), then the rules that span keys (the four pool names distinct,
 * slow_workers_max <= workers, two different sockets...). Returns 0 or -EINVAL with err
 * set, naming the keys.
 */
int conf_validate(const struct cairn_config *c, struct cairn_err *err);

/* Free the strings of c and zero it; c may be NULL, and releasing twice is harmless. */
void conf_release(struct cairn_config *c);

/* The configured name of the pool with that role; NULL for a bad role. */
const char *conf_pool_name(const struct cairn_config *c, enum pool_role role);

/* The number of workers slow jobs may use: slow_workers_max, or half the workers (>= 1). */
uint32_t conf_slow_workers(const struct cairn_config *c);

/*
 * Print c as an INI file that conf_load_* reads back to the same values (for
 * `cairnd --print-config`). Returns 0 or -EIO.
 */
int conf_dump(const struct cairn_config *c, FILE *f);

#endif
