#!/bin/bash
# rk-100 steady, variants alternated: `loop.sh ROUNDS "VARIANT ..."`, one line per repetition (variant, load, then
# the bench's repetition row). `base` is $R/warren-base itself, any other variant the wrapper $R/VARIANT.sh.
#   loop1.log: loop.sh 4 "base samecore nopin nice"     loop2.log: loop.sh 6 "base nopin iofloat"
#   loop3.log: loop.sh 6 "base nopin wfloat"            loop5.log: loop.sh 4 "base idle batch nopin"
for round in $(seq "$1"); do
  for v in $2; do
    case $v in base) B=$R/warren-base;; *) B=$R/$v.sh;; esac
    $R/warren-base bench rk-100 --metrics 20000 --points 100 --reuse-dir /var/tmp/rk100 --reps 2 --warren-bin $B 2>/dev/null \
      | awk -v v=$v -v l="$(cut -d' ' -f1 /proc/loadavg)" '/^[12]\*? /{print v, l, $0}'
  done
done
