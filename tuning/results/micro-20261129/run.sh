#!/bin/bash
# Side-by-side runs of the old (a520a9c, before helper `micro`) and new bench binaries, alternated, with
# python-whisper's reference between the whisper runs. Binaries: `cargo bench --bench parse --no-run` and
# `cargo bench --bench whisper --no-run` at each commit, copied to $OLD_PARSE $NEW_PARSE $OLD_WHISPER $NEW_WHISPER.
# SKIP_PARSE=1 runs the whisper pairs only.
# Usage: OLD_PARSE=... NEW_PARSE=... OLD_WHISPER=... NEW_WHISPER=... bash run.sh OUTDIR
set -u
out=${1:-.}
stamp() { echo "== $1 $(date -u +%T) loadavg: $(cat /proc/loadavg)"; }
[ -n "${SKIP_PARSE:-}" ] || for pass in 1 2; do
  for which in old new; do
    bin=$([ $which = old ] && echo "$OLD_PARSE" || echo "$NEW_PARSE")
    { stamp "parse $which pass $pass: $bin --bench parse_body --measurement-time 5 --noplot"
      "$bin" --bench parse_body --measurement-time 5 --noplot 2>&1 | grep -E "^parse_body|time:|thrpt:"
      stamp end; } >> "$out/parse.txt"
  done
done
for pass in 1 2; do
  for which in old py new; do
    if [ $which = py ]; then
      { stamp "python-whisper pass $pass: /usr/bin/python3 tuning/whisper_ref_bench.py 3"
        /usr/bin/python3 "$(dirname "$0")/../../whisper_ref_bench.py" 3 2>&1
        stamp end; } >> "$out/whisper.txt"
      continue
    fi
    bin=$([ $which = old ] && echo "$OLD_WHISPER" || echo "$NEW_WHISPER")
    { stamp "whisper $which pass $pass: $bin --bench update_many --measurement-time 5 --noplot"
      "$bin" --bench update_many --measurement-time 5 --noplot 2>&1 | grep -E "^whisper/|time:|thrpt:"
      stamp end; } >> "$out/whisper.txt"
  done
done
