#!/usr/bin/env bash
# Start-up of the local host with the whole application (every component of spin.toml), from
# launch to `todo-host: ready`: cold (a fresh compilation cache: every component compiled) and
# warm (every component loaded from wasmtime's compilation cache). Medians of RUNS starts each.
#
#   bench/startup.sh                            # target/debug/todo-host (what the tests run), 5 runs
#   HOST=target/release/todo-host RUNS=9 bench/startup.sh
#
# Needs the components built (scripts/build-wasm) and redis-server (the Redis trigger connects
# at start-up); PostgreSQL is not needed (nothing connects to it before a request).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$REPO_ROOT"

HOST=${HOST:-target/debug/todo-host}
RUNS=${RUNS:-5}
[ -x "$HOST" ] || { echo "$HOST is missing: cargo build -p todo-host" >&2; exit 1; }

work=$(mktemp -d)
host_pid=""
cleanup() {
  if [ -n "$host_pid" ]; then kill "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; fi
  stop_redis
  rm -rf "$work"
}
trap cleanup EXIT
start_redis >/dev/null 2>&1 </dev/null

now_ms() { date +%s%3N; }

# One start with the cache in $1; prints the milliseconds from launch to readiness.
start_once() {
  local log="$work/host.log" t0
  : > "$log"
  t0=$(now_ms)
  TODO_HOST_CACHE_DIR="$1" TODO_HOST_LOG=warn \
    SPIN_VARIABLE_DB_URL=postgres://nobody@127.0.0.1:1/none \
    SPIN_VARIABLE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    SPIN_VARIABLE_REDIS_HOST="127.0.0.1:$REDIS_PORT" \
    "$HOST" up -f spin.toml --listen 127.0.0.1:0 > "$log" 2>&1 &
  host_pid=$!
  until grep -q "todo-host: ready" "$log"; do
    if ! kill -0 "$host_pid" 2>/dev/null; then cat "$log" >&2; echo "host exited" >&2; exit 1; fi
    sleep 0.005
  done
  echo $(( $(now_ms) - t0 ))
  kill "$host_pid"; wait "$host_pid" 2>/dev/null || true; host_pid=""
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

cold=()
for i in $(seq "$RUNS"); do cold+=("$(start_once "$work/cold-$i")"); done
warm_dir="$work/warm"
start_once "$warm_dir" >/dev/null
warm=()
for i in $(seq "$RUNS"); do warm+=("$(start_once "$warm_dir")"); done

components=$(grep -c '^\[component\.[a-z-]*\]$' spin.toml)
echo "host: $HOST; $components components; $RUNS runs each; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cold (compiled)        ms: ${cold[*]}  median $(printf '%s\n' "${cold[@]}" | median)"
echo "warm (from the cache)  ms: ${warm[*]}  median $(printf '%s\n' "${warm[@]}" | median)"
