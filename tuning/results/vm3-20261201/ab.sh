#!/bin/bash
# Alternates two warren binaries (warren-A, warren-B on PATH) on the steady 20k x 100 tree DIR, runs FIRST..LAST,
# each run's output in TAG-<binary>-<i>.txt, one summary line per run: load, the ceiling's points/s, warren's
# points/s, ratio, CPU s, failed verifications.
#   ab.sh main oa oa 1 5 D; ab.sh main oa oa 6 10 D   (ab-oa.log)
#   ab.sh main apart ap 1 8 D                          (the body-100 rows of ab-ap.log)
#   ab.sh main new nw 1 6 D                            (nw-*.txt)
[ $# -eq 6 ] || { echo "usage: $0 A B TAG FIRST LAST DIR" >&2; exit 2; }
# The loop itself is now tuning/ab.sh (the same runs, files and summary lines).
exec "$(dirname "$0")/../../ab.sh" "$3" "$4" "$5" "$6" 100 "$1" "$2"
