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

use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use spin_support::auth::Identity;
use spin_support::http::{ApiError, Cors};
use spin_support::request::Context;
use todo_tasks::Caller;

use respond::Responder;
use settings::NotConfigured;

/// The component id in log lines.
const COMPONENT: &str = "assistant";
const ALLOWED_METHODS: &str = "POST, OPTIONS";
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, X-Request-Id";

/// `503` naming what to configure (`llm_*` variables): the operator's next step.
pub(crate) fn not_configured(reason: NotConfigured) -> ApiError {
    ApiError::NotConfigured(reason.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Chat,
    ChatKit,
}

impl Endpoint {
    fn route(self) -> &'static str {
        match self {
            Endpoint::Chat => "/api/chat",
            Endpoint::ChatKit => "/api/chatkit",
        }
    }
}

fn endpoint(path: &str) -> Option<Endpoint> {
    let path = path.trim_end_matches('/');
    [Endpoint::Chat, Endpoint::ChatKit]
        .into_iter()
        .find(|endpoint| endpoint.route() == path)
}

/// What a request gets before the endpoint runs: a preflight's answer, or the endpoint and the
/// token's identity.
enum Admitted {
    Preflight(spin_sdk::http::Response),
    Serve(Endpoint, Identity),
}

async fn admit(context: &Context, cors: &Cors) -> Result<Admitted, ApiError> {
    let endpoint = endpoint(&context.path).ok_or_else(|| ApiError::NotFound("Not Found".into()))?;
    context.set_route(endpoint.route());
    match context.method.as_str() {
        "OPTIONS" => Ok(Admitted::Preflight(cors.preflight_for(
            context.origin.as_deref(),
            ALLOWED_METHODS,
            ALLOWED_HEADERS,
        ))),
        "POST" => Ok(Admitted::Serve(endpoint, context.authenticate().await?)),
        _ => Err(ApiError::method_not_allowed(ALLOWED_METHODS)),
    }
}

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let context = Context::new(COMPONENT, &incoming);
    let cors = Cors::for_origin(context.origin.as_deref());
    let responder = Responder::new(out, &context, &cors);
    let (endpoint, identity) = match admit(&context, &cors).await {
        Ok(Admitted::Serve(endpoint, identity)) => (endpoint, identity),
        Ok(Admitted::Preflight(response)) => return responder.send(Ok(response)).await,
        Err(error) => return responder.send(Err(error)).await,
    };
    let caller = Caller {
        user_id: &identity.user,
        correlation_id: &context.request_id,
    };
    match endpoint {
        Endpoint::Chat => responder.send(chat::handle(incoming, caller).await).await,
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
