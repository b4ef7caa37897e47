#!/usr/bin/env bash
# The clone depth bound through the real daemon: a clone that stays within
# [volumes] max_clone_depth is made at once (201); one that would go deeper is made
# independent (flattened, O(size)) by an operation with progress (202), with the same data,
# through curl and through the CLI, which follows it. Checked in Ceph with the rbd CLI.
. "$(dirname "$0")/lib.sh"

daemon_config
printf '[volumes]\nmax_clone_depth = 1\n' >>"$T/cairn.conf"
daemon_start
C="$CAIRN_TEST_CEPH_CONF"
rbdc() { rbd -c "$C" "$@"; }
VP="$PREFIX-volumes"
# the SHA-256 of an image's whole content; "export failed" when it could not be read
digest() {
	rbdc export --no-progress "$VP/$1" "$T/export" >/dev/null 2>&1 || { echo "export failed"; return; }
	sha256sum <"$T/export" | cut -d' ' -f1
	rm -f "$T/export"
}
rbd_of() {
	api GET "/v1/volumes/$1"
	printf '%s' "$BODY_OUT" | jq -r .rbd_image
}

# a source with data in it (written with the rbd CLI, not through cairn)
expect_status "a blank 16 MiB volume" 201 POST /v1/volumes '{"name":"d0","size":"16M"}'
d0=$(rbd_of d0)
rbdc bench --io-type write --io-size 64K --io-pattern rand --io-total 4M "$VP/$d0" >/dev/null
want=$(digest "$d0")
zeros=$(head -c 16M /dev/zero | sha256sum | cut -d' ' -f1)
[ "$want" != "export failed" ] && [ "$want" != "$zeros" ] && ok "d0 holds data" ||
	not_ok "d0 holds data" "$want"

# depth 1: within the bound, a plain copy-on-write clone, answered at once
expect_status "a clone of depth 1 is made at once" 201 POST /v1/volumes '{"name":"d1","volume":"d0"}'
jq_check "it is a clone of d0, not flattened" '.parent.name == "d0" and (.flattened | not)'
d1=$(rbd_of d1)
rbdc info "$VP/$d1" | grep -q "parent: $VP/$d0@" && ok "rbd info: d1 is a clone of d0" ||
	not_ok "rbd info: d1 is a clone of d0" "$(rbdc info "$VP/$d1")"

# depth 2: past the bound, an operation that flattens it
expect_status "a clone of depth 2 is an operation" 202 POST /v1/volumes '{"name":"d2","volume":"d1"}'
jq_check "the operation creates volume d2" '.kind == "volume.create" and .resource.name == "d2"'
op=$(printf '%s' "$BODY_OUT" | jq -r .id)
api GET "/v1/operations/$op/wait?timeout=120"
jq_check "the operation succeeds with the volume, flattened, at 100%" \
	'.status == "succeeded" and .progress == 100 and .result.name == "d2" and .result.flattened'
d2=$(rbd_of d2)
if rbdc info "$VP/$d2" | grep -q "parent:"; then
	not_ok "rbd info: d2 has no parent" "$(rbdc info "$VP/$d2")"
else
	ok "rbd info: d2 has no parent"
fi
[ "$(digest "$d2")" = "$want" ] && ok "d2 holds d0's data" || not_ok "d2 holds d0's data"
# the hidden snapshot d2 was cloned from is gone with the flatten
if rbdc snap ls "$VP/$d1" | grep -q "cairn-clone-"; then
	not_ok "no hidden snapshot is left on d1" "$(rbdc snap ls "$VP/$d1")"
else
	ok "no hidden snapshot is left on d1"
fi

# the CLI follows the operation and shows the volume
if "$CAIRN" volume create d3 --volume d1 >"$T/d3.out" 2>"$T/d3.err"; then
	ok "cairn volume create of a clone too deep finishes"
else
	not_ok "cairn volume create of a clone too deep finishes" "$(cat "$T/d3.err")"
fi
"$CAIRN" --json volume show d3 | jq -e '.flattened and .parent.name == "d1"' >/dev/null &&
	ok "cairn: d3 is flattened and names d1 as its parent" ||
	not_ok "cairn: d3 is flattened and names d1 as its parent" "$("$CAIRN" --json volume show d3)"

# a name taken is still a 409 answered at once, nothing made
n_before=$(rbdc ls "$VP" | wc -l)
expect_status "a taken name is refused" 409 POST /v1/volumes '{"name":"d2","volume":"d1"}'
[ "$(rbdc ls "$VP" | wc -l)" = "$n_before" ] && ok "nothing was made for it" ||
	not_ok "nothing was made for it" "$(rbdc ls "$VP")"

daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
tap_done
