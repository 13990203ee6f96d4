# beamsamp.py OUT BROKER_PID SECONDS: every 10 ms, the time, the broker process's utime+stime and the box's busy
# time (all CPUs, /proc/stat minus idle and iowait), both in clock ticks (USER_HZ, 100 per second here).
import time, sys
pid = sys.argv[2]; out = open(sys.argv[1], "w"); end = time.time() + float(sys.argv[3])
while time.time() < end:
    with open("/proc/%s/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    with open("/proc/stat") as f:
        c = list(map(int, f.readline().split()[1:8]))
    out.write("%.3f %d %d\n" % (time.time(), int(v[11]) + int(v[12]), sum(c) - c[3] - c[4]))
    time.sleep(0.01)
