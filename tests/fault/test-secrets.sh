#!/usr/bin/env bash
# The cephx key never leaks. A whole session as the cephx user client.cairn (image import,
# clone, snapshot, disk and domain XML, the libvirt secret, backups to the pool and to a
# file, the event stream, metrics, the CLI), then the key is looked for (base64, raw
# bytes, hex: find-key.py) in everything cairn produced: cairnd's log, every API answer,
# the XML, every file under the test directory (but the root of libvirt's embedded secret
# driver: the secret store is libvirt's), cairn's records in RADOS, and /proc/PID/cmdline
# and environ of cairnd and of its children (qemu-img, caught during a large import).
. "$(dirname "$0")/fault-lib.sh"

USER_ID=cairn
KEY=$(ceph -c "$C" auth get-key "client.$USER_ID" 2>/dev/null)
[ -n "$KEY" ] || bail "cannot read the key of client.$USER_ID"
# client.cairn has "profile rbd" only: the test's pools are made beforehand with the admin
for p in images volumes vms backups; do
	ceph -c "$C" osd pool create "$PREFIX-$p" 8 >/dev/null 2>&1 &&
		rbd -c "$C" pool init "$PREFIX-$p" >/dev/null 2>&1 || bail "cannot create pool $PREFIX-$p"
done
CAIRN_TEST_CEPH_USER=$USER_ID
daemon_config "reconcile_interval = 2s"
printf '[backup]\ndirectory = %s\n' "$BACKUP_DIR" >>"$T/cairn.conf"
mkdir -p "$BACKUP_DIR" "$T/replies" "$T/proc" "$T/cli"
daemon_start
pid=$DAEMON_PID

# the scanner can find the key (in a file outside what is scanned later)
mkdir -p "$T/selfcheck"
printf 'x%sy' "$KEY" >"$T/selfcheck/b64"
printf '%s' "$KEY" | base64 -d >"$T/selfcheck/raw"
if python3 "$FAULT_DIR/find-key.py" "$KEY" "$T/selfcheck" 2>/dev/null | grep -q 'b64: base64' &&
	python3 "$FAULT_DIR/find-key.py" "$KEY" "$T/selfcheck/raw" 2>/dev/null | grep -q 'raw bytes'; then
	ok "find-key.py finds the key as base64 and as raw bytes"
else
	not_ok "find-key.py finds the key as base64 and as raw bytes"
fi
rm -rf "$T/selfcheck"

n=0
call() { # METHOD PATH [BODY]: api, and the answer kept under $T/replies
	api "$@"
	n=$((n + 1))
	printf '%s %s\n%s\n' "$1" "$2" "$STATUS" >"$T/replies/$n.head"
	printf '%s' "$BODY_OUT" >"$T/replies/$n.body"
}
follow() { # METHOD PATH BODY: a 202 followed to its end, every answer kept
	call "$@"
	local op
	op=$(printf '%s' "$BODY_OUT" | jq -r .id)
	call GET "/v1/operations/$op/wait?timeout=120"
	printf '%s' "$BODY_OUT" | jq -e '.status == "succeeded"' >/dev/null
}

curl -sN --max-time 300 --unix-socket "$SOCK" http://cairn/v1/events >"$T/replies/events.ndjson" 2>/dev/null &
ev=$!
call GET /v1/health
call GET /v1/pools

# ---- a large import, with cairnd's children caught in /proc meanwhile ----
head -c $((192 << 20)) /dev/urandom >"$T/import/big.raw"
truncate -s 1G "$T/import/big.raw"
(
	while :; do
		for c in $(pgrep -P "$pid"); do
			[ -e "$T/proc/$c.cmdline" ] && continue
			cat "/proc/$c/cmdline" >"$T/proc/$c.cmdline.tmp" 2>/dev/null &&
				cat "/proc/$c/environ" >"$T/proc/$c.environ" 2>/dev/null &&
				mv "$T/proc/$c.cmdline.tmp" "$T/proc/$c.cmdline"
		done
		sleep 0.02
	done
) &
poller=$!
follow POST /v1/images '{"name":"big","file":"big.raw"}' && ok "a 1 GiB image (192 MiB of data) is imported" ||
	not_ok "a 1 GiB image (192 MiB of data) is imported" "$BODY_OUT"
kill $poller
wait $poller 2>/dev/null
rm -f "$T"/proc/*.tmp
caught=$(cat "$T"/proc/*.cmdline 2>/dev/null | tr '\0' ' ' | grep -c 'qemu-img convert' || true)
[ "$caught" -ge 1 ] && ok "qemu-img convert was caught as a child of cairnd ($(ls "$T"/proc/*.cmdline | wc -l) children seen)" ||
	not_ok "qemu-img convert was caught as a child of cairnd" "children seen: $(ls "$T/proc")"
if cat "$T"/proc/*.cmdline | tr '\0' '\n' | grep -q "^rbd:.*:id=$USER_ID:"; then
	ok "qemu-img is given the user id and the conf, not the key"
else
	not_ok "qemu-img is given the user id and the conf, not the key" "$(cat "$T"/proc/*.cmdline | tr '\0' ' ')"
fi

# ---- volumes, XML, the libvirt secret ----
call POST /v1/volumes '{"name":"web","image":"big","size":"2G"}'
[ "$STATUS" = 201 ] && ok "a clone of the image" || not_ok "a clone of the image" "$STATUS $BODY_OUT"
call POST /v1/volumes/web/snapshots '{"name":"s1"}'
call GET /v1/volumes/web
call GET /v1/volumes
call GET /v1/images/big
call GET "/v1/volumes/web/xml?target=vdb"
[ "$STATUS" = 200 ] && ok "disk XML" || not_ok "disk XML" "$STATUS $BODY_OUT"
mkdir -p "$T/libvirt"
call POST /v1/secret/ensure "{\"uri\":\"secret:///embed?root=$T/libvirt\"}"
[ "$STATUS" = 200 ] && ok "the ceph secret is in libvirt" || not_ok "the ceph secret is in libvirt" "$STATUS $BODY_OUT"
secret_uuid=$(printf '%s' "$BODY_OUT" | jq -r .uuid)
call POST /v1/secret/ensure "{\"uri\":\"secret:///embed?root=$T/libvirt\"}"
call GET "/v1/volumes/web/xml?target=vdb&secret=$secret_uuid"
printf '%s' "$BODY_OUT" | grep -q "<auth username=.$USER_ID.>" && printf '%s' "$BODY_OUT" | grep -q "uuid=.$secret_uuid." &&
	ok "the disk XML has <auth> naming the user and the secret's uuid" ||
	not_ok "the disk XML has <auth> naming the user and the secret's uuid" "$BODY_OUT"
call GET "/v1/volumes/web/domain-xml?secret=$secret_uuid"
[ "$STATUS" = 200 ] && ok "domain XML" || not_ok "domain XML" "$STATUS $BODY_OUT"
printf '%s' "$BODY_OUT" | grep -q "$secret_uuid" && ok "the domain XML names the secret by its uuid" ||
	not_ok "the domain XML names the secret by its uuid" "$BODY_OUT"

# ---- backups ----
follow POST /v1/backups '{"volume":"web","target":"pool"}' && ok "a backup to the pool" || not_ok "a backup to the pool" "$BODY_OUT"
follow POST /v1/backups '{"volume":"web","target":"file"}' && ok "a backup to a file" || not_ok "a backup to a file" "$BODY_OUT"
call GET /v1/backups
call GET /v1/operations
call GET /metrics

# ---- the CLI, and errors (messages that might quote a config or a key) ----
for args in "health" "volume show web" "volume xml web" "image list" "backup list" "op list" "pool list"; do
	# shellcheck disable=SC2086
	"$CAIRN" --json $args >"$T/cli/$(echo "$args" | tr ' ' _).out" 2>&1
done
call POST /v1/volumes '{"name":"bad/name"}'
call GET /v1/volumes/nothing
call POST /v1/secret/ensure '{"uri":"test+ext:///x?command=/bin/false"}'

kill $ev 2>/dev/null
wait $ev 2>/dev/null
inv_dump "$T/replies/rados-state.json"
cat "/proc/$pid/cmdline" >"$T/proc/cairnd.cmdline"
cat "/proc/$pid/environ" >"$T/proc/cairnd.environ"
echo "# $n API answers, $(wc -l <"$T/replies/events.ndjson") events, $(ls "$T/proc" | wc -l) /proc files kept"

# ---- the search ----
if python3 "$FAULT_DIR/find-key.py" "$KEY" "$T/cairnd.log" >"$T/found" 2>"$T/find.err"; then
	ok "the key is not in cairnd's log ($(wc -l <"$T/cairnd.log") lines, log_level debug)"
else
	not_ok "the key is not in cairnd's log" "$(cat "$T/found")"
fi
if python3 "$FAULT_DIR/find-key.py" "$KEY" "$T/replies" >"$T/found" 2>"$T/find.err"; then
	ok "the key is in no API answer, event, XML or RADOS record ($(cat "$T/find.err"))"
else
	not_ok "the key is in no API answer, event, XML or RADOS record" "$(cat "$T/found")"
fi
if python3 "$FAULT_DIR/find-key.py" "$KEY" "$T/proc" >"$T/found" 2>"$T/find.err"; then
	ok "the key is in no cmdline or environ of cairnd and its children ($(cat "$T/find.err"))"
else
	not_ok "the key is in no cmdline or environ of cairnd and its children" "$(cat "$T/found")"
fi
if python3 "$FAULT_DIR/find-key.py" "$KEY" --exclude "$T/libvirt" --exclude "$T/import" "$T" >"$T/found" 2>"$T/find.err"; then
	ok "the key is in no file under the test directory but libvirt's own store ($(cat "$T/find.err"))"
else
	not_ok "the key is in no file under the test directory but libvirt's own store" "$(cat "$T/found")"
fi
# libvirt did get it: the secret is usable (its store holds the value, in its own format)
if python3 "$FAULT_DIR/find-key.py" "$KEY" "$T/libvirt" >/dev/null 2>&1; then
	not_ok "libvirt's secret store holds the key (the secret is usable)"
else
	ok "libvirt's secret store holds the key (the secret is usable)"
fi

daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
tap_done
