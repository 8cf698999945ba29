# Shared by scripts/dev, scripts/test and .ci/run: throw-away PostgreSQL and Redis servers.
# Source it; every function is safe to call on a fresh Debian machine with Rust installed.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '==> %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pg_bindir() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs what a new machine lacks: the wasm target, redis-server, PostgreSQL server binaries.
ensure_tools() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    log "installing the wasm32-wasip2 Rust target"
    rustup target add wasm32-wasip2
  fi
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  pg_bindir >/dev/null 2>&1 || missing+=(postgresql)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  [ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Starts a throw-away PostgreSQL cluster in a temporary directory on a free port.
# Sets PG_DIR, PG_PORT and PG_ADMIN_URL (superuser, trust auth on 127.0.0.1 only).
start_postgres() {
  local bindir run_as=()
  bindir="$(pg_bindir)" || { echo "PostgreSQL server binaries not found" >&2; return 1; }
  PG_DIR="$(mktemp -d /tmp/todo-pg.XXXXXX)"
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root.
    id -u todo-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin todo-pg
    chown todo-pg "$PG_DIR"
    run_as=(runuser -u todo-pg --)
  fi
  PG_PORT="$(free_port)"
  "${run_as[@]}" "$bindir/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  "${run_as[@]}" "$bindir/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=1000 -c shared_buffers=256MB ${PG_EXTRA_OPTS:-}" >/dev/null \
    || { cat "$PG_DIR/server.log" >&2; return 1; }
  PG_ADMIN_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  PG_RUN_AS=("${run_as[@]}")
  PG_BINDIR="$bindir"
  log "PostgreSQL on 127.0.0.1:$PG_PORT ($PG_DIR)"
}

stop_postgres() {
  [ -n "${PG_DIR:-}" ] || return 0
  "${PG_RUN_AS[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=""
}

# Starts a throw-away redis-server on a free port. Sets REDIS_PORT and REDIS_PID.
start_redis() {
  REDIS_PORT="$(free_port)"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning &
  REDIS_PID=$!
  local i
  for i in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && { log "Redis on 127.0.0.1:$REDIS_PORT"; return 0; }
    sleep 0.1
  done
  echo "redis-server did not start" >&2
  return 1
}

stop_redis() {
  [ -n "${REDIS_PID:-}" ] || return 0
  kill "$REDIS_PID" 2>/dev/null || true
  wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=""
}

# The package name of every crate under components/ and tests/fixtures/.
wasm_packages() {
  local dir
  for dir in "$REPO_ROOT"/components/*/ "$REPO_ROOT"/tests/fixtures/*/; do
    [ -f "$dir/Cargo.toml" ] && sed -n 's/^name *= *"\(.*\)"/\1/p' "$dir/Cargo.toml" | head -n 1
  done
}

build_wasm() {
  local args=() pkg
  for pkg in $(wasm_packages); do args+=(-p "$pkg"); done
  [ ${#args[@]} -gt 0 ] || return 0
  log "building wasm components: ${args[*]}"
  (cd "$REPO_ROOT" && cargo build --target wasm32-wasip2 --release "${args[@]}")
}
