#!/bin/bash
"$WREAL" "$@" &
W=$!
perf stat -e syscalls:sys_enter_mprotect,page-faults,syscalls:sys_enter_madvise,syscalls:sys_enter_munmap -p $W -o $R/pstat.txt --append 2>/dev/null &
S=$!
trap 'kill -INT $S; sleep 0.3; kill -TERM $W' TERM
wait $W
