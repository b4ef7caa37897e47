/* SPDX-License-Identifier: MIT */
/*
 * backup: records in the directory, digest states in RADOS, the volumes they belong to.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backup/backup-internal.h"

#define RECORD_ATTEMPTS 5

void bk_snap_name(char buf[128], const char *backup_id)
{
	snprintf(buf, 128, "%s%s", BACKUP_SNAP_PREFIX, backup_id);
}

void bk_image_name(char buf[128], const char *volume_id)
{
	snprintf(buf, 128, "%s%s", BACKUP_IMAGE_PREFIX, volume_id);
}

void bk_restore_name(char buf[NAME_MAX_LEN + 1], const struct backup_record *b)
{
	snprintf(buf, NAME_MAX_LEN + 1, "%.46s-restore-%.8s", b->volume, b->id);
}

void bk_image_snap_name(char buf[128], const char *backup_id)
{
	snprintf(buf, 128, "%s%s", BACKUP_IMAGE_SNAP_PREFIX, backup_id);
}

void bk_blocks_oid(char buf[128], const char *backup_id)
{
	snprintf(buf, 128, "backup.digest.%s", backup_id);
}

/* ---- records -------------------------------------------------------------------------------- */

int bk_record_load(struct cluster *c, const char *id, struct backup_record *ret, char **ret_text,
                   struct cairn_err *err)
{
	_cleanup_(freep) char *text = NULL;
	struct cairn_err perr = {0};
	int r;

	if (!id || !uuid_is_valid(id))
		return err_set(err, -ENOENT, "backup '%s' not found", id ? id : "");
	r = dir_get(c, DIR_BACKUPS, id, &text, err);
	if (r < 0)
		return r;
	r = backup_record_parse(text, ret, &perr);
	if (r < 0)
		return err_set(err, r, "backup '%s': %s", id, perr.msg);
	if (ret_text)
		*ret_text = TAKE_PTR(text);
	return 0;
}

int bk_record_insert(struct cluster *c, const struct backup_record *r, struct cairn_err *err)
{
	_cleanup_(freep) char *text = backup_record_format(r);

	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	return dir_insert(c, DIR_BACKUPS, r->id, r->id, text, err);
}

int bk_record_modify(struct cluster *c, const char *id, bk_record_change_fn fn, const void *arg,
                     struct backup_record *ret, struct cairn_err *err)
{
	struct cairn_err e = {0};
	int r = 0;

	for (int attempt = 0; attempt < RECORD_ATTEMPTS; attempt++) {
		_cleanup_(freep) char *old = NULL, *text = NULL;
		struct backup_record rec;

		err_clear(&e);
		r = bk_record_load(c, id, &rec, &old, &e);
		if (r < 0)
			break;
		r = fn(&rec, arg);
		if (r < 0) {
			err_set(&e, r, "cannot change backup '%s': %s", id, strerror(-r));
			break;
		}
		bk_time_now(rec.updated);
		text = backup_record_format(&rec);
		if (!text) {
			r = err_set(&e, -ENOMEM, "out of memory");
			break;
		}
		r = dir_update(c, DIR_BACKUPS, id, old, text, &e);
		if (r == 0 && ret)
			*ret = rec;
		if (r != -ECANCELED)
			break;
	}
	if (r < 0)
		return err_set(err, r, "%s", e.msg);
	return 0;
}

struct list_ctx {
	const char *volume_id;
	struct bk_record_set *set;
};

static int list_cb(const char *id, const char *record, void *userdata)
{
	struct list_ctx *lc = userdata;
	struct bk_record_set *s = lc->set;
	struct cairn_err e = {0};
	struct backup_record r;

	if (backup_record_parse(record, &r, &e) < 0) {
		log_warn("backup record '%s' skipped: %s", id, e.msg);
		return 0;
	}
	if (lc->volume_id && strcmp(r.volume_id, lc->volume_id) != 0)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct backup_record *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = r;
	return 0;
}

static int record_cmp(const void *a, const void *b)
{
	const struct backup_record *x = a, *y = b;
	int c = strcmp(x->created, y->created);

	return c ? c : strcmp(x->id, y->id);
}

int bk_record_list(struct cluster *c, const char *volume_id, struct bk_record_set *ret,
                   struct cairn_err *err)
{
	struct bk_record_set s = {0};
	struct list_ctx lc = {.volume_id = volume_id, .set = &s};
	int r;

	r = dir_list(c, DIR_BACKUPS, list_cb, &lc, err);
	if (r < 0) {
		bk_record_set_release(&s);
		return r;
	}
	if (s.n)
		qsort(s.v, s.n, sizeof(*s.v), record_cmp);
	*ret = s;
	return 0;
}

void bk_record_set_release(struct bk_record_set *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- digest states --------------------------------------------------------------------------- */

int bk_blocks_store(struct cluster *c, const char *backup_id, const struct lthash *st,
                    uint64_t size, struct cairn_err *err)
{
	uint8_t data[LTHASH_STORED_LEN];
	rados_ioctx_t io;
	char oid[128];
	int r;

	r = cluster_state_ioctx(c, &io, err);
	if (r < 0)
		return r;
	lthash_serialize(st, size, data);
	bk_blocks_oid(oid, backup_id);
	r = rados_write_full(io, oid, (const char *)data, sizeof(data));
	if (r < 0)
		return err_set(err, r, "cannot store the digest state of backup '%s': %s",
		               backup_id, strerror(-r));
	return 0;
}

int bk_blocks_load(struct cluster *c, const char *backup_id, struct lthash *ret, uint64_t *ret_size,
                   struct cairn_err *err)
{
	uint8_t data[LTHASH_STORED_LEN + 1];
	rados_ioctx_t io;
	char oid[128];
	int r;

	r = cluster_state_ioctx(c, &io, err);
	if (r < 0)
		return r;
	bk_blocks_oid(oid, backup_id);
	r = rados_read(io, oid, (char *)data, sizeof(data), 0);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0)
		return err_set(err, r, "cannot read the digest state of backup '%s': %s", backup_id,
		               strerror(-r));
	r = lthash_parse(data, (size_t)r, ret, ret_size);
	if (r < 0)
		return err_set(err, r, "the digest state of backup '%s' is corrupt", backup_id);
	return 0;
}

int bk_blocks_remove(struct cluster *c, const char *backup_id)
{
	struct cairn_err e = {0};
	rados_ioctx_t io;
	char oid[128];
	int r;

	r = cluster_state_ioctx(c, &io, &e);
	if (r < 0)
		return r;
	bk_blocks_oid(oid, backup_id);
	r = rados_remove(io, oid);
	return r == -ENOENT ? 0 : r;
}

/* ---- volumes ----------------------------------------------------------------------------------- */

int bk_volume_load_id(struct cluster *c, const char *id, struct vol_record *ret,
                      struct cairn_err *err)
{
	_cleanup_(freep) char *text = NULL;
	int r;

	r = dir_get(c, DIR_VOLUMES, id, &text, err);
	if (r < 0)
		return r;
	return vol_record_parse(text, false, ret, err);
}

int bk_volume_load(struct cluster *c, const char *name, struct vol_record *ret,
                   struct cairn_err *err)
{
	char id[128];
	int r;

	r = name_validate(name, "volume", err);
	if (r < 0)
		return r;
	r = dir_lookup(c, DIR_VOLUMES, name, id, sizeof(id), err);
	if (r < 0)
		return r;
	return bk_volume_load_id(c, id, ret, err);
}

int bk_volume_io(struct cluster *c, const struct vol_record *v, rados_ioctx_t *ret,
                 struct cairn_err *err)
{
	return cluster_ioctx_by_name(c, v->pool, ret, err);
}
