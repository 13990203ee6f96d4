#!/bin/bash
# Who takes the CPU from warren's threads during one steady body-100 drain (20k x 100 points, primed in $DIR):
# system-wide sched_switch events for 1.2 s from warren's start, counted per (thread, state it left in, next).
#   sudo WARREN=path/to/warren DIR=/var/tmp/b100 switches.sh
set -euo pipefail
"$WARREN" bench body-100 --metrics 20000 --points 100 --reuse-dir "$DIR" --no-ceiling -q > run.txt 2>&1 &
for _ in $(seq 1 400); do pgrep -f "$WARREN cache" >/dev/null && break; sleep 0.01; done
perf record -q -a -e sched:sched_switch -o switches.data -- sleep 1.2 2>/dev/null
wait
grep "warren backlog  " run.txt
perf script -i switches.data -F event,trace | grep -oE "prev_comm=(writer|amqp-[0-9]|amiquip-io) .*" |
  sed -E 's/prev_comm=([^ ]+) .*prev_state=([A-Z+]+) ==> next_comm=([^ ]+).*/\1 \2 -> \3/' | sort | uniq -c | sort -rn | head
