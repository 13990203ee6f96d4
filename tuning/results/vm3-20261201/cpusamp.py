import time, sys
out = open(sys.argv[1], "w")
end = time.time() + float(sys.argv[2])
prev = None
while time.time() < end:
    with open("/proc/stat") as f:
        v = list(map(int, f.readline().split()[1:8]))
    t = time.time()
    if prev:
        d = [a - b for a, b in zip(v, prev)]
        tot = sum(d) or 1
        out.write("%.3f busy=%.2f idle=%.2f\n" % (t, 2 * (tot - d[3] - d[4]) / tot, 2 * (d[3] + d[4]) / tot))
    prev = v
    time.sleep(0.02)
