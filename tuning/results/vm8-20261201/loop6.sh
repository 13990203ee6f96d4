#!/bin/bash
for round in 1 2 3 4; do
  for v in new nopin-new; do
    case $v in new) B=$R/warren-new;; *) B=$R/$v.sh;; esac
    for sc in "rk-100 --metrics 20000 --points 100 --reuse-dir /var/tmp/rk100 --reps 2" "body-100 --metrics 20000 --points 100 --reuse-dir /var/tmp/b100 --reps 2" "rk-1 --metrics 20000 --points 10 --reuse-dir /var/tmp/rk1b --reps 1"; do
      name=$(echo $sc | cut -d' ' -f1)
      $R/warren-new bench $sc --warren-bin $B 2>/dev/null > /tmp/one.txt
      l="$(cut -d' ' -f1 /proc/loadavg)"
      if grep -q '^1\*\? ' /tmp/one.txt; then awk -v v=$v-$name -v l=$l '/^[12]\*? /{print v, l, $0}' /tmp/one.txt
      else awk -v v=$v-$name -v l=$l '/^broker ceiling/{c=$4; bc=""} /^warren backlog/{w=$3; cpu=$9} /^broker CPU over/{print v, l, "1", c, w, w/c, cpu, $8, "/", $11, "PASS"}' /tmp/one.txt; fi
    done
  done
done
