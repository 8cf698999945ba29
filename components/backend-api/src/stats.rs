//! `GET /api/{user_id}/stats`: counts computed by PostgreSQL, never by loading tasks.

use serde_json::json;
use spin_sdk::http::Response;
use spin_support::db::{param, Db, Statement};
use spin_support::http::{json_response, ApiError};

use crate::request::Request;

pub fn get(request: &Request) -> Result<Response, ApiError> {
    let statement = Statement::new(
        "SELECT count(*)::int8, \
                count(*) FILTER (WHERE status = 'pending')::int8, \
                count(*) FILTER (WHERE status = 'completed')::int8, \
                count(*) FILTER (WHERE status = 'pending' AND due_date < now())::int8, \
                count(*) FILTER (WHERE status = 'pending' AND priority = 'high')::int8 \
         FROM tasks WHERE user_id = $1",
    )
    .arg(param::text(&request.user));
    let db = Db::open()?;
    let row = db
        .query_one(&statement)?
        .ok_or_else(|| ApiError::Internal("aggregate returned no row".into()))?;
    Ok(json_response(
        200,
        &json!({
            "total": row.int(0)?,
            "pending": row.int(1)?,
            "completed": row.int(2)?,
            "overdue": row.int(3)?,
            "highPriorityPending": row.int(4)?,
        }),
    ))
}
