#!/bin/bash
# Used as `warren bench ... --warren-bin timeline.sh`: runs $WARREN (the warren under test) with the bench's
# arguments and writes each of its stats lines, with the wall time it was read at, to $CURVE (default curve.txt):
# connections, deliveries, points received, points committed, update_micros, acked, and (added for
# results/vm3-20261201, after this directory's curves were made) update operations and files mapped.
exec "$WARREN" "$@" > >(/usr/bin/python3 -S -u -c '
import sys, time, json, os
out = open(os.environ.get("CURVE", "curve.txt"), "w")
for l in sys.stdin:
    t = time.time()
    try:
        m = json.loads(l)
        out.write("%.3f conn=%d deliv=%d recv=%d commit=%d upd_us=%d acked=%d ops=%d mapped=%d\n" % (t, m.get("connects", 0),
            m.get("deliveries", 0), m.get("points_received", 0), m.get("committed_points", 0),
            m.get("update_micros", 0), m.get("acked", 0), m.get("update_operations",0), m.get("files_mapped",0)))
        out.flush()
    except ValueError:
        pass
    sys.stdout.write(l)
    sys.stdout.flush()
')
