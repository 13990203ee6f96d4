#!/bin/bash
# The closing figures of the performance issue, every row in one sitting on one commit, each step stamped with the
# time and the load average. Run from the repository root after `cargo build --release` and
# `cargo bench --bench parse --bench whisper --no-run`:
#   GO_CARBON=/path/to/go-carbon bash tuning/results/final-20261130/run.sh OUTDIR
# Needs the Python carbon peer (tuning/python-carbon/setup.sh) and python3-whisper.
set -u
out=${1:?usage: run.sh OUTDIR}
mkdir -p "$out"
W=target/release/warren
D=$(mktemp -d /var/tmp/warren-final.XXXXXX)
trap 'rm -rf "$D" "$D".*' EXIT
stamp() { echo "== $1 $(date -u +%T) commit $(git rev-parse --short HEAD) loadavg: $(cat /proc/loadavg)"; }
run() {
  local name=$1; shift
  { stamp "$name: $*"; sync; "$@"; echo "exit $?"; stamp end; } > "$out/$name.txt" 2>&1
  grep -h "^== " "$out/$name.txt"
}
# AMQP, 20k metrics x 100 points, 100 points per message: cold (files created) against Python carbon, then steady.
run body100-cold $W bench body-100 --metrics 20000 --points 100 --reuse-dir "$D/b100" --peer python-carbon -q --json "$out/body100-cold.json"
run body100-steady $W bench body-100 --metrics 20000 --points 100 --reuse-dir "$D/b100" -q --json "$out/body100-steady.json"
# AMQP, one point per message (routing key = metric name), 20k metrics x 10 points: cold, then steady.
run rk1-cold $W bench rk-1 --metrics 20000 --points 10 --reuse-dir "$D/rk1" -q --json "$out/rk1-cold.json"
run rk1-steady $W bench rk-1 --metrics 20000 --points 10 --reuse-dir "$D/rk1" -q --json "$out/rk1-steady.json"
# Plaintext and pickle over one TCP connection against go-carbon, every create-mode pairing, cold then steady.
run plaintext $W bench plaintext --peer go-carbon --metrics 20000 --points 100 --settle-secs 3 --dir "$D" -q --json "$out/plaintext.json"
run pickle $W bench pickle --peer go-carbon --metrics 20000 --points 100 --settle-secs 3 --dir "$D" -q --json "$out/pickle.json"
# Micro: the body parser (both modes), and whisper update_many against python-whisper's.
pb=$(ls -t target/release/deps/parse-* | grep -v '\.d$' | head -1)
wb=$(ls -t target/release/deps/whisper-* | grep -v '\.d$' | head -1)
run parse "$pb" --bench parse_body --measurement-time 5 --noplot
run whisper "$wb" --bench update_many --measurement-time 5 --noplot
run python-whisper /usr/bin/python3 tuning/whisper_ref_bench.py 3
