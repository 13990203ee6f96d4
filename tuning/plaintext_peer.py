#!/usr/bin/python3
"""Plaintext TCP burst, warren against go-carbon, side by side in one run, every point verified on disk.

For each create-mode pairing (warren/go-carbon: zero/zero, sparse/sparse, default/default = fallocate/zero), each
system gets a fresh data directory and the same load: METRICS x POINTS lines (`burst.mNNNNNN value ts`, one point
per metric per minute, rounds of every metric) over one TCP connection. "cold": every file is created; "steady":
the same lines again into the files the cold run left. Completion: each system's own committed-points counter
(warren's `--stats-every-ms 100` lines; go-carbon's self-metrics sent every 100 ms in plaintext to a listener of
this script; it reports about once a second, so the moment its total was reached is interpolated linearly
inside the last report's interval). CPU seconds are the child's rusage. Afterwards every file is read with python3-whisper and every
point compared. Every run starts after a `sync` (untimed), so no run pays for the write-back of the one before.

go-carbon runs with the recipe that gives it its best showing on a 2-core box: max-cpu 2, 2 workers, no update
rate limit, cache unlimited, sparse-create matching the pairing; both use storage-schemas `60s:7d`, average.

    GO_CARBON=/path/to/go-carbon tuning/plaintext_peer.py --warren target/release/warren \
        [--metrics 20000] [--points 100] [--pairings zero,sparse,default] [--json out.json]
"""
import argparse, json, os, shlex, socket, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--warren", required=True)
ap.add_argument("--go-carbon", default=os.environ.get("GO_CARBON"))
ap.add_argument("--metrics", type=int, default=20000)
ap.add_argument("--points", type=int, default=100)
ap.add_argument("--pairings", default="zero,sparse,default")
ap.add_argument("--systems", default="warren,go-carbon")
ap.add_argument("--creators", type=int, default=None, help="warren's [whisper] creators (default: its default)")
ap.add_argument("--dir", default=None)
ap.add_argument("--json", default=None)
ap.add_argument("--timeout", type=float, default=600)
a = ap.parse_args()
if "go-carbon" in a.systems and not a.go_carbon:
    sys.exit("set GO_CARBON or --go-carbon")

END = int(time.time()) // 60 * 60
TOTAL = a.metrics * a.points


def payload():
    out = bytearray()
    for p in range(a.points):
        t = END - (a.points - p) * 60
        out += b"".join(b"burst.m%06d %d %d\n" % (m, m + p, t) for m in range(a.metrics))
    return bytes(out)


PAYLOAD = payload()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


SCHEMAS = "[default]\npattern = .*\nretentions = 60s:7d\n"


def warren_cmd(work, mode, port):
    creators = "" if a.creators is None else f"creators = {a.creators}\n"
    conf = f"""data_dir = "{work}/whisper"
storage_schemas = "{work}/storage-schemas.conf"
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
max_size = 1000000000
max_creates_per_minute = 0
max_updates_per_second = 0
[whisper]
create_mode = "{mode}"
{creators}"""
    open(f"{work}/warren.toml", "w").write(conf)
    return [a.warren, "cache", "--config", f"{work}/warren.toml", "--stats-every-ms", "100"]


def go_carbon_cmd(work, sparse, port, stats_port):
    conf = subprocess.run([a.go_carbon, "-config-print-default"], capture_output=True, text=True, check=True).stdout
    sect, out = None, []
    ports = {s: free_port() for s in ["udp", "pickle", "carbonlink", "grpc", "carbonserver", "pprof"]}
    for line in conf.splitlines():
        s = line.strip()
        if s.startswith("["):
            sect = s.strip("[]")
        k = s.split("=", 1)[0].strip() if "=" in s else None
        v = None
        if sect == "common" and k == "user": v = '""'
        if sect == "common" and k == "max-cpu": v = "2"
        if sect == "common" and k == "metric-interval": v = '"100ms"'
        if sect == "common" and k == "metric-endpoint": v = f'"tcp://127.0.0.1:{stats_port}"'
        if sect == "common" and k == "graph-prefix": v = '"gostats"'
        if sect == "whisper" and k == "data-dir": v = f'"{work}/whisper"'
        if sect == "whisper" and k == "schemas-file": v = f'"{work}/storage-schemas.conf"'
        if sect == "whisper" and k == "workers": v = "2"
        if sect == "whisper" and k == "max-updates-per-second": v = "0"
        if sect == "whisper" and k == "sparse-create": v = "true" if sparse else "false"
        if sect == "cache" and k == "max-size": v = "0"
        if sect == "tcp" and k == "listen": v = f'"127.0.0.1:{port}"'
        if sect in ports and k == "listen": v = f'"127.0.0.1:{ports[sect]}"'
        if sect in ("udp", "pickle", "carbonlink", "grpc", "carbonserver", "pprof") and k == "enabled": v = "false"
        if sect == "[logging]" and k == "file": v = f'"{work}/go-carbon.log"'
        out.append(f"{k} = {v}" if v is not None else line)
    open(f"{work}/go-carbon.conf", "w").write("\n".join(out) + "\n")
    return [a.go_carbon, "-config", f"{work}/go-carbon.conf"]


def go_stats_listener(srv, state):
    """Sum go-carbon's committedPoints lines (a per-interval count) from its self-metrics connections."""
    def serve(conn):
        buf = b""
        while True:
            d = conn.recv(65536)
            if not d:
                return
            buf += d
            *lines, buf = buf.split(b"\n")
            for l in lines:
                f = l.split()
                if len(f) == 3 and f[0].endswith(b".persister.committedPoints"):
                    with state["lock"]:
                        state["committed"] += int(float(f[1]))
                        state["reports"].append((time.time(), state["committed"]))
    while True:
        try:
            c, _ = srv.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def run_once(system, work, mode):
    port = free_port()
    if system == "warren":
        cmd = warren_cmd(work, mode, port)
        state = None
    else:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        state = {"committed": 0, "lock": threading.Lock(), "reports": []}
        threading.Thread(target=go_stats_listener, args=(srv, state), daemon=True).start()
        cmd = go_carbon_cmd(work, mode == "sparse", port, srv.getsockname()[1])
    log = open(f"{work}/{system}.log", "a")
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    c = None
    for _ in range(600):
        try:
            c = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            time.sleep(0.05)
    if c is None:
        child.kill()
        sys.exit(f"{system} did not listen; see {work}/{system}.log")
    t0 = time.time()
    c.sendall(PAYLOAD)
    c.close()
    deadline = t0 + a.timeout
    if system == "warren":
        for line in child.stdout:
            if line.startswith("{") and json.loads(line).get("committed_points", 0) >= TOTAL:
                break
            if time.time() > deadline:
                break
    else:
        threading.Thread(target=lambda: [None for _ in child.stdout], daemon=True).start()
        while state["committed"] < TOTAL and time.time() < deadline:
            time.sleep(0.01)
    wall = time.time() - t0
    if system != "warren" and state["committed"] >= TOTAL:
        # go-carbon reports its committed points about once a second whatever metric-interval says: place the
        # moment the total was reached by linear interpolation inside the last report's interval.
        prev_t, prev_c = t0, 0
        for t, c in state["reports"]:
            if c >= TOTAL:
                wall = max(prev_t, t0) - t0 + (t - max(prev_t, t0)) * (TOTAL - prev_c) / max(c - prev_c, 1)
                break
            prev_t, prev_c = t, c
    child.terminate()
    _, _, ru = os.wait4(child.pid, 0)
    cpu = ru.ru_utime + ru.ru_stime
    return wall, cpu, ru.ru_maxrss / 1024


VERIFY = r"""
import sys, whisper
d, metrics, points, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
bad = missing = 0
for m in range(metrics):
    path = "%s/burst/m%06d.wsp" % (d, m)
    try:
        (s, e, step), vals = whisper.fetch(path, end - points * 60 - 60, end)
    except Exception:
        missing += points
        continue
    got = {s + i * step: v for i, v in enumerate(vals) if v is not None}
    for p in range(points):
        v = got.get(end - (points - p) * 60)
        if v is None: missing += 1
        elif v != m + p: bad += 1
print(missing, bad)
"""


def verify(work):
    out = subprocess.run(["/usr/bin/python3", "-c", VERIFY, f"{work}/whisper", str(a.metrics), str(a.points), str(END)],
                         capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), int(out[1])


MODES = {  # pairing -> (warren create_mode, go-carbon mode)
    "zero": ("zero", "zero"),
    "sparse": ("sparse", "sparse"),
    "default": ("fallocate", "zero"),
}

rows = []
for pairing in a.pairings.split(","):
    for phase in ["cold", "steady"]:
        for system in a.systems.split(","):
            key = (pairing, system)
            if phase == "cold":
                work = tempfile.mkdtemp(prefix=f"peer-{system}-{pairing}-", dir=a.dir)
                os.makedirs(f"{work}/whisper")
                open(f"{work}/storage-schemas.conf", "w").write(SCHEMAS)
                MODES.setdefault(("dir",) + key, work)
            work = MODES[("dir",) + key]
            mode = MODES[pairing][0 if system == "warren" else 1]
            # Start each run with no dirty pages of the previous one (a zero-filled cold run leaves 2.4 GB to
            # write back, which would slow whoever runs next): sync, untimed.
            os.sync()
            wall, cpu, rss = run_once(system, work, mode)
            missing, bad = verify(work)
            load = os.getloadavg()
            row = {"pairing": pairing, "phase": phase, "system": system, "create_mode": mode,
                   "points": TOTAL, "seconds": round(wall, 3), "points_per_s": round(TOTAL / wall),
                   "cpu_s": round(cpu, 2), "cpu_s_per_M": round(cpu / TOTAL * 1e6, 2), "peak_rss_mib": round(rss, 1),
                   "missing": missing, "bad": bad, "load": [round(x, 2) for x in load]}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if phase == "steady" and not os.environ.get("KEEP"):
                subprocess.run(["rm", "-rf", work])

print()
print(f"{'pairing':<9}{'phase':<8}{'warren pts/s':>14}{'go-carbon pts/s':>17}{'ratio':>7}"
      f"{'warren CPU s':>14}{'go-carbon CPU s':>17}  verified")
for pairing in a.pairings.split(","):
    for phase in ["cold", "steady"]:
        r = {x["system"]: x for x in rows if x["pairing"] == pairing and x["phase"] == phase}
        w, g = r.get("warren"), r.get("go-carbon")
        if not (w and g):
            continue
        ok = all(x["missing"] == 0 and x["bad"] == 0 for x in (w, g))
        print(f"{pairing:<9}{phase:<8}{w['points_per_s']:>14}{g['points_per_s']:>17}"
              f"{w['points_per_s'] / g['points_per_s']:>7.2f}{w['cpu_s']:>14}{g['cpu_s']:>17}  {'PASS' if ok else 'FAIL'}")
if a.json:
    json.dump(rows, open(a.json, "w"), indent=1)
if any(x["missing"] or x["bad"] for x in rows):
    sys.exit("verification failed")
