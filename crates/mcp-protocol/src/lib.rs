//! The Model Context Protocol as a stateless Streamable HTTP server speaks it, without I/O.
//!
//! [`handle`] takes the request's MCP headers and body and decides everything the protocol
//! decides: the JSON-RPC envelope ([`jsonrpc`]), which revision the request speaks (2026-07-28
//! with its per-request `_meta` and mirrored headers, or a 2025 revision after `initialize`),
//! the method, and the answer with its HTTP status. Only a tool call leaves it: the caller runs
//! the tool and renders the outcome with [`tool_call_reply`]. HTTP concerns that are not the
//! protocol's (authentication, CORS, body size) stay with the caller; [`accepts_json`] and
//! [`is_json_content_type`] help with the two the transport specifies.

pub mod jsonrpc;

use base64::Engine;
use serde_json::{json, Map, Value};

use jsonrpc::{
    Id, Message, RpcError, HEADER_MISMATCH, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND,
    PARSE_ERROR, UNSUPPORTED_PROTOCOL_VERSION,
};

/// The stateless revision: no initialize; the revision rides in every request.
pub const MODERN: &str = "2026-07-28";
/// The revisions reached through `initialize`, newest first.
pub const LEGACY: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
/// Every revision served, newest first.
pub const SUPPORTED: [&str; 4] = [MODERN, LEGACY[0], LEGACY[1], LEGACY[2]];
/// What a request without `MCP-Protocol-Version` speaks (the transport allows assuming it).
pub const DEFAULT_LEGACY: &str = "2025-03-26";

pub const PROTOCOL_VERSION_META: &str = "io.modelcontextprotocol/protocolVersion";
pub const CLIENT_CAPABILITIES_META: &str = "io.modelcontextprotocol/clientCapabilities";
pub const SERVER_INFO_META: &str = "io.modelcontextprotocol/serverInfo";

/// How long a client may cache `tools/list` and `server/discover` (they change only with a
/// deployment).
const CACHE_TTL_MS: u64 = 600_000;

/// The MCP request headers, every value of each (names are case-insensitive; a routing header
/// given twice is refused, since readers of the first and of the last copy would disagree).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHeaders {
    pub protocol_version: Vec<String>,
    pub method: Vec<String>,
    pub name: Vec<String>,
}

impl RequestHeaders {
    /// Collects the MCP headers from `(name, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> RequestHeaders {
        let mut headers = RequestHeaders::default();
        for (name, value) in pairs {
            let slot = match name.to_ascii_lowercase().as_str() {
                "mcp-protocol-version" => &mut headers.protocol_version,
                "mcp-method" => &mut headers.method,
                "mcp-name" => &mut headers.name,
                _ => continue,
            };
            slot.push(value.trim().to_string());
        }
        headers
    }
}

/// Who answers: `serverInfo` and the instructions for a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    pub name: &'static str,
    pub title: &'static str,
    pub version: &'static str,
    pub instructions: &'static str,
}

impl ServerInfo {
    fn implementation(&self) -> Value {
        json!({ "name": self.name, "title": self.title, "version": self.version })
    }
}

/// The revision a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: per-request `_meta`, results carry `resultType` and `serverInfo`.
    Modern,
    /// A revision negotiated by `initialize`.
    Legacy(&'static str),
}

impl Era {
    pub fn version(self) -> &'static str {
        match self {
            Era::Modern => MODERN,
            Era::Legacy(version) => version,
        }
    }
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Answer with this status and JSON body.
    Reply { status: u16, body: Value },
    /// A notification: `202 Accepted`, no body.
    Accepted,
    /// Run this tool, then answer with [`tool_call_reply`].
    CallTool {
        era: Era,
        id: Id,
        name: String,
        arguments: Value,
    },
}

impl Outcome {
    fn error(era: Option<Era>, error: RpcError) -> Outcome {
        Outcome::Reply {
            status: error_status(era, error.code),
            body: error.to_json(),
        }
    }
}

/// The HTTP status of a JSON-RPC error. 2026-07-28 maps every protocol error to one
/// (`-32601` is `404`, the others `400`); the 2025 revisions answer errors of a delivered
/// request (`-32601`, `-32602`) with `200`, and only envelope and header failures with `400`.
pub fn error_status(era: Option<Era>, code: i64) -> u16 {
    match (era, code) {
        (_, PARSE_ERROR | INVALID_REQUEST | HEADER_MISMATCH | UNSUPPORTED_PROTOCOL_VERSION) => 400,
        (Some(Era::Modern), METHOD_NOT_FOUND) => 404,
        (Some(Era::Modern), INVALID_PARAMS) => 400,
        _ => 200,
    }
}

/// Handles one POSTed body. `tools` are the MCP `Tool` objects `tools/list` returns (their
/// `name`s are the tools `tools/call` accepts).
pub fn handle(
    headers: &RequestHeaders,
    body: &[u8],
    tools: &[Value],
    server: &ServerInfo,
) -> Outcome {
    let message = match jsonrpc::parse(body) {
        Ok(message) => message,
        Err(error) => return Outcome::error(None, error),
    };
    let id = message.id().cloned();
    for (values, header) in [
        (&headers.protocol_version, "MCP-Protocol-Version"),
        (&headers.method, "Mcp-Method"),
        (&headers.name, "Mcp-Name"),
    ] {
        if values.len() > 1 {
            return Outcome::error(
                None,
                RpcError::new(
                    id,
                    HEADER_MISMATCH,
                    format!("Header mismatch: {header} appears more than once"),
                ),
            );
        }
    }
    let header_version = headers.protocol_version.first().map(String::as_str);
    if let Some(requested) = header_version {
        if !SUPPORTED.contains(&requested) {
            return Outcome::error(None, unsupported_version(id, requested));
        }
    }
    let meta_version = message
        .params()
        .and_then(|params| params.get("_meta"))
        .and_then(|meta| meta.get(PROTOCOL_VERSION_META));
    if header_version == Some(MODERN) || meta_version.is_some() {
        handle_modern(headers, message, tools, server)
    } else {
        let version = header_version
            .and_then(|v| LEGACY.iter().copied().find(|l| *l == v))
            .unwrap_or(DEFAULT_LEGACY);
        handle_legacy(Era::Legacy(version), message, tools, server)
    }
}

fn unsupported_version(id: Option<Id>, requested: &str) -> RpcError {
    RpcError::new(
        id,
        UNSUPPORTED_PROTOCOL_VERSION,
        format!(
            "Unsupported protocol version {requested:?}; supported: {}",
            SUPPORTED.join(", ")
        ),
    )
    .with_data(json!({ "supported": SUPPORTED, "requested": requested }))
}

/// A 2026-07-28 request: the `_meta` envelope, the mirrored headers, then the method.
fn handle_modern(
    headers: &RequestHeaders,
    message: Message,
    tools: &[Value],
    server: &ServerInfo,
) -> Outcome {
    let era = Some(Era::Modern);
    let Message::Request { id, method, params } = message else {
        // The revision defines no client notifications over HTTP: accepted and dropped.
        return Outcome::Accepted;
    };
    let reject = |code: i64, message: String| {
        Outcome::error(era, RpcError::new(Some(id.clone()), code, message))
    };
    let params = params.unwrap_or_else(|| Value::Object(Map::new()));
    let Some(meta) = params.get("_meta").and_then(Value::as_object) else {
        return reject(
            INVALID_PARAMS,
            format!(
                "params._meta must be an object with {PROTOCOL_VERSION_META:?} and {CLIENT_CAPABILITIES_META:?}"
            ),
        );
    };
    let missing: Vec<&str> = [PROTOCOL_VERSION_META, CLIENT_CAPABILITIES_META]
        .into_iter()
        .filter(|key| !meta.contains_key(*key))
        .collect();
    if !missing.is_empty() {
        return reject(
            INVALID_PARAMS,
            format!("params._meta is missing {}", missing.join(", ")),
        );
    }
    let version = &meta[PROTOCOL_VERSION_META];
    if headers.protocol_version.first().map(String::as_str) != version.as_str() {
        return reject(
            HEADER_MISMATCH,
            format!(
                "Header mismatch: MCP-Protocol-Version {} does not match the body's protocol version {version}",
                headers.protocol_version.first().map_or("(missing)".to_string(), |v| format!("{v:?}"))
            ),
        );
    }
    if headers.method.first() != Some(&method) {
        return reject(
            HEADER_MISMATCH,
            format!(
                "Header mismatch: Mcp-Method {} does not match the body's method {method:?}",
                headers
                    .method
                    .first()
                    .map_or("(missing)".to_string(), |v| format!("{v:?}"))
            ),
        );
    }
    if method == "tools/call" {
        if let Some(name) = params.get("name").and_then(Value::as_str) {
            let header = headers.name.first().map(|value| decode_header_value(value));
            if header.as_ref().and_then(|decoded| decoded.as_deref()) != Some(name) {
                return reject(
                    HEADER_MISMATCH,
                    format!(
                        "Header mismatch: Mcp-Name does not match the body's tool name {name:?}"
                    ),
                );
            }
        }
    }
    if version.as_str() != Some(MODERN) {
        let requested = version
            .as_str()
            .map_or_else(|| version.to_string(), str::to_string);
        return Outcome::error(era, unsupported_version(Some(id), &requested));
    }
    let reply = |result: Value| Outcome::Reply {
        status: 200,
        body: jsonrpc::result_response(&id, modern_result(result, server)),
    };
    match method.as_str() {
        "server/discover" => reply(json!({
            "supportedVersions": SUPPORTED,
            "capabilities": { "tools": { "listChanged": false } },
            "instructions": server.instructions,
            "ttlMs": CACHE_TTL_MS,
            "cacheScope": "public",
        })),
        "tools/list" => reply(json!({
            "tools": tools,
            "ttlMs": CACHE_TTL_MS,
            "cacheScope": "public",
        })),
        "tools/call" => tool_call(Era::Modern, id, &params, tools),
        _ => Outcome::error(era, method_not_found(id, &method, Era::Modern)),
    }
}

/// Every 2026-07-28 result says it is complete and who answered.
fn modern_result(mut result: Value, server: &ServerInfo) -> Value {
    if let Value::Object(object) = &mut result {
        object.insert("resultType".into(), "complete".into());
        object.insert(
            "_meta".into(),
            json!({ SERVER_INFO_META: server.implementation() }),
        );
    }
    result
}

/// A request of a 2025 revision (stateless: no session is issued or required).
fn handle_legacy(era: Era, message: Message, tools: &[Value], server: &ServerInfo) -> Outcome {
    let Message::Request { id, method, params } = message else {
        return Outcome::Accepted;
    };
    let params = params.unwrap_or_else(|| Value::Object(Map::new()));
    let reply = |result: Value| Outcome::Reply {
        status: 200,
        body: jsonrpc::result_response(&id, result),
    };
    match method.as_str() {
        "initialize" => {
            let Some(requested) = params.get("protocolVersion").and_then(Value::as_str) else {
                return Outcome::error(
                    Some(era),
                    RpcError::new(
                        Some(id),
                        INVALID_PARAMS,
                        "initialize needs params.protocolVersion (a string)",
                    ),
                );
            };
            reply(json!({
                "protocolVersion": negotiate(requested),
                "capabilities": { "tools": { "listChanged": false } },
                "serverInfo": server.implementation(),
                "instructions": server.instructions,
            }))
        }
        "ping" => reply(json!({})),
        "tools/list" => reply(json!({ "tools": tools })),
        "tools/call" => tool_call(era, id, &params, tools),
        _ => Outcome::error(Some(era), method_not_found(id, &method, era)),
    }
}

/// The revision `initialize` answers for a client asking for `requested`: the same when it is
/// a 2025 revision served here, else the newest one (2026-07-28 has no initialize).
pub fn negotiate(requested: &str) -> &'static str {
    LEGACY
        .iter()
        .copied()
        .find(|version| *version == requested)
        .unwrap_or(LEGACY[0])
}

fn method_not_found(id: Id, method: &str, era: Era) -> RpcError {
    let served = match era {
        Era::Modern => "server/discover, tools/list, tools/call",
        Era::Legacy(_) => "initialize, ping, tools/list, tools/call",
    };
    RpcError::new(
        Some(id),
        METHOD_NOT_FOUND,
        format!(
            "Method not found: {method:?} (protocol {} serves {served})",
            era.version()
        ),
    )
}

fn tool_call(era: Era, id: Id, params: &Value, tools: &[Value]) -> Outcome {
    let invalid = |message: String| {
        Outcome::error(
            Some(era),
            RpcError::new(Some(id.clone()), INVALID_PARAMS, message),
        )
    };
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return invalid("tools/call needs params.name (a string)".into());
    };
    if !tools.iter().any(|tool| tool["name"] == name) {
        return invalid(format!("Unknown tool: {name}"));
    }
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(arguments @ Value::Object(_)) => arguments.clone(),
        Some(_) => return invalid("tools/call params.arguments must be an object".into()),
    };
    Outcome::CallTool {
        era,
        id,
        name: name.to_string(),
        arguments,
    }
}

/// The answer to a tool call: its structured result (also as JSON text, for clients that read
/// only text), or the failure as a tool error result the model can read (`isError`), never a
/// protocol error.
pub fn tool_call_reply(
    era: Era,
    id: &Id,
    outcome: Result<Value, String>,
    server: &ServerInfo,
) -> Value {
    let result = match outcome {
        Ok(structured) => json!({
            "content": [{ "type": "text", "text": structured.to_string() }],
            "structuredContent": structured,
            "isError": false,
        }),
        Err(message) => json!({
            "content": [{ "type": "text", "text": message }],
            "isError": true,
        }),
    };
    let result = match era {
        Era::Modern => modern_result(result, server),
        Era::Legacy(_) => result,
    };
    jsonrpc::result_response(id, result)
}

/// A header value, base64-decoded when it carries the 2026-07-28 sentinel `=?base64?...?=`;
/// `None` for a malformed sentinel (so it never matches a body value by accident).
pub fn decode_header_value(value: &str) -> Option<String> {
    let Some(payload) = value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    else {
        return Some(value.to_string());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Whether an `Accept` header admits a JSON answer (absent: anything goes).
pub fn accepts_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return true;
    };
    accept.split(',').any(|media| {
        let media = media.split(';').next().unwrap_or("").trim();
        ["application/json", "application/*", "*/*"]
            .iter()
            .any(|ok| media.eq_ignore_ascii_case(ok))
    })
}

/// Whether a `Content-Type` is JSON (`application/json` or a `+json` type, as on the API).
pub fn is_json_content_type(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"))
}

#[cfg(test)]
mod tests;
