#!/usr/bin/env bash
# Hostile input against a real cairnd: the corpus tests/data/hostile/requests.tsv (bad
# names, sizes, JSON, paths, methods and HTTP framing, each with the 4xx it must get or a
# closed connection), a client that sends one byte a second, and more connections than the
# daemon takes. Nothing may be created (rbd and the directory before and after), the
# daemon stays up (same PID) and keeps serving others meanwhile.
. "$(dirname "$0")/fault-lib.sh"

CORPUS=$TOP/tests/data/hostile/requests.tsv
daemon_config "reconcile_interval = 2s" "max_connections = 64"
printf '[backup]\ndirectory = %s\n' "$BACKUP_DIR" >>"$T/cairn.conf"
mkdir -p "$BACKUP_DIR"
daemon_start
pid=$DAEMON_PID

# a volume with a snapshot, an image and a backup for the paths to point at
qemu-img create -q -f raw "$T/import/x.raw" 8M
expect_status "fixture: a volume" 201 POST /v1/volumes '{"name":"v","size":"16M"}'
expect_status "fixture: a snapshot" 201 POST /v1/volumes/v/snapshots '{"name":"s"}'
api POST /v1/images '{"name":"img","file":"x.raw"}'
[ "$STATUS" = 202 ] && op_wait "$(printf '%s' "$BODY_OUT" | jq -r .id)" | jq -e '.status == "succeeded"' >/dev/null &&
	ok "fixture: an image" || not_ok "fixture: an image" "$STATUS $BODY_OUT"

check_settled "consistent before the hostile requests"
images_of "$INV" >"$T/before"
jq -S '.names' "$INV" >"$T/names-before"
fds_before=$(ls "/proc/$pid/fd" | wc -l)

# ---- the corpus ----
python3 "$FAULT_DIR/hostile.py" "$SOCK" "$CORPUS" >"$T/hostile.out"
tried=0
while IFS=$'\t' read -r id verdict expected got detail; do
	tried=$((tried + 1))
	if [ "$verdict" = ok ]; then
		ok "$id: $got (expected $expected)"
	else
		not_ok "$id: expected $expected, got $got" "$detail"
	fi
done <"$T/hostile.out"
want=$(grep -cv -e '^#' -e '^$' "$CORPUS")
[ "$tried" = "$want" ] && ok "all $want requests of the corpus were tried" ||
	not_ok "all $want requests of the corpus were tried" "only $tried (hostile.py died?)"
daemon_alive && [ "$DAEMON_PID" = "$pid" ] && ok "cairnd survived the corpus (same pid)" ||
	not_ok "cairnd survived the corpus (same pid)" "$(tail -5 "$T/cairnd.log")"

# ---- one byte a second, while others are served ----
python3 - "$SOCK" >"$T/slow.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
for b in b"GET /":
    s.send(bytes([b]))
    time.sleep(1)
print("sent 5 bytes in 5 s, giving up")
s.close()
PY
slow=$!
sleep 0.5
worst=0
for _ in $(seq 1 8); do
	t0=$(date +%s%N)
	st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --unix-socket "$SOCK" http://cairn/v1/health)
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ "$st" = 200 ] || worst=99999
	[ $ms -gt $worst ] && worst=$ms
	sleep 0.4
done
wait $slow
[ $worst -lt 2000 ] && ok "others are served while a client sends one byte a second (slowest ${worst} ms)" ||
	not_ok "others are served while a client sends one byte a second" "slowest answer ${worst} ms"

# ---- more connections than max_connections (64) ----
python3 - "$SOCK" >"$T/flood.out" 2>&1 <<'PY'
import socket, sys, time
conns, answers = [], {}
for i in range(200):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
    except OSError as e:
        answers["connect:" + e.__class__.__name__] = answers.get("connect:" + e.__class__.__name__, 0) + 1
        continue
    conns.append(s)
time.sleep(0.5)
for s in conns:
    s.settimeout(0.2)
    try:
        d = s.recv(200)
        k = d.split(b" ")[1].decode() if d.startswith(b"HTTP/") else ("closed" if not d else "garbage")
    except socket.timeout:
        k = "open"
    except OSError:
        k = "reset"
    answers[k] = answers.get(k, 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(answers.items())))
for s in conns:
    s.close()
PY
flood=$(cat "$T/flood.out")
open=$(printf '%s' "$flood" | grep -o 'open=[0-9]*' | cut -d= -f2)
busy=$(printf '%s' "$flood" | grep -o '503=[0-9]*' | cut -d= -f2)
[ "${open:-0}" -le 64 ] && [ "${busy:-0}" -ge 100 ] &&
	ok "200 connections at once: at most 64 held, the rest answered 503 ($flood)" ||
	not_ok "200 connections at once: at most 64 held, the rest answered 503" "$flood"
expect_status "health answers after the flood" 200 GET /v1/health

# ---- nothing was created, nothing leaked ----
check_settled "consistent after the hostile requests"
images_of "$INV" >"$T/after"
jq -S '.names' "$INV" >"$T/names-after"
cmp -s "$T/before" "$T/after" && ok "no RBD image or snapshot was created (rbd ls, rbd snap ls --all, rbd trash ls)" ||
	not_ok "no RBD image or snapshot was created" "$(diff "$T/before" "$T/after" | grep '^[<>]' | tr '\n' ' ')"
cmp -s "$T/names-before" "$T/names-after" && ok "no record was created (directory omaps)" ||
	not_ok "no record was created (directory omaps)" "$(diff "$T/names-before" "$T/names-after" | grep '^[<>]' | tr '\n' ' ')"
api GET /v1/volumes
jq_check "the API lists only the fixture volume" '[.volumes[].name] == ["v"]'
sleep 1
fds_after=$(ls "/proc/$pid/fd" | wc -l)
[ "$fds_after" -le $((fds_before + 4)) ] && ok "no file descriptor leaked ($fds_before before, $fds_after after)" ||
	not_ok "no file descriptor leaked" "$fds_before before, $fds_after after"
expect_status "health is 200" 200 GET /v1/health
daemon_alive && [ "$DAEMON_PID" = "$pid" ] && ok "the same cairnd is still up (pid $pid)" ||
	not_ok "the same cairnd is still up"
echo "# bad inputs tried: $tried from the corpus, plus a slow client and a 200-connection flood"
daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
tap_done
