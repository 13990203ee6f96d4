#!/bin/bash
# Live rk-1 at 20 k msg/s on a steady tree, alternating two binaries: CPU per M and publish->durable latency.
for i in 1 2; do
  for b in main new; do
    warren-$b bench rk-1 --metrics 20000 --points 10 --reuse-dir D --no-ceiling --no-backlog --live --rate 20000 > live-$b-$i.txt 2>&1
    echo "live $b $i $(uptime | sed 's/.*load average: //') $(grep -E '^warren live' live-$b-$i.txt | cut -c1-200) $(grep -c FAIL live-$b-$i.txt)"
  done
done
