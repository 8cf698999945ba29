"""Measures the assistant's own time per message (see bench/assistant.sh)."""

import json
import statistics
import sys
import threading
import time
import http.client
from urllib.parse import urlparse

BASE, TOKEN, MODEL, MESSAGES, CLIENTS, PROFILE = sys.argv[1:7]
MESSAGES, CLIENTS = int(MESSAGES), int(CLIENTS)


class Client:
    def __init__(self, base):
        url = urlparse(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)

    def post(self, path, body, headers=None):
        data = json.dumps(body).encode()
        started = time.perf_counter()
        self.conn.request("POST", path, data, {"Content-Type": "application/json", **(headers or {})})
        response = self.conn.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"POST {path}: {response.status} {payload[:300]!r}")
        return elapsed, payload


def script(steps):
    Client(MODEL).post("/_script", {"responses": steps})


def requests_so_far():
    conn = Client(MODEL).conn
    conn.request("GET", "/_requests")
    return json.loads(conn.getresponse().read())


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run(name, steps_per_message, model_calls, same_thread):
    per_client = MESSAGES // CLIENTS
    script(steps_per_message * (per_client * CLIENTS))
    before = len(requests_so_far())
    latencies = []
    lock = threading.Lock()

    def client():
        chat = Client(BASE)
        thread_id = None
        for i in range(per_client):
            body = {"message": f"message {i}: add a task to buy oat milk", "time_zone": "Asia/Karachi"}
            if same_thread and thread_id:
                body["thread_id"] = thread_id
            elapsed, payload = chat.post("/api/chat", body, {"Authorization": f"Bearer {TOKEN}"})
            reply = json.loads(payload)
            if "error" in reply:
                raise SystemExit(f"{name}: the assistant reported {reply['error']}")
            thread_id = reply["thread_id"]
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    sent = requests_so_far()[before:]
    # The model's own time: the same requests straight to the model server, one client,
    # each answered with the step it got (the default "OK" text is as cheap as any).
    # A new connection per request, as the assistant makes (Spin's outbound HTTP pools none).
    direct = []
    for request in sent[: min(len(sent), 200)]:
        elapsed, _ = Client(MODEL).post("/v1/chat/completions", request["body"])
        direct.append(elapsed)
    model_p50 = statistics.median(direct) * model_calls
    chat_p50 = statistics.median(latencies)
    return {
        "scenario": name,
        "messages": len(latencies),
        "clients": CLIENTS,
        "chat_p50_ms": round(chat_p50 * 1000, 2),
        "chat_p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "messages_per_s": round(len(latencies) / wall, 1),
        "model_calls_per_message": model_calls,
        "model_direct_p50_ms": round(model_p50 * 1000, 2),
        "overhead_p50_ms": round((chat_p50 - model_p50) * 1000, 2),
    }


results = [
    run("text", [{"text": "Sure, noted."}], 1, False),
    run("thread", [{"text": "Sure, noted."}], 1, True),
    run(
        "tool",
        [
            {"tool_calls": [{"name": "create_task", "arguments": {"title": "Buy oat milk"}}]},
            {"text": "Added Buy oat milk."},
        ],
        2,
        False,
    ),
]
print(f"assistant overhead ({PROFILE} host, {CLIENTS} client(s)); model server answering at once:")
print(f"{'scenario':10} {'msgs':>5} {'chat p50':>10} {'chat p99':>10} {'msg/s':>7} {'model p50':>10} {'overhead p50':>13}")
for r in results:
    print(
        f"{r['scenario']:10} {r['messages']:>5} {r['chat_p50_ms']:>8.1f}ms {r['chat_p99_ms']:>8.1f}ms "
        f"{r['messages_per_s']:>7} {r['model_direct_p50_ms']:>8.1f}ms {r['overhead_p50_ms']:>11.1f}ms"
    )
print("BENCH " + json.dumps(results))
