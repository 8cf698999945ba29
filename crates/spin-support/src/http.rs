//! API.md's HTTP conventions: FastAPI-shaped errors mapped to status codes in one place,
//! `X-Request-Id` on every response, and CORS from the `cors_origins` variable.

use std::pin::Pin;

use futures::{Sink, SinkExt as _, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, Response, ResponseOutparam};
use subtle::ConstantTimeEq;
use todo_domain::error::FieldError;

use crate::auth::{AuthError, Identity};
use crate::db::DbError;

/// Everything a route can fail with. `IntoResponse` happens only in [`ApiError::to_response`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The route exists, not with this method; `allow` lists the methods it has.
    #[error("Method Not Allowed")]
    MethodNotAllowed { allow: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("Request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A feature is not configured (its variables are unset or invalid): the message names
    /// what the operator sets, and is also the cause in the log line.
    #[error("{0}")]
    NotConfigured(String),
    /// A dependency (database, JWKS) is down: retry later. The cause is logged, not returned.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or an unexpected state. The cause is logged, not returned.
    #[error("internal: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict(_) => 409,
            ApiError::PreconditionFailed(_) => 412,
            ApiError::PayloadTooLarge => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Validation(_) => 422,
            ApiError::NotConfigured(_) | ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// `405` for a route whose methods are `allow` (`"GET, OPTIONS"`), sent as `Allow`.
    pub fn method_not_allowed(allow: impl Into<String>) -> ApiError {
        ApiError::MethodNotAllowed {
            allow: allow.into(),
        }
    }

    pub fn validation(error: FieldError) -> ApiError {
        ApiError::Validation(vec![error])
    }

    /// The JSON body. 5xx bodies carry only the request id, which is also in the log line.
    pub fn body(&self, request_id: &str) -> Value {
        match self {
            ApiError::Validation(errors) => json!({ "detail": errors }),
            ApiError::Unavailable(_) => json!({
                "detail": "Service temporarily unavailable",
                "request_id": request_id,
            }),
            ApiError::Internal(_) => json!({
                "detail": "Internal server error",
                "request_id": request_id,
            }),
            other => json!({ "detail": other.to_string() }),
        }
    }

    /// What the log line says about a 5xx (the client only sees the request id).
    pub fn internal_cause(&self) -> Option<String> {
        match self {
            ApiError::NotConfigured(_) | ApiError::Unavailable(_) | ApiError::Internal(_) => {
                Some(self.to_string())
            }
            _ => None,
        }
    }

    pub fn to_response(&self, request_id: &str) -> Response {
        let mut response = json_response(self.status(), &self.body(request_id));
        match self {
            ApiError::Unavailable(_) => response.set_header("retry-after", "1"),
            // Configuring takes a while; a client polling every second helps no one.
            ApiError::NotConfigured(_) => response.set_header("retry-after", "60"),
            // RFC 6750: a 401 names the scheme it wants.
            ApiError::Unauthorized(_) => response.set_header("www-authenticate", "Bearer"),
            // RFC 9110: a 405 lists the methods the route has.
            ApiError::MethodNotAllowed { allow } => response.set_header("allow", allow.clone()),
            _ => {}
        }
        response
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(cause) => ApiError::Unavailable(cause),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unavailable(cause) => ApiError::Unavailable(cause),
            other => ApiError::Unauthorized(other.public_detail()),
        }
    }
}

pub fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap_or_default())
        .build()
}

/// Authenticates `token` with the configured keys. Why a token failed goes to the request's
/// log line, never to the client.
pub async fn authenticate_token(token: &str) -> Result<Identity, AuthError> {
    let config = crate::auth::AuthConfig::from_variables();
    crate::auth::authenticate(token, &config)
        .await
        .inspect_err(|error| crate::log::note(format!("authentication failed: {error}")))
}

/// Sends a complete response through `out`, for a handler that may also stream. A failed write
/// means the client went away: there is no one left to tell.
pub async fn send_whole(out: ResponseOutparam, response: Response) {
    let fields: Vec<(String, Vec<u8>)> = response
        .headers()
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    let outgoing = OutgoingResponse::new(header_fields(&fields));
    let _ = outgoing.set_status_code(*response.status());
    let _ = out.set_with_body(outgoing, response.into_body()).await;
}

/// The body of a streamed response: chunks are written as they come; a write fails once the
/// client went away.
pub type BodySink = Pin<Box<dyn Sink<Vec<u8>, Error = ()>>>;

/// Sends the head of a `200 text/event-stream` response with `headers` (and those every event
/// stream has) at once; the events follow through the returned sink.
pub fn start_event_stream(out: ResponseOutparam, headers: Vec<(&'static str, String)>) -> BodySink {
    let mut fields: Vec<(String, Vec<u8>)> = headers
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.into_bytes()))
        .collect();
    for (name, value) in [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        // Proxies such as nginx buffer a response unless told not to.
        ("x-accel-buffering", "no"),
    ] {
        fields.push((name.to_string(), value.as_bytes().to_vec()));
    }
    let response = OutgoingResponse::new(header_fields(&fields));
    let _ = response.set_status_code(200);
    let body = response.take_body();
    out.set(response);
    Box::pin(body.sink_map_err(|_| ()))
}

fn header_fields(fields: &[(String, Vec<u8>)]) -> Fields {
    Fields::from_list(fields).unwrap_or_else(|e| {
        crate::log::note(format!("invalid response headers, sent none: {e:?}"));
        Fields::new()
    })
}

/// Reads `incoming`'s body as JSON (see [`read_json`]).
pub async fn read_json_body(incoming: IncomingRequest) -> Result<Value, ApiError> {
    let content_type = header(&incoming, "content-type");
    let content_length = header(&incoming, "content-length");
    read_json(content_type.as_deref(), content_length.as_deref(), incoming).await
}

/// Reads a request body as JSON given its `Content-Type` and `Content-Length` headers: `415`
/// unless the type is JSON, `413` past [`MAX_BODY_BYTES`] (see [`read_body`]), `400` for
/// malformed JSON.
pub async fn read_json(
    content_type: Option<&str>,
    content_length: Option<&str>,
    incoming: IncomingRequest,
) -> Result<Value, ApiError> {
    let essence = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json".into(),
        ));
    }
    let body = read_body(incoming, content_length).await?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("Malformed JSON body: {e}")))
}

/// Authenticates `token` and checks that it names `path_user` (API.md: the `{user_id}` of the
/// path must be the authenticated subject): 401 or 403 otherwise. Why a token failed goes to
/// the request's log line, never to the client.
pub async fn authorize_path_user(token: &str, path_user: &str) -> Result<Identity, ApiError> {
    let identity = authenticate_token(token).await?;
    if identity.user != path_user {
        return Err(ApiError::Forbidden(
            "Not authorized to access this user's data".into(),
        ));
    }
    Ok(identity)
}

/// A path segment, percent-decoded (`+` stays a plus sign, as in a path it is not a space).
pub fn decode_path_segment(segment: &str) -> String {
    let escaped = segment.replace('+', "%2B");
    form_urlencoded::parse(format!("s={escaped}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The first value of a request header, if it is UTF-8.
pub fn header(incoming: &IncomingRequest, name: &str) -> Option<String> {
    incoming
        .headers()
        .get(name)
        .into_iter()
        .next()
        .and_then(|value| String::from_utf8(value).ok())
}

/// API.md: request bodies over 64 KiB are `413`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Reads a request body, refusing more than [`MAX_BODY_BYTES`] (413): first by the declared
/// `Content-Length`, then while streaming, so an oversized body is never held in memory.
pub async fn read_body(
    incoming: IncomingRequest,
    content_length: Option<&str>,
) -> Result<Vec<u8>, ApiError> {
    if content_length
        .and_then(|length| length.trim().parse::<usize>().ok())
        .is_some_and(|length| length > MAX_BODY_BYTES)
    {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = Vec::new();
    let mut stream = incoming.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::BadRequest(format!("Could not read the request body: {e:?}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Guards the sweep routes (`/internal/sweeps/...`, driven by Kubernetes CronJobs where there
/// is no cron trigger): `Authorization: Bearer <sweep_token>`, compared in constant time over
/// SHA-256 digests (so not even the length leaks). An unset `sweep_token` disables the routes
/// (503) rather than leaving them open.
pub fn authorize_sweep(authorization: Option<&str>) -> Result<(), ApiError> {
    let Some(configured) = crate::config::optional("sweep_token") else {
        return Err(ApiError::Unavailable(
            "sweep route called but the sweep_token variable is not set".into(),
        ));
    };
    let presented = crate::auth::bearer_token(authorization)
        .map_err(|e| ApiError::Unauthorized(e.public_detail()))?;
    if tokens_match(&configured, presented) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("Invalid sweep token"))
    }
}

fn tokens_match(configured: &str, presented: &str) -> bool {
    let configured = Sha256::digest(configured.as_bytes());
    let presented = Sha256::digest(presented.as_bytes());
    bool::from(configured.as_slice().ct_eq(presented.as_slice()))
}

/// The caller's `X-Request-Id` if it is sane (printable ASCII, at most 200 bytes), else a new one.
pub fn request_id(incoming: Option<&str>) -> String {
    match incoming {
        Some(id)
            if !id.is_empty()
                && id.len() <= 200
                && id.bytes().all(|b| (0x21..0x7f).contains(&b)) =>
        {
            id.to_string()
        }
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

pub const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
pub const ALLOWED_HEADERS: &str =
    "Authorization, Content-Type, Idempotency-Key, If-Match, Last-Event-ID, X-Request-Id";
pub const EXPOSED_HEADERS: &str = "ETag, X-Request-Id, X-Next-Cursor";

/// CORS policy from the `cors_origins` variable (comma-separated exact origins, or `*`).
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    fn from_variables() -> Cors {
        let configured = crate::config::optional("cors_origins").unwrap_or_default();
        Cors::new(&configured)
    }

    /// The policy a request from `origin` needs: a request without `Origin` (not from a
    /// browser page) gets no CORS headers whatever is configured, so the variable is not read.
    pub fn for_origin(origin: Option<&str>) -> Cors {
        match origin {
            Some(_) => Cors::from_variables(),
            None => Cors::new(""),
        }
    }

    pub fn new(configured: &str) -> Cors {
        Cors {
            origins: configured
                .split(',')
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }

    /// Whether `origin` is one of the configured origins.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }

    /// Headers for a response to a request from `origin` (none for a disallowed origin).
    pub fn headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        match origin {
            Some(origin) if self.allows(origin) => vec![
                ("access-control-allow-origin", origin.to_string()),
                ("access-control-allow-credentials", "true".to_string()),
                ("access-control-expose-headers", EXPOSED_HEADERS.to_string()),
                ("vary", "Origin".to_string()),
            ],
            _ => vec![("vary", "Origin".to_string())],
        }
    }

    /// The answer to a preflight `OPTIONS`: 204 with the allowed methods and headers for an
    /// allowed origin, 403 otherwise.
    pub fn preflight(&self, origin: Option<&str>) -> Response {
        self.preflight_for(origin, ALLOWED_METHODS, ALLOWED_HEADERS)
    }

    /// [`Cors::preflight`] for a route with methods and request headers of its own.
    pub fn preflight_for(&self, origin: Option<&str>, methods: &str, headers: &str) -> Response {
        match origin {
            Some(o) if self.allows(o) => {
                let mut response = Response::builder().status(204).body(Vec::new()).build();
                for (name, value) in self.headers(origin) {
                    response.set_header(name, value);
                }
                response.set_header("access-control-allow-methods", methods);
                response.set_header("access-control-allow-headers", headers);
                response.set_header("access-control-max-age", "600");
                response
            }
            _ => json_response(403, &json!({ "detail": "Origin not allowed" })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_echoed_only_when_sane() {
        assert_eq!(request_id(Some("abc-123")), "abc-123");
        assert_ne!(request_id(Some("bad id with spaces")), "bad id with spaces");
        assert_eq!(request_id(None).len(), 36);
    }

    #[test]
    fn path_segments_decode_percent_but_keep_plus() {
        assert_eq!(decode_path_segment("a%20b+c"), "a b+c");
        assert_eq!(decode_path_segment("user%2F1"), "user/1");
    }

    #[test]
    fn sweep_tokens_compare_exactly() {
        assert!(tokens_match("secret", "secret"));
        assert!(!tokens_match("secret", "secreT"));
        assert!(!tokens_match("secret", "secret2"));
        assert!(!tokens_match("secret", ""));
    }

    #[test]
    fn cors_matches_exact_origins() {
        let cors = Cors::new("http://localhost:3000, http://127.0.0.1:3000/");
        assert!(cors.allows("http://127.0.0.1:3000"));
        assert!(!cors.allows("http://evil.example"));
        assert_eq!(cors.headers(Some("http://evil.example")).len(), 1);
    }
}
