# What the shell tests of backups share (sourced after lib.sh, with C set to the main
# cluster's ceph.conf): data straight into RBD, checksums of devices, operations followed
# to their end, restores compared with what was written.
rbdc() { rbd -c "$C" "$@"; }
qio() { # volume-rbd-image commands...: write with qemu-io straight into RBD
	local img=$1
	shift
	qemu-io -f raw "rbd:$PREFIX-volumes/$img:conf=$C" "$@" >/dev/null
}
sha_of() { # pool/image[@snap] -> sha256 of the whole device
	rbdc export --no-progress "$1" - 2>/dev/null | sha256sum | cut -d' ' -f1
}
follow() { # POST path body -> the operation's final JSON in BODY_OUT
	api POST "$1" "$2"
	local op
	op=$(printf '%s' "$BODY_OUT" | jq -r .id)
	api GET "/v1/operations/$op/wait?timeout=120"
}
restore_points() { # where id:sha:volume... -> each backup restored to a new volume, compared
	local where=$1 pair id want vol rimg got
	shift
	for pair in "$@"; do
		IFS=: read -r id want vol <<<"$pair"
		follow "/v1/backups/$id/restore" "{\"volume\":\"$vol\"}"
		jq_check "restore of $id$where succeeds" '.status == "succeeded"'
		api GET "/v1/volumes/$vol"
		rimg=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
		got=$(sha_of "$PREFIX-volumes/$rimg")
		[ "$got" = "$want" ] && ok "the restored volume $vol holds exactly the data of that point" ||
			not_ok "the restored volume $vol holds exactly the data of that point" "want $want got $got"
	done
}
