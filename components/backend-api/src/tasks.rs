//! `/api/{user_id}/tasks...`: the HTTP edge of the task operations (`todo-tasks`): parse the
//! path, query, headers and body with the domain, call the operation, shape the response.

use spin_sdk::http::Response;
use spin_support::db::Db;
use spin_support::http::ApiError;
use todo_domain::input;
use todo_domain::listing;
use todo_tasks::{Caller, Created, Idempotency, TaskBody};

use crate::request::{path_uuid, Request};

fn caller<'a>(request: &'a Request<'_>) -> Caller<'a> {
    Caller {
        user_id: &request.user,
        correlation_id: &request.context.request_id,
    }
}

fn json_text_response(status: u16, json: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(json.into_bytes())
        .build()
}

fn task_response(status: u16, task: TaskBody) -> Response {
    let mut response = json_text_response(status, task.json);
    response.set_header("etag", format!("\"{}\"", task.version));
    response
}

pub fn get(request: &Request, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "task_id")?;
    let db = Db::open()?;
    Ok(task_response(
        200,
        todo_tasks::get(&db, caller(request), id)?,
    ))
}

pub async fn create(request: &mut Request<'_>) -> Result<Response, ApiError> {
    let key = request.header("idempotency-key");
    if let Some(key) = &key {
        Idempotency::check_key(key)?;
    }
    let body = request.json_body().await?;
    let idempotency = key.map(|key| Idempotency::new(&key, &body)).transpose()?;
    let new_task = input::parse_new_task(&body).map_err(ApiError::Validation)?;
    let db = Db::open()?;
    Ok(
        match todo_tasks::create(&db, caller(request), new_task, idempotency)? {
            Created::New(task) => task_response(201, task),
            Created::Replayed { status, body } => {
                let mut response = task_response(status, body);
                response.set_header("idempotent-replayed", "true");
                response
            }
        },
    )
}

pub async fn update(request: &mut Request<'_>, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "task_id")?;
    let body = request.json_body().await?;
    let changes = input::parse_task_changes(&body).map_err(ApiError::Validation)?;
    let if_match = request.if_match()?;
    let db = Db::open()?;
    let task = todo_tasks::update(&db, caller(request), id, &changes, if_match)?;
    Ok(task_response(200, task))
}

pub fn toggle(request: &Request, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "task_id")?;
    let if_match = request.if_match()?;
    let db = Db::open()?;
    let task = todo_tasks::toggle(&db, caller(request), id, if_match)?;
    Ok(task_response(200, task))
}

pub fn delete(request: &Request, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "task_id")?;
    let if_match = request.if_match()?;
    let db = Db::open()?;
    todo_tasks::delete(&db, caller(request), id, if_match)?;
    Ok(Response::builder().status(204).body(Vec::new()).build())
}

pub fn list(request: &Request) -> Result<Response, ApiError> {
    let query =
        listing::parse_list_query(&request.context.query_pairs()).map_err(ApiError::Validation)?;
    let db = Db::open()?;
    let page = todo_tasks::list(&db, caller(request), &query)?;
    let mut response = json_text_response(200, page.json);
    if let Some(cursor) = page.next_cursor {
        response.set_header("x-next-cursor", cursor);
    }
    Ok(response)
}

pub fn stats(request: &Request) -> Result<Response, ApiError> {
    let db = Db::open()?;
    Ok(json_text_response(
        200,
        todo_tasks::stats(&db, caller(request))?,
    ))
}
