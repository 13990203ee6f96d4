#!/usr/bin/python3
"""The drain window of one timeline run: CURVE from results/fastvm-20261201/timeline.sh (WARREN and CURVE set, as
the bench's --warren-bin), BEAM from results/vm3-20261201/beamsamp.py started beside it. Prints the drain's length
(first delivery to the 20,000th ack: body-100 20k x 100), the broker's and the box's cores over that window, then
the curve's rows inside it, times from the first delivery.
    timeline-window.py CURVE BEAM"""
import sys
curve, beam = sys.argv[1], sys.argv[2]
rows = []
for l in open(curve):
    w = l.split(); t = float(w[0]); kv = dict(x.split('=') for x in w[1:]); rows.append((t, {k:int(v) for k,v in kv.items()}))
t0 = next(t for t, m in rows if m['deliv'] > 0)
t1 = next(t for t, m in rows if m['acked'] >= 20000)
b = [tuple(map(float, l.split())) for l in open(beam)]
def at(t):
    return min(b, key=lambda r: abs(r[0]-t))
a, z = at(t0), at(t1)
dt = z[0]-a[0]
print(f"drain {t1-t0:.3f}s broker {(z[1]-a[1])/100/dt:.2f} cores box {(z[2]-a[2])/100/dt:.2f} cores")
for t, m in rows:
    if t0 - 0.03 <= t <= t1 + 0.03:
        print(f"{t-t0:6.3f} deliv={m['deliv']:6d} commit={m['commit']:8d} acked={m['acked']:6d} ops={m['ops']:6d} mapped={m['mapped']}")
