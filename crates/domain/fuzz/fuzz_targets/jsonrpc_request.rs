//! The MCP server's JSON-RPC request parser (`todo_mcp_protocol::jsonrpc::parse`) on arbitrary
//! bytes: it never panics; what it refuses is a parse error or an invalid request (the only
//! envelope errors); what it accepts round-trips: the message serialised as a client would send
//! it parses back to the same message. The whole handler (`handle`) is total on the same bytes
//! under either revision's headers, and answers an error with a status of 400 or 404 only for
//! 2026-07-28 and 200 or 400 for the 2025 revisions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use todo_mcp_protocol::jsonrpc::{self, INVALID_REQUEST, PARSE_ERROR};
use todo_mcp_protocol::{handle, Outcome, RequestHeaders, ServerInfo, MODERN};

const SERVER: ServerInfo = ServerInfo {
    name: "fuzz",
    title: "fuzz",
    version: "0",
    instructions: "",
};

fuzz_target!(|data: &[u8]| {
    match jsonrpc::parse(data) {
        Ok(message) => {
            let text = message.to_json().to_string();
            let again = jsonrpc::parse(text.as_bytes())
                .unwrap_or_else(|e| panic!("{text} does not parse back: {e:?}"));
            assert_eq!(again, message, "{text}");
        }
        Err(error) => assert!(
            error.code == PARSE_ERROR || error.code == INVALID_REQUEST,
            "{error:?}"
        ),
    }
    let method = jsonrpc::parse(data)
        .map(|m| m.method().to_string())
        .unwrap_or_default();
    let tools = [serde_json::json!({"name": "get_task"})];
    for headers in [
        RequestHeaders::default(),
        RequestHeaders {
            protocol_version: vec!["2025-11-25".into()],
            ..RequestHeaders::default()
        },
        RequestHeaders {
            protocol_version: vec![MODERN.into()],
            method: vec![method.clone()],
            name: vec!["get_task".into()],
        },
    ] {
        if let Outcome::Reply { status, body } = handle(&headers, data, &tools, &SERVER) {
            assert!(matches!(status, 200 | 400 | 404), "{status} {body}");
            assert_eq!(body["jsonrpc"], "2.0", "{body}");
        }
    }
});
