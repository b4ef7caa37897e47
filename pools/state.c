/* SPDX-License-Identifier: MIT */
/*
 * cairn's own records in RADOS: one directory object per kind in the "cairn" namespace of
 * the volumes pool, its omap mapping "name.<name>" -> id and "id.<id>" -> JSON record.
 *
 * Every change is ONE rados_write_op whose guards (omap_cmp) and mutations the OSD applies
 * atomically, under the object's write lock: two daemons racing for a name cannot both
 * win, and a record is never half written.
 *
 * What omap_cmp does, as checked on a pacific cluster (tests/integration/test-state.c):
 *  - a key that is absent compares as the empty value: "absent" is EQ "" (so an empty
 *    value and no value are the same thing: we never store empty values), and "present"
 *    is GT "";
 *  - on an object that does not exist it fails with -ENOENT, unless an earlier op of the
 *    same write op created it (create IDEMPOTENT first, then the guards, as dir_insert does);
 *  - a failed guard fails the whole op with -ECANCELED and nothing is applied; the per-op
 *    return values are not reliable after a failure, so which guard failed is found out
 *    with one read afterwards (only on that path).
 */
#define LOG_MODULE "state"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/json.h"
#include "pools/pools.h"

#define DIR_RECORD_MAX (64 * 1024) /* bytes of one JSON record */
#define DIR_KEY_MAX    255         /* bytes of a name or an id */
#define DIR_KEY_BUF    (DIR_KEY_MAX + 8)
#define DIR_OID_BUF    64
#define DIR_LIST_PAGE  1000 /* omap entries per read while listing */
#define DIR_ATTEMPTS   5    /* of a guarded change that lost a race it can retry */

static const char *const dir_kind_table[DIR_KIND_MAX] = {
        [DIR_IMAGES] = "images",           [DIR_VOLUMES] = "volumes",
        [DIR_SNAPSHOTS] = "snapshots",     [DIR_BACKUPS] = "backups",
        [DIR_OPERATIONS] = "operations",   [DIR_INTENTS] = "intents",
        [DIR_IDEMPOTENCY] = "idempotency",
};

/* What one record of the kind is called in messages. */
static const char *const dir_noun_table[DIR_KIND_MAX] = {
        [DIR_IMAGES] = "image",
        [DIR_VOLUMES] = "volume",
        [DIR_SNAPSHOTS] = "snapshot",
        [DIR_BACKUPS] = "backup",
        [DIR_OPERATIONS] = "operation",
        [DIR_INTENTS] = "intent",
        [DIR_IDEMPOTENCY] = "idempotency key",
};

const char *dir_kind_to_string(enum dir_kind k)
{
	if ((unsigned)k >= DIR_KIND_MAX)
		return NULL;
	return dir_kind_table[k];
}

/* ---- helpers ------------------------------------------------------------------------------ */

struct dir {
	enum dir_kind kind;
	const char *noun;
	rados_ioctx_t io;
	char oid[DIR_OID_BUF];
};

static int dir_open(struct cluster *c, enum dir_kind k, struct dir *ret, struct cairn_err *err)
{
	int r;

	if ((unsigned)k >= DIR_KIND_MAX)
		return err_set(err, -EINVAL, "unknown directory kind %d", (int)k);
	r = cluster_state_ioctx(c, &ret->io, err);
	if (r < 0)
		return r;
	ret->kind = k;
	ret->noun = dir_noun_table[k];
	snprintf(ret->oid, sizeof(ret->oid), "directory.%s", dir_kind_table[k]);
	return 0;
}

static int dir_check_key(const struct dir *d, const char *s, const char *what,
                         struct cairn_err *err)
{
	size_t len;

	if (!s || !*s)
		return err_set(err, -EINVAL, "%s %s is empty", d->noun, what);
	len = strlen(s);
	if (len > DIR_KEY_MAX)
		return err_set(err, -EINVAL, "%s %s is too long (%zu bytes, at most %d)", d->noun,
		               what, len, DIR_KEY_MAX);
	return 0;
}

static int dir_check_record(const struct dir *d, const char *id, const char *record,
                            struct cairn_err *err)
{
	size_t len;

	if (!record || !*record)
		return err_set(err, -EINVAL, "record of %s '%s' is empty", d->noun, id);
	len = strlen(record);
	if (len > DIR_RECORD_MAX)
		return err_set(err, -EMSGSIZE,
		               "record of %s '%s' is too large (%zu bytes, at most %d)", d->noun,
		               id, len, DIR_RECORD_MAX);
	return 0;
}

static void key_name(char buf[DIR_KEY_BUF], const char *name)
{
	snprintf(buf, DIR_KEY_BUF, "name.%s", name);
}

static void key_id(char buf[DIR_KEY_BUF], const char *id)
{
	snprintf(buf, DIR_KEY_BUF, "id.%s", id);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(rados_write_op_t, rados_release_write_op)
DEFINE_TRIVIAL_CLEANUP_FUNC(rados_read_op_t, rados_release_read_op)
DEFINE_TRIVIAL_CLEANUP_FUNC(rados_omap_iter_t, rados_omap_get_end)

/* One key to read; val is malloc'd and NUL-terminated when found. */
struct dir_kv {
	const char *key;
	char *val;
	bool found;
};

static void dir_kv_release(struct dir_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].val);
		kv[i].val = NULL;
		kv[i].found = false;
	}
}

/* Read up to a few keys in one round trip. A missing directory object has no keys. */
static int dir_read_keys(const struct dir *d, struct dir_kv *kv, size_t n, struct cairn_err *err)
{
	_cleanup_(rados_release_read_opp) rados_read_op_t op = NULL;
	_cleanup_(rados_omap_get_endp) rados_omap_iter_t iter = NULL;
	const char *keys[4];
	size_t lens[4];
	int r, prval = 0;

	if (n > ARRAY_SIZE(keys))
		return err_set(err, -EINVAL, "too many keys");
	for (size_t i = 0; i < n; i++) {
		keys[i] = kv[i].key;
		lens[i] = strlen(kv[i].key);
		kv[i].val = NULL;
		kv[i].found = false;
	}
	op = rados_create_read_op();
	if (!op)
		return err_set(err, -ENOMEM, "out of memory");
	rados_read_op_omap_get_vals_by_keys2(op, keys, n, lens, &iter, &prval);
	r = rados_read_op_operate(op, d->io, d->oid, 0);
	if (r == -ENOENT)
		return 0;
	if (r >= 0 && prval < 0)
		r = prval;
	if (r < 0)
		return err_set(err, r, "cannot read the %s directory '%s': %s", d->noun, d->oid,
		               strerror(-r));
	for (;;) {
		char *key = NULL, *val = NULL;
		size_t key_len = 0, val_len = 0;

		r = rados_omap_get_next2(iter, &key, &val, &key_len, &val_len);
		if (r < 0) {
			dir_kv_release(kv, n);
			return err_set(err, r, "cannot read the %s directory '%s': %s", d->noun,
			               d->oid, strerror(-r));
		}
		if (!key)
			break;
		for (size_t i = 0; i < n; i++) {
			if (kv[i].found || key_len != lens[i] || memcmp(key, kv[i].key, key_len))
				continue;
			kv[i].val = malloc(val_len + 1);
			if (!kv[i].val) {
				dir_kv_release(kv, n);
				return err_set(err, -ENOMEM, "out of memory");
			}
			if (val_len)
				memcpy(kv[i].val, val, val_len);
			kv[i].val[val_len] = '\0';
			kv[i].found = true;
		}
	}
	return 0;
}

static int dir_operate(const struct dir *d, rados_write_op_t op)
{
	return rados_write_op_operate(op, d->io, d->oid, NULL, 0);
}

static int dir_write_failed(const struct dir *d, int r, const char *verb, const char *what,
                            struct cairn_err *err)
{
	return err_set(err, r, "cannot %s %s '%s' in '%s': %s", verb, d->noun, what, d->oid,
	               strerror(-r));
}

/* ---- directory ------------------------------------------------------------------------------ */

int dir_insert(struct cluster *c, enum dir_kind k, const char *name, const char *id,
               const char *record, struct cairn_err *err)
{
	char nkey[DIR_KEY_BUF], ikey[DIR_KEY_BUF];
	struct dir d;
	int r;

	r = dir_open(c, k, &d, err);
	if (r < 0)
		return r;
	if ((name && dir_check_key(&d, name, "name", err) < 0) ||
	    dir_check_key(&d, id, "id", err) < 0 || dir_check_record(&d, id, record, err) < 0)
		return err->code;
	if (name)
		key_name(nkey, name);
	key_id(ikey, id);

	for (int attempt = 0;; attempt++) {
		_cleanup_(rados_release_write_opp) rados_write_op_t op = rados_create_write_op();
		const char *keys[2], *vals[2];
		size_t lens[2], n = 0;
		int rv_name = 0, rv_id = 0;

		if (!op)
			return err_set(err, -ENOMEM, "out of memory");
		/* makes the directory on first use; the guards then see an empty omap */
		rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
		if (name) {
			/* an absent key compares equal to the empty value */
			rados_write_op_omap_cmp(op, nkey, LIBRADOS_CMPXATTR_OP_EQ, "", 0, &rv_name);
			keys[n] = nkey;
			vals[n] = id;
			lens[n++] = strlen(id);
		}
		rados_write_op_omap_cmp(op, ikey, LIBRADOS_CMPXATTR_OP_EQ, "", 0, &rv_id);
		keys[n] = ikey;
		vals[n] = record;
		lens[n++] = strlen(record);
		rados_write_op_omap_set(op, keys, vals, lens, n);
		r = dir_operate(&d, op);
		if (r >= 0) {
			log_debug("%s: inserted %s -> %s", d.oid, name ? name : "-", id);
			return 0;
		}
		if (r != -ECANCELED)
			return dir_write_failed(&d, r, "insert", name ? name : id, err);

		/* a guard failed: say which */
		struct dir_kv kv[2] = {{.key = ikey}, {.key = nkey}};
		r = dir_read_keys(&d, kv, name ? 2 : 1, err);
		if (r < 0)
			return r;
		bool id_taken = kv[0].found, name_taken = kv[1].found;
		dir_kv_release(kv, name ? 2 : 1);
		if (name_taken)
			return err_set(err, -EEXIST, "%s '%s' already exists", d.noun, name);
		if (id_taken && name)
			return err_set(err, -EEXIST, "%s id '%s' already exists", d.noun, id);
		if (id_taken)
			return err_set(err, -EEXIST, "%s '%s' already exists", d.noun, id);
		/* the holder went away between our attempt and the read: try again */
		if (attempt + 1 >= DIR_ATTEMPTS)
			return err_set(err, -ECANCELED,
			               "cannot insert %s '%s': too much contention", d.noun,
			               name ? name : id);
	}
}

/* After a guard on id.<id> failed: -ENOENT when the record is gone, else -ECANCELED. */
static int dir_update_conflict(const struct dir *d, const char *ikey, const char *id,
                               struct cairn_err *err)
{
	struct dir_kv kv = {.key = ikey};
	bool found;
	int r;

	r = dir_read_keys(d, &kv, 1, err);
	if (r < 0)
		return r;
	found = kv.found;
	dir_kv_release(&kv, 1);
	if (!found)
		return err_set(err, -ENOENT, "%s '%s' not found", d->noun, id);
	return err_set(err, -ECANCELED, "%s '%s' was changed by somebody else", d->noun, id);
}

int dir_update(struct cluster *c, enum dir_kind k, const char *id, const char *expect,
               const char *record, struct cairn_err *err)
{
	_cleanup_(rados_release_write_opp) rados_write_op_t op = NULL;
	char ikey[DIR_KEY_BUF];
	size_t len;
	struct dir d;
	int r, rv_exists = 0, rv_expect = 0;

	r = dir_open(c, k, &d, err);
	if (r < 0)
		return r;
	if (dir_check_key(&d, id, "id", err) < 0 || dir_check_record(&d, id, record, err) < 0)
		return err->code;
	key_id(ikey, id);
	len = strlen(record);

	op = rados_create_write_op();
	if (!op)
		return err_set(err, -ENOMEM, "out of memory");
	/* present: any stored (never empty) value is greater than the empty one */
	rados_write_op_omap_cmp(op, ikey, LIBRADOS_CMPXATTR_OP_GT, "", 0, &rv_exists);
	if (expect)
		rados_write_op_omap_cmp(op, ikey, LIBRADOS_CMPXATTR_OP_EQ, expect, strlen(expect),
		                        &rv_expect);
	rados_write_op_omap_set(op, (const char *[]){ikey}, (const char *[]){record}, &len, 1);
	r = dir_operate(&d, op);
	if (r == -ENOENT) /* no directory object yet */
		return err_set(err, -ENOENT, "%s '%s' not found", d.noun, id);
	if (r == -ECANCELED)
		return dir_update_conflict(&d, ikey, id, err);
	if (r < 0)
		return dir_write_failed(&d, r, "update", id, err);
	log_debug("%s: updated %s", d.oid, id);
	return 0;
}

int dir_rename(struct cluster *c, enum dir_kind k, const char *id, const char *old_name,
               const char *new_name, const char *record, struct cairn_err *err)
{
	return dir_rename_with(c, k, id, old_name, new_name, record, NULL, 0, err);
}

int dir_rename_with(struct cluster *c, enum dir_kind k, const char *id, const char *old_name,
                    const char *new_name, const char *record, const struct dir_change *also,
                    size_t n_also, struct cairn_err *err)
{
	_cleanup_(rados_release_write_opp) rados_write_op_t op = NULL;
	_cleanup_(freep) char(*akeys)[DIR_KEY_BUF] = NULL;
	_cleanup_(freep) int *arv = NULL;
	char okey[DIR_KEY_BUF], nkey[DIR_KEY_BUF], ikey[DIR_KEY_BUF];
	const char *keys[2], *vals[2];
	size_t lens[2], n = 0;
	bool same;
	struct dir d;
	int r, rv[3] = {0};

	r = dir_open(c, k, &d, err);
	if (r < 0)
		return r;
	if (dir_check_key(&d, id, "id", err) < 0 || dir_check_key(&d, old_name, "name", err) < 0 ||
	    dir_check_key(&d, new_name, "name", err) < 0 ||
	    (record && dir_check_record(&d, id, record, err) < 0))
		return err->code;
	for (size_t i = 0; i < n_also; i++)
		if (dir_check_key(&d, also[i].id, "id", err) < 0 ||
		    dir_check_record(&d, also[i].id, also[i].record, err) < 0)
			return err->code;
	if (n_also) {
		akeys = calloc(n_also, sizeof(*akeys));
		arv = calloc(n_also, sizeof(*arv));
		if (!akeys || !arv)
			return err_set(err, -ENOMEM, "out of memory");
	}
	key_name(okey, old_name);
	key_name(nkey, new_name);
	key_id(ikey, id);
	same = strcmp(old_name, new_name) == 0;

	op = rados_create_write_op();
	if (!op)
		return err_set(err, -ENOMEM, "out of memory");
	if (!same)
		rados_write_op_omap_cmp(op, nkey, LIBRADOS_CMPXATTR_OP_EQ, "", 0, &rv[0]);
	rados_write_op_omap_cmp(op, okey, LIBRADOS_CMPXATTR_OP_EQ, id, strlen(id), &rv[1]);
	rados_write_op_omap_cmp(op, ikey, LIBRADOS_CMPXATTR_OP_GT, "", 0, &rv[2]);
	if (!same) {
		rados_write_op_omap_rm_keys(op, (const char *[]){okey}, 1);
		keys[n] = nkey;
		vals[n] = id;
		lens[n++] = strlen(id);
	}
	if (record) {
		keys[n] = ikey;
		vals[n] = record;
		lens[n++] = strlen(record);
	}
	if (n)
		rados_write_op_omap_set(op, keys, vals, lens, n);
	for (size_t i = 0; i < n_also; i++) {
		size_t len = strlen(also[i].record);

		key_id(akeys[i], also[i].id);
		rados_write_op_omap_cmp(op, akeys[i], LIBRADOS_CMPXATTR_OP_EQ, also[i].expect,
		                        strlen(also[i].expect), &arv[i]);
		rados_write_op_omap_set(op, (const char *[]){akeys[i]},
		                        (const char *[]){also[i].record}, &len, 1);
	}
	r = dir_operate(&d, op);
	if (r == -ENOENT)
		return err_set(err, -ENOENT, "%s '%s' not found", d.noun, old_name);
	if (r == -ECANCELED) {
		struct dir_kv kv[3] = {{.key = nkey}, {.key = okey}, {.key = ikey}};
		bool new_taken, old_ours, id_found;

		r = dir_read_keys(&d, kv, 3, err);
		if (r < 0)
			return r;
		new_taken = kv[0].found;
		old_ours = kv[1].found && strcmp(kv[1].val, id) == 0;
		id_found = kv[2].found;
		dir_kv_release(kv, 3);
		if (!same && new_taken)
			return err_set(err, -EEXIST, "%s '%s' already exists", d.noun, new_name);
		if (!old_ours || !id_found)
			return err_set(err, -ENOENT, "%s '%s' not found", d.noun, old_name);
		return err_set(err, -ECANCELED, "%s '%s' was changed by somebody else", d.noun,
		               old_name);
	}
	if (r < 0)
		return dir_write_failed(&d, r, "rename", old_name, err);
	log_debug("%s: renamed %s -> %s (%s)", d.oid, old_name, new_name, id);
	return 0;
}

int dir_remove(struct cluster *c, enum dir_kind k, const char *name, const char *id,
               struct cairn_err *err)
{
	char nkey[DIR_KEY_BUF], ikey[DIR_KEY_BUF];
	struct dir d;
	int r;

	r = dir_open(c, k, &d, err);
	if (r < 0)
		return r;
	if ((name && dir_check_key(&d, name, "name", err) < 0) ||
	    dir_check_key(&d, id, "id", err) < 0)
		return err->code;
	key_id(ikey, id);

	if (name) {
		/*
		 * The name goes only if it still names this id: a name that somebody else
		 * took meanwhile is theirs.
		 */
		_cleanup_(rados_release_write_opp) rados_write_op_t op = rados_create_write_op();
		int rv = 0;

		if (!op)
			return err_set(err, -ENOMEM, "out of memory");
		key_name(nkey, name);
		rados_write_op_omap_cmp(op, nkey, LIBRADOS_CMPXATTR_OP_EQ, id, strlen(id), &rv);
		rados_write_op_omap_rm_keys(op, (const char *[]){nkey, ikey}, 2);
		r = dir_operate(&d, op);
		if (r >= 0 || r == -ENOENT) {
			log_debug("%s: removed %s (%s)", d.oid, name, id);
			return 0;
		}
		if (r != -ECANCELED)
			return dir_write_failed(&d, r, "remove", name, err);
		/* the name is gone or names another id: remove the record alone */
	}

	_cleanup_(rados_release_write_opp) rados_write_op_t op = rados_create_write_op();
	if (!op)
		return err_set(err, -ENOMEM, "out of memory");
	rados_write_op_omap_rm_keys(op, (const char *[]){ikey}, 1);
	r = dir_operate(&d, op);
	if (r < 0 && r != -ENOENT)
		return dir_write_failed(&d, r, "remove", id, err);
	log_debug("%s: removed %s", d.oid, id);
	return 0;
}

/* The value of the key of a name or an id (what: "name", "id"), in a new string. */
static int dir_read_one(struct cluster *c, enum dir_kind k, const char *what, const char *v,
                        char **ret, struct cairn_err *err)
{
	char key[DIR_KEY_BUF];
	struct dir_kv kv = {0};
	struct dir d;
	int r;

	r = dir_open(c, k, &d, err);
	if (r < 0)
		return r;
	if (dir_check_key(&d, v, what, err) < 0)
		return err->code;
	if (strcmp(what, "name") == 0)
		key_name(key, v);
	else
		key_id(key, v);
	kv.key = key;
	r = dir_read_keys(&d, &kv, 1, err);
	if (r < 0)
		return r;
	if (!kv.found)
		return err_set(err, -ENOENT, "%s '%s' not found", d.noun, v);
	*ret = kv.val;
	return 0;
}

int dir_lookup(struct cluster *c, enum dir_kind k, const char *name, char *ret_id, size_t len,
               struct cairn_err *err)
{
	_cleanup_(freep) char *id = NULL;
	int r;

	r = dir_read_one(c, k, "name", name, &id, err);
	if (r < 0)
		return r;
	if (str_copy(ret_id, len, id) < 0)
		return err_set(err, -ERANGE, "id of %s '%s' is longer than %zu bytes",
		               dir_noun_table[k], name, len);
	return 0;
}

int dir_get(struct cluster *c, enum dir_kind k, const char *id, char **ret_record,
            struct cairn_err *err)
{
	return dir_read_one(c, k, "id", id, ret_record, err);
}

int dir_list(struct cluster *c, enum dir_kind k, dir_each_cb cb, void *userdata,
             struct cairn_err *err)
{
	_cleanup_(freep) char *after = NULL; /* the last key seen, "" at first */
	_cleanup_(freep) char *val = NULL;
	size_t val_cap = 0;
	unsigned char more = 1;
	struct dir d;
	int r;

	r = dir_open(c, k, &d, err);
	if (r < 0)
		return r;
	after = strdup("");
	if (!after)
		return err_set(err, -ENOMEM, "out of memory");

	while (more) {
		_cleanup_(rados_release_read_opp) rados_read_op_t op = rados_create_read_op();
		_cleanup_(rados_omap_get_endp) rados_omap_iter_t iter = NULL;
		int prval = 0;

		if (!op)
			return err_set(err, -ENOMEM, "out of memory");
		more = 0;
		rados_read_op_omap_get_vals2(op, after, "id.", DIR_LIST_PAGE, &iter, &more, &prval);
		r = rados_read_op_operate(op, d.io, d.oid, 0);
		if (r == -ENOENT) /* no directory yet: nothing in it */
			return 0;
		if (r >= 0 && prval < 0)
			r = prval;
		if (r < 0)
			return err_set(err, r, "cannot list the %s directory '%s': %s", d.noun,
			               d.oid, strerror(-r));
		for (;;) {
			char *key = NULL, *v = NULL;
			size_t key_len = 0, v_len = 0;

			r = rados_omap_get_next2(iter, &key, &v, &key_len, &v_len);
			if (r < 0)
				return err_set(err, r, "cannot list the %s directory '%s': %s",
				               d.noun, d.oid, strerror(-r));
			if (!key)
				break;
			/* the last key, for the next page; "id." + id is NUL-free */
			char *k2 = realloc(after, key_len + 1);
			if (!k2)
				return err_set(err, -ENOMEM, "out of memory");
			after = k2;
			memcpy(after, key, key_len);
			after[key_len] = '\0';
			if (v_len + 1 > val_cap) {
				char *v2 = realloc(val, v_len + 1);
				if (!v2)
					return err_set(err, -ENOMEM, "out of memory");
				val = v2;
				val_cap = v_len + 1;
			}
			if (v_len)
				memcpy(val, v, v_len);
			val[v_len] = '\0';
			r = cb(after + strlen("id."), val, userdata);
			if (r < 0)
				return err_set(err, r, "listing the %s directory stopped: %s",
				               d.noun, strerror(-r));
		}
	}
	return 0;
}

/* ---- intents ------------------------------------------------------------------------------- */

static void time_now_rfc3339(char buf[32])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int intent_begin(struct cluster *c, const char *op_id, const char *kind,
                 struct json_object *targets, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *o = NULL;
	char host[256] = "", now[32];

	if (!kind || !*kind)
		return err_set(err, -EINVAL, "intent kind is empty");
	if (targets && !json_object_is_type(targets, json_type_object))
		return err_set(err, -EINVAL, "targets of intent '%s' are not a JSON object",
		               op_id ? op_id : "");
	if (gethostname(host, sizeof(host) - 1) < 0)
		str_copy(host, sizeof(host), "unknown");
	time_now_rfc3339(now);

	o = json_object_new_object();
	if (!o || json_add_string(o, "kind", kind) < 0 || json_add_string(o, "step", "begin") < 0 ||
	    json_add_string(o, "host", host) < 0 || json_add_string(o, "created", now) < 0 ||
	    json_add_string(o, "updated", now) < 0 ||
	    json_add(o, "targets", targets ? json_object_get(targets) : json_object_new_object()) <
	            0)
		return err_set(err, -ENOMEM, "out of memory");
	return dir_insert(c, DIR_INTENTS, NULL, op_id,
	                  json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), err);
}

typedef int (*intent_change_fn)(struct json_object *intent, const void *arg);

/* Read, change, write back guarded by the text read; again when somebody else was quicker. */
static int intent_modify(struct cluster *c, const char *op_id, intent_change_fn change,
                         const void *arg, struct cairn_err *err)
{
	struct cairn_err e = {0};
	char now[32];
	int r = 0;

	for (int attempt = 0; attempt < DIR_ATTEMPTS; attempt++) {
		_cleanup_(freep) char *old = NULL;
		_cleanup_(json_putp) struct json_object *o = NULL;

		err_clear(&e);
		r = dir_get(c, DIR_INTENTS, op_id, &old, &e);
		if (r < 0)
			break;
		o = json_tokener_parse(old);
		if (!o || !json_object_is_type(o, json_type_object)) {
			r = err_set(&e, -EBADMSG, "intent '%s' is not a JSON object", op_id);
			break;
		}
		r = change(o, arg);
		if (r < 0) {
			r = err_set(&e, r, "cannot change intent '%s': %s", op_id, strerror(-r));
			break;
		}
		time_now_rfc3339(now);
		if (json_add_string(o, "updated", now) < 0) {
			r = err_set(&e, -ENOMEM, "out of memory");
			break;
		}
		r = dir_update(c, DIR_INTENTS, op_id, old,
		               json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), &e);
		if (r != -ECANCELED)
			break;
	}
	if (r < 0)
		return err_set(err, r, "%s", e.msg);
	return 0;
}

static int intent_change_step(struct json_object *o, const void *arg)
{
	return json_add_string(o, "step", arg);
}

int intent_step(struct cluster *c, const char *op_id, const char *step, struct cairn_err *err)
{
	if (!step || !*step)
		return err_set(err, -EINVAL, "step of intent '%s' is empty", op_id ? op_id : "");
	return intent_modify(c, op_id, intent_change_step, step, err);
}

struct intent_target {
	const char *key;
	const char *value;
};

static int intent_change_target(struct json_object *o, const void *arg)
{
	const struct intent_target *t = arg;
	struct json_object *targets = NULL;
	int r;

	if (!json_object_object_get_ex(o, "targets", &targets) ||
	    !json_object_is_type(targets, json_type_object)) {
		targets = json_object_new_object();
		r = json_add(o, "targets", targets);
		if (r < 0)
			return r;
	}
	return json_add_string(targets, t->key, t->value);
}

int intent_set_target(struct cluster *c, const char *op_id, const char *key, const char *value,
                      struct cairn_err *err)
{
	struct intent_target t = {key, value};

	if (!key || !*key)
		return err_set(err, -EINVAL, "target key of intent '%s' is empty",
		               op_id ? op_id : "");
	return intent_modify(c, op_id, intent_change_target, &t, err);
}

int intent_end(struct cluster *c, const char *op_id, struct cairn_err *err)
{
	return dir_remove(c, DIR_INTENTS, NULL, op_id, err);
}

struct intent_list_ctx {
	const char *kind_prefix;
	intent_each_cb cb;
	void *userdata;
};

static int intent_list_one(const char *id, const char *record, void *userdata)
{
	struct intent_list_ctx *ctx = userdata;
	_cleanup_(json_putp) struct json_object *o = json_tokener_parse(record);
	const char *kind;

	if (!o || !json_object_is_type(o, json_type_object)) {
		log_debug("intent '%s' is not a JSON object: skipped", id);
		return 0;
	}
	kind = json_get_string(o, "kind");
	if (!kind || !str_has_prefix(kind, ctx->kind_prefix))
		return 0;
	return ctx->cb(id, o, ctx->userdata);
}

int intent_list(struct cluster *c, const char *kind_prefix, intent_each_cb cb, void *userdata,
                struct cairn_err *err)
{
	struct intent_list_ctx ctx = {kind_prefix ? kind_prefix : "", cb, userdata};

	return dir_list(c, DIR_INTENTS, intent_list_one, &ctx, err);
}
