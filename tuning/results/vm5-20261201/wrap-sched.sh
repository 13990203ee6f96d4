#!/bin/bash
exec perf sched record -q -o ${PDATA:-/tmp/sched.data} -- ${WBIN:?set WBIN to the warren binary under test} "$@"
