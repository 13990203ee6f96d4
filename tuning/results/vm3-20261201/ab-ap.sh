#!/bin/bash
# Alternates two warren binaries on the steady 20k x 100 tree.
for i in 1 2 3 4 5 6 7 8; do
  for b in main apart; do
    warren-$b bench body-100 --metrics 20000 --points 100 --reuse-dir D > ap-$b-$i.txt 2>&1
    echo "$b $i $(uptime | sed 's/.*load average: //') ceiling $(grep -E '^broker' ap-$b-$i.txt | awk '{print $5}') warren $(grep -E '^warren backlog  ' ap-$b-$i.txt | awk '{print $4, $7, $(NF-3)}') $(grep -c FAIL ap-$b-$i.txt)"
  done
done
