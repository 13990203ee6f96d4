#!/bin/bash
# Alternates main and apart (workers off the writer's core) on rk-1 20k x 10 and body-100 20k x 500, steady trees.
for i in 1 2 3 4 5 6; do
  for b in main apart; do
    warren-$b bench rk-1 --metrics 20000 --points 10 --reuse-dir /var/tmp/rk2 > ap-rk-$b-$i.txt 2>&1
    echo "rk1 $b $i $(uptime | sed 's/.*load average: //') ceiling $(grep -E '^broker' ap-rk-$b-$i.txt | awk '{print $5}') warren $(grep -E '^warren backlog  ' ap-rk-$b-$i.txt | awk '{print $4, $7, $(NF-3), $(NF-2)}') $(grep -c FAIL ap-rk-$b-$i.txt)"
  done
done
for i in 1 2 3 4; do
  for b in main apart; do
    warren-$b bench body-100 --metrics 20000 --points 500 --reuse-dir /var/tmp/b500 > ap-b500-$b-$i.txt 2>&1
    echo "b500 $b $i $(uptime | sed 's/.*load average: //') ceiling $(grep -E '^broker' ap-b500-$b-$i.txt | awk '{print $5}') warren $(grep -E '^warren backlog  ' ap-b500-$b-$i.txt | awk '{print $4, $7, $(NF-3), $(NF-2)}') $(grep -c FAIL ap-b500-$b-$i.txt)"
  done
done
