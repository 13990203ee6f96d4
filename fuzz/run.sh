#!/usr/bin/env bash
# Build one fuzz target (stable toolchain: --sanitizer none) and run it for a bounded time.
#   fuzz/run.sh TARGET SECONDS [extra libFuzzer flags...]
# New inputs go to fuzz/target/corpus/TARGET (ignored by git); the committed seeds in fuzz/corpus/TARGET are only
# read. Crashes land in fuzz/artifacts/TARGET/. Prints total execs, execs/s and the findings; exits 1 on a finding.
set -euo pipefail
target=${1:?usage: fuzz/run.sh TARGET SECONDS [libFuzzer flags]}
secs=${2:-60}
shift 2 || shift $#
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
# Keep short byte-string compares as bcmp calls that libFuzzer can learn magic values from.
export RUSTFLAGS="${RUSTFLAGS:-} -Cllvm-args=-max-loads-per-memcmp=0"
cargo fuzz build --sanitizer none "$target"
work="$here/target/corpus/$target"
mkdir -p "$work" "$here/artifacts/$target"
dict=()
[ -f "$here/dict/$target.dict" ] && dict=(-dict="$here/dict/$target.dict")
log="$here/target/$target.log"
set +e
cargo fuzz run --sanitizer none "$target" "$work" "$here/corpus/$target" -- \
  -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" "$@" 2>&1 | tee "$log" |
  grep -E '^(#[0-9]+ +(INITED|DONE)|==|SUMMARY|stat::|Done |.*(panicked|deadly signal|out-of-memory|timeout))' 
status=${PIPESTATUS[0]}
set -e
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
echo "== $target: ${execs:-?} execs in ${secs}s (${rate:-?} execs/s), exit status $status, log $log"
findings=$(find "$here/artifacts/$target" -type f | wc -l)
echo "== findings in artifacts/$target: $findings"
find "$here/artifacts/$target" -type f -printf '   %p (%s bytes)\n'
exit "$status"
