#!/usr/bin/env bash
# Realtime (SSE) figures on the local host, end to end (real components, PostgreSQL, Redis):
#   - latency from the API response of a task update to its SSE frame at the client
#     (p50/p99 over RT_BENCH_EVENTS sequential updates, default 1,000);
#   - RSS and CPU of the HTTP host process with RT_BENCH_IDLE_STREAMS idle open streams
#     (default 1,000; each holds one wasm instance and one Redis connection), CPU measured
#     over RT_BENCH_IDLE_SECONDS (default 30);
#   - the latency again (200 updates) while those streams are open.
#
#   bench/realtime.sh
#   RT_BENCH_IDLE_STREAMS=500 RT_BENCH_IDLE_SECONDS=60 bench/realtime.sh
#   HOST_PROFILE=debug bench/realtime.sh      # use target/debug/todo-host (no release build)
#
# The client, PostgreSQL, Redis and both hosts share the machine: figures are a floor.
# The benchmark itself is the ignored test `bench::bench_realtime_latency_and_idle_streams` in
# tests/e2e/tests/realtime/bench.rs; lines starting with RESULT are the figures.
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/lib.sh

HOST_PROFILE=${HOST_PROFILE:-release}
echo "== building (wasm components release, todo-host $HOST_PROFILE)"
cargo build --target wasm32-wasip2 --release -p backend-api -p realtime -p realtime-fanout
if [ "$HOST_PROFILE" = release ]; then
    cargo build --release -p todo-host
    export TODO_HOST_BIN="$PWD/target/release/todo-host"
else
    cargo build -p todo-host
fi
cargo test -p todo-e2e --test realtime --no-run

start_postgres
trap stop_postgres EXIT
export TEST_PG_URL="$PG_ADMIN_URL"

echo "== running"
log=$(mktemp)
status=0
cargo test -p todo-e2e --test realtime -- --ignored --exact --nocapture \
    bench::bench_realtime_latency_and_idle_streams >"$log" 2>&1 || status=$?
grep -E '^(RESULT|\[|opened|test |thread )' "$log" || true
if [ "$status" -ne 0 ]; then tail -40 "$log"; fi
rm -f "$log"
exit "$status"
