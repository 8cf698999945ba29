//! End-to-end tests of realtime SSE: the real `realtime` component on the HTTP host,
//! `realtime-fanout` on a second (worker) host, real PostgreSQL and Redis, and a real SSE client
//! (`todo_e2e::sse`: a streaming reqwest body and a small `text/event-stream` parser). By
//! default the client behaves like a browser page that only sets `EventSource.onmessage` (the
//! seed's frontend): frames with an `event:` name are dropped unseen, as a browser would.
//!
//! The reminder-due event is published by the tests themselves (notification row inserted,
//! envelope built from the API.md contract), so they do not depend on notification-service;
//! one test follows the real path through it.

mod bench;
mod delivery;
mod frames;
mod lifecycle;

use std::time::Duration;

use serde_json::Value;
use todo_e2e::test_support::HostProcess;
use todo_e2e::{TestApp, TOPICS};

/// Starts realtime-fanout on a worker host and waits until it is subscribed to every channel.
async fn start_fanout(app: &TestApp) -> HostProcess {
    let workers = app.host_builder().component("realtime-fanout").spawn();
    app.wait_for_subscribers(&TOPICS, &workers).await;
    workers
}

fn task_id(data: &Value) -> &str {
    data["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no task id in {data}"))
}

/// The topic a frame's JSON says it is about (`type` and `action`, as a frontend reads it).
fn topic_of(data: &Value) -> String {
    match (data["type"].as_str(), data["action"].as_str()) {
        (Some("task_update"), Some(action)) => format!("task-{action}"),
        (Some("reminder"), None) => "reminder-due".to_string(),
        _ => panic!("a frame that says neither a task action nor a reminder: {data}"),
    }
}

fn assert_task_frame(
    event: &(String, String, Value),
    topic: &str,
    action: &str,
    task: &str,
    user: &str,
) {
    let (id, name, data) = event;
    assert_eq!(name, "message", "an unnamed frame: {data}");
    assert_eq!(topic_of(data), topic, "{data}");
    assert!(id.split_once('-').is_some(), "a stream entry id: {id}");
    assert_eq!(data["type"], "task_update", "{data}");
    assert_eq!(data["action"], action, "{data}");
    assert_eq!(data["user_id"], user, "{data}");
    assert!(data["timestamp"].as_str().unwrap().ends_with('Z'), "{data}");
    assert_eq!(task_id(data), task, "{data}");
    let snapshot = &data["data"];
    assert_eq!(snapshot["userId"], user);
    for field in [
        "title",
        "priority",
        "category",
        "status",
        "completed",
        "createdAt",
        "updatedAt",
        "tags",
    ] {
        assert!(
            snapshot.get(field).is_some(),
            "task field {field} missing: {snapshot}"
        );
    }
    for internal in ["task_id", "before", "after", "changed_fields"] {
        assert!(
            snapshot.get(internal).is_none(),
            "{internal} leaked into the task: {snapshot}"
        );
    }
}

fn stream_ids_increase(events: &[(String, String, Value)]) {
    let parse = |id: &str| -> (u64, u64) {
        let (a, b) = id.split_once('-').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    };
    for pair in events.windows(2) {
        assert!(
            parse(&pair[0].0) < parse(&pair[1].0),
            "ids not increasing: {} then {}",
            pair[0].0,
            pair[1].0
        );
    }
}

const WAIT: Duration = Duration::from_secs(60);
