#!/usr/bin/env bash
# Load the API of a real `tandem serve` on the shop example with wrk
# (apt-get install wrk): GET a node and GET a finished run, 50 connections.
# Usage: scripts/bench-api-wrk.sh [seconds] [wrk threads]
# Pin each to its own core: SERVER_PREFIX="taskset -c 0" WRK_PREFIX="taskset -c 1" scripts/bench-api-wrk.sh 10 1
set -euo pipefail
secs=${1:-10}
threads=${2:-1} # wrk threads; one leaves the other core to the server
cd "$(dirname "$0")/.."
go build -o /tmp/tandem-bench ./cmd/tandem
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
/tmp/tandem-bench init --example shop "$dir/shop" >/dev/null
/tmp/tandem-bench build --project-dir "$dir/shop" >/dev/null
token=$(/tmp/tandem-bench token create --role viewer --project-dir "$dir/shop" 2>/dev/null)
run=$(/tmp/tandem-bench runs --project-dir "$dir/shop" -o json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)
${SERVER_PREFIX:-} /tmp/tandem-bench serve --project-dir "$dir/shop" --addr 127.0.0.1:18181 2>/dev/null &
pid=$!
until curl -sf 127.0.0.1:18181/healthz >/dev/null; do sleep 0.1; done
for path in /api/v1/nodes/orders /api/v1/runs/$run; do
  echo "== GET $path"
  wrk -t$threads -c50 -d2s -H "Authorization: Bearer $token" "http://127.0.0.1:18181$path" >/dev/null # warm up
  ${WRK_PREFIX:-} wrk -t$threads -c50 -d${secs}s --latency -H "Authorization: Bearer $token" "http://127.0.0.1:18181$path" | sed -n '/Latency Distribution/,/Transfer/p'
done
