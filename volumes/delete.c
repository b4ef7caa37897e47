/* SPDX-License-Identifier: MIT */
/*
 * volumes: deleting images and volumes without ever orphaning a clone, the hidden state, and
 * the background purge.
 */
#define LOG_MODULE "volumes"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "volumes/vol-internal.h"

#define CHAIN_MAX    256 /* hidden ancestors removed in one go */
#define PURGE_PASSES 64  /* hidden records removed leaf first: one level per pass */

static const char *delete_kind(bool is_image)
{
	return is_image ? "image.delete" : "volume.delete";
}

/* "web1, web2, pool/foreign" for a message, from the children of an image. */
void vol_children_names(struct cluster *c, const rbd_linked_image_spec_t *specs, size_t n,
                        char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used + 1 < len; i++) {
		char name[VOL_RBD_NAME_MAX * 2];
		_cleanup_(freep) char *text = NULL;
		struct cairn_err lerr = {0};
		int w;

		if (specs[i].trash)
			continue;
		snprintf(name, sizeof(name), "%s/%s", specs[i].pool_name, specs[i].image_name);
		if (str_has_prefix(specs[i].image_name, "volume-") &&
		    dir_get(c, DIR_VOLUMES, specs[i].image_name + strlen("volume-"), &text,
		            &lerr) >= 0) {
			struct vol_record r;
			if (vol_record_parse(text, false, &r, &lerr) >= 0) {
				str_copy(name, sizeof(name), r.name);
				vol_record_release(&r);
			}
		}
		w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (used >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
}

/* The record goes to status hidden and to the name "hidden-<id>", freeing its name. */
static int hide(struct cluster *c, struct vol_record *r, char **text, struct cairn_err *err)
{
	_cleanup_(freep) char *new_text = NULL;
	char hidden[NAME_MAX_LEN + 1], old_name[NAME_MAX_LEN + 1];
	int ret;

	snprintf(hidden, sizeof(hidden), "hidden-%s", r->id);
	str_copy(old_name, sizeof(old_name), r->name);
	if (!r->former_name[0])
		str_copy(r->former_name, sizeof(r->former_name), r->name);
	str_copy(r->name, sizeof(r->name), hidden);
	r->status = VOL_STATUS_HIDDEN;
	vol_time_now(r->updated);
	new_text = vol_record_format(r);
	if (!new_text)
		return err_set(err, -ENOMEM, "out of memory");
	ret = dir_rename(c, vol_dir(r->is_image), r->id, old_name, hidden, new_text, err);
	if (ret < 0)
		return ret;
	free(*text);
	*text = TAKE_PTR(new_text);
	log_debug("%s '%s' hidden as '%s' until its clones are gone", vol_what(r->is_image),
	          old_name, hidden);
	return 0;
}

/* 1: somebody has the image open (a VM, rbd-nbd, another host); 0: nobody. This
 * process's own watch (a background pass that has it open a moment, e.g. the purge removing
 * a clone's snapshot from it) is waited for, up to a few seconds. */
#define OWN_WATCH_WAIT_MS 5000

static int in_use(struct cluster *c, rbd_image_t img)
{
	uint64_t self = rados_get_instance_id(cluster_rados(c));

	for (int waited = 0;; waited += 100) {
		rbd_image_watcher_t w[8];
		size_t n = ARRAY_SIZE(w);
		bool others = false;
		int r;

		r = rbd_watchers_list(img, w, &n);
		if (r == -ERANGE)
			return 1;
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			others |= (uint64_t)w[i].id != self;
		rbd_watchers_list_cleanup(w, n);
		if (others)
			return 1;
		if (n == 0)
			return 0;
		if (waited >= OWN_WATCH_WAIT_MS)
			return 1;
		usleep(100 * 1000);
	}
}

/*
 * The steps after the decision to remove: intent, status deleting, snapshots, trash or
 * remove, record, parent. direct: remove rather than trash.
 */
static int delete_finish(struct cluster *c, struct vol_record *r, char **text, bool direct,
                         struct cairn_progress *progress, int depth, struct cairn_err *err);

static void parent_release(struct cluster *c, const struct vol_record *child, int depth)
{
	const struct vol_parent *p = &child->parent;
	struct cairn_err lerr = {0};

	if (p->kind == VOL_PARENT_NONE || p->kind == VOL_PARENT_BACKUP)
		return; /* a backup's snapshot is the backup's, never hidden */
	/* the hidden snapshot cairn made for this clone; with a clone v2 child still in the
	 * trash RBD moves it to the snapshot trash and removes it with the child */
	if (p->kind == VOL_PARENT_VOLUME && p->rbd_snap[0] &&
	    str_has_prefix(p->rbd_snap, VOL_CLONE_SNAP_PREFIX) && p->pool[0] && p->rbd_image[0]) {
		if (vol_rbd_snap_remove(c, p->pool, p->rbd_image, p->rbd_snap, &lerr) < 0)
			log_debug("hidden snapshot stays for now: %s", lerr.msg);
	}
	if (p->id[0] && depth < CHAIN_MAX) {
		err_clear(&lerr);
		/* the parent of a snapshot clone is a volume too */
		struct vol_record parent;
		_cleanup_(freep) char *ptext = NULL;
		bool is_image = p->kind == VOL_PARENT_IMAGE;

		if (vol_record_load_id(c, is_image, p->id, &parent, &ptext, &lerr) < 0)
			return;
		if (parent.status == VOL_STATUS_HIDDEN) {
			struct ro_image pimg = {0};
			rbd_linked_image_spec_t *kids = NULL;
			size_t n = 0;
			bool has_kids = true;

			if (vol_open_ro(c, parent.pool, parent.rbd_image, NULL, &pimg, &lerr) >=
			    0) {
				if (image_clones(pimg.img, &kids, &n, &lerr) >= 0) {
					has_kids = n > 0;
					image_clones_free(kids, n);
				}
				ro_image_close(&pimg);
			} else if (lerr.code == -ENOENT) {
				has_kids = false;
			}
			if (!has_kids &&
			    delete_finish(c, &parent, &ptext, true, NULL, depth + 1, &lerr) < 0)
				log_debug("hidden %s '%s' stays for now: %s",
				          vol_what(parent.is_image), parent.name, lerr.msg);
		}
		vol_record_release(&parent);
	}
}

void vol_parent_release(struct cluster *c, const struct vol_record *child)
{
	parent_release(c, child, 0);
}

static int delete_finish(struct cluster *c, struct vol_record *r, char **text, bool direct,
                         struct cairn_progress *progress, int depth, struct cairn_err *err)
{
	_cleanup_(json_putp) struct json_object *targets = json_object_new_object();
	const struct cairn_config *conf = cluster_config(c);
	const char *what = vol_what(r->is_image);
	enum vol_status prior = r->status;
	char op[UUID_STR_LEN], fp[64];
	bool marked = false;
	rados_ioctx_t io;
	int ret;

	if (!targets || json_add_string(targets, "id", r->id) < 0 ||
	    json_add_string(targets, "name", r->name) < 0 ||
	    json_add_string(targets, "pool", r->pool) < 0 ||
	    json_add_string(targets, "rbd_image", r->rbd_image) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	uuid_generate_str(op);
	ret = intent_begin(c, op, delete_kind(r->is_image), targets, err);
	if (ret < 0)
		return ret;
	snprintf(fp, sizeof(fp), "%s.intent", delete_kind(r->is_image));
	failpoint(fp);

	if (r->status != VOL_STATUS_DELETING) {
		r->status = VOL_STATUS_DELETING;
		str_copy(r->op, sizeof(r->op), op);
		ret = vol_record_store(c, r, text, err);
		if (ret < 0) {
			r->status = prior;
			goto fail;
		}
	}
	marked = true;
	snprintf(fp, sizeof(fp), "%s.marked", delete_kind(r->is_image));
	failpoint(fp);

	ret = cluster_ioctx_by_name(c, r->pool, &io, err);
	if (ret < 0)
		goto fail;
	if (!direct && conf->volumes.deferred_delete) {
		{
			_cleanup_(rbd_closep) rbd_image_t img = NULL;
			struct cairn_err lerr = {0};

			ret = vol_open(c, r->pool, r->rbd_image, NULL, &img, &lerr);
			if (ret == -ENOENT)
				goto trash; /* gone, or its move to the trash was cut short */
			if (ret < 0) {
				err_set(err, ret, "%s", lerr.msg);
				goto fail;
			}
			/* out of its group, without snapshots: the trash takes it as it is */
			ret = vol_rbd_strip(c, img, r->pool, r->rbd_image, err);
			if (ret < 0)
				goto fail;
			/* the purge removes only what carries cairn's mark (managed ones too) */
			if (vol_rbd_is_marked(img) == 0)
				rbd_metadata_set(img, VOL_MARK_KEY, r->id);
		}
		snprintf(fp, sizeof(fp), "%s.snapshots", delete_kind(r->is_image));
		failpoint(fp);
	trash:
		/* an image out of the directory whose move was cut short (an outage) sits in the
		 * trash as "moving", which no trash remove takes: librbd finishes that move */
		ret = rbd_trash_move(io, r->rbd_image, conf->volumes.trash_delay);
		if (ret == -ENOENT)
			ret = 0;
		if (ret == -EBUSY) {
			err_set(err, ret, "%s '%s' is in use", what, r->name);
			goto fail;
		}
		if (ret < 0) {
			err_set(err, ret, "cannot move %s '%s' to the trash: %s", what, r->name,
			        strerror(-ret));
			goto fail;
		}
		log_debug("%s %s/%s moved to the trash", what, r->pool, r->rbd_image);
	} else {
		struct intent_keeper keeper;

		intent_keeper_start(&keeper, c, op, "removing");
		ret = vol_rbd_remove(c, r->pool, r->rbd_image, progress, err);
		intent_keeper_stop(&keeper);
		if (ret < 0)
			goto fail;
	}
	snprintf(fp, sizeof(fp), "%s.removed", delete_kind(r->is_image));
	failpoint(fp);

	ret = dir_remove(c, vol_dir(r->is_image), r->name, r->id, err);
	if (ret < 0)
		goto fail;
	snprintf(fp, sizeof(fp), "%s.unrecorded", delete_kind(r->is_image));
	failpoint(fp);
	parent_release(c, r, depth);
	{
		struct cairn_err lerr = {0};
		if (intent_end(c, op, &lerr) < 0)
			log_warn("intent %s of deleting '%s' stays: %s", op, r->name, lerr.msg);
	}
	return 0;

fail:
	/* the delete did not go through: the record says what is still there */
	{
		struct cairn_err lerr = {0};

		/* in use: nothing was removed that matters, the volume stays as it was */
		if (marked && ret == -EBUSY) {
			r->status = prior == VOL_STATUS_DELETING ? VOL_STATUS_AVAILABLE : prior;
			if (vol_record_store(c, r, text, &lerr) >= 0)
				marked = false;
		}
		if (!marked)
			intent_end(c, op, &lerr);
		else /* the intent stays: the next reconcile pass finishes the delete */
			cluster_intent_orphan(c, op);
	}
	return ret;
}

/*
 * A group snapshot is the user's too: one consistent point across volumes, and removing the
 * volume removes it from all of them. Being in a group is no reason to refuse (the delete
 * takes the volume out of it); a group snapshot of the user's that includes it is. A backup
 * set's goes with the volume (docs/api.md).
 */
static int group_snaps_refuse(rbd_image_t img, const char *name, struct cairn_err *err)
{
	char list[200];
	int n = vol_rbd_group_snaps(img, list, sizeof(list), err);

	if (n <= 0)
		return n;
	return err_set(err, -ENOTEMPTY,
	               "volume '%s' is in group snapshot%s %s: delete %s first (DELETE "
	               "/v1/snapshots/group/{group}/{snap}, cairn snapshot group-delete) or force",
	               name, n > 1 ? "s" : "", list, n > 1 ? "them" : "it");
}

int vol_delete_check_groups(struct cluster *c, const char *name, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(ro_image_close) struct ro_image roi = {0};
	struct cairn_err lerr = {0};
	int ret;

	ret = vol_record_load(c, false, name, &r, NULL, err);
	if (ret < 0)
		return ret;
	if (r.status != VOL_STATUS_AVAILABLE)
		return 0; /* the delete itself says what it does with those */
	ret = vol_open_ro(c, r.pool, r.rbd_image, NULL, &roi, &lerr);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return err_set(err, ret, "%s", lerr.msg);
	return group_snaps_refuse(roi.img, r.name, err);
}

int vol_delete_record(struct cluster *c, struct vol_record *r, char **text, bool force,
                      bool deferred_ok, struct cairn_progress *progress, struct cairn_err *err)
{
	_cleanup_(ro_image_close) struct ro_image roi = {0};
	rbd_linked_image_spec_t *kids = NULL;
	struct vol_snap *snaps = NULL;
	size_t nkids = 0, nsnaps = 0, live = 0;
	struct cairn_err lerr = {0};
	const char *what = vol_what(r->is_image);
	char list[200];
	int ret;

	ret = vol_open_ro(c, r->pool, r->rbd_image, NULL, &roi, &lerr);
	/* nothing left in RBD but the record, or a move to the trash cut short (which the
	 * trash path finishes) */
	if (ret == -ENOENT)
		return delete_finish(c, r, text, false, progress, 0, err);
	if (ret < 0)
		return err_set(err, ret, "%s", lerr.msg);

	ret = image_clones(roi.img, &kids, &nkids, err);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < nkids; i++)
		if (!kids[i].trash)
			live++;

	if (!r->is_image && !force) {
		ret = vol_rbd_snaps(roi.img, &snaps, &nsnaps, err);
		if (ret < 0)
			goto out;
		list[0] = '\0';
		for (size_t i = 0, used = 0; i < nsnaps; i++) {
			if (!vol_snap_is_user(&snaps[i]))
				continue;
			int w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
			                 snaps[i].name);
			if (w > 0 && used + (size_t)w < sizeof(list))
				used += (size_t)w;
		}
		vol_rbd_snaps_free(snaps, nsnaps);
		if (list[0]) {
			ret = err_set(err, -ENOTEMPTY,
			              "volume '%s' has snapshots (%s): delete them first or force",
			              r->name, list);
			goto out;
		}
		ret = group_snaps_refuse(roi.img, r->name, err);
		if (ret < 0)
			goto out;
	}

	if (nkids > 0) {
		if (live > 0 && !deferred_ok) {
			vol_children_names(c, kids, nkids, list, sizeof(list));
			ret = err_set(err, -ENOTEMPTY, "%s '%s' has clones: %s", what, r->name,
			              list);
			goto out;
		}
		ret = hide(c, r, text, err);
		if (ret >= 0)
			ret = 1;
		goto out;
	}

	ret = in_use(c, roi.img);
	if (ret > 0) {
		ret = err_set(err, -EBUSY, "%s '%s' is in use", what, r->name);
		goto out;
	}
	ro_image_close(&roi);
	ret = delete_finish(c, r, text, false, progress, 0, err);
out:
	image_clones_free(kids, nkids);
	return ret;
}

/*
 * After a delete lost a race (its guarded record update found the record changed, the
 * hidden name taken, or the image open by someone): what the record says now. Another
 * request deleting the same volume (marked "deleting" by an operation other than own_op,
 * this request's own when it got as far as marking the record) makes this one a 404, as
 * if it had come a moment later; any other change is retried (-EAGAIN); otherwise the
 * first answer stands.
 */
static int delete_lost(struct cluster *c, const struct vol_record *r, const char *own_op, int ret,
                       struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record now = {0};
	_cleanup_(freep) char *text = NULL;
	struct cairn_err lerr = {0};
	int r2;

	r2 = vol_record_load_id(c, false, r->id, &now, &text, &lerr);
	if (r2 == -ENOENT) {
		err_clear(err);
		return err_set(err, -ENOENT, "volume '%s' not found: it was deleted meanwhile",
		               r->name);
	}
	if (r2 < 0)
		return ret;
	if (now.status == VOL_STATUS_HIDDEN) {
		err_clear(err);
		return 1;
	}
	if (now.status == VOL_STATUS_DELETING && strcmp(now.op, own_op) != 0) {
		err_clear(err);
		return err_set(err, -ENOENT,
		               "volume '%s' not found: it is being deleted (operation %s)", r->name,
		               now.op);
	}
	if (ret == -ECANCELED) {
		err_clear(err);
		return -EAGAIN;
	}
	return ret;
}

int vol_delete(struct cluster *c, const char *name, bool force, struct cairn_progress *progress,
               struct cairn_err *err)
{
	int ret = 0;

	for (int attempt = 0; attempt < 4; attempt++) {
		_cleanup_(vol_record_releasep) struct vol_record r = {0};
		_cleanup_(freep) char *text = NULL;
		char op_before[sizeof(r.op)];

		ret = vol_record_load(c, false, name, &r, &text, err);
		if (ret < 0)
			return ret;
		switch (r.status) {
		case VOL_STATUS_HIDDEN:
			return 1; /* deleted already, waiting for its clones */
		case VOL_STATUS_CREATING:
		case VOL_STATUS_IMPORTING:
			return err_set(err, -EBUSY, "volume '%s' is being created", name);
		default:
			break;
		}
		str_copy(op_before, sizeof(op_before), r.op);
		ret = vol_delete_record(c, &r, &text, force, true, progress, err);
		if (ret != -ECANCELED && ret != -EBUSY && ret != -EEXIST)
			return ret;
		/* r.op changed: this request marked the record "deleting" */
		ret = delete_lost(c, &r, strcmp(r.op, op_before) != 0 ? r.op : "", ret, err);
		if (ret != -EAGAIN)
			return ret;
	}
	return err_set(err, -EBUSY, "volume '%s' keeps changing: try again", name);
}

int img_delete(struct cluster *c, const char *name, bool deferred, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(freep) char *text = NULL;
	int ret;

	ret = vol_record_load(c, true, name, &r, &text, err);
	if (ret < 0)
		return ret;
	switch (r.status) {
	case VOL_STATUS_HIDDEN:
		return 1;
	case VOL_STATUS_CREATING:
	case VOL_STATUS_IMPORTING:
		return err_set(err, -EBUSY, "image '%s' is being imported", name);
	default:
		break;
	}
	return vol_delete_record(c, &r, &text, true, deferred, NULL, err);
}

int vol_hidden_try_remove(struct cluster *c, bool is_image, const char *id, struct cairn_err *err)
{
	_cleanup_(vol_record_releasep) struct vol_record r = {0};
	_cleanup_(freep) char *text = NULL;
	rbd_linked_image_spec_t *kids = NULL;
	size_t n = 0;
	struct cairn_err lerr = {0};
	int ret;

	ret = vol_record_load_id(c, is_image, id, &r, &text, err);
	if (ret < 0)
		return ret == -ENOENT ? 0 : ret;
	if (r.status != VOL_STATUS_HIDDEN)
		return 0;
	{
		_cleanup_(ro_image_close) struct ro_image roi = {0};

		ret = vol_open_ro(c, r.pool, r.rbd_image, NULL, &roi, &lerr);
		if (ret < 0 && ret != -ENOENT)
			return err_set(err, ret, "%s", lerr.msg);
		if (ret >= 0) {
			ret = image_clones(roi.img, &kids, &n, err);
			if (ret < 0)
				return ret;
			image_clones_free(kids, n);
			if (n > 0)
				return 0;
		}
	}
	ret = delete_finish(c, &r, &text, true, NULL, 0, err);
	return ret < 0 ? ret : 1;
}

/* ---- purge ------------------------------------------------------------------------------------ */

/*
 * A move to the trash cut short (an outage between librbd's steps) leaves its entry
 * "moving", which rbd_trash_remove refuses with -EUCLEAN. librbd finishes such a move when
 * asked to move that name again; unless the name is another image's by now.
 */
static int trash_move_finish(struct cluster *c, rados_ioctx_t io, const rbd_trash_image_info_t *e)
{
	struct ro_image roi = {0};
	char id[VOL_RBD_NAME_MAX];
	int r;

	r = cluster_ro_open(c, io, e->name, NULL, NULL, &roi);
	if (r == 0) {
		r = rbd_get_id(roi.img, id, sizeof(id));
		ro_image_close(&roi);
		if (r < 0 || strcmp(id, e->id) != 0)
			return -EEXIST;
	} else if (r != -ENOENT) {
		return r;
	}
	r = rbd_trash_move(io, e->name, 0);
	if (r >= 0)
		log_info("finished the move of %s (%s) to the trash, cut short before", e->name,
		         e->id);
	return r;
}

static int purge_trash(struct cluster *c, struct lease *lock, const char *pool, unsigned *removed)
{
	const struct cairn_config *conf = cluster_config(c);
	struct cairn_err lerr = {0};
	rbd_trash_image_info_t *entries = NULL;
	size_t max = 64;
	time_t now = time(NULL);
	bool lost = false;
	rados_ioctx_t io;
	int r;

	r = cluster_ioctx_by_name(c, pool, &io, &lerr);
	if (r < 0)
		return r;
	for (;;) {
		entries = calloc(max, sizeof(*entries));
		if (!entries)
			return -ENOMEM;
		r = rbd_trash_list(io, entries, &max);
		if (r != -ERANGE)
			break;
		free(entries);
	}
	if (r < 0) {
		free(entries);
		return r;
	}
	for (size_t i = 0; i < max; i++) {
		rbd_trash_image_info_t *e = &entries[i];
		struct ro_image roi = {0};
		int marked;

		if (e->source != RBD_TRASH_IMAGE_SOURCE_USER || now < e->deferment_end_time ||
		    now - e->deletion_time < (time_t)conf->volumes.trash_delay)
			continue;
		if (cluster_ro_open(c, io, NULL, e->id, NULL, &roi) < 0)
			continue;
		marked = vol_rbd_is_marked(roi.img);
		ro_image_close(&roi);
		if (marked <= 0)
			continue; /* not cairn's */
		lost = lease_renew(lock, &lerr) < 0;
		if (lost)
			break;
		r = rbd_trash_remove(io, e->id, false);
		if (r == -EUCLEAN && trash_move_finish(c, io, e) == 0)
			r = rbd_trash_remove(io, e->id, false);
		if (r < 0) {
			log_debug("trashed image %s/%s stays: %s", pool, e->name, strerror(-r));
			continue;
		}
		log_debug("purged %s/%s from the trash", pool, e->name);
		(*removed)++;
	}
	rbd_trash_list_cleanup(entries, max);
	free(entries);
	return lost ? -EBUSY : 0;
}

struct hidden_ids {
	char (*ids)[UUID_STR_LEN];
	size_t n, cap;
};

static int collect_hidden(const char *id, const char *record, void *userdata)
{
	struct hidden_ids *h = userdata;
	_cleanup_(json_putp) struct json_object *o = json_tokener_parse(record);

	if (!o || !json_get_string(o, "status") ||
	    strcmp(json_get_string(o, "status"), "hidden") != 0)
		return 0;
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		void *p = realloc(h->ids, cap * sizeof(*h->ids));
		if (!p)
			return -ENOMEM;
		h->ids = p;
		h->cap = cap;
	}
	str_copy(h->ids[h->n++], UUID_STR_LEN, id);
	return 0;
}

/* The trashed images whose delay is over, then the hidden ones without children: how many. */
static int purge_locked(struct cluster *c, struct lease *lock, const char *const *pools,
                        size_t npools, struct cairn_err *err)
{
	unsigned removed = 0;
	int r;

	for (size_t i = 0; i < npools; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen |= strcmp(pools[i], pools[j]) == 0;
		if (seen)
			continue;
		r = purge_trash(c, lock, pools[i], &removed);
		if (r == -EBUSY)
			return err_set(err, r, "lost the purge lock: another host purges now");
		if (r < 0)
			log_debug("cannot purge the trash of '%s': %s", pools[i], strerror(-r));
	}

	/* hidden snapshots and records without children left: leaves first, one level per
	 * pass */
	for (int pass = 0; pass < PURGE_PASSES; pass++) {
		unsigned before = removed;
		struct cairn_err serr = {0};

		if (vol_snap_hidden_settle(c, &removed, &serr) < 0)
			log_debug("cannot settle the hidden snapshots: %s", serr.msg);

		for (int is_image = 0; is_image < 2; is_image++) {
			struct hidden_ids h = {0};

			r = dir_list(c, vol_dir(is_image), collect_hidden, &h, err);
			if (r < 0) {
				free(h.ids);
				return r;
			}
			for (size_t i = 0; i < h.n; i++) {
				struct cairn_err lerr = {0};

				r = lease_renew(lock, err);
				if (r < 0) {
					free(h.ids);
					return r;
				}
				r = vol_hidden_try_remove(c, is_image, h.ids[i], &lerr);
				if (r > 0)
					removed++;
				else if (r < 0)
					log_debug("hidden %s %s stays: %s", vol_what(is_image),
					          h.ids[i], lerr.msg);
			}
			free(h.ids);
		}
		if (removed == before)
			break;
	}
	return (int)removed;
}

/*
 * One host purges at a time: two rbd_trash_remove of one image from two clients, one of
 * them failing with -EBUSY because the other has the image open to remove it, crashed
 * librbd 16.2 (an exception out of an io_context_pool handler: std::system_error, abort).
 * A lease (pools/lease.c): a process of this host that died holding it is broken at once,
 * one of another host stops the others PURGE_LOCK_LEASE seconds.
 */
#define PURGE_LOCK_OID   "lock.purge"
#define PURGE_LOCK_NAME  "cairn.purge"
#define PURGE_LOCK_LEASE 120 /* s: renewed between images; one removal may take a while */

int vol_purge(struct cluster *c, struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);
	const char *pools[] = {conf->pools.images, conf->pools.volumes, conf->pools.vms};
	struct lease lock;
	int r;

	r = lease_init(c, &lock, PURGE_LOCK_OID, PURGE_LOCK_NAME, "cairn trash purge",
	               PURGE_LOCK_LEASE, NULL, err);
	if (r < 0)
		return r;
	r = lease_take_wait(&lock, 0, true); /* a pass cut short leaves nothing to mend */
	if (r == -EBUSY) {
		log_debug("purge: another host is purging now");
		return 0;
	}
	if (r < 0)
		return err_set(err, r, "cannot take the purge lock: %s", strerror(-r));
	r = purge_locked(c, &lock, pools, ARRAY_SIZE(pools), err);
	lease_release(&lock, false);
	return r;
}
