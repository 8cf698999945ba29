//! Changes through MCP are evented like REST changes: outbox event, audit row, SSE frame and
//! recurring successor.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use todo_e2e::db::count;
use todo_e2e::{eventually, spawn_app};

use crate::call_ok;

/// How many successors the recurring task `root` has.
async fn successors(pg: &tokio_postgres::Client, root: uuid::Uuid) -> i64 {
    count(
        pg,
        "SELECT count(*) FROM tasks WHERE parent_task_id = $1",
        &[&root],
    )
    .await
}

#[tokio::test]
async fn changes_through_mcp_are_evented_like_rest_changes() {
    let app = spawn_app().await;
    let workers = app
        .host_builder()
        .component("realtime-fanout")
        .component("audit-service")
        .component("recurring-service")
        .spawn();
    app.wait_for_subscribers(
        &["task-created", "task-updated", "task-completed"],
        &workers,
    )
    .await;
    // An SSE stream for alice, open (its retry hint read) before the change.
    let stream = reqwest::Client::new()
        .get(app.url("/api/sse/alice"))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut frames = stream.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("retry:") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), frames.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    let task = call_ok(&app, "alice", "create_task", json!({
        "title": "Water the plants", "recurring_rule": "daily", "due_date": "2030-03-01T08:00:00Z"
    })).await;
    let id = task["id"].as_str().unwrap().to_string();
    let rest: Value = app
        .get_json("alice", &format!("/api/alice/tasks/{id}"))
        .await;
    assert_eq!(rest, task);

    let pg = app.pg().await;
    let (topic, payload): (String, Value) = {
        let row = pg
            .query_one(
                "SELECT topic, payload FROM events WHERE subject = $1",
                &[&id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(topic, "task-created");
    assert_eq!(payload["data"]["user_id"], "alice");
    assert_eq!(payload["data"]["data"]["task_id"], id.as_str());

    eventually("the task-created audit row", Duration::from_secs(60), || async {
        match count(&pg, "SELECT count(*) FROM audit_logs WHERE entity_id = $1 AND event_type = 'task-created'", &[&id]).await {
            1 => Ok(()),
            n => Err(format!("{n} rows")),
        }
    })
    .await;

    // The SSE frame of the creation.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let frame = seen
            .split("\n\n")
            .filter_map(|frame| frame.lines().find_map(|line| line.strip_prefix("data: ")))
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .find(|data| data["action"] == "created" && data["data"]["id"] == id.as_str());
        if let Some(frame) = frame {
            assert_eq!(frame["type"], "task_update");
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, frames.next())
            .await
            .expect("the created frame within 60 s")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // Completing the recurring task through MCP: exactly one successor.
    let done = call_ok(&app, "alice", "toggle_complete", json!({"task_id": id})).await;
    assert_eq!(done["status"], "completed");
    let root = uuid::Uuid::parse_str(&id).unwrap();
    eventually("a successor", Duration::from_secs(60), || async {
        match successors(&pg, root).await {
            0 => Err("none yet".to_string()),
            _ => Ok(()),
        }
    })
    .await;
    eventually("the task-completed audit row", Duration::from_secs(60), || async {
        match count(&pg, "SELECT count(*) FROM audit_logs WHERE entity_id = $1 AND event_type = 'task-completed'", &[&id]).await {
            1 => Ok(()),
            n => Err(format!("{n} rows")),
        }
    })
    .await;
    assert_eq!(successors(&pg, root).await, 1);
    let successor = call_ok(&app, "alice", "list_tasks", json!({"status": "pending"})).await;
    assert_eq!(successor["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(successor["tasks"][0]["parentTaskId"], id.as_str());
    assert_eq!(successor["tasks"][0]["dueDate"], "2030-03-02T08:00:00.000Z");
}
