/* SPDX-License-Identifier: MIT */
/*
 * volumes: the reconciler. Settles the intents that crashed or abandoned operations left,
 * removes the RBD images cairn made that nothing accounts for, and marks records whose image
 * vanished. Safe to run on several hosts at once: every step is idempotent and guarded.
 */
#define LOG_MODULE "reconcile"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "volumes/vol-internal.h"

#define INTENT_TIMEOUT_DEFAULT 3600

/* ---- a set of "pool/image" strings --------------------------------------------------------- */

struct strset {
	char **v;
	size_t n, cap;
	bool sorted;
};

static int strset_add(struct strset *s, const char *pool, const char *image)
{
	char *k;

	if (!pool || !image)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	k = str_printf("%s/%s", pool, image);
	if (!k)
		return -ENOMEM;
	s->v[s->n++] = k;
	s->sorted = false;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool strset_has(struct strset *s, const char *pool, const char *image)
{
	_cleanup_(freep) char *k = str_printf("%s/%s", pool, image);

	if (!k || !s->n)
		return false;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
		s->sorted = true;
	}
	return bsearch(&k, s->v, s->n, sizeof(*s->v), cmp_str) != NULL;
}

static void strset_free(struct strset *s)
{
	vol_strv_free(s->v, s->n);
	memset(s, 0, sizeof(*s));
}

/* ---- intents ---------------------------------------------------------------------------------- */

struct intent {
	char op[VOL_OP_ID_MAX];
	char kind[32];
	struct json_object *targets; /* owned */
	bool abandoned;
};

struct intent_scan {
	struct cluster *c;
	const struct vol_reconcile_opts *opts;
	const char *host;
	time_t now;
	uint32_t timeout;
	struct intent *v;
	size_t n, cap;
	struct strset covered; /* pool/rbd_image named by any intent */
};

static int scan_intent(const char *op_id, struct json_object *intent, void *userdata)
{
	struct intent_scan *s = userdata;
	struct json_object *targets = NULL;
	const char *kind = json_get_string(intent, "kind");
	const char *host = json_get_string(intent, "host");
	const char *updated = json_get_string(intent, "updated");
	int64_t t = vol_time_parse(updated ? updated : json_get_string(intent, "created"));
	struct intent *it;
	int r;

	json_object_object_get_ex(intent, "targets", &targets);
	if (targets && json_object_is_type(targets, json_type_object)) {
		r = strset_add(&s->covered, json_get_string(targets, "pool"),
		               json_get_string(targets, "rbd_image"));
		if (r < 0)
			return r;
	}
	if (!kind || !(str_has_prefix(kind, "volume.") || str_has_prefix(kind, "image.")))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct intent *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	it = &s->v[s->n];
	memset(it, 0, sizeof(*it));
	str_copy(it->op, sizeof(it->op), op_id);
	str_copy(it->kind, sizeof(it->kind), kind);
	it->targets = targets ? json_object_get(targets) : json_object_new_object();
	if (!it->targets)
		return -ENOMEM;
	if (s->opts && s->opts->startup && host && strcmp(host, s->host) == 0)
		it->abandoned = true; /* its process died: this daemon is its successor */
	else if (cluster_intent_orphaned(s->c, op_id))
		it->abandoned = true; /* its operation here gave up on it */
	else if (t < 0 || s->now - t > (time_t)s->timeout)
		it->abandoned = true;
	s->n++;
	return 0;
}

static void scan_release(struct intent_scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		json_object_put(s->v[i].targets);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
	strset_free(&s->covered);
}

static int scan_intents(struct cluster *c, struct intent_scan *s, struct cairn_err *err)
{
	/* every kind: an intent of any operation may cover an image it is making */
	return intent_list(c, "", scan_intent, s, err);
}

/* Undo an unfinished create or import; 1 when rolled back, 0 when it had finished. */
static int settle_create(struct cluster *c, const struct intent *it, bool is_image,
                         struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	const char *id = json_get_string(it->targets, "id");
	const char *pool = json_get_string(it->targets, "pool");
	const char *image = json_get_string(it->targets, "rbd_image");
	const char *ppool = json_get_string(it->targets, "parent_pool");
	const char *pimage = json_get_string(it->targets, "parent_image");
	const char *psnap = json_get_string(it->targets, "parent_snap");
	struct cairn_err lerr = {0};
	bool have_record = false;
	int ret;

	if (id) {
		ret = vol_record_load_id(c, is_image, id, &r, NULL, &lerr);
		if (ret < 0 && ret != -ENOENT)
			return err_set(err, ret, "%s", lerr.msg);
		have_record = ret >= 0;
	}
	if (have_record && r.status != VOL_STATUS_CREATING && r.status != VOL_STATUS_IMPORTING) {
		/* it reached its last step: only the intent was left */
		ret = intent_end(c, it->op, err);
		return ret < 0 ? ret : 0;
	}
	/* the RBD image is ours only if its name is the one derived from the intent's id */
	if (pool && image && vol_rbd_name_is_cairns(image) && id && strstr(image, id)) {
		ret = vol_rbd_remove(c, pool, image, NULL, err);
		if (ret < 0)
			return ret;
	}
	if (ppool && pimage && psnap && str_has_prefix(psnap, VOL_CLONE_SNAP_PREFIX)) {
		ret = vol_rbd_snap_remove(c, ppool, pimage, psnap, err);
		if (ret < 0)
			return ret;
	}
	if (have_record) {
		ret = dir_remove(c, vol_dir(is_image), r.name, r.id, err);
		if (ret < 0)
			return ret;
	}
	ret = intent_end(c, it->op, err);
	if (ret < 0)
		return ret;
	log_info("rolled back the unfinished %s '%s' (%s)", it->kind,
	         json_get_string(it->targets, "name") ?: "?", it->op);
	return 1;
}

/*
 * An interrupted flatten (when RBD's part got through, the record follows) or change of a
 * volume (extend, revert, QoS: the record takes the image's size, the image the record's
 * limits): settle(c, id) does it, then the intent goes.
 */
static int settle_volume(struct cluster *c, const struct intent *it,
                         int (*settle)(struct cluster *c, const char *id, struct cairn_err *err),
                         struct cairn_err *err)
{
	const char *id = json_get_string(it->targets, "id");
	const char *name = json_get_string(it->targets, "name");
	int r = id ? settle(c, id, err) : 0;

	if (r < 0)
		return r;
	if (intent_end(c, it->op, err) < 0)
		return err->code;
	log_info("%s the interrupted %s of '%s' (%s)", r > 0 ? "finished" : "dropped", it->kind,
	         name ?: "?", it->op);
	return r;
}

/* Finish an unfinished delete. */
static int settle_delete(struct cluster *c, const struct intent *it, bool is_image,
                         struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(freep) char *text = NULL;
	const char *id = json_get_string(it->targets, "id");
	const char *name = json_get_string(it->targets, "name");
	struct cairn_err lerr = {0};
	bool started = true; /* the record is gone: the delete got that far */
	int ret;

	if (id) {
		ret = vol_record_load_id(c, is_image, id, &r, &text, &lerr);
		if (ret < 0 && ret != -ENOENT)
			return err_set(err, ret, "%s", lerr.msg);
		if (ret >= 0)
			started = r.status == VOL_STATUS_DELETING;
		if (started && ret >= 0) {
			ret = vol_delete_record(c, &r, &text, true, true, NULL, err);
			if (ret < 0)
				return ret;
		}
	}
	ret = intent_end(c, it->op, err);
	if (ret < 0)
		return ret;
	if (started)
		log_info("finished the interrupted %s '%s' (%s)", it->kind, name ?: "?", it->op);
	else
		log_info("dropped the intent of %s '%s': it had changed nothing (%s)", it->kind,
		         name ?: "?", it->op);
	return started;
}

/* ---- records and images ------------------------------------------------------------------- */

struct record_scan {
	bool is_image;
	struct strset accounted;
	/* records that claim an image: checked against the pools afterwards */
	struct {
		char id[UUID_STR_LEN];
		char pool[NAME_MAX_LEN + 1];
		char rbd_image[VOL_RBD_NAME_MAX];
		bool is_image;
	} * claims;
	size_t n, cap;
};

static int scan_record(const char *id, const char *record, void *userdata)
{
	struct record_scan *s = userdata;
	_cleanup_(json_putp) struct json_object *o = json_tokener_parse(record);
	const char *pool, *image, *status;
	int r;

	if (!o)
		return 0;
	pool = json_get_string(o, "pool");
	image = json_get_string(o, "rbd_image");
	status = json_get_string(o, "status");
	r = strset_add(&s->accounted, pool, image);
	if (r < 0)
		return r;
	if (!pool || !image || !status ||
	    (strcmp(status, "available") != 0 && strcmp(status, "hidden") != 0))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		void *v = realloc(s->claims, cap * sizeof(*s->claims));
		if (!v)
			return -ENOMEM;
		s->claims = v;
		s->cap = cap;
	}
	str_copy(s->claims[s->n].id, UUID_STR_LEN, id);
	str_copy(s->claims[s->n].pool, sizeof(s->claims[0].pool), pool);
	str_copy(s->claims[s->n].rbd_image, sizeof(s->claims[0].rbd_image), image);
	s->claims[s->n].is_image = s->is_image;
	s->n++;
	return 0;
}

static int mark_missing(struct vol_record *r, void *arg, struct cairn_err *err)
{
	if (r->status != VOL_STATUS_AVAILABLE)
		return -ECANCELED; /* changed meanwhile: leave it */
	r->status = VOL_STATUS_ERROR;
	str_copy(r->error, sizeof(r->error), "image missing");
	return 0;
}

static bool image_exists(struct cluster *c, const char *pool, const char *image)
{
	_cleanup_(ro_image_close) struct ro_image roi = {0};
	struct cairn_err lerr = {0};

	return vol_open_ro(c, pool, image, NULL, &roi, &lerr) != -ENOENT;
}

int vol_reconcile(struct cluster *c, const struct vol_reconcile_opts *opts,
                  struct vol_reconcile_stats *ret_stats, struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);
	const char *pools[] = {conf->pools.images, conf->pools.volumes, conf->pools.vms};
	struct vol_reconcile_stats stats = {0};
	struct intent_scan scan = {0};
	struct record_scan records = {0};
	struct strset present = {0};
	char host[256] = "";
	char **names[ARRAY_SIZE(pools)] = {NULL};
	size_t nnames[ARRAY_SIZE(pools)] = {0};
	int ret = 0;

	if (opts && opts->host)
		str_copy(host, sizeof(host), opts->host);
	else if (gethostname(host, sizeof(host) - 1) < 0)
		str_copy(host, sizeof(host), "unknown");

	/* 1. intents of crashed or abandoned operations */
	scan.c = c;
	scan.opts = opts;
	scan.host = host;
	scan.now = time(NULL);
	scan.timeout = opts && opts->intent_timeout ? opts->intent_timeout : INTENT_TIMEOUT_DEFAULT;
	ret = scan_intents(c, &scan, err);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < scan.n; i++) {
		const struct intent *it = &scan.v[i];
		bool is_image = str_has_prefix(it->kind, "image.");
		struct cairn_err lerr = {0};
		int r;

		if (!it->abandoned)
			continue;
		if (strcmp(it->kind, "volume.create") == 0 || strcmp(it->kind, "image.import") == 0)
			r = settle_create(c, it, is_image, &lerr);
		else if (strcmp(it->kind, "volume.delete") == 0 ||
		         strcmp(it->kind, "image.delete") == 0)
			r = settle_delete(c, it, is_image, &lerr);
		else if (strcmp(it->kind, "volume.flatten") == 0)
			r = settle_volume(c, it, vol_flatten_settle, &lerr);
		else if (strcmp(it->kind, "volume.change") == 0)
			r = settle_volume(c, it, vol_change_settle, &lerr);
		else
			continue;
		if (r < 0) {
			log_warn("intent %s (%s) stays: %s", it->op, it->kind, lerr.msg);
			continue;
		}
		if (strcmp(it->kind, "volume.create") == 0 || strcmp(it->kind, "image.import") == 0)
			r > 0 ? stats.intents_rolled_back++ : stats.intents_rolled_forward++;
		else
			r > 0 ? stats.intents_rolled_forward++ : stats.intents_rolled_back++;
	}
	scan_release(&scan);

	/*
	 * 2. images nothing accounts for. The order matters: images first, then intents (an
	 * operation writes its intent before it makes an image), then records (it writes its
	 * record before it ends its intent), so a create in progress is always seen.
	 */
	for (size_t p = 0; p < ARRAY_SIZE(pools); p++) {
		rados_ioctx_t io;
		bool dup = false;

		for (size_t q = 0; q < p; q++)
			dup |= strcmp(pools[p], pools[q]) == 0;
		if (dup)
			continue;
		ret = cluster_ioctx_by_name(c, pools[p], &io, err);
		if (ret < 0)
			goto out;
		ret = vol_rbd_list(io, &names[p], &nnames[p], err);
		if (ret < 0)
			goto out;
		for (size_t i = 0; i < nnames[p]; i++) {
			ret = strset_add(&present, pools[p], names[p][i]);
			if (ret < 0) {
				err_set(err, ret, "out of memory");
				goto out;
			}
		}
	}
	scan.opts = opts;
	scan.host = host;
	scan.now = time(NULL);
	scan.timeout = UINT32_MAX;
	ret = scan_intents(c, &scan, err);
	if (ret < 0)
		goto out;
	for (int is_image = 0; is_image < 2; is_image++) {
		records.is_image = is_image;
		ret = dir_list(c, vol_dir(is_image), scan_record, &records, err);
		if (ret < 0)
			goto out;
	}
	for (size_t p = 0; p < ARRAY_SIZE(pools); p++) {
		for (size_t i = 0; i < nnames[p]; i++) {
			const char *name = names[p][i];
			struct cairn_err lerr = {0};
			int marked;

			if (!vol_rbd_name_is_cairns(name) ||
			    strset_has(&records.accounted, pools[p], name) ||
			    strset_has(&scan.covered, pools[p], name))
				continue;
			{
				_cleanup_(ro_image_close) struct ro_image roi = {0};
				if (vol_open_ro(c, pools[p], name, NULL, &roi, &lerr) < 0)
					continue;
				marked = vol_rbd_is_marked(roi.img);
			}
			if (marked <= 0)
				continue; /* not made by cairn (a Cinder volume, say): not ours */
			if (vol_rbd_remove(c, pools[p], name, NULL, &lerr) < 0) {
				log_warn("leftover image '%s/%s' stays: %s", pools[p], name,
				         lerr.msg);
				continue;
			}
			log_info("removed leftover image '%s/%s'", pools[p], name);
			stats.orphans_removed++;
		}
	}

	/* 3. records whose image vanished (checked once more: it may be brand new) */
	for (size_t i = 0; i < records.n; i++) {
		struct cairn_err lerr = {0};
		bool is_image = records.claims[i].is_image;

		if (!vol_pool_is_cairns(c, records.claims[i].pool))
			continue;
		if (strset_has(&present, records.claims[i].pool, records.claims[i].rbd_image) ||
		    image_exists(c, records.claims[i].pool, records.claims[i].rbd_image))
			continue;
		{
			_cleanup_(vol_record_releasep) struct vol_record r = {0};
			if (vol_record_load_id(c, is_image, records.claims[i].id, &r, NULL, &lerr) <
			    0)
				continue;
			if (r.status == VOL_STATUS_HIDDEN) {
				/* deleted by its user already; nothing left to keep */
				if (dir_remove(c, vol_dir(is_image), r.name, r.id, &lerr) >= 0)
					stats.records_missing++;
				continue;
			}
		}
		if (vol_record_modify(c, is_image, records.claims[i].id, mark_missing, NULL, NULL,
		                      &lerr) >= 0) {
			log_warn("%s %s: its rbd image '%s/%s' is missing", vol_what(is_image),
			         records.claims[i].id, records.claims[i].pool,
			         records.claims[i].rbd_image);
			stats.records_missing++;
		}
	}
	ret = 0;
out:
	scan_release(&scan);
	strset_free(&records.accounted);
	free(records.claims);
	strset_free(&present);
	for (size_t p = 0; p < ARRAY_SIZE(pools); p++)
		vol_strv_free(names[p], nnames[p]);
	if (ret >= 0 && ret_stats)
		*ret_stats = stats;
	return ret;
}
