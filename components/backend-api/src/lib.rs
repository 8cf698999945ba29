//! `backend-api`: the task REST API of API.md (tasks, stats, notifications, audit, health,
//! and its own OpenAPI document). Every `/api/{user_id}/...` route authenticates, checks the
//! path's user against the token, validates at the edge with `todo-domain`, and writes each
//! change together with its outbox events in one statement; events are published after the
//! commit. Routes are data (`routes::ROUTES`), checked against `openapi.json` by a test.
//! Every request writes one log line naming its route template (`spin_support::log`).

mod audit;
mod health;
mod notifications;
mod request;
mod tasks;

use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;
use spin_support::http::{ApiError, Cors};
use spin_support::request::Context;

use todo_api_routes::{self as routes, Match, Route};

/// The component id in log lines.
const COMPONENT: &str = "backend-api";

/// The OpenAPI 3.1 document of this component, served at `GET /api/openapi.json`.
const OPENAPI: &str = include_str!("../openapi.json");

#[http_component]
async fn handle(incoming: IncomingRequest) -> Response {
    let context = Context::new(COMPONENT, &incoming);
    let cors = Cors::for_origin(context.origin.as_deref());
    let outcome = route(incoming, &context, &cors).await;
    context.finish(outcome, Some(&cors))
}

async fn route(
    incoming: IncomingRequest,
    context: &Context,
    cors: &Cors,
) -> Result<Response, ApiError> {
    let segments = context.segments();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    if context.method == "OPTIONS" {
        if let Some(template) = routes::path_template(&segments) {
            context.set_route(template);
        }
        return Ok(cors.preflight(context.origin.as_deref()));
    }
    let (route, params) = match routes::find(&context.method, &segments) {
        Match::Found(route, params) => (route, params),
        Match::MethodNotAllowed(template) => {
            context.set_route(template);
            let allowed = routes::allowed_methods(&segments);
            return Err(ApiError::method_not_allowed(allowed.join(", ")));
        }
        Match::NotFound => return Err(ApiError::NotFound("Not Found".into())),
    };
    context.set_route(routes::template(route));
    match route {
        Route::Health => health::check(),
        Route::Live => health::live(),
        Route::Ready => health::ready(),
        Route::OpenApi => {
            let mut response = Response::builder().status(200).body(OPENAPI).build();
            response.set_header("content-type", "application/json");
            Ok(response)
        }
        _ => user_route(route, &params, incoming, context).await,
    }
}

/// The `/api/{user_id}/...` routes: authenticated before anything else is looked at.
async fn user_route(
    route: Route,
    params: &[&str],
    incoming: IncomingRequest,
    context: &Context,
) -> Result<Response, ApiError> {
    let user = context
        .authorize(params.first().copied().unwrap_or_default())
        .await?
        .user;
    let mut request = request::Request::new(incoming, context, user);
    let id = params.get(1).copied().unwrap_or_default();
    match route {
        Route::ListTasks => tasks::list(&request),
        Route::CreateTask => tasks::create(&mut request).await,
        Route::GetTask => tasks::get(&request, id),
        Route::UpdateTask => tasks::update(&mut request, id).await,
        Route::DeleteTask => tasks::delete(&request, id),
        Route::ToggleTask => tasks::toggle(&request, id),
        Route::Stats => tasks::stats(&request),
        Route::ListNotifications => notifications::list(&request),
        Route::ReadAllNotifications => notifications::read_all(&request),
        Route::ReadNotification => notifications::mark_read(&request, id),
        Route::DeleteNotification => notifications::delete(&request, id),
        Route::ListAudit => audit::list(&request),
        Route::Health | Route::Live | Route::Ready | Route::OpenApi => {
            Err(ApiError::NotFound("Not Found".into()))
        }
    }
}
