import time, sys, os
pid = sys.argv[2]; out = open(sys.argv[1], "w"); end = time.time() + float(sys.argv[3])
hz = os.sysconf("SC_CLK_TCK")
while time.time() < end:
    with open("/proc/%s/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    with open("/proc/stat") as f:
        c = list(map(int, f.readline().split()[1:8]))
    out.write("%.3f %d %d\n" % (time.time(), int(v[11]) + int(v[12]), sum(c) - c[3] - c[4]))
    time.sleep(0.01)
