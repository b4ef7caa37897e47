#!/usr/bin/env bash
# cairn's backups against `rbd export-diff`, in one run (see bench/backup-bench.c).
#
#   bench/backup.sh [BUILD_DIR] [-- backup-bench options: -s SIZE -f FILL% -d DIR]
#
# Uses the cluster of CAIRN_TEST_CEPH_CONF when it is set; otherwise starts a throwaway one
# with scripts/dev-cluster (8 GiB memstore OSD) and stops it at the end.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$top/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = -- ] && shift
bench=$build/backup/backup-bench
if [ ! -x "$bench" ]; then
	echo "backup.sh: $bench not found: build first (meson setup $build && ninja -C $build)" >&2
	exit 1
fi
if [ -z "${CAIRN_TEST_CEPH_CONF:-}" ]; then
	dc=$(mktemp -d /tmp/cairn-bench-dc.XXXXXX)
	rmdir "$dc"
	trap '"$top/scripts/dev-cluster" down "$dc" >/dev/null 2>&1 || true' EXIT
	CAIRN_TEST_CEPH_CONF=$(DEV_CLUSTER_OSD_BYTES=$((8 << 30)) "$top/scripts/dev-cluster" up "$dc" | tail -n 1)
	export CAIRN_TEST_CEPH_CONF
fi
exec "$bench" -c "$CAIRN_TEST_CEPH_CONF" "$@"
