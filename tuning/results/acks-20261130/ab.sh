#!/bin/bash
# alternate old/new body-100 steady 20k x 500
cd /work/main
for r in 1 2; do for v in new old; do
  echo "== $v run $r $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  timeout 900 /tmp/warren-new bench body-100 --metrics 20000 --points 500 --reuse-dir /var/tmp/b500 -q --warren-bin /tmp/warren-$( [ $v = new ] && echo new || echo nosingle ) --json /work/sit/ab-$v-$r.json 2>&1 | grep -E "ceiling|backlog  |verification"
done; done
echo "== end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
