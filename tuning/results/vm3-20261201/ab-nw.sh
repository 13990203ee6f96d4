#!/bin/bash
# Alternates two warren binaries on the steady 20k x 100 tree.
for i in 1 2 3 4 5 6; do
  for b in main new; do
    warren-$b bench body-100 --metrics 20000 --points 100 --reuse-dir D > nw-$b-$i.txt 2>&1
    echo "$b $i $(uptime | sed 's/.*load average: //') ceiling $(grep -E '^broker' nw-$b-$i.txt | awk '{print $5}') warren $(grep -E '^warren backlog  ' nw-$b-$i.txt | awk '{print $4, $7, $(NF-3)}') $(grep -c FAIL nw-$b-$i.txt)"
  done
done
