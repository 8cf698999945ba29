#!/usr/bin/env bash
# The assistant's own cost per message, beyond the model's: a local OpenAI-compatible server
# (tests/assistant/fake_model.py) answers instantly, so what remains is the component's work
# (auth, thread and history reads and writes, the request to the model and reading its
# stream, tool calls, the reply). On demand, never part of the test suite.
#
#   bench/assistant.sh                    # 200 messages per scenario, 1 client
#   MESSAGES=500 CLIENTS=4 bench/assistant.sh
#   BENCH_HOST_PROFILE=debug bench/assistant.sh   # the debug host scripts/test builds
#
# Scenarios (each message in a fresh thread unless said otherwise):
#   text        one model call answering text (streamed)
#   thread      the same in one growing thread (history read and sent each time)
#   tool        two model calls around a create_task tool call (the task, its event)
# For each: p50/p99 of POST /api/chat; p50 of the same model requests sent straight to the
# model server (replayed from what the assistant sent); overhead = the difference.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$REPO_ROOT"
PROFILE="${BENCH_HOST_PROFILE:-release}"

ensure_tools
if [ -z "${BENCH_NO_BUILD:-}" ]; then
  log "building the $PROFILE host, the assistant (release, wasm32-wasip2), todo-migrate"
  if [ "$PROFILE" = release ]; then cargo build -q --release -p todo-host; else cargo build -q -p todo-host; fi
  cargo build -q --release --target wasm32-wasip2 -p assistant
  cargo build -q -p todo-migrate
fi
PYTHON="$(tests/assistant/venv)"

cleanup() {
  [ -n "${HOST_PID:-}" ] && kill "$HOST_PID" 2>/dev/null || true
  [ -n "${MODEL_PID:-}" ] && kill "$MODEL_PID" 2>/dev/null || true
  stop_redis
  stop_postgres
}
trap cleanup EXIT
PG_EXTRA_OPTS="-c synchronous_commit=off" start_postgres
"${PG_RUN_AS[@]}" "$PG_BINDIR/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres todo
start_redis
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/todo"
target/debug/todo-migrate --dir migrations "$DB_URL" >/dev/null

work="$(mktemp -d)"
mkfifo "$work/model-stdin"
"$PYTHON" tests/assistant/fake_model.py <"$work/model-stdin" >"$work/model.out" &
MODEL_PID=$!
exec 8>"$work/model-stdin"
until grep -q "listening on" "$work/model.out"; do sleep 0.05; done
MODEL_PORT="$(awk '{print $3}' "$work/model.out")"

SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
SPIN_VARIABLE_DB_URL="$DB_URL" SPIN_VARIABLE_DB_HOST="127.0.0.1:$PG_PORT" \
SPIN_VARIABLE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" SPIN_VARIABLE_REDIS_HOST="127.0.0.1:$REDIS_PORT" \
SPIN_VARIABLE_JWT_HS256_SECRET="$SECRET" \
SPIN_VARIABLE_LLM_BASE_URL="http://127.0.0.1:$MODEL_PORT/v1" SPIN_VARIABLE_LLM_ORIGIN="http://127.0.0.1:$MODEL_PORT" \
SPIN_VARIABLE_LLM_MODEL=fake-model \
  "target/$PROFILE/todo-host" up --listen 127.0.0.1:0 -c assistant >"$work/host.log" 2>&1 &
HOST_PID=$!
until grep -q "todo-host: ready" "$work/host.log"; do
  kill -0 "$HOST_PID" 2>/dev/null || { cat "$work/host.log"; exit 1; }
  sleep 0.05
done
BASE="$(sed -n 's/.*Serving \(http[^ ]*\).*/\1/p' "$work/host.log" | head -n1)"
TOKEN="$(SPIN_VARIABLE_JWT_HS256_SECRET="$SECRET" python3 scripts/dev-token.py bench-user 3600)"

log "assistant at $BASE, model at 127.0.0.1:$MODEL_PORT ($PROFILE host)"
"$PYTHON" bench/lib/assistant_bench.py "$BASE" "$TOKEN" "http://127.0.0.1:$MODEL_PORT" \
  "${MESSAGES:-200}" "${CLIENTS:-1}" "$PROFILE"
