//! OAuth 2.0 Protected Resource Metadata (RFC 9728), which the MCP authorization spec has a
//! client read to find where to get a token.
//!
//! The same bearer tokens protect the whole origin (the REST API and `/mcp`), so the document
//! at the origin's well-known URL names the origin as the resource; the path-derived URL of
//! `/mcp` (RFC 9728 §3.1, which clients try when no `WWW-Authenticate` points elsewhere) names
//! `/mcp`. Both are public, cacheable and readable from any origin.

use serde_json::{json, Map, Value};
use spin_sdk::http::{IncomingRequest, Response};
use spin_support::config;
use spin_support::http::{header, json_response, ApiError};

const ROOT: &str = "/.well-known/oauth-protected-resource";
const FOR_MCP: &str = "/.well-known/oauth-protected-resource/mcp";

/// The route template of `path` if it is one of the documents.
pub fn route(path: &str) -> Option<&'static str> {
    [ROOT, FOR_MCP].into_iter().find(|route| *route == path)
}

pub fn respond(incoming: &IncomingRequest, path: &str, method: &str) -> Result<Response, ApiError> {
    match method {
        "GET" | "HEAD" => {
            let base = base_url(incoming);
            let resource = if path == FOR_MCP {
                format!("{base}/mcp")
            } else {
                base
            };
            let mut response = json_response(200, &document(&resource));
            response.set_header("cache-control", "public, max-age=3600");
            Ok(response)
        }
        "OPTIONS" => {
            let mut response = Response::builder().status(204).body(Vec::new()).build();
            response.set_header("access-control-allow-methods", "GET, HEAD, OPTIONS");
            response.set_header("access-control-max-age", "600");
            Ok(response)
        }
        _ => Err(ApiError::method_not_allowed("GET, HEAD, OPTIONS")),
    }
}

/// The metadata of `resource`: the authorization server that issues its tokens (the
/// `auth_issuer` variable, else `jwt_issuer`; omitted when neither is set) and how to present
/// a token.
fn document(resource: &str) -> Value {
    let mut document = Map::new();
    document.insert("resource".into(), resource.into());
    if let Some(issuer) = config::optional("auth_issuer").or_else(|| config::optional("jwt_issuer"))
    {
        document.insert("authorization_servers".into(), json!([issuer]));
    }
    document.insert("bearer_methods_supported".into(), json!(["header"]));
    document.insert("resource_name".into(), "todo-backend".into());
    Value::Object(document)
}

/// Where the document is, for the `WWW-Authenticate` challenge.
pub fn document_url(incoming: &IncomingRequest) -> String {
    format!("{}{ROOT}", base_url(incoming))
}

/// The public origin: the `public_base_url` variable (needed behind a proxy that terminates
/// TLS), else the scheme and host this request came to.
fn base_url(incoming: &IncomingRequest) -> String {
    if let Some(configured) = config::optional("public_base_url") {
        return configured.trim_end_matches('/').to_string();
    }
    let full_url = header(incoming, "spin-full-url").unwrap_or_default();
    match full_url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or_default();
            format!("{scheme}://{host}")
        }
        None => format!(
            "http://{}",
            header(incoming, "host").unwrap_or_else(|| "localhost".into())
        ),
    }
}
