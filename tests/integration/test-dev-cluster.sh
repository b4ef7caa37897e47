#!/usr/bin/env bash
# scripts/dev-cluster: two clusters side by side, each healthy, each stopped completely.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
dc=$top/scripts/dev-cluster
T=$(mktemp -d /tmp/cairn-dc.XXXXXX)
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
trap '"$dc" down "$T/a" >/dev/null 2>&1; "$dc" down "$T/b" >/dev/null 2>&1; rm -rf "$T"' EXIT

"$dc" up "$T/a" >"$T/a.out" 2>&1 &
pa=$!
"$dc" up "$T/b" >"$T/b.out" 2>&1 &
pb=$!
wait $pa && ok "cluster a comes up" || not_ok "cluster a comes up" "$(tail -5 "$T/a.out")"
wait $pb && ok "cluster b comes up at the same time" || not_ok "cluster b comes up at the same time" "$(tail -5 "$T/b.out")"
[ "$(tail -1 "$T/a.out")" = "$T/a/ceph.conf" ] && ok "up prints the path of ceph.conf last" || not_ok "up prints the path of ceph.conf last"

for c in a b; do
	h=$(timeout 30 ceph -c "$T/$c/ceph.conf" health 2>&1)
	[ "$h" = HEALTH_OK ] && ok "cluster $c: HEALTH_OK with its ceph.conf alone" || not_ok "cluster $c: HEALTH_OK" "$h"
done
pa_port=$(grep -o '127.0.0.1:[0-9]*' "$T/a/ceph.conf" | head -1)
pb_port=$(grep -o '127.0.0.1:[0-9]*' "$T/b/ceph.conf" | head -1)
[ "$pa_port" != "$pb_port" ] && ok "each cluster has its own monitor port ($pa_port, $pb_port)" || not_ok "each cluster has its own monitor port"
"$dc" up "$T/a" >/dev/null 2>&1 && ok "up on a live directory is a no-op" || not_ok "up on a live directory is a no-op"
"$dc" status "$T/b" >/dev/null 2>&1 && ok "status says b is healthy" || not_ok "status says b is healthy"
timeout 30 rbd -c "$T/a/ceph.conf" --id cairn ls rbd >/dev/null 2>&1 || true
timeout 30 ceph -c "$T/a/ceph.conf" auth get client.cairn 2>/dev/null | grep -q "profile rbd" &&
	ok "a non-admin cephx user client.cairn exists with rbd caps" || not_ok "a non-admin cephx user client.cairn exists with rbd caps"

pids=$(cat "$T"/a/run/*.pid "$T"/b/run/*.pid 2>/dev/null | tr '\n' ' ')
"$dc" down "$T/a" >/dev/null 2>&1 && ok "down a" || not_ok "down a"
"$dc" down "$T/b" >/dev/null 2>&1 && ok "down b" || not_ok "down b"
left=
for p in $pids; do
	# a zombie waiting for init is gone for our purposes
	st=$(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ] && left="$left $p"
done
[ -z "$left" ] && ok "no ceph process of theirs is left (${pids})" || not_ok "no ceph process of theirs is left" "still running:$left"
[ ! -e "$T/a" ] && [ ! -e "$T/b" ] && ok "down removes the directories" || not_ok "down removes the directories"

echo "1..$n"
[ $failed -eq 0 ]
