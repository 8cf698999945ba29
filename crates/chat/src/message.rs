//! The user's message and the `/api/chat` request body.

use serde_json::Value;
use todo_domain::error::FieldError;
use todo_domain::task::TimeZone;

/// The longest message the assistant takes, in characters.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// The message trimmed, if it is 1-4,000 characters (else the error's text).
pub fn check(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the message is empty".into());
    }
    let chars = text.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(format!(
            "the message is {chars} characters long; the limit is {MAX_MESSAGE_CHARS}"
        ));
    }
    if text.contains('\0') {
        return Err("the message contains a NUL character".into());
    }
    Ok(text.to_string())
}

/// At most 60 characters of `s`, for error messages that quote input.
pub fn shorten(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(60).collect::<String>())
    }
}

/// `POST /api/chat`: `{"message", "thread_id"?, "time_zone"?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub message: String,
    pub thread_id: Option<String>,
    pub time_zone: Option<TimeZone>,
}

fn optional_string(body: &Value, field: &str) -> Result<Option<String>, FieldError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(FieldError::body(
            field,
            format!("{field} must be a string"),
            "string_type",
        )),
    }
}

pub fn parse_chat_request(body: &Value) -> Result<ChatRequest, Vec<FieldError>> {
    if !body.is_object() {
        return Err(vec![FieldError::new(
            &["body"],
            "the body must be a JSON object",
            "model_attributes_type",
        )]);
    }
    let mut errors = Vec::new();
    let message = match body.get("message") {
        Some(Value::String(text)) => match check(text) {
            Ok(text) => Some(text),
            Err(msg) => {
                errors.push(FieldError::body("message", msg, "value_error"));
                None
            }
        },
        None | Some(Value::Null) => {
            errors.push(FieldError::body("message", "Field required", "missing"));
            None
        }
        Some(_) => {
            errors.push(FieldError::body(
                "message",
                "message must be a string",
                "string_type",
            ));
            None
        }
    };
    let thread_id = optional_string(body, "thread_id").unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let time_zone = match optional_string(body, "time_zone") {
        Ok(Some(name)) => match TimeZone::parse(&name) {
            Ok(zone) => Some(zone),
            Err(mut e) => {
                e.loc = vec!["body".into(), "time_zone".into()];
                errors.push(e);
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            errors.push(e);
            None
        }
    };
    match (message, errors.is_empty()) {
        (Some(message), true) => Ok(ChatRequest {
            message,
            thread_id,
            time_zone,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chat_requests_parse_and_validate() {
        let ok =
            parse_chat_request(&json!({"message": " hi ", "time_zone": "asia/karachi"})).unwrap();
        assert_eq!(ok.message, "hi");
        assert_eq!(ok.time_zone.unwrap().name(), "Asia/Karachi");
        assert_eq!(ok.thread_id, None);
        let locs = |body: Value| {
            parse_chat_request(&body)
                .unwrap_err()
                .into_iter()
                .map(|e| e.loc.join("."))
                .collect::<Vec<_>>()
        };
        assert_eq!(locs(json!({})), ["body.message"]);
        assert_eq!(locs(json!({"message": ""})), ["body.message"]);
        assert_eq!(locs(json!({"message": 3})), ["body.message"]);
        assert_eq!(locs(json!({"message": "x".repeat(4001)})), ["body.message"]);
        assert!(parse_chat_request(&json!({"message": "x".repeat(4000)})).is_ok());
        assert!(parse_chat_request(&json!({"message": "ے".repeat(4000)})).is_ok());
        assert_eq!(
            locs(json!({"message": "a", "time_zone": "Mars/Base", "thread_id": 5})),
            ["body.thread_id", "body.time_zone"]
        );
        assert_eq!(locs(json!([1])), ["body"]);
    }
}
