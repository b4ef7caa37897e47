/* SPDX-License-Identifier: MIT */
/*
 * backup: retention — which backups of a volume [backup] keep_last, keep_daily and
 * keep_weekly keep, and the deletion of the others.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup/backup-internal.h"

/* "YYYY-MM-DD" of a created time, or the ISO week "YYYY-Www": -EINVAL when unreadable. */
static int period_key(const char *created, bool week, char key[16])
{
	struct tm tm = {0};
	const char *end = strptime(created, "%Y-%m-%dT%H:%M:%S", &tm);
	time_t t;

	if (!end)
		return -EINVAL;
	if (!week) {
		strftime(key, 16, "%Y-%m-%d", &tm);
		return 0;
	}
	t = timegm(&tm); /* fills in the weekday and the day of the year */
	if (t == (time_t)-1 || !gmtime_r(&t, &tm))
		return -EINVAL;
	strftime(key, 16, "%G-W%V", &tm);
	return 0;
}

/* Keep the newest available backup of each of the last `count` periods that have one. */
static int keep_periods(const struct backup_record *v, size_t n, uint32_t count, bool week,
                        bool *keep)
{
	char last[16] = "", key[16];
	uint32_t seen = 0;

	for (size_t i = n; i-- > 0 && seen < count;) {
		if (v[i].status != BACKUP_STATUS_AVAILABLE)
			continue;
		if (period_key(v[i].created, week, key) < 0)
			return -EINVAL;
		if (strcmp(key, last) == 0)
			continue; /* an older one of a period already kept */
		keep[i] = true;
		memcpy(last, key, sizeof(last));
		seen++;
	}
	return 0;
}

int bk_retention_select(const struct backup_record *v, size_t n, const struct bk_retention *rules,
                        bool *keep)
{
	bool all = !rules->last && !rules->daily && !rules->weekly;
	uint32_t kept = 0;
	int r;

	for (size_t i = 0; i < n; i++)
		keep[i] = all && v[i].status == BACKUP_STATUS_AVAILABLE;
	if (all)
		return 0;
	for (size_t i = n; i-- > 0 && kept < rules->last;)
		if (v[i].status == BACKUP_STATUS_AVAILABLE) {
			keep[i] = true;
			kept++;
		}
	r = keep_periods(v, n, rules->daily, false, keep);
	if (r >= 0)
		r = keep_periods(v, n, rules->weekly, true, keep);
	if (r < 0)
		return r;
	/* what is kept keeps its base: parents are older, so newest first reaches them after */
	for (size_t i = n; i-- > 0;) {
		if (!keep[i] || !v[i].parent[0])
			continue;
		for (size_t k = 0; k < i; k++)
			if (strcmp(v[k].id, v[i].parent) == 0 &&
			    v[k].status == BACKUP_STATUS_AVAILABLE)
				keep[k] = true;
	}
	return 0;
}

int bk_prune_locked(struct cluster *c, const char *volume_id, struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);
	const struct bk_retention rules = {
	        .last = conf->backup.keep_last,
	        .daily = conf->backup.keep_daily,
	        .weekly = conf->backup.keep_weekly,
	};
	struct bk_record_set set = {0};
	_cleanup_(freep) bool *keep = NULL;
	int deleted = 0, r;

	if (!rules.last && !rules.daily && !rules.weekly)
		return 0;
	r = bk_record_list(c, volume_id, &set, err);
	if (r < 0)
		return r;
	keep = calloc(set.n ? set.n : 1, sizeof(*keep));
	if (!keep) {
		r = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	r = bk_retention_select(set.v, set.n, &rules, keep);
	if (r < 0) {
		err_set(err, r, "retention: a backup of volume '%s' has an unreadable time",
		        volume_id);
		goto out;
	}
	/* newest first: an incremental goes before the base it is built on */
	for (size_t i = set.n; i-- > 0;) {
		const struct backup_record *b = &set.v[i];
		struct cairn_err lerr = {0};

		if (keep[i] ||
		    (b->status != BACKUP_STATUS_AVAILABLE && b->status != BACKUP_STATUS_FAILED))
			continue;
		r = bk_delete_locked(c, b->id, &lerr);
		if (r == -ENOTEMPTY) {
			/* volumes cloned from it, or a kept backup built on it after all */
			log_info("retention keeps backup %s: %s", b->id, lerr.msg);
			continue;
		}
		if (r < 0) {
			err_set(err, r, "%s", lerr.msg);
			goto out;
		}
		deleted++;
	}
	r = deleted;
out:
	bk_record_set_release(&set);
	return r;
}

int backup_prune(struct cluster *c, const char *volume, struct cairn_err *err)
{
	struct vol_record vol = {0};
	struct bk_lock lock;
	char op[UUID_STR_LEN];
	int r;

	r = bk_volume_load(c, volume, &vol, err);
	if (r < 0)
		return r;
	uuid_generate_str(op);
	r = bk_lock_acquire(c, vol.id, vol.name, op, &lock, err);
	if (r >= 0) {
		r = bk_prune_locked(c, vol.id, err);
		bk_lock_release(&lock);
	}
	vol_record_release(&vol);
	return r;
}
