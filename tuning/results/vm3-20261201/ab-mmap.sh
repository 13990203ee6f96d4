#!/bin/bash
# Alternates warren's default (mmap) and --no-mmap on the steady 20k x 100 tree.
for i in 1 2 3 4 5; do
  for m in mmap nommap; do
    flag=""; [ $m = nommap ] && flag="--no-mmap"
    warren bench body-100 --metrics 20000 --points 100 --reuse-dir /var/tmp/pc $flag > ab-$m-$i.txt 2>&1
    echo "$m $i $(uptime | sed 's/.*load average: //') $(grep -E '^(broker|warren backlog  )' ab-$m-$i.txt | awk '{print $4, $7, $(NF-4)}' | tr '\n' ' ')"
  done
done
