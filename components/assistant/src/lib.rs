//! `assistant`: the AI task assistant (API.md "Assistant"). `POST /api/chat` answers one JSON
//! reply per message; `POST /api/chatkit` serves the ChatKit protocol, streaming the answer
//! as ThreadStreamEvents. Both authenticate the bearer token, keep threads in PostgreSQL for
//! its user only, and run the agent loop (`agent`) over the configured OpenAI-compatible model
//! with the seven task tools of `todo-tools`, in-process and for the token's user: a change
//! made here is validated, scoped and evented exactly as through the REST API.

mod agent;
mod chat;
mod chatkit;
mod deadline;
mod model;
mod respond;
mod settings;
mod store;
mod tools;

use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response, ResponseOutparam};
use spin_sdk::http_component;
use spin_support::http::{header, json_response, ApiError, Cors};
use todo_tasks::Caller;

use respond::Responder;
use settings::NotConfigured;

const ALLOWED_METHODS: &str = "POST, OPTIONS";
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, X-Request-Id";

/// `503` naming what to configure (`llm_*` variables): the operator's next step.
pub(crate) fn not_configured(reason: &NotConfigured) -> Response {
    let mut response = json_response(503, &json!({ "detail": reason.0 }));
    response.set_header("retry-after", "60");
    response
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat,
    ChatKit,
}

fn endpoint(path: &str) -> Option<Endpoint> {
    match path.trim_end_matches('/') {
        "/api/chat" => Some(Endpoint::Chat),
        "/api/chatkit" => Some(Endpoint::ChatKit),
        _ => None,
    }
}

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let request_id = spin_support::http::request_id(header(&incoming, "x-request-id").as_deref());
    let origin = header(&incoming, "origin");
    let authorization = header(&incoming, "authorization");
    let path = incoming
        .path_with_query()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let cors = Cors::from_variables();
    let mut head = vec![("x-request-id".to_string(), request_id.clone())];
    head.extend(
        cors.headers(origin.as_deref())
            .into_iter()
            .map(|(name, value)| (name.to_string(), value)),
    );
    let responder = Responder::new(out, head);
    let method = incoming.method();
    let Some(endpoint) = endpoint(&path) else {
        let error = ApiError::NotFound("Not Found".into());
        return responder.send(error.to_response(&request_id)).await;
    };
    match method {
        Method::Options => {
            let preflight = cors.preflight_for(origin.as_deref(), ALLOWED_METHODS, ALLOWED_HEADERS);
            return responder.send(preflight).await;
        }
        Method::Post => {}
        _ => {
            let mut response =
                ApiError::MethodNotAllowed("Method Not Allowed".into()).to_response(&request_id);
            response.set_header("allow", ALLOWED_METHODS);
            return responder.send(response).await;
        }
    }
    let user = match spin_support::http::authenticate_bearer(authorization.as_deref()).await {
        Ok(user) => user,
        Err(error) => return responder.send(error.to_response(&request_id)).await,
    };
    let caller = Caller {
        user_id: &user,
        correlation_id: &request_id,
    };
    match endpoint {
        Endpoint::Chat => {
            let response = chat::handle(incoming, caller)
                .await
                .unwrap_or_else(|error| error.to_response(&request_id));
            responder.send(response).await
        }
        Endpoint::ChatKit => chatkit::handle(incoming, caller, responder).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_paths_are_served() {
        assert_eq!(endpoint("/api/chat"), Some(Endpoint::Chat));
        assert_eq!(endpoint("/api/chatkit/"), Some(Endpoint::ChatKit));
        assert_eq!(endpoint("/api/chat/x"), None);
        assert_eq!(endpoint("/api/chatkits"), None);
    }
}
