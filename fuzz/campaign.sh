#!/usr/bin/env bash
# The long campaign: build the given targets once, then run them one after another (never two at once: the box is
# shared) until each reaches RUNS executions or MAX_SECS seconds, whichever comes first.
#   fuzz/campaign.sh RUNS MAX_SECS TARGET...
# The binaries are copied to fuzz/target/campaign/bin-COMMIT/ first, so editing the crate meanwhile does not change
# what runs. One line per target goes to fuzz/target/campaign/summary.tsv: UTC date, commit, target, executions,
# execs/s, seconds, findings, load average before and after; the full libFuzzer output to fuzz/target/campaign/.
set -euo pipefail
runs=${1:?usage: fuzz/campaign.sh RUNS MAX_SECS TARGET...}
max_secs=${2:?}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export RUSTFLAGS="${RUSTFLAGS:-} -Cllvm-args=-max-loads-per-memcmp=0"
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ../src || echo -dirty)
for t in "$@"; do nice -n 10 cargo fuzz build --sanitizer none "$t"; done
out="$here/target/campaign"
bin="$out/bin-$commit"
mkdir -p "$bin"
for t in "$@"; do cp "$here/target/x86_64-unknown-linux-gnu/release/$t" "$bin/"; done
for t in "$@"; do
  work="$here/target/corpus/$t"
  mkdir -p "$work" "$here/artifacts/$t"
  dict=()
  [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
  log="$out/$t.log"
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  start=$(date +%s)
  set +e
  nice -n 15 "$bin/$t" "$work" "$here/corpus/$t" -runs="$runs" -max_total_time="$max_secs" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$here/artifacts/$t/" \
    "${dict[@]}" >"$log" 2>&1
  status=$?
  set -e
  secs=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
  findings=$(find "$here/artifacts/$t" -type f | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$commit" "$t" "${execs:-?}" "${rate:-?}" \
    "$secs" "$findings" "$status" "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/summary.tsv"
done
