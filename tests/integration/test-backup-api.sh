#!/usr/bin/env bash
# Backups through the real daemon and the CLI: full and incremental to the backups pool
# and to export-diff files, restored to new volumes whose bytes are compared with what the
# volume held at each point; the file chain also restored with the stock rbd import-diff.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/backups"
daemon_config
printf '[backup]\ndirectory = %s\n' "$T/backups" >>"$T/cairn.conf"
daemon_start
C="$CAIRN_TEST_CEPH_CONF"
. "$(dirname "$0")/backup-lib.sh"

api POST /v1/volumes '{"name":"db","size":"64M"}'
img=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
qio "$img" -c 'write -P 0x11 0 4M' -c 'write -P 0x22 32M 1M'
sha1=$(sha_of "$PREFIX-volumes/$img")

follow /v1/backups '{"volume":"db","target":"pool"}'
jq_check "a full backup to the pool succeeds" '.status == "succeeded" and .result.kind == "full"'
b1=$(printf '%s' "$BODY_OUT" | jq -r .result.id)
# with fast-diff the unit is the 4 MiB object: two objects hold data
jq_check "zero extents are not copied: 2 objects of data, not 64 MiB" '.result.bytes <= 8388608'

qio "$img" -c 'write -P 0x33 8M 64k' -c 'write -P 0x44 60M 4k'
sha2=$(sha_of "$PREFIX-volumes/$img")
follow /v1/backups '{"volume":"db","target":"pool","incremental":true}'
jq_check "an incremental backup follows the full" ".status == \"succeeded\" and .result.kind == \"incremental\" and .result.parent == \"$b1\""
b2=$(printf '%s' "$BODY_OUT" | jq -r .result.id)
jq_check "the incremental copied only the 2 changed objects" '.result.bytes <= 8388608'

restore_points "" "$b1:$sha1:r1" "$b2:$sha2:r2"

# ---- file target, and the stock rbd import-diff ----
follow /v1/backups '{"volume":"db","target":"file"}'
jq_check "a full backup to a file succeeds" '.status == "succeeded" and .result.target == "file"'
f1=$(printf '%s' "$BODY_OUT" | jq -r .result.path)
qio "$img" -c 'write -P 0x55 16M 128k'
sha3=$(sha_of "$PREFIX-volumes/$img")
follow /v1/backups '{"volume":"db","target":"file","incremental":true}'
jq_check "an incremental backup to a file succeeds" '.status == "succeeded" and .result.kind == "incremental"'
f2=$(printf '%s' "$BODY_OUT" | jq -r .result.path)
b4=$(printf '%s' "$BODY_OUT" | jq -r .result.id)
[ -f "$f1" ] && [ -f "$f2" ] && ok "the backup files exist" || not_ok "the backup files exist" "$f1 $f2"

rbdc create --size 64M "$PREFIX-volumes/stock" &&
	rbdc import-diff --no-progress "$f1" "$PREFIX-volumes/stock" &&
	rbdc import-diff --no-progress "$f2" "$PREFIX-volumes/stock" &&
	ok "the stock rbd import-diff takes the chain" || not_ok "the stock rbd import-diff takes the chain"
got=$(sha_of "$PREFIX-volumes/stock")
[ "$got" = "$sha3" ] && ok "rbd import-diff restores exactly the data, without cairn" ||
	not_ok "rbd import-diff restores exactly the data, without cairn" "want $sha3 got $got"
rbdc rm --no-progress "$PREFIX-volumes/stock" >/dev/null 2>&1

if out=$("$CAIRN" backup verify "$b4" 2>&1); then ok "cairn backup verify of a good chain"; else not_ok "cairn backup verify of a good chain" "$out"; fi

# a flipped byte is found, named, and never restored
python3 - "$f2" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0xff
open(p, 'wb').write(bytes(b))
PY
follow "/v1/backups/$b4/verify" '{}'
jq_check "verify finds the corrupt file and names it" ".status == \"failed\" and (.error.message | test(\"$b4\"))"
follow "/v1/backups/$b4/restore" '{"volume":"r4"}'
jq_check "restore of a corrupt backup fails" '.status == "failed"'
expect_status "and leaves no volume behind" 404 GET /v1/volumes/r4

# ---- the CLI, listing and deleting ----
if out=$("$CAIRN" backup list --volume db 2>&1) && [ "$(printf '%s\n' "$out" | grep -c ' db ')" = 4 ]; then
	ok "cairn backup list shows the four backups"
else
	not_ok "cairn backup list shows the four backups" "$out"
fi
expect_status "a backup others depend on cannot be deleted" 409 DELETE "/v1/backups/$b1"
expect_status "the newest pool backup can be deleted" 200 DELETE "/v1/backups/$b2"
expect_status "then its parent can" 200 DELETE "/v1/backups/$b1"
expect_status "a backup of a missing volume is accepted as an operation" 202 POST /v1/backups '{"volume":"nope"}'
op=$(printf '%s' "$BODY_OUT" | jq -r .id)
api GET "/v1/operations/$op/wait?timeout=30"
jq_check "and its operation fails with not_found" '.status == "failed" and .error.reason == "not_found"'
expect_status "a bad target is 400" 400 POST /v1/backups '{"volume":"db","target":"tape"}'

# ---- a set: the disks of one VM at one point ----
expect_status "volume and volumes together are 400" 400 POST /v1/backups '{"volume":"db","volumes":["db"]}'
expect_status "neither is 400" 400 POST /v1/backups '{"target":"pool"}'
expect_status "a volume named twice in a set is 400" 400 POST /v1/backups '{"volumes":["db","db"]}'
api POST /v1/volumes '{"name":"logs","size":"32M"}'
limg=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
qio "$limg" -c 'write -P 0x66 0 2M'
follow /v1/backups '{"volumes":["db","logs"],"target":"file"}'
jq_check "a set of two volumes: two backups, one set, one group" \
	'.status == "succeeded" and (.result.backups | length) == 2 and (.result.backups | map(.set) | unique) == [.result.set] and (.result.group | length) > 0'
sf1=$(printf '%s' "$BODY_OUT" | jq -r '.result.backups[] | select(.volume == "logs") | .path')
qio "$limg" -c 'write -P 0x77 1M 64k' -c 'write -P 0x78 30M 4k'
shal=$(sha_of "$PREFIX-volumes/$limg")
if out=$("$CAIRN" backup create db logs --target file --incremental 2>&1); then
	ok "cairn backup create with two volumes makes a set"
else
	not_ok "cairn backup create with two volumes makes a set" "$out"
fi
api GET "/v1/backups?volume=logs"
jq_check "the set's second backup of logs is incremental from the first" \
	'(.backups | length) == 2 and .backups[1].kind == "incremental" and .backups[1].parent == .backups[0].id and .backups[1].set != .backups[0].set'
sf2=$(printf '%s' "$BODY_OUT" | jq -r '.backups[1].path')
rbdc create --size 32M "$PREFIX-volumes/stock2" &&
	rbdc import-diff --no-progress "$sf1" "$PREFIX-volumes/stock2" &&
	rbdc import-diff --no-progress "$sf2" "$PREFIX-volumes/stock2" &&
	[ "$(sha_of "$PREFIX-volumes/stock2")" = "$shal" ] &&
	ok "rbd import-diff restores a set's chain exactly" || not_ok "rbd import-diff restores a set's chain exactly"
rbdc rm --no-progress "$PREFIX-volumes/stock2" >/dev/null 2>&1

# ---- instant restore: a clone of the backup in the pool ----
follow /v1/backups '{"volume":"logs","target":"pool"}'
bi=$(printf '%s' "$BODY_OUT" | jq -r .result.id)
if out=$("$CAIRN" backup restore "$bi" --to ri --instant 2>&1); then
	ok "cairn backup restore --instant"
else
	not_ok "cairn backup restore --instant" "$out"
fi
api GET /v1/volumes/ri
jq_check "the instant restore is a clone of the backup" ".parent.kind == \"backup\" and .parent.name == \"$bi\""
rimg=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
[ "$(sha_of "$PREFIX-volumes/$rimg")" = "$shal" ] &&
	ok "the instant restore holds the backup's bytes" || not_ok "the instant restore holds the backup's bytes"
expect_status "a backup a volume depends on cannot be deleted" 409 DELETE "/v1/backups/$bi"
expect_status "an instant restore over the original is 400" 400 POST "/v1/backups/$bi/restore" '{"original":true,"instant":true}'
follow "/v1/backups/$bi/restore" '{"volume":"rr","verify":"readback"}'
jq_check "a restore checked by reading the volume back succeeds" '.status == "succeeded"'
api GET /v1/volumes/rr
rimg=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
[ "$(sha_of "$PREFIX-volumes/$rimg")" = "$shal" ] &&
	ok "and holds the backup's bytes" || not_ok "and holds the backup's bytes"
expect_status "an unknown restore check is 400" 400 POST "/v1/backups/$bi/restore" '{"verify":"twice"}'

daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
tap_done
