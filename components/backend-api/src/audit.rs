//! `GET /api/{user_id}/audit`: the caller's audit trail, newest first.

use serde_json::Value;
use spin_sdk::http::Response;
use spin_support::db::{param, Db, Statement};
use spin_support::http::{json_response, ApiError};
use todo_domain::error::{kinds, FieldError};
use todo_domain::event::Topic;

use crate::request::{query_int, query_str, Request};

pub fn list(request: &Request) -> Result<Response, ApiError> {
    let pairs = request.context.query_pairs();
    let limit = query_int(&pairs, "limit", 100, 1, 500)?;
    let offset = query_int(&pairs, "offset", 0, 0, 1_000_000)?;
    let event_type = match query_str(&pairs, "event_type").filter(|s| !s.is_empty()) {
        Some(raw) => Some(raw.parse::<Topic>().map_err(|_| {
            ApiError::validation(FieldError::new(
                &["query", "event_type"],
                format!(
                    "unknown event_type '{raw}'; expected one of {}",
                    Topic::ALL
                        .iter()
                        .map(|t| t.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                kinds::ENUM,
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
            kinds::VALUE_ERROR,
        )));
    }

    // One row: the page as a JSON array built by PostgreSQL.
    let statement = Statement::new(
        "SELECT coalesce(json_agg(json_build_object( \
                    'id', a.id, 'eventType', a.event_type, 'entityType', a.entity_type, \
                    'entityId', a.entity_id, 'userId', a.user_id, \
                    'timestamp', api_instant(a.\"timestamp\"), 'data', a.data) \
                ORDER BY a.\"timestamp\" DESC, a.id DESC), '[]')::text \
         FROM (SELECT * FROM audit_logs \
               WHERE user_id = $1 AND ($2::text IS NULL OR event_type = $2::text) AND ($3::text IS NULL OR entity_id = $3::text) \
               ORDER BY \"timestamp\" DESC, id DESC LIMIT $4 OFFSET $5) AS a",
    )
    .arg(param::text(&request.user))
    .arg(param::opt_text(event_type.map(|t| t.as_str())))
    .arg(param::opt_text(entity_id))
    .arg(param::int64(limit))
    .arg(param::int64(offset));
    let db = Db::open()?;
    // `data` is any JSON (the event as published): serde_json writes it, and the items, in the
    // compact sorted form the API has always answered, which PostgreSQL's json text is not.
    let items: Value = db.query_row(&statement)?.decode_json(0)?;
    Ok(json_response(200, &items))
}
