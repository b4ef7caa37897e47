#!/usr/bin/env bash
# Group snapshots through the real daemon, with the CLI and curl, and the truth checked in
# Ceph with the rbd CLI: a group snapshot of three volumes is listed with its members, keeps
# them from being deleted (409 naming it), is deleted (and its group with it, nothing left in
# `rbd group ls`), after which the volumes delete; ?force takes a volume out of a group; a
# group left without snapshots goes with the reconcile pass; bad and unknown names are 4xx
# that change nothing.
. "$(dirname "$0")/lib.sh"

daemon_config "reconcile_interval = 1s"
daemon_start
C="$CAIRN_TEST_CEPH_CONF"
rbdc() { rbd -c "$C" "$@"; }
VP="$PREFIX-volumes"

for v in ga gb gc; do
	"$CAIRN" volume create "$v" --size 16M >/dev/null 2>"$T/err" || bail "cannot create volume $v: $(cat "$T/err")"
done
img_of() { curl -s --unix-socket "$SOCK" "http://cairn/v1/volumes/$1" | jq -r .rbd_image; }
IA=$(img_of ga) IB=$(img_of gb) IC=$(img_of gc)

# ---- create with the CLI, list through the API and the CLI, the truth in Ceph ----
expect_status "nothing is listed before any group snapshot" 200 GET /v1/snapshots/group
jq_check "the list is empty" '.groups == []'
if "$CAIRN" --json snapshot group gs1 ga gb gc >"$T/create.json" 2>"$T/err"; then
	ok "cairn snapshot group gs1 ga gb gc"
else
	not_ok "cairn snapshot group gs1 ga gb gc" "$(cat "$T/err")"
fi
G=$(jq -r .group "$T/create.json")
case $G in cairn-?*) ok "the group is cairn's: $G" ;; *) not_ok "the group is cairn's" "group: '$G'" ;; esac

expect_status "GET /v1/snapshots/group" 200 GET /v1/snapshots/group
jq_check "one group, with gs1 and the 3 volumes" \
	"(.groups | length) == 1 and .groups[0].name == \"$G\" and ([.groups[0].snapshots[].name] == [\"gs1\"]) and .groups[0].snapshots[0].complete == true and (.groups[0].volumes | sort) == [\"ga\",\"gb\",\"gc\"]"
expect_status "GET /v1/snapshots/group/$G" 200 GET "/v1/snapshots/group/$G"
jq_check "the group alone, the same" "[.snapshots[].name] == [\"gs1\"] and (.volumes | sort) == [\"ga\",\"gb\",\"gc\"]"
"$CAIRN" snapshot group-list >"$T/list.out" 2>"$T/err"
if grep -q "^GROUP" "$T/list.out" && grep "$G" "$T/list.out" | grep -q gs1 &&
	grep "$G" "$T/list.out" | grep ga | grep gb | grep -q gc; then
	ok "cairn snapshot group-list shows the group, gs1 and ga, gb, gc"
else
	not_ok "cairn snapshot group-list shows the group, gs1 and ga, gb, gc" "$(cat "$T/list.out" "$T/err")"
fi
"$CAIRN" snapshot group-show "$G" >"$T/show.out" 2>"$T/err" && grep -q gs1 "$T/show.out" &&
	ok "cairn snapshot group-show shows gs1" || not_ok "cairn snapshot group-show shows gs1" "$(cat "$T/show.out" "$T/err")"

rbdc group ls "$VP" | grep -qx "$G" && ok "rbd group ls shows $G" || not_ok "rbd group ls shows $G" "$(rbdc group ls "$VP")"
[ "$(rbdc group snap ls "$VP/$G" --format json | jq -r '[.[].snapshot] | join(",")')" = gs1 ] &&
	ok "rbd group snap ls shows gs1" || not_ok "rbd group snap ls shows gs1" "$(rbdc group snap ls "$VP/$G")"
members=$(rbdc group image ls "$VP/$G" --format json | jq -r '.[] | "\(.pool)/\(.image)"' | sort | tr '\n' ' ')
[ "$members" = "$(printf '%s\n' "$VP/$IA" "$VP/$IB" "$VP/$IC" | sort | tr '\n' ' ')" ] &&
	ok "rbd group image ls shows the 3 volumes' images" || not_ok "rbd group image ls shows the 3 volumes' images" "$members"

# ---- a member cannot be deleted while the group snapshot includes it ----
expect_status "deleting a member is refused" 409 DELETE /v1/volumes/ga
jq_check "the 409 names the group snapshot" ".error.message | contains(\"$G@gs1\")"
if "$CAIRN" volume delete ga >"$T/out" 2>"$T/err"; then
	not_ok "cairn volume delete of a member fails" "it succeeded: $(cat "$T/out")"
else
	grep -q "$G@gs1" "$T/err" && ok "cairn volume delete of a member fails naming $G@gs1" ||
		not_ok "cairn volume delete of a member fails naming $G@gs1" "$(cat "$T/err")"
fi
rbdc info "$VP/$IA" >/dev/null 2>&1 && ok "the member's image is still there" || not_ok "the member's image is still there"
# ... but everything else works on it: a flatten is no delete
expect_status "a member can still be flattened" 202 POST /v1/volumes/ga/flatten
api GET "/v1/operations/$(printf '%s' "$BODY_OUT" | jq -r .id)/wait?timeout=60"
jq_check "the flatten of a member succeeds" '.status == "succeeded"'

# ---- bad and unknown names: 4xx naming them, nothing changed ----
expect_status "an unknown group snapshot is 404" 404 DELETE "/v1/snapshots/group/$G/nosuch"
jq_check "the 404 names the group snapshot" ".error.message | contains(\"$G@nosuch\")"
expect_status "a snapshot of an unknown group is 404" 404 DELETE /v1/snapshots/group/cairn-nosuch/gs1
jq_check "the 404 names the group" '.error.message | contains("cairn-nosuch")'
expect_status "an unknown group is 404" 404 GET /v1/snapshots/group/cairn-nosuch
jq_check "the 404 names the group" '.error.message | contains("cairn-nosuch")'
expect_status "a group cairn did not make is 404" 404 GET /v1/snapshots/group/theirs
jq_check "the 404 names it" '.error.message | contains("theirs")'
expect_status "a bad snapshot name is 400" 400 DELETE "/v1/snapshots/group/$G/bad%20name"
jq_check "the 400 says which name" '.error.message | test("snapshot")'
expect_status "a bad group name is 400" 400 DELETE "/v1/snapshots/group/-bad/gs1"
jq_check "the 400 says which name" '.error.message | test("group")'
long=$(printf 'g%.0s' $(seq 1 300))
expect_status "a too long group name is 400" 400 GET "/v1/snapshots/group/$long"
expect_status "a backup set's group snapshot is cairn's own" 403 DELETE "/v1/snapshots/group/$G/cairn-backup-x"
if "$CAIRN" snapshot group-delete cairn-nosuch gs1 >"$T/out" 2>"$T/err"; then
	not_ok "cairn snapshot group-delete of an unknown group fails" "it succeeded: $(cat "$T/out")"
else
	grep -q cairn-nosuch "$T/err" && ok "cairn snapshot group-delete of an unknown group fails naming it" ||
		not_ok "cairn snapshot group-delete of an unknown group fails naming it" "$(cat "$T/err")"
fi
[ "$(rbdc group snap ls "$VP/$G" --format json | jq -r '[.[].snapshot] | join(",")')" = gs1 ] &&
	rbdc group ls "$VP" | grep -qx "$G" &&
	ok "after the refused requests, the group and gs1 are still in Ceph" ||
	not_ok "after the refused requests, the group and gs1 are still in Ceph"

# ---- delete the group snapshot: the group goes with its last snapshot ----
if "$CAIRN" snapshot group-delete "$G" gs1 >"$T/out" 2>"$T/err"; then
	grep -q "deleted group snapshot '$G@gs1'" "$T/out" && ok "cairn snapshot group-delete $G gs1" ||
		not_ok "cairn snapshot group-delete $G gs1 says so" "$(cat "$T/out")"
else
	not_ok "cairn snapshot group-delete $G gs1" "$(cat "$T/err")"
fi
expect_status "the list after the delete" 200 GET /v1/snapshots/group
jq_check "the list is empty" '.groups == []'
expect_status "the group is gone" 404 GET "/v1/snapshots/group/$G"
expect_status "deleting it again is 404" 404 DELETE "/v1/snapshots/group/$G/gs1"
[ -z "$(rbdc group ls "$VP")" ] && ok "rbd group ls shows no group left" || not_ok "rbd group ls shows no group left" "$(rbdc group ls "$VP")"
left=$(for i in "$IA" "$IB" "$IC"; do rbdc snap ls --all "$VP/$i"; done | grep -c group || true)
[ "$left" = 0 ] && ok "no volume keeps a part of the group snapshot" || not_ok "no volume keeps a part of the group snapshot" "$left left"

api DELETE /v1/volumes/ga
[ "$STATUS" = 202 ] && ok "now the volume delete is accepted (202)" || not_ok "now the volume delete is accepted" "$STATUS $BODY_OUT"
api GET "/v1/operations/$(printf '%s' "$BODY_OUT" | jq -r .id)/wait?timeout=60"
jq_check "the delete succeeded" '.status == "succeeded"'
expect_status "the volume is gone" 404 GET /v1/volumes/ga
rbdc ls "$VP" | grep -qx "$IA" && not_ok "its image left the pool" "$(rbdc ls "$VP")" || ok "its image left the pool"

# ---- ?force: the volume leaves the group, the group snapshot goes from every volume ----
api POST /v1/snapshots/group '{"name":"gs2","volumes":["gb","gc"]}'
[ "$STATUS" = 201 ] && ok "a group snapshot of gb and gc (201)" || not_ok "a group snapshot of gb and gc" "$STATUS $BODY_OUT"
G2=$(printf '%s' "$BODY_OUT" | jq -r .group)
expect_status "deleting gb is refused" 409 DELETE /v1/volumes/gb
jq_check "the 409 names the group snapshot" ".error.message | contains(\"$G2@gs2\")"
api DELETE "/v1/volumes/gb?force"
[ "$STATUS" = 202 ] && ok "deleting gb with ?force is accepted (202)" || not_ok "deleting gb with ?force is accepted" "$STATUS $BODY_OUT"
api GET "/v1/operations/$(printf '%s' "$BODY_OUT" | jq -r .id)/wait?timeout=60"
jq_check "the forced delete succeeded" '.status == "succeeded"'
[ "$(rbdc snap ls --all "$VP/$IC" | grep -c group || true)" = 0 ] &&
	ok "the group snapshot went from gc too" || not_ok "the group snapshot went from gc too" "$(rbdc snap ls --all "$VP/$IC")"
expect_status "the list after the forced delete" 200 GET /v1/snapshots/group
jq_check "the list is empty" '.groups == []'
# the group, now without snapshots, goes with a reconcile pass (every second here)
for _ in $(seq 1 150); do
	[ -z "$(rbdc group ls "$VP")" ] && break
	sleep 0.2
done
[ -z "$(rbdc group ls "$VP")" ] && ok "the group left without snapshots is removed by the reconcile pass" ||
	not_ok "the group left without snapshots is removed by the reconcile pass" "$(rbdc group ls "$VP")"
"$CAIRN" volume delete gc >/dev/null 2>"$T/err" && ok "cairn volume delete gc" || not_ok "cairn volume delete gc" "$(cat "$T/err")"

daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
tap_done
