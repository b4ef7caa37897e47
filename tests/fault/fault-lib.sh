# Shared helpers of the fault tests (tests/fault/): everything of
# tests/integration/lib.sh (TAP, a cairnd of the test's own with its own pools, curl over
# the socket), plus the truth in Ceph read with the stock tools (inventory.py) and the
# invariant cairn promises after a crash, a race or a bad request. Source it.

FAULT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$FAULT_DIR/../.." && pwd)
. "$TOP/tests/integration/lib.sh"

C=$CAIRN_TEST_CEPH_CONF
rbdc() { rbd -c "$C" "$@"; }
inventory() { python3 "$FAULT_DIR/inventory.py" "$@"; }

# the directory of file backups, when a test configures one ([backup] directory)
BACKUP_DIR=$T/backups

# inv_dump FILE: the state of the test's pools, of cairn's directory and of the backup
# directory, as JSON
inv_dump() { inventory dump "$C" "$PREFIX" "$BACKUP_DIR" >"$1"; }

# settle [SECONDS]: poll Ceph until the invariant holds (a reconcile may have to run
# first), at most SECONDS (60). INV is the last inventory, $T/violations what is wrong,
# SETTLE_S how long it took. Returns 1 when the bound passed with the invariant broken.
settle() {
	local limit=${1:-60} t0=$SECONDS
	INV=$T/inv.json
	while :; do
		if inv_dump "$INV" && inventory check "$INV" >"$T/violations" 2>&1; then
			SETTLE_S=$((SECONDS - t0))
			return 0
		fi
		[ $((SECONDS - t0)) -lt "$limit" ] || return 1
		sleep 1
	done
}

# check_settled DESCRIPTION [SECONDS]: settle as a TAP line, with the violations on failure
check_settled() {
	if settle "${2:-60}"; then
		ok "$1 (${SETTLE_S} s)"
	else
		local v=()
		mapfile -t v <"$T/violations"
		not_ok "$1" "after ${2:-60} s:" "${v[@]}"
	fi
}

# images_of FILE: "pool/image", "pool/image@snap" and "trash:pool/name" lines, sorted
images_of() { inventory images "$1" | sort; }

# daemon_wait_exit SECONDS: wait for cairnd to end by itself; DAEMON_RC its exit status
# (137 for SIGKILL), or "alive" when it did not end in time (it is then stopped).
daemon_wait_exit() {
	local limit=$1
	DAEMON_RC=alive
	{ # (bash's own "Killed" notice of the job is no news here)
		for _ in $(seq 1 $((limit * 10))); do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.1
		done
	} 2>/dev/null
	if kill -0 "$DAEMON_PID" 2>/dev/null; then
		daemon_stop || true
		return 1
	fi
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_RC=$?
	DAEMON_PID=
	return 0
}

# op_wait ID [SECONDS]: follow an operation to its end; prints its final JSON
op_wait() {
	api GET "/v1/operations/$1/wait?timeout=${2:-60}"
	printf '%s' "$BODY_OUT"
}

# jqf FILE FILTER: jq on a file, raw output
jqf() { jq -r "$2" "$1"; }

# record_id KIND NAME: id of the record named NAME in directory.KIND of the last
# inventory ($INV), or "" when there is none
record_id() { jqf "$INV" ".names.$1[\"$2\"] // \"\""; }

# not_ok_todo DESCRIPTION REASON [details...]: a check that fails because of a known bug
# elsewhere (TAP "# TODO": reported, not counted as a failure); the reason says where
not_ok_todo() {
	local d=$1 why=$2
	shift 2
	tap_n=$((tap_n + 1))
	echo "not ok $tap_n - $d # TODO $why"
	for l in "$@"; do echo "# $l"; done
}
