#!/bin/bash
# Run one `warren bench` on a freshly made ext4 filesystem, then remove it: cold creates compared on a filesystem
# in the same state for every run (see tuning/README.md "A fresh filesystem for cold creates").
#
#   sudo tuning/fresh-ext4.sh target/release/warren plaintext --peer go-carbon --metrics 20000 --points 100
#
# The filesystem is a sparse image file (IMAGE, default /var/tmp/warren-bench-ext4.img, SIZE default 40G) made
# with mkfs.ext4's defaults (a journal), attached to a loop device with direct I/O (no second page cache under
# it) and mounted at MOUNT (default /var/tmp/warren-bench-ext4); the bench's trees go in MOUNT/d. Needs root
# (losetup, mount). For the peer, set GO_CARBON as for any bench.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 WARREN SCENARIO [bench args...]" >&2; exit 2; }
image=${IMAGE:-/var/tmp/warren-bench-ext4.img}
mnt=${MOUNT:-/var/tmp/warren-bench-ext4}
dev=""
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  [ -n "$dev" ] && losetup -d "$dev"
  rm -f "$image"
  rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
rm -f "$image"
truncate -s "${SIZE:-40G}" "$image"
mkfs.ext4 -q -F "$image"
dev=$(losetup --direct-io=on -f --show "$image")
mkdir -p "$mnt"
mount "$dev" "$mnt"
warren=$1
shift
"$warren" bench "$@" --dir "$mnt/d"
