#!/bin/bash
# Per-thread CPU seconds from a threads.sh log: each thread's last sample; threads of the same kind summed
# (amqp-0 and amqp-1 -> amqp-*). Optional $2: divide by this many million (points or messages) for CPU s/M.
awk -v per="${2:-0}" '
  NF == 4 { last[$1] = $2; u[$1] = $3; s[$1] = $4 }
  END {
    for (t in last) { k = last[t]; sub(/-[0-9]+$/, "-*", k); cu[k] += u[t]; cs[k] += s[t]; tot += u[t] + s[t] }
    for (k in cu) {
      x = ""; if (per > 0) x = sprintf("  %.2f s/M", (cu[k] + cs[k]) / 100 / per)
      printf "%-18s user %7.2f s  sys %7.2f s  %5.1f %%%s\n", k, cu[k] / 100, cs[k] / 100, 100 * (cu[k] + cs[k]) / tot, x
    }
    x = ""; if (per > 0) x = sprintf("  %.2f s/M", tot / 100 / per)
    printf "%-18s %.2f s%s\n", "total", tot / 100, x
  }' "$1" | sort -k1,1
