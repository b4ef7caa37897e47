/* SPDX-License-Identifier: MIT */
/*
 * backup: the reconciler. A backup that died (its process crashed, its host went away)
 * is found by its intent or its "creating" record; it is settled only while holding its
 * volume's backup lock, which a live backup never lets go: so a running backup is never
 * touched, wherever it runs.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "backup/backup-internal.h"
#include "common/json.h"

struct intent_item {
	char op[128];
	char kind[32];
	char host[256];
	char updated[64];
	struct json_object *targets; /* owned */
};

struct intent_set {
	const char *volume_id; /* NULL: all */
	struct intent_item *v;
	size_t n, cap;
};

static int intent_cb(const char *op_id, struct json_object *intent, void *userdata)
{
	struct intent_set *s = userdata;
	struct json_object *targets = NULL;
	const char *vid;
	struct intent_item *it;

	if (!json_object_object_get_ex(intent, "targets", &targets) ||
	    !json_object_is_type(targets, json_type_object))
		return 0;
	vid = json_get_string(targets, "volume_id");
	if (s->volume_id && (!vid || strcmp(vid, s->volume_id) != 0))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct intent_item *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	it = &s->v[s->n];
	memset(it, 0, sizeof(*it));
	str_copy(it->op, sizeof(it->op), op_id);
	str_copy(it->kind, sizeof(it->kind), json_get_string(intent, "kind") ?: "");
	str_copy(it->host, sizeof(it->host), json_get_string(intent, "host") ?: "");
	str_copy(it->updated, sizeof(it->updated), json_get_string(intent, "updated") ?: "");
	it->targets = json_object_get(targets);
	s->n++;
	return 0;
}

static void intent_set_release(struct intent_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		json_object_put(s->v[i].targets);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static int mark_interrupted(struct backup_record *r, const void *arg)
{
	r->status = BACKUP_STATUS_FAILED;
	if (!r->error[0])
		str_copy(r->error, sizeof(r->error), arg);
	return 0;
}

/* An unfinished backup.create: forward when its record says available, else back. */
static int settle_create(struct cluster *c, const struct intent_item *it,
                         struct backup_reconcile_stats *st, struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);
	const char *bid = json_get_string(it->targets, "backup_id");
	const char *created = json_get_string(it->targets, "created_image");
	struct backup_record rec;
	struct cairn_err lerr = {0};
	char why[256];
	int r;

	if (!bid)
		return intent_end(c, it->op, err);
	r = bk_record_load(c, bid, &rec, NULL, &lerr);
	if (r == -ENOENT) {
		/* it died before its record: rebuild what the cleanup needs from the intent */
		const char *vid = json_get_string(it->targets, "volume_id");
		const char *target = json_get_string(it->targets, "target");
		_cleanup_(freep) char *file = NULL;

		memset(&rec, 0, sizeof(rec));
		str_copy(rec.id, sizeof(rec.id), bid);
		str_copy(rec.volume_id, sizeof(rec.volume_id), vid ? vid : "");
		str_copy(rec.volume, sizeof(rec.volume),
		         json_get_string(it->targets, "volume") ?: "");
		bk_snap_name(rec.snapshot, bid);
		rec.target = target && strcmp(target, "file") == 0 ? BACKUP_TARGET_FILE
		                                                   : BACKUP_TARGET_POOL;
		if (rec.target == BACKUP_TARGET_FILE && vid) {
			file = bk_file_name(vid, bid);
			if (file)
				snprintf(rec.path, sizeof(rec.path), "%s/%s",
				         conf->backup.directory, file);
		}
		if (!rec.volume_id[0])
			return intent_end(c, it->op, err);
		r = bk_cleanup_partial(c, &rec, created && strcmp(created, "1") == 0, err);
		if (r < 0)
			return r;
		st->failed++;
		return intent_end(c, it->op, err);
	}
	if (r < 0)
		return err_set(err, r, "%s", lerr.msg);
	if (rec.status == BACKUP_STATUS_AVAILABLE)
		return intent_end(c, it->op, err); /* it finished; only the intent was left */
	r = bk_cleanup_partial(c, &rec, created && strcmp(created, "1") == 0, err);
	if (r < 0)
		return r;
	snprintf(why, sizeof(why), "interrupted: the backup on host '%.160s' did not finish",
	         it->host[0] ? it->host : "?");
	if (rec.status != BACKUP_STATUS_FAILED) {
		r = bk_record_modify(c, rec.id, mark_interrupted, why, NULL, err);
		if (r < 0)
			return r;
	}
	log_info("backup %s of volume '%s' was interrupted: marked failed, partial data removed",
	         rec.id, rec.volume);
	st->failed++;
	return intent_end(c, it->op, err);
}

int bk_settle_volume(struct cluster *c, const char *volume_id, bool trim,
                     struct backup_reconcile_stats *st, struct cairn_err *err)
{
	struct backup_reconcile_stats none = {0};
	struct intent_set is = {.volume_id = volume_id};
	struct bk_record_set set = {0};
	int r, first = 0;

	if (!st)
		st = &none;
	r = intent_list(c, "backup.", intent_cb, &is, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < is.n; i++) {
		struct cairn_err lerr = {0};
		const struct intent_item *it = &is.v[i];

		if (strcmp(it->kind, "backup.create") == 0) {
			r = settle_create(c, it, st, &lerr);
		} else if (strcmp(it->kind, "backup.restore") == 0) {
			const char *isnew = json_get_string(it->targets, "new");
			if (isnew && strcmp(isnew, "1") == 0)
				continue; /* restores into new volumes: see backup_reconcile */
			log_warn("a restore over volume '%s' was interrupted: its content is "
			         "partial; "
			         "restore it again",
			         json_get_string(it->targets, "volume") ?: "?");
			r = intent_end(c, it->op, &lerr);
		} else if (strcmp(it->kind, "backup.trim") == 0 && trim) {
			r = bk_trim_locked(c, volume_id, &lerr);
			if (r >= 0)
				r = intent_end(c, it->op, &lerr);
		} else {
			continue;
		}
		if (r < 0) {
			log_warn("intent %s (%s) stays: %s", it->op, it->kind, lerr.msg);
			if (!first)
				first = err_set(err, r, "%s", lerr.msg);
		}
	}
	intent_set_release(&is);

	/* records without an intent: a creating one died, a deleting one goes on */
	r = bk_record_list(c, volume_id, &set, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < set.n; i++) {
		struct backup_record *b = &set.v[i];
		struct cairn_err lerr = {0};

		if (b->status == BACKUP_STATUS_CREATING) {
			r = bk_cleanup_partial(c, b, false, &lerr);
			if (r >= 0)
				r = bk_record_modify(c, b->id, mark_interrupted,
				                     "interrupted: the backup did not finish", NULL,
				                     &lerr);
			if (r >= 0)
				st->failed++;
		} else if (b->status == BACKUP_STATUS_DELETING) {
			r = bk_delete_locked(c, b->id, &lerr);
			if (r >= 0)
				st->deleted++;
		} else {
			continue;
		}
		if (r < 0) {
			log_warn("backup %s stays %s: %s", b->id,
			         backup_status_to_string(b->status), lerr.msg);
			if (!first)
				first = err_set(err, r, "%s", lerr.msg);
		}
	}
	bk_record_set_release(&set);
	return first;
}

/* ---- the whole pass ------------------------------------------------------------------------------ */

/* A restore into a new volume that died: the half volume goes. */
static int settle_restore(struct cluster *c, const struct intent_item *it,
                          struct backup_reconcile_stats *st, struct cairn_err *err)
{
	const char *name = json_get_string(it->targets, "volume");
	const char *vop = json_get_string(it->targets, "volume_op");
	struct vol_record vol = {0};
	struct cairn_err lerr = {0};
	int r;

	if (name && vop) {
		r = bk_volume_load(c, name, &vol, &lerr);
		if (r >= 0) {
			bool ours = strcmp(vol.op, vop) == 0;
			vol_record_release(&vol);
			if (ours) {
				err_clear(&lerr);
				r = vol_delete(c, name, true, NULL, &lerr);
				if (r < 0 && r != -ENOENT)
					return err_set(err, r, "%s", lerr.msg);
				log_info("removed volume '%s' of an interrupted restore", name);
			}
		} else if (r != -ENOENT) {
			return err_set(err, r, "%s", lerr.msg);
		}
	}
	st->restores_rolled_back++;
	return intent_end(c, it->op, err);
}

struct id_set {
	char (*v)[UUID_STR_LEN];
	size_t n, cap;
};

static int id_set_add(struct id_set *s, const char *id)
{
	if (!id || !*id)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], id) == 0)
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		void *v = realloc(s->v, cap * sizeof(*s->v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	str_copy(s->v[s->n++], UUID_STR_LEN, id);
	return 0;
}

int backup_reconcile(struct cluster *c, const struct backup_reconcile_opts *opts,
                     struct backup_reconcile_stats *ret_stats, struct cairn_err *err)
{
	struct backup_reconcile_stats st = {0};
	struct intent_set is = {0};
	struct bk_record_set set = {0};
	struct id_set vols = {0};
	char host[256] = "";
	bool startup = opts && opts->startup;
	int r, first = 0;

	if (opts && opts->host)
		str_copy(host, sizeof(host), opts->host);
	else if (gethostname(host, sizeof(host) - 1) < 0)
		str_copy(host, sizeof(host), "unknown");

	r = intent_list(c, "backup.", intent_cb, &is, err);
	if (r < 0)
		return r;
	r = bk_record_list(c, NULL, &set, err);
	if (r < 0)
		goto out;

	/* restores into new volumes hold no lock: their process tells */
	for (size_t i = 0; i < is.n; i++) {
		const struct intent_item *it = &is.v[i];
		const char *isnew = json_get_string(it->targets, "new");
		struct cairn_err lerr = {0};

		struct bk_lock lock;

		if (strcmp(it->kind, "backup.restore") != 0 || !isnew || strcmp(isnew, "1") != 0)
			continue;
		/* a live restore holds the lock named after its operation */
		r = bk_lock_take_abandoned(c, it->op, host, startup, &lock, &lerr);
		if (r == -EBUSY)
			continue;
		if (r >= 0) {
			r = settle_restore(c, it, &st, &lerr);
			bk_lock_release_remove(&lock);
		}
		if (r < 0) {
			log_warn("intent %s (restore) stays: %s", it->op, lerr.msg);
			if (!first)
				first = err_set(err, r, "%s", lerr.msg);
		}
	}

	for (size_t i = 0; i < is.n; i++)
		if (id_set_add(&vols, json_get_string(is.v[i].targets, "volume_id")) < 0)
			goto oom;
	for (size_t i = 0; i < set.n; i++)
		if ((set.v[i].status == BACKUP_STATUS_CREATING ||
		     set.v[i].status == BACKUP_STATUS_DELETING) &&
		    id_set_add(&vols, set.v[i].volume_id) < 0)
			goto oom;

	for (size_t i = 0; i < vols.n; i++) {
		struct cairn_err lerr = {0};
		struct bk_lock lock;

		r = bk_lock_take_abandoned(c, vols.v[i], host, startup, &lock, &lerr);
		if (r == -EBUSY)
			continue; /* running: not ours to touch */
		if (r >= 0) {
			r = bk_settle_volume(c, vols.v[i], true, &st, &lerr);
			bk_lock_release(&lock);
		}
		if (r < 0 && !first)
			first = err_set(err, r, "%s", lerr.msg);
	}
	r = first;
	goto out;
oom:
	r = err_set(err, -ENOMEM, "out of memory");
out:
	free(vols.v);
	bk_record_set_release(&set);
	intent_set_release(&is);
	if (r >= 0 && ret_stats)
		*ret_stats = st;
	return r;
}
