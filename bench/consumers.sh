#!/usr/bin/env bash
# Event consumer and outbox relay figures on the local host, end to end (real components,
# PostgreSQL, Redis):
#   - time from the API response of a completion (PATCH .../complete) of a recurring task to
#     its successor row existing, and to the audit row of its task-completed event
#     (p50/p99 over BENCH_COMPLETIONS sequential completions, default 200; polled every
#     query round trip, ~1 ms);
#   - how long the outbox relay takes to drain BENCH_BACKLOG unpublished events (default
#     10,000): through back-to-back calls of the sweep route, and by the cron trigger alone
#     (every 5 s, 2 s budget per tick).
#
#   bench/consumers.sh
#   BENCH_COMPLETIONS=500 BENCH_BACKLOG=50000 bench/consumers.sh
#   HOST_PROFILE=debug bench/consumers.sh      # use target/debug/todo-host (no release build)
#
# The client, PostgreSQL, Redis and the hosts share the machine: figures are a floor.
# The benchmark itself is the ignored test `bench::bench_consumers` in tests/e2e/tests/consumers/bench.rs;
# lines starting with RESULT are the figures.
set -euo pipefail

cd "$(dirname "$0")/.."
source scripts/lib.sh

HOST_PROFILE=${HOST_PROFILE:-release}
echo "== building (wasm components release, todo-host $HOST_PROFILE)"
cargo build --target wasm32-wasip2 --release -p backend-api -p realtime -p audit-service -p recurring-service -p outbox-relay
if [ "$HOST_PROFILE" = release ]; then
    cargo build --release -p todo-host
    export TODO_HOST_BIN="$PWD/target/release/todo-host"
else
    cargo build -p todo-host
fi
cargo test -p todo-e2e --test consumers --no-run

start_postgres
trap stop_postgres EXIT
export TEST_PG_URL="$PG_ADMIN_URL"

echo "== running"
log=$(mktemp)
status=0
cargo test -p todo-e2e --test consumers -- --ignored --exact --nocapture bench::bench_consumers >"$log" 2>&1 || status=$?
grep -E '^(RESULT|test |thread )' "$log" || true
if [ "$status" -ne 0 ]; then tail -40 "$log"; fi
rm -f "$log"
exit "$status"
