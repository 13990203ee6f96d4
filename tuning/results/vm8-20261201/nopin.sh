#!/bin/bash
args=("$@"); cfg=""
for ((i=0;i<${#args[@]};i++)); do [ "${args[$i]}" = "--config" ] && cfg=${args[$((i+1))]}; done
sed -i 's/^\[amqp\]$/[amqp]\npin_threads = false/' "$cfg"
exec $R/warren-base "$@"
