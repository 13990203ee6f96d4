#!/bin/bash
# Alternates two warren binaries on the steady 20k x 100 tree.
for i in 1 2 3 4 5; do   # (run twice: 1-5, then 6-10)
  for b in main oa; do
    warren-$b bench body-100 --metrics 20000 --points 100 --reuse-dir /var/tmp/pc > oa-$b-$i.txt 2>&1
    echo "$b $i $(uptime | sed 's/.*load average: //') ceiling $(grep -E '^broker' oa-$b-$i.txt | awk '{print $5}') warren $(grep -E '^warren backlog  ' oa-$b-$i.txt | awk '{print $4, $7, $(NF-3)}') $(grep -c FAIL oa-$b-$i.txt)"
  done
done
