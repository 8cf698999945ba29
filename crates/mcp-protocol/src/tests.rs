use serde_json::json;

use super::*;

const SERVER: ServerInfo = ServerInfo {
    name: "todo-backend",
    title: "Todo tasks",
    version: "1.0.0",
    instructions: "Manage the signed-in user's tasks.",
};

fn tools() -> Vec<Value> {
    vec![json!({"name": "get_stats", "inputSchema": {"type": "object"}})]
}

fn legacy(version: Option<&str>) -> RequestHeaders {
    RequestHeaders {
        protocol_version: version.map(str::to_string).into_iter().collect(),
        ..RequestHeaders::default()
    }
}

fn modern(method: &str, name: Option<&str>) -> RequestHeaders {
    RequestHeaders {
        protocol_version: vec![MODERN.into()],
        method: vec![method.into()],
        name: name.map(str::to_string).into_iter().collect(),
    }
}

fn meta() -> Value {
    json!({ PROTOCOL_VERSION_META: MODERN, CLIENT_CAPABILITIES_META: {} })
}

fn request(method: &str, params: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string()
        .into_bytes()
}

fn reply(outcome: Outcome) -> (u16, Value) {
    match outcome {
        Outcome::Reply { status, body } => (status, body),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn run(headers: &RequestHeaders, body: &[u8]) -> (u16, Value) {
    reply(handle(headers, body, &tools(), &SERVER))
}

fn error_of(headers: &RequestHeaders, body: &[u8]) -> (u16, i64) {
    let (status, body) = run(headers, body);
    (status, body["error"]["code"].as_i64().expect("an error"))
}

#[test]
fn initialize_answers_the_requested_2025_revision_or_the_newest() {
    for requested in LEGACY {
        let body = request(
            "initialize",
            json!({"protocolVersion": requested, "capabilities": {},
            "clientInfo": {"name": "c", "version": "1"}}),
        );
        let (status, body) = run(&legacy(None), &body);
        assert_eq!(status, 200);
        assert_eq!(body["result"]["protocolVersion"], requested);
        assert_eq!(
            body["result"]["capabilities"]["tools"],
            json!({"listChanged": false})
        );
        assert_eq!(body["result"]["serverInfo"]["name"], "todo-backend");
        assert!(body["result"].get("resultType").is_none());
    }
    for requested in ["2024-11-05", MODERN, "next"] {
        let body = request("initialize", json!({"protocolVersion": requested}));
        assert_eq!(
            run(&legacy(None), &body).1["result"]["protocolVersion"],
            LEGACY[0]
        );
    }
    let body = request("initialize", json!({"capabilities": {}}));
    assert_eq!(error_of(&legacy(None), &body), (200, INVALID_PARAMS));
}

#[test]
fn legacy_ping_and_tools_list() {
    let headers = legacy(Some("2025-06-18"));
    assert_eq!(
        run(&headers, &request("ping", json!({}))).1["result"],
        json!({})
    );
    let ping = br#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
    assert_eq!(
        run(&headers, ping).1,
        json!({"jsonrpc":"2.0","id":"p","result":{}})
    );
    let (_, body) = run(&headers, &request("tools/list", json!({})));
    assert_eq!(body["result"], json!({"tools": tools()}));
}

#[test]
fn notifications_are_accepted_in_every_revision() {
    let note = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(handle(&legacy(None), note, &[], &SERVER), Outcome::Accepted);
    assert_eq!(
        handle(&legacy(Some("2025-11-25")), note, &[], &SERVER),
        Outcome::Accepted
    );
    let headers = modern("notifications/cancelled", None);
    assert_eq!(handle(&headers, note, &[], &SERVER), Outcome::Accepted);
}

#[test]
fn an_unsupported_version_header_is_400_listing_the_supported_ones() {
    let body = request("tools/list", json!({}));
    let (status, answer) = run(&legacy(Some("2024-11-05")), &body);
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], UNSUPPORTED_PROTOCOL_VERSION);
    assert_eq!(answer["error"]["data"]["supported"], json!(SUPPORTED));
    assert_eq!(answer["error"]["data"]["requested"], "2024-11-05");
    assert_eq!(answer["id"], 1);
    let note = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(
        error_of(&legacy(Some("bogus")), note),
        (400, UNSUPPORTED_PROTOCOL_VERSION)
    );
}

#[test]
fn envelope_errors_are_400() {
    assert_eq!(error_of(&legacy(None), b"{nope"), (400, PARSE_ERROR));
    assert_eq!(error_of(&legacy(None), b"[]"), (400, INVALID_REQUEST));
    let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#;
    assert_eq!(
        error_of(&modern("ping", None), batch),
        (400, INVALID_REQUEST)
    );
}

#[test]
fn discover_lists_every_revision_and_the_tools_capability() {
    let body = request("server/discover", json!({"_meta": meta()}));
    let (status, answer) = run(&modern("server/discover", None), &body);
    assert_eq!(status, 200);
    let result = &answer["result"];
    assert_eq!(result["supportedVersions"], json!(SUPPORTED));
    assert_eq!(
        result["capabilities"]["tools"],
        json!({"listChanged": false})
    );
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["cacheScope"], "public");
    assert!(result["ttlMs"].as_u64().is_some());
    assert_eq!(result["_meta"][SERVER_INFO_META]["name"], "todo-backend");
}

#[test]
fn modern_tools_list_is_cacheable_and_complete() {
    let body = request("tools/list", json!({"_meta": meta()}));
    let (status, answer) = run(&modern("tools/list", None), &body);
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["tools"], json!(tools()));
    assert_eq!(answer["result"]["resultType"], "complete");
    assert_eq!(answer["result"]["cacheScope"], "public");
}

#[test]
fn modern_requests_need_the_meta_envelope() {
    let headers = modern("tools/list", None);
    assert_eq!(
        error_of(&headers, &request("tools/list", json!({}))),
        (400, INVALID_PARAMS)
    );
    let no_caps = json!({"_meta": {PROTOCOL_VERSION_META: MODERN}});
    assert_eq!(
        error_of(&headers, &request("tools/list", no_caps)),
        (400, INVALID_PARAMS)
    );
    let no_params = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert_eq!(error_of(&headers, no_params), (400, INVALID_PARAMS));
}

#[test]
fn mirrored_headers_must_match_the_body() {
    let body = request("tools/list", json!({"_meta": meta()}));
    // The body speaks 2026-07-28 but no MCP-Protocol-Version header came.
    assert_eq!(error_of(&legacy(None), &body), (400, HEADER_MISMATCH));
    // Header and body name different (supported) revisions.
    assert_eq!(
        error_of(&legacy(Some("2025-11-25")), &body),
        (400, HEADER_MISMATCH)
    );
    let mut no_method = modern("tools/list", None);
    no_method.method.clear();
    assert_eq!(error_of(&no_method, &body), (400, HEADER_MISMATCH));
    assert_eq!(
        error_of(&modern("tools/call", None), &body),
        (400, HEADER_MISMATCH)
    );
    let call = request("tools/call", json!({"_meta": meta(), "name": "get_stats"}));
    assert_eq!(
        error_of(&modern("tools/call", None), &call),
        (400, HEADER_MISMATCH)
    );
    assert_eq!(
        error_of(&modern("tools/call", Some("other")), &call),
        (400, HEADER_MISMATCH)
    );
    assert!(matches!(
        handle(
            &modern("tools/call", Some("get_stats")),
            &call,
            &tools(),
            &SERVER
        ),
        Outcome::CallTool { .. }
    ));
    // The base64 sentinel is decoded before comparing.
    let encoded = "=?base64?Z2V0X3N0YXRz?=";
    assert!(matches!(
        handle(
            &modern("tools/call", Some(encoded)),
            &call,
            &tools(),
            &SERVER
        ),
        Outcome::CallTool { .. }
    ));
    let mut twice = modern("tools/list", None);
    twice.method.push("tools/list".into());
    assert_eq!(error_of(&twice, &body), (400, HEADER_MISMATCH));
}

#[test]
fn a_meta_version_that_is_not_modern_is_unsupported() {
    let body = request(
        "tools/list",
        json!({"_meta": {PROTOCOL_VERSION_META: "2025-11-25", CLIENT_CAPABILITIES_META: {}}}),
    );
    let headers = RequestHeaders {
        protocol_version: vec!["2025-11-25".into()],
        method: vec!["tools/list".into()],
        name: vec![],
    };
    assert_eq!(
        error_of(&headers, &body),
        (400, UNSUPPORTED_PROTOCOL_VERSION)
    );
}

#[test]
fn unknown_methods_are_404_in_2026_and_200_before() {
    let body = request("resources/list", json!({"_meta": meta()}));
    assert_eq!(
        error_of(&modern("resources/list", None), &body),
        (404, METHOD_NOT_FOUND)
    );
    // ping and initialize are not 2026-07-28 methods.
    let ping = request("ping", json!({"_meta": meta()}));
    assert_eq!(
        error_of(&modern("ping", None), &ping),
        (404, METHOD_NOT_FOUND)
    );
    let legacy_body = request("resources/list", json!({}));
    assert_eq!(
        error_of(&legacy(Some("2025-11-25")), &legacy_body),
        (200, METHOD_NOT_FOUND)
    );
}

#[test]
fn tool_call_params_are_checked_before_the_tool_runs() {
    let headers = legacy(Some("2025-11-25"));
    let cases = [
        json!({}),
        json!({"name": 5}),
        json!({"name": "nope"}),
        json!({"name": "get_stats", "arguments": []}),
        json!({"name": "get_stats", "arguments": "x"}),
    ];
    for params in cases {
        assert_eq!(
            error_of(&headers, &request("tools/call", params.clone())),
            (200, INVALID_PARAMS),
            "{params}"
        );
    }
    let (_, body) = run(&headers, &request("tools/call", json!({"name": "nope"})));
    assert_eq!(body["error"]["message"], "Unknown tool: nope");
    let modern_call = request("tools/call", json!({"_meta": meta(), "name": "nope"}));
    assert_eq!(
        error_of(&modern("tools/call", Some("nope")), &modern_call),
        (400, INVALID_PARAMS)
    );
    assert_eq!(
        handle(
            &headers,
            &request("tools/call", json!({"name": "get_stats"})),
            &tools(),
            &SERVER
        ),
        Outcome::CallTool {
            era: Era::Legacy("2025-11-25"),
            id: Id::Number(1.into()),
            name: "get_stats".into(),
            arguments: json!({}),
        }
    );
}

#[test]
fn tool_results_carry_structured_content_and_the_same_json_as_text() {
    let id = Id::Number(3.into());
    let ok = tool_call_reply(
        Era::Legacy("2025-06-18"),
        &id,
        Ok(json!({"total": 2})),
        &SERVER,
    );
    let result = &ok["result"];
    assert_eq!(result["structuredContent"], json!({"total": 2}));
    let text: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, json!({"total": 2}));
    assert_eq!(result["isError"], false);
    assert!(result.get("resultType").is_none());
    let failed = tool_call_reply(Era::Modern, &id, Err("Task not found".into()), &SERVER);
    assert_eq!(failed["result"]["isError"], true);
    assert_eq!(failed["result"]["content"][0]["text"], "Task not found");
    assert_eq!(failed["result"]["resultType"], "complete");
    assert!(failed["result"].get("structuredContent").is_none());
}

#[test]
fn header_helpers() {
    assert!(accepts_json(None));
    assert!(accepts_json(Some("application/json, text/event-stream")));
    assert!(accepts_json(Some("text/event-stream;q=1, */*;q=0.1")));
    assert!(!accepts_json(Some("text/event-stream")));
    assert!(is_json_content_type(Some(
        "application/json; charset=utf-8"
    )));
    assert!(!is_json_content_type(Some("text/plain")));
    assert!(!is_json_content_type(None));
    assert_eq!(decode_header_value("=?base64?4pyT?=").as_deref(), Some("✓"));
    assert_eq!(decode_header_value("=?base64?***?="), None);
    assert_eq!(decode_header_value("plain").as_deref(), Some("plain"));
    let headers = RequestHeaders::from_pairs([
        ("MCP-Protocol-Version", " 2025-11-25"),
        ("x", "y"),
        ("mcp-name", "a"),
    ]);
    assert_eq!(headers.protocol_version, vec!["2025-11-25"]);
    assert_eq!(headers.name, vec!["a"]);
}
