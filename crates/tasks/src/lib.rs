//! The task operations: the one implementation of create, list, get, update, toggle, delete
//! and stats that every front door calls (the REST API, the MCP server, the assistant).
//!
//! Each operation takes input the domain has already validated (`todo_domain::input`,
//! `todo_domain::listing`), is scoped to its [`Caller`], writes a change together with its
//! outbox events in one transaction (all SQL lives in [`store`]; reads answer PostgreSQL's own
//! JSON, in one row), publishes the events once the change committed, and
//! answers with a domain result or a [`TaskError`]. Mapping a `TaskError` to HTTP happens in
//! one place ([`From<TaskError> for ApiError`](spin_support::http::ApiError)); other front
//! doors use [`TaskError::detail`] for the same words.

mod error;
mod ops;
pub mod store;

pub use error::TaskError;
pub use ops::{
    create, delete, get, list, stats, toggle, update, Created, Deleted, Idempotency, Page, TaskBody,
};

/// Who asks: every operation reads and writes only this user's rows, and `correlation_id`
/// (the request id) goes into the events it writes.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub user_id: &'a str,
    pub correlation_id: &'a str,
}
