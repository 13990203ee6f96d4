#!/bin/bash
cd /work/r
/work/bin/warren-rl2 bench rk-1 --metrics 20000 --points 100 --reuse-dir /var/tmp/rk100 --no-ceiling -q > rk100-prime.txt 2>&1
sleep 10
../linger-20261130/ab.sh rk100 "rl2 base" rk-1 --metrics 20000 --points 100 --reuse-dir /var/tmp/rk100
