/* SPDX-License-Identifier: MIT */
/*
 * backup: one backup (or restore over the original, or delete) of a volume at a time,
 * from any host: a lease (pools/lease.c) on "lock.backup.<volume id>" in the state
 * namespace, its cookie "<host>:<pid>:<op id>", so that a reconciler on the same host can
 * tell a dead holder from a live one.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/backup-internal.h"

static int lock_init(struct cluster *c, const char *volume_id, const char *op_id, struct bk_lock *l,
                     struct cairn_err *err)
{
	char oid[128];

	snprintf(oid, sizeof(oid), "%s%s", BACKUP_LOCK_PREFIX, volume_id);
	return lease_init(c, &l->lease, oid, BACKUP_LOCK_NAME, "cairn backup", BACKUP_LOCK_LEASE,
	                  op_id, err);
}

int bk_lock_acquire(struct cluster *c, const char *volume_id, const char *volume, const char *op_id,
                    struct bk_lock *ret, struct cairn_err *err)
{
	struct lease_holder who;
	struct bk_lock l;
	int r;

	r = lock_init(c, volume_id, op_id, &l, err);
	if (r < 0)
		return r;
	r = lease_take(&l.lease);
	if (r == -EBUSY) {
		if (lease_holder(&l.lease, &who) <= 0)
			str_copy(who.host, sizeof(who.host), "unknown");
		return err_set(err, -EBUSY,
		               "a backup of volume '%s' is running on host '%s' (or a restore or "
		               "delete of one of its backups)",
		               volume, who.host);
	}
	if (r < 0)
		return err_set(err, r, "cannot lock volume '%s' for backup: %s", volume,
		               strerror(-r));
	*ret = l;
	log_debug("locked %s as %s", l.lease.oid, l.lease.cookie);
	return 0;
}

int bk_lock_acquire_wait(struct cluster *c, const char *volume_id, const char *volume,
                         const char *op_id, int wait_ms, struct bk_lock *ret, struct cairn_err *err)
{
	struct bk_lock l;
	int r;

	r = lock_init(c, volume_id, op_id, &l, err);
	if (r < 0)
		return r;
	r = lease_take_wait(&l.lease, wait_ms, false);
	if (r == -EBUSY)
		return bk_lock_acquire(c, volume_id, volume, op_id, ret,
		                       err); /* names the holder */
	if (r < 0)
		return err_set(err, r, "cannot lock volume '%s' for backup: %s", volume,
		               strerror(-r));
	*ret = l;
	return 0;
}

int bk_lock_renew(struct bk_lock *l, struct cairn_err *err)
{
	return l ? lease_renew(&l->lease, err) : 0;
}

void bk_lock_release_remove(struct bk_lock *l)
{
	if (l)
		lease_release(&l->lease, true);
}

void bk_lock_release(struct bk_lock *l)
{
	if (l)
		lease_release(&l->lease, false);
}

/*
 * A dead client's watches on the images it had open linger until the OSDs time them out
 * (30 s), and librbd will not remove an image that has watchers. Blocklisting the dead
 * client (as librbd does when it breaks a dead owner's exclusive lock) drops them now.
 */
int bk_blocklist(struct cluster *c, const char *addr)
{
	_cleanup_(freep) char *cmd = NULL, *out = NULL;
	struct cairn_err lerr = {0};
	int r;

	if (!addr[0] || strchr(addr, '"') || strchr(addr, '\\'))
		return -EINVAL;
	cmd = str_printf("{\"prefix\": \"osd blocklist\", \"blocklistop\": \"add\", "
	                 "\"addr\": \"%s\", \"expire\": 3600.0}",
	                 addr);
	if (!cmd)
		return -ENOMEM;
	r = cluster_mon_command(c, cmd, &out, &lerr);
	if (r < 0) {
		log_warn("cannot blocklist dead client %s: %s", addr, lerr.msg);
		return r;
	}
	log_info("blocklisted dead client %s", addr);
	return rados_wait_for_latest_osdmap(cluster_rados(c));
}

int bk_lock_take_abandoned(struct cluster *c, const char *volume_id, const char *host, bool startup,
                           struct bk_lock *ret, struct cairn_err *err)
{
	char op[UUID_STR_LEN];
	struct lease_holder who;
	struct bk_lock l;
	int r;

	uuid_generate_str(op);
	r = lock_init(c, volume_id, op, &l, err);
	if (r < 0)
		return r;
	r = lease_take(&l.lease);
	if (r == -EBUSY) {
		r = lease_holder(&l.lease, &who);
		if (r < 0)
			return err_set(err, r, "cannot list the holders of '%s': %s", l.lease.oid,
			               strerror(-r));
		/* at startup every other process of this host is an earlier cairnd: gone */
		if (r == 0 || strcmp(who.host, host) != 0 || !lease_holder_gone(&who, startup))
			return -EBUSY;
		bk_blocklist(c, who.addr);
		r = lease_break(&l.lease, &who);
		if (r < 0)
			return err_set(err, r, "cannot break the lock '%s': %s", l.lease.oid,
			               strerror(-r));
		r = lease_take(&l.lease);
	}
	if (r == -EBUSY)
		return -EBUSY;
	if (r < 0)
		return err_set(err, r, "cannot lock '%s': %s", l.lease.oid, strerror(-r));
	*ret = l;
	return 0;
}
