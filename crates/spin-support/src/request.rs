//! The request context every HTTP entry point starts with: request id, method, origin, path,
//! query and authorization, read once from the incoming request, and the clock of the request's
//! log line. [`Context::finish`] completes every response the same way (CORS headers,
//! `X-Request-Id`, the error mapped in one place) and writes the one log line.

use std::cell::{Cell, RefCell};

use serde_json::{Map, Value};
use spin_sdk::http::{IncomingRequest, Method, Response};

use crate::auth::{self, AuthError, Identity};
use crate::http::{header, ApiError, Cors};
use crate::log::{note, RequestLine, Started};

pub struct Context {
    /// The component id written in the log line.
    pub component: &'static str,
    pub request_id: String,
    pub method: String,
    pub origin: Option<String>,
    pub path: String,
    query: String,
    query_pairs: Vec<(String, String)>,
    authorization: Option<String>,
    started: Started,
    /// The matched route template (`/api/{user_id}/tasks`), once routing found one.
    route: Cell<Option<&'static str>>,
    /// Fields the route adds to the log line.
    extra: RefCell<Map<String, Value>>,
}

impl Context {
    pub fn new(component: &'static str, incoming: &IncomingRequest) -> Context {
        let started = Started::now();
        let path_and_query = incoming.path_with_query().unwrap_or_default();
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path_and_query, String::new()),
        };
        let query_pairs = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Context {
            component,
            request_id: crate::http::request_id(header(incoming, "x-request-id").as_deref()),
            method: method_name(&incoming.method()),
            origin: header(incoming, "origin"),
            authorization: header(incoming, "authorization"),
            path,
            query,
            query_pairs,
            started,
            route: Cell::new(None),
            extra: RefCell::new(Map::new()),
        }
    }

    /// The raw query string (without `?`).
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The query parameters, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query_pairs.clone()
    }

    /// The first value of a query parameter.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query_pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `Authorization` header, if any.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// The path's segments, percent-decoded.
    pub fn segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(crate::http::decode_path_segment)
            .collect()
    }

    /// Records the route template the request matched (logged instead of the raw path).
    pub fn set_route(&self, template: &'static str) {
        self.route.set(Some(template));
    }

    pub fn route(&self) -> Option<&'static str> {
        self.route.get()
    }

    /// Adds a field to the request's log line.
    pub fn log_field(&self, name: &str, value: Value) {
        self.extra.borrow_mut().insert(name.to_string(), value);
    }

    /// Authenticates the `Authorization: Bearer` token, for routes without a `{user_id}` in the
    /// path (the assistant's, `/mcp`). Why it failed is noted in the log line.
    pub async fn authenticate(&self) -> Result<Identity, AuthError> {
        let token = auth::bearer_token(self.authorization.as_deref())
            .inspect_err(|error| note(format!("authentication failed: {error}")))?;
        crate::http::authenticate_token(token).await
    }

    /// Authenticates the `Authorization: Bearer` token and checks that it names `path_user`.
    pub async fn authorize(&self, path_user: &str) -> Result<Identity, ApiError> {
        let token = auth::bearer_token(self.authorization.as_deref())?;
        crate::http::authorize_path_user(token, path_user).await
    }

    /// The response to send: `outcome`'s, or its error mapped to a response; with the CORS
    /// headers for the request's origin (when the route serves browsers) and `X-Request-Id`.
    /// Writes the request's log line.
    pub fn finish(&self, outcome: Result<Response, ApiError>, cors: Option<&Cors>) -> Response {
        let (mut response, cause) = match outcome {
            Ok(response) => (response, None),
            Err(error) => (error.to_response(&self.request_id), error.internal_cause()),
        };
        for (name, value) in cors
            .map(|c| c.headers(self.origin.as_deref()))
            .unwrap_or_default()
        {
            response.set_header(name, value);
        }
        response.set_header("x-request-id", self.request_id.clone());
        self.write_log(*response.status(), cause.as_deref());
        response
    }

    /// The headers [`Context::finish`] adds, for a response whose head goes out before the
    /// work is done (an event stream: [`crate::http::start_event_stream`]).
    pub fn stream_headers(&self, cors: Option<&Cors>) -> Vec<(&'static str, String)> {
        let mut headers = cors
            .map(|c| c.headers(self.origin.as_deref()))
            .unwrap_or_default();
        headers.push(("x-request-id", self.request_id.clone()));
        headers
    }

    /// Writes the request's log line (for responses sent by other means, e.g. a stream).
    pub fn write_log(&self, status: u16, cause: Option<&str>) {
        RequestLine {
            component: self.component,
            request_id: &self.request_id,
            method: &self.method,
            route: self.route.get(),
            status,
            cause,
            extra: self.extra.take(),
        }
        .write(&self.started);
    }
}

/// The method's name as sent (`GET`, ..., or the extension method itself).
pub fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Patch => "PATCH".into(),
        Method::Delete => "DELETE".into(),
        Method::Head => "HEAD".into(),
        Method::Options => "OPTIONS".into(),
        Method::Connect => "CONNECT".into(),
        Method::Trace => "TRACE".into(),
        Method::Other(other) => other.clone(),
    }
}
