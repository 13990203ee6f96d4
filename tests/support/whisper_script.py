"""Run one of python3-whisper's command-line scripts with a pinned clock, for tests/whisper_tools_diff.rs.

Usage: /usr/bin/python3 whisper_script.py NOW SCRIPT [ARGS...]
NOW (a float, fractions allowed) replaces time.time() for the whole run, in the script and in the whisper module,
so that both sides of a differential test see the same clock. With WHISPER_PY3_FIXES=1 in the environment,
whisper-resize's --aggregate branch gets its iterators made lists: under Python 3 it slices a zip and bisects a
map and stops with a TypeError; the fix gives the behaviour it has under the Python 2 it was written for.
"""
import os
import sys
import time

now = float(sys.argv[1])
script = sys.argv[2]
time.time = lambda: now
sys.argv = [script] + sys.argv[3:]
with open(script) as f:
    source = f.read()
if os.environ.get("WHISPER_PY3_FIXES") == "1":
    for old, new in [
        ("new_datapoints = zip(range(*timeinfo), values)", "new_datapoints = list(zip(range(*timeinfo), values))"),
        ("oldtimestamps = map(lambda p: p[0], all_datapoints)", "oldtimestamps = list(map(lambda p: p[0], all_datapoints))"),
        ("oldvalues = map(lambda p: p[1], all_datapoints)", "oldvalues = list(map(lambda p: p[1], all_datapoints))"),
        ("non_none = filter(lambda x: x is not None, newvalues)", "non_none = list(filter(lambda x: x is not None, newvalues))"),
    ]:
        if old not in source:
            raise SystemExit("whisper_script.py: %r not found in %s (a new whisper-resize?)" % (old, script))
        source = source.replace(old, new)
exec(compile(source, script, "exec"), {"__name__": "__main__", "__file__": script})
