#!/bin/bash
# ab.sh TAG "bin1 bin2 ..." scenario-args   (each binary is its own driver)
TAG=$1; BINS=$2; shift 2
i=0
for b in $BINS; do
  i=$((i+1))
  echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $b"
  /work/bin/warren-$b bench "$@" -q --json /work/r/$TAG-$i-$b.json > /work/r/$TAG-$i-$b.txt 2>&1
  grep -E '^(broker|warren backlog  )|FAIL' /work/r/$TAG-$i-$b.txt | sed 's/  */ /g'
  sleep 10
done
