#!/bin/bash
# abl.sh TAG "bin1 bin2 ..." scenario-args: live runs, latency rows
TAG=$1; BINS=$2; shift 2
i=0
for b in $BINS; do
  i=$((i+1))
  echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $b"
  /work/bin/warren-$b bench "$@" -q --json /work/r/$TAG-$i-$b.json > /work/r/$TAG-$i-$b.txt 2>&1
  grep -E '^(warren live|warren backlog  )|latency|FAIL' /work/r/$TAG-$i-$b.txt | sed 's/  */ /g'
  sleep 10
done
