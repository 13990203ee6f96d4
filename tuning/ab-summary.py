#!/usr/bin/python3
"""Per binary, over every run line of the ab.sh logs given: runs, then median and mean of the ceiling's points/s,
warren's points/s, the ratio to the ceiling and warren's CPU s.
    tuning/ab-summary.py LOG..."""
import collections, statistics, sys

runs = collections.defaultdict(lambda: collections.defaultdict(list))
for path in sys.argv[1:]:
    for line in open(path):
        w = line.split()
        # BIN i load1, load5, load15 ceiling C warren P RATIO CPU FAILS
        if len(w) < 12 or w[5] != "ceiling" or w[7] != "warren":
            continue
        for key, at in (("ceiling", 6), ("points/s", 8), ("ratio", 9), ("cpu_s", 10)):
            runs[w[0]][key].append(float(w[at]))
for binary, m in runs.items():
    cols = "  ".join(f"{k} {statistics.median(v):.3g} / {statistics.mean(v):.3g}" for k, v in m.items())
    print(f"{binary:<6} {len(m['ratio']):>3} runs  (median / mean)  {cols}")
