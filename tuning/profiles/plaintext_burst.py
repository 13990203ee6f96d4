#!/usr/bin/python3
"""Cold plaintext burst for profiling: start `warren cache` with only a plaintext TCP receiver on a fresh data
directory, send METRICS x POINTS lines over one connection, wait until warren reports every point committed, stop
it, print wall time and CPU seconds (the child's rusage).

    tuning/profiles/plaintext_burst.py --warren target/release/warren [--metrics 20000] [--points 100]
        [--create-mode fallocate] [--creators N] [--wrap 'perf record -e cpu-clock -g -o x.data --'] [--keep]
"""
import argparse, json, os, resource, shlex, socket, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--warren", required=True)
ap.add_argument("--metrics", type=int, default=20000)
ap.add_argument("--points", type=int, default=100)
ap.add_argument("--create-mode", default="fallocate")
ap.add_argument("--creators", type=int, default=None)
ap.add_argument("--dir", default=None)
ap.add_argument("--wrap", default="")
ap.add_argument("--keep", action="store_true",
                help="keep the tree (a deletion slows the creates of the next minutes on an ext4 without a journal)")
a = ap.parse_args()

work = tempfile.mkdtemp(prefix="warren-burst-", dir=a.dir)
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
creators = "" if a.creators is None else f"creators = {a.creators}\n"
conf = f"""data_dir = "{work}/whisper"
[amqp]
enabled = false
[receivers]
line_tcp = "127.0.0.1:{port}"
pickle = ""
[query]
carbonlink = ""
http = ""
[stats]
metric_interval_secs = 0
[cache]
max_size = 100000000
max_creates_per_minute = 0
[whisper]
create_mode = "{a.create_mode}"
{creators}"""
open(f"{work}/warren.toml", "w").write(conf)
end = int(time.time()) // 60 * 60
payload = bytearray()
for p in range(a.points):
    t = end - (a.points - p) * 60
    payload += b"".join(b"burst.m%06d %d %d\n" % (m, p, t) for m in range(a.metrics))
total = a.metrics * a.points
cmd = shlex.split(a.wrap) + [a.warren, "cache", "--config", f"{work}/warren.toml", "--stats-every-ms", "100"]
child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(f"{work}/log", "w"), text=True)
c = None
for _ in range(400):
    try:
        c = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        time.sleep(0.05)
if c is None:
    sys.exit(f"warren did not listen; see {work}/log")
t0 = time.time()
c.sendall(payload); c.close()
sent = time.time() - t0
committed = 0
for line in child.stdout:
    if line.startswith("{"):
        committed = json.loads(line).get("committed_points", 0)
        if committed >= total:
            break
wall = time.time() - t0
child.terminate()
_, status, ru = os.wait4(child.pid, 0)
cpu = ru.ru_utime + ru.ru_stime
print(json.dumps({"metrics": a.metrics, "points": total, "create_mode": a.create_mode, "creators": a.creators,
                  "send_s": round(sent, 3), "wall_s": round(wall, 3), "points_per_s": round(total / wall),
                  "cpu_s": round(cpu, 2), "cpu_s_per_M": round(cpu / total * 1e6, 2),
                  "load": os.getloadavg()}))
if a.keep:
    print(f"kept {work}", file=sys.stderr)
else:
    subprocess.run(["rm", "-rf", work])
