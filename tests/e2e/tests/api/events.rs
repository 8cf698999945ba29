//! Every mutation publishes exactly one correctly shaped CloudEvent per topic after its
//! commit; with Redis down the request still succeeds and the event waits in the outbox.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use todo_e2e::{spawn_app, TOPICS};

/// The next `n` messages, each waited for (with a generous deadline, never a quiet period:
/// the test asserts on what arrives, and on the outbox rows for what must not).
async fn receive(pubsub: &mut redis::aio::PubSub, n: usize) -> Vec<(String, Value)> {
    let mut messages = Vec::new();
    let mut stream = pubsub.on_message();
    while messages.len() < n {
        let message = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .unwrap_or_else(|_| panic!("{} of {n} messages: {messages:?}", messages.len()))
            .expect("the subscription goes on");
        let payload: String = message.get_payload().unwrap();
        messages.push((
            message.get_channel_name().to_string(),
            serde_json::from_str(&payload).unwrap(),
        ));
    }
    messages
}

fn assert_envelope(channel: &str, event: &Value, task_id: &str) {
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], channel);
    assert_eq!(event["source"], "backend-api");
    assert_eq!(event["subject"], task_id);
    assert_eq!(event["datacontenttype"], "application/json");
    uuid::Uuid::parse_str(event["id"].as_str().unwrap()).unwrap();
    assert!(event["time"].as_str().unwrap().ends_with('Z'));
    let data = &event["data"];
    assert_eq!(data["event_id"], event["id"]);
    assert_eq!(data["event_type"], channel);
    assert_eq!(data["user_id"], "alice");
    assert!(data["correlation_id"].is_string());
    assert_eq!(data["data"]["task_id"], task_id);
}

#[tokio::test]
async fn each_mutation_publishes_exactly_its_events() {
    let app = spawn_app().await;
    let mut pubsub = app.subscribe(&TOPICS).await;

    let task = app
        .create_task("alice", json!({"title": "Evented", "priority": "low"}))
        .await;
    let id = task["id"].as_str().unwrap().to_string();
    let path = format!("/api/alice/tasks/{id}");
    let created = receive(&mut pubsub, 1).await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0].0, "task-created");
    assert_envelope("task-created", &created[0].1, &id);
    assert_eq!(created[0].1["data"]["data"]["title"], "Evented");

    let response = app
        .put("alice", &path, &json!({"priority": "high"}))
        .header("x-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let updated = receive(&mut pubsub, 1).await;
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert_eq!(updated[0].0, "task-updated");
    assert_envelope("task-updated", &updated[0].1, &id);
    let data = &updated[0].1["data"];
    assert_eq!(data["correlation_id"], "req-123");
    assert_eq!(data["data"]["priority"], "high", "the full snapshot");
    let changes = data["data"].to_string();
    assert!(
        changes.contains("\"low\"") && changes.contains("\"high\""),
        "before/after of the change: {changes}"
    );

    app.patch("alice", &format!("{path}/complete"))
        .send()
        .await
        .unwrap();
    let completed = receive(&mut pubsub, 2).await;
    let channels: Vec<&str> = completed.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(channels, ["task-updated", "task-completed"]);
    for (channel, event) in &completed {
        assert_envelope(channel, event, &id);
    }

    app.patch("alice", &format!("{path}/complete"))
        .send()
        .await
        .unwrap();
    let reopened = receive(&mut pubsub, 1).await;
    let channels: Vec<&str> = reopened.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(channels, ["task-updated"], "reopening does not complete");

    // An update that changes nothing is no change: no event (the next message on the channels
    // is the delete's, and the outbox rows below hold nothing else).
    app.put("alice", &path, &json!({"priority": "high"}))
        .send()
        .await
        .unwrap();

    assert_eq!(
        app.delete("alice", &path).send().await.unwrap().status(),
        204
    );
    let deleted = receive(&mut pubsub, 1).await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].0, "task-deleted");
    assert_envelope("task-deleted", &deleted[0].1, &id);

    // The outbox holds the same events, all marked published, ids matching what was sent.
    let pg = app.pg().await;
    let rows = pg
        .query(
            "SELECT id::text, topic, published_at IS NOT NULL, payload FROM events ORDER BY seq",
            &[],
        )
        .await
        .unwrap();
    let published: Vec<Value> = created
        .iter()
        .chain(&updated)
        .chain(&completed)
        .chain(&reopened)
        .chain(&deleted)
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(rows.len(), published.len());
    for (row, event) in rows.iter().zip(&published) {
        assert_eq!(row.get::<_, String>(0), event["id"].as_str().unwrap());
        assert!(row.get::<_, bool>(2), "marked published");
        assert_eq!(
            &row.get::<_, Value>(3),
            event,
            "the payload published is the row's payload"
        );
    }
}

#[tokio::test]
async fn with_redis_down_writes_succeed_and_leave_unpublished_events() {
    let mut app = spawn_app().await;
    app.redis.stop();
    let task = app.create_task("alice", json!({"title": "Offline"})).await;
    let id = task["id"].as_str().unwrap();
    let toggled = app
        .patch("alice", &format!("/api/alice/tasks/{id}/complete"))
        .send()
        .await
        .unwrap();
    assert_eq!(toggled.status(), 200);
    let pg = app.pg().await;
    let rows = pg
        .query(
            "SELECT topic, published_at IS NULL FROM events ORDER BY seq",
            &[],
        )
        .await
        .unwrap();
    let topics: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(topics, ["task-created", "task-updated", "task-completed"]);
    assert!(
        rows.iter().all(|r| r.get::<_, bool>(1)),
        "left for the relay"
    );

    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    app.redis.start_again();
    let health: Value = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
}
