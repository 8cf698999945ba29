//! `GET /api/{user_id}/audit`: the caller's audit trail, newest first.

use serde_json::{json, Value};
use spin_sdk::http::Response;
use spin_support::db::{param, Db, Statement};
use spin_support::http::{json_response, ApiError};
use todo_domain::error::FieldError;
use todo_domain::event::Topic;
use todo_domain::task::format_instant;

use crate::request::{query_int, query_str, Request};

pub fn list(request: &Request) -> Result<Response, ApiError> {
    let pairs = request.context.query_pairs();
    let limit = query_int(&pairs, "limit", 100, 1, 500)?;
    let offset = query_int(&pairs, "offset", 0, 0, 1_000_000)?;
    let event_type = match query_str(&pairs, "event_type").filter(|s| !s.is_empty()) {
        Some(raw) => Some(raw.parse::<Topic>().map_err(|_| {
            ApiError::validation(FieldError::new(
                &["query", "event_type"],
                format!("unknown event_type '{raw}'; expected one of task-created, task-updated, task-completed, task-deleted, reminder-due"),
                "enum",
            ))
        })?),
        None => None,
    };
    let entity_id = query_str(&pairs, "entity_id").filter(|s| !s.is_empty());
    // PostgreSQL text cannot hold NUL: refuse it here rather than fail the query (a 500).
    if entity_id.is_some_and(|s| s.contains('\0')) {
        return Err(ApiError::validation(FieldError::new(
            &["query", "entity_id"],
            "entity_id must not contain NUL (\\u0000) characters",
            "value_error",
        )));
    }

    let statement = Statement::new(
        "SELECT id, event_type, entity_type, entity_id, user_id, \"timestamp\" AT TIME ZONE 'UTC', data \
         FROM audit_logs \
         WHERE user_id = $1 AND ($2::text IS NULL OR event_type = $2::text) AND ($3::text IS NULL OR entity_id = $3::text) \
         ORDER BY \"timestamp\" DESC, id DESC LIMIT $4 OFFSET $5",
    )
    .arg(param::text(&request.user))
    .arg(param::opt_text(event_type.map(|t| t.as_str())))
    .arg(param::opt_text(entity_id))
    .arg(param::int64(limit))
    .arg(param::int64(offset));
    let db = Db::open()?;
    let items = db
        .query(&statement)?
        .iter()
        .map(|row| -> Result<Value, ApiError> {
            Ok(json!({
                "id": row.int(0)?,
                "eventType": row.text(1)?,
                "entityType": row.text(2)?,
                "entityId": row.text(3)?,
                "userId": row.text(4)?,
                "timestamp": format_instant(row.instant(5)?),
                "data": row.json(6)?,
            }))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(json_response(200, &Value::Array(items)))
}
