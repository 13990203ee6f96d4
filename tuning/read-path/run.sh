#!/usr/bin/env bash
# Read-path benchmark: warren's /render (graphite-web's cluster protocol, pickle) against go-carbon's carbonserver
# over the same whisper files, side by side in one run (driver.py alternates rounds between them).
#
#   GO_CARBON=/path/to/go-carbon tuning/read-path/run.sh [SERIES=1000] [CLIENTS=4] [SECONDS=10] [ROUNDS=2]
#
# Both serve files only (warren with no input; go-carbon with every receiver off), so the render is the whole
# work: glob the 1,000 files, read one day (1,440 points) from each, pickle. go-carbon's query and find caches are
# turned off: a cached answer is not a render. Results go to tuning/read-path/results/<date>.json.
set -euo pipefail
series=${1:-1000} clients=${2:-4} seconds=${3:-10} rounds=${4:-2}
: "${GO_CARBON:?set GO_CARBON to a go-carbon binary (0.19.1 was measured)}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

(cd "$root" && cargo build --release --quiet)
/usr/bin/python3 "$here/driver.py" make-tree "$work/whisper" "$series"

wport=$(port) gport=$(port)
cat > "$work/warren.toml" <<EOF
data_dir = "$work/whisper"
[amqp]
enabled = false
[receivers]
enabled = false
[stats]
metric_interval_secs = 0
[query]
carbonlink = ""
http = "127.0.0.1:$wport"
EOF
"$root/target/release/warren" cache --config "$work/warren.toml" 2>"$work/warren.log" &
pids+=($!)

printf '[default]\npattern = .*\nretentions = 60s:2d\n' > "$work/schemas.conf"
"$GO_CARBON" -config-print-default | /usr/bin/python3 -c '
import re, sys
work, port = sys.argv[1], sys.argv[2]
text = sys.stdin.read()
section = None
out = []
for line in text.splitlines():
    m = re.match(r"^\[+([^\]]+)\]+$", line)
    if m:
        section = m.group(1)
    key = line.split("=")[0].strip()
    if section == "common" and key == "user": line = "user = \"\""
    if section == "common" and key == "max-cpu": line = "max-cpu = 2"
    if section == "common" and key == "metric-interval": line = "metric-interval = \"1h\""
    if section == "whisper" and key == "data-dir": line = "data-dir = \"%s/whisper/\"" % work
    if section == "whisper" and key == "schemas-file": line = "schemas-file = \"%s/schemas.conf\"" % work
    if section == "whisper" and key == "workers": line = "workers = 2"
    if section in ("udp", "tcp", "pickle", "carbonlink", "grpc") and key == "enabled": line = "enabled = false"
    if section == "carbonserver" and key == "enabled": line = "enabled = true"
    if section == "carbonserver" and key == "listen": line = "listen = \"127.0.0.1:%s\"" % port
    if section == "carbonserver" and key == "scan-frequency": line = "scan-frequency = \"1s\""
    if section == "carbonserver" and key in ("query-cache-enabled", "find-cache-enabled"): line = key + " = false"
    if section == "logging" and key == "level": line = "level = \"warn\""
    out.append(line)
print("\n".join(out))
' "$work" "$gport" > "$work/go-carbon.conf"
"$GO_CARBON" -config "$work/go-carbon.conf" >"$work/go-carbon.log" 2>&1 &
pids+=($!)

# Both ready: every series found.
q="/metrics/find/?format=json&query=bench.*.*"
for _ in $(seq 1 300); do
  a=$(curl -fs "http://127.0.0.1:$wport$q" | grep -oE '"(is_leaf|isLeaf)"' | wc -l || true)
  b=$(curl -fs "http://127.0.0.1:$gport$q" | grep -oE '"(is_leaf|isLeaf)"' | wc -l || true)
  [ "$a" -ge "$series" ] && [ "$b" -ge "$series" ] && break
  sleep 0.2
done
echo "found: warren $a, go-carbon $b (of $series)" >&2

mkdir -p "$here/results"
out="$here/results/$(date -u +%Y%m%dT%H%M%SZ).json"
{
  echo "{\"command\": \"GO_CARBON=<go-carbon $("$GO_CARBON" -version 2>/dev/null | head -n 1)> tuning/read-path/run.sh $series $clients $seconds $rounds\","
  echo " \"uptime\": \"$(uptime)\", \"nproc\": $(nproc),"
  echo " \"result\":"
  /usr/bin/python3 "$here/driver.py" bench --server "warren=http://127.0.0.1:$wport" \
    --server "go-carbon=http://127.0.0.1:$gport" --clients "$clients" --seconds "$seconds" --rounds "$rounds"
  echo "}"
} > "$out"
cat "$out"
