#!/usr/bin/env bash
# Socket security: the API socket is 0660 with the configured group, so the kernel refuses
# a client outside that group (curl as nobody, via setpriv) and lets one in it through;
# the read-only socket refuses every mutation with 403 and creates nothing; each mutating
# request is logged with the peer's uid, gid and pid (SO_PEERCRED); a world-writable
# socket_mode is refused by the configuration check.
. "$(dirname "$0")/fault-lib.sh"

GROUP=4242 # a gid that nobody is not in (it need not have a name)
daemon_config "socket_group = $GROUP" "socket_mode = 0660"
printf '[volumes]\ntrash_delay = 0s\npurge_interval = 1s\n' >>"$T/cairn.conf"
# the test directory is traversable, so that only the socket's own mode decides
chmod 0711 "$T"
daemon_start
pid=$DAEMON_PID

NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
NOBODY_IN=(setpriv --reuid=nobody --regid=nogroup --groups="$GROUP")
nobody_uid=$(id -u nobody)
nogroup_gid=$(getent group nogroup | cut -d: -f3)

# ---- the socket files ----
for s in "$SOCK" "$RO_SOCK"; do
	m=$(stat -c '%a %g %F' "$s")
	[ "$m" = "660 $GROUP socket" ] && ok "$(basename "$s") is a socket, mode 0660, group $GROUP" ||
		not_ok "$(basename "$s") is a socket, mode 0660, group $GROUP" "stat: $m"
done

# ---- the kernel refuses a client outside the group ----
out=$("${NOBODY[@]}" curl -s -S -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$SOCK" http://cairn/v1/health 2>&1)
rc=$?
[ $rc -ne 0 ] && printf '%s' "$out" | grep -qi 'permission denied\|couldn.t connect' &&
	ok "nobody outside group $GROUP cannot connect (curl: $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-80))" ||
	not_ok "nobody outside group $GROUP cannot connect" "curl exit $rc: $out"
python_connect() { # socket: how connect() as nobody ends
	"${NOBODY[@]}" /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1]); print("connected")
except OSError as e:
    print(e.errno)' "$1"
}
[ "$(python_connect "$SOCK")" = 13 ] && ok "connect() as nobody fails with EACCES on the API socket" ||
	not_ok "connect() as nobody fails with EACCES on the API socket" "$(python_connect "$SOCK")"
[ "$(python_connect "$RO_SOCK")" = 13 ] && ok "connect() as nobody fails with EACCES on the read-only socket" ||
	not_ok "connect() as nobody fails with EACCES on the read-only socket" "$(python_connect "$RO_SOCK")"

# ---- a member of the group gets in; its mutation is logged with its credentials ----
st=$("${NOBODY_IN[@]}" curl -s -o /dev/null -w '%{http_code}' --max-time 10 --unix-socket "$SOCK" http://cairn/v1/health)
[ "$st" = 200 ] && ok "nobody with supplementary group $GROUP is served (200)" ||
	not_ok "nobody with supplementary group $GROUP is served" "got $st"
"${NOBODY_IN[@]}" curl -s -o "$T/nobody.out" -w '%{http_code}' --max-time 30 --unix-socket "$SOCK" \
	-H 'Content-Type: application/json' -d '{"name":"by-nobody","size":"16M"}' http://cairn/v1/volumes >"$T/nobody.st" &
cpid=$!
wait $cpid
[ "$(cat "$T/nobody.st")" = 201 ] && ok "its create succeeds (201)" || not_ok "its create succeeds" "$(cat "$T/nobody.st") $(cat "$T/nobody.out")"
if grep -q "uid=$nobody_uid gid=$nogroup_gid pid=$cpid POST /v1/volumes -> 201" "$T/cairnd.log"; then
	ok "the log names uid=$nobody_uid gid=$nogroup_gid pid=$cpid for its POST"
else
	not_ok "the log names uid=$nobody_uid gid=$nogroup_gid pid=$cpid for its POST" "$(grep 'POST /v1/volumes' "$T/cairnd.log" | tail -3)"
fi

# every mutating route answered in this test is logged with credentials; GETs are not at info
api DELETE "/v1/volumes/by-nobody"
[ "$STATUS" = 202 ] && op_wait "$(printf '%s' "$BODY_OUT" | jq -r .id)" >/dev/null
api POST /v1/volumes '{"name":"bad name"}'
api POST /v1/pools/init
sleep 0.3
for pat in "DELETE /v1/volumes/{name} -> 202" "POST /v1/volumes -> 400" "POST /v1/pools/init -> 200"; do
	grep -q "info svc: request [0-9]* uid=0 gid=0 pid=[0-9]* $pat" "$T/cairnd.log" &&
		ok "logged with uid/gid/pid: $pat" || not_ok "logged with uid/gid/pid: $pat" "$(grep -F "${pat%% ->*}" "$T/cairnd.log" | tail -2)"
done
grep 'info svc: request' "$T/cairnd.log" | grep -v 'uid=[0-9]* gid=[0-9]* pid=[0-9]*' >"$T/nocred"
[ ! -s "$T/nocred" ] && ok "no request line at info level lacks uid/gid/pid" ||
	not_ok "no request line at info level lacks uid/gid/pid" "$(head -3 "$T/nocred")"

# ---- the read-only socket ----
check_settled "consistent before the read-only socket is tried"
images_of "$INV" >"$T/before"
jq -S .names "$INV" >"$T/names-before"
API_SOCK=$RO_SOCK
expect_status "read-only: GET /v1/volumes" 200 GET /v1/volumes
expect_status "read-only: GET /v1/health" 200 GET /v1/health
st=$(curl -s -o /dev/null -I -w '%{http_code}' --unix-socket "$RO_SOCK" http://cairn/v1/health)
[ "$st" = 200 ] && ok "read-only: HEAD /v1/health (200)" || not_ok "read-only: HEAD /v1/health" "got $st"
expect_status "read-only: a create is refused" 403 POST /v1/volumes '{"name":"ro1","size":"16M"}'
jq_check "the 403 says forbidden" '.error.reason == "forbidden"'
API_SOCK=
api POST /v1/volumes '{"name":"keep","size":"16M"}'
API_SOCK=$RO_SOCK
expect_status "read-only: a delete is refused" 403 DELETE /v1/volumes/keep
expect_status "read-only: a snapshot is refused" 403 POST /v1/volumes/keep/snapshots '{"name":"s"}'
expect_status "read-only: an extend is refused" 403 POST /v1/volumes/keep/extend '{"size":"32M"}'
expect_status "read-only: a rename is refused" 403 POST /v1/volumes/keep/rename '{"name":"k2"}'
expect_status "read-only: a PATCH is refused" 403 PATCH /v1/volumes/keep '{"labels":{"a":"b"}}'
expect_status "read-only: an import is refused" 403 POST /v1/images '{"name":"i","file":"x"}'
expect_status "read-only: a backup is refused" 403 POST /v1/backups '{"volume":"keep"}'
expect_status "read-only: pools/init is refused" 403 POST /v1/pools/init
expect_status "read-only: the secret is refused" 403 POST /v1/secret/ensure '{}'
expect_status "read-only: cancelling an operation is refused" 403 DELETE /v1/operations/00000000-0000-4000-8000-000000000000
API_SOCK=
api GET /v1/volumes/keep
jq_check "the volume is untouched: 16 MiB, no label" '.size == 16777216 and .labels == {}'
api DELETE "/v1/volumes/keep"
[ "$STATUS" = 202 ] && op_wait "$(printf '%s' "$BODY_OUT" | jq -r .id)" >/dev/null
check_settled "consistent after the read-only socket was tried"
images_of "$INV" >"$T/after"
jq -S .names "$INV" >"$T/names-after"
cmp -s "$T/before" "$T/after" && cmp -s "$T/names-before" "$T/names-after" &&
	ok "the read-only socket created nothing (rbd and the directory as before)" ||
	not_ok "the read-only socket created nothing" "$(diff "$T/before" "$T/after") $(diff "$T/names-before" "$T/names-after")"

# ---- a socket every local user could write is refused ----
daemon_config "socket_mode = 0666"
if "$CAIRND" --config "$T/cairn.conf" --check-config >"$T/check.out" 2>&1; then
	not_ok "socket_mode = 0666 is refused by --check-config" "$(cat "$T/check.out")"
else
	grep -q 'socket_mode' "$T/check.out" && ok "socket_mode = 0666 is refused by --check-config, naming the key" ||
		not_ok "socket_mode = 0666 is refused by --check-config, naming the key" "$(cat "$T/check.out")"
fi

[ "$DAEMON_PID" = "$pid" ] && daemon_alive && ok "the same cairnd is still up" || not_ok "the same cairnd is still up"
daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
tap_done
