//! The MCP server (`POST /mcp`, component `mcp`) end to end: every protocol revision it serves,
//! every protocol error with its JSON-RPC code and HTTP status, the HTTP edge (methods, body
//! limit, media types, `Origin`, CORS, `X-Request-Id`), authentication as the MCP
//! authorization spec has it (401 with the RFC 9728 challenge, the metadata document), the
//! seven tools with results checked against their `outputSchema`, tool errors with the REST
//! API's messages, isolation between users, and the events a change through MCP emits.
//! The official SDK clients and the conformance suite run in `tests/mcp` (scripts/test).

mod edge;
mod events;
mod protocol;
mod tools;

use serde_json::{json, Value};
use todo_e2e::db::count;
use todo_e2e::TestApp;

const MODERN: &str = "2026-07-28";

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "e2e", "version": "1"},
    })
}

fn rpc(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

/// A POST to /mcp with a JSON content type, the usual Accept and `token` (if any).
fn post(app: &TestApp, token: Option<&str>) -> reqwest::RequestBuilder {
    let request = app
        .client
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} {text:?}: {e}"))
    };
    (status, body)
}

/// A 2025-revision request (`version` in MCP-Protocol-Version; none: no header).
async fn legacy(app: &TestApp, user: &str, version: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = post(app, Some(&app.token(user))).json(body);
    if let Some(version) = version {
        request = request.header("mcp-protocol-version", version);
    }
    answer(request.send().await.unwrap()).await
}

/// A 2026-07-28 request: `_meta` in params and the mirrored headers.
async fn modern(app: &TestApp, user: &str, method: &str, mut params: Value) -> (u16, Value) {
    params["_meta"] = meta();
    let mut request = post(app, Some(&app.token(user)))
        .header("mcp-protocol-version", MODERN)
        .header("mcp-method", method);
    if let Some(name) = params.get("name").and_then(Value::as_str) {
        request = request.header("mcp-name", name);
    }
    answer(request.json(&rpc(method, params)).send().await.unwrap()).await
}

/// Calls a tool (2026-07-28) and returns its result object.
async fn call(app: &TestApp, user: &str, tool: &str, arguments: Value) -> Value {
    let (status, body) = modern(
        app,
        user,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
    .await;
    assert_eq!(status, 200, "{tool}: {body}");
    body["result"].clone()
}

/// Calls a tool that must succeed; returns its structured content (checked against the text).
async fn call_ok(app: &TestApp, user: &str, tool: &str, arguments: Value) -> Value {
    let result = call(app, user, tool, arguments.clone()).await;
    assert_eq!(result["isError"], false, "{tool} {arguments}: {result}");
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, result["structuredContent"], "{tool}");
    result["structuredContent"].clone()
}

/// How many tasks there are, of any user (the empty REST list would be a zero-row query).
async fn task_count(app: &TestApp) -> i64 {
    count(&app.pg().await, "SELECT count(*) FROM tasks", &[]).await
}
