#!/usr/bin/python3
"""Regenerate the committed seed corpora under fuzz/corpus/<target>/ (small on purpose).

Run with the system python (it has python3-whisper): /usr/bin/python3 fuzz/make_seeds.py
Seeds: real carbon bodies, pickles of carbon point lists at protocols 0-5, real whisper files made by the
reference with a few updates, carbon's example configuration files, metric names good and bad.
"""
import os
import pickle
import struct
import sys
import tempfile

import whisper

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = 1700000000


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    # amqp_body: byte 0 = mode (1: name in body); routing-key mode: byte 1 = key length, key, body.
    put("amqp_body", "name_in_body", b"\x01servers.web01.cpu.user 12.5 1700000000\nservers.web02.load 0.25 1700000060\n")
    put("amqp_body", "name_in_body_mixed",
        b"\x01good.one 1 1700000000\nthis is garbage\n../../etc/passwd 1 1700000000\ngood.one nan 1700000060\n"
        b"bad..name 1 1700000000\n  good.two\t-3e2   1700000000.9 \r\n\nx 1 -1\n")
    key = b"servers.web01.cpu"
    put("amqp_body", "routing_key", bytes([0, len(key)]) + key + b"42 1700000000\n43.5 1700000060\n1e3 -1\n")
    key = b"../etc/passwd"
    put("amqp_body", "routing_key_refused", bytes([0, len(key)]) + key + b"1 2\n3 4\n")
    put("amqp_body", "hostile_values", b"\x01a.b inf 1\na.b -1e400 2\na.b 1e400 4294967295\na.b 1 4294967296\na.b 1 -5\n")

    # plaintext_line: byte 0 = mode (1: name in line), then lines.
    put("plaintext_line", "three_fields", b"\x01servers.web01.cpu 42.5 1700000000\nsolo -0.000001 0\n")
    put("plaintext_line", "two_fields", b"\x0042.5 1700000000\n.5 -1\n5. 1e9\n+7 -0.5\n")
    put("plaintext_line", "floats", b"\x010.30000000000000004 12345678901234567890 999999999999999\n"
        b"1234567.89012345 -2.5E-3 NaN\ninfinity 4294967295.9 1_000\n")

    # pickle_decode: carbon point lists at every protocol, tuples and lists, plus CarbonLink requests.
    pts = [("servers.web01.cpu", (NOW, 1.5)), ("a.b", (NOW + 60, 2)), ("c", [NOW, "4.5"])]
    for proto in range(6):
        put("pickle_decode", f"points_p{proto}", pickle.dumps(pts, protocol=proto))
    put("pickle_decode", "points_lists_p2", pickle.dumps([["x.y", [NOW, -3]], [b"bytes.name", (NOW, True)]], protocol=2))
    put("pickle_decode", "bigint_p4", pickle.dumps([("big", (NOW, 2 ** 80)), ("neg", (NOW, -2 ** 70))], protocol=4))
    shared = [1, 2]
    put("pickle_decode", "shared_memo_p2", pickle.dumps([shared, shared, ("m", (NOW, 1.0))], protocol=2))
    put("pickle_decode", "cache_query_p5", pickle.dumps({"type": "cache-query", "metric": "a.b.c"}, protocol=5))
    put("pickle_decode", "cache_query_bulk_p2",
        pickle.dumps({"type": "cache-query-bulk", "metrics": ["a.b", "c.d"]}, protocol=2))
    put("pickle_decode", "py2_strings_p0", b"(lp0\n(S'a\\x41\\101'\np1\n(I1700000000\nF1.5\ntp2\ntp3\na.")
    put("pickle_decode", "global_reduce", b"\x80\x02cos\nsystem\n(S'echo hi'\ntR.")

    # whisper_file: 16 bytes of parameters (now, from offset, until offset, archive choice, batch), then a file.
    def params(now, back, until_back, step_sel, count, gap):
        return struct.pack(">III", now, back, until_back << 8) + bytes([step_sel, count]) + struct.pack(">H", gap)

    specs = [
        ("one_archive", [(60, 10)], "average", 0.5),
        ("two_archives_sum", [(10, 6), (60, 10)], "sum", 0.0),
        ("three_archives_max", [(1, 12), (4, 6), (12, 4)], "max", 1.0),
        ("last", [(5, 8), (20, 8)], "last", 0.25),
    ]
    for name, archives, method, xff in specs:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.wsp")
            whisper.create(path, archives, xFilesFactor=xff, aggregationMethod=method)
            empty = open(path, "rb").read()
            step = archives[0][0]
            whisper.update_many(path, [(NOW - i * step, float(i)) for i in range(5)], now=NOW)
            whisper.update(path, 99.0, NOW - step, now=NOW)
            full = open(path, "rb").read()
        put("whisper_file", name + "_empty", params(NOW, 600, 0, 0, 0, 0) + empty)
        put("whisper_file", name, params(NOW, 3600, 0, 1, 7, step) + full)
        put("whisper_file", name + "_batch", params(NOW + 30, 100, 1, 0x81, 0x3f, step * 3) + full)

    # config_parsers: byte 0 = parser (0 retentions, 1 schemas, 2 aggregation, 3 carbon.conf).
    put("config_parsers", "retentions", b"\x0010s:6h, 1m:7d,10m:5y,60:1440,1min:1w")
    ex = "/tmp/gc/x/usr/share/doc/graphite-carbon/examples"
    for n, (sel, fname) in enumerate([(1, "storage-schemas.conf.example"), (2, "storage-aggregation.conf.example"),
                                      (3, "carbon.amqp.conf.example")]):
        p = os.path.join(ex, fname)
        if os.path.exists(p):
            put("config_parsers", fname, bytes([sel]) + open(p, "rb").read())
    put("config_parsers", "schemas", b"\x01[carbon]\npattern = ^carbon\\.\nretentions = 60:90d\n\n"
        b"[default]\npattern = .*\nretentions = 10s:6h,1m:7d,10m:5y\n[skip]\nmatch-all = true\nretentions = 1:1\n")
    put("config_parsers", "aggregation", b"\x02[min]\npattern = \\.min$\nxFilesFactor = 0.1\naggregationMethod = min\n"
        b"[sum]\npattern = \\.count$\nxFilesFactor = 0\naggregationMethod = sum\n")
    put("config_parsers", "carbon_conf", b"\x03[cache]\nSTORAGE_DIR = /var/lib/graphite/\nMAX_CACHE_SIZE = inf\n"
        b"MAX_UPDATES_PER_SECOND = 500\nCACHE_WRITE_STRATEGY = sorted\nENABLE_AMQP = True\nAMQP_PORT = 5672\n"
        b"BIND_PATTERNS = #, servers.*\n[cache:b]\nCARBONLINK_PORT = 7102\n")

    # metric_name: good and bad names.
    for i, n in enumerate([b"servers.web01.cpu.user", b"x.y_z.1-2.\xc3\xbc", b"a.*.b", b"a..b", b"../etc/passwd",
                           b"a/b", b"a\x00b", b"disk.used;dc=1", b"a\xc2\xa0b", b"c" * 251 + b".d", b"\xff"]):
        put("metric_name", f"name{i}", n)

    # tagged_name: carbon-form and OpenMetrics-form names, normal and not, accepted and refused.
    for i, n in enumerate([b"cpu.usage;dc=us-east;host=web01", b"cpu;host=a;dc=b", b"cpu;a=1;a.b=2;a=3",
                           b"~cpu;name=x;t=v.1", b'cpu{host="web01",dc="us"}', b'cpu{a="x\\"y\\\\z":,b="2"}',
                           b"a;b", b";a=1", b"a;b=~c", b"a;b!=1", b'c{{a="1"}', b'~;x={a="1"}', b"a;b=x/y",
                           b"m;t=" + b"v." * 130]):
        put("tagged_name", f"name{i}", n)
    read_side_and_filters()
    http_head_seeds()


def http_head_seeds():
    """http_head: 4 bytes (mode; piece size - 1; h, head cap 1 + 16 h; b, body cap 4 b), then a connection's bytes
    (mode 0) or choices for generated requests (mode 1)."""
    def raw(name, piece, head_cap, body_cap, stream):
        put("http_head", name, bytes([0, piece, head_cap, body_cap]) + stream)

    get = b"GET /render/?target=a.*&from=-1h HTTP/1.1\r\nHost: x\r\n\r\n"
    post = b"POST /metrics/find/ HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nquery=a.*"
    chunked = (b"POST /render/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"7;ext=\"v\"\r\ntarget=\r\n3\r\na.b\r\n0\r\nTrailer-Field: t\r\n\r\n")
    raw("pipelined", 255, 255, 255, get + post + chunked + get)
    raw("pipelined_byte_by_byte", 0, 255, 255, get + post + chunked)
    raw("continue", 7, 255, 255, b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc" + get)
    raw("continue_over_cap", 255, 255, 0, b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")
    raw("skipped_then_next", 255, 255, 1, b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n123456789" + get)
    raw("lf_and_leading_empty_lines", 3, 255, 255, b"\r\n\nGET / HTTP/1.0\nConnection: keep-alive\n\n"
        b"POST / HTTP/1.1\nTransfer-Encoding: chunked\n\n1\nx\r\n0\n\n")
    raw("head_over_cap", 255, 2, 255, get + b"X-Long: " + b"v" * 40 + b"\r\n\r\n")
    raw("too_many_fields", 255, 255, 255, b"GET / HTTP/1.1\r\n" + b"a: b\r\n" * 101 + b"\r\n")
    raw("version_505", 255, 255, 255, b"GET / HTTP/2.0\r\n\r\n")
    raw("bad_field_400", 255, 255, 255, b"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n")
    raw("gzip_501", 255, 255, 255, b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
    raw("lengths_disagree", 255, 255, 255, b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")
    raw("chunk_over_cap", 255, 255, 1, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffe\r\n")
    raw("chunk_without_crlf", 255, 255, 255, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\n0\r\n\r\n")
    raw("truncated", 255, 255, 255, b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
    # Generated mode: per request a flags byte (line ends, empty lines, version, body kind, hex case,
    # trailer), a method, a target, fields, a body or chunks.
    put("http_head", "generated", bytes([1, 9, 0, 0]) + bytes(range(256)))
    put("http_head", "generated_chunked", bytes([1, 0, 0, 0]) + bytes([0xe1, 1, 5]) + b"abcde" + bytes([2, 3, 5, 0, 6])
        + b"ABCDEFG" * 4 + bytes([0x10, 0, 3]) + b"xyz" + bytes([4, 3]) + b"abc")


def read_side_and_filters():
    """Seeds of the HTTP API's parsers and encoders and of the rewrite rules (no whisper needed)."""
    # http_request: query strings and form bodies (mode 0), multipart bodies (mode 1: boundary length, boundary,
    # body), from/until times (mode 2: 8 bytes of now, the text).
    for i, q in enumerate([b"target=a.%7Bb%2Cc%7D.*&from=-1h&until=now&format=msgpack", b"query=servers.*&local=1",
                           b"x=a+b&bad=%zz&t=%4&plus=%+1&end=%41", b"&&=&a&=b&%C3%BC=%FF"]):
        put("http_request", f"query{i}", b"\x00" + q)
    mp = (b"--XyZ\r\nContent-Disposition: form-data; name=\"target\"\r\n\r\na.*\r\n"
          b"--XyZ\r\nContent-Disposition: form-data; name=\"from\"\r\nContent-Type: text/plain\r\n\r\n-1d\r\n--XyZ--\r\n")
    put("http_request", "multipart0", b"\x01\x03XyZ" + mp)
    put("http_request", "multipart1", b"\x01\x03XyZ--XyZ\r\nno end")
    for i, t in enumerate([b"-1h", b"now-10min", b"1699990000", b"-1h30min", b"+1w", b" NOW ", b"-3minutes", b"-1m",
                           b"yesterday", b"-99999999999999999999d"]):
        put("http_request", f"time{i}", b"\x02\x00\xf1\x53\x65\x00\x00\x00\x00" + t)

    # glob_pattern: a component pattern, then names to match, separated by 0 bytes.
    for i, g in enumerate([b"cpu*\0cpu0\0xcpu", b"c?u[0-3]\0cpu2\0cpu4", b"cpu[!0-3]\0cpu4", b"[]]\0]", b"a[b\0a[b",
                           b"x{a,{b,c}}y\0xcy\0xay", b"a{,b}\0a\0ab", b"{a,b}*\0bzz", b"a*b*c\0aXbYbZc",
                           b"{a,b}" * 11, b"\xc3\xbc[\xc3\xa0-\xc3\xbf]*\0\xc3\xbc\xc3\xa9"]):
        put("glob_pattern", f"glob{i}", g)

    # wire_encode: structured bytes (nodes, then series); zeros give empty answers, 0xff fills every field.
    put("wire_encode", "empty", b"\x00\x00")
    put("wire_encode", "full", bytes(range(256)) * 2)
    put("wire_encode", "ones", b"\x03\x04a.bc\x01\x02" + b"\x00\x00\x00\x00\x00\x00\xf0\x3f" * 4 + b"\x02\x02ab\x01*"
        + b"\x3c\x00\x00\x00\xb4\x00\x00\x00\x3c\x00\x00\x00" + b"\x00" * 8 + b"\x03\x01" + b"\x00" * 7 + b"\xf8\x7f\x00")

    # rewrite_rules: a rules file (mode 0); pattern, 0, replacement, 0, names (modes 1-3).
    put("rewrite_rules", "file0", b"\x00# comment\n[pre]\n^servers\\.(\\w+)\\. = hosts.\\1.\n[post]\ncpu = CPU\n[other]\nx = y\n")
    put("rewrite_rules", "file1", b"\x00[pre]\nno equals here\n")
    for m, (pat, repl, names) in enumerate([(b"^servers\\.(\\w+)\\.", b"hosts.\\1.", b"servers.web01.cpu\0x.y"),
                                            (b"a*", b"-", b"baaac\0\0aaa"), (b"(?P<h>\\w+)\\.(x|y)", b"2-1", b"ab.x.cd.y"),
                                            (b"[a-c]+|z", b"\\g<0>\\n", b"abcz.zz")]):
        for mode in (1, 2, 3):
            put("rewrite_rules", f"sub{m}_{mode}", bytes([mode]) + pat + b"\0" + repl + b"\0" + names)


if __name__ == "__main__":
    sys.exit(main())
