#!/usr/bin/env bash
# Backups into the backups pool of ANOTHER cluster ([backup] cluster_conf): this test starts
# a second throwaway cluster of its own with scripts/dev-cluster, backs a volume of the main
# cluster up into it (full and incremental), shows the backup image is there and not in the
# main cluster, restores both points and compares every byte, verifies; then stops the
# second cluster's monitor (a backup fails promptly with 503, everything else works, and
# backups work again once it is back), and finally takes the second cluster away entirely,
# also across a restart of cairnd.
. "$(dirname "$0")/lib.sh"

DEV_CLUSTER=$(cd "$(dirname "$0")/../.." && pwd)/scripts/dev-cluster
C="$CAIRN_TEST_CEPH_CONF"
C2DIR=$T/c2
C2=$C2DIR/ceph.conf
C2_UP=

cleanup_all() {
	daemon_stop || true
	if [ -n "$C2_UP" ]; then
		"$DEV_CLUSTER" down "$C2DIR" >/dev/null 2>&1 || true
	fi
	cleanup_itest
}
trap cleanup_all EXIT

# the second cluster: small (its OSD lives in RAM), its own dir, its own free port
C2_UP=1
DEV_CLUSTER_OSD_BYTES=$((1 << 30)) "$DEV_CLUSTER" up "$C2DIR" >"$T/c2-up.log" 2>&1 ||
	bail "cannot start the second cluster: $(tail -5 "$T/c2-up.log")"
KEYS2=$(cat "$C2DIR"/*.keyring 2>/dev/null | sed -n 's/^[[:space:]]*key[[:space:]]*=[[:space:]]*//p')
fsid1=$(timeout 30 ceph -c "$C" fsid 2>/dev/null)
fsid2=$(timeout 30 ceph -c "$C2" fsid 2>/dev/null)
[ -n "$fsid2" ] && [ "$fsid1" != "$fsid2" ] && ok "the second cluster is another cluster ($fsid2)" ||
	not_ok "the second cluster is another cluster" "fsid1=$fsid1 fsid2=$fsid2"

daemon_config
printf '[backup]\ntarget = pool\ncluster_conf = %s\n' "$C2" >>"$T/cairn.conf"
daemon_start

. "$(dirname "$0")/backup-lib.sh"
rbdc2() { rbd -c "$C2" "$@"; }
pools_of() { # ceph.conf -> pool names, one a line
	timeout 30 ceph -c "$1" osd pool ls 2>/dev/null
}

# ---- where things are ----
expect_status "health answers" 200 GET /v1/health
jq_check "health reports the backup cluster: reachable, its fsid, the pool" \
	".backup_cluster.reachable == true and .backup_cluster.fsid == \"$fsid2\" and .backup_cluster.pool == \"$PREFIX-backups\" and .backup_cluster.pool_ready == true"
jq_check "and the main cluster as before, status ok" \
	".cluster.reachable == true and .cluster.fsid == \"$fsid1\" and .status == \"ok\""
if grep -qx -- "$PREFIX-backups" < <(pools_of "$C2"); then
	ok "the backups pool was made in the backup cluster"
else
	not_ok "the backups pool was made in the backup cluster" "$(pools_of "$C2" | tr '\n' ' ')"
fi
if grep -qx -- "$PREFIX-volumes" < <(pools_of "$C") && ! grep -qx -- "$PREFIX-backups" < <(pools_of "$C"); then
	ok "the main cluster has the volumes pool and no backups pool"
else
	not_ok "the main cluster has the volumes pool and no backups pool" "$(pools_of "$C" | tr '\n' ' ')"
fi
apps=$(timeout 30 ceph -c "$C2" osd pool application get "$PREFIX-backups" 2>/dev/null)
printf '%s' "$apps" | jq -e 'has("rbd")' >/dev/null 2>&1 &&
	ok "the backups pool of the backup cluster has the rbd application" ||
	not_ok "the backups pool of the backup cluster has the rbd application" "$apps"
expect_status "pools are listed" 200 GET /v1/pools
jq_check "GET /v1/pools says the backups pool is in the backup cluster" \
	".pools[] | select(.role == \"backups\") | .cluster == \"backup\" and .exists == true"

# ---- full and incremental backups into the second cluster ----
api POST /v1/volumes '{"name":"db","size":"64M"}'
img=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
vid=$(printf '%s' "$BODY_OUT" | jq -r .id)
[ -n "$img" ] && [ "$img" != null ] || bail "cannot create a volume: $BODY_OUT"
qio "$img" -c 'write -P 0x11 0 4M' -c 'write -P 0x22 32M 1M'
sha1=$(sha_of "$PREFIX-volumes/$img")

follow /v1/backups '{"volume":"db"}'
jq_check "a full backup to the other cluster succeeds" '.status == "succeeded" and .result.kind == "full" and .result.target == "pool"'
b1=$(printf '%s' "$BODY_OUT" | jq -r .result.id)

qio "$img" -c 'write -P 0x33 8M 64k' -c 'write -P 0x44 60M 4k'
sha2=$(sha_of "$PREFIX-volumes/$img")
[ "$sha1" != "$sha2" ] && ok "the second write changed the volume" || not_ok "the second write changed the volume"
follow /v1/backups '{"volume":"db","incremental":true}'
jq_check "an incremental backup follows the full" ".status == \"succeeded\" and .result.kind == \"incremental\" and .result.parent == \"$b1\""
b2=$(printf '%s' "$BODY_OUT" | jq -r .result.id)

bimg=backup-$vid
if rbdc2 ls "$PREFIX-backups" 2>/dev/null | grep -qx -- "$bimg"; then
	ok "rbd ls of the backup cluster shows the backup image $bimg"
else
	not_ok "rbd ls of the backup cluster shows the backup image $bimg" "$(rbdc2 ls "$PREFIX-backups" 2>&1)"
fi
nsnaps=$(rbdc2 snap ls --format json "$PREFIX-backups/$bimg" 2>/dev/null | jq length)
[ "$nsnaps" = 2 ] && ok "the backup image there has the two backup points as snapshots" ||
	not_ok "the backup image there has the two backup points as snapshots" "got '$nsnaps'"
if out=$(rbdc ls "$PREFIX-backups" 2>&1) && printf '%s\n' "$out" | grep -qx -- "$bimg"; then
	not_ok "the main cluster holds no backup image" "$out"
else
	ok "the main cluster holds no backup image"
fi

restore_points " from the other cluster" "$b1:$sha1:r1" "$b2:$sha2:r2"

if out=$("$CAIRN" backup verify "$b2" 2>&1); then ok "cairn backup verify of the chain in the other cluster"; else not_ok "cairn backup verify of the chain in the other cluster" "$out"; fi

# ---- a reload does not swap the backup cluster (restart needed), and says so ----
cp "$T/cairn.conf" "$T/cairn.conf.orig"
sed -i "s|^cluster_conf = .*|cluster_conf = $T/elsewhere.conf|" "$T/cairn.conf"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 50); do
	grep -q "reload: \[backup\] cluster_conf changed" "$T/cairnd.log" && break
	sleep 0.1
done
grep -q "reload: \[backup\] cluster_conf changed from '$C2' to '$T/elsewhere.conf': it takes effect only when cairnd restarts" "$T/cairnd.log" &&
	ok "SIGHUP with another cluster_conf logs that it needs a restart" ||
	not_ok "SIGHUP with another cluster_conf logs that it needs a restart" "$(grep reload "$T/cairnd.log")"
cp "$T/cairn.conf.orig" "$T/cairn.conf"
expect_status "health answers after the reload" 200 GET /v1/health
jq_check "and the backup cluster is still the second one" ".backup_cluster.reachable == true and .backup_cluster.fsid == \"$fsid2\""

# ---- the backup cluster's monitor stops: backups fail promptly, the rest works ----
"$DEV_CLUSTER" stop "$C2DIR" mon.a >/dev/null 2>&1 || bail "cannot stop the second cluster's mon"
t0=$(date +%s)
follow /v1/backups '{"volume":"db","incremental":true}'
t1=$(date +%s)
jq_check "with the backup cluster down a backup fails with 503 cluster_unavailable" \
	'.status == "failed" and .error.code == 503 and .error.reason == "cluster_unavailable"'
jq_check "and the message names the backup cluster" \
	".error.message | test(\"backup cluster\") and test(\"$C2\")"
[ $((t1 - t0)) -le 30 ] && ok "it fails promptly ($((t1 - t0)) s)" || not_ok "it fails promptly" "took $((t1 - t0)) s"
expect_status "the daemon still answers GET /v1/volumes at once" 200 GET /v1/volumes
jq_check "and lists the volumes of the main cluster" '[.volumes[].name] | sort == ["db","r1","r2"]'
expect_status "a volume can still be made in the main cluster" 201 POST /v1/volumes '{"name":"side","size":"8M"}'
expect_status "health answers" 200 GET /v1/health
jq_check "health says the backup cluster is unreachable and the main one reachable" \
	'.backup_cluster.reachable == false and (.backup_cluster.error | test("backup cluster")) and .cluster.reachable == true and .status == "degraded"'
api GET /metrics
printf '%s\n' "$BODY_OUT" | grep -qx 'cairn_backup_cluster_up 0' && ok "metrics: cairn_backup_cluster_up 0" ||
	not_ok "metrics: cairn_backup_cluster_up 0" "$(printf '%s\n' "$BODY_OUT" | grep backup_cluster)"
printf '%s\n' "$BODY_OUT" | grep -qx 'cairn_cluster_up 1' && ok "metrics: the main cluster is still up" ||
	not_ok "metrics: the main cluster is still up" "$(printf '%s\n' "$BODY_OUT" | grep cluster_up)"

# ---- it comes back: cairnd reconnects ----
"$DEV_CLUSTER" start "$C2DIR" mon.a >/dev/null 2>&1 || bail "cannot start the second cluster's mon again"
back=
for _ in $(seq 1 30); do
	follow /v1/backups '{"volume":"db","incremental":true}'
	if printf '%s' "$BODY_OUT" | jq -e '.status == "succeeded"' >/dev/null 2>&1; then
		back=1
		break
	fi
	sleep 2
done
[ -n "$back" ] && ok "once the backup cluster is back, backups to it succeed again" ||
	not_ok "once the backup cluster is back, backups to it succeed again" "$BODY_OUT"
jq_check "as an incremental of the chain there" ".result.kind == \"incremental\""
b3=$(printf '%s' "$BODY_OUT" | jq -r .result.id)
follow "/v1/backups/$b3/restore" '{"volume":"r3"}'
api GET /v1/volumes/r3
rimg=$(printf '%s' "$BODY_OUT" | jq -r .rbd_image)
got=$(sha_of "$PREFIX-volumes/$rimg")
[ "$got" = "$sha2" ] && ok "and the backup made after the reconnect restores exactly" ||
	not_ok "and the backup made after the reconnect restores exactly" "want $sha2 got $got"
expect_status "health answers" 200 GET /v1/health
jq_check "health says the backup cluster is reachable again" '.backup_cluster.reachable == true and .status == "ok"'

# ---- the backup cluster goes away entirely (every daemon of it; its files stay) ----
for d in osd.0 mgr.x mon.a; do
	"$DEV_CLUSTER" stop "$C2DIR" "$d" >/dev/null 2>&1 || bail "cannot stop $d of the second cluster"
done
t0=$(date +%s)
follow /v1/backups '{"volume":"db","incremental":true}'
t1=$(date +%s)
jq_check "with the backup cluster gone a backup fails with 503" \
	'.status == "failed" and .error.code == 503 and (.error.message | test("backup cluster"))'
[ $((t1 - t0)) -le 30 ] && ok "promptly ($((t1 - t0)) s)" || not_ok "promptly" "took $((t1 - t0)) s"
expect_status "GET /v1/volumes still answers" 200 GET /v1/volumes
follow /v1/backups/$b2/verify '{}'
jq_check "a verify that needs the backup cluster fails with 503 too" '.status == "failed" and .error.code == 503'
expect_status "GET /v1/volumes/db still answers" 200 GET /v1/volumes/db

daemon_stop && ok "cairnd stops cleanly with the backup cluster gone" ||
	not_ok "cairnd stops cleanly with the backup cluster gone"

# a cairnd that starts while the backup cluster is away starts, and serves the rest
daemon_start
expect_status "cairnd starts without the backup cluster and lists volumes" 200 GET /v1/volumes
jq_check "with the main cluster's volumes" '[.volumes[].name] | index("db") != null'
expect_status "health answers" 200 GET /v1/health
jq_check "health says the backup cluster is unreachable" '.backup_cluster.reachable == false and .cluster.reachable == true'
# (a volume of its own: the backups of db that failed above may still be settling)
follow /v1/backups '{"volume":"side"}'
jq_check "a backup fails with 503 naming the backup cluster" \
	'.status == "failed" and .error.code == 503 and (.error.message | test("backup cluster"))'
leaked=
for k in $KEYS2; do
	grep -qF -- "$k" "$T/cairnd.log" && leaked=1
done
[ -n "$KEYS2" ] && [ -z "$leaked" ] && ok "no cephx key of the backup cluster in the daemon's log" ||
	not_ok "no cephx key of the backup cluster in the daemon's log" "keys found: '$KEYS2' leaked: '$leaked'"

daemon_stop && ok "cairnd stops cleanly" || not_ok "cairnd stops cleanly"
tap_done
