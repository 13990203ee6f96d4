#!/bin/bash
cd /work/r
W=/work/bin/warren-rl2
echo "prime $(date -u +%T)" >> chain.log
$W bench body-100 --metrics 20000 --points 2000 --reuse-dir /var/tmp/b2000 --no-ceiling -q > c-prime.txt 2>&1
sleep 10
W=$W ../linger-20261130/abf.sh c-b2k "-|-" body-100 --metrics 20000 --points 2000 --reuse-dir /var/tmp/b2000 >> chain.log 2>&1
bash /work/main/tuning/python-carbon/setup.sh > c-pcsetup.txt 2>&1
echo "pc $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> chain.log
$W bench body-100 --metrics 20000 --points 100 --peer python-carbon --reuse-dir /var/tmp/bpc -q --json c-pc1.json > c-pc1.txt 2>&1
sleep 10
echo "pc2 $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >> chain.log
$W bench body-100 --metrics 20000 --points 100 --peer python-carbon --reuse-dir /var/tmp/bpc -q --json c-pc2.json > c-pc2.txt 2>&1
echo "done $(date -u +%T)" >> chain.log
