#!/bin/bash
# alternate variants on rk-100 steady; one line per rep
for round in 1 2 3 4; do
  for v in base samecore nopin nice; do
    case $v in base) B=$R/warren-base;; *) B=$R/$v.sh;; esac
    $R/warren-base bench rk-100 --metrics 20000 --points 100 --reuse-dir /var/tmp/rk100 --reps 2 --warren-bin $B 2>/dev/null \
      | awk -v v=$v -v l="$(cut -d' ' -f1 /proc/loadavg)" '/^[12]\*? /{print v, l, $0}'
  done
done
