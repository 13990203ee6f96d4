#!/usr/bin/python3
# Categorise one thread's switch-outs from `perf script` of sched_switch with call chains: the innermost
# frames that name where it blocked, counted.
import sys, collections, re
thread = sys.argv[2] if len(sys.argv) > 2 else "writer"
c = collections.Counter(); cur = None; frames = []
def flush():
    if cur is None: return
    st = cur
    # skip kernel frames and libc frames to find first user function; keep a short signature
    user = [f for f in frames if "kernel.kallsyms" not in f]
    sig = " < ".join(re.sub(r"\+0x[0-9a-f]+", "", f.split(None,1)[1].rsplit(" (",1)[0]) for f in user[:4])
    c[(st, sig)] += 1
for line in open(sys.argv[1]):
    if "sched:sched_switch" in line:
        flush(); frames = []
        cur = None
        if line.split()[0] == thread:
            m = re.search(r"prev_state=(\S+)", line); cur = m.group(1)
        continue
    if cur is not None and line.strip():
        frames.append(line.strip())
flush()
tot = sum(c.values())
print("total", tot)
for (st, sig), n in c.most_common(25):
    print(f"{n:5d} {st:3s} {sig[:230]}")
