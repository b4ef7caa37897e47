#!/usr/bin/env bash
# Ceph goes away under a running cairnd: answers turn into prompt 503s, and cairnd serves
# again once the cluster is back, without a restart. Uses a cluster of its own, since it
# stops the OSD and the mon, with bluestore so the OSD keeps its data across the restart.
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/../.." && pwd)
own=$T/cluster
own_down() {
	"$top/scripts/dev-cluster" down "$own" >/dev/null 2>&1 || true
	cleanup_itest
}
trap own_down EXIT

DEV_CLUSTER_OBJECTSTORE=bluestore DEV_CLUSTER_OSD_BYTES=$((2 << 30)) "$top/scripts/dev-cluster" up "$own" >/dev/null || bail "cannot start a cluster of its own"
CAIRN_TEST_CEPH_CONF=$own/ceph.conf
CAIRN_TEST_TIMEOUT=3s
daemon_config
daemon_start
pid=$DAEMON_PID

expect_status "pools answer while the cluster is up" 200 GET /v1/pools

timed() { # sets STATUS, BODY_OUT, MS
	local t0 t1
	t0=$(date +%s%N)
	api "$@"
	t1=$(date +%s%N)
	MS=$(((t1 - t0) / 1000000))
}

outage() { # daemon
	local d=$1 first_ms
	"$top/scripts/dev-cluster" stop "$own" "$d"
	timed GET /v1/pools
	first_ms=$MS
	if [ "$STATUS" = 503 ]; then ok "with $d stopped, a request gets 503"; else not_ok "with $d stopped, a request gets 503" "got $STATUS: $BODY_OUT"; fi
	jq_check "the 503 says the cluster is unavailable" '.error.reason == "cluster_unavailable"'
	timed GET /v1/pools
	if [ "$STATUS" = 503 ]; then ok "the next request gets 503 at once"; else not_ok "the next request gets 503 at once" "got $STATUS"; fi
	echo "# $d down: first answer after ${first_ms} ms (bounded by the 3 s timeouts), next after ${MS} ms"
	expect_status "health still answers, and says degraded" 200 GET /v1/health
	jq_check "health says the cluster is unreachable" '.status == "degraded" and (.cluster.reachable | not)'

	"$top/scripts/dev-cluster" start "$own" "$d"
	local back=0
	for _ in $(seq 1 120); do
		api GET /v1/pools
		if [ "$STATUS" = 200 ]; then back=1; break; fi
		sleep 0.5
	done
	if [ $back = 1 ]; then ok "after $d is back, cairnd serves again"; else not_ok "after $d is back, cairnd serves again" "last: $STATUS $BODY_OUT"; fi
	if [ "$DAEMON_PID" = "$pid" ] && daemon_alive; then ok "the same cairnd, never restarted"; else not_ok "the same cairnd, never restarted"; fi
}

outage osd.0
outage mon.a

expect_status "health is ok again" 200 GET /v1/health
jq_check "health reports the cluster reachable" '.status == "ok" and .cluster.reachable'
api GET /metrics
printf '%s' "$BODY_OUT" | grep -q '^cairn_cluster_errors_total [1-9]' && ok "cluster errors were counted" ||
	not_ok "cluster errors were counted"

tap_done
