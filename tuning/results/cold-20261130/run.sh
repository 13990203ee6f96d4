#!/bin/bash
# Cold/steady vs go-carbon on a settled filesystem: the last deletion about 5 minutes before, none between the runs.
# Measured 2026-11-30 14:45-14:50 UTC with the build of this commit (only the harness changed since e557652).
# after-delete-sp-*.txt: the sparse pairing run six times in a row, each after deleting the previous trees
# (14:30-14:35 UTC, e557652), with and without --peer-first.
W=${W:-$(pwd)/target/release/warren}   # run from the repository root
export GO_CARBON=${GO_CARBON:?set GO_CARBON to a go-carbon 0.19.1 binary}
cd "$(dirname "$0")"
la() { echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; }
mkdir -p /var/tmp/c2
la; $W bench plaintext --peer go-carbon --metrics 20000 --points 100 --settle-secs 3 --dir /var/tmp/c2 --keep-data --json plaintext.json > plaintext.txt 2>&1; la
la; $W bench pickle --peer go-carbon --metrics 20000 --points 100 --settle-secs 3 --dir /var/tmp/c2 --keep-data --json pickle.json > pickle.txt 2>&1; la
la; $W bench plaintext --peer go-carbon --peer-first --metrics 20000 --points 100 --settle-secs 3 --dir /var/tmp/c2 --keep-data --json plaintext-peer-first.json > plaintext-peer-first.txt 2>&1; la
echo done
