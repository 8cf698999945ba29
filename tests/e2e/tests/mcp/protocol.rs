//! The protocol: every revision served without a session, and protocol errors with their
//! JSON-RPC codes and HTTP statuses.

use serde_json::{json, Value};
use todo_e2e::{spawn_app, TOOLS};

use crate::{answer, legacy, meta, modern, post, rpc, MODERN};

const LEGACY: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

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

/// The deepest arguments the parser accepts reach the tool (and fail its validation); deeper
/// ones, up to what the body limit allows, are parse errors: never a trap of the component.
#[tokio::test]
async fn deeply_nested_requests_are_protocol_or_tool_errors() {
    let app = spawn_app().await;
    let token = app.token("alice");
    let call = |tags: String| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"create_task","arguments":{{"title":"x","tags":{tags}}}}}}}"#
        )
    };
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let accepted = post(&app, Some(&token))
        .header("mcp-protocol-version", "2025-11-25")
        .body(call(nested(124)))
        .send()
        .await
        .unwrap();
    let (status, body) = answer(accepted).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["isError"], true, "{body}");
    for body in [call(nested(125)), nested(32 * 1024 - 1)] {
        let response = post(&app, Some(&token))
            .header("mcp-protocol-version", "2025-11-25")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(answer(response).await).await, (400, -32700));
    }
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
