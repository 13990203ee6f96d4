#!/bin/bash
# abf.sh TAG "flagsetA|flagsetB|..." scenario-args   (one build; flag sets separated by |, "-" for none)
TAG=$1; IFS='|' read -ra SETS <<< "$2"; shift 2
i=0
for f in "${SETS[@]}"; do
  i=$((i+1)); [ "$f" = "-" ] && f=""
  echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) [$f] $(grep drop_pagecache /proc/vmstat)"
  ${W:-/work/bin/warren-l} bench "$@" $f -q --json /work/r/$TAG-$i.json > /work/r/$TAG-$i.txt 2>&1
  grep -E '^(broker|warren backlog  )|FAIL' /work/r/$TAG-$i.txt | sed 's/  */ /g'
  sleep 10
done
