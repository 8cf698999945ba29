//! `/api/{user_id}/notifications...`: list, mark read, mark all read, delete; all scoped to
//! the caller (another user's notification is a 404, exactly like a missing one).

use serde_json::json;
use spin_sdk::http::Response;
use spin_support::db::{exactly_one_row, param, Db, Statement};
use spin_support::http::{json_response, ApiError};
use todo_domain::error::{kinds, FieldError};

use crate::request::{path_uuid, query_int, query_str, Request};

/// A JSON body PostgreSQL wrote (`notification_json`, the API's shape), passed through.
fn json_text_response(json: String) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(json.into_bytes())
        .build()
}

fn not_found() -> ApiError {
    ApiError::NotFound("Notification not found".into())
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

pub fn list(request: &Request) -> Result<Response, ApiError> {
    let pairs = request.context.query_pairs();
    let limit = query_int(&pairs, "limit", 50, 1, 100)?;
    let unread_only = match query_str(&pairs, "unread_only") {
        None => false,
        Some(raw) => parse_bool(raw).ok_or_else(|| {
            ApiError::validation(FieldError::new(
                &["query", "unread_only"],
                "unread_only must be true or false",
                kinds::BOOL_PARSING,
            ))
        })?,
    };
    // One row however many notifications: the JSON array, newest first.
    let statement = Statement::new(
        "SELECT coalesce('[' || string_agg(notification_json(n), ',' ORDER BY n.created_at DESC, n.id DESC) || ']', '[]') \
         FROM (SELECT * FROM notifications WHERE user_id = $1 AND (NOT $2::bool OR NOT read) \
               ORDER BY created_at DESC, id DESC LIMIT $3) AS n",
    )
    .arg(param::text(&request.user))
    .arg(param::boolean(unread_only))
    .arg(param::int64(limit));
    let db = Db::open()?;
    Ok(json_text_response(db.query_row(&statement)?.text(0)?))
}

pub fn mark_read(request: &Request, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "notification_id")?;
    let statement = Statement::new(format!(
        "WITH marked AS (UPDATE notifications n SET read = true WHERE n.id = $1 AND n.user_id = $2 \
         RETURNING notification_json(n) AS json) {}",
        exactly_one_row("SELECT json FROM marked")
    ))
    .arg(param::uuid(id))
    .arg(param::text(&request.user));
    let db = Db::open()?;
    let json = db
        .query_row(&statement)?
        .opt_text(0)?
        .ok_or_else(not_found)?;
    Ok(json_text_response(json))
}

pub fn read_all(request: &Request) -> Result<Response, ApiError> {
    let statement =
        Statement::new("UPDATE notifications SET read = true WHERE user_id = $1 AND NOT read")
            .arg(param::text(&request.user));
    let db = Db::open()?;
    let count = db.execute(&statement)?;
    Ok(json_response(200, &json!({ "count": count })))
}

pub fn delete(request: &Request, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "notification_id")?;
    let statement = Statement::new("DELETE FROM notifications WHERE id = $1 AND user_id = $2")
        .arg(param::uuid(id))
        .arg(param::text(&request.user));
    let db = Db::open()?;
    if db.execute(&statement)? == 0 {
        return Err(not_found());
    }
    Ok(json_response(200, &json!({ "success": true })))
}
