#!/bin/sh
# Render perf.data into a folded stack file and an SVG flamegraph (inferno: `cargo install inferno`).
#   tuning/profiles/render.sh X.data BINARY NAME "title"   ->  NAME.folded, NAME.svg (in the current directory)
set -eu
here=$(dirname "$0")
perf script -i "$1" 2>/dev/null | "$here/symbolize.py" "$2" | inferno-collapse-perf --all > "$3.folded"
inferno-flamegraph --title "$4" --width 1600 < "$3.folded" > "$3.svg"
# Share of samples per thread, and the hottest leaf frames.
awk '{n=$NF; split($1,a,";"); t[a[1]]+=n; s+=n} END{for(k in t) printf "thread %-14s %5.1f%%\n", k, 100*t[k]/s}' "$3.folded" | sort -k3 -nr
