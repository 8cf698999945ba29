//! `mcp`: the Model Context Protocol server of API.md ("MCP"). `POST /mcp` carries one
//! JSON-RPC message per request (Streamable HTTP, stateless: a fresh instance per request, no
//! session); the seven task tools of `todo-tools` act for the bearer token's user. The
//! protocol itself (envelope, revisions, headers, result shapes) is `todo-mcp-protocol`; this
//! component is the HTTP edge: CORS and `Origin`, authentication (`401` names the RFC 9728
//! metadata served at `/.well-known/oauth-protected-resource`), the 64 KiB body limit, media
//! types, and running a tool.

mod metadata;

use serde_json::{json, Value};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;
use spin_support::auth::AuthError;
use spin_support::http::{header, json_response, ApiError, Cors};
use spin_support::request::Context;
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

/// The component id in log lines.
const COMPONENT: &str = "mcp";
const ROUTE: &str = "/mcp";

#[http_component]
async fn handle(incoming: IncomingRequest) -> Response {
    let context = Context::new(COMPONENT, &incoming);
    if let Some(template) = metadata::route(&context.path) {
        context.set_route(template);
        let outcome = metadata::respond(&incoming, &context.path, &context.method);
        let mut response = context.finish(outcome, None);
        // Public and readable from any origin.
        response.set_header("access-control-allow-origin", "*");
        return response;
    }
    let cors = Cors::for_origin(context.origin.as_deref());
    let outcome = route(incoming, &context, &cors).await;
    let mut response = context.finish(outcome, Some(&cors));
    if response.header("access-control-expose-headers").is_some() {
        // A browser client must be able to read the 401's challenge.
        response.set_header("access-control-expose-headers", MCP_EXPOSED_HEADERS);
    }
    response
}

async fn route(
    incoming: IncomingRequest,
    context: &Context,
    cors: &Cors,
) -> Result<Response, ApiError> {
    if context.path != ROUTE {
        return Err(ApiError::NotFound("Not Found".into()));
    }
    context.set_route(ROUTE);
    match context.method.as_str() {
        "OPTIONS" => {
            Ok(cors.preflight_for(context.origin.as_deref(), MCP_METHODS, MCP_REQUEST_HEADERS))
        }
        "POST" => post(incoming, context, cors).await,
        // Stateless: no standalone SSE stream (GET) and no session to end (DELETE).
        _ => Err(ApiError::method_not_allowed(MCP_METHODS)),
    }
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
    context: &Context,
    cors: &Cors,
) -> Result<Response, ApiError> {
    // Streamable HTTP: an `Origin` that is present and not allowed is 403 (DNS rebinding).
    if let Some(origin) = context.origin.as_deref() {
        if !cors.allows(origin) {
            return Ok(transport_error(403, "Forbidden: Origin not allowed"));
        }
    }
    let user = match context.authenticate().await {
        Ok(identity) => identity.user,
        Err(AuthError::Unavailable(cause)) => return Err(ApiError::Unavailable(cause)),
        Err(error) => return Ok(challenge(&incoming, &error)),
    };
    if !todo_mcp_protocol::accepts_json(header(&incoming, "accept").as_deref()) {
        return Ok(transport_error(
            406,
            "Not Acceptable: the client must accept application/json",
        ));
    }
    if !todo_mcp_protocol::is_json_content_type(header(&incoming, "content-type").as_deref()) {
        return Ok(transport_error(
            415,
            "Unsupported Media Type: Content-Type must be application/json",
        ));
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
            return Ok(transport_error(
                413,
                "Request body too large (the limit is 64 KiB)",
            ))
        }
        Err(error) => return Ok(transport_error(error.status(), &error.to_string())),
    };
    let tools: Vec<Value> = todo_tools::definitions()
        .iter()
        .map(|tool| tool.to_mcp_json())
        .collect();
    Ok(
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
                    correlation_id: &context.request_id,
                };
                let outcome = todo_tools::call_json(caller, &name, &arguments);
                let outcome = outcome.as_deref().map_err(todo_tools::ToolError::message);
                let body = todo_mcp_protocol::tool_call_reply(era, &id, outcome, &SERVER);
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(body.into_bytes())
                    .build()
            }
        },
    )
}

/// The `401` with the `WWW-Authenticate` challenge that leads an MCP client to the
/// authorization server (RFC 9728 §5.1; RFC 6750 §3: no error code when no credentials came).
fn challenge(incoming: &IncomingRequest, error: &AuthError) -> Response {
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
    response
}
