"""The reference's side of bench/whisper.rs: python whisper's update_many on the same workload.

1000 files 10s:6h,1m:7d in a temporary directory; each round writes 100 consecutive 10 s points into every file
(the next 1000 s of each), as warren's criterion bench does; prints points/s per round and the median. Also times
create (zero-filled and fallocate) for comparison with `cargo bench --bench whisper`.
Run with the system interpreter that has the module: /usr/bin/python3 tuning/whisper_ref_bench.py [rounds]
"""
import statistics
import sys
import tempfile
import time
import os

import whisper

FILES = 1000
POINTS = 100
STEP = 10
START = 1700000000
ARCHIVES = [(10, 2160), (60, 10080)]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as tmp:
        for mode, kwargs in (("zero", {}), ("fallocate", {"useFallocate": True})):
            paths = [os.path.join(tmp, "%s%d.wsp" % (mode, i)) for i in range(200)]
            t0 = time.perf_counter()
            for p in paths:
                whisper.create(p, ARCHIVES, **kwargs)
            elapsed = time.perf_counter() - t0
            slots = sum(n for _, n in ARCHIVES)
            print("create %-9s %8.0f files/s  %12.0f points/s" % (mode, len(paths) / elapsed,
                                                                 len(paths) * slots / elapsed))
            for p in paths:
                os.unlink(p)

        paths = [os.path.join(tmp, "m%d.wsp" % i) for i in range(FILES)]
        for p in paths:
            whisper.create(p, ARCHIVES, useFallocate=True)
        rates = []
        for r in range(rounds):
            first = START + r * POINTS * STEP
            batch = [(first + i * STEP, float(i)) for i in range(POINTS)]
            now = first + POINTS * STEP
            t0 = time.perf_counter()
            for p in paths:
                whisper.update_many(p, batch, now=now)
            elapsed = time.perf_counter() - t0
            rates.append(FILES * POINTS / elapsed)
            print("update_many round %d: %10.0f points/s" % (r, rates[-1]))
        print("update_many median: %10.0f points/s (%d files x %d consecutive points, %d rounds)"
              % (statistics.median(rates), FILES, POINTS, rounds))


if __name__ == "__main__":
    main()
