//! `/api/{user_id}/notifications...`: list, mark read, mark all read, delete; all scoped to
//! the caller (another user's notification is a 404, exactly like a missing one).

use serde_json::{json, Value};
use spin_sdk::http::Response;
use spin_support::db::{param, Db, Row, Statement};
use spin_support::http::{json_response, ApiError};
use todo_domain::error::FieldError;
use todo_domain::task::format_instant;

use crate::request::{path_uuid, query_int, query_str, Request};

const COLUMNS: &str = "id, user_id, message, task_id, read, created_at AT TIME ZONE 'UTC'";

fn notification_json(row: &Row) -> Result<Value, ApiError> {
    Ok(json!({
        "id": row.uuid(0)?.to_string(),
        "userId": row.text(1)?,
        "message": row.text(2)?,
        "taskId": row.opt_uuid(3)?.map(|id| id.to_string()),
        "read": row.boolean(4)?,
        "createdAt": format_instant(row.instant(5)?),
    }))
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
                "bool_parsing",
            ))
        })?,
    };
    let statement = Statement::new(format!(
        "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND (NOT $2::bool OR NOT read) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    ))
    .arg(param::text(&request.user))
    .arg(param::boolean(unread_only))
    .arg(param::int64(limit));
    let db = Db::open()?;
    let items = db
        .query(&statement)?
        .iter()
        .map(notification_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json_response(200, &Value::Array(items)))
}

pub fn mark_read(request: &Request, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "notification_id")?;
    let statement = Statement::new(format!(
        "UPDATE notifications SET read = true WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
    ))
    .arg(param::uuid(id))
    .arg(param::text(&request.user));
    let db = Db::open()?;
    let row = db.query_one(&statement)?.ok_or_else(not_found)?;
    Ok(json_response(200, &notification_json(&row)?))
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
