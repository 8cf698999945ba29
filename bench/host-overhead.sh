#!/usr/bin/env bash
# Overhead of the local host (todo-host): start-up time (cold = compiling the component,
# warm = compiled artefact cached on disk) and requests/s with p50/p99 latency of a trivial
# HTTP component (fixture-http `?op=hello`) at 32 concurrent connections, measured with wrk.
#
#   bench/host-overhead.sh                 # 10 s run, 32 connections, 2 wrk threads
#   DURATION=30s CONNECTIONS=64 bench/host-overhead.sh
#
# Note: wrk runs on the same machine as the host, so on a small machine the two compete for
# the same cores; the figures are a floor, not a ceiling.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}

if ! command -v wrk >/dev/null; then
    echo "wrk is not installed: apt-get install -y wrk" >&2
    exit 1
fi

echo "== building (release)"
cargo build --release -p todo-host
cargo build --release --target wasm32-wasip2 -p fixture-http

work=$(mktemp -d)
host_pid=""
cleanup() {
    if [ -n "$host_pid" ]; then kill "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

wasm="$PWD/target/wasm32-wasip2/release/fixture_http.wasm"
cat > "$work/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "bench"
[[trigger.http]]
route = "/..."
component = "trivial"
[component.trivial]
source = "$wasm"
TOML

now_ms() { date +%s%3N; }

# Starts the host, waits for readiness; sets host_pid, base_url and startup_ms.
start_host() {
    local log="$work/host.log"
    : > "$log"
    local t0; t0=$(now_ms)
    TODO_HOST_CACHE_DIR="$work/cache" ./target/release/todo-host up -f "$work/spin.toml" \
        --listen 127.0.0.1:0 > "$log" 2>&1 &
    host_pid=$!
    until grep -q "todo-host: ready" "$log"; do
        if ! kill -0 "$host_pid" 2>/dev/null; then cat "$log"; echo "host exited" >&2; exit 1; fi
        sleep 0.005
    done
    startup_ms=$(( $(now_ms) - t0 ))
    base_url=$(sed -n 's/^Serving \(http:[^ ]*\).*/\1/p' "$log" | head -1)
}

stop_host() {
    kill "$host_pid"; wait "$host_pid" 2>/dev/null || true; host_pid=""
}

echo "== start-up"
start_host
cold=$startup_ms
stop_host
start_host
warm=$startup_ms
echo "start-up to 'ready': cold (compile) ${cold} ms, warm (cached artefact) ${warm} ms"

curl -fsS "$base_url/?op=hello" > /dev/null
echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency $base_url/?op=hello"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$base_url/?op=hello" | tee "$work/wrk.txt"

rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
p50=$(awk '$1=="50%" {print $2}' "$work/wrk.txt")
p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
echo
echo "SUMMARY: ${rps} req/s, p50 ${p50}, p99 ${p99} at ${CONNECTIONS} connections; start-up cold ${cold} ms, warm ${warm} ms"
