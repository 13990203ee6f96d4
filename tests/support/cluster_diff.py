"""Ask warren and a real graphite-web 1.1.8 the same cluster-protocol requests and compare the answers as
graphite-web's RemoteFinder/RemoteReader read them: msgpack bodies (content type application/x-msgpack) with the
msgpack module, everything else with graphite-web's own safe unpickler (graphite.util.unpickle), so a class that
graphite-web would refuse fails here too.

Usage: cluster_diff.py CASES_JSON (a file): {"warren": URL, "graphite": URL, "cases": [{"path", "params": [[k, v]],
"method": "GET"|"POST", "kind": "find"|"render"|"status"}]}. Prints one JSON line per case:
{"case": i, "ok": bool, "detail": str}. Needs GRAPHITE_SETTINGS_MODULE/DJANGO_SETTINGS_MODULE/PYTHONPATH of the
graphite-web under test (for graphite.util).
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

import msgpack
from graphite.intervals import Interval, IntervalSet
from graphite.util import unpickle

INTERVAL_SLACK = 10.0  # seconds: each side computes "now - retention" with its own clock, a moment apart


def fetch(base, case):
    data = urllib.parse.urlencode([tuple(p) for p in case["params"]])
    if case["method"] == "POST":
        req = urllib.request.Request(base + case["path"], data=data.encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        req = urllib.request.Request(base + case["path"] + "?" + data)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def decode(ctype, body):
    if ctype == "application/x-msgpack":
        return msgpack.unpackb(body, raw=False)
    if ctype.startswith("application/json"):
        return json.loads(body)
    return unpickle.loads(body)


def norm_find(nodes):
    out = []
    for n in nodes:
        iv = n.get("intervals")
        if isinstance(iv, IntervalSet):
            assert all(isinstance(i, Interval) for i in iv.intervals), "IntervalSet of non-Intervals"
            assert abs(iv.size - sum(i.size for i in iv.intervals)) < 1e-6, "IntervalSet.size"
            for i in iv.intervals:
                assert i.tuple == (i.start, i.end) and abs(i.size - (i.end - i.start)) < 1e-6, "Interval fields"
            iv = [(i.start, i.end) for i in iv.intervals]
        elif iv is not None:
            iv = [(i["start"], i["end"]) if isinstance(i, dict) else tuple(i) for i in iv]
        out.append((n["path"], n["is_leaf"], iv))
    return out


def same_find(a, b):
    if [x[:2] for x in sorted(a, key=lambda x: x[:2])] != [x[:2] for x in sorted(b, key=lambda x: x[:2])]:
        return "nodes differ: %r vs %r" % (sorted(a, key=str), sorted(b, key=str))
    for x, y in zip(sorted(a, key=lambda x: x[:2]), sorted(b, key=lambda x: x[:2])):
        if (x[2] is None) != (y[2] is None) or (x[2] and len(x[2]) != len(y[2])):
            return "intervals shape differs for %s: %r vs %r" % (x[0], x[2], y[2])
        for (s1, e1), (s2, e2) in zip(x[2] or [], y[2] or []):
            if abs(s1 - s2) > INTERVAL_SLACK or abs(e1 - e2) > INTERVAL_SLACK:
                return "intervals differ for %s: %r vs %r" % (x[0], x[2], y[2])
    return None


def main():
    spec = json.load(open(sys.argv[1]))
    for i, case in enumerate(spec["cases"]):
        try:
            (s1, c1, b1), (s2, c2, b2) = fetch(spec["warren"], case), fetch(spec["graphite"], case)
            detail = None
            if s1 != s2:
                detail = "status %d vs graphite-web %d (%r / %r)" % (s1, s2, b1[:200], b2[:200])
            elif s1 != 200:
                detail = None
            elif c1.split(";")[0] != c2.split(";")[0]:
                detail = "content type %r vs %r" % (c1, c2)
            else:
                ours, theirs = decode(c1, b1), decode(c2, b2)
                if case["kind"] == "find":
                    names = [n["path"].rsplit(".", 1)[-1] for n in ours]
                    if case["params"] and dict(case["params"]).get("format") != "json" and names != sorted(names):
                        detail = "warren's find is not sorted by name: %r" % names
                    else:
                        detail = same_find(norm_find(ours), norm_find(theirs))
                elif ours != theirs:
                    detail = "answers differ:\n warren   %r\n graphite %r" % (ours, theirs)
                if detail is None and not theirs and case.get("nonempty"):
                    detail = "graphite-web answered nothing: the case tests nothing"
            print(json.dumps({"case": i, "ok": detail is None, "detail": detail or ""}), flush=True)
        except Exception as e:  # a decode failure is a finding, not a crash of the oracle
            print(json.dumps({"case": i, "ok": False, "detail": "%s: %s" % (type(e).__name__, e)}), flush=True)


if __name__ == "__main__":
    main()
