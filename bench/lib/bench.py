"""bench/run's engine: API scenarios with wrk, the same SQL with pgbench, host overhead with a
trivial component, event latencies, and the report (table + bench/results/<timestamp>.json).

Run it through bench/run (which builds what it needs); `bench/run --help` lists the options.
Every figure is explained in bench/README.md.
"""

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import platform
import queue
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# release (default) or debug: the smoke run in CI uses the debug host scripts/test already built.
HOST_PROFILE = os.environ.get("BENCH_HOST_PROFILE", "release")
# TODO_HOST_BIN: a host binary built already (CI passes the one scripts/test built).
HOST_BIN = os.environ.get("TODO_HOST_BIN") or str(REPO / f"target/{HOST_PROFILE}/todo-host")
BENCH = REPO / "bench"
LUA = BENCH / "lib" / "api.lua"
# synchronous_commit=off: measure CPU and protocol work, not the disk's flush latency
# (--durable: PostgreSQL's default, on).
PG_OPTS = {False: "-c synchronous_commit=off", True: "-c synchronous_commit=on"}


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- infrastructure

class Infra:
    """Throw-away PostgreSQL and Redis from scripts/lib.sh, the host processes."""

    def __init__(self, work, pg_opts):
        self.work = work
        self.pg_opts = pg_opts
        self.pg = None
        self.redis_pid = None
        self.procs = []

    def _lib(self, script):
        out = subprocess.run(
            ["bash", "-c", f"set -e; source '{REPO}/scripts/lib.sh'; {script}"],
            check=True, capture_output=True, text=True,
            env={**os.environ, "PG_EXTRA_OPTS": self.pg_opts},
        )
        values = {}
        for line in out.stdout.splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                values[k] = v
        return values

    def start(self):
        self.pg = self._lib(
            "start_postgres >/dev/null; echo PG_DIR=$PG_DIR; echo PG_PORT=$PG_PORT; "
            "echo PG_BINDIR=$PG_BINDIR; echo PG_RUN_AS=\"${PG_RUN_AS[*]}\"")
        redis = self._lib("start_redis >/dev/null 2>&1 </dev/null; echo REDIS_PORT=$REDIS_PORT; echo REDIS_PID=$REDIS_PID")
        self.redis_pid = int(redis["REDIS_PID"])
        self.redis_port = int(redis["REDIS_PORT"])
        self.pg_port = int(self.pg["PG_PORT"])
        run_as = self.pg["PG_RUN_AS"].split()
        subprocess.run(run_as + [f"{self.pg['PG_BINDIR']}/createdb", "-h", "127.0.0.1", "-p",
                                 str(self.pg_port), "-U", "postgres", "todo"], check=True)
        self.db_url = f"postgres://postgres@127.0.0.1:{self.pg_port}/todo"
        subprocess.run([str(REPO / "target/debug/todo-migrate"), "--dir", str(REPO / "migrations"),
                        self.db_url], check=True, capture_output=True)
        log(f"PostgreSQL 127.0.0.1:{self.pg_port} ({self.pg_opts}), Redis 127.0.0.1:{self.redis_port}")

    def psql(self, sql):
        out = subprocess.run([f"{self.pg['PG_BINDIR']}/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                              self.db_url], input=sql, check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def start_host(self, args, env, name):
        logf = open(self.work / f"{name}.log", "w+")
        proc = subprocess.Popen([HOST_BIN, "up", "--listen", "127.0.0.1:0"] + args,
                                stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        self.procs.append(proc)
        deadline = time.time() + 120
        while time.time() < deadline:
            text = (self.work / f"{name}.log").read_text()
            if "todo-host: ready" in text:
                url = re.search(r"Serving (http://\S+)", text).group(1)
                return proc, url
            if proc.poll() is not None:
                raise SystemExit(f"host {name} exited:\n{text}")
            time.sleep(0.02)
        raise SystemExit(f"host {name} not ready in 120 s")

    def stop_host(self, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self):
        for p in self.procs:
            self.stop_host(p)
        if self.redis_pid:
            try:
                os.kill(self.redis_pid, 15)
            except ProcessLookupError:
                pass
        if self.pg:
            subprocess.run(self.pg["PG_RUN_AS"].split() + [f"{self.pg['PG_BINDIR']}/pg_ctl", "-D",
                            f"{self.pg['PG_DIR']}/data", "-m", "immediate", "stop"], capture_output=True)
            shutil.rmtree(self.pg["PG_DIR"], ignore_errors=True)


def hs256_token(secret, user, ttl=86400):
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    now = int(time.time())
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"sub": user, "iat": now, "exp": now + ttl}).encode())
    sig = b64(hmac.new(secret.encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest())
    return f"{head}.{claims}.{sig}"


def token_subject(token):
    part = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims.get("sub") or claims.get("id")


def mint_eddsa(user, n_tokens, key=None, ttl=7200):
    """`n_tokens` distinct EdDSA tokens for `user`, signed with `key` (hex, from an earlier call)
    or a new Ed25519 key pair; returns (key, JWKS, tokens). Minted by bench/jwt."""
    cmd = [str(REPO / "target/debug/bench-jwt"), "--sub", user, "--ttl", str(ttl), "--tokens", str(n_tokens)]
    if key:
        cmd += ["--key", key]
    minted = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return minted["key"], minted["jwks"], minted["tokens"]


class JwksServer:
    """Serves a JWKS at /api/auth/jwks (Better Auth's path) on loopback and counts the fetches."""

    def __init__(self, jwks):
        import http.server
        body = json.dumps(jwks).encode()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/api/auth/jwks":
                    self.send_error(404)
                    return
                server.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.fetches = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"{self.origin}/api/auth/jwks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------- HTTP client

class Client:
    def __init__(self, base_url, token):
        u = urllib.parse.urlsplit(base_url)
        self.host, self.port = u.hostname, u.port or 80
        self.prefix = u.path.rstrip("/")
        self.token = token
        self.local = threading.local()

    def request(self, method, path, body=None):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, self.prefix + path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except (http.client.HTTPException, OSError):
            self.local.conn = None
            raise
        return resp.status, payload, resp


def seed(client, user, count, start_index):
    """Creates `count` tasks for `user` through the API (8 concurrent connections)."""
    if count <= 0:
        return []
    priorities = ["low", "medium", "high"]
    categories = ["work", "personal", "home", "other"]

    def one(i):
        body = {"title": f"Seeded task {i}", "priority": priorities[i % 3], "category": categories[i % 4],
                "tags": [f"t{i % 7}", "bench"]}
        if i % 2:
            body["description"] = f"Description of seeded task {i}, long enough to look real."
        if i % 3:
            body["dueDate"] = f"20{27 + i % 5}-0{1 + i % 9}-1{i % 9}T09:00:00Z"
        status, payload, _ = client.request("POST", f"/api/{user}/tasks", body)
        if status != 201:
            raise SystemExit(f"seeding failed: {status} {payload[:300]!r}")
        return json.loads(payload)["id"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(start_index, start_index + count)))


# --------------------------------------------------------------------------- measurements

def proc_status(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])  # kB
    except OSError:
        return None
    return None


def reset_peak(pid):
    """Resets VmHWM (peak RSS) of pid; returns False where the kernel refuses."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_wrk(url, scenario, conns, duration, token, path_prefix, ids_file, work, tokens_file=None, body=None):
    """One wrk run. `tokens_file` (one token per line) replaces `token`: every request then
    carries the next token of the file, so that the server sees each token once."""
    out = work / f"wrk-{scenario}-{conns}-{time.monotonic_ns()}.json"
    env = {**os.environ, "BENCH_SCENARIO": scenario, "BENCH_PATH": path_prefix, "BENCH_TOKEN": token or "",
           "BENCH_TOKENS": str(tokens_file or ""), "BENCH_IDS": str(ids_file or ""), "BENCH_OUT": str(out),
           "BENCH_BODY": body or ""}
    threads = min(conns, 2)
    env["BENCH_THREADS"] = str(threads)
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--timeout", "10s", "-s", str(LUA), url]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"wrk failed ({' '.join(cmd)}):\n{proc.stdout}\n{proc.stderr}")
    r = json.loads(out.read_text())
    secs = r["duration_us"] / 1e6
    errors = r["non2xx"] + r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
    return {"rps": r["requests"] / secs if secs else 0.0, "requests": r["requests"],
            "p50_ms": r["lat_p50_us"] / 1000, "p99_ms": r["lat_p99_us"] / 1000,
            "max_ms": r["lat_max_us"] / 1000, "mean_ms": r["lat_mean_us"] / 1000,
            "errors": errors, "non2xx": r["non2xx"],
            "socket_errors": errors - r["non2xx"]}


def combine_rounds(runs):
    """Several wrk runs of the same measurement as one: requests/s over all of them (equal
    durations), the median of their p50 and p99, the largest max, every error counted."""
    if len(runs) == 1:
        return runs[0]
    out = {"rps": statistics.fmean(r["rps"] for r in runs), "requests": sum(r["requests"] for r in runs),
           "p50_ms": statistics.median(r["p50_ms"] for r in runs),
           "p99_ms": statistics.median(r["p99_ms"] for r in runs),
           "max_ms": max(r["max_ms"] for r in runs), "mean_ms": statistics.fmean(r["mean_ms"] for r in runs),
           "errors": sum(r["errors"] for r in runs), "non2xx": sum(r["non2xx"] for r in runs),
           "socket_errors": sum(r["socket_errors"] for r in runs),
           "rounds_rps": [round(r["rps"], 1) for r in runs]}
    peaks = [r["host_peak_rss_mib"] for r in runs if "host_peak_rss_mib" in r]
    if peaks:
        out["host_peak_rss_mib"] = max(peaks)
    notes = [r["note"] for r in runs if "note" in r]
    if notes:
        out["note"] = "; ".join(notes)
    return out


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def run_pgbench(infra, script, conns, duration, variables, work, mode="prepared"):
    tag = f"pg-{time.monotonic_ns()}"
    sfile = work / f"{tag}.sql"
    sfile.write_text(script)
    logdir = work / tag
    logdir.mkdir()
    cmd = [f"{infra.pg['PG_BINDIR']}/pgbench", "-h", "127.0.0.1", "-p", str(infra.pg_port), "-U", "postgres",
           "-n", "-M", mode, "-c", str(conns), "-j", str(min(conns, 2)), "-T", str(duration),
           "-l", "--log-prefix", str(logdir / "tx"), "-f", str(sfile)]
    for k, v in variables.items():
        cmd += ["-D", f"{k}={v}"]
    cmd.append("todo")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
    text = proc.stdout + proc.stderr
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", text)
    aborted = len(re.findall(r"client \d+ aborted", text))
    failed = re.search(r"number of failed transactions: (\d+)", text)
    lat = []
    for f in logdir.iterdir():
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                lat.append(int(parts[2]))
    lat.sort()
    if proc.returncode not in (0, 2) or tps is None:
        raise SystemExit(f"pgbench failed:\n{' '.join(cmd[:20])} ...\n{text[-3000:]}")
    errors = aborted + (int(failed.group(1)) if failed else 0)
    if errors:
        log(f"pgbench reported errors: {text[-800:]}")
    return {"tps": float(tps.group(1)), "transactions": len(lat),
            "p50_ms": percentile(lat, 50) / 1000 if lat else None,
            "p99_ms": percentile(lat, 99) / 1000 if lat else None,
            "max_ms": lat[-1] / 1000 if lat else None, "errors": errors}


# --------------------------------------------------------------------------- the SQL of each scenario

def store_sql(name):
    """A statement of crates/tasks/src/store.rs (the one place the components' task SQL lives),
    read at run time: the string literal after `marker` in that file, continuation lines joined."""
    src = (REPO / "crates/tasks/src/store.rs").read_text()
    i = src.index(name)
    m = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S).search(src, i)
    return re.sub(r"\\\n\s*", "", m.group(1)).replace('\\"', '"')


def stats_sql():
    return store_sql("pub fn stats_json").replace("$1", ":user")


# `list_page` of crates/tasks/src/store.rs: page 1, newest first, no filter.
LISTING = (
    "SELECT json, more, last_instant, last_rank, last_title, last_id FROM task_list_page("
    ":user, NULL, NULL, NULL, NULL, '{}'::text[], NULL, NULL, 'createdAt', true, NULL, NULL, NULL, NULL, 100)")

GET = "SELECT json, version FROM task_api_json_of(:user, (SELECT id FROM bench_ids WHERE n = :r))"

EVENT_ARRAYS = "ARRAY[{ids}], ARRAY[{topics}], ARRAY[{users}], ARRAY[{subjects}], ARRAY[{payloads}]"


def event_arrays(n, topics, subject):
    """The five event arrays of `task_insert`/`task_update` for the first `n` of `topics`."""
    return EVENT_ARRAYS.format(
        ids=", ".join(ev(i) for i in range(n)),
        topics=", ".join(f"'{t}'" for t in topics[:n]),
        users=", ".join(":user::text" for _ in range(n)),
        subjects=", ".join(f"{subject}::text" for _ in range(n)),
        payloads=", ".join(f":payload{i}::text" for i in range(n)))


def insert_task(tid):
    return ("SELECT task_insert(" + tid + "::uuid, :user, :title, NULL, 'medium', 'work', 'pending', "
            "'2030-01-01T00:00:00.000000Z', :now, :now, NULL, NULL, NULL, NULL, NULL, false, '{bench}', "
            "'UTC', 1, 0, " + tid + "::uuid, NULL, " + event_arrays(1, ["task-created"], tid) + ")")


def update_task(n, topics, title, status, completed_at):
    return ("SELECT task_update(:user, :t_id::uuid, :t_version, " + title + ", NULLIF(:t_description, ''), "
            ":t_priority, :t_category, " + status + ", :now, :now, " + completed_at + ", NULL, NULL, NULL, "
            "false, '{bench}', 'UTC', :t_version::int8 + 1, NULL, " + event_arrays(n, topics, ":t_id") + ")")


def ev(i):
    return f"md5('e{i}:' || :salt || ':' || :client_id || ':' || :e)"


def mark_published(n):
    ids = ", ".join(ev(i) for i in range(n))
    return f"SELECT events_mark_published(ARRAY[{ids}]);"


def load_sql():
    """The read of a read-modify-write (`task_record_of`, one value), and the fields the call
    below needs for \\gset (pgbench cannot decode JSON: the extra columns are its cost)."""
    return ("SELECT rec, rec::json->>'id' AS id, rec::json->>'title' AS title, "
            "rec::json->>'description' AS description, rec::json->>'priority' AS priority, "
            "rec::json->>'category' AS category, rec::json->>'status' AS status, "
            "(rec::json->>'status' = 'pending')::int AS pending, "
            "coalesce(rec::json->>'completed_at', '') AS completed_at, "
            "(rec::json->>'version')::int8 AS version "
            "FROM (SELECT task_record_of(:user, (SELECT id FROM bench_ids WHERE n = :r))) AS x(rec)")


def pg_script(scenario, hostlike=False):
    """pgbench script issuing the statements the API issues for one request of `scenario`."""
    lines = []
    if hostlike:
        # What the host adds per request: deadpool's `RecyclingMethod::Clean` on checkout.
        lines += ["\\startpipeline", "CLOSE ALL;", "SET SESSION AUTHORIZATION DEFAULT;", "RESET ALL;",
                  "UNLISTEN *;", "SELECT pg_advisory_unlock_all();", "DISCARD TEMP;", "DISCARD SEQUENCES;",
                  "\\endpipeline"]
    lines += ["\\set r random(1, :nids)", "\\set e random(1, 1000000000000)"]
    if scenario == "get":
        lines.append(GET + ";")
    elif scenario in ("list100", "list10k"):
        lines.append(LISTING + ";")
    elif scenario in ("stats100", "stats10k"):
        lines.append(stats_sql() + ";")
    elif scenario == "create":
        tid = f"md5('t:' || :salt || ':' || :client_id || ':' || :e)"
        lines.append(insert_task(tid) + ";")
        lines.append(mark_published(1))
    elif scenario == "toggle":
        # Half of the toggles complete (task-updated + task-completed), half reopen (task-updated).
        lines.append(load_sql() + " \\gset t_")
        status = "CASE WHEN :t_pending = 1 THEN 'completed' ELSE 'pending' END"
        completed_at = "CASE WHEN :t_pending = 1 THEN :now END"
        for n, kw in ((2, "\\if :t_pending"), (1, "\\else")):
            lines.append(kw)
            lines.append(update_task(n, ["task-updated", "task-completed"], ":t_title", status, completed_at) + ";")
            lines.append(mark_published(n))
        lines.append("\\endif")
    elif scenario == "update":
        lines.append(load_sql() + " \\gset t_")
        lines.append(update_task(1, ["task-updated"], "'Bench updated ' || :e", ":t_status",
                                 "NULLIF(:t_completed_at, '')") + ";")
        lines.append(mark_published(1))
    else:
        raise ValueError(scenario)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- events

class RedisSubscriber(threading.Thread):
    """Minimal RESP client: SUBSCRIBE and timestamp every message."""

    def __init__(self, port, channels):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")
        self.messages = queue.Queue()
        args = ["SUBSCRIBE"] + channels
        self.sock.sendall(("*%d\r\n" % len(args) + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)).encode())
        for _ in channels:
            self._read()

    def _read(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:].strip()
        if kind == b"*":
            return [self._read() for _ in range(int(rest))]
        if kind == b"$":
            data = self.file.read(int(rest) + 2)[:-2]
            return data
        if kind == b":":
            return int(rest)
        return rest

    def run(self):
        try:
            while True:
                msg = self._read()
                self.messages.put((time.perf_counter(), msg))
        except (OSError, ValueError):
            pass


def summary_ms(values):
    values = sorted(values)
    if not values:
        return None
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 3),
            "p99_ms": round(percentile(values, 99), 3), "max_ms": round(values[-1], 3)}


def response_to_redis_event(client, redis_port, user, task_id, n):
    """Latency from a PUT's response (last byte read) to its task-updated message on Redis."""
    sub = RedisSubscriber(redis_port, ["task-updated"])
    sub.start()
    latencies = []
    for i in range(n + 10):
        title = f"event latency {i} {secrets.token_hex(4)}"
        status, _, _ = client.request("PUT", f"/api/{user}/tasks/{task_id}", {"title": title})
        t_resp = time.perf_counter()
        if status != 200:
            raise SystemExit(f"PUT for event latency: {status}")
        deadline = time.time() + 5
        while True:
            t_msg, msg = sub.messages.get(timeout=max(0.01, deadline - time.time()))
            if title.encode() in msg[2]:
                break
        if i >= 10:  # warm-up
            latencies.append((t_msg - t_resp) * 1000)
    sub.sock.close()
    return summary_ms(latencies)


def run_helper_script(name, env_overrides, timeout):
    """Runs another helper's bench script; returns its RESULT/BENCH lines and parsed figures."""
    script = BENCH / name
    if not script.exists():
        return {"status": "missing"}
    log(f"running bench/{name} {' '.join(f'{k}={v}' for k, v in env_overrides.items())}")
    t0 = time.time()
    try:
        proc = subprocess.run(["bash", str(script)], env={**os.environ, **env_overrides}, capture_output=True,
                              text=True, timeout=timeout, cwd=REPO)
        out, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
    lines = [line.rstrip() for line in out.splitlines()
             if line.startswith(("RESULT", "BENCH", "SUMMARY", "start-up", "  "))
             and not line.startswith("   Compiling")]
    return {"status": "ok" if rc == 0 else f"failed ({rc})", "seconds": round(time.time() - t0, 1),
            "env": env_overrides, "lines": lines[:60],
            "tail": out.splitlines()[-15:] if rc != 0 else []}


def pick_figure(lines, pattern):
    for line in lines:
        m = re.search(pattern, line)
        if m:
            return m
    return None


# --------------------------------------------------------------------------- the run

SCENARIOS = {
    # name: (wrk scenario, phase, label)
    "list100": ("list", "small", "list page 1 of 100 tasks"),
    "mcp_list100": ("mcp_list", "small", "mcp list_tasks, 100 tasks"),
    "stats100": ("stats", "small", "stats over 100 tasks"),
    "get": ("get", "big", "get one task (random of N)"),
    "mcp_get": ("mcp_get", "big", "mcp get_task (random of N)"),
    "list10k": ("list", "big", "list page 1 (100) of N tasks"),
    "stats10k": ("stats", "big", "stats over N tasks"),
    "toggle": ("toggle", "big", "toggle (random of N)"),
    "update": ("update", "big", "update title (random of N)"),
    "create": ("create", "big", "create (POST)"),
}
ORDER = ["list100", "mcp_list100", "stats100", "get", "mcp_get", "list10k", "stats10k", "toggle", "update",
         "create"]
# An MCP tool call issues the SQL of its REST twin (the same task operation).
REST_TWIN = {"mcp_list100": "list100", "mcp_get": "get"}

AUTH_MODES = {
    # name: what the requests carry
    "hs256": "an HS256 token (shared secret), one per run",
    "jwks": "an EdDSA token verified against the JWKS served at jwks_url, one per run (as a browser "
            "sends the same Better Auth token with every request)",
    "jwks-fresh": "an EdDSA token the server has never seen on every request (every request verifies a "
                  "signature)",
}
AUTH_SETS = {"both": ["hs256", "jwks"], "all": ["hs256", "jwks", "jwks-fresh"]}


def parse_auth(value):
    modes = []
    for part in value.split(","):
        for mode in AUTH_SETS.get(part, [part]):
            if mode not in AUTH_MODES:
                raise SystemExit(f"unknown --auth {part}; known: {', '.join(list(AUTH_MODES) + list(AUTH_SETS))}")
            if mode not in modes:
                modes.append(mode)
    return modes


def main():
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 s per measurement, 4 connections, 300 tasks, no helper scripts")
    ap.add_argument("--base-url", help="measure the HTTP scenarios against this server (no pgbench, no memory, no events)")
    ap.add_argument("--token", help="bearer token for --base-url (its sub is the user)")
    ap.add_argument("--duration", type=int, help="seconds per measurement (default 5; --quick 1)")
    ap.add_argument("--connections", help="comma-separated connection counts (default 1,32,128; --quick 4)")
    ap.add_argument("--tasks", type=int, help="size of the big user (default 10000; --quick 300)")
    ap.add_argument("--scenarios", help="comma-separated subset of " + ",".join(ORDER))
    ap.add_argument("--auth", default="both",
                    help="how requests authenticate, measured side by side for every scenario and connection "
                         "count: comma-separated hs256, jwks, jwks-fresh, or both (= hs256,jwks; default) or all")
    ap.add_argument("--events", dest="events", action="store_true", default=None,
                    help="run the event benchmarks (bench/realtime.sh, consumers.sh, reminders.sh); default: on unless --quick")
    ap.add_argument("--no-events", dest="events", action="store_false")
    ap.add_argument("--durable", action="store_true",
                    help="run PostgreSQL with its default synchronous_commit=on (every commit waits for its WAL "
                         "flush, as in production) instead of off")
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure each scenario, connection count and auth mode this many times, the modes "
                         "alternating, and report the mean (default 1): steadier ratios on a busy machine")
    ap.add_argument("--auth-micro", type=int, metavar="N",
                    help="iterations per round (5 rounds) of each step of the authentication micro-benchmark "
                         "(default 500; --quick 20; 0: skip)")
    ap.add_argument("--auth-micro-only", action="store_true",
                    help="run only the authentication micro-benchmark (no API scenarios, pgbench or events)")
    ap.add_argument("--out", help="JSON output file (default bench/results/<UTC timestamp>.json)")
    ap.add_argument("--perf", metavar="DIR", help="record `perf record -a -g` (whole machine) during each API measurement into DIR")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work directory (logs, pgbench scripts)")
    a = ap.parse_args()

    duration = a.duration or (1 if a.quick else 5)
    conns = [int(c) for c in (a.connections or ("4" if a.quick else "1,32,128")).split(",")]
    big = a.tasks or (300 if a.quick else 10000)
    scenarios = a.scenarios.split(",") if a.scenarios else ORDER
    micro_n = a.auth_micro if a.auth_micro is not None else (20 if a.quick else 500)
    if a.auth_micro_only:
        scenarios, micro_n = [], micro_n or 500
    for s in scenarios:
        if s not in SCENARIOS:
            raise SystemExit(f"unknown scenario {s}; known: {','.join(ORDER)}")
    events = a.events if a.events is not None else not a.quick
    external = a.base_url is not None
    modes = ["token"] if external else parse_auth(a.auth)
    if external and not a.token:
        raise SystemExit("--base-url needs --token")

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_path = Path(a.out) if a.out else BENCH / "results" / f"{stamp}.json"
    work = Path(tempfile.mkdtemp(prefix="todo-bench."))
    started = time.time()
    load1 = os.getloadavg()[0]
    result = {"started": stamp, "mode": "quick" if a.quick else "full", "duration_s": duration,
              "connections": conns, "auth": modes, "rounds": a.rounds, "tasks_big": big, "tasks_small": 100,
              "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "loadavg_1m_at_start": load1},
              "generator": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0:1],
              "scenarios": {}, "host_overhead": {}, "events": {}, "notes": []}

    result["postgresql_options"] = PG_OPTS[a.durable]
    infra = Infra(work, PG_OPTS[a.durable])
    jwks_server = None
    try:
        if a.auth_micro_only:
            infra.start()
            result["target"] = f"local host (target/{HOST_PROFILE}/todo-host, component bench-auth-micro)"
            result["auth_micro"] = auth_micro(infra, work, micro_n)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(result, indent=2) + "\n")
            print("\n".join(auth_micro_report(result["auth_micro"])))
            print(f"\nJSON: {out_path}")
            return 0
        if external:
            url = a.base_url.rstrip("/")
            tokens = {"token": a.token}
            user = token_subject(a.token)
            host_pid = None
            result["target"] = url
        else:
            infra.start()
            user = "bench-user"
            env = {**os.environ,
                   "SPIN_VARIABLE_DB_URL": infra.db_url, "SPIN_VARIABLE_DB_HOST": f"127.0.0.1:{infra.pg_port}",
                   "SPIN_VARIABLE_REDIS_URL": f"redis://127.0.0.1:{infra.redis_port}",
                   "SPIN_VARIABLE_REDIS_HOST": f"127.0.0.1:{infra.redis_port}",
                   "TODO_HOST_CACHE_DIR": str(work / "cache"), "TODO_HOST_LOG": "warn"}
            tokens, ed_key = {}, None
            # Configured as in production: only what the measured modes need.
            if "hs256" in modes:
                secret = secrets.token_urlsafe(48)
                env["SPIN_VARIABLE_JWT_HS256_SECRET"] = secret
                tokens["hs256"] = hs256_token(secret, user)
            if any(m.startswith("jwks") for m in modes):
                ed_key, jwks, (ed_token,) = mint_eddsa(user, 1)
                jwks_server = JwksServer(jwks)
                env["SPIN_VARIABLE_JWKS_URL"] = jwks_server.url
                env["SPIN_VARIABLE_JWKS_ORIGIN"] = jwks_server.origin
                tokens["jwks"] = ed_token
            rc = work / "runtime-config.toml"
            rc.write_text(RUNTIME_CONFIG.format(redis_port=infra.redis_port))
            host, url = infra.start_host(["--runtime-config-file", str(rc), "-c", "backend-api", "-c", "mcp"], env,
                                         "api-host")
            host_pid = host.pid
            result["target"] = f"local host (target/{HOST_PROFILE}/todo-host, components backend-api and mcp)"
        token = tokens.get(modes[0]) or tokens["jwks"]
        client = Client(url, token)

        def fresh_tokens(n):
            """A file of `n` EdDSA tokens never sent before, signed with the JWKS's key."""
            _, _, minted = mint_eddsa(user, n, ed_key)
            path = work / f"tokens-{time.monotonic_ns()}.txt"
            path.write_text("\n".join(minted) + "\n")
            return path, n

        def wrk_as(mode, kind, c, secs):
            if mode == "jwks-fresh":
                # Enough distinct tokens for the run (no request may reuse one); counted after.
                path, n = fresh_tokens(max(2000, 3000 * secs))
                r = run_wrk(url, kind, c, secs, None, prefix, ids_file, work, tokens_file=path)
                r["distinct_tokens"] = n
                if r["requests"] > n:
                    r["note"] = f"{r['requests']} requests over {n} tokens: some tokens were sent twice"
                return r
            return run_wrk(url, kind, c, secs, tokens[mode], prefix, ids_file, work)
        prefix = f"/api/{user}"
        ids_file = work / "ids.txt"

        def pg_vars(scenario, n_ids):
            v = {"user": user, "nids": n_ids, "salt": secrets.token_hex(4),
                 "now": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                 "title": "Bench created"}
            topics = {"create": ["task-created"], "toggle": ["task-updated", "task-completed"],
                      "update": ["task-updated"]}.get(scenario, [])
            for i, topic in enumerate(topics):
                # The real payload the API wrote for this kind of event (same size, same JSON).
                v[f"payload{i}"] = infra.psql(
                    f"SELECT payload::text FROM events WHERE topic = '{topic}' AND user_id = '{user}' "
                    "ORDER BY seq DESC LIMIT 1") or "{}"
            return v

        def measure(name, n_ids):
            kind, _, _label = SCENARIOS[name]
            # Warm-up (instances, pools, caches), not recorded.
            for mode in modes:
                wrk_as(mode, kind, max(conns), 1)
            rows = {}
            for c in conns:
                # The auth modes one right after the other, `--rounds` times over: their ratio is
                # the figure to compare, and alternating spreads the machine's drift over all of them.
                rounds = {mode: [] for mode in modes}
                for rnd in range(a.rounds):
                    for mode in modes:
                        peak_ok = host_pid is not None and reset_peak(host_pid)
                        perf = None
                        if a.perf:
                            Path(a.perf).mkdir(parents=True, exist_ok=True)
                            perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-a", "-g", "-o",
                                                     str(Path(a.perf) / f"{name}-{mode}-c{c}-r{rnd}.data")],
                                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        m = wrk_as(mode, kind, c, duration)
                        if perf:
                            perf.send_signal(2)
                            perf.wait()
                        if peak_ok:
                            m["host_peak_rss_mib"] = round(proc_status(host_pid, "VmHWM") / 1024, 1)
                        rounds[mode].append(m)
                        if len(modes) > 1 or a.rounds > 1:
                            log(f"{name:9} c={c:<4} {mode:10} api {m['rps']:8.0f} rps p50 {m['p50_ms']:.2f} "
                                f"p99 {m['p99_ms']:.2f} ms err {m['errors']}")
                by_auth = {mode: combine_rounds(rs) for mode, rs in rounds.items()}
                api = by_auth[modes[0]]
                row = {"api": api, "api_by_auth": by_auth}
                if not external:
                    script = pg_script(REST_TWIN.get(name, name))
                    row["pg"] = run_pgbench(infra, script, c, duration, pg_vars(name, n_ids), work)
                    row["api_pg_ratio"] = round(api["rps"] / row["pg"]["tps"], 3) if row["pg"]["tps"] else None
                    if c == 32 or (len(conns) == 1):
                        hl = run_pgbench(infra, pg_script(REST_TWIN.get(name, name), hostlike=True), c, duration,
                                         pg_vars(name, n_ids), work, mode="extended")
                        row["pg_hostlike"] = hl
                        row["api_pg_hostlike_ratio"] = round(api["rps"] / hl["tps"], 3) if hl["tps"] else None
                rows[str(c)] = row
                p = row.get("pg", {})
                log(f"{name:9} c={c:<4} api {api['rps']:8.0f} rps p50 {api['p50_ms']:.2f} p99 {api['p99_ms']:.2f} ms "
                    f"err {api['errors']}" + (f" | pg {p['tps']:8.0f} tps ratio {row['api_pg_ratio']}" if p else ""))
            result["scenarios"][name] = {"label": SCENARIOS[name][2].replace("N", f"{n_ids:,}"), "tasks": n_ids,
                                         "by_connections": rows}

        # Phase 1: the user has 100 tasks.
        log(f"seeding 100 tasks for {user}")
        t0 = time.time()
        ids = seed(client, user, 100, 0)
        for name in [s for s in ORDER if s in scenarios and SCENARIOS[s][1] == "small"]:
            ids_file.write_text("\n".join(ids) + "\n")
            if not external:
                sync_ids(infra, ids)
            measure(name, len(ids))
        # Phase 2: the same user grows to `big` tasks.
        log(f"seeding up to {big} tasks for {user}")
        ids += seed(client, user, big - len(ids), len(ids))
        result["seed_seconds"] = round(time.time() - t0, 1)
        ids_file.write_text("\n".join(ids) + "\n")
        if not external:
            sync_ids(infra, ids)
            # One toggle/update/create so that pgbench has real payloads of each event kind.
            client.request("PATCH", f"{prefix}/tasks/{ids[0]}/complete")
            client.request("PATCH", f"{prefix}/tasks/{ids[0]}/complete")
            client.request("PUT", f"{prefix}/tasks/{ids[0]}", {"title": "payload sample"})
            infra.psql("VACUUM ANALYZE")
        for name in [s for s in ORDER if s in scenarios and SCENARIOS[s][1] == "big"]:
            measure(name, len(ids))

        if not external:
            result["host_rss_mib_end"] = round(proc_status(host_pid, "VmRSS") / 1024, 1)
            result["events"]["response_to_redis_event"] = response_to_redis_event(
                client, infra.redis_port, user, ids[1], 30 if a.quick else 300)
            if jwks_server:
                result["jwks_fetches"] = jwks_server.fetches
            infra.stop_host(host)
            # Host overhead: the trivial fixture component on its own host.
            result["host_overhead"] = trivial(infra, work, conns, duration)
            if micro_n:
                result["auth_micro"] = auth_micro(infra, work, micro_n, 2 if a.quick else 5)
            infra.stop()
            if events:
                result["events"].update(helper_events(a.quick, duration))
        result["notes"].append(
            "Shared 2-core machine: wrk, the host, PostgreSQL and pgbench compete for the same cores; "
            "absolute figures drift run to run, ratios measured side by side are the meaningful ones.")
        result["elapsed_s"] = round(time.time() - started, 1)
        result["machine"]["loadavg_1m_at_end"] = os.getloadavg()[0]
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=2) + "\n")
        print(report(result))
        print(f"\nJSON: {out_path}")
        bad = [(n, c) for n, s in result["scenarios"].items() for c, r in s["by_connections"].items()
               if any(x["errors"] for x in r.get("api_by_auth", {"": r["api"]}).values())
               or r.get("pg", {}).get("errors")]
        if bad:
            print(f"ERRORS in {bad}", file=sys.stderr)
            return 1
        return 0
    finally:
        infra.stop()
        if jwks_server:
            jwks_server.stop()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


# The runtime config of the measured host, as runtime-config.toml: the shared store on Redis,
# the process-local cache store (authentication) in Spin's in-memory SQLite store.
RUNTIME_CONFIG = """[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:{redis_port}"

[key_value_store.local]
type = "spin"
"""


def sync_ids(infra, ids):
    infra.psql("CREATE TABLE IF NOT EXISTS bench_ids (n int PRIMARY KEY, id uuid NOT NULL); TRUNCATE bench_ids; "
               "INSERT INTO bench_ids SELECT n, (ARRAY['" + "','".join(ids) + "'])[n]::uuid "
               f"FROM generate_series(1, {len(ids)}) n; ANALYZE bench_ids")


def trivial(infra, work, conns, duration):
    """The host's own cost: the fixture component answering `hello`, and the floor of any request
    that touches PostgreSQL: the fixture opening a connection and running `SELECT 1` (one `open`,
    with the pool's reset on checkout, and one `query`), no auth, no routing, no JSON."""
    wasm = REPO / "target/wasm32-wasip2/release/fixture_http.wasm"
    manifest = work / "trivial.toml"
    manifest.write_text(
        'spin_manifest_version = 2\n[application]\nname = "bench-trivial"\n'
        '[[trigger.http]]\nroute = "/..."\ncomponent = "trivial"\n'
        f'[component.trivial]\nsource = "{wasm}"\n'
        f'allowed_outbound_hosts = ["postgres://127.0.0.1:{infra.pg_port}"]\n')
    env = {**os.environ, "TODO_HOST_CACHE_DIR": str(work / "cache"), "TODO_HOST_LOG": "warn"}
    proc, url = infra.start_host(["-f", str(manifest)], env, "trivial-host")
    floor_body = json.dumps({"address": infra.db_url, "statements": [{"sql": "SELECT 1", "mode": "query"}]})
    # The fixture answers 200 whatever the statement did: check once that it does run it.
    with urllib.request.urlopen(urllib.request.Request(f"{url}/?op=pg", floor_body.encode(), method="POST")) as resp:
        answer = json.loads(resp.read())
    if answer != ["Ok([[DbValue::Int32(1)]])"]:
        raise SystemExit(f"the fixture's open + SELECT 1 did not run: {answer}")
    run_wrk(url, "hello", max(conns), 1, None, "", None, work)
    out = {}
    for c in conns:
        reset_peak(proc.pid)
        r = run_wrk(url, "hello", c, duration, None, "", None, work)
        r["host_peak_rss_mib"] = round((proc_status(proc.pid, "VmHWM") or 0) / 1024, 1)
        r["pg_floor"] = run_wrk(url, "pg_floor", c, duration, None, "", None, work, body=floor_body)
        out[str(c)] = r
        log(f"trivial   c={c:<4} {r['rps']:8.0f} rps p50 {r['p50_ms']:.3f} p99 {r['p99_ms']:.3f} ms err {r['errors']}; "
            f"open + SELECT 1 {r['pg_floor']['rps']:8.0f} rps err {r['pg_floor']['errors']}")
    infra.stop_host(proc)
    return out


def auth_micro(infra, work, n, rounds=5):
    """Each step of token verification timed inside wasm (bench/auth-micro on its own host, with
    the stores as deployed: `default` on Redis, `local` in Spin's in-memory SQLite store)."""
    wasm = REPO / "target/wasm32-wasip2/release/bench_auth_micro.wasm"
    key, jwks, _ = mint_eddsa("micro", 0)
    server = JwksServer(jwks)
    manifest = work / "auth-micro.toml"
    manifest.write_text(
        'spin_manifest_version = 2\n[application]\nname = "bench-auth-micro"\n'
        '[[trigger.http]]\nroute = "/..."\ncomponent = "micro"\n'
        f'[component.micro]\nsource = "{wasm}"\nallowed_outbound_hosts = ["{server.origin}"]\n'
        'key_value_stores = ["default", "local"]\n')
    rc = work / "auth-micro-runtime-config.toml"
    rc.write_text(RUNTIME_CONFIG.format(redis_port=infra.redis_port))
    env = {**os.environ, "TODO_HOST_CACHE_DIR": str(work / "cache"), "TODO_HOST_LOG": "warn"}
    proc, url = infra.start_host(["-f", str(manifest), "--runtime-config-file", str(rc)], env, "auth-micro-host")
    try:
        query = urllib.parse.urlencode({"n": n, "rounds": rounds, "ed_key": key, "jwks_url": server.url})
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        conn.request("GET", f"/?{query}")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise SystemExit(f"auth micro-benchmark: {resp.status} {body[:500]!r}")
        out = json.loads(body)
        out["jwks_fetches"] = server.fetches
        log("auth micro-benchmark: " + ", ".join(f"{k} {v['us']:.1f} us" for k, v in out["ops"].items()))
        return out
    finally:
        infra.stop_host(proc)
        server.stop()


AUTH_MICRO_STEPS = [
    ("kv_open_default", "open the key-value store `default` (Redis)"),
    ("kv_open_local", "open the key-value store `local` (in-memory SQLite)"),
    ("kv_get_default_jwks", "get a cached JWKS (~1 KiB) from `default`: a Redis round trip"),
    ("kv_get_local_jwks", "get the same from `local`"),
    ("kv_get_local_small", "get a small value from `local`"),
    ("kv_set_local_small", "set a small value in `local`"),
    ("jwks_parse", "parse that JWKS (JSON)"),
    ("key_build_ed25519", "build an Ed25519 key from its JWK (base64)"),
    ("key_build_es256", "build a P-256 key from its JWK"),
    ("key_build_rs256", "build an RSA-2048 key from its JWK"),
    ("decode_metadata", "decode a token's header (alg, kid)"),
    ("sha256_token", "SHA-256 of a token"),
    ("signature_ed25519_only", "the Ed25519 signature check alone (ed25519-compact, jwt-simple's)"),
    ("signature_ed25519_dalek_only", "the same check with ed25519-dalek (verify_strict)"),
    ("verify_hs256", "jwt-simple: verify an HS256 token (parse, HMAC, claims)"),
    ("verify_eddsa", "jwt-simple: verify an EdDSA token (parse, signature, claims)"),
    ("verify_es256", "jwt-simple: verify an ES256 token"),
    ("verify_rs256", "jwt-simple: verify an RS256 token"),
    ("authenticate_hs256", "authenticate(): HS256"),
    ("authenticate_jwks_inline", "authenticate(): EdDSA, JWKS given inline"),
    ("authenticate_jwks_url", "authenticate(): EdDSA, JWKS from jwks_url, the same token each time"),
    ("authenticate_jwks_url_fresh_token", "authenticate(): EdDSA, JWKS from jwks_url, a new token each time"),
]


def auth_micro_report(m):
    lines = [f"authentication steps inside wasm on the host (bench/auth-micro: {m.get('rounds', 1)} rounds of "
             f"{m['n']} each; microseconds per step, the fastest round's mean and the median round's):"]
    known = dict(AUTH_MICRO_STEPS)
    for name in [n for n, _ in AUTH_MICRO_STEPS if n in m["ops"]] + [n for n in m["ops"] if n not in known]:
        v = m["ops"][name]
        lines.append(f"  {v['us']:9.1f} {fmt(v.get('median_us'), 1):>9}  {name:34} {known.get(name, '')}")
    return lines


def helper_events(quick, duration):
    """The other helpers' event benchmarks, with sizes that keep the whole run near 10 minutes."""
    scale = {"RT_BENCH_EVENTS": "300", "RT_BENCH_IDLE_STREAMS": "200", "RT_BENCH_IDLE_SECONDS": "5"}
    runs = {
        "realtime": run_helper_script("realtime.sh", scale, 300),
        "consumers": run_helper_script("consumers.sh", {"BENCH_COMPLETIONS": "200", "BENCH_BACKLOG": "10000"}, 300),
        "reminders": run_helper_script("reminders.sh", {"BENCH_REMINDERS": "300", "BENCH_PENDING": "100000",
                                                        "BENCH_DUE": "1000"}, 400),
    }
    figures = {}
    lines = sum((r.get("lines", []) for r in runs.values()), [])
    m = pick_figure(lines, r"SSE frame received: .*?p50[ =]*([\d.]+) ?ms.*?p99[ =]*([\d.]+) ?ms")
    if m:
        figures["response_to_sse_frame"] = {"p50_ms": float(m.group(1)), "p99_ms": float(m.group(2))}
    for key, pat in (("response_to_successor", r"RESULT [^:]*successor[^:]*: n=\d+ p50=([\d.]+) ms p99=([\d.]+) ms"),
                     ("response_to_audit_row", r"RESULT [^:]*audit[^:]*: n=\d+ p50=([\d.]+) ms p99=([\d.]+) ms")):
        m = pick_figure(lines, pat)
        if m:
            figures[key] = {"p50_ms": float(m.group(1)), "p99_ms": float(m.group(2))}
    m = pick_figure(lines, r"relay drain of (\d+) events via the sweep route: .*?\((\d+) events/s\)")
    if m:
        figures["relay_drain_events_per_s"] = int(m.group(2))
    m = pick_figure(lines, r"lateness.*?p50[ =]*([\d.]+) ?(ms|s).*?p99[ =]*([\d.]+) ?(ms|s)")
    if m:
        f = 1 if m.group(2) == "ms" else 1000
        figures["reminder_lateness"] = {"p50_ms": float(m.group(1)) * f, "p99_ms": float(m.group(3)) * f}
    return {"helpers": runs, **figures}


# --------------------------------------------------------------------------- report

def fmt(v, nd=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def report(r):
    out = []
    rounds = f" x {r['rounds']} rounds" if r.get("rounds", 1) > 1 else ""
    out.append(f"todo-backend benchmark {r['started']} ({r['mode']}, {r['duration_s']} s per measurement{rounds}, "
               f"target: {r['target']})")
    m = r["machine"]
    out.append(f"machine: {m['cpus']} CPUs, load average {m['loadavg_1m_at_start']:.2f} at start, "
               f"{m.get('loadavg_1m_at_end', 0):.2f} at end (shared: absolute figures are noisy, ratios are not)")
    out.append("")
    modes = r.get("auth", ["hs256"])
    out.append("auth: " + "; ".join(f"{m} = {AUTH_MODES.get(m, 'the token given')}" for m in modes))
    hdr = (f"{'scenario':34} {'conn':>4} {'auth':>10} | {'api req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
           f"{'err':>4} {'RSS MiB':>7} | {'pg tx/s':>8} {'p50 ms':>6} {'p99 ms':>6} | {'api/pg':>6} {'api/pg~host':>11}")
    out.append(hdr)
    out.append("-" * len(hdr))
    for name, s in r["scenarios"].items():
        for c, row in s["by_connections"].items():
            p, h = row.get("pg", {}), row.get("pg_hostlike", {})
            for mode, a in row.get("api_by_auth", {modes[0]: row["api"]}).items():
                ratio = a["rps"] / p["tps"] if p.get("tps") else None
                ratio_hl = a["rps"] / h["tps"] if h.get("tps") else None
                out.append(f"{s['label'][:34]:34} {c:>4} {mode:>10} | {a['rps']:9.0f} {a['p50_ms']:7.2f} "
                           f"{a['p99_ms']:7.2f} {a['max_ms']:7.1f} {a['errors']:4d} "
                           f"{fmt(a.get('host_peak_rss_mib'), 0):>7} | "
                           f"{fmt(p.get('tps'), 0):>8} {fmt(p.get('p50_ms')):>6} {fmt(p.get('p99_ms')):>6} | "
                           f"{fmt(ratio):>6} {fmt(ratio_hl):>11}")
    others = [m for m in modes if m != "hs256"]
    if "hs256" in modes and others:
        out.append("")
        out.append("authentication cost, side by side in this run: HS256 req/s / mode req/s "
                   "(1.00 = as cheap as HS256; 1.25 = each request costs 25% more"
                   + ("; the median of the rounds' ratios" if r.get("rounds", 1) > 1 else "") + ")")
        hdr = f"{'scenario':34} {'conn':>4} | {'hs256 req/s':>11} | " + " | ".join(
            f"{m + ' req/s':>16} {'cost':>5}" for m in others)
        out.append(hdr)
        out.append("-" * len(hdr))
        for name, s in r["scenarios"].items():
            for c, row in s["by_connections"].items():
                by = row.get("api_by_auth", {})
                if "hs256" not in by:
                    continue
                cells = []
                for m in others:
                    cost = auth_cost(row, m)
                    cells.append(f"{by[m]['rps']:16.0f} {fmt(cost):>5}")
                out.append(f"{s['label'][:34]:34} {c:>4} | {by['hs256']['rps']:11.0f} | " + " | ".join(cells))
    if r.get("jwks_fetches") is not None:
        out.append(f"JWKS fetched {r['jwks_fetches']} times from the bench's JWKS endpoint during the run")
    if r.get("auth_micro"):
        out.append("")
        out.extend(auth_micro_report(r["auth_micro"]))
    if r["host_overhead"]:
        out.append("")
        out.append("host overhead (trivial component fixture-http ?op=hello through todo-host):")
        for c, t in r["host_overhead"].items():
            out.append(f"  {c:>4} conn: {t['rps']:8.0f} req/s, p50 {t['p50_ms'] * 1000:.0f} us, "
                       f"p99 {t['p99_ms'] * 1000:.0f} us, max {t['max_ms']:.1f} ms, errors {t['errors']}, "
                       f"peak RSS {t['host_peak_rss_mib']} MiB")
            if "pg_floor" in t:
                f = t["pg_floor"]
                out.append(f"       open + SELECT 1 (the floor of a request that queries PostgreSQL): "
                           f"{f['rps']:8.0f} req/s, p99 {f['p99_ms']:.1f} ms, errors {f['errors']}")
    ev = r["events"]
    if ev:
        out.append("")
        out.append("events:")
        for k, v in ev.items():
            if k == "helpers":
                continue
            out.append(f"  {k}: {json.dumps(v)}")
        for name, h in ev.get("helpers", {}).items():
            out.append(f"  bench/{name}.sh: {h.get('status')} in {h.get('seconds', '-')} s")
            for line in h.get("lines", []):
                out.append(f"    {line}")
            for line in h.get("tail", []):
                out.append(f"    | {line}")
    out.append("")
    out.append("targets:")
    for line in targets(r):
        out.append("  " + line)
    return "\n".join(out)


def auth_cost(row, mode):
    """How much a request authenticated by `mode` costs relative to HS256, from one run: with
    several rounds, the median of the rounds' ratios (each pair measured seconds apart, so the
    machine's drift cancels out), else the ratio of the two measurements."""
    by = row.get("api_by_auth", {})
    if "hs256" not in by or mode not in by or not by[mode]["rps"]:
        return None
    pairs = list(zip(by["hs256"].get("rounds_rps", []), by[mode].get("rounds_rps", [])))
    if pairs and all(m for _, m in pairs):
        return statistics.median(h / m for h, m in pairs)
    return by["hs256"]["rps"] / by[mode]["rps"]


def targets(r):
    res = []
    sc = r["scenarios"]

    def row(name, c="32"):
        return sc.get(name, {}).get("by_connections", {}).get(c)

    def mark(ok):
        return "MET " if ok else "MISS"

    for name in ("get", "list100", "toggle"):
        x = row(name)
        if x and x.get("api_pg_ratio") is not None:
            res.append(f"[{mark(x['api_pg_ratio'] >= 0.5)}] {name} at 32 conn: api/pg {x['api_pg_ratio']:.2f} (>= 0.50)")
    for name in ("create", "get", "toggle", "update"):
        x = row(name)
        if x:
            res.append(f"[{mark(x['api']['p99_ms'] < 10)}] {name} p99 at 32 conn: {x['api']['p99_ms']:.2f} ms (< 10 ms)")
    t = r["host_overhead"].get("1")
    if t:
        res.append(f"[{mark(t['p50_ms'] < 0.1)}] host overhead p50 (trivial component, 1 conn, incl. loopback and wrk): "
                   f"{t['p50_ms'] * 1000:.0f} us (< 100 us)")
    for mcp, rest in (("mcp_get", "get"), ("mcp_list100", "list100")):
        m, x = row(mcp), row(rest)
        if m and x and m["api"]["rps"]:
            f = x["api"]["rps"] / m["api"]["rps"]
            res.append(f"[{mark(f <= 1.3)}] {mcp} vs {rest} at 32 conn: {f:.2f}x the cost per request (<= 1.3x)")
    for name in ("get", "list100"):
        x = row(name)
        cost = auth_cost(x, "jwks") if x else None
        if cost is not None:
            res.append(f"[{mark(cost <= 1.25)}] {name} at 32 conn: a JWKS-verified (EdDSA) request costs {cost:.2f}x "
                       "an HS256 one (<= 1.25x)")
    for big, small in (("list10k", "list100"), ("stats10k", "stats100")):
        b, s = row(big), row(small)
        if b and s and b["api"]["rps"]:
            f = s["api"]["rps"] / b["api"]["rps"]
            res.append(f"[{mark(f <= 2)}] {big} vs {small} at 32 conn: {f:.2f}x slower (<= 2x)")
    ev = r["events"]
    checks = (("response_to_sse_frame", 50), ("response_to_audit_row", 100), ("response_to_successor", 100),
              ("reminder_lateness", 6000))
    for k, limit in checks:
        if k in ev:
            res.append(f"[{mark(ev[k]['p99_ms'] < limit)}] {k} p99 {ev[k]['p99_ms']:.1f} ms (< {limit} ms)")
        else:
            res.append(f"[ -- ] {k}: not measured in this run")
    if "relay_drain_events_per_s" in ev:
        v = ev["relay_drain_events_per_s"]
        res.append(f"[{mark(v > 5000)}] relay drain {v} events/s (> 5,000)")
    else:
        res.append("[ -- ] relay drain: not measured in this run")
    return res


if __name__ == "__main__":
    sys.exit(main())
