"""Read-path benchmark driver: warren's render against go-carbon's carbonserver over the same whisper files.

  driver.py make-tree DIR SERIES          SERIES files bench.gNN.mNNN (60 s for 2 days), one day of points each
  driver.py bench --server NAME=URL ...   the same pickle render (every series, one day) on each server in turn

Requests go over kept-alive HTTP/1.1 connections, CLIENTS at once, in alternating rounds (A B A B ...) so drift in
the machine's load hits both sides alike. Before timing, one answer of each server is unpickled and compared
series by series, so both are known to do the same work. Prints one JSON document.
"""
import argparse
import http.client
import json
import os
import pickle
import sys
import threading
import time
import urllib.parse


def make_tree(root, series):
    import whisper
    now = int(time.time())
    for i in range(series):
        name = "bench.g%02d.m%03d" % (i // 100, i % 100)
        path = os.path.join(root, *name.split(".")) + ".wsp"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        whisper.create(path, [(60, 2880)], xFilesFactor=0.0, aggregationMethod="average", sparse=True)
        pts = [(now - 86400 + 60 * k, float(i + k % 97)) for k in range(1440) if (i + k) % 13]
        whisper.update_many(path, pts, now=now)


def query(frm, until):
    return "/render/?" + urllib.parse.urlencode(
        [("format", "pickle"), ("local", "1"), ("noCache", "1"), ("target", "bench.*.*"),
         ("from", frm), ("until", until)])


def get(conn, path):
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError("status %d: %r" % (r.status, body[:200]))
    return body


def connect(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def answer(url, path):
    c = connect(url)
    try:
        return pickle.loads(get(c, path))
    finally:
        c.close()


def compare(a, b):
    """Series present in both with equal (start, step, values); the rest counted."""
    ia = {s["name"]: s for s in a}
    ib = {s["name"]: s for s in b}
    same = sum(1 for n in ia if n in ib and (ia[n]["start"], ia[n]["step"], list(ia[n]["values"])) ==
               (ib[n]["start"], ib[n]["step"], list(ib[n]["values"])))
    return {"series": [len(a), len(b)], "equal": same}


def round_(url, path, clients, seconds):
    lat, errors, size = [], [], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker():
        c = connect(url)
        mine = []
        while time.monotonic() < deadline:
            t = time.monotonic()
            try:
                n = len(get(c, path))
            except Exception as e:  # counted, and the connection renewed
                errors.append(repr(e))
                c.close()
                c = connect(url)
                continue
            mine.append(time.monotonic() - t)
            size[0] = n
        c.close()
        with lock:
            lat.extend(mine)

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, time.monotonic() - start, errors, size[0]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else None


def bench(args):
    servers = [s.split("=", 1) for s in args.server]
    load_before = os.getloadavg()
    now = int(time.time())
    path = query(str(now - 86400), str(now))
    answers = {name: answer(url, path) for name, url in servers}
    names = [n for n, _ in servers]
    check = compare(answers[names[0]], answers[names[1]]) if len(names) > 1 else None
    for name, url in servers:  # warm-up
        answer(url, path)
    stats = {n: {"lat": [], "wall": 0.0, "errors": []} for n in names}
    for _ in range(args.rounds):
        for name, url in servers:
            lat, wall, errors, size = round_(url, path, args.clients, args.seconds)
            stats[name]["lat"] += lat
            stats[name]["wall"] += wall
            stats[name]["errors"] += errors
            stats[name]["bytes"] = size
    out = {"series": len(answers[names[0]]), "points_per_series": len(answers[names[0]][0]["values"]) if answers[names[0]] else 0,
           "clients": args.clients, "rounds": args.rounds, "seconds_per_round": args.seconds,
           "answers_compared": check, "load_before": load_before, "servers": {}}
    for n in names:
        s = stats[n]
        out["servers"][n] = {
            "requests": len(s["lat"]), "errors": len(s["errors"]), "first_errors": s["errors"][:3],
            "req_per_s": len(s["lat"]) / s["wall"] if s["wall"] else 0,
            "p50_ms": 1000 * pct(s["lat"], 50), "p99_ms": 1000 * pct(s["lat"], 99),
            "max_ms": 1000 * max(s["lat"]), "response_bytes": s.get("bytes"),
        }
    if len(names) > 1:
        a, b = (out["servers"][n] for n in names[:2])
        out["ratio_req_per_s"] = a["req_per_s"] / b["req_per_s"] if b["req_per_s"] else None
        out["ratio_p99"] = a["p99_ms"] / b["p99_ms"] if b["p99_ms"] else None
    out["load_after"] = os.getloadavg()
    json.dump(out, sys.stdout, indent=2)
    print()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("make-tree")
    t.add_argument("dir")
    t.add_argument("series", type=int)
    b = sub.add_parser("bench")
    b.add_argument("--server", action="append", required=True, help="NAME=http://host:port (first is A)")
    b.add_argument("--clients", type=int, default=4)
    b.add_argument("--seconds", type=float, default=10)
    b.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    if a.cmd == "make-tree":
        make_tree(a.dir, a.series)
    else:
        bench(a)


if __name__ == "__main__":
    main()
