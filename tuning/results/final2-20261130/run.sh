#!/bin/bash
# Final sitting of this session for issue 15 (AMQP rows). Creates that are measured start >= 6 min after the
# last deletion on this journal-less ext4 (tuning/README.md, "Cold creates after a deletion").
# Run 2026-11-30 15:22-15:33 UTC with the build of 27d4c36; b2000-prime is the untimed-for-the-table run that
# creates the tree.
W=${W:-$(pwd)/target/release/warren}   # run from the repository root
mkdir -p /tmp/final2 && cd /tmp/final2
la() { echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; }
la; $W bench body-100 --metrics 20000 --points 2000 --reuse-dir /var/tmp/b2000 -q --json b2000-prime.json > b2000-prime.txt 2>&1; la
sleep 10; la; $W bench body-100 --metrics 20000 --points 2000 --reuse-dir /var/tmp/b2000 -q --json b2000-steady.json > b2000-steady.txt 2>&1; la
sleep 10; la; $W bench rk-1 --metrics 20000 --points 20 --reuse-dir /var/tmp/rk1 -q --json rk1-steady.json > rk1-steady.txt 2>&1; la
sleep "${SETTLE_AFTER_DELETE:-0}"   # this sitting waited until 15:28 UTC, 6 min after its last deletion
la; $W bench body-100 --metrics 20000 --points 100 --peer python-carbon --reuse-dir /var/tmp/pc -q --json pc-cold.json > pc-cold.txt 2>&1; la
sleep 12; la; $W bench body-100 --metrics 20000 --points 100 --peer python-carbon --reuse-dir /var/tmp/pc -q --json pc-steady.json > pc-steady.txt 2>&1; la
sleep 10; la; $W bench body-100 --metrics 20000 --points 2000 --reuse-dir /var/tmp/b2000 -q --json b2000-steady2.json > b2000-steady2.txt 2>&1; la
sleep 10; la; $W bench rk-1 --metrics 20000 --points 20 --reuse-dir /var/tmp/rk1 -q --json rk1-steady2.json > rk1-steady2.txt 2>&1; la
la; $W bench rk-1 --metrics 20000 --points 20 -q --json rk1-cold.json > rk1-cold.txt 2>&1; la
echo done
