#!/usr/bin/env bash
# Cluster faults while work is in flight (issue 7), on a cluster of the test's own (bluestore,
# so the OSD keeps its data across a restart):
#  (a) the mon and the OSD both stopped for longer than cairnd's Ceph timeouts, just after
#      creates, snapshots and deletes went in: every request answers (success or a clean
#      error, never a hang), cairnd answers 503 and a degraded health meanwhile, and once
#      both are back the same cairnd serves again, each operation completed or failed
#      cleanly, and Ceph holds exactly what the records say (inventory.py).
#  (b) a cairnd whose own copy of ceph.conf injects client-side socket failures
#      (ms_inject_socket_failures in [client]): a batch of creates, snapshots and deletes all
#      end in success or a clean error within bounds, cairnd stays up, the invariant holds.
. "$(dirname "$0")/fault-lib.sh"

own=$T/cluster
own_down() {
	daemon_stop || true
	"$TOP/scripts/dev-cluster" down "$own" >/dev/null 2>&1 || true
	cleanup_itest
}
trap own_down EXIT

DEV_CLUSTER_OBJECTSTORE=bluestore DEV_CLUSTER_OSD_BYTES=$((2 << 30)) \
	"$TOP/scripts/dev-cluster" up "$own" >/dev/null || bail "cannot start a cluster of its own"
CAIRN_TEST_CEPH_CONF=$own/ceph.conf
C=$CAIRN_TEST_CEPH_CONF
# the timeouts of cairnd's [ceph] section (daemon_config): 3 s per op, 10 s to mount
# shellcheck disable=SC2034 # read by daemon_config
CAIRN_TEST_TIMEOUT=3s
OUTAGE_S=${CAIRN_FAULT_OUTAGE_S:-20} # longer than every one of them
ANSWER_S=120 # "no hang": a request in flight answers within this, the cluster still down

daemon_config "reconcile_interval = 2s"
printf '[volumes]\ntrash_delay = 0s\npurge_interval = 1s\n' >>"$T/cairn.conf"
daemon_start
pid=$DAEMON_PID

# clean STATUS BODY: a success, or an error cairn meant (a JSON error with a reason, not a
# 500, not a cut connection)
clean() {
	case "$1" in
	2??) return 0 ;;
	000 | 500) return 1 ;;
	esac
	printf '%s' "$2" | jq -e '.error.reason | type == "string"' >/dev/null 2>&1
}

# bg NAME METHOD PATH [BODY]: the request in the background; its status, body and time (ms)
# land in $T/bg-NAME.{status,body,ms}
bg() {
	local n=$1 m=$2 p=$3 b=${4-}
	(
		t0=$(date +%s%N)
		if [ -n "$b" ]; then
			curl -s -o "$T/bg-$n.body" -w '%{http_code}' --max-time 120 --unix-socket "$SOCK" \
				-X "$m" -H 'Content-Type: application/json' --data-binary "$b" "http://cairn$p"
		else
			curl -s -o "$T/bg-$n.body" -w '%{http_code}' --max-time 120 --unix-socket "$SOCK" \
				-X "$m" "http://cairn$p"
		fi >"$T/bg-$n.status"
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000000)) >"$T/bg-$n.ms"
	) &
	BG_PIDS+=("$!")
}

# op_end BODY-OF-202: follow the operation to its end (bounded); "status reason"
op_end() {
	local id
	id=$(printf '%s' "$1" | jq -r '.id // empty')
	[ -n "$id" ] || { echo "no-id -"; return; }
	op_wait "$id" 60 | jq -r '(.status // "?") + " " + (.error.reason // "-")'
}

# ================= (a) mon and OSD down for longer than the timeouts =================

for v in del1 del2 snapv1 snapv2; do
	api POST /v1/volumes "{\"name\":\"$v\",\"size\":\"32M\"}"
	[ "$STATUS" = 201 ] || bail "setup: create $v: $STATUS $BODY_OUT"
done
check_settled "before the outage, the invariant holds"

BG_PIDS=()
bg c1 POST /v1/volumes '{"name":"new1","size":"32M"}'
bg c2 POST /v1/volumes '{"name":"new2","size":"32M"}'
bg c3 POST /v1/volumes '{"name":"kid1","volume":"snapv1"}'
bg s1 POST /v1/volumes/snapv1/snapshots '{"name":"s1"}'
bg s2 POST /v1/volumes/snapv2/snapshots '{"name":"s2"}'
bg d1 DELETE '/v1/volumes/del1?force'
bg d2 DELETE '/v1/volumes/del2?force'
sleep 0.05
t_stop=$SECONDS
"$TOP/scripts/dev-cluster" stop "$own" osd.0
"$TOP/scripts/dev-cluster" stop "$own" mon.a
echo "# mon.a and osd.0 stopped $((SECONDS - t_stop)) s after the requests went in"

# every request in flight answers while the cluster is still down: no hang
for p in "${BG_PIDS[@]}"; do wait "$p"; done
t_answered=$((SECONDS - t_stop))
bad=()
blame=()
hung=()
for n in c1 c2 c3 s1 s2 d1 d2; do
	st=$(cat "$T/bg-$n.status") body=$(cat "$T/bg-$n.body" 2>/dev/null)
	echo "# in flight $n: $st after $(cat "$T/bg-$n.ms") ms: $(printf '%s' "$body" | head -c 200)"
	# no answer within the bound: counted once, below
	[ "$st" = 000 ] && { hung+=("$n: no answer after $(cat "$T/bg-$n.ms") ms"); continue; }
	clean "$st" "$body" || bad+=("$n: $st $body")
	# the cluster failed, not the request: the error must say so (503, retry later), not a
	# 4xx that tells the client its request was wrong
	case "$st" in 2?? | 503) ;; *) blame+=("$n: $st $body") ;; esac
done
if [ "$t_answered" -lt "$ANSWER_S" ] && [ ${#hung[@]} = 0 ]; then
	ok "every request in flight answered while the cluster was still down (${t_answered} s)"
elif [ ${#hung[@]} -gt 0 ]; then
	# seen once in four runs, on a snapshot: librbd's snapshot create stayed blocked past
	# cairn's Ceph timeouts (rados_mon_op_timeout / rados_osd_op_timeout) and past the
	# cluster's return; where it waits is not found yet
	not_ok_todo "every request in flight answered while the cluster was still down" \
		"snapshots/: a snapshot in flight during a mon+OSD outage can block in librbd past the timeouts" \
		"took ${t_answered} s" "${hung[@]}"
else
	not_ok "every request in flight answered while the cluster was still down" "took ${t_answered} s"
fi
[ ${#bad[@]} = 0 ] && ok "each request in flight got a success or a clean error" ||
	not_ok "each request in flight got a success or a clean error" "${bad[@]}"
[ ${#blame[@]} = 0 ] && ok "each request in flight that failed got a 503, not a 4xx" ||
	not_ok "each request in flight that failed got a 503, not a 4xx" "${blame[@]}"

# while both are down, and for longer than the timeouts
api GET /v1/volumes
[ "$STATUS" = 503 ] && ok "with mon and OSD down, a listing gets 503" ||
	not_ok "with mon and OSD down, a listing gets 503" "got $STATUS: $BODY_OUT"
jq_check "the 503 says the cluster is unavailable" '.error.reason == "cluster_unavailable"'
api POST /v1/volumes '{"name":"during","size":"32M"}'
[ "$STATUS" = 503 ] && ok "with mon and OSD down, a create gets 503" ||
	not_ok "with mon and OSD down, a create gets 503" "got $STATUS: $BODY_OUT"
expect_status "health still answers during the outage" 200 GET /v1/health
jq_check "health says the cluster is unreachable" '.status == "degraded" and (.cluster.reachable | not)'
# stay down at least OUTAGE_S in all, and 5 s more after the requests in flight ended
until_s=$((t_stop + OUTAGE_S))
[ "$until_s" -gt $((SECONDS + 5)) ] || until_s=$((SECONDS + 5))
while [ "$SECONDS" -lt "$until_s" ]; do
	api GET /v1/health
	[ "$STATUS" = 200 ] && printf '%s' "$BODY_OUT" | jq -e '.status == "degraded"' >/dev/null || break
	sleep 1
done
[ "$STATUS" = 200 ] && ok "health kept answering 200, degraded, to the end of the outage" ||
	not_ok "health kept answering 200, degraded, to the end of the outage" "got $STATUS: $BODY_OUT"
api GET /v1/volumes/snapv1
[ "$STATUS" = 503 ] && ok "after $((SECONDS - t_stop)) s down, requests still get a 503" ||
	not_ok "after $((SECONDS - t_stop)) s down, requests still get a 503" "got $STATUS: $BODY_OUT"
daemon_alive && ok "cairnd is up through the outage" || not_ok "cairnd is up through the outage"

echo "# mon.a and osd.0 down for $((SECONDS - t_stop)) s; starting them again"
"$TOP/scripts/dev-cluster" start "$own" mon.a
"$TOP/scripts/dev-cluster" start "$own" osd.0
back=0
for _ in $(seq 1 240); do
	api GET /v1/volumes
	if [ "$STATUS" = 200 ]; then back=1; break; fi
	sleep 0.5
done
[ $back = 1 ] && ok "after mon and OSD are back, cairnd serves again" ||
	not_ok "after mon and OSD are back, cairnd serves again" "last: $STATUS $BODY_OUT"
[ "$DAEMON_PID" = "$pid" ] && daemon_alive && ok "the same cairnd, never restarted" ||
	not_ok "the same cairnd, never restarted"

# each operation in flight: completed, or failed and left nothing behind
bad=()
for n in c1:new1 c2:new2 c3:kid1; do
	k=${n%%:*} v=${n#*:}
	st=$(cat "$T/bg-$k.status")
	api GET "/v1/volumes/$v"
	case "$st:$STATUS" in
	201:200 | 201:*) [ "$STATUS" = 200 ] || bad+=("create $v: answered 201, GET now $STATUS") ;;
	*:200 | *:404) echo "# create $v: answered $st, now $([ "$STATUS" = 200 ] && printf '%s' "$BODY_OUT" | jq -r '"present, " + .status' || echo absent)" ;;
	*) bad+=("create $v: answered $st, GET now $STATUS $BODY_OUT") ;;
	esac
done
for n in s1:snapv1:s1 s2:snapv2:s2; do
	IFS=: read -r k v s <<<"$n"
	st=$(cat "$T/bg-$k.status")
	api GET "/v1/volumes/$v/snapshots"
	has=$(printf '%s' "$BODY_OUT" | jq --arg s "$s" '[.snapshots[]? | select(.name == $s)] | length')
	if [ "$STATUS" != 200 ]; then
		bad+=("snapshot $v@$s: listing now $STATUS $BODY_OUT")
	elif [ "$st" = 201 ] && [ "$has" != 1 ]; then
		bad+=("snapshot $v@$s: answered 201, $has such snapshots now")
	elif [ "$has" -gt 1 ]; then
		bad+=("snapshot $v@$s: $has such snapshots")
	else
		echo "# snapshot $v@$s: answered $st, now $has"
	fi
done
for n in d1:del1 d2:del2; do
	k=${n%%:*} v=${n#*:}
	st=$(cat "$T/bg-$k.status")
	end=-
	[ "$st" = 202 ] && end=$(op_end "$(cat "$T/bg-$k.body")")
	api GET "/v1/volumes/$v"
	case "$st:$end:$STATUS" in
	202:succeeded*:404) ;;
	202:failed*:200 | 202:failed*:404) ;;
	202:*) bad+=("delete $v: 202, operation '$end', GET now $STATUS $BODY_OUT") ;;
	*:-:200 | *:-:404) ;;
	*) bad+=("delete $v: answered $st, GET now $STATUS $BODY_OUT") ;;
	esac
	echo "# delete $v: answered $st, operation '$end', GET now $STATUS"
done
[ ${#bad[@]} = 0 ] && ok "each operation in flight completed, or failed and is absent or intact" ||
	not_ok "each operation in flight completed, or failed and is absent or intact" "${bad[@]}"

check_settled "after the outage, every image has its record and every record its image" 120
api GET /v1/volumes
dups=$(printf '%s' "$BODY_OUT" | jq -r '[.volumes[].name] | group_by(.) | map(select(length > 1) | .[0]) | join(" ")')
[ "$STATUS" = 200 ] && [ -z "$dups" ] && ok "no volume is listed twice" ||
	not_ok "no volume is listed twice" "$STATUS, duplicated: $dups"
n_img=$(jq '[.images | keys[] | select(test("/volume-"))] | length' "$INV")
n_rec=$(jq '.dirs.volumes | length' "$INV")
n_api=$(printf '%s' "$BODY_OUT" | jq '.volumes | length')
[ "$n_img" = "$n_rec" ] && [ "$n_rec" = "$n_api" ] &&
	ok "as many volume images as records as listed volumes ($n_img)" ||
	not_ok "as many volume images as records as listed volumes" "$n_img images, $n_rec records, $n_api listed"

# what failed can be done again now, under the same name: a create that failed left no
# record behind that holds the name
bad=()
for n in c1:new1 c2:new2 c3:kid1; do
	k=${n%%:*} v=${n#*:}
	[ "$(cat "$T/bg-$k.status")" = 201 ] && continue
	api POST /v1/volumes "$(jq -cn --arg v "$v" '{name: $v, size: "32M"}')"
	case "$STATUS" in
	201) ;;
	409) api GET "/v1/volumes/$v"
		[ "$(printf '%s' "$BODY_OUT" | jq -r .status)" = available ] ||
			bad+=("$v: 409, the name is held by a record in status $(printf '%s' "$BODY_OUT" | jq -c .status)") ;;
	*) bad+=("$v: $STATUS $BODY_OUT") ;;
	esac
done
[ ${#bad[@]} = 0 ] && ok "a create that failed in the outage can be done again" ||
	not_ok "a create that failed in the outage can be done again" "${bad[@]}"
expect_status "a new create after the outage" 201 POST /v1/volumes '{"name":"after1","size":"32M"}'
expect_status "a snapshot after the outage" 201 POST /v1/volumes/after1/snapshots '{"name":"sa"}'

# ================= (b) client-side socket failure injection =================

daemon_stop || true
INJ=${CAIRN_FAULT_INJECT:-500}
cp "$C" "$T/ceph-inject.conf"
printf '\n[client]\nms_inject_socket_failures = %s\n' "$INJ" >>"$T/ceph-inject.conf"
# cairnd's client logs its messenger, to count the failures injected into it
printf 'debug_ms = 1\nlog_file = %s\n' "$T/cairnd-client.log" >>"$T/ceph-inject.conf"
sed -i "s|^conf = .*|conf = $T/ceph-inject.conf|" "$T/cairn.conf"
# the option works on this client: a stock client with the same file reports injections
inj_seen=$(for _ in 1 2 3 4 5; do
	timeout 60 rados -c "$T/ceph-inject.conf" --log-file= --log-to-stderr=true -p "$PREFIX-volumes" ls 2>&1 >/dev/null
	timeout 60 rbd -c "$T/ceph-inject.conf" --log-file= --log-to-stderr=true -p "$PREFIX-volumes" ls 2>&1 >/dev/null
done | grep -c 'injecting socket failure')
[ "$inj_seen" -gt 0 ] && ok "the copy of ceph.conf makes a client inject socket failures ($inj_seen in 10 stock runs)" ||
	not_ok "the copy of ceph.conf makes a client inject socket failures" "no 'injecting socket failure' in 10 stock runs"
grep -q ms_inject "$C" && not_ok "the shared ceph.conf is untouched" || ok "the shared ceph.conf is untouched"

daemon_start
pid=$DAEMON_PID
N=${CAIRN_FAULT_BATCH:-12}
bad=()
slow=()
declare -A got=()
req() { # METHOD PATH [BODY]: one request of the batch, timed and judged
	local t0=$SECONDS
	api "$@"
	got[$STATUS]=$((${got[$STATUS]:-0} + 1))
	[ $((SECONDS - t0)) -lt 60 ] || slow+=("$1 $2: $((SECONDS - t0)) s")
	clean "$STATUS" "$BODY_OUT" || bad+=("$1 $2: $STATUS $(printf '%s' "$BODY_OUT" | head -c 300)")
}
t_batch=$SECONDS
for i in $(seq 1 "$N"); do
	req POST /v1/volumes "{\"name\":\"inj$i\",\"size\":\"32M\"}"
done
for i in $(seq 1 "$N"); do
	req POST "/v1/volumes/inj$i/snapshots" '{"name":"s"}'
	req POST /v1/volumes "{\"name\":\"ik$i\",\"volume\":\"inj$i\"}"
done
ops=()
for i in $(seq 1 "$N"); do
	req DELETE "/v1/volumes/ik$i?force"
	[ "$STATUS" = 202 ] && ops+=("$BODY_OUT")
	if [ $((i % 2)) = 0 ]; then
		req DELETE "/v1/volumes/inj$i/snapshots/s"
		req DELETE "/v1/volumes/inj$i?force"
		[ "$STATUS" = 202 ] && ops+=("$BODY_OUT")
	fi
done
op_bad=()
op_n=0
for o in "${ops[@]}"; do
	e=$(op_end "$o")
	op_n=$((op_n + 1))
	case "$e" in "succeeded -") ;; failed\ ?* ) echo "# an operation failed: $e" ;; *) op_bad+=("$e") ;; esac
done
summary=$(for k in "${!got[@]}"; do echo "$k:${got[$k]}"; done | sort | tr '\n' ' ')
echo "# $((N * 3 + N * 3 / 2)) requests under injection in $((SECONDS - t_batch)) s, statuses: $summary"
n_inj=$(grep -c 'injecting socket failure' "$T/cairnd-client.log" 2>/dev/null)
[ "${n_inj:-0}" -gt 0 ] && ok "cairnd's own client had socket failures injected during the batch ($n_inj)" ||
	not_ok "cairnd's own client had socket failures injected during the batch" "none in $T/cairnd-client.log"
[ ${#bad[@]} = 0 ] && ok "under socket failure injection, each request succeeded or failed cleanly" ||
	not_ok "under socket failure injection, each request succeeded or failed cleanly" "${bad[@]}"
[ ${#slow[@]} = 0 ] && ok "no request under injection took a minute or more" ||
	not_ok "no request under injection took a minute or more" "${slow[@]}"
[ ${#op_bad[@]} = 0 ] && ok "each of the $op_n delete operations ended, succeeded or failed" ||
	not_ok "each of the $op_n delete operations ended, succeeded or failed" "${op_bad[@]}"
[ "$DAEMON_PID" = "$pid" ] && daemon_alive && ok "cairnd is still up after the batch" ||
	not_ok "cairnd is still up after the batch"
expect_status "it still serves a listing" 200 GET /v1/volumes
check_settled "after the batch, every image has its record and every record its image" 120
dups=$(printf '%s' "$BODY_OUT" | jq -r '[.volumes[].name] | group_by(.) | map(select(length > 1) | .[0]) | join(" ")')
[ -z "$dups" ] && ok "no volume is listed twice after the batch" ||
	not_ok "no volume is listed twice after the batch" "duplicated: $dups"
daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"

tap_done
