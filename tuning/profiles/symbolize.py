#!/usr/bin/python3
"""Fill in the frames `perf script` leaves as `[unknown] (BINARY)` from BINARY's symbol table.

Debian's perf 6.1 cannot read the symbol table of an lld-linked Rust binary ("cannot get elf header"), but its
DWARF unwinding works and it prints the binary's addresses; `nm` reads the table. Usage:

    perf script -i x.data | tuning/profiles/symbolize.py BINARY | inferno-collapse-perf --all | inferno-flamegraph
"""
import bisect, re, subprocess, sys

binary = sys.argv[1]
syms = []
for line in subprocess.run(["nm", "-C", "--defined-only", binary], capture_output=True, text=True).stdout.splitlines():
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[1] in "tTwW":
        syms.append((int(parts[0], 16), parts[2]))
syms.sort()
# perf prints file offsets; lld's segments put virtual addresses at an offset from them.
loads = []
for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    if f and f[0] == "LOAD":
        loads.append((int(f[1], 16), int(f[4], 16), int(f[2], 16)))  # offset, filesz, vaddr


def vaddr(off):
    for o, size, v in loads:
        if o <= off < o + size:
            return off - o + v
    return off


addrs = [a for a, _ in syms]
frame = re.compile(r"^(\s+)([0-9a-f]+) \[unknown\] \((\S+)\)$")
for line in sys.stdin:
    m = frame.match(line)
    if m and m.group(3).endswith(binary.rsplit("/", 1)[-1]):
        ip = vaddr(int(m.group(2), 16))
        i = bisect.bisect_right(addrs, ip) - 1
        if i >= 0:
            # Generic parameters and hashes make frames long without saying more.
            name = re.sub(r"::h[0-9a-f]{16}$", "", syms[i][1])
            line = f"{m.group(1)}{m.group(2)} {name}+0x{ip - addrs[i]:x} ({m.group(3)})\n"
    sys.stdout.write(line)
