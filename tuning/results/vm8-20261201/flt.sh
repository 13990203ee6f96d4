#!/bin/bash
"$WREAL" "$@" &
W=$!
trap 'set -- $(sed "s/.*) //" /proc/$W/stat); echo "minflt ${8} majflt ${10} utime ${12} stime ${13}" >> $R/flt.txt; kill -TERM $W' TERM
wait $W
wait $W
