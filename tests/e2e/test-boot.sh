#!/usr/bin/env bash
# End to end: a real guest boots from an RBD copy-on-write clone that cairnd made.
#
# A tiny bootable image (SYSLINUX, Debian's kernel, a busybox initramfs; make-guest-image)
# carries a token made for this run. cairn imports it, clones it into a volume, puts the
# cephx key into a libvirt secret, and writes the domain XML (its <disk> with the rbd
# source, the monitors from the monmap and the <auth>). libvirt's embedded QEMU driver
# (under $T, never the system libvirt) boots it; the guest's /init prints
# "CAIRN-E2E-BOOT-OK <token>" on the serial console, logged to a file: the line can only
# come from the image cairn imported, read through the clone. KVM is tried first when
# /dev/kvm works, TCG otherwise or after; a TAP comment says which booted it. Then a blank
# volume is attached to the domain's persistent definition and detached again through
# cairnd (which opens the same embedded driver), checked with virsh dumpxml --inactive.
#
# Environment: CAIRN_TEST_CEPH_CONF, CAIRN_BUILD_DIR (see tests/integration/lib.sh);
# GUEST_TCG_TIMEOUT (seconds, default 120); CAIRN_E2E_CACHE (see make-guest-image).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
. "$here/lib-guest.sh"

E2E_VIRT=$CAIRN_BUILD_DIR/tests/e2e/e2e-virt
[ -x "$E2E_VIRT" ] || bail "no $E2E_VIRT (build first)"
C=$CAIRN_TEST_CEPH_CONF
LV=$T/libvirt
USER_ID=${CAIRN_TEST_CEPH_USER:-admin}
DOM=cairn-e2e-$PREFIX
TOKEN=$(guest_token)

cleanup_boot() {
	# cairnd may hold libvirt's embedded driver under $LV: e2e-virt could not open it
	daemon_stop >/dev/null 2>&1 || true
	guest_stop "$LV" >/dev/null 2>&1 || true
	if [ "$tap_failed" -gt 0 ]; then
		for f in "$T"/console-*.log "$LV"/log/qemu/*.log "$LV"/e2e-virt.log; do
			[ -f "$f" ] || continue
			echo "# $f (last 15 lines):"
			tail -n 15 "$f" | tr -d '\r' | sed 's/^/#   /'
		done
	fi
	cleanup_itest
}
trap cleanup_boot EXIT

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ---- cairnd and the guest image ----
daemon_config
daemon_start
ok "cairnd is up"

t0=$(date +%s%N)
if guest_image "$T/import/guest.img" "$TOKEN" 2>"$T/image.err"; then
	ok "the guest image is built ($(ms_since "$t0") ms)"
else
	not_ok "the guest image is built" "$(tail -n 5 "$T/image.err")"
	bail "no guest image"
fi

# ---- import, clone ----
t0=$(date +%s%N)
if timeout 300 "$CAIRN" image import guest guest.img --format raw >/dev/null 2>"$T/err"; then
	ok "cairn image import ($(ms_since "$t0") ms)"
else
	not_ok "cairn image import" "$(tail -n 5 "$T/err")"
	bail "no image"
fi
t0=$(date +%s%N)
if timeout 60 "$CAIRN" volume create vm1 --image guest >/dev/null 2>"$T/err"; then
	ok "cairn volume create vm1 --image guest ($(ms_since "$t0") ms, CLI included)"
else
	not_ok "cairn volume create vm1 --image guest" "$(cat "$T/err")"
	bail "no volume"
fi
api GET /v1/volumes/vm1
vol_pool=$(printf '%s' "$BODY_OUT" | jq -r .pool)
vol_img=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
jq_check "vm1 is a clone of the image" '.parent.kind == "image" and .parent.name == "guest"'
if rbd -c "$C" info "$vol_pool/$vol_img" 2>/dev/null | grep -q "parent: $PREFIX-images/image-"; then
	ok "rbd info shows vm1's parent in the images pool"
else
	not_ok "rbd info shows vm1's parent in the images pool" "$(rbd -c "$C" info "$vol_pool/$vol_img" 2>&1)"
fi

# ---- the cephx key into a libvirt secret (embedded secret driver under $LV) ----
guest_libvirt_root "$LV"
key=$(ceph -c "$C" auth get-key "client.$USER_ID" 2>/dev/null)
[ -n "$key" ] || bail "cannot read the key of client.$USER_ID"
if timeout 60 "$CAIRN" --json secret ensure --uri "secret:///embed?root=$LV" >"$T/secret.json" 2>"$T/err"; then
	ok "cairn secret ensure --uri secret:///embed?root=..."
else
	not_ok "cairn secret ensure --uri secret:///embed?root=..." "$(cat "$T/err")"
	bail "no libvirt secret"
fi
uuid=$(jq -r .uuid "$T/secret.json")
if [[ $uuid =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] &&
	jq -e --arg u "client.$USER_ID secret" '.usage == $u' "$T/secret.json" >/dev/null; then
	ok "the secret has a UUID and the usage 'client.$USER_ID secret'"
else
	not_ok "the secret has a UUID and the usage 'client.$USER_ID secret'" "$(cat "$T/secret.json")"
fi
# the same again finds it: same UUID
"$CAIRN" --json secret ensure --uri "secret:///embed?root=$LV" >"$T/secret2.json" 2>/dev/null
if [ "$(jq -r .uuid "$T/secret2.json" 2>/dev/null)" = "$uuid" ]; then
	ok "ensuring it again keeps the same secret"
else
	not_ok "ensuring it again keeps the same secret" "$(cat "$T/secret2.json")"
fi

# libvirt's embedded drivers lock their root for the life of the process that opened them,
# and cairnd keeps its connections: restart cairnd, now with [ceph] secret_uuid, so the
# guest's libvirt (e2e-virt) can open the same root.
daemon_stop || true
sed -i "/^\[ceph\]/a secret_uuid = $uuid" "$T/cairn.conf"
daemon_start
usage=$("$E2E_VIRT" "$LV" secret-usage "$uuid" 2>"$T/err")
if [ "$usage" = "client.$USER_ID secret" ]; then
	ok "libvirt's secret store holds ceph secret $uuid (its value is checked by the boot)"
else
	not_ok "libvirt's secret store holds ceph secret $uuid" "usage '$usage'" "$(cat "$T/err")"
fi

# ---- the disk XML ----
if timeout 60 "$CAIRN" volume xml vm1 >"$T/disk.xml" 2>"$T/err"; then
	ok "cairn volume xml vm1"
else
	not_ok "cairn volume xml vm1" "$(cat "$T/err")"
fi
sed 's/^/# /' "$T/disk.xml"
mon_port=$(ceph -c "$C" mon dump -f json 2>/dev/null |
	jq -r '[.mons[0].public_addrs.addrvec[] | select(.type == "v2")][0].addr | split(":") | last')
xp() { xmllint --xpath "$1" "$T/disk.xml" 2>/dev/null; }
if [ "$(xp 'string(/disk/source/@protocol)')" = rbd ] &&
	[ "$(xp 'string(/disk/source/@name)')" = "$vol_pool/$vol_img" ]; then
	ok "the disk's source is rbd $vol_pool/$vol_img"
else
	not_ok "the disk's source is rbd $vol_pool/$vol_img" "$(cat "$T/disk.xml")"
fi
if [ -n "$mon_port" ] && [ "$(xp 'string(/disk/source/host[1]/@port)')" = "$mon_port" ] &&
	[ "$(xp 'string(/disk/source/host[1]/@name)')" = 127.0.0.1 ]; then
	ok "the disk names the cluster's monitor 127.0.0.1:$mon_port (from the monmap)"
else
	not_ok "the disk names the cluster's monitor 127.0.0.1:$mon_port (from the monmap)"
fi
if [ "$(xp 'string(/disk/auth/@username)')" = "$USER_ID" ] &&
	[ "$(xp 'string(/disk/auth/secret/@type)')" = ceph ] &&
	[ "$(xp 'string(/disk/auth/secret/@uuid)')" = "$uuid" ]; then
	ok "the disk authenticates as '$USER_ID' through libvirt secret $uuid"
else
	not_ok "the disk authenticates as '$USER_ID' through libvirt secret $uuid"
fi

# ---- the domain XML, from cairnd (libvirt-glue's xml_domain_format) ----
# domain_xml TYPE CONSOLE-LOG: what guest_boot calls for each accelerator it tries
domain_xml() {
	local q="name=$DOM&type=$1&memory=256&vcpus=1&console_log=$2"
	api GET "/v1/volumes/vm1/domain-xml?$q"
	if [ "$STATUS" != 200 ]; then
		echo "GET /v1/volumes/vm1/domain-xml: $STATUS $BODY_OUT" >&2
		return 1
	fi
	printf '%s\n' "$BODY_OUT"
}
if domain_xml qemu "$T/console-check.log" >"$T/domain-check.xml" 2>"$T/err"; then
	ok "GET /v1/volumes/vm1/domain-xml"
else
	not_ok "GET /v1/volumes/vm1/domain-xml" "$(cat "$T/err")"
	bail "no domain XML"
fi
# its <disk> is the one cairn volume xml gave, plus the boot order
if python3 - "$T/disk.xml" "$T/domain-check.xml" <<'PY'; then
import sys
import xml.etree.ElementTree as ET

def canon(e):
    kids = [canon(c) for c in e if c.tag != "boot"]
    return (e.tag, sorted(e.attrib.items()), (e.text or "").strip(), kids)

disk = ET.parse(sys.argv[1]).getroot()
dom = ET.parse(sys.argv[2]).getroot()
disks = dom.findall("./devices/disk")
sys.exit(0 if len(disks) == 1 and canon(disks[0]) == canon(disk) else 1)
PY
	ok "the domain's <disk> is the volume's disk XML"
else
	not_ok "the domain's <disk> is the volume's disk XML" "$(cat "$T/domain-check.xml")"
fi
leak=0
for f in "$T/secret.json" "$T/secret2.json" "$T/disk.xml" "$T/domain-check.xml" "$T/cairnd.log"; do
	grep -qF -- "$key" "$f" && leak=1
done
[ $leak -eq 0 ] && ok "the cephx key is in no reply, XML or log line" ||
	not_ok "the cephx key is in no reply, XML or log line"

# ---- boot ----
t0=$(date +%s%N)
if guest_boot "$LV" domain_xml "$T/console" "$TOKEN"; then
	ok "the guest booted from the RBD clone and printed this run's marker"
	echo "# accelerator: ${GUEST_ACCEL^^} ($GUEST_ACCEL_NOTE)"
	echo "# console: $GUEST_MARKER"
	echo "# boot to marker: $GUEST_BOOT_MS ms (start included); all tries: $(ms_since "$t0") ms"
else
	not_ok "the guest booted from the RBD clone and printed this run's marker" \
		"accelerators: $GUEST_ACCEL_NOTE" "token: $TOKEN"
fi
# QEMU (paused after the guest's power-off: libvirt is no longer there to end it) still
# holds the clone open: RBD shows its watcher on vm1's image
if [ -n "$GUEST_PID" ] && rbd -c "$C" status "$vol_pool/$vol_img" 2>/dev/null | grep -q 'watcher='; then
	ok "the guest's QEMU has vm1's RBD image open"
else
	not_ok "the guest's QEMU has vm1's RBD image open" "$(rbd -c "$C" status "$vol_pool/$vol_img" 2>&1)"
fi
# ---- a second volume in and out of the domain, through cairnd ----
# cairnd opens libvirt's embedded QEMU driver under $LV itself (qemu:///embed?root=$LV, as
# a compute node's cairnd opens qemu:///system). An embedded driver lives in the process
# that opened it and locks its root for that process's life, and cairnd keeps its
# connections: e2e-virt has exited since the start, and cairnd is restarted to let go of
# the root before virsh reads the definition back. The changes go to the persistent
# definition (--config): that is all there is for the guest, which has powered off.
QEMU_URI="qemu:///embed?root=$LV"
libvirt_release() { daemon_stop || true; daemon_start; }
# persistent_xml OUT: the domain's persistent definition as libvirt has it, from virsh
persistent_xml() {
	timeout 120 virsh -q -c "$QEMU_URI" dumpxml --inactive "$DOM" >"$1" 2>"$T/virsh.err"
}
# disk_source FILE DEV: the rbd source of the disk with target DEV ("" when none)
disk_source() {
	xmllint --xpath "string(/domain/devices/disk[target/@dev='$2'][source/@protocol='rbd']/source/@name)" \
		"$1" 2>/dev/null
}
if timeout 60 "$CAIRN" volume create data1 --size 64M >/dev/null 2>"$T/err"; then
	ok "cairn volume create data1 --size 64M (blank)"
else
	not_ok "cairn volume create data1 --size 64M (blank)" "$(cat "$T/err")"
fi
api GET /v1/volumes/data1
data_src="$(printf '%s' "$BODY_OUT" | jq -r .pool)/$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)"
detach_body() { # [target]
	jq -cn --arg d "$DOM" --arg u "$QEMU_URI" --arg t "${1-}" \
		'{domain: $d, config: true, uri: $u} + (if $t == "" then {} else {target: $t} end)'
}
# not attached yet: a clear 404, and the boot disk stays (detach used to take vda blindly)
t0=$(date +%s%N)
api POST /v1/volumes/data1/detach "$(detach_body)"
want_msg="volume 'data1' is not attached to domain '$DOM' (persistent definition)"
if [ "$STATUS" = 404 ] && [ "$(printf '%s' "$BODY_OUT" | jq -r .error.message)" = "$want_msg" ]; then
	ok "detaching data1 before it is attached is a 404: $want_msg ($(ms_since "$t0") ms, libvirt opened)"
else
	not_ok "detaching data1 before it is attached is a 404 naming volume and domain" "got $STATUS: $BODY_OUT"
fi
if timeout 120 "$CAIRN" --json volume attach data1 "$DOM" --config --uri "$QEMU_URI" \
	>"$T/attach.json" 2>"$T/err" && jq -e '.attached == true and .target == "vdb"' "$T/attach.json" >/dev/null; then
	ok "cairn volume attach data1 $DOM --config --uri qemu:///embed?root=... picks target vdb"
else
	not_ok "cairn volume attach data1 $DOM --config picks target vdb" "$(cat "$T/attach.json" "$T/err" 2>/dev/null)"
fi
# asked for at the boot disk's target, the volume's disk is not the one: 409, nothing changes
api POST /v1/volumes/data1/detach "$(detach_body vda)"
if [ "$STATUS" = 409 ] && printf '%s' "$BODY_OUT" | jq -e '.error.message | test("is the disk .vdb., not .vda.")' >/dev/null; then
	ok "detach data1 with target vda is a 409 (data1 is vdb)"
else
	not_ok "detach data1 with target vda is a 409 (data1 is vdb)" "got $STATUS: $BODY_OUT"
fi
libvirt_release
if persistent_xml "$T/dom-attached.xml" &&
	[ "$(disk_source "$T/dom-attached.xml" vdb)" = "$data_src" ] &&
	[ "$(disk_source "$T/dom-attached.xml" vda)" = "$vol_pool/$vol_img" ]; then
	ok "virsh dumpxml --inactive: rbd $data_src is vdb, the boot disk $vol_pool/$vol_img still vda"
else
	not_ok "virsh dumpxml --inactive shows rbd $data_src at vdb and the boot disk at vda" \
		"$(cat "$T/virsh.err")" "$(grep -A3 '<disk' "$T/dom-attached.xml" 2>/dev/null)"
fi
if timeout 120 "$CAIRN" --json volume detach data1 "$DOM" --config --uri "$QEMU_URI" \
	>"$T/detach.json" 2>"$T/err" && jq -e '.attached == false and .target == "vdb"' "$T/detach.json" >/dev/null; then
	ok "cairn volume detach data1 $DOM --config finds it at vdb by its source and removes it"
else
	not_ok "cairn volume detach data1 $DOM --config" "$(cat "$T/detach.json" "$T/err" 2>/dev/null)"
fi
libvirt_release
if persistent_xml "$T/dom-detached.xml" &&
	! grep -qF "name='$data_src'" "$T/dom-detached.xml" && ! grep -qF "name=\"$data_src\"" "$T/dom-detached.xml" &&
	[ "$(disk_source "$T/dom-detached.xml" vda)" = "$vol_pool/$vol_img" ] &&
	[ "$(xmllint --xpath 'count(/domain/devices/disk)' "$T/dom-detached.xml" 2>/dev/null)" = 1 ]; then
	ok "virsh dumpxml --inactive: data1 is gone, the boot disk is the only disk left"
else
	not_ok "virsh dumpxml --inactive: data1 is gone, the boot disk is the only disk left" \
		"$(cat "$T/virsh.err")" "$(grep -A3 '<disk' "$T/dom-detached.xml" 2>/dev/null)"
fi

pid=$GUEST_PID
if guest_stop "$LV" 2>"$T/err" && { [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; }; then
	ok "the guest is destroyed and undefined through libvirt"
else
	not_ok "the guest is destroyed and undefined through libvirt" "$(cat "$T/err")"
fi
for _ in $(seq 1 100); do
	rbd -c "$C" status "$vol_pool/$vol_img" 2>/dev/null | grep -q 'watcher=' || break
	sleep 0.1
done
rbd -c "$C" status "$vol_pool/$vol_img" 2>/dev/null | grep -q 'watcher=' &&
	not_ok "no watcher is left on vm1's image" || ok "no watcher is left on vm1's image"

# ---- after the boot: the volume is still cairn's ----
expect_status "a snapshot of the booted volume" 201 POST /v1/volumes/vm1/snapshots '{"name":"booted"}'
expect_status "a clone of that snapshot" 201 POST /v1/volumes '{"name":"vm2","snapshot":"vm1@booted"}'
api GET /v1/volumes/vm1
jq_check "vm1 is still the image's clone, with its snapshot" \
	'.parent.name == "guest" and ([.snapshots[]? | (.name? // .)] | index("booted") != null)'

tap_done
