#!/bin/sh
exec perf record -q -e cpu-clock -F 999 --call-graph dwarf,16384 -o ${PDATA:-/tmp/prof.data} -- ${WBIN:?set WBIN} "$@"
