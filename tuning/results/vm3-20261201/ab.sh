#!/bin/bash
# Alternates two warren binaries (warren-A, warren-B on PATH) on the steady 20k x 100 tree DIR, runs FIRST..LAST,
# each run's output in TAG-<binary>-<i>.txt, one summary line per run: load, the ceiling's points/s, warren's
# points/s, ratio, CPU s, failed verifications.
#   ab.sh main oa oa 1 5 D; ab.sh main oa oa 6 10 D   (ab-oa.log)
#   ab.sh main apart ap 1 8 D                          (the body-100 rows of ab-ap.log)
#   ab.sh main new nw 1 6 D                            (nw-*.txt)
[ $# -eq 6 ] || { echo "usage: $0 A B TAG FIRST LAST DIR" >&2; exit 2; }
a=$1 b=$2 tag=$3 first=$4 last=$5 dir=$6
for i in $(seq "$first" "$last"); do
  for bin in "$a" "$b"; do
    out=$tag-$bin-$i.txt
    "warren-$bin" bench body-100 --metrics 20000 --points 100 --reuse-dir "$dir" > "$out" 2>&1
    echo "$bin $i $(uptime | sed 's/.*load average: //') ceiling $(grep -E '^broker' "$out" | awk '{print $5}') warren $(grep -E '^warren backlog  ' "$out" | awk '{print $4, $7, $(NF-3)}') $(grep -c FAIL "$out")"
  done
done
