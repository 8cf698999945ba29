//! The MCP server (`POST /mcp`, component `mcp`) end to end: every protocol revision it serves,
//! every protocol error with its JSON-RPC code and HTTP status, the HTTP edge (methods, body
//! limit, media types, `Origin`, CORS, `X-Request-Id`), authentication as the MCP
//! authorization spec has it (401 with the RFC 9728 challenge, the metadata document), the
//! seven tools with results checked against their `outputSchema`, tool errors with the REST
//! API's messages, isolation between users, and the events a change through MCP emits.
//! The official SDK clients and the conformance suite run in `tests/mcp` (scripts/test).

use std::time::{Duration, Instant};

use futures::StreamExt;
use jwt_simple::prelude::*;
use serde_json::{json, Value};
use todo_e2e::{spawn_app, spawn_app_with, AppOptions, TestApp};

const MODERN: &str = "2026-07-28";
const LEGACY: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
const TOOLS: [&str; 7] = [
    "create_task",
    "list_tasks",
    "get_task",
    "update_task",
    "delete_task",
    "toggle_complete",
    "get_stats",
];

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

/// Calls a tool that must fail as a tool error; returns its message.
async fn call_err(app: &TestApp, user: &str, tool: &str, arguments: Value) -> String {
    let result = call(app, user, tool, arguments.clone()).await;
    assert_eq!(result["isError"], true, "{tool} {arguments}: {result}");
    assert!(result.get("structuredContent").is_none(), "{result}");
    result["content"][0]["text"].as_str().unwrap().to_string()
}

async fn error_code(status_and_body: (u16, Value)) -> (u16, i64) {
    let (status, body) = status_and_body;
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    (
        status,
        body["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("not an error: {body}")),
    )
}

async fn task_count(app: &TestApp) -> i64 {
    app.pg()
        .await
        .query_one("SELECT count(*) FROM tasks", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn every_revision_is_served_without_a_session() {
    let app = spawn_app().await;
    for version in LEGACY {
        let init = rpc(
            "initialize",
            json!({"protocolVersion": version, "capabilities": {},
                   "clientInfo": {"name": "e2e", "version": "1"}}),
        );
        let response = post(&app, Some(&app.token("alice")))
            .json(&init)
            .send()
            .await
            .unwrap();
        assert!(response.headers().get("mcp-session-id").is_none());
        let (status, body) = answer(response).await;
        assert_eq!(status, 200, "{body}");
        let result = &body["result"];
        assert_eq!(result["protocolVersion"], version);
        assert_eq!(result["capabilities"]["tools"]["listChanged"], false);
        assert_eq!(result["serverInfo"]["name"], "todo-backend");

        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = post(&app, Some(&app.token("alice")))
            .header("mcp-protocol-version", version)
            .json(&note)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        assert!(response.text().await.unwrap().is_empty());

        let (status, body) = legacy(&app, "alice", Some(version), &rpc("ping", json!({}))).await;
        assert_eq!((status, &body["result"]), (200, &json!({})));
        let (_, body) = legacy(&app, "alice", Some(version), &rpc("tools/list", json!({}))).await;
        let names: Vec<&str> = body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tool| tool["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, TOOLS);
    }
    // A client newer than the server is offered the newest 2025 revision.
    let init = rpc(
        "initialize",
        json!({"protocolVersion": "2099-01-01", "capabilities": {}}),
    );
    let (_, body) = legacy(&app, "alice", None, &init).await;
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");

    let (status, body) = modern(&app, "alice", "server/discover", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["supportedVersions"],
        json!([MODERN, "2025-11-25", "2025-06-18", "2025-03-26"])
    );
    assert_eq!(body["result"]["resultType"], "complete");
    let (status, body) = modern(&app, "alice", "tools/list", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["tools"].as_array().unwrap().len(), 7);
    assert_eq!(body["result"]["cacheScope"], "public");
    assert_eq!(
        body["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "todo-backend"
    );
}

#[tokio::test]
async fn protocol_errors_have_their_json_rpc_codes_and_http_statuses() {
    let app = spawn_app().await;
    let token = app.token("alice");
    let raw = |body: &'static str| {
        post(&app, Some(&token))
            .header("mcp-protocol-version", "2025-11-25")
            .body(body)
    };
    assert_eq!(
        error_code(answer(raw("{nope").send().await.unwrap()).await).await,
        (400, -32700)
    );
    let (_, body) = answer(raw("{nope").send().await.unwrap()).await;
    assert_eq!(body["id"], Value::Null);
    let batch =
        r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#;
    assert_eq!(
        error_code(answer(raw(batch).send().await.unwrap()).await).await,
        (400, -32600)
    );
    let no_version = r#"{"id":3,"method":"ping"}"#;
    let (status, body) = answer(raw(no_version).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_i64(), &body["id"]),
        (400, Some(-32600), &json!(3))
    );
    let null_id = r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#;
    assert_eq!(
        error_code(answer(raw(null_id).send().await.unwrap()).await).await,
        (400, -32600)
    );

    // Unknown methods: 200 in the 2025 revisions, 404 in 2026-07-28 (ping is not one of its methods).
    let unknown = rpc("resources/list", json!({}));
    assert_eq!(
        error_code(legacy(&app, "alice", Some("2025-11-25"), &unknown).await).await,
        (200, -32601)
    );
    assert_eq!(
        error_code(modern(&app, "alice", "resources/list", json!({})).await).await,
        (404, -32601)
    );
    assert_eq!(
        error_code(modern(&app, "alice", "ping", json!({})).await).await,
        (404, -32601)
    );

    // Params: an unknown tool, arguments that are not an object, no name.
    for params in [
        json!({"name": "drop_tables", "arguments": {}}),
        json!({"name": "get_stats", "arguments": [1]}),
        json!({"name": "get_stats", "arguments": "x"}),
        json!({"arguments": {}}),
    ] {
        let body = rpc("tools/call", params.clone());
        assert_eq!(
            error_code(legacy(&app, "alice", Some("2025-06-18"), &body).await).await,
            (200, -32602),
            "{params}"
        );
        assert_eq!(
            error_code(modern(&app, "alice", "tools/call", params.clone()).await).await,
            (400, -32602),
            "{params}"
        );
    }
    let (_, body) = modern(&app, "alice", "tools/call", json!({"name": "drop_tables"})).await;
    assert_eq!(body["error"]["message"], "Unknown tool: drop_tables");

    // An unsupported MCP-Protocol-Version: 400, naming the supported ones.
    for version in ["2024-11-05", "1999-01-01", "latest"] {
        let (status, body) =
            legacy(&app, "alice", Some(version), &rpc("tools/list", json!({}))).await;
        assert_eq!(
            (status, body["error"]["code"].as_i64()),
            (400, Some(-32022)),
            "{version}"
        );
        assert_eq!(body["error"]["data"]["requested"], version);
        assert_eq!(body["error"]["data"]["supported"][0], MODERN);
    }

    // 2026-07-28: the _meta envelope is required, and the mirrored headers must match.
    let with_meta = |method: &str, extra: Value| {
        let mut params = extra;
        params["_meta"] = meta();
        rpc(method, params)
    };
    let send = |headers: Vec<(&'static str, &'static str)>, body: Value| {
        let mut request = post(&app, Some(&token)).json(&body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move { error_code(answer(request.send().await.unwrap()).await).await }
    };
    let headers =
        |method: &'static str| vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    assert_eq!(
        send(headers("tools/list"), rpc("tools/list", json!({}))).await,
        (400, -32602)
    );
    let no_caps = rpc(
        "tools/list",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}),
    );
    assert_eq!(send(headers("tools/list"), no_caps).await, (400, -32602));
    assert_eq!(
        send(vec![], with_meta("tools/list", json!({}))).await,
        (400, -32020)
    );
    assert_eq!(
        send(
            vec![
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "tools/list")
            ],
            with_meta("tools/list", json!({}))
        )
        .await,
        (400, -32020)
    );
    assert_eq!(
        send(
            vec![("mcp-protocol-version", MODERN)],
            with_meta("tools/list", json!({}))
        )
        .await,
        (400, -32020)
    );
    assert_eq!(
        send(headers("tools/call"), with_meta("tools/list", json!({}))).await,
        (400, -32020)
    );
    let stats = with_meta("tools/call", json!({"name": "get_stats"}));
    assert_eq!(
        send(headers("tools/call"), stats.clone()).await,
        (400, -32020)
    );
    let mut wrong_name = headers("tools/call");
    wrong_name.push(("mcp-name", "list_tasks"));
    assert_eq!(send(wrong_name, stats.clone()).await, (400, -32020));
    let mut twice = reqwest::header::HeaderMap::new();
    twice.append("mcp-method", "tools/list".parse().unwrap());
    twice.append("mcp-method", "tools/list".parse().unwrap());
    twice.append("mcp-protocol-version", MODERN.parse().unwrap());
    let response = post(&app, Some(&token))
        .headers(twice)
        .json(&with_meta("tools/list", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(answer(response).await).await, (400, -32020));
    // The Mcp-Name header may carry the name base64-encoded.
    let mut encoded = headers("tools/call");
    encoded.push(("mcp-name", "=?base64?Z2V0X3N0YXRz?="));
    let mut request = post(&app, Some(&token)).json(&stats);
    for (name, value) in encoded {
        request = request.header(name, value);
    }
    let (status, body) = answer(request.send().await.unwrap()).await;
    assert_eq!(
        (status, &body["result"]["isError"]),
        (200, &json!(false)),
        "{body}"
    );
}

#[tokio::test]
async fn the_http_edge_behaves_as_on_the_api() {
    let app = spawn_app().await;
    let token = app.token("alice");
    for method in [
        reqwest::Method::GET,
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
    ] {
        let response = app
            .client
            .request(method.clone(), app.url("/mcp"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "POST, OPTIONS");
    }
    // The body limit: 413, and nothing runs.
    let huge = rpc(
        "tools/call",
        json!({"name": "create_task", "arguments": {"title": "x", "description": "d".repeat(70 * 1024)}}),
    );
    let response = post(&app, Some(&token)).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(task_count(&app).await, 0);
    let body = rpc("ping", json!({}));
    let response = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 406);

    // Origin: a page of another origin is refused (DNS rebinding); an allowed one gets CORS.
    let response = post(&app, Some(&token))
        .header("origin", "http://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = post(&app, Some(&token))
        .header("origin", "http://localhost:3000")
        .header("x-request-id", "req-mcp-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(response.headers()["x-request-id"], "req-mcp-1");
    let response = post(&app, Some(&token)).json(&body).send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"].len(), 36);
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/mcp"))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
    ] {
        assert!(allowed.contains(name), "{allowed}");
    }
}

fn expired_token(user: &str) -> String {
    let now = chrono::Utc::now().timestamp() as u64;
    let mut claims =
        Claims::create(jwt_simple::prelude::Duration::from_hours(1)).with_subject(user);
    claims.issued_at = Some(UnixTimeStamp::from_secs(now - 7200));
    claims.expires_at = Some(UnixTimeStamp::from_secs(now - 3600));
    HS256Key::from_bytes(todo_e2e::HS256_SECRET.as_bytes())
        .authenticate(claims)
        .unwrap()
}

#[tokio::test]
async fn bad_credentials_get_401_with_the_protected_resource_challenge() {
    let app = spawn_app_with(AppOptions {
        variables: vec![("auth_issuer".into(), "https://auth.example.com".into())],
    })
    .await;
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let payload = b64(json!({"sub": "alice", "exp": chrono::Utc::now().timestamp() + 3600}));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("expired", Some(expired_token("alice"))),
        (
            "alg none",
            Some(format!(
                "{}.{payload}.",
                b64(json!({"alg": "none", "typ": "JWT"}))
            )),
        ),
        (
            "bypass-signature",
            Some(format!(
                "{}.{payload}.bypass-signature",
                b64(json!({"alg": "HS256", "typ": "JWT"}))
            )),
        ),
        ("garbage", Some("not-a-jwt".into())),
    ];
    let metadata_url = app.url("/.well-known/oauth-protected-resource");
    let create = rpc(
        "tools/call",
        json!({"name": "create_task", "arguments": {"title": "sneaky"}}),
    );
    for (case, token) in cases {
        let response = post(&app, token.as_deref())
            .header("mcp-protocol-version", "2025-11-25")
            .json(&create)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{case}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.starts_with("Bearer "), "{case}: {challenge}");
        assert!(
            challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
            "{case}: {challenge}"
        );
        assert_eq!(
            challenge.contains("error=\"invalid_token\""),
            token.is_some(),
            "{case}: {challenge}"
        );
    }
    assert_eq!(task_count(&app).await, 0);

    // The metadata document is public.
    let document: Value = app
        .client
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["resource"], app.url(""));
    assert_eq!(
        document["authorization_servers"],
        json!(["https://auth.example.com"])
    );
    assert_eq!(document["bearer_methods_supported"], json!(["header"]));
    let response = app
        .client
        .get(app.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["resource"], app.url("/mcp"));
}

/// The `outputSchema` of each tool, from `tools/list`.
async fn output_schemas(app: &TestApp) -> std::collections::HashMap<String, Value> {
    let (_, body) = modern(app, "alice", "tools/list", json!({})).await;
    body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| {
            (
                tool["name"].as_str().unwrap().to_string(),
                tool["outputSchema"].clone(),
            )
        })
        .collect()
}

fn assert_matches_schema(tool: &str, schema: &Value, value: &Value) {
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{tool}: {errors:?} in {value}");
}

#[tokio::test]
async fn every_tool_runs_and_its_result_matches_its_output_schema() {
    let app = spawn_app().await;
    let schemas = output_schemas(&app).await;
    let check = |tool: &str, value: &Value| assert_matches_schema(tool, &schemas[tool], value);

    let created = call_ok(&app, "alice", "create_task", json!({
        "title": "Pay rent", "priority": "high", "category": "home", "due_date": "2030-01-31T10:00:00+01:00",
        "recurring_rule": "monthly", "reminder_at": "2030-01-31T08:00:00Z", "tags": ["Bills", "bills"],
        "time_zone": "Europe/Paris", "description": "  flat  "
    })).await;
    check("create_task", &created);
    assert_eq!(created["dueDate"], "2030-01-31T09:00:00.000Z");
    assert_eq!(created["tags"], json!(["bills"]));
    assert_eq!(created["description"], "flat");
    let id = created["id"].as_str().unwrap().to_string();
    // The REST API returns exactly the task the tool returned.
    let rest: Value = app
        .get_json("alice", &format!("/api/alice/tasks/{id}"))
        .await;
    assert_eq!(rest, created);

    let second = call_ok(
        &app,
        "alice",
        "create_task",
        json!({"title": "Buy milk", "user_id": "alice"}),
    )
    .await;
    let got = call_ok(&app, "alice", "get_task", json!({"task_id": id})).await;
    check("get_task", &got);
    assert_eq!(got, created);

    let page = call_ok(
        &app,
        "alice",
        "list_tasks",
        json!({"limit": 1, "sort_by": "title", "sort_order": "asc"}),
    )
    .await;
    check("list_tasks", &page);
    assert_eq!(page["tasks"][0]["title"], "Buy milk");
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = call_ok(
        &app,
        "alice",
        "list_tasks",
        json!({"limit": 1, "sort_by": "title", "sort_order": "asc", "cursor": cursor}),
    )
    .await;
    check("list_tasks", &next);
    assert_eq!(next["tasks"][0]["id"], id.as_str());
    assert_eq!(next["next_cursor"], Value::Null);
    let filtered = call_ok(
        &app,
        "alice",
        "list_tasks",
        json!({"tags": ["bills"], "priority": "high"}),
    )
    .await;
    assert_eq!(filtered["tasks"].as_array().unwrap().len(), 1);

    let updated = call_ok(
        &app,
        "alice",
        "update_task",
        json!({"task_id": id, "title": "Pay the rent", "due_date": null, "recurring_rule": null}),
    )
    .await;
    check("update_task", &updated);
    assert_eq!(
        (updated["title"].as_str(), &updated["dueDate"]),
        (Some("Pay the rent"), &Value::Null)
    );
    assert_eq!(updated["version"], 2);

    let toggled = call_ok(&app, "alice", "toggle_complete", json!({"task_id": id})).await;
    check("toggle_complete", &toggled);
    assert_eq!(
        (toggled["status"].as_str(), &toggled["completed"]),
        (Some("completed"), &json!(true))
    );

    let stats = call_ok(&app, "alice", "get_stats", json!({})).await;
    check("get_stats", &stats);
    assert_eq!(
        (
            stats["total"].as_i64(),
            stats["completed"].as_i64(),
            stats["pending"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );

    let deleted = call_ok(
        &app,
        "alice",
        "delete_task",
        json!({"task_id": second["id"]}),
    )
    .await;
    check("delete_task", &deleted);
    assert_eq!(deleted, json!({"deleted": true, "task_id": second["id"]}));
    let response = app
        .get(
            "alice",
            &format!("/api/alice/tasks/{}", second["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The 2025 revisions get the same results.
    let (_, body) = legacy(
        &app,
        "alice",
        Some("2025-06-18"),
        &rpc(
            "tools/call",
            json!({"name": "get_task", "arguments": {"task_id": id}}),
        ),
    )
    .await;
    assert_eq!(body["result"]["structuredContent"]["id"], id.as_str());
    assert!(body["result"].get("resultType").is_none());
}

#[tokio::test]
async fn invalid_arguments_and_missing_tasks_are_tool_errors_with_the_rest_messages() {
    let app = spawn_app().await;
    // The REST API's own words for the same body.
    let rest = app
        .post(
            "alice",
            "/api/alice/tasks",
            &json!({"title": "x", "priority": "urgent"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 422);
    let rest: Value = rest.json().await.unwrap();
    let rest_msg = rest["detail"][0]["msg"].as_str().unwrap().to_string();
    let text = call_err(
        &app,
        "alice",
        "create_task",
        json!({"title": "x", "priority": "urgent"}),
    )
    .await;
    assert_eq!(text, rest_msg);

    let cases = [
        ("create_task", json!({}), "title is required".to_string()),
        (
            "create_task",
            json!({"title": "   "}),
            "title must be 1-255 characters after trimming (it is empty)".to_string(),
        ),
        (
            "create_task",
            json!({"title": "x", "due_date": "soon"}),
            "due_date: invalid instant 'soon'".to_string(),
        ),
        (
            "create_task",
            json!({"title": "x", "tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "at most 10 distinct tags are allowed (got 11)".to_string(),
        ),
        (
            "create_task",
            json!({"title": "x", "dueDate": "2030-01-01"}),
            "unknown argument dueDate".to_string(),
        ),
        (
            "update_task",
            json!({"task_id": "nope", "title": "x"}),
            "task_id must be a UUID".to_string(),
        ),
        ("get_task", json!({}), "task_id is required".to_string()),
        (
            "list_tasks",
            json!({"limit": 501}),
            "limit must be between 1 and 500 (got 501)".to_string(),
        ),
        (
            "list_tasks",
            json!({"sort_by": "colour"}),
            "unknown sort_by 'colour'".to_string(),
        ),
    ];
    for (tool, arguments, expected) in cases {
        let text = call_err(&app, "alice", tool, arguments.clone()).await;
        assert!(text.starts_with(&expected), "{tool} {arguments}: {text}");
    }
    assert_eq!(task_count(&app).await, 0);

    let missing = uuid::Uuid::now_v7().to_string();
    for tool in ["get_task", "delete_task", "toggle_complete"] {
        assert_eq!(
            call_err(&app, "alice", tool, json!({"task_id": missing})).await,
            "Task not found",
            "{tool}"
        );
    }
    assert_eq!(
        call_err(
            &app,
            "alice",
            "update_task",
            json!({"task_id": missing, "title": "x"})
        )
        .await,
        "Task not found"
    );
}

#[tokio::test]
async fn a_user_cannot_read_or_change_another_users_tasks() {
    let app = spawn_app().await;
    let bobs = app
        .create_task("bob", json!({"title": "Bob's secret", "tags": ["private"]}))
        .await;
    let id = bobs["id"].as_str().unwrap();
    let mine = call_ok(&app, "alice", "create_task", json!({"title": "Alice's"})).await;

    for (tool, arguments) in [
        ("get_task", json!({"task_id": id})),
        ("update_task", json!({"task_id": id, "title": "pwned"})),
        ("toggle_complete", json!({"task_id": id})),
        ("delete_task", json!({"task_id": id})),
    ] {
        assert_eq!(
            call_err(&app, "alice", tool, arguments).await,
            "Task not found",
            "{tool}"
        );
    }
    // A user_id argument cannot move a tool to another user: the REST 403's words.
    for (tool, arguments) in [
        ("create_task", json!({"user_id": "bob", "title": "planted"})),
        ("list_tasks", json!({"user_id": "bob"})),
        ("get_task", json!({"user_id": "bob", "task_id": id})),
        (
            "update_task",
            json!({"user_id": "bob", "task_id": id, "title": "pwned"}),
        ),
        ("delete_task", json!({"user_id": "bob", "task_id": id})),
        ("toggle_complete", json!({"user_id": "bob", "task_id": id})),
        ("get_stats", json!({"user_id": "bob"})),
    ] {
        assert_eq!(
            call_err(&app, "alice", tool, arguments).await,
            "Not authorized to access this user's data",
            "{tool}"
        );
    }
    let listed = call_ok(&app, "alice", "list_tasks", json!({})).await;
    assert_eq!(listed["tasks"], json!([mine]));
    let listed = call_ok(
        &app,
        "alice",
        "list_tasks",
        json!({"search": "secret", "tags": ["private"]}),
    )
    .await;
    assert_eq!(listed["tasks"], json!([]));
    let stats = call_ok(&app, "alice", "get_stats", json!({})).await;
    assert_eq!(stats["total"], 1);
    // Bob's task is exactly as it was, and he has no other.
    let after: Value = app.get_json("bob", &format!("/api/bob/tasks/{id}")).await;
    assert_eq!(after, bobs);
    let all: Value = app.get_json("bob", "/api/bob/tasks").await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}

async fn successors(pg: &tokio_postgres::Client, root: uuid::Uuid) -> i64 {
    pg.query_one(
        "SELECT count(*) FROM tasks WHERE parent_task_id = $1",
        &[&root],
    )
    .await
    .unwrap()
    .get(0)
}

/// Polls `check` until it returns `Some`, for at most `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Subscribers of `channel` (the host subscribes once per Redis address for all its components).
async fn subscribers(app: &TestApp, channel: &str) -> i64 {
    let client = redis::Client::open(app.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(&mut conn)
        .await
        .unwrap();
    counts.first().map_or(0, |(_, n)| *n)
}

#[tokio::test]
async fn changes_through_mcp_are_evented_like_rest_changes() {
    let app = spawn_app().await;
    let workers = app
        .host_builder()
        .component("realtime-fanout")
        .component("audit-service")
        .component("recurring-service")
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    for channel in ["task-created", "task-updated", "task-completed"] {
        while subscribers(&app, channel).await < 1 {
            assert!(
                Instant::now() < deadline,
                "no subscriber on {channel}; the workers printed:\n{}",
                workers.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // An SSE stream for alice, open (its retry hint read) before the change.
    let stream = reqwest::Client::new()
        .get(app.url("/api/sse/alice"))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut frames = stream.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("retry:") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), frames.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    let task = call_ok(&app, "alice", "create_task", json!({
        "title": "Water the plants", "recurring_rule": "daily", "due_date": "2030-03-01T08:00:00Z"
    })).await;
    let id = task["id"].as_str().unwrap().to_string();
    let rest: Value = app
        .get_json("alice", &format!("/api/alice/tasks/{id}"))
        .await;
    assert_eq!(rest, task);

    let pg = app.pg().await;
    let (topic, payload): (String, Value) = {
        let row = pg
            .query_one(
                "SELECT topic, payload FROM events WHERE subject = $1",
                &[&id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(topic, "task-created");
    assert_eq!(payload["data"]["user_id"], "alice");
    assert_eq!(payload["data"]["data"]["task_id"], id.as_str());

    eventually("the task-created audit row", Duration::from_secs(60), || async {
        let n: i64 = pg
            .query_one("SELECT count(*) FROM audit_logs WHERE entity_id = $1 AND event_type = 'task-created'", &[&id])
            .await
            .unwrap()
            .get(0);
        (n == 1).then_some(())
    })
    .await;

    // The SSE frame of the creation.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let frame = seen
            .split("\n\n")
            .filter_map(|frame| frame.lines().find_map(|line| line.strip_prefix("data: ")))
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .find(|data| data["action"] == "created" && data["data"]["id"] == id.as_str());
        if let Some(frame) = frame {
            assert_eq!(frame["type"], "task_update");
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, frames.next())
            .await
            .expect("the created frame within 60 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // Completing the recurring task through MCP: exactly one successor.
    let done = call_ok(&app, "alice", "toggle_complete", json!({"task_id": id})).await;
    assert_eq!(done["status"], "completed");
    let root = uuid::Uuid::parse_str(&id).unwrap();
    eventually("a successor", Duration::from_secs(60), || async {
        (successors(&pg, root).await >= 1).then_some(())
    })
    .await;
    eventually("the task-completed audit row", Duration::from_secs(60), || async {
        let n: i64 = pg
            .query_one("SELECT count(*) FROM audit_logs WHERE entity_id = $1 AND event_type = 'task-completed'", &[&id])
            .await
            .unwrap()
            .get(0);
        (n == 1).then_some(())
    })
    .await;
    assert_eq!(successors(&pg, root).await, 1);
    let successor = call_ok(&app, "alice", "list_tasks", json!({"status": "pending"})).await;
    assert_eq!(successor["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(successor["tasks"][0]["parentTaskId"], id.as_str());
    assert_eq!(successor["tasks"][0]["dueDate"], "2030-03-02T08:00:00.000Z");
}
