/* SPDX-License-Identifier: MIT */
/*
 * Leases: exclusive RADOS locks with a duration, on objects in cairn's state namespace.
 *
 * librados expires a lock whose duration ran out, so a holder that dies or loses the
 * cluster stops the others only that long; a holder that works longer renews it. The
 * cookie, "<host>:<pid>:<tag>", tells who holds it, so that a process of the same host can
 * see that the holder's process is gone and break its lock at once.
 */
#define LOG_MODULE "cluster"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pools/pools.h"

#define LEASE_HOST_MAX 100 /* bytes of the host name in a cookie */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* This host's name as a cookie holds it. */
static void lease_host(char ret[LEASE_HOST_MAX + 1])
{
	char host[256];

	if (gethostname(host, sizeof(host) - 1) < 0)
		str_copy(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	snprintf(ret, LEASE_HOST_MAX + 1, "%.*s", LEASE_HOST_MAX, host);
}

int lease_init(struct cluster *c, struct lease *l, const char *oid, const char *name,
               const char *desc, int seconds, const char *tag, struct cairn_err *err)
{
	char host[LEASE_HOST_MAX + 1], id[UUID_STR_LEN];
	int r;

	memset(l, 0, sizeof(*l));
	r = cluster_state_ioctx(c, &l->io, err);
	if (r < 0)
		return r;
	if (!tag) {
		/* a cookie of its own per holder: two holders in one process exclude each other */
		uuid_generate_str(id);
		tag = id;
	}
	lease_host(host);
	str_copy(l->oid, sizeof(l->oid), oid);
	l->name = name;
	l->desc = desc;
	l->seconds = seconds;
	snprintf(l->cookie, sizeof(l->cookie), "%s:%ld:%.64s", host, (long)getpid(), tag);
	return 0;
}

static int lease_lock(struct lease *l, uint8_t flags)
{
	struct timeval tv = {.tv_sec = l->seconds, .tv_usec = 0};
	int r;

	r = rados_lock_exclusive(l->io, l->oid, l->name, l->cookie, l->desc, &tv, flags);
	return r == -EEXIST ? -EBUSY : r;
}

int lease_take(struct lease *l)
{
	int r = lease_lock(l, 0);

	if (r < 0)
		return r;
	l->renewed = mono_ms();
	l->held = true;
	return 0;
}

int lease_holder(struct lease *l, struct lease_holder *ret)
{
	char tag[256], clients[1024], cookies[1024], addrs[1024];
	size_t tag_len = sizeof(tag), clients_len = sizeof(clients);
	size_t cookies_len = sizeof(cookies), addrs_len = sizeof(addrs);
	const char *a, *b;
	int exclusive = 0;
	ssize_t n;

	memset(ret, 0, sizeof(*ret));
	n = rados_list_lockers(l->io, l->oid, l->name, &exclusive, tag, &tag_len, clients,
	                       &clients_len, cookies, &cookies_len, addrs, &addrs_len);
	if (n <= 0)
		return (int)n;
	/* exclusive: one holder, the first of each list */
	str_copy(ret->client, sizeof(ret->client), clients);
	str_copy(ret->cookie, sizeof(ret->cookie), cookies);
	str_copy(ret->addr, sizeof(ret->addr), addrs);
	/* "host:pid:tag"; another tool's cookie leaves host to the client's name and pid 0 */
	a = strchr(ret->cookie, ':');
	b = a ? strchr(a + 1, ':') : NULL;
	if (a && b && (size_t)(a - ret->cookie) < sizeof(ret->host)) {
		char *end = NULL;
		long pid = strtol(a + 1, &end, 10);

		if (end == b && pid > 0) {
			memcpy(ret->host, ret->cookie, (size_t)(a - ret->cookie));
			ret->host[a - ret->cookie] = '\0';
			ret->pid = pid;
			return 1;
		}
	}
	str_copy(ret->host, sizeof(ret->host), ret->client);
	return 1;
}

bool lease_holder_gone(const struct lease_holder *h, bool any_other)
{
	char host[LEASE_HOST_MAX + 1];

	lease_host(host);
	if (h->pid <= 0 || h->pid == (long)getpid() || strcmp(h->host, host) != 0)
		return false;
	return any_other || (kill((pid_t)h->pid, 0) < 0 && errno == ESRCH);
}

int lease_break(struct lease *l, const struct lease_holder *h)
{
	int r;

	log_info("breaking the lock '%s' of process %ld, gone", l->oid, h->pid);
	r = rados_break_lock(l->io, l->oid, l->name, h->client, h->cookie);
	return r == -ENOENT ? 0 : r;
}

int lease_take_wait(struct lease *l, int wait_ms, bool break_gone)
{
	int64_t until = mono_ms() + wait_ms;
	int r;

	for (;;) {
		struct lease_holder h;

		r = lease_take(l);
		if (r != -EBUSY)
			return r;
		if (break_gone && lease_holder(l, &h) > 0 && lease_holder_gone(&h, false) &&
		    lease_break(l, &h) >= 0)
			continue;
		if (mono_ms() >= until)
			return -EBUSY;
		usleep(100 * 1000);
	}
}

int lease_renew(struct lease *l, struct cairn_err *err)
{
	int64_t now = mono_ms();
	int r;

	if (!l || !l->held || now - l->renewed < (int64_t)l->seconds * 1000 / 3)
		return 0;
	r = lease_lock(l, LIBRADOS_LOCK_FLAG_MAY_RENEW);
	if (r < 0)
		return err_set(err, r, "lost the lock '%s' (its lease ran out?): %s", l->oid,
		               strerror(-r));
	l->renewed = now;
	return 0;
}

void lease_release(struct lease *l, bool remove)
{
	int r;

	if (!l || !l->held)
		return;
	l->held = false;
	/* the object holds nothing but the lock: removing it while holding the lock releases
	 * it and leaves no object behind (a waiting locker makes it anew). Renewed first, so
	 * that a lease that ran out and went to another holder is not removed under it. */
	if (remove && lease_lock(l, LIBRADOS_LOCK_FLAG_MAY_RENEW) >= 0 &&
	    rados_remove(l->io, l->oid) >= 0)
		return;
	r = rados_unlock(l->io, l->oid, l->name, l->cookie);
	if (r < 0 && r != -ENOENT)
		log_warn("cannot unlock '%s': %s", l->oid, strerror(-r));
}

void lease_releasep(struct lease *l)
{
	lease_release(l, true);
}
