#!/usr/bin/env bash
# Reminder benchmarks (notification-service), on demand:
#  1. lateness `notification.createdAt - reminderAt` (p50/p99/max) over BENCH_REMINDERS
#     (default 600) reminders armed through the API and fired by the real cron trigger
#     (`*/5 * * * * *`), plus the part beyond the cadence (time after the first tick due);
#  2. one sweep's duration (3 rounds) with BENCH_PENDING (default 100,000) pending reminders of
#     which BENCH_DUE (default 1,000) are due, driven through the sweep route.
# Both are `#[ignore]`d tests in tests/e2e/tests/reminders/bench.rs, run against a throw-away
# PostgreSQL (started here unless TEST_PG_URL is set), on the release build of the host.
#
#   bench/reminders.sh
#   BENCH_REMINDERS=1000 BENCH_PENDING=200000 BENCH_DUE=2000 bench/reminders.sh
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$REPO_ROOT"

ensure_tools
build_wasm
log "building the host (release) and the tests"
cargo build --release -p todo-host
cargo test -p todo-e2e --test reminders --no-run

if [ -z "${TEST_PG_URL:-}" ]; then
  PG_EXTRA_OPTS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  start_postgres
  trap stop_postgres EXIT
  export TEST_PG_URL="$PG_ADMIN_URL"
fi
export TODO_HOST_BIN="$REPO_ROOT/target/release/todo-host"

log "running the benchmarks (one at a time)"
cargo test -p todo-e2e --test reminders -- --ignored --test-threads 1 --nocapture bench_ 2>&1 \
  | grep -E '^(BENCH|  |test |test result)' 
