#!/usr/bin/env bash
# Images, volumes and snapshots through the real daemon, with the CLI and curl, and the
# truth checked in Ceph with the rbd CLI: a long import followed with progress, clones,
# snapshots, delete, idempotency, events, and bad input that creates nothing.
. "$(dirname "$0")/lib.sh"

daemon_config "reconcile_interval = 2s"
printf '[volumes]\npurge_interval = 2s\n' >>"$T/cairn.conf"
daemon_start
C="$CAIRN_TEST_CEPH_CONF"
rbdc() { rbd -c "$C" "$@"; }

# a 256 MiB qcow2 with 64 MiB of known data, the rest holes
qemu-img create -q -f qcow2 "$T/import/golden.qcow2" 256M
qemu-io -f qcow2 -c 'write -P 0xab 0 32M' -c 'write -P 0xcd 128M 32M' "$T/import/golden.qcow2" >/dev/null

# ---- a long operation, followed to its end with progress ----
curl -sN --max-time 60 --unix-socket "$SOCK" http://cairn/v1/events >"$T/events" 2>/dev/null &
ev_pid=$!
sleep 0.3
if "$CAIRN" image import golden golden.qcow2 >"$T/import.out" 2>"$T/import.err"; then
	ok "cairn image import finishes"
else
	not_ok "cairn image import finishes" "$(cat "$T/import.err")"
fi
grep -q '^progress 100%' "$T/import.err" && ok "the CLI showed progress up to 100%" ||
	not_ok "the CLI showed progress up to 100%" "$(cat "$T/import.err")"
kill $ev_pid 2>/dev/null
wait $ev_pid 2>/dev/null
if jq -e 'select(.type == "operation" and .operation.kind == "image.import" and .operation.status == "succeeded")' "$T/events" >/dev/null 2>&1; then
	ok "the event stream told the import's end"
else
	not_ok "the event stream told the import's end" "$(head -c 600 "$T/events")"
fi
api GET /v1/images/golden
jq_check "the image is available, 256 MiB, from qcow2" '.status == "available" and .size == 268435456 and .format == "qcow2"'
# the checksum is the SHA-256 of the file as imported, as sha256sum computes it
sum="sha256:$(sha256sum "$T/import/golden.qcow2" | cut -d' ' -f1)"
jq_check "the image's checksum is the sha256sum of the imported file" ".checksum == \"$sum\""
img=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
if "$CAIRN" image show golden >"$T/show.out" 2>&1 && grep -q "checksum.*$sum" "$T/show.out"; then
	ok "cairn image show prints the checksum"
else
	not_ok "cairn image show prints the checksum" "$(cat "$T/show.out")"
fi
rbdc snap ls "$PREFIX-images/$img" | grep -q cairn-base && ok "rbd shows the image's base snapshot" ||
	not_ok "rbd shows the image's base snapshot"
# the bytes in Ceph are the bytes of the file
qemu-img convert -O raw "$T/import/golden.qcow2" "$T/golden.raw"
rbdc export --no-progress "$PREFIX-images/$img" "$T/export.raw" 2>/dev/null
cmp -s "$T/golden.raw" "$T/export.raw" && ok "the imported image holds exactly the file's data" ||
	not_ok "the imported image holds exactly the file's data"

# the same through the API: 202, Location, wait
api POST /v1/images '{"name":"golden2","file":"golden.qcow2"}'
[ "$STATUS" = 202 ] && ok "POST /v1/images answers 202" || not_ok "POST /v1/images answers 202" "$STATUS $BODY_OUT"
op=$(printf '%s' "$BODY_OUT" | jq -r .id)
api GET "/v1/operations/$op/wait?timeout=60"
jq_check "waiting on the operation returns it succeeded at 100%" '.status == "succeeded" and .progress == 100 and .result.name == "golden2"'
jq_check "the operation's result carries the checksum" ".result.checksum == \"$sum\""
api GET "/v1/operations?kind=image.import"
jq_check "operations list has both imports" '[.operations[] | select(.kind == "image.import")] | length >= 2'

# ---- an image too big for what the pool can take: refused before anything is made ----
# (a byte quota on the images pool below what it already holds: 0 B more)
ceph -c "$C" osd pool set-quota "$PREFIX-images" max_bytes $((8 << 20)) >/dev/null 2>&1
rbdc ls "$PREFIX-images" | sort >"$T/images.before"
api POST /v1/images '{"name":"toobig","file":"golden.qcow2"}'
op=$(printf '%s' "$BODY_OUT" | jq -r .id)
api GET "/v1/operations/$op/wait?timeout=60"
jq_check "an import too big for the pool's quota fails, saying so" \
	'.status == "failed" and .error.reason == "insufficient_storage" and (.error.message | test("needs up to 64[.0-9]* MiB, but pool .* takes 0 B more"))'
expect_status "the refused image does not exist" 404 GET /v1/images/toobig
rbdc ls "$PREFIX-images" | sort >"$T/images.after"
cmp -s "$T/images.before" "$T/images.after" && ok "nothing was made in the images pool" ||
	not_ok "nothing was made in the images pool" "$(diff "$T/images.before" "$T/images.after")"

# ---- a full pool: writes that add data get 507 at once, the rest goes on ----
# The quota below what the pool holds makes the monitor flag the pool full a few seconds
# later. cairn writes with "full try": an OSD answers EDQUOT rather than dropping the write
# until the client's map catches up (which ran into osd_op_timeout, and one timeout made
# cairnd answer 503 to everything). pool_full POOL waits for the flag, pool_unfull POOL
# lifts the quota and waits until the flag is gone.
pool_flags() {
	ceph -c "$C" osd dump -f json | jq -r --arg p "$1" '.pools[] | select(.pool_name == $p) | .flags_names'
}
pool_full() {
	ceph -c "$C" osd pool set-quota "$1" max_bytes $((8 << 20)) >/dev/null 2>&1
	for _ in $(seq 1 120); do
		case $(pool_flags "$1") in *full*) return 0 ;; *) sleep 0.5 ;; esac
	done
	bail "the monitor did not flag pool $1 full"
}
pool_unfull() {
	local flags
	ceph -c "$C" osd pool set-quota "$1" max_bytes 0 >/dev/null 2>&1
	for _ in $(seq 1 120); do
		flags=$(pool_flags "$1")
		case $flags in *full*) sleep 0.5 ;; *) return 0 ;; esac
	done
	bail "pool $1 is still flagged full: $flags"
}
reachable() { # description
	api GET /v1/health
	jq_check "$1" '.cluster.reachable == true'
}
pool_full "$PREFIX-images"
# a clone writes nothing but its link into the parent's pool
expect_status "with the images pool full, a clone of its image is made at once" 201 POST /v1/volumes \
	'{"name":"fullclone","image":"golden"}'
reachable "cairnd still takes the cluster for reachable"
pool_unfull "$PREFIX-images"
api DELETE /v1/volumes/fullclone
api GET "/v1/operations/$(printf '%s' "$BODY_OUT" | jq -r .id)/wait?timeout=60"
jq_check "the clone is deleted again" '.status == "succeeded"'

# the volumes pool holds cairn's records too (16 MiB of data in it, over the quota)
api POST /v1/volumes '{"name":"filler","size":"64M"}'
rbdc bench --io-type write --io-total 16M "$PREFIX-volumes/$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)" >/dev/null 2>&1
rbdc ls "$PREFIX-volumes" | sort >"$T/vols.before"
pool_full "$PREFIX-volumes"
api POST /v1/volumes '{"name":"nospace","size":"8M"}'
jq_check "with the volumes pool full, a new volume is a 507 naming the pool" \
	".error.code == 507 and .error.reason == \"insufficient_storage\" and (.error.message | contains(\"$PREFIX-volumes\"))"
expect_status "and reads go on: the volume list" 200 GET /v1/volumes
reachable "cairnd still takes the cluster for reachable with its state pool full"
pool_unfull "$PREFIX-volumes"
expect_status "the refused volume does not exist" 404 GET /v1/volumes/nospace
rbdc ls "$PREFIX-volumes" | sort >"$T/vols.after"
cmp -s "$T/vols.before" "$T/vols.after" && ok "the refused volume made no RBD image" ||
	not_ok "the refused volume made no RBD image" "$(diff "$T/vols.before" "$T/vols.after")"
api DELETE /v1/volumes/filler
api GET "/v1/operations/$(printf '%s' "$BODY_OUT" | jq -r .id)/wait?timeout=60"
jq_check "the filler volume is deleted again" '.status == "succeeded"'

# ---- volumes as clones ----
t0=$(date +%s%N)
if "$CAIRN" volume create web1 --image golden --size 1G >/dev/null 2>"$T/err"; then ok "cairn volume create --image"; else not_ok "cairn volume create --image" "$(cat "$T/err")"; fi
echo "# clone through cairnd took $((($(date +%s%N) - t0) / 1000000)) ms (CLI included)"
api GET /v1/volumes/web1
jq_check "the volume is a 1 GiB clone of the image" '.size == 1073741824 and .parent.kind == "image" and .parent.name == "golden"'
vimg=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
rbdc info "$PREFIX-volumes/$vimg" | grep -q "parent: $PREFIX-images/$img@cairn-base" && ok "rbd info shows the clone's parent" ||
	not_ok "rbd info shows the clone's parent" "$(rbdc info "$PREFIX-volumes/$vimg")"
rbdc info "$PREFIX-volumes/$vimg" | grep -q "size 1 GiB" && ok "rbd info shows the grown size" || not_ok "rbd info shows the grown size"

expect_status "a snapshot of the volume" 201 POST /v1/volumes/web1/snapshots '{"name":"s1"}'
expect_status "a clone of the snapshot" 201 POST /v1/volumes '{"name":"web2","snapshot":"web1@s1"}'
expect_status "a clone of a volume" 201 POST /v1/volumes '{"name":"web3","volume":"web1","labels":{"env":"test"}}'
expect_status "a blank volume" 201 POST /v1/volumes '{"name":"blank","size":"64M"}'
api GET "/v1/volumes?label=env=test"
jq_check "the label filter finds exactly web3" '[.volumes[].name] == ["web3"]'
if "$CAIRN" volume update web3 --label env=prod --label tier=web --qos-iops 500 >/dev/null 2>"$T/err"; then
	ok "cairn volume update sets labels and QoS"
else
	not_ok "cairn volume update sets labels and QoS" "$(cat "$T/err")"
fi
api GET /v1/volumes/web3
jq_check "the labels were replaced and the limit recorded" '.labels == {"env":"prod","tier":"web"} and .qos.iops == 500'
w3=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
[ "$(rbdc image-meta get "$PREFIX-volumes/$w3" conf_rbd_qos_iops_limit 2>/dev/null)" = 500 ] &&
	ok "librbd's QoS limit is set on the image" || not_ok "librbd's QoS limit is set on the image"
api GET /v1/volumes/web3/xml
printf '%s' "$BODY_OUT" | grep -q '<total_iops_sec>500</total_iops_sec>' && ok "the disk XML carries the limit as iotune" ||
	not_ok "the disk XML carries the limit as iotune" "$BODY_OUT"
printf '%s' "$BODY_OUT" | xmllint --noout - 2>/dev/null && ok "the disk XML is well-formed" || not_ok "the disk XML is well-formed"
# ---- a whole domain: the boot volume, more disks at the next free targets, a NIC ----
api GET "/v1/volumes/web1/domain-xml?name=vm1&memory=256&volumes=web3,blank&network=default"
printf '%s' "$BODY_OUT" >"$T/dom3.xml"
dx() { xmllint --xpath "$1" "$T/dom3.xml" 2>/dev/null; }
src_of() { # volume -> POOL/IMAGE
	api GET "/v1/volumes/$1"
	printf '%s/%s' "$(printf '%s' "$BODY_OUT" | jq -r .pool)" "$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)"
}
if [ "$(dx 'count(/domain/devices/disk)')" = 3 ] &&
	[ "$(dx "string(/domain/devices/disk[1]/target/@dev)")" = vda ] &&
	[ "$(dx "string(/domain/devices/disk[1]/source/@name)")" = "$(src_of web1)" ] &&
	[ "$(dx "string(/domain/devices/disk[2]/target/@dev)")" = vdb ] &&
	[ "$(dx "string(/domain/devices/disk[2]/source/@name)")" = "$(src_of web3)" ] &&
	[ "$(dx "string(/domain/devices/disk[3]/target/@dev)")" = vdc ] &&
	[ "$(dx "string(/domain/devices/disk[3]/source/@name)")" = "$(src_of blank)" ] &&
	[ "$(dx 'count(//boot)')" = 1 ] && [ "$(dx 'string(/domain/devices/disk[1]/boot/@order)')" = 1 ]; then
	ok "domain-xml?volumes=web3,blank: web1 boots at vda, web3 is vdb, blank is vdc"
else
	not_ok "domain-xml?volumes=web3,blank: web1 boots at vda, web3 is vdb, blank is vdc" "$(cat "$T/dom3.xml")"
fi
[ "$(dx 'string(/domain/devices/disk[2]/iotune/total_iops_sec)')" = 500 ] &&
	ok "the extra disk web3 carries its own QoS limit" || not_ok "the extra disk web3 carries its own QoS limit"
[ "$(dx 'string(/domain/devices/interface[@type="network"]/source/@network)')" = default ] &&
	[ "$(dx 'string(/domain/devices/interface/model/@type)')" = virtio ] &&
	ok "network=default gives one virtio NIC on libvirt network 'default'" ||
	not_ok "network=default gives one virtio NIC on libvirt network 'default'" "$(cat "$T/dom3.xml")"
if command -v virt-xml-validate >/dev/null 2>&1; then
	virt-xml-validate "$T/dom3.xml" domain >"$T/validate.out" 2>&1 &&
		ok "libvirt's schema takes that domain (virt-xml-validate)" ||
		not_ok "libvirt's schema takes that domain (virt-xml-validate)" "$(cat "$T/validate.out")"
fi
# the boot disk's target moves the others to the next free ones
api GET "/v1/volumes/web1/domain-xml?target=vdb&volumes=web3,blank"
printf '%s' "$BODY_OUT" >"$T/dom3.xml"
[ "$(dx 'string(/domain/devices/disk[1]/target/@dev)') $(dx 'string(/domain/devices/disk[2]/target/@dev)') $(dx 'string(/domain/devices/disk[3]/target/@dev)')" = "vdb vda vdc" ] &&
	ok "with target=vdb for the boot disk, the others are vda and vdc" ||
	not_ok "with target=vdb for the boot disk, the others are vda and vdc" "$(cat "$T/dom3.xml")"
if "$CAIRN" volume domain-xml web1 --name vm1 --memory 256 --volume web3 --volume blank \
	--network default >"$T/dom3-cli.xml" 2>"$T/err" &&
	api GET "/v1/volumes/web1/domain-xml?name=vm1&memory=256&volumes=web3,blank&network=default" &&
	[ "$(cat "$T/dom3-cli.xml")" = "$BODY_OUT" ]; then
	ok "cairn volume domain-xml --volume web3 --volume blank --network default prints the same domain"
else
	not_ok "cairn volume domain-xml --volume ... --network prints the same domain" "$(cat "$T/err")"
fi
expect_status "volumes= naming an unknown volume" 404 GET "/v1/volumes/web1/domain-xml?volumes=web3,ghost"
jq_check "the 404 names it" '.error.message == "volume '"'"'ghost'"'"' not found"'
expect_status "volumes= naming one twice" 400 GET "/v1/volumes/web1/domain-xml?volumes=web3,web3"
jq_check "the 400 says so" '.error.message == "query '"'"'volumes'"'"' names volume '"'"'web3'"'"' twice"'
expect_status "volumes= naming the boot volume" 400 GET "/v1/volumes/web1/domain-xml?volumes=web1"
expect_status "volumes= with an empty entry" 400 GET "/v1/volumes/web1/domain-xml?volumes=web3,,blank"
jq_check "the 400 names the query" '.error.message | . == "query '"'"'volumes'"'"': volume name is empty"'
expect_status "volumes= with a bad name" 400 GET "/v1/volumes/web1/domain-xml?volumes=web3,a%2Fb"
expect_status "network= with a bad name" 400 GET "/v1/volumes/web1/domain-xml?network=a%2Fb"
jq_check "the 400 names the network" '.error.message | test("network")'
expect_status "extend grows" 200 POST /v1/volumes/blank/extend '{"size":"128M"}'
expect_status "shrink is refused" 400 POST /v1/volumes/blank/extend '{"size":"64M"}'
expect_status "rename" 200 POST /v1/volumes/blank/rename '{"name":"blank2"}'
expect_status "the old name is gone" 404 GET /v1/volumes/blank
expect_status "snapshot with clones cannot be deleted" 409 DELETE /v1/volumes/web1/snapshots/s1
jq_check "the 409 names the clone by its volume" '.error.message | test("web2")'

# ---- bad input creates nothing ----
before=$(rbdc ls "$PREFIX-volumes" | sort)
expect_status "bad name" 400 POST /v1/volumes '{"name":"a/b","size":"1G"}'
expect_status "unaligned size" 400 POST /v1/volumes '{"name":"odd","size":1000}'
expect_status "zero size" 400 POST /v1/volumes '{"name":"zero","size":0}'
expect_status "negative size" 400 POST /v1/volumes '{"name":"neg","size":-512}'
expect_status "two sources" 400 POST /v1/volumes '{"name":"two","image":"golden","volume":"web1"}'
expect_status "unknown image" 404 POST /v1/volumes '{"name":"ghost","image":"nope"}'
expect_status "smaller than the parent" 400 POST /v1/volumes '{"name":"small","image":"golden","size":"128M"}'
expect_status "name taken" 409 POST /v1/volumes '{"name":"web1","size":"1G"}'
expect_status "import from outside the import directory" 403 POST /v1/images '{"name":"evil","file":"/etc/passwd"}'
after=$(rbdc ls "$PREFIX-volumes" | sort)
[ "$before" = "$after" ] && ok "no RBD image was created by the bad requests" || not_ok "no RBD image was created by the bad requests" "before: $before" "after: $after"
api GET /v1/volumes
jq_check "no record was created by the bad requests" '[.volumes[].name] | sort == ["blank2","web1","web2","web3"]'

# ---- idempotency ----
STATUS=$(curl -s -o "$T/i1" -w '%{http_code}' --unix-socket "$SOCK" -H 'Idempotency-Key: k-123' \
	-H 'Content-Type: application/json' -d '{"name":"idem","size":"16M"}' http://cairn/v1/volumes)
STATUS2=$(curl -s -o "$T/i2" -w '%{http_code}' --unix-socket "$SOCK" -H 'Idempotency-Key: k-123' \
	-H 'Content-Type: application/json' -d '{"name":"idem","size":"16M"}' http://cairn/v1/volumes)
[ "$STATUS" = 201 ] && [ "$STATUS2" = 201 ] && cmp -s "$T/i1" "$T/i2" &&
	ok "a replayed create returns the first answer" ||
	not_ok "a replayed create returns the first answer" "$STATUS $(cat "$T/i1")" "$STATUS2 $(cat "$T/i2")"
n=$(rbdc ls "$PREFIX-volumes" | wc -l)
api GET /v1/volumes
jq_check "exactly one volume 'idem'" '[.volumes[] | select(.name == "idem")] | length == 1'

# ---- GET of one volume: read-your-writes here, bounded staleness from another host ----
api POST /v1/volumes '{"name":"fresh1","size":"64M","labels":{"path":"a/b\"c","who":"Zoë"}}'
[ "$STATUS" = 201 ] && ok "a volume for the GET checks" || not_ok "a volume for the GET checks" "$STATUS $BODY_OUT"
api GET /v1/volumes/fresh1
jq_check "GET says when its facts were read and how long ago (at most 2 s)" \
	'(.as_of | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$")) and .age_ms >= 0 and .age_ms <= 2000'
for _ in 1 2 3; do api GET /v1/volumes/fresh1; done # kept now
api POST /v1/volumes/fresh1/extend '{"size":"128M"}'
api GET /v1/volumes/fresh1
jq_check "right after an extend here, GET shows the new size" '.size == 134217728 and .provisioned == 134217728'
api POST /v1/volumes/fresh1/snapshots '{"name":"s9"}'
api GET /v1/volumes/fresh1
jq_check "right after a snapshot here, GET lists it" '[.snapshots[].name] == ["s9"]'
api PATCH /v1/volumes/fresh1 '{"labels":{"x":"1","path":"a/b\"c"}}'
api GET /v1/volumes/fresh1
jq_check "right after a PATCH here, GET shows the labels" '.labels == {"x": "1", "path": "a/b\"c"}'
api POST /v1/volumes/fresh1/rename '{"name":"fresh2"}'
expect_status "right after a rename here, the old name is gone" 404 GET /v1/volumes/fresh1
expect_status "and the new one answers" 200 GET /v1/volumes/fresh2

# the list is what GET of each volume says, less GET's live facts
api GET '/v1/volumes?hidden'
printf '%s' "$BODY_OUT" >"$T/list.json"
same=1 n=0
for v in $(jq -r '.volumes[].name' "$T/list.json"); do
	api GET "/v1/volumes/$v"
	n=$((n + 1))
	got=$(printf '%s' "$BODY_OUT" | jq -cS 'del(.provisioned, .used, .parent_chain, .snapshots, .children, .as_of, .age_ms)')
	want=$(jq -cS --arg v "$v" '.volumes[] | select(.name == $v)' "$T/list.json")
	[ "$got" = "$want" ] || { same=0; echo "# $v: GET $got"; echo "#   list $want"; }
done
[ $same = 1 ] && [ $n -ge 3 ] && ok "each of the $n listed volumes is what its GET says" ||
	not_ok "each listed volume is what its GET says"
api GET '/v1/volumes?label=path=a/b"c'
jq_check "the label filter matches values with escapes" '[.volumes[].name] == ["fresh2"]'
api GET '/v1/volumes?label=x'
jq_check "and keys alone" '[.volumes[].name] == ["fresh2"]'

# a second cairnd on the same cluster, another host to cairn
trap 'stop_b; cleanup_itest' EXIT
second_daemon_start
# B_DO METHOD PATH [BODY]: a change through the second cairnd, then this cairnd is read until
# the documented bound (2 s) has passed since it was answered: every reply in between is at
# most 2 s old, and the first one after the bound shows the change.
b_do() {
	local t_done ages_ok=1
	for _ in 1 2 3; do api GET /v1/volumes/fresh2; done # kept here
	API_SOCK=$SOCK_B api "$@"
	B_STATUS=$STATUS
	t_done=$(date +%s%N)
	while [ $(($(date +%s%N) - t_done)) -lt 2100000000 ]; do
		api GET "$READ_PATH"
		[ "$STATUS" != 200 ] || [ "$(printf '%s' "$BODY_OUT" | jq '.age_ms <= 2000')" = true ] || ages_ok=0
		sleep 0.1
	done
	api GET "$READ_PATH"
	[ $ages_ok = 1 ] && ok "meanwhile every reply here was at most 2 s old" ||
		not_ok "meanwhile every reply here was at most 2 s old"
}
READ_PATH=/v1/volumes/fresh2
b_do POST /v1/volumes/fresh2/extend '{"size":"256M"}'
[ "$B_STATUS" = 200 ] || not_ok "extend through the second cairnd" "$B_STATUS"
jq_check "2 s after an extend through another cairnd, GET here shows it" '.size == 268435456 and .provisioned == 268435456'
b_do POST /v1/volumes/fresh2/snapshots '{"name":"s10"}'
jq_check "2 s after a snapshot through another cairnd, GET here lists it" '[.snapshots[].name] == ["s10", "s9"] or [.snapshots[].name] == ["s9", "s10"]'
READ_PATH=/v1/volumes/fresh3
b_do POST /v1/volumes/fresh2/rename '{"name":"fresh3"}'
[ "$STATUS" = 200 ] && ok "2 s after a rename through another cairnd, the new name answers here" ||
	not_ok "2 s after a rename through another cairnd, the new name answers here" "$STATUS"
expect_status "and the old one is gone" 404 GET /v1/volumes/fresh2
api GET /v1/volumes/fresh3
api DELETE '/v1/volumes/fresh3?force'
op=$(printf '%s' "$BODY_OUT" | jq -r .id)
api GET "/v1/operations/$op/wait?timeout=60"
jq_check "the volume of the GET checks is deleted" '.status == "succeeded"'
expect_status "right after a delete here, GET is 404" 404 GET /v1/volumes/fresh3
stop_b

# ---- deferred snapshot delete: hidden while clones exist, purged after the last ----
expect_status "a volume for the snapshot deletes" 201 POST /v1/volumes '{"name":"sv","size":"64M"}'
svimg=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
expect_status "its snapshot 'keep'" 201 POST /v1/volumes/sv/snapshots '{"name":"keep"}'
expect_status "a clone of sv@keep" 201 POST /v1/volumes '{"name":"svc1","snapshot":"sv@keep"}'
expect_status "a snapshot with a clone cannot be deleted" 409 DELETE /v1/volumes/sv/snapshots/keep
jq_check "the 409 names the clone" '.error.message | test("svc1")'
expect_status "a deferred delete of it answers 200" 200 DELETE "/v1/volumes/sv/snapshots/keep?deferred"
jq_check "the deferred delete says it is hidden" '.deleted == true and .hidden == true'
api GET /v1/volumes/sv/snapshots
jq_check "the hidden snapshot is not listed" '[.snapshots[].name] == []'
api GET "/v1/volumes/sv/snapshots?hidden"
jq_check "?hidden lists it as cairn-deleted-<id>-keep" '[.snapshots[].name | select(test("^cairn-deleted-[0-9]+-keep$"))] | length == 1'
rbdc snap ls "$PREFIX-volumes/$svimg" | grep -q ' cairn-deleted-[0-9]*-keep ' &&
	ok "rbd shows the snapshot hidden, still there for its clone" ||
	not_ok "rbd shows the snapshot hidden, still there for its clone" "$(rbdc snap ls "$PREFIX-volumes/$svimg")"
expect_status "the clone still answers" 200 GET /v1/volumes/svc1
jq_check "the clone's parent is still sv@keep" '.parent.kind == "snapshot" and .parent.name == "sv" and .parent.snapshot == "keep"'
expect_status "the hidden snapshot's name is free again" 201 POST /v1/volumes/sv/snapshots '{"name":"keep"}'
expect_status "and that new one, without clones, is deleted at once" 200 DELETE "/v1/volumes/sv/snapshots/keep?deferred"
jq_check "the delete without clones says it did not hide it" '.deleted == true and .hidden == false'
expect_status "a clone of the hidden snapshot cannot be made" 404 POST /v1/volumes '{"name":"svx","snapshot":"sv@keep"}'
# the CLI, and a clone that is flattened rather than deleted
expect_status "a second snapshot 'k2'" 201 POST /v1/volumes/sv/snapshots '{"name":"k2"}'
expect_status "a clone of sv@k2" 201 POST /v1/volumes '{"name":"svc2","snapshot":"sv@k2"}'
if "$CAIRN" snapshot delete sv k2 --deferred >"$T/out" 2>&1; then
	ok "cairn snapshot delete --deferred"
else
	not_ok "cairn snapshot delete --deferred" "$(cat "$T/out")"
fi
api GET /v1/volumes/sv/snapshots
jq_check "k2 is hidden too" '[.snapshots[].name] == []'
hidden_snaps() { rbdc snap ls "$PREFIX-volumes/$svimg" | grep -c ' cairn-deleted-' || true; }
[ "$(hidden_snaps)" = 2 ] && ok "rbd shows both hidden snapshots" || not_ok "rbd shows both hidden snapshots" "$(rbdc snap ls "$PREFIX-volumes/$svimg")"
api GET /v1/volumes/svc2
c2img=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
rbdc info "$PREFIX-volumes/$c2img" | grep -q "parent: $PREFIX-volumes/$svimg@cairn-deleted-[0-9]*-k2\$" &&
	ok "rbd info shows the clone's parent is the hidden snapshot" ||
	not_ok "rbd info shows the clone's parent is the hidden snapshot" "$(rbdc info "$PREFIX-volumes/$c2img")"
api DELETE /v1/volumes/svc1
op=$(printf '%s' "$BODY_OUT" | jq -r .id)
api GET "/v1/operations/$op/wait?timeout=60"
jq_check "the clone of 'keep' is deleted" '.status == "succeeded"'
left=
for _ in $(seq 1 60); do
	left=$(rbdc snap ls "$PREFIX-volumes/$svimg" | grep -c ' cairn-deleted-[0-9]*-keep ' || true)
	[ "$left" = 0 ] && break
	sleep 1
done
[ "$left" = 0 ] && ok "the purger removed 'keep' after its last clone went" ||
	not_ok "the purger removed 'keep' after its last clone went" "$(rbdc snap ls "$PREFIX-volumes/$svimg")"
rbdc snap ls "$PREFIX-volumes/$svimg" | grep -q ' cairn-deleted-[0-9]*-k2 ' &&
	ok "k2, whose clone is still there, stays" || not_ok "k2, whose clone is still there, stays"
api POST /v1/volumes/svc2/flatten '{}'
op=$(printf '%s' "$BODY_OUT" | jq -r .id)
api GET "/v1/operations/$op/wait?timeout=60"
jq_check "the clone of 'k2' is flattened" '.status == "succeeded"'
for _ in $(seq 1 60); do
	[ "$(hidden_snaps)" = 0 ] && break
	sleep 1
done
[ "$(hidden_snaps)" = 0 ] && ok "the purger removed 'k2' once its clone was flattened" ||
	not_ok "the purger removed 'k2' once its clone was flattened" "$(rbdc snap ls "$PREFIX-volumes/$svimg")"
api GET "/v1/volumes/sv/snapshots?hidden"
jq_check "?hidden lists no deleted snapshot any more" '[.snapshots[].name | select(startswith("cairn-deleted-"))] == []'
for v in svc2 sv; do
	"$CAIRN" volume delete "$v" --force >/dev/null 2>"$T/err" || not_ok "cairn volume delete $v" "$(cat "$T/err")"
done

# ---- delete: to the trash, purged; hidden while clones exist ----
api DELETE /v1/volumes/web2
[ "$STATUS" = 202 ] && ok "delete answers 202" || not_ok "delete answers 202" "$STATUS $BODY_OUT"
op=$(printf '%s' "$BODY_OUT" | jq -r .id)
api GET "/v1/operations/$op/wait?timeout=60"
jq_check "the delete succeeded" '.status == "succeeded"'
expect_status "the deleted volume is gone" 404 GET /v1/volumes/web2
expect_status "deleting it again is 404" 404 DELETE /v1/volumes/web2
"$CAIRN" snapshot delete web1 s1 >/dev/null 2>&1 && ok "its parent snapshot can go now" || not_ok "its parent snapshot can go now"
expect_status "an image with clones cannot be deleted" 409 DELETE /v1/images/golden
jq_check "the 409 lists the dependent volumes" '.error.message | test("web1")'
expect_status "a deferred delete hides it" 200 DELETE "/v1/images/golden?deferred"
expect_status "the hidden image's name is free" 404 GET /v1/images/golden
rbdc ls "$PREFIX-images" | grep -q "$img" && ok "the hidden image is still in Ceph for its clones" ||
	not_ok "the hidden image is still in Ceph for its clones"
for v in web3 web1 blank2 idem; do
	"$CAIRN" volume delete "$v" --force >/dev/null 2>"$T/err" || not_ok "cairn volume delete $v" "$(cat "$T/err")"
done
ok "cairn volume delete of the rest"
api GET /v1/volumes
jq_check "no volume is left" '.volumes | length == 0'

# the purger empties the trash and removes the hidden image once its last clone went
gone=0
for _ in $(seq 1 60); do
	if [ -z "$(rbdc ls "$PREFIX-volumes")" ] && [ -z "$(rbdc trash ls "$PREFIX-volumes")" ] &&
		! rbdc ls "$PREFIX-images" | grep -q "$img"; then
		gone=1
		break
	fi
	sleep 1
done
[ $gone = 1 ] && ok "Ceph holds no image of theirs after the purge (rbd ls, rbd trash ls)" ||
	not_ok "Ceph holds no image of theirs after the purge" "volumes: $(rbdc ls "$PREFIX-volumes" | tr '\n' ' ')" \
		"trash: $(rbdc trash ls "$PREFIX-volumes" | tr '\n' ' ')" "images: $(rbdc ls "$PREFIX-images" | tr '\n' ' ')"

daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
tap_done
