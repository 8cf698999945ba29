//! Validation errors in the FastAPI/pydantic `422` shape.

use serde::Serialize;

/// One `422` item, FastAPI shape: `{"loc": ["body","title"], "msg": "...", "type": "..."}`.
///
/// `loc` always starts with where the value came from (`"body"` or `"query"`), followed by the
/// camelCase field name (body) or the query parameter name, and, for an element of an array,
/// its index as a decimal string (e.g. `["body", "tags", "3"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn new(loc: &[&str], msg: impl Into<String>, kind: impl Into<String>) -> Self {
        FieldError {
            loc: loc.iter().map(|s| s.to_string()).collect(),
            msg: msg.into(),
            kind: kind.into(),
        }
    }

    /// A body field error: `loc = ["body", field]`.
    pub fn body(field: &str, msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self::new(&["body", field], msg, kind)
    }

    /// A query parameter error: `loc = ["query", name]`.
    pub fn query(name: &str, msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self::new(&["query", name], msg, kind)
    }

    /// The same error at another location (e.g. a tag error re-located to `["query","tags"]`).
    pub fn at(mut self, loc: &[&str]) -> Self {
        self.loc = loc.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The same error with one more path element appended (e.g. an array index).
    pub fn push_loc(mut self, elem: impl Into<String>) -> Self {
        self.loc.push(elem.into());
        self
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.loc.join("."), self.msg)
    }
}

impl std::error::Error for FieldError {}

/// pydantic v2 error `type` strings used by this crate.
pub mod kinds {
    pub const MISSING: &str = "missing";
    pub const STRING_TYPE: &str = "string_type";
    pub const STRING_TOO_SHORT: &str = "string_too_short";
    pub const STRING_TOO_LONG: &str = "string_too_long";
    pub const LIST_TYPE: &str = "list_type";
    pub const TOO_LONG: &str = "too_long";
    pub const BOOL_TYPE: &str = "bool_type";
    pub const INT_PARSING: &str = "int_parsing";
    pub const ENUM: &str = "enum";
    pub const DATETIME: &str = "datetime_parsing";
    pub const VALUE_ERROR: &str = "value_error";
    pub const DICT_TYPE: &str = "dict_type";
    pub const LESS_THAN_EQUAL: &str = "less_than_equal";
    pub const GREATER_THAN_EQUAL: &str = "greater_than_equal";
    pub const BOOL_PARSING: &str = "bool_parsing";
    pub const UUID_PARSING: &str = "uuid_parsing";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
}
