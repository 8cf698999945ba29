"""A local OpenAI-compatible Chat Completions server for the assistant's tests.

It answers `POST /v1/chat/completions` with scripted completions, built as dicts and checked
with the official `openai` package's types (`ChatCompletion`, `ChatCompletionChunk`) before
they go out, so the wire format is the real one; each request the assistant sends is checked
against the `openai` request types (`CompletionCreateParams...`) and recorded, so tests can
assert on what was sent (tools, instructions, language, time zone, history).

Control (for the tests):
  POST /_script   {"responses": [step, ...]}  appends scripted answers, used in order
  GET  /_requests                             every completion request so far, in order
Each step is one answer:
  {"text": "..."}                                  an answer (streamed when asked to stream)
  {"tool_calls": [{"name": ..., "arguments": {...} or "raw text", "id"?: ...}]}
  {"status": 500, "message": "..."}                an HTTP error with an OpenAI error body
  {"malformed": true}                              a body (or stream chunk) that is not JSON
  {"delay": seconds, ...}                          waits before answering (timeouts)
  {"stall": seconds, ...}                          streams one chunk, then waits
  {"whole": true, ...}                             answers one JSON completion even if asked to stream
With no step left it answers "OK".

Prints `listening on <port>` once it serves; stops when its stdin closes (its test ended).
"""

import json
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import (
    CompletionCreateParamsNonStreaming,
    CompletionCreateParamsStreaming,
)
from pydantic import TypeAdapter

LOCK = threading.Lock()
SCRIPT = []
REQUESTS = []
STREAMING_PARAMS = TypeAdapter(CompletionCreateParamsStreaming)
WHOLE_PARAMS = TypeAdapter(CompletionCreateParamsNonStreaming)
MODEL = "fake-model"


def materialize(value):
    """Consumes pydantic's lazy iterable validators, so every element is validated."""
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    return [materialize(v) for v in value]


def check_request(body):
    """The request against the official request types: None if valid, else the error."""
    try:
        adapter = STREAMING_PARAMS if body.get("stream") else WHOLE_PARAMS
        materialize(adapter.validate_python(body))
        return None
    except Exception as error:  # the validation error's text is what the test shows
        return str(error)


def tool_calls_of(step):
    calls = []
    for i, call in enumerate(step.get("tool_calls", [])):
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.append(
            {
                "id": call.get("id", f"call_{uuid.uuid4().hex[:12]}"),
                "type": "function",
                "function": {"name": call["name"], "arguments": arguments},
                "index": i,
            }
        )
    return calls


def whole_completion(step):
    calls = tool_calls_of(step)
    message = {"role": "assistant", "content": step.get("text")}
    if calls:
        message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
    body = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else "stop",
                "logprobs": None,
            }
        ],
    }
    return ChatCompletion.model_validate(body).model_dump_json(exclude_unset=True)


def chunks(step):
    """The `chat.completion.chunk`s of a streamed answer, as JSON text."""
    ident = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())

    def chunk(delta, finish_reason=None):
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        return ChatCompletionChunk.model_validate(body).model_dump_json(exclude_unset=True)

    out = [chunk({"role": "assistant", "content": ""})]
    text = step.get("text") or ""
    for start in range(0, len(text), 7):
        out.append(chunk({"content": text[start : start + 7]}))
    calls = tool_calls_of(step)
    for call in calls:
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": call["index"],
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        for piece in (arguments[:half], arguments[half:]):
            out.append(chunk({"tool_calls": [{"index": call["index"], "function": {"arguments": piece}}]}))
    out.append(chunk({}, "tool_calls" if calls else "stop"))
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out as separate writes: without this, Nagle's algorithm holds
        # the second until the client's (delayed) ACK of the first, 40 ms later.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def do_GET(self):
        if self.path == "/_requests":
            with LOCK:
                self.reply(200, json.dumps(REQUESTS))
        else:
            self.reply(404, "{}")

    def do_POST(self):
        raw = self.read_body()
        if self.path == "/_script":
            with LOCK:
                SCRIPT.extend(json.loads(raw)["responses"])
            return self.reply(200, "{}")
        if self.path != "/v1/chat/completions":
            return self.reply(404, json.dumps({"error": {"message": "not found"}}))
        body = json.loads(raw)
        invalid = check_request(body)
        with LOCK:
            REQUESTS.append(
                {
                    "body": body,
                    "authorization": self.headers.get("Authorization"),
                    "invalid": invalid,
                }
            )
            step = SCRIPT.pop(0) if SCRIPT else {"text": "OK"}
        if invalid:
            return self.reply(400, json.dumps({"error": {"message": f"invalid request: {invalid}"}}))
        try:
            self.answer(body, step)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the assistant gave up (its deadline): nothing to answer

    def answer(self, body, step):
        time.sleep(step.get("delay", 0))
        if "status" in step:
            error = {"error": {"message": step.get("message", "error"), "type": "server_error"}}
            return self.reply(step["status"], json.dumps(error))
        if step.get("malformed") and (not body.get("stream") or step.get("whole")):
            return self.reply(200, '{"id": "chatcmpl-x", "choices": [')
        if not body.get("stream") or step.get("whole"):
            return self.reply(200, whole_completion(step))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = chunks(step)
        if step.get("malformed"):
            events = events[:1] + ["{this is not json"]
        for i, data in enumerate(events):
            self.write_chunk(f"data: {data}\n\n".encode())
            if i == 0 and step.get("stall"):
                time.sleep(step["stall"])
        self.write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening on {server.server_address[1]}", flush=True)
    sys.stdin.read()  # returns when the test's end closes our stdin
    server.shutdown()


if __name__ == "__main__":
    main()
