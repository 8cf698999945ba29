//! `backend-api`: the task REST API of API.md (tasks, stats, notifications, audit, health).
//! Every route authenticates, checks the path's user against the token, validates at the
//! edge with `todo-domain`, and writes each change together with its outbox events in one
//! statement; events are published after the commit.

mod audit;
mod health;
mod notifications;
mod request;
mod stats;
mod tasks;

use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;
use spin_support::http::{ApiError, Cors};

use request::{Context, Segments};

#[http_component]
async fn handle(incoming: IncomingRequest) -> Response {
    let context = Context::new(&incoming);
    let cors = Cors::from_variables();
    let mut response = if incoming.method() == Method::Options {
        cors.preflight(context.origin.as_deref())
    } else {
        route(incoming, &context)
            .await
            .unwrap_or_else(|error| error.to_response(&context.request_id))
    };
    for (name, value) in cors.headers(context.origin.as_deref()) {
        response.set_header(name, value);
    }
    response.set_header("x-request-id", context.request_id.clone());
    response
}

async fn route(incoming: IncomingRequest, context: &Context) -> Result<Response, ApiError> {
    let method = incoming.method();
    let segments = Segments::of(&context.path);
    let path = segments.as_slice();
    match path.as_slice() {
        ["health"] => match method {
            Method::Get => health::check(),
            _ => Err(method_not_allowed()),
        },
        ["api", user, rest @ ..] => {
            let user = context.authorize(user).await?;
            let mut request = request::Request::new(incoming, context, user);
            match (method, rest) {
                (Method::Get, ["tasks"]) => tasks::list(&request),
                (Method::Post, ["tasks"]) => tasks::create(&mut request).await,
                (Method::Get, ["tasks", id]) => tasks::get(&request, id),
                (Method::Put, ["tasks", id]) => tasks::update(&mut request, id).await,
                (Method::Delete, ["tasks", id]) => tasks::delete(&request, id),
                (Method::Patch, ["tasks", id, "complete"]) => tasks::toggle(&request, id),
                (Method::Get, ["stats"]) => stats::get(&request),
                (Method::Get, ["notifications"]) => notifications::list(&request),
                (Method::Patch, ["notifications", "read-all"]) => notifications::read_all(&request),
                (Method::Patch, ["notifications", id, "read"]) => notifications::mark_read(&request, id),
                (Method::Delete, ["notifications", id]) => notifications::delete(&request, id),
                (Method::Get, ["audit"]) => audit::list(&request),
                (_, ["tasks"] | ["tasks", _] | ["tasks", _, "complete"] | ["stats"] | ["notifications"]
                    | ["notifications", "read-all"] | ["notifications", _, "read"] | ["notifications", _]
                    | ["audit"]) => Err(method_not_allowed()),
                _ => Err(ApiError::NotFound("Not Found".into())),
            }
        }
        _ => Err(ApiError::NotFound("Not Found".into())),
    }
}

fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("Method Not Allowed".into())
}
