#!/usr/bin/env bash
# Throughput of warren on a three-node RabbitMQ cluster with a quorum queue against a single node with a classic
# queue, in one run on this machine. Starts four private RabbitMQ nodes (three clustered, one alone: own node
# names, ports, data dirs; the machine's broker on 5672 is not touched), runs `warren bench` against each, and
# stops and removes every node at the end. Needs root (the nodes run as the rabbitmq user) and Debian's
# rabbitmq-server. Usage: tuning/rabbit-cluster/bench.sh [SCENARIO [extra warren bench args...]]
#   e.g. tuning/rabbit-cluster/bench.sh rk-1 --metrics 10000 --points 3
set -euo pipefail
scenario=${1:-rk-1}
shift || true
extra=("$@")
[ ${#extra[@]} -eq 0 ] && extra=(--metrics 10000 --points 3 --no-ceiling)
warren=${WARREN:-$(dirname "$0")/../../target/release/warren}
base=$(mktemp -d /tmp/warren-rqbench.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A port
nodes=(a b c s)
cleanup() {
  for n in "${nodes[@]}"; do
    rabbitmqctl -q -n "rqb$n$$@localhost" stop >/dev/null 2>&1 || true
    [ -f "$base/$n/pid" ] && kill -9 "$(cat "$base/$n/pid")" 2>/dev/null || true
  done
  rm -rf "$base"
}
trap cleanup EXIT
for n in "${nodes[@]}"; do
  p=$(free_port); d=$(free_port); port[$n]=$p
  mkdir -p "$base/$n/mnesia" "$base/$n/log"
  printf 'listeners.tcp.default = 127.0.0.1:%s\n' "$p" >"$base/$n/rabbitmq.conf"
  echo '[].' >"$base/$n/enabled_plugins"
  cat >"$base/$n/env.conf" <<EOT
NODENAME=rqb$n$$@localhost
NODE_IP_ADDRESS=127.0.0.1
NODE_PORT=$p
DIST_PORT=$d
CONFIG_FILE=$base/$n/rabbitmq
MNESIA_BASE=$base/$n/mnesia
LOG_BASE=$base/$n/log
PID_FILE=$base/$n/pid
ENABLED_PLUGINS_FILE=$base/$n/enabled_plugins
ERL_EPMD_ADDRESS=127.0.0.1
EOT
done
chown -R rabbitmq:rabbitmq "$base"
for n in "${nodes[@]}"; do RABBITMQ_CONF_ENV_FILE=$base/$n/env.conf rabbitmq-server -detached; done
# await_startup fails until the VM has registered with epmd: poll.
await() { for _ in $(seq 1 120); do rabbitmqctl -q -n "$1" await_startup >/dev/null 2>&1 && return 0; sleep 1; done; return 1; }
for n in "${nodes[@]}"; do await "rqb$n$$@localhost"; done
for n in b c; do
  rabbitmqctl -q -n "rqb$n$$@localhost" stop_app
  rabbitmqctl -q -n "rqb$n$$@localhost" join_cluster "rqba$$@localhost"
  rabbitmqctl -q -n "rqb$n$$@localhost" start_app
done
for n in a b c; do await "rqb$n$$@localhost"; done
rabbitmqctl -q -n "rqba$$@localhost" cluster_status | grep -c "rqb[abc]$$@localhost" >/dev/null
url() { echo "amqp://guest:guest@127.0.0.1:${port[$1]}/%2f"; }
echo "== load before: $(uptime)"
echo "== single node, classic queue"
"$warren" bench "$scenario" --url "$(url s)" --queue-type classic --quiet "${extra[@]}"
echo "== load: $(uptime)"
echo "== three-node cluster, quorum queue (warren and the publisher on node a)"
"$warren" bench "$scenario" --url "$(url a)" --queue-type quorum --quiet "${extra[@]}"
echo "== load after: $(uptime)"
