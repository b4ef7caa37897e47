#!/usr/bin/env bash
# Load: 64 clients at once for 30 s (CAIRN_LOAD_CLIENTS, CAIRN_LOAD_SECONDS), mixing reads
# with creates and deletes of their own volumes (load.py; at most CAIRN_LOAD_CREATES = 3
# volumes per client: a 2-core test cluster makes and removes images far slower than cairnd
# answers reads, and more deletes than [service] queue_max (256) waiting for a slow worker
# are refused, an overload this test is not about). No request that should succeed
# fails; after the storm every delete finishes, Ceph is consistent, and cairnd holds no more
# file descriptors and not much more memory than after a warm-up. Prints the p99 latency.
. "$(dirname "$0")/fault-lib.sh"

CLIENTS=${CAIRN_LOAD_CLIENTS:-64}
SECONDS_=${CAIRN_LOAD_SECONDS:-30}
daemon_config "reconcile_interval = 5s" "max_connections = 256"
printf '[volumes]\ntrash_delay = 0s\npurge_interval = 2s\n' >>"$T/cairn.conf"
daemon_start
pid=$DAEMON_PID

fds() { ls "/proc/$pid/fd" | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }
ops_running() {
	curl -s --unix-socket "$SOCK" "http://cairn/v1/operations?status=running" | jq '.operations | length'
}
drain() { # wait for the deletes to finish, bounded
	for _ in $(seq 1 180); do
		[ "$(ops_running)" = 0 ] && [ "$(curl -s --unix-socket "$SOCK" "http://cairn/v1/operations?status=queued" | jq '.operations | length')" = 0 ] && return 0
		sleep 1
	done
	return 1
}

# a short warm-up at the same concurrency, so that caches and thread pools have their size
python3 "$FAULT_DIR/load.py" "$SOCK" "$CLIENTS" 5 w 2 >"$T/warmup.json" ||
	not_ok "warm-up: no request failed" "$(jq -c .failure_examples "$T/warmup.json")"
drain || not_ok "warm-up: the deletes finish"
sleep 3
fds_before=$(fds)
rss_before=$(rss_kib)

python3 "$FAULT_DIR/load.py" "$SOCK" "$CLIENTS" "$SECONDS_" l "${CAIRN_LOAD_CREATES:-3}" >"$T/load.json"
rc=$?
summary=$(jq -c '{requests, per_second, failures, p50_ms, p99_ms, max_ms}' "$T/load.json")
echo "# $CLIENTS clients, ${SECONDS_} s: $summary"
jq -r '.by_kind | to_entries[] | "#   \(.key): \(.value.n) requests, p50 \(.value.p50_ms) ms, p99 \(.value.p99_ms) ms"' "$T/load.json"
[ $rc = 0 ] && ok "$(jq .requests "$T/load.json") requests from $CLIENTS clients, none failed (p99 $(jq .p99_ms "$T/load.json") ms)" ||
	not_ok "no request from $CLIENTS clients failed" "$(jq -c .failure_examples "$T/load.json")"

drain && ok "every delete operation finishes after the storm" || not_ok "every delete operation finishes after the storm" "$(ops_running) still running"
failed_ops=$(curl -s --unix-socket "$SOCK" "http://cairn/v1/operations?status=failed" | jq '.operations | length')
[ "$failed_ops" = 0 ] && ok "no operation failed" ||
	not_ok "no operation failed" "$failed_ops failed: $(curl -s --unix-socket "$SOCK" "http://cairn/v1/operations?status=failed" | jq -c '[.operations[] | .error.message][:5]')"
check_settled "Ceph is consistent after the storm (the trash purged)" 300

sleep 3
fds_after=$(fds)
rss_after=$(rss_kib)
echo "# fds: $fds_before before, $fds_after after; VmRSS: $rss_before KiB before, $rss_after KiB after"
[ "$fds_after" -le $((fds_before + 4)) ] && ok "no file descriptor leaked ($fds_before -> $fds_after)" ||
	not_ok "no file descriptor leaked" "$fds_before -> $fds_after: $(ls -l "/proc/$pid/fd" | tail -n +2 | awk '{print $NF}' | sort | uniq -c | sort -rn | head -5 | tr '\n' ' ')"
# librados and glibc arenas keep some of what a burst used: a growth of 48 MiB is noise,
# a leak of a few KiB per request over tens of thousands of requests is not
[ "$rss_after" -le $((rss_before + 49152)) ] && ok "memory did not grow past noise ($rss_before -> $rss_after KiB)" ||
	not_ok "memory did not grow past noise" "$rss_before -> $rss_after KiB"
daemon_alive && [ "$DAEMON_PID" = "$pid" ] && ok "the same cairnd is still up" || not_ok "the same cairnd is still up"
daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
tap_done
