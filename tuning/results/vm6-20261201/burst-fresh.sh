#!/bin/bash
# WARREN=BIN burst-fresh.sh CREATORS MODE (CREATORS d: the default): one cold plaintext burst on a fresh ext4 (same recipe as tuning/fresh-ext4.sh).
set -euo pipefail
img=/var/tmp/bf.img; mnt=/var/tmp/bf
rm -f $img; truncate -s 40G $img; mkfs.ext4 -q -F $img; mkdir -p $mnt
dev=$(losetup --direct-io=on -f --show $img); mount $dev $mnt
c=""; [ "$1" != "d" ] && c="--creators $1"
/usr/bin/python3 "$(dirname "$0")"/../../profiles/plaintext_burst.py --warren ${WARREN:?set WARREN to the binary} --create-mode $2 $c --dir $mnt --keep 2>&1 | grep '^{'
umount $mnt; losetup -d $dev; rm -f $img
