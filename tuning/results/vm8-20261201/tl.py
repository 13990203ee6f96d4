# Timeline of warren's drain, every 5 ms: per client socket (remote port 5672) rx_queue KB, and for each warren
# thread its state and cumulative CPU ticks. Starts when a `warren cache` process appears; argv[1] out, argv[2] s.
import os, sys, time
out = open(sys.argv[1], 'w'); dur = float(sys.argv[2])
def wpid():
    for p in os.listdir('/proc'):
        if p.isdigit():
            try:
                if open(f'/proc/{p}/comm').read().startswith('warren') and b'cache' in open(f'/proc/{p}/cmdline','rb').read(): return p
            except Exception: pass
t0 = time.time(); p = None
while p is None and time.time() - t0 < 60:
    p = wpid(); time.sleep(0.002)
t0 = time.time()
while time.time() - t0 < dur:
    try:
        socks = []
        for line in open(f'/proc/{p}/net/tcp').readlines()[1:]:
            f = line.split()
            if f[3] == '01' and int(f[2].split(':')[1], 16) == 5672:
                socks.append((int(f[1].split(':')[1], 16), int(f[4].split(':')[1], 16) // 1024))
        th = []
        for t in sorted(os.listdir(f'/proc/{p}/task')):
            s = open(f'/proc/{p}/task/{t}/stat').read()
            name = s[s.index('(')+1:s.rindex(')')]; f = s[s.rindex(')')+2:].split()
            th.append(f"{name}:{f[0]}:{int(f[11])+int(f[12])}:{f[36]}")
    except Exception as e:
        out.write(f"# {e!r}\n"); time.sleep(0.005); continue
    out.write(f"{time.time()-t0:.3f} {sorted(socks)} {' '.join(th)}\n")
    time.sleep(0.005)
