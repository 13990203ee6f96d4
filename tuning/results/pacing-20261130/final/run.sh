#!/bin/bash
# Final sitting for issue 15, commit 5684495.
W=/work/bin/warren-final
cd /work/res/final
la() { echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; }
la; $W bench body-100 --metrics 20000 --points 2000 --reuse-dir /var/tmp/b2000 -q --json b2000-steady.json > b2000-steady.txt 2>&1; la
sleep 10; la; $W bench rk-1 --metrics 20000 --points 20 --reuse-dir /var/tmp/rk1 -q --json rk1-steady.json > rk1-steady.txt 2>&1; la
la; $W bench rk-1 --metrics 20000 --points 20 -q --json rk1-cold.json > rk1-cold.txt 2>&1; la
rm -rf /var/tmp/pc; la; $W bench body-100 --metrics 20000 --points 100 --peer python-carbon --reuse-dir /var/tmp/pc -q --json pc-cold.json > pc-cold.txt 2>&1; la
sleep 12; la; $W bench body-100 --metrics 20000 --points 100 --peer python-carbon --reuse-dir /var/tmp/pc -q --json pc-steady.json > pc-steady.txt 2>&1; la
rm -rf /var/tmp/gc; mkdir -p /var/tmp/gc; la; GO_CARBON=$GO_CARBON $W bench plaintext --peer go-carbon --metrics 20000 --points 100 --settle-secs 3 --dir /var/tmp/gc --json plaintext.json > plaintext.txt 2>&1; la
la; GO_CARBON=$GO_CARBON $W bench pickle --peer go-carbon --metrics 20000 --points 100 --settle-secs 3 --dir /var/tmp/gc --json pickle.json > pickle.txt 2>&1; la
echo done
