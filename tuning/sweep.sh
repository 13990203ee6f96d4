#!/usr/bin/env bash
# Tuning sweep of warren: runs `warren bench` over a small grid of knobs against the RabbitMQ at 127.0.0.1:5672 and
# writes one JSON per run under tuning/results/<timestamp>/ (plus loadavg.tsv: the load average around each run).
#
#   tuning/sweep.sh                      # ~12-15 min on a 2-core box
#   REPS=1 tuning/sweep.sh               # one repetition per point (~5 min)
#   cargo run --release --manifest-path tuning/plot/Cargo.toml -- tuning/results/<timestamp>
#
# Grid (every point in steady state: each scenario's whisper tree is created by one warm-up run first, and every
# measured run rewrites the same points into the existing files with --reuse-dir):
#   pf-body-100   prefetch {500,2000,10000,30000} x workers {1,2}, body-100 (5000 metrics x $BODY_POINTS points)
#   pf-rk-1       prefetch {500,2000,10000,30000} x workers {1,2}, rk-1     (5000 metrics x $RK_POINTS points)
#   strategy      {sorted,max,naive,timesorted} at workers 2, prefetch 10000, ring 1024, on body-100
#   ring          ring capacity {64,1024} at workers 2, prefetch 10000, sorted, on body-100
# Repetitions are the outer loop, so slow drift of the machine's load spreads over all points alike.
#
# Environment: REPS (3), BODY_POINTS (1000: 50000 messages, more than 1 x 30000 prefetch), RK_POINTS (20: 100000
# messages), WARREN (target/release/warren), WORK (scratch dir for the whisper trees, removed at the end), URL.
set -euo pipefail

cd "$(dirname "$0")/.."
REPS=${REPS:-3}
BODY_POINTS=${BODY_POINTS:-1000}
RK_POINTS=${RK_POINTS:-20}
METRICS=${METRICS:-5000}
WARREN=${WARREN:-target/release/warren}
URL=${URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
TS=$(date -u +%Y%m%dT%H%M%SZ)
OUT=tuning/results/$TS
WORK=${WORK:-$(mktemp -d /tmp/warren-tuning.XXXXXX)}
trap 'rm -rf "$WORK"' EXIT

if [[ ! -x $WARREN ]]; then
    cargo build --release --bin warren
fi
mkdir -p "$OUT"
printf 'run\tstart_load1\tstart_load5\tstart_load15\tend_load1\tend_load5\tend_load15\tseconds\tstatus\n' >"$OUT/loadavg.tsv"
{
    echo "date: $TS"
    echo "host: $(uname -n) $(uname -r), $(nproc) cores"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "warren: $WARREN"
    echo "reps: $REPS, metrics: $METRICS, body-100 points: $BODY_POINTS, rk-1 points: $RK_POINTS"
    echo "uptime at start: $(uptime)"
} >"$OUT/meta.txt"

PREFETCHES=(500 2000 10000 30000)
WORKERS=(1 2)
STRATEGIES=(sorted max naive timesorted)
RINGS=(64 1024)

# The list of measured points: "name|scenario|args".
POINTS=()
for w in "${WORKERS[@]}"; do
    for pf in "${PREFETCHES[@]}"; do
        POINTS+=("pf-body-100-w$w-p$pf|body-100|--workers $w --prefetch $pf")
        POINTS+=("pf-rk-1-w$w-p$pf|rk-1|--workers $w --prefetch $pf")
    done
done
for s in "${STRATEGIES[@]}"; do
    POINTS+=("strategy-$s|body-100|--workers 2 --prefetch 10000 --strategy $s")
done
for r in "${RINGS[@]}"; do
    POINTS+=("ring-$r|body-100|--workers 2 --prefetch 10000 --ring-capacity $r")
done

size_args() {
    case $1 in
        body-100) echo "--metrics $METRICS --points $BODY_POINTS" ;;
        rk-1) echo "--metrics $METRICS --points $RK_POINTS" ;;
    esac
}

load3() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' '\t'; }

# run NAME SCENARIO ARGS...: one bench run, JSON to $OUT/NAME.json, one progress line.
run() {
    local name=$1 scenario=$2
    shift 2
    local before t0 status=ok
    before=$(load3)
    t0=$(date +%s.%N)
    # shellcheck disable=SC2046
    if ! "$WARREN" bench "$scenario" $(size_args "$scenario") --url "$URL" --reuse-dir "$WORK/$scenario" \
        --timeout 300 --quiet --json "$OUT/$name.json" "$@" >"$OUT/$name.log" 2>&1; then
        status=FAIL
    fi
    local secs
    secs=$(echo "$(date +%s.%N) - $t0" | bc)
    printf '%s\t%s\t%s\t%.1f\t%s\n' "$name" "$before" "$(load3)" "$secs" "$status" >>"$OUT/loadavg.tsv"
    if [[ -s $OUT/$name.json ]]; then
        jq -r --arg n "$name" --arg l "$(cut -d' ' -f1 /proc/loadavg)" --arg st "$status" --arg s "$secs" \
            '.rows[0] as $r | "\($n): \($r.points_per_sec | floor) points/s, ratio \($r.ratio_to_ceiling // 0 | . * 100 | floor) %, p99 \($r.latency_receive.p99_ms // "-") ms, ceiling \(.ceiling.drain_points_per_sec // 0 | floor) points/s, \($s | tonumber | floor) s, load1 \($l), \($st)"' \
            "$OUT/$name.json"
    else
        echo "$name: no JSON ($status), see $OUT/$name.log"
    fi
}

echo "sweep → $OUT ($(( ${#POINTS[@]} * REPS )) runs + 2 warm-ups); $(uptime)"
for scenario in body-100 rk-1; do
    echo -n "warm-up $scenario (creates the whisper tree): "
    run "warmup-$scenario" "$scenario" --no-ceiling
done
total=$(( ${#POINTS[@]} * REPS ))
i=0
for rep in $(seq 1 "$REPS"); do
    for p in "${POINTS[@]}"; do
        IFS='|' read -r name scenario args <<<"$p"
        i=$((i + 1))
        echo -n "[$i/$total] rep $rep "
        # shellcheck disable=SC2086
        run "$name-r$rep" "$scenario" $args
    done
done
echo "uptime at end: $(uptime)" >>"$OUT/meta.txt"
echo "done: $OUT; $(uptime)"
echo "plot: cargo run --release --manifest-path tuning/plot/Cargo.toml -- $OUT"
