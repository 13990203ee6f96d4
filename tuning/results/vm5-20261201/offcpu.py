#!/usr/bin/python3
"""Off-CPU time of the writer thread from `perf script -F time,trace` of a `perf sched record` (wrap-sched.sh):
per state it was switched out in (R preempted, S sleeping, D waiting in the kernel), the switches and the time
until it ran again; waits over 20 ms (idle before the drain) apart.
    perf script -i sched.data -F time,trace | offcpu.py"""
import sys, re, collections
out = None; st = None; agg = collections.defaultdict(lambda: [0, 0.0])
for l in sys.stdin:
    m = re.match(r"\s*([\d.]+):\s+prev_comm=(\S+) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(\S+) next_pid=(\d+)", l)
    if not m:
        continue
    t = float(m.group(1))
    if m.group(2) == "writer":
        out = t; st = m.group(4)
    if m.group(5) == "writer" and out is not None:
        d = t - out; k = st + (" long" if d > 0.02 else ""); agg[k][0] += 1; agg[k][1] += d * 1000; out = None
print(" ".join("%s:%d/%.1fms" % (k, v[0], v[1]) for k, v in sorted(agg.items())))
