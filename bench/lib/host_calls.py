"""bench/host-calls' engine: how many host calls each route makes, and how many values cross
the component boundary, counted by the local host (`TODO_HOST_CALL_LOG`).

Starts the whole application (every component of spin.toml, one host process) with the call
log on, seeds a user through the API, issues one request of every backend-api route, connects
to the SSE stream, calls the HTTP sweeps, and reads the records of the Redis consumers and the
cron sweeps the requests set off. Prints a table per route and writes the records to
bench/results/host-calls-<UTC timestamp>.json. Counts, not timings: the figures are the same on
any machine for the same code.
"""

import argparse
import datetime as dt
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import REPO, BENCH, HOST_PROFILE, PG_OPTS, Infra, Client, hs256_token, log, seed  # noqa: E402

INTERFACES = ["variables", "key_value", "pg", "redis", "outbound_http"]
SHORT = {"variables": "var", "key_value": "kv", "pg": "pg", "redis": "redis", "outbound_http": "http"}


class CallLog:
    """Reads the records appended to the log file since the last read."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.pending = []

    def _read(self):
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        self.pending += [json.loads(line) for line in complete.splitlines() if line.strip()]

    def take(self, match, timeout=60):
        """Removes and returns the first record for which `match` is true, waiting for it."""
        deadline = time.time() + timeout
        while True:
            self._read()
            for i, record in enumerate(self.pending):
                if match(record):
                    return self.pending.pop(i)
            if time.time() > deadline:
                raise SystemExit(f"no host-call record matched within {timeout} s")
            time.sleep(0.02)

    def drain(self):
        self._read()
        out, self.pending = self.pending, []
        return out


def http_record(method, path):
    return lambda r: r.get("trigger") == "http" and r["method"] == method and r["path"] == path


def describe(record):
    """`var 3, kv 0, pg 1o+2q+1x, ...`: calls per interface, methods abbreviated."""
    parts = []
    for name in INTERFACES:
        calls = record["interfaces"].get(name, {}).get("calls", {})
        if not calls:
            continue
        if name == "pg":
            text = "+".join(f"{n}{m[0]}" for m, n in sorted(calls.items()))
        elif len(calls) == 1 and name in ("variables", "outbound_http"):
            text = str(sum(calls.values()))
        else:
            text = "+".join(f"{n} {m}" for m, n in sorted(calls.items()))
        parts.append(f"{SHORT[name]} {text}")
    return ", ".join(parts) or "-"


def totals(record):
    ifs = record["interfaces"].values()
    pg = record["interfaces"].get("pg", {})
    return (sum(i["values_in"] for i in ifs), sum(i["values_out"] for i in ifs),
            pg.get("bytes_out", 0), pg.get("zero_row_queries", 0))


def main():
    ap = argparse.ArgumentParser(prog="bench/host-calls", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=20, help="tasks seeded for the user (default 20)")
    ap.add_argument("--out", help="JSON output (default bench/results/host-calls-<UTC timestamp>.json)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (host log, call log)")
    a = ap.parse_args()

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_path = Path(a.out) if a.out else BENCH / "results" / f"host-calls-{stamp}.json"
    work = Path(tempfile.mkdtemp(prefix="todo-host-calls."))
    calls_file = work / "calls.jsonl"
    infra = Infra(work, PG_OPTS[False])
    rows = []
    try:
        infra.start()
        secret, sweep_token = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
        redis_url = f"redis://127.0.0.1:{infra.redis_port}"
        env = {**os.environ,
               "SPIN_VARIABLE_DB_URL": infra.db_url, "SPIN_VARIABLE_DB_HOST": f"127.0.0.1:{infra.pg_port}",
               "SPIN_VARIABLE_REDIS_URL": redis_url, "SPIN_VARIABLE_REDIS_HOST": f"127.0.0.1:{infra.redis_port}",
               "SPIN_VARIABLE_JWT_HS256_SECRET": secret, "SPIN_VARIABLE_SWEEP_TOKEN": sweep_token,
               # The SSE instance ends (and is recorded) after 2 s.
               "SPIN_VARIABLE_SSE_LIFETIME_SECONDS": "2",
               "TODO_HOST_CALL_LOG": str(calls_file), "TODO_HOST_LOG": "warn"}
        rc = work / "runtime-config.toml"
        rc.write_text(f'[key_value_store.default]\ntype = "redis"\nurl = "{redis_url}"\n\n'
                      '[key_value_store.local]\ntype = "spin"\n')
        _, url = infra.start_host(["--runtime-config-file", str(rc)], env, "host")
        user = "calls-user"
        client = Client(url, hs256_token(secret, user))
        records = CallLog(calls_file)

        log(f"seeding {a.tasks} tasks")
        ids = seed(client, user, a.tasks, 0)
        # An instance may still run after its response (it publishes the events then): wait
        # for every seeding record, so that none is taken for a later request.
        for _ in ids:
            records.take(http_record("POST", f"/api/{user}/tasks"))
        base = f"/api/{user}"
        reminder_task = None

        def request(label, method, path, body=None, headers=None, expect=None):
            conn_headers = {"Authorization": f"Bearer {client.token}"}
            conn_headers.update(headers or {})
            status, payload = raw_request(url, method, path, body, conn_headers)
            if expect is not None and status != expect:
                raise SystemExit(f"{label}: {method} {path} answered {status}: {payload[:300]!r}")
            record = records.take(http_record(method, urllib.parse.urlsplit(path).path))
            if record["status"] != status:
                raise SystemExit(f"{label}: the record says {record['status']}, the response {status}")
            rows.append({"label": label, "request": f"{method} {path}", "record": record})
            return status, payload

        log("one request per route")
        request("health", "GET", "/health")
        request("health/live", "GET", "/health/live", expect=200)
        request("health/ready", "GET", "/health/ready", expect=200)
        request("openapi", "GET", "/api/openapi.json", expect=200)
        request("preflight", "OPTIONS", f"{base}/tasks",
                headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
        request(f"list ({a.tasks} tasks)", "GET", f"{base}/tasks", expect=200)
        request("list filtered", "GET", f"{base}/tasks?priority=high&sort_by=dueDate&sort_order=asc&limit=5", expect=200)
        request("list search (no match)", "GET", f"{base}/tasks?search=zzzz-no-such-text", expect=200)
        request("get", "GET", f"{base}/tasks/{ids[0]}", expect=200)
        request("get (not found)", "GET", f"{base}/tasks/{uuid.uuid4()}", expect=404)
        _, created = request("create", "POST", f"{base}/tasks",
                             {"title": "Counted", "priority": "high", "tags": ["a", "b"]}, expect=201)
        created_id = json.loads(created)["id"]
        key = {"Idempotency-Key": secrets.token_hex(8)}
        body = {"title": "Idempotent", "category": "work"}
        request("create (idempotency key)", "POST", f"{base}/tasks", body, key, expect=201)
        request("create (replay)", "POST", f"{base}/tasks", body, key, expect=201)
        request("create (invalid)", "POST", f"{base}/tasks", {"title": ""}, expect=422)
        request("update", "PUT", f"{base}/tasks/{ids[1]}", {"title": "Renamed", "tags": ["x"]}, expect=200)
        request("update (If-Match stale)", "PUT", f"{base}/tasks/{ids[1]}", {"title": "Again"},
                {"If-Match": "\"1\""}, expect=412)
        request("toggle (complete)", "PATCH", f"{base}/tasks/{ids[2]}/complete", expect=200)
        request("toggle (reopen)", "PATCH", f"{base}/tasks/{ids[2]}/complete", expect=200)
        request("delete", "DELETE", f"{base}/tasks/{created_id}", expect=204)
        request("delete (not found)", "DELETE", f"{base}/tasks/{created_id}", expect=404)
        request("stats", "GET", f"{base}/stats", expect=200)
        request("audit", "GET", f"{base}/audit?limit=20", expect=200)
        request("notifications (empty)", "GET", f"{base}/notifications", expect=200)

        # A reminder due now becomes a notification on the next cron sweep (every 5 s).
        due = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        _, reminder = request("create (with reminder)", "POST", f"{base}/tasks",
                              {"title": "Remind me", "reminderAt": due, "recurringRule": "daily",
                               "dueDate": due}, expect=201)
        reminder_task = json.loads(reminder)["id"]
        log("waiting for the reminder sweep to create the notification")
        deadline = time.time() + 60
        note = ""
        while time.time() < deadline and not note:
            # Straight from the database: a request would add records of its own.
            note = infra.psql(f"SELECT id FROM notifications WHERE user_id = '{user}' LIMIT 1")
            if not note:
                time.sleep(0.5)
        if not note:
            raise SystemExit("no notification within 60 s")
        request("notifications", "GET", f"{base}/notifications?limit=10", expect=200)
        request("notification read", "PATCH", f"{base}/notifications/{note}/read", expect=200)
        request("notifications read-all", "PATCH", f"{base}/notifications/read-all", expect=200)
        request("notification delete", "DELETE", f"{base}/notifications/{note}", expect=200)
        request("toggle (recurring: successor)", "PATCH", f"{base}/tasks/{reminder_task}/complete", expect=200)

        log("SSE connect (the stream ends after 2 s)")
        t0 = time.time()
        status, _ = raw_request(url, "GET", f"/api/sse/{user}", None,
                                {"Authorization": f"Bearer {client.token}"}, read_timeout=30)
        record = records.take(http_record("GET", f"/api/sse/{user}"))
        rows.append({"label": f"SSE stream ({time.time() - t0:.0f} s)", "request": f"GET /api/sse/{user}",
                     "record": record})

        sweep = {"Authorization": f"Bearer {sweep_token}"}
        for name in ("reminders", "outbox"):
            path = f"/internal/sweeps/{name}"
            status, payload = raw_request(url, "POST", path, None, sweep)
            if status != 200:
                raise SystemExit(f"sweep {name}: {status} {payload[:200]!r}")
            rows.append({"label": f"sweep {name} (HTTP)", "request": f"POST {path}",
                         "record": records.take(http_record("POST", path))})

        # Let the consumers finish and each cron sweep tick once more, then report every shape
        # of record they left: per component and channel (or schedule), one row per call count.
        log("collecting the Redis consumers' and cron sweeps' records")
        rest = records.drain()
        for component in ("notification-service", "outbox-relay"):
            rest.append(records.take(
                lambda r, c=component: r.get("trigger") == "cron" and r["component"] == c, 30))
        rest += records.drain()
        shapes = {}
        for rec in rest:
            if rec.get("trigger") == "redis":
                key = (f"{rec['component']} <- {rec['channel']}", "message")
            elif rec.get("trigger") == "cron":
                key = (f"cron {rec['component']}", rec["schedule"])
            else:
                continue
            shapes.setdefault((key, rec["total_calls"]), []).append(rec)
        for ((label, what), calls), recs in sorted(shapes.items()):
            rows.append({"label": f"{label} (x{len(recs)})", "request": what, "record": recs[0]})
    finally:
        infra.stop()

    print_table(rows)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"started": stamp, "host": f"target/{HOST_PROFILE}/todo-host",
                                    "tasks": a.tasks, "rows": rows}, indent=1))
    log(f"records written to {out_path}")
    if not a.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"work directory kept: {work}")
    return 0


def raw_request(base_url, method, path, body, headers, read_timeout=30):
    import http.client
    u = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=read_timeout)
    data = None
    headers = dict(headers)
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp.status, payload


def print_table(rows):
    head = ("route", "status", "calls", "by interface", "values in", "values out", "pg bytes out",
            "pg 0-row q")
    lines = [head]
    for row in rows:
        r = row["record"]
        status = r.get("status", "ok" if r.get("ok") else "error")
        vin, vout, pg_bytes, zero_rows = totals(r)
        lines.append((row["label"], str(status), str(r["total_calls"]), describe(r), str(vin), str(vout),
                      str(pg_bytes), str(zero_rows) if zero_rows else ""))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for i, line in enumerate(lines):
        print("  ".join(cell.ljust(widths[j]) if j in (0, 3) else cell.rjust(widths[j])
                        for j, cell in enumerate(line)))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
