#!/bin/bash
# A/B: base vs mmap. Usage: ab.sh TAG scenario-args...   (alternates base, mmap, mmap, base unless ORDER set)
W=${DRIVER:-target/release/warren}
TAG=$1; shift
ORDER=${ORDER:-"base mmap mmap base"}
cd ${OUT:-.}
i=0
for b in $ORDER; do
  i=$((i+1))
  echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg) $b"
  $W bench "$@" -q --warren-bin ${BIN_DIR:?}/warren-$b --json $TAG-$i-$b.json > $TAG-$i-$b.txt 2>&1
  grep -E '^(broker|warren backlog  )|PASS|FAIL' $TAG-$i-$b.txt | sed 's/  */ /g'
  sleep 10
done
