#!/bin/bash
"$WREAL" "$@" &
W=$!
perf trace -s -p $W -o $R/ptrace.txt 2>/dev/null &
S=$!
trap 'kill -INT $S; sleep 0.5; kill -TERM $W' TERM
wait $W
