//! `backend-api`: the task REST API of API.md (tasks, stats, notifications, audit, health,
//! and its own OpenAPI document). Every `/api/{user_id}/...` route authenticates, checks the
//! path's user against the token, validates at the edge with `todo-domain`, and writes each
//! change together with its outbox events in one statement; events are published after the
//! commit. Routes are data (`routes::ROUTES`), checked against `openapi.json` by a test.

mod audit;
mod health;
mod notifications;
mod request;
mod routes;
mod tasks;

use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;
use spin_support::http::{ApiError, Cors};

use request::{Context, Segments};
use routes::{Match, Route};

/// The OpenAPI 3.1 document of this component, served at `GET /api/openapi.json`.
const OPENAPI: &str = include_str!("../openapi.json");

#[http_component]
async fn handle(incoming: IncomingRequest) -> Response {
    let context = Context::new(&incoming);
    let cors = Cors::for_origin(context.origin.as_deref());
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

fn method_name(method: &Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Head => "HEAD",
        Method::Options => "OPTIONS",
        _ => "OTHER",
    }
}

async fn route(incoming: IncomingRequest, context: &Context) -> Result<Response, ApiError> {
    let segments = Segments::of(&context.path);
    let (route, params) = match routes::find(method_name(&incoming.method()), &segments.as_slice())
    {
        Match::Found(route, params) => (route, params),
        Match::MethodNotAllowed => {
            let mut response = ApiError::MethodNotAllowed("Method Not Allowed".into())
                .to_response(&context.request_id);
            let allowed = routes::allowed_methods(&segments.as_slice());
            response.set_header("allow", allowed.join(", "));
            return Ok(response);
        }
        Match::NotFound => return Err(ApiError::NotFound("Not Found".into())),
    };
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
        .await?;
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
