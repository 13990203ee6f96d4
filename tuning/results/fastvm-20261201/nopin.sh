#!/bin/bash
# Used as `warren bench ... --warren-bin nopin.sh`: runs $WARREN with the bench's config plus
# `[amqp] pin_threads = false`.
args=("$@"); cfg=""
for ((i=0;i<${#args[@]};i++)); do [ "${args[$i]}" = "--config" ] && cfg=${args[$((i+1))]}; done
sed -i 's/^\[amqp\]$/[amqp]\npin_threads = false/' "$cfg"
exec "$WARREN" "$@"
