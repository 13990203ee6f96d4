# Every 5 ms for argv[2] s: time, sum of tx_queue of sockets whose local port is 5672 (broker's unsent bytes
# to consumers/publishers), sum of rx_queue of sockets whose remote port is 5672 (clients' unread bytes), count.
import sys, time
out = open(sys.argv[1], 'w'); dur = float(sys.argv[2]); t0 = time.time()
while time.time() - t0 < dur:
    tx = rx = n = 0
    for line in open('/proc/net/tcp').readlines()[1:]:
        f = line.split()
        lp = int(f[1].split(':')[1], 16); rp = int(f[2].split(':')[1], 16)
        txq, rxq = (int(x, 16) for x in f[4].split(':'))
        if f[3] != '01': continue
        if lp == 5672: tx += txq; n += 1
        if rp == 5672: rx += rxq
    out.write(f"{time.time()-t0:.3f} {tx} {rx} {n}\n")
    time.sleep(0.01)
