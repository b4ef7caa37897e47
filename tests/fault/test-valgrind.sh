#!/usr/bin/env bash
# cairnd under valgrind (memcheck) through a short API session of every kind of request:
# no memory error and no definite leak when it stops. The suppressions in
# tests/valgrind.supp cover one-time allocations of librados/libvirt/glib, each justified there.
. "$(dirname "$0")/fault-lib.sh"

SUPP=$TOP/tests/valgrind.supp
VG_LOG=$T/valgrind.log
export CAIRN_TEST_WRAPPER="valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite
 --show-leak-kinds=definite --error-exitcode=99 --num-callers=40 --suppressions=$SUPP
 --gen-suppressions=all --log-file=$VG_LOG"
daemon_config "reconcile_interval = 3s" "workers = 4"
printf '[volumes]\ntrash_delay = 0s\npurge_interval = 2s\n[backup]\ndirectory = %s\n' "$BACKUP_DIR" >>"$T/cairn.conf"
mkdir -p "$BACKUP_DIR"
daemon_start
pid=$DAEMON_PID
grep -q valgrind "/proc/$pid/cmdline" && ok "cairnd runs under valgrind (pid $pid)" ||
	not_ok "cairnd runs under valgrind" "$(tr '\0' ' ' <"/proc/$pid/cmdline")"

follow() { # METHOD PATH BODY: a 202 followed to its end
	api "$@"
	[ "$STATUS" = 202 ] || return 1
	op_wait "$(printf '%s' "$BODY_OUT" | jq -r .id)" 300 | jq -e '.status == "succeeded"' >/dev/null
}

qemu-img create -q -f qcow2 "$T/import/small.qcow2" 32M
qemu-io -f qcow2 -c 'write -P 0x77 0 2M' "$T/import/small.qcow2" >/dev/null
curl -sN --max-time 600 --unix-socket "$SOCK" http://cairn/v1/events >/dev/null 2>&1 &
ev=$!
expect_status "health" 200 GET /v1/health
expect_status "pools" 200 GET /v1/pools
follow POST /v1/images '{"name":"img","file":"small.qcow2"}' && ok "an import" || not_ok "an import" "$BODY_OUT"
expect_status "a clone" 201 POST /v1/volumes '{"name":"c1","image":"img","size":"64M","labels":{"a":"b"}}'
expect_status "a blank volume" 201 POST /v1/volumes '{"name":"b1","size":"16M"}'
expect_status "a snapshot" 201 POST /v1/volumes/c1/snapshots '{"name":"s1"}'
expect_status "a clone of the snapshot" 201 POST /v1/volumes '{"name":"c2","snapshot":"c1@s1"}'
expect_status "a clone of a volume" 201 POST /v1/volumes '{"name":"c3","volume":"b1"}'
expect_status "extend" 200 POST /v1/volumes/b1/extend '{"size":"32M"}'
expect_status "rename" 200 POST /v1/volumes/b1/rename '{"name":"b2"}'
expect_status "labels" 200 PATCH /v1/volumes/b2 '{"labels":{"x":"y"},"qos":{"iops":100}}'
expect_status "list" 200 GET "/v1/volumes?label=a=b"
expect_status "show" 200 GET /v1/volumes/c1
expect_status "snapshots" 200 GET /v1/volumes/c1/snapshots
expect_status "xml" 200 GET "/v1/volumes/c1/xml?target=vdb"
expect_status "domain xml" 200 GET /v1/volumes/c1/domain-xml
expect_status "domain xml with more disks and a NIC" 200 GET "/v1/volumes/c1/domain-xml?volumes=c3,b2&network=default"
expect_status "domain xml naming a volume twice" 400 GET "/v1/volumes/c1/domain-xml?volumes=c3,c3"
expect_status "domain xml naming an unknown volume" 404 GET "/v1/volumes/c1/domain-xml?volumes=c3,none"
# libvirt's test driver: attach picks vdb and gets as far as libvirt (which cannot
# hot-plug there); detach finds no disk with c1's source
expect_status "attach through libvirt's test driver" 501 POST /v1/volumes/c1/attach '{"domain":"test","uri":"test:///default","live":true}'
expect_status "detach of a volume that is not attached" 404 POST /v1/volumes/c1/detach '{"domain":"test","uri":"test:///default"}'
follow POST /v1/volumes/c2/flatten '' && ok "a flatten" || not_ok "a flatten" "$BODY_OUT"
follow POST /v1/backups '{"volume":"c1","target":"pool"}' && ok "a backup to the pool" || not_ok "a backup to the pool" "$BODY_OUT"
follow POST /v1/backups '{"volume":"c1","target":"file"}' && ok "a backup to a file" || not_ok "a backup to a file" "$BODY_OUT"
api GET /v1/backups
bid=$(printf '%s' "$BODY_OUT" | jq -r '.backups[0].id')
follow POST "/v1/backups/$bid/verify" '' && ok "a verify" || not_ok "a verify" "$BODY_OUT"
follow POST "/v1/backups/$bid/restore" '{"volume":"r1"}' && ok "a restore" || not_ok "a restore" "$BODY_OUT"
expect_status "metrics" 200 GET /metrics
expect_status "operations" 200 GET /v1/operations
# errors and refusals
expect_status "a bad body" 400 POST /v1/volumes '{"name":"a/b"}'
expect_status "a missing volume" 404 GET /v1/volumes/none
expect_status "a taken name" 409 POST /v1/volumes '{"name":"c1","size":"16M"}'
API_SOCK=$RO_SOCK expect_status "read-only socket" 403 POST /v1/pools/init
printf 'GARBAGE\r\n\r\n' >"$T/garbage"
raw_http "$T/garbage" >/dev/null
# deletes, and the background passes that purge
for v in c3 r1 c2 c1 b2; do
	follow DELETE "/v1/volumes/$v?force" '' || not_ok "delete $v" "$BODY_OUT"
done
expect_status "delete the image" 200 DELETE /v1/images/img
sleep 8 # two background passes (reconcile, purge, sweeps)
kill $ev 2>/dev/null
wait $ev 2>/dev/null

# the verdict comes when cairnd exits: memcheck's exit status and its log
kill -TERM "$pid"
for _ in $(seq 1 1800); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
rc=$?
DAEMON_PID=
[ $rc = 0 ] && ok "cairnd exits 0 under valgrind: no memory error, no definite leak" ||
	not_ok "cairnd exits 0 under valgrind: no memory error, no definite leak" "exit $rc" \
		"$(head -80 "$VG_LOG")"
grep -q 'definitely lost' "$VG_LOG" &&
	not_ok "valgrind reports no definitely lost block" "$(grep -A20 'definitely lost' "$VG_LOG" | head -60)" ||
	ok "valgrind reports no definitely lost block"
tap_done
