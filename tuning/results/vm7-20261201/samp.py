# Sample the CPU ticks (utime + stime, 10 ms) of the broker (argv[1]: beam.smp pid) and of the running `warren cache` every 20 ms for argv[3] s into argv[2]: seconds, broker ticks, warren ticks.
import os, sys, time
bp = int(sys.argv[1]); out = open(sys.argv[2], 'w'); dur = float(sys.argv[3])
def ticks(pid):
    try:
        s = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
        return int(s[11]) + int(s[12])
    except Exception: return -1
def wpid():
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                if open(f'/proc/{p}/comm').read().strip() == 'warren' and b'cache' in open(f'/proc/{p}/cmdline','rb').read(): return int(p)
            except Exception: pass
    return None
t0 = time.time(); wp = None
while time.time() - t0 < dur:
    if wp is None or ticks(wp) < 0: wp = wpid()
    out.write(f"{time.time()-t0:.3f} {ticks(bp)} {ticks(wp) if wp else -1}\n")
    time.sleep(0.02)
