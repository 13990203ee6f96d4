#!/bin/bash
# ctx.sh: while a bench runs, print each warren-cache thread's voluntary/involuntary context switches at the end
pid=""; for i in $(seq 1 200); do pid=$(pgrep -f "warren.* cache" | head -1); [ -n "$pid" ] && break; sleep 0.1; done
echo "pid $pid"
last=""
while kill -0 $pid 2>/dev/null; do
  out=$(for t in /proc/$pid/task/*; do echo "$(cat $t/comm 2>/dev/null) $(grep -E '^(voluntary|nonvoluntary)_ctxt' $t/status 2>/dev/null | awk '{printf "%s ", $2}')"; done)
  [ -n "$out" ] && last="$out"
  sleep 0.2
done
echo "$last"
