# Sourced by .ci/run and .ci/cache: install what is missing, start RabbitMQ if it is not answering.
# Idempotent and quiet when everything is already there.

ci_apt_updated=0
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    if [ "$ci_apt_updated" = 0 ]; then apt-get update -qq; ci_apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

broker_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

ensure_rabbitmq() {
  ensure_packages rabbitmq-server
  if ! broker_up; then
    echo "starting rabbitmq-server"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 1 120); do broker_up && break; sleep 1; done
    broker_up || { echo "RabbitMQ did not come up on 127.0.0.1:5672" >&2; return 1; }
    # The port opens before the broker accepts logins; wait for the app itself.
    for _ in $(seq 1 60); do rabbitmqctl -q await_startup >/dev/null 2>&1 && break; sleep 1; done
  fi
  # The consistent-hash exchange (cluster partitioning by hash) is a plugin shipped with the broker.
  rabbitmq-plugins list -e 2>/dev/null | grep -q rabbitmq_consistent_hash_exchange ||
    rabbitmq-plugins enable rabbitmq_consistent_hash_exchange >/dev/null
}

ensure_cargo() {
  command -v cargo >/dev/null || { [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"; }
  command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; return 1; }
}

# Every vhost, exchange and queue on the local broker, one "kind vhost name" line each, sorted: .ci/run compares
# the lists before and after the tests, so a test that leaves what it declared fails the run.
broker_objects() {
  local vh
  rabbitmqctl -q list_vhosts name --no-table-headers | while read -r vh; do
    [ -n "$vh" ] || continue
    echo "vhost $vh"
    rabbitmqctl -q list_exchanges -p "$vh" name --no-table-headers | sed -e '/^$/d' -e "s|^|exchange $vh |"
    rabbitmqctl -q list_queues -p "$vh" name --no-table-headers | sed -e '/^$/d' -e "s|^|queue $vh |"
  done | sort
}
