//! `mcp`: the Model Context Protocol server of API.md ("MCP"). `POST /mcp` carries one
//! JSON-RPC message per request (Streamable HTTP, stateless: a fresh instance per request, no
//! session); the seven task tools of `todo-tools` act for the bearer token's user. The
//! protocol itself (envelope, revisions, headers, result shapes) is `todo-mcp-protocol`; this
//! component is the HTTP edge: CORS and `Origin`, authentication (`401` names the RFC 9728
//! metadata served at `/.well-known/oauth-protected-resource`), the 64 KiB body limit, media
//! types, and running a tool.

mod metadata;

use serde_json::{json, Value};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;
use spin_support::auth::{self, AuthConfig, AuthError};
use spin_support::http::{header, json_response, request_id, ApiError, Cors};
use todo_mcp_protocol::jsonrpc::{RpcError, INVALID_REQUEST};
use todo_mcp_protocol::{Outcome, RequestHeaders, ServerInfo};
use todo_tasks::Caller;

const SERVER: ServerInfo = ServerInfo {
    name: "todo-backend",
    title: "Todo tasks",
    version: env!("CARGO_PKG_VERSION"),
    instructions: "Tools for the signed-in user's todo list: create, list, read, update, \
                   complete and delete tasks, and count them. Every tool acts for the user of \
                   the access token only. Give instants as RFC 3339 with an offset.",
};

const MCP_METHODS: &str = "POST, OPTIONS";
const MCP_REQUEST_HEADERS: &str = "Authorization, Content-Type, Accept, MCP-Protocol-Version, \
                                   Mcp-Method, Mcp-Name, Mcp-Session-Id, Last-Event-ID, X-Request-Id";

const MCP_EXPOSED_HEADERS: &str = "WWW-Authenticate, X-Request-Id";

#[http_component]
async fn handle(incoming: IncomingRequest) -> Response {
    let request_id = request_id(header(&incoming, "x-request-id").as_deref());
    let origin = header(&incoming, "origin");
    let cors = Cors::from_variables();
    let path = incoming.path_with_query().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default().to_string();
    let method = incoming.method();
    let mut response = if metadata::serves(&path) {
        metadata::respond(&incoming, &path, &method)
    } else if path != "/mcp" {
        ApiError::NotFound("Not Found".into()).to_response(&request_id)
    } else {
        match method {
            Method::Options => {
                cors.preflight_for(origin.as_deref(), MCP_METHODS, MCP_REQUEST_HEADERS)
            }
            Method::Post => post(incoming, &cors, origin.as_deref(), &request_id).await,
            // Stateless: no standalone SSE stream (GET) and no session to end (DELETE).
            _ => {
                let mut response = ApiError::MethodNotAllowed("Method Not Allowed".into())
                    .to_response(&request_id);
                response.set_header("allow", MCP_METHODS);
                response
            }
        }
    };
    if !metadata::serves(&path) {
        for (name, value) in cors.headers(origin.as_deref()) {
            // A browser client must be able to read the 401's challenge.
            let value = if name == "access-control-expose-headers" {
                MCP_EXPOSED_HEADERS.to_string()
            } else {
                value
            };
            response.set_header(name, value);
        }
    }
    response.set_header("x-request-id", request_id);
    response
}

/// A JSON-RPC error refused at the HTTP level (no request id is known yet).
fn transport_error(status: u16, message: &str) -> Response {
    json_response(
        status,
        &RpcError::new(None, INVALID_REQUEST, message).to_json(),
    )
}

async fn post(
    incoming: IncomingRequest,
    cors: &Cors,
    origin: Option<&str>,
    request_id: &str,
) -> Response {
    // Streamable HTTP: an `Origin` that is present and not allowed is 403 (DNS rebinding).
    if let Some(origin) = origin {
        if !cors.allows(origin) {
            return transport_error(403, "Forbidden: Origin not allowed");
        }
    }
    let user = match authenticate(&incoming, request_id).await {
        Ok(user) => user,
        Err(response) => return response,
    };
    if !todo_mcp_protocol::accepts_json(header(&incoming, "accept").as_deref()) {
        return transport_error(
            406,
            "Not Acceptable: the client must accept application/json",
        );
    }
    if !todo_mcp_protocol::is_json_content_type(header(&incoming, "content-type").as_deref()) {
        return transport_error(
            415,
            "Unsupported Media Type: Content-Type must be application/json",
        );
    }
    let entries = incoming.headers().entries();
    let headers = RequestHeaders::from_pairs(entries.iter().filter_map(|(name, value)| {
        std::str::from_utf8(value)
            .ok()
            .map(|value| (name.as_str(), value))
    }));
    let content_length = header(&incoming, "content-length");
    let body = match spin_support::http::read_body(incoming, content_length.as_deref()).await {
        Ok(body) => body,
        Err(ApiError::PayloadTooLarge) => {
            return transport_error(413, "Request body too large (the limit is 64 KiB)")
        }
        Err(error) => return transport_error(error.status(), &error.to_string()),
    };
    let tools: Vec<Value> = todo_tools::definitions()
        .iter()
        .map(|tool| tool.to_mcp_json())
        .collect();
    match todo_mcp_protocol::handle(&headers, &body, &tools, &SERVER) {
        Outcome::Reply { status, body } => json_response(status, &body),
        Outcome::Accepted => Response::builder().status(202).body(Vec::new()).build(),
        Outcome::CallTool {
            era,
            id,
            name,
            arguments,
        } => {
            let caller = Caller {
                user_id: &user,
                correlation_id: request_id,
            };
            let outcome = todo_tools::call(caller, &name, &arguments)
                .map_err(|error| error.message().to_string());
            json_response(
                200,
                &todo_mcp_protocol::tool_call_reply(era, &id, outcome, &SERVER),
            )
        }
    }
}

/// The bearer token's user; otherwise the answer: `401` with the `WWW-Authenticate` challenge
/// that leads an MCP client to the authorization server (RFC 9728 §5.1; RFC 6750 §3: no error
/// code when no credentials came), or `503` when tokens cannot be checked right now.
async fn authenticate(incoming: &IncomingRequest, request_id: &str) -> Result<String, Response> {
    let authorization = header(incoming, "authorization");
    let outcome = match auth::bearer_token(authorization.as_deref()) {
        Ok(token) => auth::authenticate(token, &AuthConfig::from_variables()).await,
        Err(error) => Err(error),
    };
    let error = match outcome {
        Ok(user) => return Ok(user),
        Err(error) => error,
    };
    eprintln!("request {request_id}: {error}");
    if let AuthError::Unavailable(_) = error {
        return Err(ApiError::from(error).to_response(request_id));
    }
    let resource_metadata = metadata::document_url(incoming);
    let challenge = match error {
        AuthError::MissingHeader => format!("Bearer resource_metadata=\"{resource_metadata}\""),
        _ => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\", resource_metadata=\"{resource_metadata}\"",
            error.public_detail()
        ),
    };
    let mut response = json_response(401, &json!({ "detail": error.public_detail() }));
    response.set_header("www-authenticate", challenge);
    Err(response)
}
