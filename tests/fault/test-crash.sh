#!/usr/bin/env bash
# A crash at every step of every multi-step operation leaves nothing the next cairnd does not
# settle. For each fail point (failpoint("<step>") in the C code, found in the sources by
# failpoints.py and matched against the table below, so that a new step cannot be missed):
# start cairnd with CAIRN_FAILPOINT=<step>, make the request, see cairnd die by SIGKILL,
# start it again without the fail point, poll Ceph (rbd, rados: inventory.py) until the
# invariant holds (bounded), and check that the request either completed (a record,
# "available", served by the API, owning exactly the new RBD image and snapshots) or left
# nothing (no record, the same RBD images and snapshots as before). A backup that dies is
# kept as "failed" without any data, by design (backup/backup.h): that counts as nothing.
# A change (extend, revert, QoS) is one step in RBD and one in the record: it either
# completed or left the volume as it was, the record and the image agreeing on the size and
# the QoS limits.
# Not here: snapshot create and a plain snapshot delete are one librbd call each (no fail
# point); a deferred one is (snapshot_delete below).
. "$(dirname "$0")/fault-lib.sh"

# ---- the table: every fail point, and the scenarios whose request reaches it ----
# blank        POST /v1/volumes, a blank volume
# clone_image  POST /v1/volumes, a clone of an image, larger than it
# clone_volume POST /v1/volumes, a clone of a volume (through a hidden snapshot), larger
# clone_deep   the same with [volumes] max_clone_depth = 1: flattened at once
# import       POST /v1/images (qemu-img convert into RBD)
# delete       DELETE /v1/volumes/{name}?force of a volume with a snapshot, to the trash
# delete_direct         the same with [volumes] deferred_delete = false (removed at once)
# image_delete          DELETE /v1/images/{name}, to the trash
# image_delete_direct   the same, removed at once
# backup_pool  POST /v1/backups of a volume with data, a full backup to the backups pool
# backup_file  the same to an rbd export-diff file ([backup] directory)
# backup_incr  an incremental backup to the pool after new writes
# backup_set   POST /v1/backups of a set (two volumes at one group snapshot), incremental
# restore      POST /v1/backups/{id}/restore to a new volume (its bytes are checked)
# backup_delete         DELETE /v1/backups/{id}
# flatten      POST /v1/volumes/{name}/flatten of a clone of a volume
# extend       POST /v1/volumes/{name}/extend, 32 MiB to 64 MiB
# revert       POST /v1/volumes/{name}/revert to a snapshot taken at 32 MiB, the volume
#              being 64 MiB since
# qos          PATCH /v1/volumes/{name} {"qos": {"iops": 300}}
# snapshot_delete       DELETE /v1/volumes/{name}/snapshots/s1?deferred of a snapshot
#              with a clone (hidden, kept for the clone: rolled forward by the purge)
# group_delete DELETE /v1/snapshots/group/{group}/{snap} of the last group snapshot of two
#              volumes (the group goes with it; a group left without snapshots goes with the
#              next reconcile pass)
STEPS='
volume.create.intent       blank clone_volume
volume.create.reserved     blank clone_volume
volume.create.snapshotted  clone_volume
volume.create.created      blank
volume.create.cloned       clone_image clone_volume
volume.create.marked       blank clone_volume
volume.create.resized      clone_image
volume.create.flattened    clone_deep
volume.create.configured   blank clone_volume
volume.create.recorded     blank clone_volume
image.import.intent        import
image.import.reserved      import
image.import.created       import
image.import.converted     import
image.import.snapshotted   import
image.import.recorded      import
volume.delete.intent       delete delete_direct
volume.delete.marked       delete delete_direct
volume.delete.snapshots    delete
volume.delete.removed      delete delete_direct
volume.delete.unrecorded   delete delete_direct
volume.flatten.flattened   flatten
volume.extend.resized      extend
volume.revert.rolledback   revert
volume.update.qos          qos
image.delete.intent        image_delete image_delete_direct
image.delete.marked        image_delete image_delete_direct
image.delete.snapshots     image_delete
image.delete.removed       image_delete image_delete_direct
image.delete.unrecorded    image_delete image_delete_direct
backup.begin               backup_pool backup_set
backup.snapshot            backup_pool backup_file backup_set
backup.group               backup_set
backup.chunk               backup_pool backup_file backup_incr backup_set
backup.data                backup_pool backup_file
backup.checksum            backup_pool backup_file backup_set
backup.record              backup_pool backup_file backup_incr backup_set
backup.delete.marked       backup_delete
restore.created            restore
restore.chunk              restore
snapshot.delete.recorded   snapshot_delete
snapshot.delete.renamed    snapshot_delete
group.snapshot.removed     group_delete'
# CAIRN_CRASH_ONLY=<regex> runs the matching steps only (meson runs the volume, image and
# backup steps as three tests, each within its time limit); the table check stays whole.
# CAIRN_CRASH_SKIP=<regex> leaves out the matching steps.
only=${CAIRN_CRASH_ONLY:-.}
skip=${CAIRN_CRASH_SKIP:-^$}
selected() { grep -E -- "$only" | grep -v -E -- "$skip"; }

# ---- the table against the code ----
if python3 "$FAULT_DIR/failpoints.py" "$TOP" >"$T/code-steps" 2>"$T/code-steps.err"; then
	ok "every failpoint() call in the code resolves to step names ($(wc -l <"$T/code-steps") found)"
else
	not_ok "every failpoint() call in the code resolves to step names" "$(cat "$T/code-steps.err")"
fi
cut -f1 "$T/code-steps" | sort -u >"$T/code"
printf '%s\n' "$STEPS" | awk 'NF { print $1 }' | sort -u >"$T/table"
missing=$(comm -23 "$T/code" "$T/table")
stale=$(comm -13 "$T/code" "$T/table")
[ -z "$missing" ] && ok "every fail point of the code has a row in the table" ||
	not_ok "every fail point of the code has a row in the table" "no scenario for: $(echo $missing)"
[ -z "$stale" ] && ok "every row of the table is a fail point of the code" ||
	not_ok "every row of the table is a fail point of the code" "not in the code: $(echo $stale)"

# ---- the cluster, a daemon, fixtures ----
mkdir -p "$BACKUP_DIR"
scenario_config() { # scenario
	daemon_config "reconcile_interval = 1s"
	{
		printf '[backup]\ndirectory = %s\nchunk = 1M\n' "$BACKUP_DIR"
		echo "[volumes]"
		echo "trash_delay = 0s"
		echo "purge_interval = 1s"
		case $1 in
		*_direct) echo "deferred_delete = false" ;;
		clone_deep) echo "max_clone_depth = 1" ;;
		esac
	} >>"$T/cairn.conf"
	CONFIG_OF=$1
	case $1 in *_direct) CONFIG_OF=direct ;; clone_deep) ;; *) CONFIG_OF=default ;; esac
}
scenario_config blank
running_config=$CONFIG_OF
daemon_start

qemu-img create -q -f qcow2 "$T/import/gold.qcow2" 64M
qemu-io -f qcow2 -c 'write -P 0x5a 0 8M' -c 'write -P 0xa5 32M 4M' "$T/import/gold.qcow2" >/dev/null
qemu-img create -q -f qcow2 "$T/import/small.qcow2" 16M
qemu-io -f qcow2 -c 'write -P 0x11 0 1M' "$T/import/small.qcow2" >/dev/null

import_wait() { # name file
	api POST /v1/images "{\"name\":\"$1\",\"file\":\"$2\"}"
	[ "$STATUS" = 202 ] || return 1
	op_wait "$(printf '%s' "$BODY_OUT" | jq -r .id)" | jq -e '.status == "succeeded"' >/dev/null
}
import_wait gold gold.qcow2 || bail "cannot import the fixture image: $STATUS $BODY_OUT"
api POST /v1/volumes '{"name":"pv","image":"gold","size":"128M"}'
[ "$STATUS" = 201 ] || bail "cannot create the fixture volume: $STATUS $BODY_OUT"

# volumes with data to back up (written straight into RBD with qemu-io), and a full backup
# of "rv" to restore; rv is never written again, so its bytes are the backup's
qio() { # volume-name qemu-io-commands...
	local img
	img=$(curl -s --unix-socket "$SOCK" "http://cairn/v1/volumes/$1" | jq -r .rbd_image)
	shift
	qemu-io -f raw "rbd:$PREFIX-volumes/$img:conf=$C" "$@" >/dev/null
}
sha_of_volume() {
	local img
	img=$(curl -s --unix-socket "$SOCK" "http://cairn/v1/volumes/$1" | jq -r .rbd_image)
	rbdc export --no-progress "$PREFIX-volumes/$img" - 2>/dev/null | sha256sum | cut -d' ' -f1
}
backup_wait() { # body -> BACKUP_ID of a succeeded backup, or fails
	api POST /v1/backups "$1"
	[ "$STATUS" = 202 ] || return 1
	BACKUP_ID=$(op_wait "$(printf '%s' "$BODY_OUT" | jq -r .id)" | jq -r 'select(.status == "succeeded") | .result.id')
	[ -n "$BACKUP_ID" ]
}
want_backups=$(printf '%s\n' "$STEPS" | awk 'NF { print $1 }' | selected | grep -c -E '^(backup|restore)\.' || true)
for v in bv rv bw; do
	[ "$want_backups" -gt 0 ] || break
	api POST /v1/volumes "{\"name\":\"$v\",\"size\":\"32M\"}"
	[ "$STATUS" = 201 ] || bail "cannot create the fixture volume $v: $STATUS $BODY_OUT"
	qio "$v" -c 'write -P 0x21 0 3M' -c 'write -P 0x42 20M 2M'
done
RESTORE_FROM= RESTORE_SHA=
if [ "$want_backups" -gt 0 ]; then
	backup_wait '{"volume":"bv","target":"pool"}' || bail "cannot back up the fixture volume: $BODY_OUT"
	backup_wait '{"volume":"rv","target":"pool"}' || bail "cannot back up the fixture volume: $BODY_OUT"
	RESTORE_FROM=$BACKUP_ID
	RESTORE_SHA=$(sha_of_volume rv)
fi

# the checker can fail: a planted image in cairn's naming scheme is seen
planted=volume-00000000-0000-4000-8000-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
rbdc create --size 4M "$PREFIX-volumes/$planted"
inv_dump "$T/planted.json"
if inventory check "$T/planted.json" | grep -q "$planted"; then
	ok "the invariant check sees an image no record accounts for"
else
	not_ok "the invariant check sees an image no record accounts for"
fi
rbdc rm --no-progress "$PREFIX-volumes/$planted" >/dev/null 2>&1
check_settled "the fixtures (an image, a clone) are consistent"

# ---- one case ----
n=0
covered=()
cases=0
seq_no=0

restart_with() { # scenario
	scenario_config "$1"
	if [ "$CONFIG_OF" != "$running_config" ] || ! daemon_alive; then
		daemon_stop || true
		daemon_start
		running_config=$CONFIG_OF
	fi
}

setup_case() { # scenario: fixtures; sets METHOD PATH_ BODY NAME KIND OPKIND
	local s=$1
	seq_no=$((seq_no + 1))
	case $s in
	blank | clone_image | clone_volume | clone_deep)
		KIND=volumes OPKIND=create NAME=c$seq_no METHOD=POST PATH_=/v1/volumes
		case $s in
		blank) BODY="{\"name\":\"$NAME\",\"size\":\"32M\"}" ;;
		clone_image) BODY="{\"name\":\"$NAME\",\"image\":\"gold\",\"size\":\"96M\"}" ;;
		clone_volume) BODY="{\"name\":\"$NAME\",\"volume\":\"pv\",\"size\":\"192M\"}" ;;
		clone_deep) BODY="{\"name\":\"$NAME\",\"volume\":\"pv\"}" ;;
		esac
		;;
	import)
		KIND=images OPKIND=create NAME=i$seq_no METHOD=POST PATH_=/v1/images
		BODY="{\"name\":\"$NAME\",\"file\":\"small.qcow2\"}"
		;;
	delete | delete_direct)
		KIND=volumes OPKIND=delete NAME=d$seq_no METHOD=DELETE PATH_="/v1/volumes/$NAME?force" BODY=
		api POST /v1/volumes "{\"name\":\"$NAME\",\"size\":\"32M\"}"
		[ "$STATUS" = 201 ] || return 1
		api POST "/v1/volumes/$NAME/snapshots" '{"name":"s1"}'
		[ "$STATUS" = 201 ] || return 1
		;;
	image_delete | image_delete_direct)
		KIND=images OPKIND=delete NAME=x$seq_no METHOD=DELETE PATH_="/v1/images/$NAME" BODY=
		import_wait "$NAME" small.qcow2 || return 1
		;;
	backup_pool | backup_file | backup_incr)
		KIND=backups OPKIND=backup NAME=bv METHOD=POST PATH_=/v1/backups
		case $s in
		backup_pool) BODY='{"volume":"bv","target":"pool"}' ;;
		backup_file) BODY='{"volume":"bv","target":"file"}' ;;
		backup_incr)
			BODY='{"volume":"bv","target":"pool","incremental":true}'
			qio bv -c "write -P $seq_no $((seq_no % 8))M 1M" -c "write -P $seq_no 24M 2M"
			;;
		esac
		;;
	backup_set)
		KIND=backups OPKIND=backup_set NAME=bv METHOD=POST PATH_=/v1/backups
		BODY='{"volumes":["bv","bw"],"target":"pool","incremental":true}'
		qio bv -c "write -P $seq_no $((seq_no % 8))M 1M"
		qio bw -c "write -P $seq_no 16M 64k"
		;;
	restore)
		KIND=volumes OPKIND=create NAME=rs$seq_no METHOD=POST PATH_="/v1/backups/$RESTORE_FROM/restore"
		BODY="{\"volume\":\"$NAME\"}"
		;;
	flatten)
		KIND=volumes OPKIND=flatten NAME=f$seq_no METHOD=POST PATH_="/v1/volumes/$NAME/flatten" BODY='{}'
		api POST /v1/volumes "{\"name\":\"$NAME\",\"volume\":\"pv\"}"
		[ "$STATUS" = 201 ] || return 1
		;;
	extend | revert | qos)
		KIND=volumes OPKIND=change NAME=$s$seq_no
		api POST /v1/volumes "{\"name\":\"$NAME\",\"size\":\"32M\"}"
		[ "$STATUS" = 201 ] || return 1
		case $s in
		extend)
			METHOD=POST PATH_="/v1/volumes/$NAME/extend" BODY='{"size":"64M"}'
			CHANGED='.size == 67108864'
			;;
		revert)
			api POST "/v1/volumes/$NAME/snapshots" '{"name":"s1"}'
			[ "$STATUS" = 201 ] || return 1
			api POST "/v1/volumes/$NAME/extend" '{"size":"64M"}'
			[ "$STATUS" = 200 ] || return 1
			METHOD=POST PATH_="/v1/volumes/$NAME/revert" BODY='{"snapshot":"s1"}'
			CHANGED='.size == 33554432'
			;;
		qos)
			METHOD=PATCH PATH_="/v1/volumes/$NAME" BODY='{"qos":{"iops":300}}'
			CHANGED='.qos.iops == 300'
			;;
		esac
		;;
	snapshot_delete)
		KIND=volumes OPKIND=snapshot_delete NAME=sd$seq_no METHOD=DELETE BODY=
		PATH_="/v1/volumes/$NAME/snapshots/s1?deferred"
		api POST /v1/volumes "{\"name\":\"$NAME\",\"size\":\"32M\"}"
		[ "$STATUS" = 201 ] || return 1
		api POST "/v1/volumes/$NAME/snapshots" '{"name":"s1"}'
		[ "$STATUS" = 201 ] || return 1
		api POST /v1/volumes "{\"name\":\"${NAME}c\",\"snapshot\":\"$NAME@s1\"}"
		[ "$STATUS" = 201 ] || return 1
		;;
	group_delete)
		KIND=volumes OPKIND=group_delete NAME=g$seq_no METHOD=DELETE BODY=
		for v in "${NAME}a" "${NAME}b"; do
			api POST /v1/volumes "{\"name\":\"$v\",\"size\":\"16M\"}"
			[ "$STATUS" = 201 ] || return 1
		done
		api POST /v1/snapshots/group "{\"name\":\"gs\",\"volumes\":[\"${NAME}a\",\"${NAME}b\"]}"
		[ "$STATUS" = 201 ] || return 1
		GROUP=$(printf '%s' "$BODY_OUT" | jq -r .group)
		PATH_="/v1/snapshots/group/$GROUP/gs"
		;;
	backup_delete)
		backup_wait '{"volume":"rv","target":"file"}' || return 1
		KIND=backups OPKIND=backup_delete NAME=$BACKUP_ID METHOD=DELETE PATH_="/v1/backups/$BACKUP_ID" BODY=
		;;
	*)
		return 1
		;;
	esac
}

# what changed between two "images_of" lists may only be the record's own image (and its
# snapshots) and, for a clone of a volume, its hidden snapshot on the parent
only_owned() { # before after pool rbd_image id
	local added removed
	added=$(comm -13 "$1" "$2" | grep -v -e "^$3/$4\$" -e "^$3/$4@" -e "@cairn-clone-$5\$")
	removed=$(comm -23 "$1" "$2")
	[ -z "$added$removed" ] || {
		echo "unexpected: added [$added] removed [$removed]"
		return 1
	}
}

# ---- what a request may have left: each sets OUTCOME, and WHY when it is wrong ----
differs() { # expected-file actual-file
	cmp -s "$1" "$2" || echo "; Ceph differs from the expected: $(diff "$1" "$2" | grep '^[<>]' | tr '\n' ' ')"
}

outcome_create() { # scenario (KIND NAME: the record a create or a restore makes)
	local id pool rbd
	id=$(record_id "$KIND" "$NAME")
	api GET "/v1/$KIND/$NAME"
	if [ -n "$id" ]; then
		OUTCOME=completed
		pool=$(jqf "$INV" ".dirs.$KIND[\"$id\"].pool")
		rbd=$(jqf "$INV" ".dirs.$KIND[\"$id\"].rbd_image")
		[ "$STATUS" = 200 ] || WHY="GET answers $STATUS"
		printf '%s' "$BODY_OUT" | jq -e '.status == "available"' >/dev/null || WHY="$WHY; not available: $BODY_OUT"
		grep -qx "$pool/$rbd" "$T/after" || WHY="$WHY; its image $pool/$rbd is missing"
		WHY="$WHY$(only_owned "$T/before" "$T/after" "$pool" "$rbd" "$id")"
		if [ "$1" = restore ] && [ "$(sha_of_volume "$NAME")" != "$RESTORE_SHA" ]; then
			WHY="$WHY; the restored volume does not hold the backup's bytes"
		fi
	else
		OUTCOME="rolled back"
		[ "$STATUS" = 404 ] || WHY="no record, but GET answers $STATUS"
		WHY="$WHY$(differs "$T/before" "$T/after")"
	fi
}

outcome_delete() { # KIND NAME: the record being deleted
	local id bid pool rbd
	id=$(record_id "$KIND" "$NAME")
	bid=$(jqf "$T/before.json" ".names.$KIND[\"$NAME\"] // \"\"")
	pool=$(jqf "$T/before.json" ".dirs.$KIND[\"$bid\"].pool")
	rbd=$(jqf "$T/before.json" ".dirs.$KIND[\"$bid\"].rbd_image")
	api GET "/v1/$KIND/$NAME"
	if [ -n "$id" ]; then
		OUTCOME="left it as it was"
		[ "$STATUS" = 200 ] || WHY="GET answers $STATUS"
		printf '%s' "$BODY_OUT" | jq -e '.status == "available"' >/dev/null || WHY="$WHY; not available: $BODY_OUT"
		WHY="$WHY$(differs "$T/before" "$T/after")"
	else
		OUTCOME=completed
		[ "$STATUS" = 404 ] || WHY="no record, but GET answers $STATUS"
		grep -v -e "^$pool/$rbd\$" -e "^$pool/$rbd@" "$T/before" >"$T/expected"
		WHY="$WHY$(differs "$T/expected" "$T/after")"
	fi
}

outcome_flatten() { # volume NAME, a clone: flattened (no parent in RBD, its record says
	# flattened, the parent's hidden snapshot for it gone) or left as it was
	local id
	id=$(record_id volumes "$NAME")
	api GET "/v1/volumes/$NAME"
	[ "$STATUS" = 200 ] || WHY="GET answers $STATUS"
	printf '%s' "$BODY_OUT" | jq -e '.status == "available"' >/dev/null || WHY="$WHY; not available: $BODY_OUT"
	if [ "$(jqf "$INV" ".dirs.volumes[\"$id\"].flattened // false")" = true ]; then
		OUTCOME=completed
		grep -v -e "@cairn-clone-$id\$" "$T/before" >"$T/expected"
		WHY="$WHY$(differs "$T/expected" "$T/after")"
	else
		OUTCOME="left it as it was"
		WHY="$WHY$(differs "$T/before" "$T/after")"
	fi
}

outcome_change() { # volume NAME: available, its record and its image agreeing on the size
	# and the QoS limit, the record either changed ($CHANGED) or as it was; no image or
	# snapshot came or went
	local id pool rbd rsize isize riops iiops
	id=$(record_id volumes "$NAME")
	api GET "/v1/volumes/$NAME"
	[ "$STATUS" = 200 ] || WHY="GET answers $STATUS"
	printf '%s' "$BODY_OUT" | jq -e '.status == "available"' >/dev/null || WHY="$WHY; not available: $BODY_OUT"
	pool=$(jqf "$INV" ".dirs.volumes[\"$id\"].pool")
	rbd=$(jqf "$INV" ".dirs.volumes[\"$id\"].rbd_image")
	rsize=$(jqf "$INV" ".dirs.volumes[\"$id\"].size")
	isize=$(rbdc info --format json "$pool/$rbd" | jq .size)
	[ "$rsize" = "$isize" ] || WHY="$WHY; the record says $rsize bytes, the image has $isize"
	riops=$(jqf "$INV" ".dirs.volumes[\"$id\"].qos.iops // 0")
	iiops=$(rbdc image-meta get "$pool/$rbd" conf_rbd_qos_iops_limit 2>/dev/null || echo 0)
	[ "$riops" = "$iiops" ] || WHY="$WHY; the record's iops limit is $riops, the image's $iiops"
	if jq -e ".dirs.volumes[\"$id\"] | $CHANGED" "$INV" >/dev/null; then
		OUTCOME=completed
	elif [ "$(jq -c ".dirs.volumes[\"$id\"] | [.size, .qos]" "$INV")" = \
		"$(jq -c ".dirs.volumes[\"$id\"] | [.size, .qos]" "$T/before.json")" ]; then
		OUTCOME="left it as it was"
	else
		WHY="$WHY; the record is neither as it was nor changed: $(jq -c ".dirs.volumes[\"$id\"]" "$INV")"
	fi
	WHY="$WHY$(differs "$T/before" "$T/after")"
}

outcome_snapshot_delete() { # NAME's snapshot s1 with its clone NAMEc: hidden as
	# cairn-deleted-<id>-s1 (not listed, the clone on it and its record naming it: the
	# invariant check sees to those), or left as it was
	local id pool rbd
	id=$(record_id volumes "$NAME")
	pool=$(jqf "$INV" ".dirs.volumes[\"$id\"].pool")
	rbd=$(jqf "$INV" ".dirs.volumes[\"$id\"].rbd_image")
	api GET "/v1/volumes/$NAME/snapshots"
	[ "$STATUS" = 200 ] || WHY="GET of the snapshots answers $STATUS"
	if grep -qx "$pool/$rbd@s1" "$T/after"; then
		OUTCOME="left it as it was"
		printf '%s' "$BODY_OUT" | jq -e '[.snapshots[].name] == ["s1"]' >/dev/null || WHY="$WHY; listed: $BODY_OUT"
		WHY="$WHY$(differs "$T/before" "$T/after")"
	else
		OUTCOME="completed (hidden)"
		printf '%s' "$BODY_OUT" | jq -e '[.snapshots[].name] == []' >/dev/null || WHY="$WHY; still listed: $BODY_OUT"
		sed "s|^$pool/$rbd@s1\$|$pool/$rbd@HIDDEN|" "$T/before" | sort >"$T/expected"
		sed -E "s|^$pool/$rbd@cairn-deleted-[0-9]+-s1\$|$pool/$rbd@HIDDEN|" "$T/after" | sort >"$T/after-h"
		WHY="$WHY$(differs "$T/expected" "$T/after-h")"
	fi
	api GET "/v1/volumes/${NAME}c"
	printf '%s' "$BODY_OUT" | jq -e '.status == "available" and .parent.snapshot == "s1"' >/dev/null ||
		WHY="$WHY; the clone: $STATUS $BODY_OUT"
}

outcome_backup() { # a backup of volume NAME: a new record, available with its data (and
	# the volume's older backup point dropped), or failed (or none) with nothing left
	local new st vid
	new=$(jq -r --slurpfile b "$T/before.json" '.dirs.backups | keys - ($b[0].dirs.backups | keys) | .[]' "$INV")
	vid=$(jqf "$INV" ".names.volumes[\"$NAME\"]")
	if [ -z "$new" ]; then
		OUTCOME="left nothing"
		WHY="$(differs "$T/before" "$T/after")"
		return
	fi
	if [ "$(echo "$new" | wc -l)" != 1 ]; then
		WHY="more than one new backup record: $new"
		return
	fi
	st=$(jqf "$INV" ".dirs.backups[\"$new\"].status")
	api GET "/v1/backups/$new"
	case $st in
	available)
		OUTCOME=completed
		printf '%s' "$BODY_OUT" | jq -e '.status == "available"' >/dev/null || WHY="GET: $STATUS $BODY_OUT"
		local added removed
		added=$(comm -13 "$T/before" "$T/after" | grep -v -e "$new" -e "^$PREFIX-backups/backup-$vid\$" -e "^file:$vid.manifest.json\$")
		removed=$(comm -23 "$T/before" "$T/after" | grep -v -e "@cairn-backup-" -e "^object:backup.blocks.")
		[ -z "$added$removed" ] || WHY="$WHY; unexpected: added [$added] removed [$removed]"
		api POST "/v1/backups/$new/verify"
		if [ "$STATUS" != 202 ] || ! op_wait "$(printf '%s' "$BODY_OUT" | jq -r .id)" | jq -e '.status == "succeeded"' >/dev/null; then
			WHY="$WHY; the backup does not verify: $BODY_OUT"
		fi
		;;
	failed)
		OUTCOME="failed and left no data"
		printf '%s' "$BODY_OUT" | jq -e '.status == "failed"' >/dev/null || WHY="GET: $STATUS $BODY_OUT"
		WHY="$WHY$(differs "$T/before" "$T/after")"
		;;
	*) WHY="the new backup is '$st'" ;;
	esac
}

outcome_backup_set() { # a set of bv and bw: no new record, or two, each available with
	# its data or failed with none; a group snapshot only for a set with a good backup (the
	# invariant check sees to that)
	local new n added removed id st ex=()
	new=$(jq -r --slurpfile b "$T/before.json" '.dirs.backups | keys - ($b[0].dirs.backups | keys) | .[]' "$INV")
	n=$(printf '%s' "$new" | grep -c . || true)
	if [ "$n" = 0 ]; then
		OUTCOME="left nothing"
		WHY="$(differs "$T/before" "$T/after")"
		return
	fi
	[ "$n" = 2 ] || {
		WHY="$n new backup records, not 0 or 2: $new"
		return
	}
	OUTCOME=
	for id in $new; do
		st=$(jqf "$INV" ".dirs.backups[\"$id\"].status")
		api GET "/v1/backups/$id"
		printf '%s' "$BODY_OUT" | jq -e --arg st "$st" '.status == $st' >/dev/null || WHY="$WHY; GET $id: $STATUS $BODY_OUT"
		OUTCOME="$OUTCOME${OUTCOME:+, }$st"
		case $st in
		available)
			ex+=(-e "$id" -e "^$PREFIX-backups/backup-$(jqf "$INV" ".dirs.backups[\"$id\"].volume_id")\$")
			api POST "/v1/backups/$id/verify"
			if [ "$STATUS" != 202 ] || ! op_wait "$(printf '%s' "$BODY_OUT" | jq -r .id)" | jq -e '.status == "succeeded"' >/dev/null; then
				WHY="$WHY; backup $id does not verify: $BODY_OUT"
			fi
			;;
		failed) ;;
		*) WHY="$WHY; backup $id is '$st'" ;;
		esac
	done
	# the group's snapshot parts come and go with the sets; older bases go
	added=$(comm -13 "$T/before" "$T/after" | grep -v -e '@\.group\.' "${ex[@]}" || true)
	removed=$(comm -23 "$T/before" "$T/after" | grep -v -e "@cairn-backup-" -e '@\.group\.' -e "^object:backup.blocks." || true)
	[ -z "$added$removed" ] || WHY="$WHY; unexpected: added [$added] removed [$removed]"
}

outcome_backup_delete() { # NAME: the backup id
	api GET "/v1/backups/$NAME"
	if [ "$(jqf "$INV" ".dirs.backups[\"$NAME\"] // \"\" | type")" = object ]; then
		OUTCOME="left it as it was"
		printf '%s' "$BODY_OUT" | jq -e '.status == "available"' >/dev/null || WHY="GET: $STATUS $BODY_OUT"
		WHY="$WHY$(differs "$T/before" "$T/after")"
	else
		OUTCOME=completed
		[ "$STATUS" = 404 ] || WHY="no record, but GET answers $STATUS"
		# (the volume's manifest goes with its last file backup)
		grep -v -e "$NAME" -e '\.manifest\.json$' "$T/before" >"$T/expected"
		grep -v '\.manifest\.json$' "$T/after" >"$T/after-nm"
		WHY="$WHY$(differs "$T/expected" "$T/after-nm")"
	fi
}

outcome_group_delete() { # NAME: volumes NAMEa and NAMEb, group GROUP: the group snapshot
	# is gone from both (the fail point is after its removal), and the group with it once a
	# reconcile pass has run; the volumes stay as they were
	local v img ex=() left=
	for _ in $(seq 1 100); do
		left=$(rbdc group ls "$PREFIX-volumes" | grep -x "$GROUP" || true)
		[ -z "$left" ] && break
		sleep 0.3
	done
	OUTCOME=completed
	[ -z "$left" ] || WHY="the group $GROUP is still in rbd group ls"
	api GET "/v1/snapshots/group/$GROUP"
	[ "$STATUS" = 404 ] || WHY="$WHY; GET of the group answers $STATUS"
	for v in "${NAME}a" "${NAME}b"; do
		api GET "/v1/volumes/$v"
		printf '%s' "$BODY_OUT" | jq -e '.status == "available"' >/dev/null || WHY="$WHY; $v: $STATUS $BODY_OUT"
		img=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
		ex+=(-e "^$PREFIX-volumes/$img@\.group\.")
	done
	grep -v "${ex[@]}" "$T/before" >"$T/expected"
	WHY="$WHY$(differs "$T/expected" "$T/after")"
}

run_case() { # step scenario
	local step=$1 s=$2 d="$1 ($2)" t0=$SECONDS
	cases=$((cases + 1))
	restart_with "$s"
	if ! setup_case "$s"; then
		not_ok "$d: fixtures" "$STATUS $BODY_OUT"
		return
	fi
	if ! settle 60; then
		not_ok "$d: consistent before the request" "$(cat "$T/violations")"
		return
	fi
	images_of "$INV" >"$T/before"
	cp "$INV" "$T/before.json"
	daemon_stop || true
	daemon_start CAIRN_FAILPOINT="$step"
	api "$METHOD" "$PATH_" "$BODY"
	local answer="$STATUS"
	daemon_wait_exit 30
	if [ "$DAEMON_RC" = 137 ] && grep -q "fail point '$step' reached" "$T/cairnd.log"; then
		ok "$d: cairnd killed itself at the step (answer: $answer)"
	else
		not_ok "$d: cairnd killed itself at the step" "exit: $DAEMON_RC, answer: $answer $BODY_OUT"
	fi
	daemon_start
	check_settled "$d: after the restart, Ceph is consistent again"
	images_of "$INV" >"$T/after"

	OUTCOME= WHY=
	case $OPKIND in
	create) outcome_create "$s" ;;
	delete) outcome_delete ;;
	backup) outcome_backup ;;
	backup_set) outcome_backup_set ;;
	backup_delete) outcome_backup_delete ;;
	flatten) outcome_flatten ;;
	change) outcome_change ;;
	snapshot_delete) outcome_snapshot_delete ;;
	group_delete) outcome_group_delete ;;
	esac
	local outcome=$OUTCOME why=$WHY
	if [ -z "$why" ]; then
		ok "$d: the request $outcome, nothing else changed"
	else
		not_ok "$d: the request completed or left nothing" "$outcome: ${why#; }"
	fi
	covered+=("$step")
	# (a process killed with an image open leaves its watch for osd_client_watch_timeout,
	# 30 s: librbd refuses to remove the image until then, so those cases take longer)
	echo "# $d took $((SECONDS - t0)) s"

	# the next case starts from the fixtures only
	if [ "$OPKIND" = snapshot_delete ]; then # the clone, then the volume (the purge
		# removes the hidden snapshot, then the volume hidden for it). A volume hidden for
		# its snapshot is a settled state: wait until the purge has removed both images, or
		# the next case's "before" would hold what goes away during it.
		local gone=()
		for v in "${NAME}c" "$NAME"; do
			api GET "/v1/volumes/$v"
			gone+=("$(printf '%s' "$BODY_OUT" | jq -r '.rbd_image // empty')")
			api DELETE "/v1/volumes/$v?force"
			[ "$STATUS" = 202 ] && op_wait "$(printf '%s' "$BODY_OUT" | jq -r .id)" >/dev/null
		done
		for _ in $(seq 1 60); do
			{ rbdc ls "$PREFIX-volumes"; rbdc trash ls "$PREFIX-volumes"; } >"$T/left" 2>/dev/null
			grep -q -F -e "${gone[0]:-none}" -e "${gone[1]:-none}" "$T/left" || break
			sleep 1
		done
	fi
	if { [ "$OPKIND" = create ] && [ "$OUTCOME" = completed ]; } || [ "$OPKIND" = flatten ] ||
		[ "$OPKIND" = change ]; then
		if [ "$KIND" = volumes ]; then
			api DELETE "/v1/volumes/$NAME?force"
			[ "$STATUS" = 202 ] && op_wait "$(printf '%s' "$BODY_OUT" | jq -r .id)" >/dev/null
		else
			api DELETE "/v1/images/$NAME"
		fi
	fi
}

while read -r step scenarios; do
	[ -n "$step" ] || continue
	[[ $step =~ $only ]] && ! [[ $step =~ $skip ]] || continue
	for s in $scenarios; do
		run_case "$step" "$s"
	done
done <<<"$STEPS"

printf '%s\n' "${covered[@]}" | sort -u | grep . >"$T/covered"
selected <"$T/code" >"$T/selected" || true
echo "# fail points covered: $(wc -l <"$T/covered") (of $(wc -l <"$T/selected") selected by /$only/ but /$skip/, $(wc -l <"$T/code") in the code), in $cases crash cases"
printf '%s\n' "${covered[@]}" | sort | uniq -c | sed 's/^ */# /'
uncovered=$(comm -23 "$T/selected" "$T/covered" | tr '\n' ' ')
[ -s "$T/selected" ] && [ -z "$uncovered" ] &&
	ok "every selected fail point of the code was crashed at ($(wc -l <"$T/covered"))" ||
	not_ok "every selected fail point of the code was crashed at" "not crashed at: ${uncovered:-none selected}"

daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
tap_done
