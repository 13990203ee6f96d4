#!/bin/bash
# Run warren (the binary in $WARREN_REAL) in place of `--warren-bin`, appending the CPU time of each of its threads
# (tid, name, utime, stime from /proc/PID/task/*/stat, in 10 ms ticks) every 200 ms to $THREADS_OUT.
# `threads_sum.sh FILE` takes each thread's last value (threads that ended early keep theirs).
#   WARREN_REAL=target/release/warren THREADS_OUT=/tmp/t.txt warren bench rk-1 ... --warren-bin tuning/amqp/threads.sh
pid=$$
: > "$THREADS_OUT"
(
  while kill -0 "$pid" 2>/dev/null; do
    for t in /proc/"$pid"/task/*; do
      s=$(cat "$t/stat" 2>/dev/null) || continue
      c=$(cat "$t/comm" 2>/dev/null)
      rest=${s##*) }
      set -- $rest
      echo "${t##*/} $c ${12} ${13}"
    done >> "$THREADS_OUT"
    sleep 0.2
  done
) &
exec "$WARREN_REAL" "$@"
