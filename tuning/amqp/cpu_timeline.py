#!/usr/bin/python3
"""CPU timeline of a `warren bench` run: every 0.5 s, the loopback traffic (MB received on `lo`), warren cache's
CPU (all threads, % of one core), the state and clock ticks of its writer, AMQP workers and amiquip I/O threads,
and the broker's (beam.smp) CPU. Shows who waits for whom: e.g. warren idle, no traffic and the broker at 100 %.
    tuning/amqp/cpu_timeline.py SECONDS > timeline.txt &   # then start the bench
"""
import os
import sys
import time

WATCHED = ("writer", "amqp-0", "amqp-1", "amiquip-io")


def pids(kind):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            cmd = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if kind == "warren" and cmd[0].endswith(b"warren") and b"cache" in cmd:
            out.append(p)
        elif kind == "beam" and b"beam.smp" in cmd[0]:
            out.append(p)
    return out


def threads(pid):
    r = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            s = open(f"/proc/{pid}/task/{t}/stat").read()
        except OSError:
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        r[t] = (name, f[0], int(f[11]) + int(f[12]))
    return r


def main():
    hz = os.sysconf("SC_CLK_TCK")
    end = time.time() + float(sys.argv[1])
    prev = {}
    while time.time() < end:
        lo = [line for line in open("/proc/net/dev") if "lo:" in line][0].split()
        rx = int(lo[1])
        line = [time.strftime("%T"), "lo=%dMB" % ((rx - prev.get("rx", rx)) // 1000000)]
        prev["rx"] = rx
        for label, ps in (("warren", pids("warren")), ("broker", pids("beam"))):
            total, states = 0, []
            for p in ps:
                try:
                    ths = threads(p)
                except OSError:
                    continue
                for t, (name, state, ticks) in ths.items():
                    d = ticks - prev.get((p, t), ticks)
                    prev[(p, t)] = ticks
                    total += d
                    if label == "warren" and name in WATCHED:
                        states.append(f"{name}:{state}:{d}")
            line.append(f"{label}={100 * total / hz / 0.5:.0f}%")
            line += states
        print(" ".join(line), flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
