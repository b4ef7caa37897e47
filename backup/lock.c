/* SPDX-License-Identifier: MIT */
/*
 * backup: one backup (or restore over the original, or delete) of a volume at a time,
 * from any host: an exclusive RADOS lock with a lease on "lock.backup.<volume id>" in the
 * state namespace. The cookie says who holds it: "<host>:<pid>:<op id>", so a reconciler
 * on the same host can tell a dead holder from a live one.
 */
#define LOG_MODULE "backup"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backup/backup-internal.h"

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_seconds(void)
{
	return mono_ms() / 1000;
}

static void host_name(char buf[256])
{
	if (gethostname(buf, 255) < 0)
		str_copy(buf, 256, "unknown");
	buf[255] = '\0';
}

struct locker {
	char client[128];
	char cookie[192];
	char addr[128];
};

/* The first holder of the lock (there is at most one: it is exclusive). 0: none; 1: found. */
static int lock_holder(rados_ioctx_t io, const char *oid, struct locker *ret)
{
	char tag[256], clients[1024], cookies[1024], addrs[1024];
	size_t tag_len = sizeof(tag), clients_len = sizeof(clients);
	size_t cookies_len = sizeof(cookies), addrs_len = sizeof(addrs);
	int exclusive = 0;
	ssize_t n;

	n = rados_list_lockers(io, oid, BACKUP_LOCK_NAME, &exclusive, tag, &tag_len, clients,
	                       &clients_len, cookies, &cookies_len, addrs, &addrs_len);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return 0;
	str_copy(ret->client, sizeof(ret->client), clients);
	str_copy(ret->cookie, sizeof(ret->cookie), cookies);
	str_copy(ret->addr, sizeof(ret->addr), addrs);
	return 1;
}

/* "host:pid:op" -> host and pid; false when the cookie is not one of ours. */
static bool cookie_parse(const char *cookie, char host[256], pid_t *pid)
{
	const char *a = strchr(cookie, ':');
	const char *b = a ? strchr(a + 1, ':') : NULL;
	char *end = NULL;
	long v;

	if (!a || !b || (size_t)(a - cookie) >= 256)
		return false;
	memcpy(host, cookie, (size_t)(a - cookie));
	host[a - cookie] = '\0';
	v = strtol(a + 1, &end, 10);
	if (end != b || v <= 0)
		return false;
	*pid = (pid_t)v;
	return true;
}

static int lock_try(struct bk_lock *l, unsigned flags)
{
	struct timeval tv = {.tv_sec = BACKUP_LOCK_LEASE, .tv_usec = 0};

	return rados_lock_exclusive(l->io, l->oid, BACKUP_LOCK_NAME, l->cookie, "cairn backup", &tv,
	                            (uint8_t)flags);
}

static int lock_init(struct cluster *c, const char *volume_id, const char *op_id, struct bk_lock *l,
                     struct cairn_err *err)
{
	char host[256];
	int r;

	memset(l, 0, sizeof(*l));
	r = cluster_state_ioctx(c, &l->io, err);
	if (r < 0)
		return r;
	host_name(host);
	snprintf(l->oid, sizeof(l->oid), "%s%s", BACKUP_LOCK_PREFIX, volume_id);
	snprintf(l->cookie, sizeof(l->cookie), "%.100s:%ld:%.64s", host, (long)getpid(), op_id);
	return 0;
}

int bk_lock_acquire(struct cluster *c, const char *volume_id, const char *volume, const char *op_id,
                    struct bk_lock *ret, struct cairn_err *err)
{
	struct bk_lock l;
	struct locker who;
	char host[256] = "unknown";
	pid_t pid;
	int r;

	r = lock_init(c, volume_id, op_id, &l, err);
	if (r < 0)
		return r;
	r = lock_try(&l, 0);
	if (r == -EBUSY || r == -EEXIST) {
		if (lock_holder(l.io, l.oid, &who) > 0 && !cookie_parse(who.cookie, host, &pid))
			str_copy(host, sizeof(host), who.client);
		return err_set(err, -EBUSY,
		               "a backup of volume '%s' is running on host '%s' (or a restore or "
		               "delete of one of its backups)",
		               volume, host);
	}
	if (r < 0)
		return err_set(err, r, "cannot lock volume '%s' for backup: %s", volume,
		               strerror(-r));
	l.renewed = mono_seconds();
	l.held = true;
	*ret = l;
	log_debug("locked %s as %s", l.oid, l.cookie);
	return 0;
}

int bk_lock_acquire_wait(struct cluster *c, const char *volume_id, const char *volume,
                         const char *op_id, int wait_ms, struct bk_lock *ret, struct cairn_err *err)
{
	int64_t until = mono_ms() + wait_ms;
	int r;

	for (;;) {
		struct cairn_err lerr = {0};

		r = bk_lock_acquire(c, volume_id, volume, op_id, ret, &lerr);
		if (r != -EBUSY || mono_ms() >= until)
			return r < 0 ? err_set(err, r, "%s", lerr.msg) : r;
		usleep(100 * 1000);
	}
}

int bk_lock_renew(struct bk_lock *l, struct cairn_err *err)
{
	int64_t now = mono_seconds();
	int r;

	if (!l || !l->held || now - l->renewed < BACKUP_LOCK_LEASE / 3)
		return 0;
	r = lock_try(l, LIBRADOS_LOCK_FLAG_MAY_RENEW);
	if (r < 0)
		return err_set(err, r == -EBUSY ? -EBUSY : r,
		               "lost the backup lock '%s' (the lease ran out?): %s", l->oid,
		               strerror(-r));
	l->renewed = now;
	return 0;
}

void bk_lock_release_remove(struct bk_lock *l)
{
	bool held = l && l->held;
	int r;

	bk_lock_release(l);
	if (held && (r = rados_remove(l->io, l->oid)) < 0 && r != -ENOENT)
		log_debug("lock object '%s' stays: %s", l->oid, strerror(-r));
}

void bk_lock_release(struct bk_lock *l)
{
	int r;

	if (!l || !l->held)
		return;
	r = rados_unlock(l->io, l->oid, BACKUP_LOCK_NAME, l->cookie);
	if (r < 0 && r != -ENOENT)
		log_warn("cannot unlock '%s': %s", l->oid, strerror(-r));
	l->held = false;
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
	char op[UUID_STR_LEN], holder_host[256], ours[128];
	struct bk_lock l;
	struct locker who;
	pid_t pid;
	int r;

	uuid_generate_str(op);
	r = lock_init(c, volume_id, op, &l, err);
	if (r < 0)
		return r;
	r = lock_try(&l, 0);
	if (r == -EBUSY) {
		bool dead = false;

		r = lock_holder(l.io, l.oid, &who);
		if (r < 0)
			return err_set(err, r, "cannot list the holders of '%s': %s", l.oid,
			               strerror(-r));
		snprintf(ours, sizeof(ours), "%.100s", host); /* as lock_init cut it */
		if (r > 0 && cookie_parse(who.cookie, holder_host, &pid) &&
		    strcmp(holder_host, ours) == 0) {
			if (pid != getpid() && startup)
				dead = true;
			else if (pid != getpid() && kill(pid, 0) < 0 && errno == ESRCH)
				dead = true;
		}
		if (!dead)
			return -EBUSY;
		log_info("breaking the backup lock '%s' of dead process %ld", l.oid, (long)pid);
		bk_blocklist(c, who.addr);
		r = rados_break_lock(l.io, l.oid, BACKUP_LOCK_NAME, who.client, who.cookie);
		if (r < 0 && r != -ENOENT)
			return err_set(err, r, "cannot break the lock '%s': %s", l.oid,
			               strerror(-r));
		r = lock_try(&l, 0);
	}
	if (r == -EBUSY)
		return -EBUSY;
	if (r < 0)
		return err_set(err, r, "cannot lock '%s': %s", l.oid, strerror(-r));
	l.renewed = mono_seconds();
	l.held = true;
	*ret = l;
	return 0;
}
