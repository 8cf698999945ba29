//! `GET /health`: reports PostgreSQL and Redis reachability; 503 when either is down.

use serde_json::json;
use spin_sdk::http::Response;
use spin_support::db::{Db, Statement};
use spin_support::http::{json_response, ApiError};

fn postgres_ok() -> bool {
    Db::open()
        .and_then(|db| db.query_one(&Statement::new("SELECT 1::int4")))
        .is_ok()
}

fn redis_ok() -> bool {
    let Some(url) = spin_support::config::optional("redis_url") else {
        return false;
    };
    spin_sdk::redis::Connection::open(&url)
        .and_then(|connection| connection.execute("PING", &[]))
        .is_ok()
}

pub fn check() -> Result<Response, ApiError> {
    let (postgres, redis) = (postgres_ok(), redis_ok());
    let healthy = postgres && redis;
    let state = |ok: bool| if ok { "ok" } else { "unavailable" };
    Ok(json_response(
        if healthy { 200 } else { 503 },
        &json!({
            "status": if healthy { "healthy" } else { "unhealthy" },
            "service": "backend-api",
            "postgres": state(postgres),
            "redis": state(redis),
        }),
    ))
}
