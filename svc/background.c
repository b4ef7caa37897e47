/* SPDX-License-Identifier: MIT */
/*
 * Background passes on a timer, one at a time, on a slow worker: every [service]
 * reconcile_interval the domain's reconcile (finish or undo interrupted work, remove what no
 * record accounts for) and the sweep of old operation records; every [volumes]
 * purge_interval the purge (trash, hidden images). The first pass runs right after start.
 */
#define LOG_MODULE "background"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshots/snapshots.h"
#include "svc/svc-internal.h"
#include "backup/backup.h"
#include "volumes/volumes.h"

struct sweep {
	struct cluster *cluster;
	time_t cutoff;
	unsigned removed;
};

static time_t parse_rfc3339(const char *s)
{
	struct tm tm = {0};

	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return 0;
	return timegm(&tm);
}

static int sweep_one(const char *id, const char *record, void *userdata)
{
	struct sweep *sw = userdata;
	_cleanup_(json_putp) struct json_object *o = json_tokener_parse(record);
	const char *status = json_get_string(o, "status");
	struct cairn_err err = {0};
	time_t updated;

	if (!status || strcmp(status, "queued") == 0 || strcmp(status, "running") == 0)
		return 0;
	updated = parse_rfc3339(json_get_string(o, "updated"));
	if (updated && updated < sw->cutoff &&
	    dir_remove(sw->cluster, DIR_OPERATIONS, id, id, &err) == 0)
		sw->removed++;
	return 0;
}

/* Answers stored for idempotency keys are kept a day. */
#define IDEMPOTENCY_RETENTION (24 * 3600)

static int sweep_idem_one(const char *id, const char *record, void *userdata)
{
	struct sweep *sw = userdata;
	_cleanup_(json_putp) struct json_object *o = json_tokener_parse(record);
	struct cairn_err err = {0};
	time_t created = (time_t)json_get_int(o, "created", 0);

	if (created && created < sw->cutoff &&
	    dir_remove(sw->cluster, DIR_IDEMPOTENCY, id, id, &err) == 0)
		sw->removed++;
	return 0;
}

static void background_work(struct svc_job *job)
{
	struct svc *svc = job->svc;
	struct sweep sw = {
	        .cluster = svc->cluster,
	        .cutoff = time(NULL) - (time_t)svc->conf->service.operation_retention,
	};

	if (!svc->run_reconcile)
		goto passes;
	job->result = dir_list(svc->cluster, DIR_OPERATIONS, sweep_one, &sw, &job->err);
	if (sw.removed)
		log_info("removed %u finished operation record(s) older than %u s", sw.removed,
		         svc->conf->service.operation_retention);
	if (job->result < 0)
		return;
	sw.removed = 0;
	sw.cutoff = time(NULL) - IDEMPOTENCY_RETENTION;
	job->result = dir_list(svc->cluster, DIR_IDEMPOTENCY, sweep_idem_one, &sw, &job->err);
	if (job->result < 0)
		return;
passes:
	for (size_t i = 0; svc_background_passes[i].name; i++) {
		struct cairn_err err = {0};
		int r;

		if (svc_background_passes[i].purge ? !svc->run_purge : !svc->run_reconcile)
			continue;
		r = svc_background_passes[i].run(svc, &err);
		if (r < 0) {
			log_warn("%s: %s", svc_background_passes[i].name, err.msg);
			job->result = r;
		}
	}
}

static void background_done(struct svc_job *job)
{
	job->svc->reconcile_running = false;
	if (job->svc->run_reconcile)
		job->svc->reconciled_once = true;
	if (job->result < 0 && job->err.code)
		log_warn("background pass: %s", job->err.msg);
	/* what the requests since the last pass freed goes back to the system, not only the
	 * tops of the malloc arenas: an idle cairnd stays small after a busy spell */
	malloc_trim(0);
}

static uint64_t interval_ms(uint32_t seconds)
{
	return seconds ? (uint64_t)seconds * 1000ULL : 60000;
}

static void background_timer_cb(uv_timer_t *t)
{
	struct svc *svc = container_of(t, struct svc, reconcile_timer);
	uint64_t now = uv_now(t->loop);

	if (svc->reconcile_running || svc->stopping || !svc->cluster_up)
		return;
	/* the first pass does everything; then each on its own interval (the timer ticks at
	 * the shorter one) */
	svc->run_reconcile =
	        !svc->reconciled_once ||
	        now - svc->reconciled_ms >= interval_ms(svc->conf->service.reconcile_interval);
	svc->run_purge = !svc->reconciled_once ||
	                 now - svc->purged_ms >= interval_ms(svc->conf->volumes.purge_interval);
	if (!svc->run_reconcile && !svc->run_purge)
		return;
	if (svc_job_submit(svc, background_work, background_done, true, NULL, NULL) == 0) {
		svc->reconcile_running = true;
		if (svc->run_reconcile)
			svc->reconciled_ms = now;
		if (svc->run_purge)
			svc->purged_ms = now;
	}
}

void svc_background_start(struct svc *svc)
{
	uint64_t a = interval_ms(svc->conf->service.reconcile_interval);
	uint64_t b = interval_ms(svc->conf->volumes.purge_interval);

	uv_timer_start(&svc->reconcile_timer, background_timer_cb, 0, a < b ? a : b);
}

static int pass_reconcile(struct svc *svc, struct cairn_err *err)
{
	struct vol_reconcile_opts opts = {
	        .startup = !svc->reconciled_once,
	        .host = svc->hostname,
	};
	struct vol_reconcile_stats st = {0};
	int r = vol_reconcile(svc->cluster, &opts, &st, err);

	if (r >= 0 && (st.intents_rolled_back || st.intents_rolled_forward || st.orphans_removed ||
	               st.records_missing)) {
		svc_show_changed(svc); /* records changed: no GET reply from before */
		log_info("reconcile: %u interrupted operation(s) rolled back, %u finished, %u "
		         "orphan image(s) removed, %u record(s) whose image vanished",
		         st.intents_rolled_back, st.intents_rolled_forward, st.orphans_removed,
		         st.records_missing);
	}
	return r;
}

static int pass_purge(struct svc *svc, struct cairn_err *err)
{
	int r = vol_purge(svc->cluster, err);

	if (r > 0)
		log_info("purge: removed %d image(s) from the trash or hidden parents", r);
	return r;
}

static int pass_backups(struct svc *svc, struct cairn_err *err)
{
	struct backup_reconcile_opts opts = {
	        .startup = !svc->reconciled_once,
	        .host = svc->hostname,
	};
	struct backup_reconcile_stats st = {0};
	int r = backup_reconcile(svc->cluster, &opts, &st, err);

	if (r >= 0 && (st.failed || st.deleted || st.restores_rolled_back))
		log_info("backups: %u interrupted backup(s) marked failed, %u delete(s) finished, "
		         "%u restore(s) rolled back",
		         st.failed, st.deleted, st.restores_rolled_back);
	return r;
}

/* A group left without snapshots (a crash between a group snapshot's delete and its
 * group's) goes. */
static int pass_groups(struct svc *svc, struct cairn_err *err)
{
	int r = snap_group_sweep(svc->cluster, err);

	if (r > 0)
		log_info("groups: removed %d group(s) left without snapshots", r);
	return r;
}

const struct svc_background_pass svc_background_passes[] = {
        {"reconcile", pass_reconcile, false},
        {"groups", pass_groups, false},
        {"backups", pass_backups, false},
        {"purge", pass_purge, true},
        {NULL, NULL, false},
};
