# Shared shell helpers of the integration tests: TAP output, a cairnd of the test's own
# (own socket, own pools) on the cluster that scripts/test started, curl over the socket.
# Source it; call daemon_start; every check is a TAP line; finish with tap_done.

set -u

tap_n=0
tap_failed=0

ok() { # description
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $*"
}

not_ok() { # description [details...]
	tap_n=$((tap_n + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $1"
	shift
	for l in "$@"; do echo "# $l"; done
}

check() { # description command...
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d" "command failed: $*"; fi
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

bail() {
	echo "Bail out! $*"
	exit 1
}

: "${CAIRN_TEST_CEPH_CONF:?integration tests need the cluster of scripts/test (CAIRN_TEST_CEPH_CONF)}"
[ -r "$CAIRN_TEST_CEPH_CONF" ] || bail "cannot read $CAIRN_TEST_CEPH_CONF"
: "${CAIRN_BUILD_DIR:?CAIRN_BUILD_DIR must name the build directory}"

CAIRND=$CAIRN_BUILD_DIR/svc/cairnd
CAIRN=$CAIRN_BUILD_DIR/cli/cairn
T=$(mktemp -d /tmp/cairn-itest.XXXXXX)
SOCK=$T/cairn.sock
RO_SOCK=$T/cairn-ro.sock
PREFIX=t$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
DAEMON_PID=
export CAIRN_SOCKET=$SOCK

daemon_config() { # extra lines for [service]...
	cat >"$T/cairn.conf" <<CONF
[ceph]
conf = $CAIRN_TEST_CEPH_CONF
user = ${CAIRN_TEST_CEPH_USER:-admin}
mon_op_timeout = ${CAIRN_TEST_TIMEOUT:-4s}
osd_op_timeout = ${CAIRN_TEST_TIMEOUT:-4s}
client_mount_timeout = 10s

[service]
socket = $SOCK
readonly_socket = $RO_SOCK
log_level = debug
$(printf '%s\n' "$@")

[pools]
images = $PREFIX-images
volumes = $PREFIX-volumes
vms = $PREFIX-vms
backups = $PREFIX-backups

[import]
directory = $T/import
CONF
	mkdir -p "$T/import"
}

# CAIRN_TEST_WRAPPER: a command line cairnd runs under (e.g. "valgrind --leak-check=full"),
# split on blanks; the wrapper must exec cairnd in its own process (DAEMON_PID stays right).
daemon_start() { # [env assignments...]
	[ -f "$T/cairn.conf" ] || daemon_config
	# shellcheck disable=SC2086
	env "$@" ${CAIRN_TEST_WRAPPER:-} "$CAIRND" --config "$T/cairn.conf" >>"$T/cairnd.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 1 600); do
		if [ -S "$SOCK" ] && curl -s --max-time 2 --unix-socket "$SOCK" http://cairn/v1/health >/dev/null; then
			return 0
		fi
		kill -0 "$DAEMON_PID" 2>/dev/null || { tail -20 "$T/cairnd.log" | sed 's/^/# /'; bail "cairnd exited during start"; }
		sleep 0.1
	done
	tail -20 "$T/cairnd.log" | sed 's/^/# /'
	bail "cairnd did not start within 60 s"
}

daemon_stop() {
	[ -n "$DAEMON_PID" ] || return 0
	kill -TERM "$DAEMON_PID" 2>/dev/null || true
	for _ in $(seq 1 300); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DAEMON_PID" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null
	local rc=$?
	DAEMON_PID=
	return $rc
}

# second_daemon_start: a second cairnd on the same cluster and pools, with sockets and a log
# of its own, in a UTS namespace of its own so that it is another host to cairn; sets SOCK_B
# and PID_B once it answers. stop_b stops it and returns its exit status.
second_daemon_start() {
	SOCK_B=$T/cairn-b.sock
	sed -e "s|^socket = .*|socket = $SOCK_B|" \
		-e "s|^readonly_socket = .*|readonly_socket = $T/cairn-b-ro.sock|" \
		"$T/cairn.conf" >"$T/cairn-b.conf"
	unshare --uts sh -c 'hostname "$1"; shift; exec "$@"' sh "$PREFIX-b" \
		"$CAIRND" --config "$T/cairn-b.conf" >>"$T/cairnd-b.log" 2>&1 &
	PID_B=$!
	for _ in $(seq 1 300); do
		curl -s --max-time 2 --unix-socket "$SOCK_B" http://cairn/v1/health >/dev/null && return 0
		kill -0 "$PID_B" 2>/dev/null || bail "the second cairnd exited: $(tail -5 "$T/cairnd-b.log")"
		sleep 0.1
	done
	bail "the second cairnd does not answer on $SOCK_B"
}
stop_b() {
	[ -n "${PID_B:-}" ] || return 0
	kill -TERM "$PID_B" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$PID_B" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$PID_B" 2>/dev/null
	wait "$PID_B" 2>/dev/null
	local rc=$?
	PID_B=
	return $rc
}

daemon_alive() { [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; }

cleanup_itest() {
	daemon_stop || true
	# the test's own pools go with it
	for p in images volumes vms backups; do
		ceph -c "$CAIRN_TEST_CEPH_CONF" osd pool rm "$PREFIX-$p" "$PREFIX-$p" \
			--yes-i-really-really-mean-it >/dev/null 2>&1 || true
	done
	if [ "$tap_failed" -gt 0 ]; then
		echo "# cairnd log (last 30 lines):"
		tail -30 "$T/cairnd.log" 2>/dev/null | sed 's/^/# /'
	fi
	# CAIRN_TEST_KEEP=1 keeps the test's directory (logs, configs) for a post-mortem
	if [ -n "${CAIRN_TEST_KEEP:-}" ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup_itest EXIT

# api METHOD PATH [BODY] -> sets STATUS and BODY_OUT
api() {
	local method=$1 path=$2 body=${3-}
	local out=$T/api.out
	if [ -n "$body" ]; then
		STATUS=$(curl -s -o "$out" -w '%{http_code}' --max-time 60 --unix-socket "${API_SOCK:-$SOCK}" \
			-X "$method" -H 'Content-Type: application/json' --data-binary "$body" "http://cairn$path")
	else
		STATUS=$(curl -s -o "$out" -w '%{http_code}' --max-time 60 --unix-socket "${API_SOCK:-$SOCK}" \
			-X "$method" "http://cairn$path")
	fi
	BODY_OUT=$(cat "$out")
}

# expect_status DESCRIPTION CODE METHOD PATH [BODY]
expect_status() {
	local d=$1 code=$2
	shift 2
	api "$@"
	if [ "$STATUS" = "$code" ]; then
		ok "$d ($code)"
	else
		not_ok "$d" "expected $code, got $STATUS: $BODY_OUT"
	fi
}

# jq_check DESCRIPTION FILTER: FILTER must be true of BODY_OUT
jq_check() {
	local d=$1 f=$2
	if printf '%s' "$BODY_OUT" | jq -e "$f" >/dev/null 2>&1; then
		ok "$d"
	else
		not_ok "$d" "jq '$f' is not true of: $BODY_OUT"
	fi
}

# raw_http BYTES-FILE: send the bytes as they are, print the answer
raw_http() {
	python3 - "$SOCK" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(open(sys.argv[2], 'rb').read())
data = b''
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
sys.stdout.write(data.decode('utf-8', 'replace'))
PY
}
