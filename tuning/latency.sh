#!/usr/bin/env bash
# Latency at half load: each shape's capacity (`warren bench --live` at full speed), then `--live --rate <half of
# it>`; JSON and table per run, the load average before and after each, under tuning/results/latency-<date>/.
# Needs the shared RabbitMQ at 127.0.0.1:5672 and `cargo build --release --bin warren`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${WARREN:-target/release/warren}
OUT=${OUT:-tuning/results/latency-$(date -u +%Y%m%d)}
BODY=${BODY:-"body-100 --metrics 5000 --points 1000"}
RK=${RK:-"rk-1 --metrics 5000 --points 10"}
mkdir -p "$OUT"
{ echo "commit $(git rev-parse --short HEAD)"; uptime; } >"$OUT/meta.txt"
run() { # name, then bench arguments
  local name=$1; shift
  echo "$name $(cut -d' ' -f1-3 /proc/loadavg) start" >>"$OUT/loadavg.txt"
  "$BIN" bench "$@" --no-ceiling --no-backlog --live -q --json "$OUT/$name.json" >"$OUT/$name.txt" 2>&1 || true
  echo "$name $(cut -d' ' -f1-3 /proc/loadavg) end" >>"$OUT/loadavg.txt"
}
capacity() { python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["rows"][0]["points_per_sec"]))' "$1"; }
for shape in body rk; do
  if [ $shape = body ]; then args=$BODY; else args=$RK; fi
  # shellcheck disable=SC2086
  run "$shape-full" $args
  half=$(( $(capacity "$OUT/$shape-full.json") / 2 ))
  # shellcheck disable=SC2086
  run "$shape-half" $args --rate "$half"
done
grep -h "publish rate\|latency" "$OUT"/*.txt
