#!/bin/bash
for round in 1 2 3; do
  for v in base wfloat; do
    case $v in base) B=$R/warren-base;; *) B=$R/$v.sh;; esac
    $R/warren-base bench rk-1 --metrics 20000 --points 20 --reuse-dir /var/tmp/rk1 --reps 2 --warren-bin $B 2>/dev/null \
      | awk -v v=$v-rk1 -v l="$(cut -d' ' -f1 /proc/loadavg)" '/^[12]\*? /{print v, l, $0}'
    $R/warren-base bench body-100 --metrics 20000 --points 100 --reuse-dir /var/tmp/b100 --reps 2 --warren-bin $B 2>/dev/null \
      | awk -v v=$v-b100 -v l="$(cut -d' ' -f1 /proc/loadavg)" '/^[12]\*? /{print v, l, $0}'
  done
done
