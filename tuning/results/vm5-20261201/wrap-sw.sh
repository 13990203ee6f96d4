#!/bin/bash
exec perf record -q -e sched:sched_switch --call-graph dwarf,8192 -o ${PDATA:-/tmp/sw.data} -- ${WBIN:?set WBIN to the warren binary under test} "$@"
