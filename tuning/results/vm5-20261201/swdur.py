#!/usr/bin/python3
# perf script of system-wide sched_switch with call chains: for each switch-out of THREAD, its state, a short
# signature of where it blocked, and how long until it ran again; totals per (state, signature).
import sys, re, collections
thread = sys.argv[2] if len(sys.argv) > 2 else "writer"
agg = collections.defaultdict(lambda: [0, 0.0]); pending = None; cur = None; frames = []
def sig(fr):
    user = [f for f in fr if "kernel.kallsyms" not in f]
    kern = [f for f in fr if "kernel.kallsyms" in f and "schedule" not in f]
    name = lambda f: re.sub(r"\+0x[0-9a-f]+", "", f.split(None, 1)[1].rsplit(" (", 1)[0])
    return (name(kern[0]) if kern else "-") + " | " + " < ".join(name(f) for f in user[:3])
def close():
    global pending
    if cur is None: return
    t, out_thread, st, in_thread = cur
    if out_thread == thread:
        pending = (t, st, sig(frames))
    if in_thread == thread and pending is not None:
        t0, st0, s0 = pending
        k = (st0, s0); agg[k][0] += 1; agg[k][1] += (t - t0) * 1000; pending = None
for line in open(sys.argv[1]):
    m = re.search(r"\s([\d.]+): sched:sched_switch: prev_comm=(\S+) .*prev_state=(\S+) ==> next_comm=(\S+)", line)
    if m:
        close(); frames = []
        cur = (float(m.group(1)), m.group(2), m.group(3), m.group(4))
        continue
    if line.strip(): frames.append(line.strip())
close()
tot = sum(v[1] for v in agg.values())
print(f"total off-cpu {tot:.1f} ms")
for (st, s), (n, ms) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:18]:
    print(f"{ms:8.1f} ms {n:5d} {st:3s} {s[:200]}")
