#!/usr/bin/env bash
# The long campaign: run targets one after another (never two fuzz jobs at once: the box is shared), each until
# RUNS executions or its share of the time left before DEADLINE (UTC, e.g. 00:40), whichever comes first; a target
# that stops early leaves its time to the next ones.
#   fuzz/campaign.sh RUNS DEADLINE TARGET...
# A builder builds the targets in order in the background while the first ones run, and copies each binary to
# fuzz/target/campaign/bin-COMMIT/ (so editing the crate meanwhile changes nothing that runs). One line per target
# goes to fuzz/target/campaign/summary.tsv: UTC date, commit, target, executions, execs/s, seconds, findings, exit
# status, load average before and after; the full libFuzzer output to fuzz/target/campaign/TARGET.log.
set -euo pipefail
runs=${1:?usage: fuzz/campaign.sh RUNS DEADLINE TARGET...}
deadline=$(date -u -d "${2:?}" +%s)
[ "$deadline" -gt "$(date +%s)" ] || deadline=$((deadline + 86400))
shift 2
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export RUSTFLAGS="${RUSTFLAGS:-} -Cllvm-args=-max-loads-per-memcmp=0"
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ../src || echo -dirty)
out="$here/target/campaign"
bin="$out/bin-$commit"
mkdir -p "$bin"
(
  for t in "$@"; do
    nice -n 10 cargo fuzz build --sanitizer none "$t" >"$out/build-$t.log" 2>&1 || { touch "$bin/$t.failed"; continue; }
    cp "$here/target/x86_64-unknown-linux-gnu/release/$t" "$bin/$t.tmp" && mv "$bin/$t.tmp" "$bin/$t"
  done
) &
left=$#
for t in "$@"; do
  while [ ! -e "$bin/$t" ] && [ ! -e "$bin/$t.failed" ]; do sleep 2; done
  left=$((left - 1))
  if [ -e "$bin/$t.failed" ]; then
    printf '%s\t%s\t%s\tbuild failed\n' "$(date -u +%FT%TZ)" "$commit" "$t" >>"$out/summary.tsv"
    continue
  fi
  budget=$(((deadline - $(date +%s)) / (left + 1)))
  [ "$budget" -ge 10 ] || budget=10
  work="$here/target/corpus/$t"
  mkdir -p "$work" "$here/artifacts/$t"
  dict=()
  [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
  log="$out/$t.log"
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  start=$(date +%s)
  set +e
  nice -n 15 "$bin/$t" "$work" "$here/corpus/$t" -runs="$runs" -max_total_time="$budget" -timeout=10 \
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
wait
