"""Drive the reference python whisper for tests/whisper_diff.rs.

Reads one JSON list of operations on stdin and prints one JSON list of results (one per operation), so a whole batch
of test cases costs one interpreter start. Floats travel as the integer bits of their IEEE-754 binary64 encoding,
so NaN, infinities and every rounding survive the trip. Any exception from an operation becomes
{"error": "<exception class name>", "message": "..."}; nothing else is caught.
Run with the system interpreter: /usr/bin/python3 whisper_ref.py < ops.json
"""
import json
import shutil
import struct
import sys

import whisper


def f64(bits):
    return struct.unpack(">d", struct.pack(">Q", bits))[0]


def bits(value):
    return struct.unpack(">Q", struct.pack(">d", value))[0]


def run(op):
    kind = op["op"]
    if kind == "create":
        whisper.create(op["path"], [tuple(a) for a in op["archives"]], xFilesFactor=f64(op["xff"]),
                       aggregationMethod=op["aggregation"])
        return None
    if kind == "update_many":
        whisper.update_many(op["path"], [(t, f64(v)) for t, v in op["points"]], now=op["now"])
        return None
    if kind == "update":
        t, v = op["point"]
        whisper.update(op["path"], f64(v), t, now=op["now"])
        return None
    if kind == "fetch":
        result = whisper.fetch(op["path"], op["from"], op["until"], now=op["now"], archiveToSelect=op["step"])
        if result is None:
            return None
        (start, end, step), values = result
        return [[start, end, step], [None if v is None else bits(v) for v in values]]
    if kind == "copy":
        shutil.copyfile(op["src"], op["dst"])
        return None
    if kind == "set_order":
        return list(set(op["keys"]))
    raise ValueError("unknown op %r" % kind)


def main():
    results = []
    for op in json.load(sys.stdin):
        try:
            results.append(run(op))
        except (whisper.WhisperException, ValueError) as exc:
            results.append({"error": type(exc).__name__, "message": str(exc)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
