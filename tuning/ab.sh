#!/bin/bash
# Alternates warren binaries on one steady tree: for each run i in FIRST..LAST and each BIN in turn,
#   warren-BIN bench SCENARIO --metrics 20000 --points POINTS --reuse-dir DIR
# (SCENARIO from the environment, body-100 by default; DIR must have been made by the same scenario and points)
# (each binary on PATH as warren-BIN), output in TAG-BIN-i.txt, and one summary line per run on stdout: the
# binary, i, the load average, the ceiling's points/s, warren's points/s, ratio and CPU s, failed verifications.
# Summarise a log of such lines with ab-summary.py.
#   ab.sh TAG FIRST LAST DIR POINTS BIN...     e.g. ab.sh t4 1 12 /var/tmp/b100 100 main g > t4.log
[ $# -ge 6 ] || { echo "usage: $0 TAG FIRST LAST DIR POINTS BIN..." >&2; exit 2; }
tag=$1 first=$2 last=$3 dir=$4 points=$5
shift 5
for i in $(seq "$first" "$last"); do
  for bin in "$@"; do
    out=$tag-$bin-$i.txt
    "warren-$bin" bench "${SCENARIO:-body-100}" --metrics 20000 --points "$points" --reuse-dir "$dir" > "$out" 2>&1
    echo "$bin $i $(uptime | sed 's/.*load average: //') ceiling $(grep -E '^broker' "$out" | awk '{print $5}') warren $(grep -E '^warren backlog  ' "$out" | awk '{print $4, $7, $(NF-3)}') $(grep -c FAIL "$out")"
  done
done
