//! A delete is one statement: the row goes and its `task-deleted` event is written with the
//! deleted row's snapshot, built by PostgreSQL (`task_json`). The stored and the published event
//! must be exactly what the domain's `event::task_deleted` makes of the task as it was.

use futures::StreamExt;
use serde_json::{json, Value};
use todo_domain::event::task_deleted;
use todo_domain::task::{parse_instant, Task};
use todo_e2e::spawn_app;
use uuid::Uuid;

#[tokio::test]
async fn the_deleted_event_is_the_domains_task_deleted_of_the_row_as_it_was() {
    let app = spawn_app().await;
    let created = app
        .create_task(
            "alice",
            json!({"title": "Pay \"rent\" \\ اردو 😀", "description": "line\nbreak",
                   "priority": "high", "category": "home", "tags": ["bills", "Ünï"],
                   "dueDate": "2027-01-31T09:00:00.123Z", "recurringRule": "monthly",
                   "reminderAt": "2027-01-30T09:00:00Z", "timeZone": "Asia/Karachi"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/alice/tasks/{id}");
    let before: Value = app
        .patch("alice", &format!("{path}/complete"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut pubsub = app.subscribe(&["task-deleted"]).await;
    let response = app
        .delete("alice", &path)
        .header("x-request-id", "delete-request-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let row = app
        .pg()
        .await
        .query_one(
            "SELECT payload FROM events WHERE topic = 'task-deleted' AND subject = $1",
            &[&id],
        )
        .await
        .unwrap();
    let stored: Value = row.get(0);
    let event_id = Uuid::parse_str(stored["id"].as_str().unwrap()).unwrap();
    let time = parse_instant(stored["time"].as_str().unwrap()).unwrap();
    let task: Task = serde_json::from_value(before).unwrap();
    let expected = task_deleted(&task, "delete-request-1")
        .with_id_time(event_id, time)
        .to_json();
    assert_eq!(stored, expected, "the stored event");

    let message = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        pubsub.on_message().next().await.unwrap()
    })
    .await
    .expect("task-deleted published");
    let published: Value = serde_json::from_str(&message.get_payload::<String>().unwrap()).unwrap();
    assert_eq!(published, expected, "the published event");
}
