#!/usr/bin/python3
"""Share of all samples in a folded file per thread, and per (thread, innermost warren frame, syscall).
    tuning/profiles/breakdown.py NAME.folded [TOP]"""
import collections, re, sys

top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
total, by = 0, collections.Counter()
for line in open(sys.argv[1]):
    stack, n = line.rsplit(" ", 1)
    n = int(n)
    total += n
    frames = stack.split(";")
    ours = [f for f in frames if f.startswith("warren::") or f.startswith("<warren::")]
    inner = re.sub(r"\+0x[0-9a-f]+$", "", ours[-1]) if ours else "-"
    sys_ = next((f for f in frames if f.startswith("__x64_sys_") or f.startswith("__do_sys_")), "")
    by[(frames[0], inner[:90], sys_.replace("_[k]", ""))] += n
for (t, f, s), n in by.most_common(top):
    print(f"{100 * n / total:5.1f}%  {t:<12} {f:<90} {s}")
