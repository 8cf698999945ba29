//! What the Spin components share: PostgreSQL access through Spin's `pg4` (typed parameters
//! and row decoding that respect Spin's conversions), the transactional
//! outbox, JWT authentication, the HTTP error, CORS and request-id conventions of API.md, and
//! the entry points every component starts from: the request [`request::Context`], the
//! consumers' [`consumer::consume`], the sweeps' [`sweep::http`] and [`sweep::cron`], each
//! writing one [`log`] line. Everything here runs inside a component; the pure rules live in
//! `todo-domain`.

pub mod auth;
pub mod config;
pub mod consumer;
pub mod db;
pub mod http;
pub mod log;
pub mod outbox;
pub mod request;
pub mod sweep;

/// Current time truncated to milliseconds, the precision the API shows; truncating once
/// means what is stored, what is returned and what the event carries are identical.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}
