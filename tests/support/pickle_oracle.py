"""Oracle for tests/pickle_diff.rs: Python's own pickle, and carbon's reading of a point list.

Modes:
  cases  print one JSON object per line: a pickle (hex) made by pickle.dumps at some protocol, or a
         hand-written Python 2 style pickle, with the value pickle.loads gives back (tagged, see tag()),
         the points carbon's pickle receiver would take from it, and the first opcode a plain-data
         unpickler must refuse (with its offset), if any.
  loads  read hex pickles, one a line, from stdin; print {"ok": tagged value} or {"err": message} per line.
"""
import json
import pickle
import pickletools
import sys
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)  # py2 "\\q" escapes are data here

# Opcodes outside plain data: these build or name Python objects.
FORBIDDEN = {
    "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "PERSID",
    "BINPERSID", "EXT1", "EXT2", "EXT4", "EMPTY_SET", "ADDITEMS", "FROZENSET", "BYTEARRAY8",
    "NEXT_BUFFER", "READONLY_BUFFER",
}


def tag(x):
    """A JSON rendering that keeps Python's types apart (tuple vs list, int vs float, str vs bytes)."""
    if x is None:
        return ["none"]
    if isinstance(x, bool):
        return ["bool", x]
    if isinstance(x, int):
        return ["int", str(x)]
    if isinstance(x, float):
        return ["float", repr(x)]
    if isinstance(x, str):
        return ["str", x]
    if isinstance(x, bytes):
        return ["bytes", x.hex()]
    if isinstance(x, list):
        return ["list", [tag(i) for i in x]]
    if isinstance(x, tuple):
        return ["tuple", [tag(i) for i in x]]
    if isinstance(x, dict):
        return ["dict", [[tag(k), tag(v)] for k, v in x.items()]]
    raise TypeError("cannot tag %r" % type(x))


def carbon_points(obj):
    """What carbon 1.1's MetricPickleReceiver keeps: (metric, (timestamp, value)) entries whose numbers
    float() accepts; other entries are skipped one by one. Names are reported as UTF-8 hex."""
    if not isinstance(obj, (list, tuple)):
        return None
    points, bad = [], 0
    for raw in obj:
        ok = isinstance(raw, (list, tuple)) and len(raw) == 2
        if ok:
            name, dp = raw
            ok = isinstance(name, (str, bytes)) and isinstance(dp, (list, tuple)) and len(dp) == 2
        if ok:
            try:
                ts, value = float(dp[0]), float(dp[1])
            except (ValueError, TypeError, OverflowError):
                ok = False
        if not ok:
            bad += 1
            continue
        raw_name = name.encode("utf-8") if isinstance(name, str) else name
        points.append([raw_name.hex(), repr(ts), repr(value)])
    return {"points": points, "bad": bad}


def first_forbidden(data):
    for op, _arg, pos in pickletools.genops(data):
        if op.name in FORBIDDEN:
            return {"name": op.name, "code": op.code.encode("latin-1")[0], "offset": pos}
    return None


def point_lists():
    shared_name = "shared.name"
    shared_tuple = (1700000000, 2.0)
    shared_list = [1700000000, 3.0]
    ints = [0, 1, 255, 256, 65535, 65536, -1, 2**31 - 1, 2**31, -2**31, -2**31 - 1,
            2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**70, -2**80, 2**1000, 2**1100]
    floats = [1.5, -0.0, 1e-300, 5e-324, 1.7976931348623157e308, 0.1, float("inf"), float("nan")]
    return {
        "tuples": [("a.b.c", (1700000000, 1.5)), ("x.y", (1700000060, -3))],
        "lists": [["a.b", [1700000000, 2.5]], ["c.d", [1700000001, 7]]],
        "mixed_shapes": [("a", [1, 2.0]), ["b", (3, 4)]],
        "bytes_names": [(b"a.b", (1, 2.0)), (b"c.\xc3\xa9", (3, 4))],
        "unicode_names": [("m\u00e9trique.\u00fcn\u00efcode.\u65e5\u672c", (1, 1.0)),
                          ("emoji.\U0001F600", (2, 2.0)), ("ctl\\back\nslash\r\x1a\x00", (3, 3.0))],
        "int_values": [("i%d" % n, (1700000000, v)) for n, v in enumerate(ints)],
        "int_timestamps": [("t%d" % n, (v, 1.0)) for n, v in enumerate(ints)],
        "float_values": [("f%d" % n, (1700000000.5, v)) for n, v in enumerate(floats)],
        "shared_objects": [(shared_name, shared_tuple), (shared_name, shared_tuple),
                           ("l1", shared_list), ("l2", shared_list)],
        "bad_entries": [("ok", (1, 2)), ("none", None), (1, (2, 3)), ("text", ("1.5", b" 2 ")),
                        ("three", (1, 2, 3)), ("bool", (True, False)), ("word", ("x", 1)),
                        ("dict", {1: 2}), "ab", ("ok2", [4, 5.5])],
        "empty": [],
        "top_level_tuple": (("a", (1, 2)), ("b", (3, 4))),
        "many_points": [("many.%d" % (i % 300), (1700000000 + i, i * 0.5)) for i in range(2500)],
    }


def carbonlink_requests():
    return {
        "cache_query": {"type": "cache-query", "metric": "a.b.c"},
        "cache_query_bulk": {"type": "cache-query-bulk", "metrics": ["a.b", "c.d", "e.f.g"]},
        "get_metadata": {"type": "get-metadata", "metric": "a.b", "key": "aggregationMethod"},
        "set_metadata": {"type": "set-metadata", "metric": "a.b", "key": "aggregationMethod",
                         "value": "sum"},
        "mixed_plain": {"none": None, "t": True, "f": False, "nested": [(1,), (), (1, 2, 3, 4)],
                        "big": -2**100, "float": -1.25, "bytes": b"\x00\xff", "d": {}},
    }


# Python 2 clients (and hand-written frames): protocol-0/1 py2 str opcodes, DUP, POP, POP_MARK, DICT, LIST.
RAW = {
    "py2_string_p0": b"(lp0\n(S'a.b'\np1\n(I1700000000\nF1.5\ntp2\ntp3\na(S\"c\\x41\\n\"\n(L12L\nI01\ntp4\ntp5\na.",
    "py2_binstring_p1": b"]q\x00(U\x03a.bq\x01J\x00\xf1SeG?\xf8\x00\x00\x00\x00\x00\x00\x86q\x02\x86q\x03"
                        b"T\x03\x00\x00\x00c.dK\x01K\x02\x86\x86e.",
    "dup_pop_popmark": b"(K\x01K\x021K\x032\x86]2K\x04a0\x86(K\x05l\x86.",
    "dict_list_ops": b"(S'k'\nI1\nS'l'\n(I2\nI3\nld.",
    "binunicode8_bytes8": b"\x80\x04\x8d\x03\x00\x00\x00\x00\x00\x00\x00abc\x8e\x02\x00\x00\x00\x00\x00\x00\x00xy\x86.",
    "long4": b"\x80\x02\x8b\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80.",
    "unicode_raw_escapes": b"(V\\u0041\\\\u0041\\x\xe9\\U0001f600\\\nS'\\101\\x41\\q\\\\\\''\nt.",
    "float_text": b"(F-1e+16\nFinf\nF-0.0\nt.",
}


def cases():
    for name, obj in point_lists().items():
        for proto in range(6):
            yield name, proto, pickle.dumps(obj, protocol=proto)
    for name, obj in carbonlink_requests().items():
        for proto in range(6):
            yield name, proto, pickle.dumps(obj, protocol=proto)
    for name, data in RAW.items():
        yield name, None, data


def main():
    mode = sys.argv[1]
    if mode == "cases":
        for name, proto, data in cases():
            forbidden = first_forbidden(data)
            obj = pickle.loads(data)
            print(json.dumps({
                "case": name, "protocol": proto, "pickle": data.hex(), "forbidden": forbidden,
                "value": tag(obj), "points": carbon_points(obj),
            }))
    elif mode == "loads":
        for line in sys.stdin:
            try:
                print(json.dumps({"ok": tag(pickle.loads(bytes.fromhex(line.strip())))}))
            except Exception as exc:  # report, the Rust side decides
                print(json.dumps({"err": "%s: %s" % (type(exc).__name__, exc)}))
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
