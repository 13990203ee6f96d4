#!/bin/bash
exec perf record -q -a -e sched:sched_switch --call-graph dwarf,4096 -o ${PDATA:-/tmp/swa.data} -- ${WBIN:?set WBIN to the warren binary under test} "$@"
