//! Health routes. `GET /health` (API.md) reports PostgreSQL and Redis reachability and is 503
//! when either is down. The probes of a deployment use the other two, because the API keeps
//! accepting writes while Redis is down (events wait in the outbox): `GET /health/live`
//! checks nothing (the component answers), `GET /health/ready` is 503 only when PostgreSQL is
//! unreachable.

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

pub fn live() -> Result<Response, ApiError> {
    Ok(json_response(
        200,
        &json!({ "status": "alive", "service": "backend-api" }),
    ))
}

pub fn ready() -> Result<Response, ApiError> {
    let postgres = postgres_ok();
    Ok(json_response(
        if postgres { 200 } else { 503 },
        &json!({
            "status": if postgres { "ready" } else { "unavailable" },
            "service": "backend-api",
            "postgres": if postgres { "ok" } else { "unavailable" },
        }),
    ))
}
