/* SPDX-License-Identifier: MIT */
/*
 * backup: instant restore — a new volume that is a copy-on-write clone of a backup's
 * snapshot in the backups pool: O(1) whatever the size, usable at once, flattened later
 * (or never) like any clone.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "backup/backup-internal.h"

int backup_restore_instant(struct cluster *c, const char *id, const struct backup_restore_params *p,
                           struct json_object **ret_volume, struct cairn_err *err)
{
	const struct cairn_config *conf = cluster_config(c);
	struct vol_create_params vp = {0};
	struct vol_parent parent = {.kind = VOL_PARENT_BACKUP};
	struct backup_record b;
	char name[NAME_MAX_LEN + 1];
	int r;

	if (!p)
		return err_set(err, -EINVAL, "no restore parameters");
	if (p->original)
		return err_set(err, -EINVAL,
		               "an instant restore makes a new volume: it cannot go over the "
		               "original");
	r = bk_record_load(c, id, &b, NULL, err);
	if (r < 0)
		return r;
	if (b.status != BACKUP_STATUS_AVAILABLE)
		return err_set(err, -EBUSY, "backup '%s' is %s, not available", id,
		               backup_status_to_string(b.status));
	if (b.target != BACKUP_TARGET_POOL)
		return err_set(err, -EINVAL,
		               "backup '%s' is a file: only backups in the backups pool can be "
		               "restored instantly (restore it with a copy)",
		               id);
	if (conf->backup.cluster_conf[0])
		return err_set(err, -EINVAL,
		               "the backups pool is in another cluster ('%s'): a clone cannot "
		               "cross clusters (restore with a copy)",
		               conf->backup.cluster_conf);
	if (p->volume)
		str_copy(name, sizeof(name), p->volume);
	else
		bk_restore_name(name, &b);

	str_copy(parent.id, sizeof(parent.id), b.id);
	str_copy(parent.name, sizeof(parent.name), b.id);
	str_copy(parent.pool, sizeof(parent.pool), conf->pools.backups);
	bk_image_name(parent.rbd_image, b.volume_id);
	bk_image_snap_name(parent.rbd_snap, b.id);
	vp.name = name;
	vp.backup = &parent;
	vp.op_id = p->op_id;
	r = vol_create(c, &vp, ret_volume, err);
	if (r >= 0)
		log_info("backup %s restored instantly as volume '%s' (a clone of %s/%s@%s)", id,
		         name, parent.pool, parent.rbd_image, parent.rbd_snap);
	return r;
}
