#!/usr/bin/env bash
# Run one libFuzzer target for a while: run-fuzz.sh TARGET-BINARY NAME
#   CAIRN_FUZZ_SECONDS  how long (default 20)
#   CAIRN_FUZZ_WORKDIR  where the growing corpus and crash artifacts go (default: a temp dir)
# The seed corpus tests/fuzz/corpus/NAME and the dictionary tests/fuzz/dict/NAME.dict (when
# there is one) are read, never written. Exits non-zero when the target finds a crash, a
# leak, a timeout or a broken property; the input that did it is kept as an artifact.
set -u
bin=$1 name=$2
here=$(cd "$(dirname "$0")" && pwd)
seconds=${CAIRN_FUZZ_SECONDS:-20}
work=${CAIRN_FUZZ_WORKDIR:-$(mktemp -d /tmp/cairn-fuzz.XXXXXX)}/$name
mkdir -p "$work/corpus" "$work/artifacts"
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536
	-print_final_stats=1 -artifact_prefix="$work/artifacts/")
[ -f "$here/dict/$name.dict" ] && args+=(-dict="$here/dict/$name.dict")
seeds=()
[ -d "$here/corpus/$name" ] && seeds+=("$here/corpus/$name")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$bin" "${args[@]}" "$work/corpus" "${seeds[@]}" >"$work/log" 2>&1
rc=$?
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$')
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1)
echo "fuzz-$name: ${execs:-?} executions in ${seconds} s, ${cov:-cov ?}, corpus $(ls "$work/corpus" | wc -l) inputs"
if [ $rc -ne 0 ]; then
	tail -40 "$work/log"
	echo "fuzz-$name: FAILED (exit $rc); artifacts in $work/artifacts: $(ls "$work/artifacts")"
	exit 1 # (libFuzzer's 77 would read as "skipped" to meson)
fi
exit 0
