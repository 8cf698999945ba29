//! A request to a user route (the shared `Context` plus the authenticated user), its headers,
//! and a JSON body read with the 64 KiB limit enforced while streaming.

use serde_json::Value;
use spin_sdk::http::IncomingRequest;
use spin_support::http::ApiError;
use spin_support::request::Context;
use todo_domain::error::{kinds, FieldError};
use uuid::Uuid;

pub struct Request<'a> {
    /// Taken when the body is read.
    incoming: Option<IncomingRequest>,
    /// Copied up front, so they stay readable after the body was consumed.
    headers: Vec<(String, Vec<u8>)>,
    pub context: &'a Context,
    pub user: String,
}

impl<'a> Request<'a> {
    pub fn new(incoming: IncomingRequest, context: &'a Context, user: String) -> Request<'a> {
        let headers = incoming.headers().entries();
        Request {
            incoming: Some(incoming),
            headers,
            context,
            user,
        }
    }

    /// The first value of a header (names are case-insensitive), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| String::from_utf8(value.clone()).ok())
    }

    /// `If-Match` as a version number (quotes and a weak prefix tolerated).
    /// `*` (RFC 9110: any current representation) sets no version: the task must only exist,
    /// which every route checks anyway (404).
    pub fn if_match(&self) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.header("if-match") else {
            return Ok(None);
        };
        if raw.trim() == "*" {
            return Ok(None);
        }
        let value = raw.trim().trim_start_matches("W/").trim_matches('"');
        value.parse::<i64>().map(Some).map_err(|_| {
            ApiError::validation(FieldError::new(
                &["header", "If-Match"],
                "If-Match must be a task version (the ETag of the task)",
                kinds::VALUE_ERROR,
            ))
        })
    }

    /// Reads the body as JSON: 415 unless the content type is JSON, 413 past 64 KiB
    /// (checked on Content-Length and again while reading), 400 for malformed JSON.
    pub async fn json_body(&mut self) -> Result<Value, ApiError> {
        let incoming = self
            .incoming
            .take()
            .ok_or_else(|| ApiError::Internal("request body read twice".into()))?;
        spin_support::http::read_json(
            self.header("content-type").as_deref(),
            self.header("content-length").as_deref(),
            incoming,
        )
        .await
    }
}

/// A path id that must be a UUID: 422 with the FastAPI shape otherwise.
pub fn path_uuid(raw: &str, name: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::validation(FieldError::new(
            &["path", name],
            format!("{name} must be a UUID"),
            kinds::UUID_PARSING,
        ))
    })
}

/// An integer query parameter within bounds, with a default.
pub fn query_int(
    pairs: &[(String, String)],
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    match pairs.iter().rev().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, raw)) => match raw.trim().parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(ApiError::validation(FieldError::new(
                &["query", name],
                format!("{name} must be an integer from {min} to {max}"),
                kinds::VALUE_ERROR,
            ))),
        },
    }
}

pub fn query_str<'p>(pairs: &'p [(String, String)], name: &str) -> Option<&'p str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
