#!/usr/bin/env bash
# Two cairnd on one cluster (two sockets, the same pools; the second one in a UTS namespace
# of its own, so it is another host to cairn) get the same requests at the same instant:
# creates of the same name give exactly one 201 and one 409 and one RBD image, deletes of
# the same volume delete it once and fail cleanly on the other side, and Ceph holds
# nothing that no record accounts for (the invariant of inventory.py).
. "$(dirname "$0")/fault-lib.sh"

ROUNDS=${CAIRN_RACE_ROUNDS:-20}
daemon_config "reconcile_interval = 2s"
printf '[volumes]\ntrash_delay = 0s\npurge_interval = 1s\n' >>"$T/cairn.conf"
daemon_start

# the second daemon: same config but its own sockets and log, another host name
trap 'stop_b; cleanup_itest' EXIT
second_daemon_start
hosts=$(for s in "$SOCK" "$SOCK_B"; do curl -s --unix-socket "$s" http://cairn/v1/health | jq -r '.host // empty'; done | sort -u | wc -l)
echo "# two daemons: pids $DAEMON_PID and $PID_B"
[ "$hosts" = 2 ] && ok "the two daemons are two hosts to cairn" || not_ok "the two daemons are two hosts to cairn" "$hosts distinct host names"

# both METHOD PATH BODY: the request on both sockets at the same instant (both curls wait
# for a line on one fifo, then go); sets A and B to the statuses, BODY_A, BODY_B. The fifo
# stays open here for reading and writing until both are done, so a side that is slow to
# start still opens it at once and finds its line waiting (a loaded machine once left one
# side blocked for good in the open of a fifo whose writer had gone).
both() {
	local m=$1 p=$2 b=${3-} fifo=$T/go
	rm -f "$fifo"
	mkfifo "$fifo"
	exec 3<>"$fifo"
	for side in a b; do
		local s=$SOCK
		[ $side = b ] && s=$SOCK_B
		(
			read -r _ <"$fifo"
			if [ -n "$b" ]; then
				curl -s -o "$T/out-$side" -w '%{http_code}' --max-time 60 --unix-socket "$s" \
					-X "$m" -H 'Content-Type: application/json' --data-binary "$b" "http://cairn$p"
			else
				curl -s -o "$T/out-$side" -w '%{http_code}' --max-time 60 --unix-socket "$s" \
					-X "$m" "http://cairn$p"
			fi >"$T/status-$side"
		) &
	done
	sleep 0.05
	printf 'go\ngo\n' >&3
	wait_kids
	exec 3>&-
	A=$(cat "$T/status-a") B=$(cat "$T/status-b")
	BODY_A=$(cat "$T/out-a") BODY_B=$(cat "$T/out-b")
}
wait_kids() { # wait for the curls, not for the daemons
	local j
	for j in $(jobs -p); do
		[ "$j" = "$DAEMON_PID" ] || [ "$j" = "$PID_B" ] || wait "$j"
	done
}

pair() { printf '%s\n' "$A" "$B" | sort | tr '\n' ' ' | sed 's/ $//'; }

# ---- creates of the same name ----
bad=()
for i in $(seq 1 "$ROUNDS"); do
	both POST /v1/volumes "{\"name\":\"race$i\",\"size\":\"16M\"}"
	[ "$(pair)" = "201 409" ] || bad+=("round $i: $A $BODY_A / $B $BODY_B")
done
[ ${#bad[@]} = 0 ] && ok "$ROUNDS rounds of the same blank create on both: one 201 and one 409 each" ||
	not_ok "$ROUNDS rounds of the same blank create on both: one 201 and one 409 each" "${bad[@]}"

check_settled "after the creates, every image has its record and every record its image"
n_img=$(jq '[.images | keys[] | select(test("/volume-"))] | length' "$INV")
n_rec=$(jq '.dirs.volumes | length' "$INV")
[ "$n_img" = "$ROUNDS" ] && [ "$n_rec" = "$ROUNDS" ] &&
	ok "exactly one RBD image and one record per name ($n_img images, $n_rec records)" ||
	not_ok "exactly one RBD image and one record per name" "$n_img images, $n_rec records for $ROUNDS names"

# clones of the same volume under the same name: the loser must not leave its hidden
# snapshot on the parent
bad=()
for i in $(seq 1 10); do
	both POST /v1/volumes "{\"name\":\"kid$i\",\"volume\":\"race1\"}"
	[ "$(pair)" = "201 409" ] || bad+=("round $i: $A $BODY_A / $B $BODY_B")
done
[ ${#bad[@]} = 0 ] && ok "10 rounds of the same clone of a volume on both: one 201 and one 409 each" ||
	not_ok "10 rounds of the same clone of a volume on both: one 201 and one 409 each" "${bad[@]}"
check_settled "after the clones, no hidden snapshot is left without its clone"
n_snap=$(jq '[.images[] | select(.name | test("^volume-")) | .snaps[] | select(.name | startswith("cairn-clone-"))] | length' "$INV")
[ "$n_snap" = 10 ] && ok "the parent carries exactly 10 hidden snapshots, one per clone" ||
	not_ok "the parent carries exactly 10 hidden snapshots, one per clone" "found $n_snap"

# snapshots of the same name: librbd itself answers both of two concurrent creates of one
# snapshot name with success (the exclusive-lock owner runs one, the other finds it done;
# stock "rbd snap create" twice at once does the same), so "201 201" is one snapshot seen
# by both. Never another error, never two snapshots.
bad=()
for i in $(seq 2 11); do
	both POST "/v1/volumes/race$i/snapshots" '{"name":"snap"}'
	case "$(pair)" in "201 409" | "201 201") ;; *) bad+=("race$i: $A $BODY_A / $B $BODY_B") ;; esac
done
[ ${#bad[@]} = 0 ] && ok "10 rounds of the same snapshot on both: 201, and 409 or the same snapshot" ||
	not_ok "10 rounds of the same snapshot on both: 201, and 409 or the same snapshot" "${bad[@]}"
settle 30 || true
n_snap=$(jq '[.images[] | .snaps[] | select(.name == "snap")] | length' "$INV")
[ "$n_snap" = 10 ] && ok "exactly one snapshot 'snap' on each of the 10 volumes" ||
	not_ok "exactly one snapshot 'snap' on each of the 10 volumes" "found $n_snap"
bad=()
for i in $(seq 12 16); do
	both POST "/v1/volumes/race$i/rename" "{\"name\":\"renamed$i\"}"
	case "$(pair)" in "200 404" | "200 409") ;; *) bad+=("race$i: $A $BODY_A / $B $BODY_B") ;; esac
done
[ ${#bad[@]} = 0 ] && ok "5 rounds of the same rename on both: one 200, the other 404 or 409" ||
	not_ok "5 rounds of the same rename on both: one 200, the other 404 or 409" "${bad[@]}"

# ---- deletes of the same volume ----
op_final() { # body of a 202 and its daemon's socket -> "status reason: message"
	local id
	id=$(printf '%s' "$1" | jq -r .id)
	curl -s --max-time 70 --unix-socket "$2" "http://cairn/v1/operations/$id/wait?timeout=60" |
		jq -r '.status + " " + (.error.reason // "-") + ": " + (.error.message // "")'
}
bad=()
loser=()
deleted=0
for v in $(seq 1 "$ROUNDS" | sed 's/^/race/') $(seq 1 10 | sed 's/^/kid/'); do
	api GET "/v1/volumes/$v"
	[ "$STATUS" = 200 ] || { api GET "/v1/volumes/renamed${v#race}"; v=renamed${v#race}; }
	both DELETE "/v1/volumes/$v?force"
	outcomes=()
	[ "$A" = 202 ] && outcomes+=("$(op_final "$BODY_A" "$SOCK")")
	[ "$B" = 202 ] && outcomes+=("$(op_final "$BODY_B" "$SOCK_B")")
	good=0 other=()
	for o in "${outcomes[@]}"; do
		case "$o" in "succeeded -"*) good=$((good + 1)) ;; "failed not_found"*) ;; *) other+=("$o") ;; esac
	done
	api GET "/v1/volumes/$v"
	# the deletion itself: done once, by one side, and the volume is gone
	case "$A $B" in 202\ 202 | 202\ 404 | 404\ 202)
		if [ $good -ge 1 ] && [ "$STATUS" = 404 ]; then deleted=$((deleted + 1)); else
			bad+=("$v: $A/$B, GET after: $STATUS, operations: ${outcomes[*]:-none}")
		fi ;;
	*) bad+=("$v: answers $A/$B") ;;
	esac
	# the other side: a 404, or an operation that agrees (succeeded) or says not_found
	[ ${#other[@]} = 0 ] || loser+=("$v: ${other[*]}")
done
[ ${#bad[@]} = 0 ] && ok "$deleted concurrent deletes of the same volume on both: 202, one operation deletes it, it is gone" ||
	not_ok "concurrent deletes of the same volume on both: 202, one operation deletes it, it is gone" "${bad[@]}"
# the loser finds the record changed (its guarded update lost) or the image open by the
# winner: it looks again and answers as if it had come a moment later
[ ${#loser[@]} = 0 ] && ok "the losing side answers 404, or its operation succeeds or says not_found" ||
	not_ok "the losing side answers 404, or its operation succeeds or says not_found" "${loser[@]}"
# Both daemons must have lived through it. They used to die now and then, of a use after
# free in librbd 16.2 ("terminate called after throwing an instance of 'std::system_error'"
# or a pthread_mutex_lock assertion, out of ImageState::complete_action_unlock): a read-only
# image closed right after its open (as these deletes do) could be freed while librbd's own
# thread still finished the open. cairn closes read-only images a second late
# (pools/ro-image.c); meson's random MALLOC_PERTURB_ makes such a use after free crash.
if kill -0 "$DAEMON_PID" 2>/dev/null && kill -0 "$PID_B" 2>/dev/null; then
	ok "both daemons are still up"
else
	not_ok "both daemons are still up" "$(tail -20 "$T/cairnd.log")" "$(tail -20 "$T/cairnd-b.log")"
	# started again, as systemd would: what follows checks that the death lost nothing
	kill -0 "$DAEMON_PID" 2>/dev/null || { DAEMON_PID=; daemon_start; }
	kill -0 "$PID_B" 2>/dev/null || { PID_B=; second_daemon_start; }
fi
api GET /v1/volumes
jq_check "no volume is left" '.volumes | length == 0'
check_settled "after the deletes, every image has its record and every record its image"
# the hidden parent goes with its last clone, in a background pass: bounded wait
for _ in $(seq 1 30); do
	n_left=$(jq '[.images | keys[] | select(test("/volume-"))] | length' "$INV")
	[ "$n_left" = 0 ] && break
	sleep 1
	settle 10 || break
done
[ "$n_left" = 0 ] && ok "no RBD volume image is left" ||
	not_ok "no RBD volume image is left" "$n_left left: $(jq -c '.images | keys' "$INV")" "$(cat "$T/violations")"

stop_b && ok "the second cairnd stops cleanly" || not_ok "the second cairnd stops cleanly"
daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
if [ "$tap_failed" -gt 0 ]; then
	echo "# second cairnd log (last 20 lines):"
	tail -20 "$T/cairnd-b.log" | sed 's/^/# /'
fi
tap_done
