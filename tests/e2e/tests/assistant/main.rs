//! The AI assistant end to end: the real `assistant` component on the local host against a
//! real PostgreSQL and Redis and a local OpenAI-compatible model server that answers scripted
//! completions and records what it was sent.

mod chat;
mod chatkit;
mod failures;
mod tasks;

use serde_json::Value;

/// The system message of a recorded completion request.
pub fn system_message(request: &Value) -> String {
    request["body"]["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The messages after the system message.
pub fn conversation(request: &Value) -> Vec<Value> {
    request["body"]["messages"]
        .as_array()
        .map(|m| m[1..].to_vec())
        .unwrap_or_default()
}

/// Every recorded request was a valid Chat Completions request (the `openai` types).
pub fn assert_all_valid(requests: &[Value]) {
    for request in requests {
        assert!(
            request["invalid"].is_null(),
            "the assistant sent an invalid request: {}",
            request["invalid"]
        );
    }
}

/// How many tasks `user` has, read from PostgreSQL (an empty REST list is a zero-row query,
/// which these tests' `SPIN_PG_ZERO_ROW_QUERY=error` host refuses).
pub async fn task_count(app: &todo_e2e::TestApp, user: &str) -> i64 {
    todo_e2e::db::count(
        &app.pg().await,
        "SELECT count(*) FROM tasks WHERE user_id = $1",
        &[&user],
    )
    .await
}
