#!/usr/bin/env bash
# Without a cluster: every fail point of the C code (failpoints.py) has a row in the table
# of test-crash.sh, and every row is a fail point of the code. A new failpoint() call thus
# fails the unit suite until test-crash.sh crashes at it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

if python3 "$here/failpoints.py" "$top" >"$tmp/code" 2>"$tmp/err"; then
	ok "every failpoint() call resolves to step names ($(wc -l <"$tmp/code") found)"
else
	not_ok "every failpoint() call resolves to step names" "$(cat "$tmp/err")"
fi
cut -f1 "$tmp/code" | sort -u >"$tmp/code-steps"
sed -n "/^STEPS='/,/'\$/p" "$here/test-crash.sh" | sed -e "s/^STEPS='//" -e "s/'\$//" |
	awk 'NF { print $1 }' | sort -u >"$tmp/table"
[ -s "$tmp/table" ] && ok "the table of test-crash.sh has $(wc -l <"$tmp/table") steps" ||
	not_ok "the table of test-crash.sh could be read"
missing=$(comm -23 "$tmp/code-steps" "$tmp/table" | tr '\n' ' ')
stale=$(comm -13 "$tmp/code-steps" "$tmp/table" | tr '\n' ' ')
[ -z "$missing" ] && ok "every fail point of the code has a row in test-crash.sh" ||
	not_ok "every fail point of the code has a row in test-crash.sh" "no scenario for: $missing"
[ -z "$stale" ] && ok "every row of test-crash.sh is a fail point of the code" ||
	not_ok "every row of test-crash.sh is a fail point of the code" "not in the code: $stale"
echo "1..$n"
exit $failed
