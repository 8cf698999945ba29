//! JSON-RPC 2.0 messages as MCP restricts them: one request or notification per HTTP body
//! (no batches, no responses), ids that are strings or integers (never null).

use serde_json::{Map, Number, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// 2026-07-28: the mirrored HTTP headers disagree with the body, or one is missing.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the requested protocol revision is not served.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// A request id: a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    Number(Number),
    String(String),
}

impl Id {
    /// A JSON value that MCP accepts as an id.
    pub fn from_json(value: &Value) -> Option<Id> {
        match value {
            Value::String(s) => Some(Id::String(s.clone())),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(Id::Number(n.clone())),
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Id::Number(n) => Value::Number(n.clone()),
            Id::String(s) => Value::String(s.clone()),
        }
    }
}

/// A message a client may send.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Request {
        id: Id,
        method: String,
        params: Option<Value>,
    },
    Notification {
        method: String,
        params: Option<Value>,
    },
}

impl Message {
    pub fn method(&self) -> &str {
        match self {
            Message::Request { method, .. } | Message::Notification { method, .. } => method,
        }
    }

    pub fn params(&self) -> Option<&Value> {
        match self {
            Message::Request { params, .. } | Message::Notification { params, .. } => {
                params.as_ref()
            }
        }
    }

    pub fn id(&self) -> Option<&Id> {
        match self {
            Message::Request { id, .. } => Some(id),
            Message::Notification { .. } => None,
        }
    }

    /// The message as JSON (what a client sends): `parse(to_json(m)) == m`.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("jsonrpc".into(), "2.0".into());
        if let Some(id) = self.id() {
            object.insert("id".into(), id.to_json());
        }
        object.insert("method".into(), self.method().into());
        if let Some(params) = self.params() {
            object.insert("params".into(), params.clone());
        }
        Value::Object(object)
    }
}

/// A JSON-RPC error, with the id of the request it answers when that id could be read.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub id: Option<Id>,
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(id: Option<Id>, code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            id,
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> RpcError {
        self.data = Some(data);
        self
    }

    /// The error response object (`"id": null` when the id is unknown).
    pub fn to_json(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.clone().into());
        if let Some(data) = &self.data {
            error.insert("data".into(), data.clone());
        }
        let mut object = Map::new();
        object.insert("jsonrpc".into(), "2.0".into());
        object.insert(
            "id".into(),
            self.id.as_ref().map_or(Value::Null, Id::to_json),
        );
        object.insert("error".into(), Value::Object(error));
        Value::Object(object)
    }
}

/// A result response object.
pub fn result_response(id: &Id, result: Value) -> Value {
    let mut object = Map::new();
    object.insert("jsonrpc".into(), "2.0".into());
    object.insert("id".into(), id.to_json());
    object.insert("result".into(), result);
    Value::Object(object)
}

/// Parses an HTTP body as one JSON-RPC request or notification. Malformed JSON is
/// [`PARSE_ERROR`]; a batch, a response, or an envelope that breaks JSON-RPC or MCP's rules is
/// [`INVALID_REQUEST`] (with the id, when one could be read, so the client can match it).
pub fn parse(body: &[u8]) -> Result<Message, RpcError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RpcError::new(None, PARSE_ERROR, format!("Parse error: {e}")))?;
    from_value(value)
}

/// [`parse`] for an already decoded value.
pub fn from_value(value: Value) -> Result<Message, RpcError> {
    let invalid = |id: Option<Id>, why: &str| {
        Err(RpcError::new(
            id,
            INVALID_REQUEST,
            format!("Invalid request: {why}"),
        ))
    };
    let mut object = match value {
        Value::Object(object) => object,
        Value::Array(_) => {
            return invalid(
                None,
                "batches are not supported; send one JSON-RPC message per request",
            )
        }
        _ => return invalid(None, "the body must be a JSON-RPC request object"),
    };
    let id = match object.remove("id") {
        None => None,
        Some(raw) => match Id::from_json(&raw) {
            Some(id) => Some(id),
            None => return invalid(None, "id must be a string or an integer"),
        },
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(id, "jsonrpc must be \"2.0\"");
    }
    if object.contains_key("result") || object.contains_key("error") {
        return invalid(id, "clients must not send responses");
    }
    let method = match object.remove("method") {
        Some(Value::String(method)) => method,
        _ => return invalid(id, "method must be a string"),
    };
    let params = match object.remove("params") {
        None => None,
        Some(params @ (Value::Object(_) | Value::Array(_))) => Some(params),
        Some(_) => return invalid(id, "params must be an object"),
    };
    Ok(match id {
        Some(id) => Message::Request { id, method, params },
        None => Message::Notification { method, params },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(body: &str) -> (i64, Option<Id>) {
        let error = parse(body.as_bytes()).unwrap_err();
        (error.code, error.id)
    }

    #[test]
    fn requests_and_notifications() {
        let request = parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}"#);
        assert_eq!(
            request,
            Ok(Message::Request {
                id: Id::Number(7.into()),
                method: "tools/list".into(),
                params: Some(json!({}))
            })
        );
        let notification = parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert_eq!(
            notification,
            Ok(Message::Notification {
                method: "notifications/initialized".into(),
                params: None
            })
        );
        let string_id = parse(br#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#).unwrap();
        assert_eq!(string_id.id(), Some(&Id::String("a".into())));
    }

    #[test]
    fn malformed_json_is_a_parse_error_without_id() {
        assert_eq!(code("{"), (PARSE_ERROR, None));
        assert_eq!(code(""), (PARSE_ERROR, None));
        assert_eq!(code("\u{feff}{}"), (PARSE_ERROR, None));
    }

    #[test]
    fn invalid_envelopes_are_invalid_requests_keeping_a_readable_id() {
        assert_eq!(code("[]"), (INVALID_REQUEST, None));
        assert_eq!(
            code(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            (INVALID_REQUEST, None)
        );
        assert_eq!(code("5"), (INVALID_REQUEST, None));
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#),
            (INVALID_REQUEST, None)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#),
            (INVALID_REQUEST, None)
        );
        let one = Some(Id::Number(1.into()));
        assert_eq!(
            code(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#),
            (INVALID_REQUEST, one.clone())
        );
        assert_eq!(
            code(r#"{"id":1,"method":"ping"}"#),
            (INVALID_REQUEST, one.clone())
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            (INVALID_REQUEST, one.clone())
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":5}"#),
            (INVALID_REQUEST, one.clone())
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":3}"#),
            (INVALID_REQUEST, one)
        );
    }

    #[test]
    fn errors_render_with_null_id_when_unknown() {
        let error = RpcError::new(None, PARSE_ERROR, "Parse error");
        assert_eq!(
            error.to_json(),
            json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})
        );
        let error = RpcError::new(Some(Id::String("x".into())), METHOD_NOT_FOUND, "m")
            .with_data(json!({"a": 1}));
        assert_eq!(error.to_json()["error"]["data"], json!({"a": 1}));
        assert_eq!(error.to_json()["id"], "x");
    }

    #[test]
    fn messages_round_trip() {
        for body in [
            r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"a","params":[1]}"#,
            r#"{"jsonrpc":"2.0","id":-3,"method":"","params":{"_meta":{}}}"#,
            r#"{"jsonrpc":"2.0","method":"n"}"#,
        ] {
            let message = parse(body.as_bytes()).unwrap();
            let again = parse(message.to_json().to_string().as_bytes()).unwrap();
            assert_eq!(again, message, "{body}");
        }
    }
}
