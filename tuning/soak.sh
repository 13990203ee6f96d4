#!/usr/bin/env bash
# Soak: warren under a steady load at half its measured capacity for DURATION seconds, while it is killed
# (kill -9) at random moments, its broker is restarted once, and its data dir is read-only for a while; at the
# end every point the broker confirmed to the publisher must be on disk with its exact value. Samples warren's
# RSS and committed points/s every second into a CSV and draws them (tuning/plot). Not part of CI.
#
#   tuning/soak.sh [--rate POINTS_PER_S] [--duration S] [--metrics N] [--kills N] [--out DIR]
#
# Needs root (chown for the private RabbitMQ node, chattr for the read-only window), Debian's rabbitmq-server.
# The machine's broker on 5672 is never touched: the soak runs its own node (own name, ports, mnesia and log
# dirs in a temp dir), and that is the node it restarts. Everything started is stopped on exit (trap).
# See tuning/README.md, "Soak".
set -euo pipefail

DURATION=900 RATE="" METRICS=1000 KILLS=4 OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rate) RATE=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --metrics) METRICS=$2; shift 2 ;;
        --kills) KILLS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        *) echo "usage: $0 [--rate POINTS_PER_S] [--duration S] [--metrics N] [--kills N] [--out DIR]" >&2; exit 2 ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-tuning/results/soak-$(date -u +%Y%m%d)}
[ "$(id -u)" = 0 ] || { echo "soak: run as root (chown of the private node's dir, chattr +i)" >&2; exit 2; }
for t in rabbitmq-server rabbitmqctl chattr; do
    command -v "$t" >/dev/null || { echo "soak: $t not found" >&2; exit 2; }
done

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

nice -n 10 cargo build -q --release --bin warren
nice -n 10 cargo build -q --release --example soak
WARREN=$ROOT/target/release/warren
SOAK=$ROOT/target/release/examples/soak
mkdir -p "$OUT"

WORK=$(mktemp -d /tmp/warren-soak.XXXXXX)
chmod 755 "$WORK"  # the rabbitmq user must reach the node's dir below
DATA=$WORK/data BROKER=$WORK/broker
mkdir -p "$DATA" "$BROKER/mnesia" "$BROKER/log"
NODE="soak$$x${RANDOM}@localhost"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT=$(free_port) DIST=$(free_port)
URL="amqp://guest:guest@127.0.0.1:$PORT/%2f"
SAMPLER="" PUBLISHER="" WARREN_PID=""

broker_pid() {  # the node's VM pid, only while its pid file names a process that is still this node
    local pid
    pid=$(cat "$BROKER/pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$NODE" && echo "$pid"
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    for p in $SAMPLER $PUBLISHER $WARREN_PID; do kill -9 "$p" 2>/dev/null; done
    chattr -R -i "$DATA" 2>/dev/null
    rabbitmqctl -q -n "$NODE" stop >/dev/null 2>&1
    local pid
    if pid=$(broker_pid); then sleep 1; pid=$(broker_pid) && kill -9 "$pid"; fi
    wait 2>/dev/null
    rm -rf "$WORK"
    log "cleaned up ($WORK, node $NODE)"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the private RabbitMQ node (recipe of tests/common/private_broker.rs) ---
echo "listeners.tcp.default = 127.0.0.1:$PORT" >"$BROKER/rabbitmq.conf"
echo "[]." >"$BROKER/enabled_plugins"
cat >"$BROKER/env.conf" <<EOF
NODENAME=$NODE
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=$PORT
DIST_PORT=$DIST
CONFIG_FILE=$BROKER/rabbitmq
MNESIA_BASE=$BROKER/mnesia
LOG_BASE=$BROKER/log
PID_FILE=$BROKER/pid
ENABLED_PLUGINS_FILE=$BROKER/enabled_plugins
ERL_EPMD_ADDRESS=127.0.0.1
EOF
chown -R rabbitmq:rabbitmq "$BROKER"
broker_start() {
    RABBITMQ_CONF_ENV_FILE=$BROKER/env.conf rabbitmq-server -detached
    local i
    for i in $(seq 120); do
        if rabbitmqctl -q -n "$NODE" await_startup >/dev/null 2>&1 && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        sleep 1
    done
    log "private node $NODE did not start; logs in $BROKER/log"; return 1
}
broker_stop() {
    local pid
    pid=$(broker_pid) || true
    rabbitmqctl -q -n "$NODE" stop >/dev/null
    while [ -n "$pid" ] && [ -e "/proc/$pid" ]; do sleep 0.2; done
}
queue_messages() {  # ready + unacked messages of the soak queue
    rabbitmqctl -q -n "$NODE" list_queues name messages 2>/dev/null | awk '$1 == "soak" { print $2 }'
}
log "starting private node $NODE on 127.0.0.1:$PORT"
broker_start
log "private node up"

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
COMMIT=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src tuning || echo "-dirty")

# --- capacity: warren bench body-100, steady state (files exist), against the private node ---
if [ -z "$RATE" ]; then
    log "measuring capacity: warren bench body-100 ($METRICS metrics x 2000 points), once to create the files, once measured"
    for pass in create measure; do
        "$WARREN" bench body-100 --url "$URL" --metrics "$METRICS" --points 2000 --no-ceiling \
            --reuse-dir "$WORK/capacity" --json "$OUT/capacity-$pass.json" >"$WORK/capacity-$pass.txt" 2>&1 \
            || { cat "$WORK/capacity-$pass.txt" >&2; exit 1; }
    done
    CAPACITY=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int([r for r in d["rows"] if r["system"]=="warren"][0]["points_per_sec"]))' "$OUT/capacity-measure.json")
    RATE=$((CAPACITY / 2))
    rm -rf "$WORK/capacity"
    log "capacity $CAPACITY points/s: soak rate $RATE points/s"
else
    CAPACITY="not measured (--rate given)"
fi

# --- warren ---
POINTS=$((RATE * DURATION * 105 / 100 / METRICS + 2))
RETENTION=$((POINTS + 7200))
NEED_MB=$((METRICS * RETENTION * 12 / 1048576 + 512))
FREE_MB=$(df -Pm "$WORK" | awk 'NR == 2 { print $4 }')
[ "$FREE_MB" -gt $((NEED_MB + 4096)) ] || { log "need ${NEED_MB} MB (+4 GB spare) in $WORK, have ${FREE_MB} MB: lower --rate"; exit 1; }
cat >"$WORK/storage-schemas.conf" <<EOF
[soak]
pattern = ^soak\.
retentions = 1s:$RETENTION

[default]
pattern = .*
retentions = 60s:1d
EOF
cat >"$WORK/warren.toml" <<EOF
instance = "soak"
data_dir = "$DATA"
storage_schemas = "$WORK/storage-schemas.conf"

[amqp]
url = "$URL"
exchange = "soak"
queue = "soak"
bind_patterns = ["#"]
metric_name_in_body = true
max_reconnect_delay_secs = 2

[receivers]
enabled = false

[query]
carbonlink = ""
http = ""
EOF
RUN=0
start_warren() {
    RUN=$((RUN + 1))
    RUST_LOG=warn "$WARREN" cache --config "$WORK/warren.toml" --stats-every-ms 250 \
        >"$WORK/stats-$RUN.jsonl" 2>>"$WORK/warren.log" &
    WARREN_PID=$!
    echo "$RUN $WARREN_PID" >"$WORK/warren.cur.tmp" && mv "$WORK/warren.cur.tmp" "$WORK/warren.cur"
}
counter() {  # counter NAME: the latest value of the running warren's counter
    local run
    run=$(cut -d' ' -f1 "$WORK/warren.cur")
    tail -n1 "$WORK/stats-$run.jsonl" 2>/dev/null | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

T0=$(date +%s)
EVENTS=$OUT/events.tsv
echo -e "t_s\tevent" >"$EVENTS"
event() { echo -e "$(($(date +%s) - T0))\t$*" >>"$EVENTS"; log "event: $*"; }

# --- the sampler: one CSV row a second ---
CSV=$OUT/soak.csv
sampler() {
    local prev_run="" prev=0 run pid rss c conf pps err cache now_ns line
    echo "t_s,warren_run,rss_kb,committed_points,points_per_s,errors,cache_size,confirmed_points,load1" >"$CSV"
    while :; do
        now_ns=$(date +%s%N)
        sleep "$(printf '0.%09d' $((1000000000 - now_ns % 1000000000)))"  # to the next whole second
        read -r run pid <"$WORK/warren.cur" || continue
        rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        line=$(tail -n1 "$WORK/stats-$run.jsonl" 2>/dev/null || true)
        c=$(sed -n 's/.*"committed_points":\([0-9]*\).*/\1/p' <<<"$line")
        err=$(sed -n 's/.*"errors":\([0-9]*\).*/\1/p' <<<"$line")
        cache=$(sed -n 's/.*"cache_size":\([0-9]*\).*/\1/p' <<<"$line")
        conf=$(sed -n 's/.*"confirmed_points":\([0-9]*\).*/\1/p' "$WORK/state.json" 2>/dev/null || true)
        c=${c:-0}
        if [ "$run" != "$prev_run" ]; then prev=0; prev_run=$run; fi
        pps=$((c >= prev ? c - prev : c))
        prev=$c
        echo "$(($(date +%s) - T0)),$run,${rss:-0},$c,$pps,${err:-0},${cache:-0},${conf:-0},$(cut -d' ' -f1 /proc/loadavg)" >>"$CSV"
    done
}

start_warren
event "warren started (run $RUN, pid $WARREN_PID)"
sampler &
SAMPLER=$!
"$SOAK" publish --url "$URL" --metrics "$METRICS" --rate "$RATE" --duration "$DURATION" \
    --state "$WORK/state.json" 2>"$WORK/publisher.log" &
PUBLISHER=$!
event "publisher started: $RATE points/s for $DURATION s, $METRICS metrics, 100 points per message"

# --- the schedule: kills at random moments in their slots; broker restart at 40 %; read-only from 68 % to 76 % ---
at() { echo $((T0 + DURATION * $1 / 100)); }
SCHEDULE=()
SLOTS=(8 18 25 35 48 62 80 90)
for i in $(seq 0 $((KILLS - 1))); do
    lo=${SLOTS[$(((2 * i) % 8))]} hi=${SLOTS[$(((2 * i + 1) % 8))]}
    SCHEDULE+=("$((T0 + DURATION * lo / 100 + RANDOM % (DURATION * (hi - lo) / 100 + 1))) kill")
done
SCHEDULE+=("$(at 40) broker-restart" "$(at 68) ro-start" "$(at 76) ro-end")
mapfile -t SCHEDULE < <(printf '%s\n' "${SCHEDULE[@]}" | sort -n)

UNEXPECTED=0 KILLED=0 RO_ERRORS="" RO_OK=0
keep_warren_alive() {  # restart warren if it died without being killed by us
    if ! kill -0 "$WARREN_PID" 2>/dev/null; then
        local rc=0
        wait "$WARREN_PID" || rc=$?
        UNEXPECTED=$((UNEXPECTED + 1))
        event "warren run $RUN exited UNEXPECTEDLY (status $rc); restarting"
        start_warren
    fi
}
wait_until() {
    while [ "$(date +%s)" -lt "$1" ]; do
        keep_warren_alive
        sleep 1
    done
}
for item in "${SCHEDULE[@]}"; do
    read -r when what <<<"$item"
    wait_until "$when"
    case "$what" in
        kill)
            kill -9 "$WARREN_PID"
            wait "$WARREN_PID" 2>/dev/null || true
            KILLED=$((KILLED + 1))
            event "kill -9 warren (run $RUN, pid $WARREN_PID, rss $(tail -n1 "$CSV" | cut -d, -f3) kB)"
            sleep 1
            start_warren
            event "warren restarted (run $RUN, pid $WARREN_PID)"
            ;;
        broker-restart)
            event "private broker: rabbitmqctl stop"
            broker_stop
            event "private broker stopped; starting"
            broker_start
            event "private broker up again"
            ;;
        ro-start)
            before=$(counter errors)
            before=${before:-0}
            chattr -R +i "$DATA"
            event "data dir read-only (chattr -R +i; warren errors counter $before)"
            for _ in $(seq 60); do
                now=$(counter errors)
                if [ "${now:-0}" -gt "${before:-0}" ]; then RO_OK=1; break; fi
                sleep 1
            done
            RO_ERRORS="${before:-0} -> ${now:-0}"
            event "warren errors counter $RO_ERRORS ($([ $RO_OK = 1 ] && echo 'writes fail, as they must' || echo 'NO WRITE FAILED'))"
            ;;
        ro-end)
            chattr -R -i "$DATA"
            event "data dir writable again (chattr -R -i; errors counter $(counter errors))"
            ;;
    esac
done

# --- the end: publisher done (every outstanding confirm in), queue drained, warren stopped cleanly ---
while kill -0 "$PUBLISHER" 2>/dev/null; do keep_warren_alive; sleep 1; done
wait "$PUBLISHER" || { log "the publisher failed"; cat "$WORK/publisher.log" >&2; exit 1; }
PUBLISHER=""
event "publisher done: $(tail -n1 "$WORK/publisher.log")"
DRAIN_START=$(date +%s)
while :; do
    keep_warren_alive
    m=$(queue_messages)
    [ "$m" = 0 ] && break
    [ $(($(date +%s) - DRAIN_START)) -lt 900 ] || { log "queue not drained after 900 s ($m messages)"; exit 1; }
    sleep 2
done
event "queue drained ($(($(date +%s) - DRAIN_START)) s after the publisher finished)"
sleep 2
kill "$SAMPLER"; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""
kill -TERM "$WARREN_PID"
wait "$WARREN_PID" || { log "warren exited with an error on SIGTERM"; exit 1; }
WARREN_PID=""
event "warren stopped (SIGTERM, cache flushed)"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- verification, plot, summary ---
VERIFY_RC=0
"$SOAK" verify --state "$WORK/state.json" --data-dir "$DATA" --json "$OUT/verify.json" | tee "$WORK/verify.txt" || VERIFY_RC=$?
cp "$WORK/state.json" "$OUT/publisher-state.json"
grep -v '^\s*$' "$WORK/warren.log" | tail -n 40 >"$OUT/warren-log-tail.txt" || true
nice -n 10 cargo run -q --release --manifest-path tuning/plot/Cargo.toml -- soak "$CSV" --events "$EVENTS" \
    --out "$OUT/soak.png" >"$WORK/plot.txt"
{
    echo "commit: $COMMIT"
    echo "command: tuning/soak.sh --duration $DURATION --metrics $METRICS --kills $KILLS${RATE:+ (rate $RATE)}"
    echo "started: $(date -u -d "@$T0" +%FT%TZ); load average at start $LOAD_START, at end $LOAD_END (2 cores)"
    echo "capacity (warren bench body-100, steady, private node): $CAPACITY points/s; soak rate: $RATE points/s"
    echo "duration: $DURATION s of publishing; kill -9 of warren: $KILLED; unexpected warren exits: $UNEXPECTED;"
    echo "  warren runs: $RUN; private broker restarts: 1; read-only window: errors counter $RO_ERRORS"
    echo "publisher: $(tail -n1 "$WORK/publisher.log")"
    echo "confirmed points / publishing time: $(($(sed -n 's/.*"confirmed_points":\([0-9]*\).*/\1/p' "$WORK/state.json") / DURATION)) points/s (target $RATE)"
    cat "$WORK/verify.txt"
    cat "$WORK/plot.txt"
} | tee "$OUT/summary.txt"
[ "$VERIFY_RC" = 0 ] && [ "$RO_OK" = 1 ] && [ "$UNEXPECTED" = 0 ] || { log "SOAK FAILED"; exit 1; }
log "soak passed; results in $OUT"
