//! What a stream carries: each of the user's events once, in commit order, and no one else's;
//! the frames an `onmessage` page sees and the named ones on request; a reminder fired by
//! notification-service.

use std::time::Duration;

use serde_json::{json, Value};
use todo_e2e::sse::{open_stream, sse_client, Item, Listening, Sse};
use todo_e2e::{spawn_app, TestApp, TOPICS};

use crate::{assert_task_frame, start_fanout, stream_ids_increase, task_id, topic_of, WAIT};

/// Inserts a notification for `task` and publishes its `reminder-due` envelope, as
/// notification-service does; returns (notification JSON as the API returns it, envelope).
async fn fire_reminder(app: &TestApp, user: &str, task: &Value) -> (Value, String) {
    let notification_id = uuid::Uuid::new_v4();
    let task_id = uuid::Uuid::parse_str(task["id"].as_str().unwrap()).unwrap();
    let now = chrono::Utc::now();
    let created = now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let message = format!("Reminder: {}", task["title"].as_str().unwrap());
    app.pg()
        .await
        .execute(
            "INSERT INTO notifications (id, user_id, task_id, message, created_at, reminder_at) \
             VALUES ($1, $2, $3, $4, $5::text::timestamptz, $5::text::timestamptz)",
            &[&notification_id, &user, &task_id, &message, &created],
        )
        .await
        .unwrap();
    let notification = json!({
        "id": notification_id.to_string(), "userId": user, "message": message,
        "taskId": task_id.to_string(), "read": false, "createdAt": created,
    });
    let event_id = uuid::Uuid::now_v7().to_string();
    let mut inner = task.as_object().unwrap().clone();
    inner.insert("task_id".into(), json!(task_id.to_string()));
    inner.insert("notification".into(), notification.clone());
    let envelope = json!({
        "specversion": "1.0", "id": event_id, "source": "notification-service",
        "type": "reminder-due", "subject": task_id.to_string(), "time": created,
        "datacontenttype": "application/json",
        "data": {
            "event_id": event_id, "event_type": "reminder-due", "timestamp": created,
            "user_id": user, "correlation_id": "e2e-reminder", "data": inner,
        }
    })
    .to_string();
    app.publish("reminder-due", &envelope).await;
    (notification, envelope)
}

#[tokio::test]
async fn a_users_stream_receives_each_event_once_in_commit_order_and_no_one_elses() {
    let app = spawn_app().await;
    let _workers = start_fanout(&app).await;
    let client = sse_client();
    let mut alice = open_stream(&app, &client, "alice").await;
    let mut bob = open_stream(&app, &client, "bob").await;
    assert_eq!(alice.headers["content-type"], "text/event-stream");
    assert_eq!(alice.headers["cache-control"], "no-cache");
    assert_eq!(alice.headers["x-accel-buffering"], "no");
    assert!(alice.headers.contains_key("x-request-id"));

    let task = app
        .create_task("alice", json!({"title": "Live", "priority": "low"}))
        .await;
    let id = task["id"].as_str().unwrap().to_string();
    let path = format!("/api/alice/tasks/{id}");
    let response = app
        .put("alice", &path, &json!({"title": "Live, renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .patch("alice", &format!("{path}/complete"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app.delete("alice", &path).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let other = app
        .create_task("alice", json!({"title": "Remind me"}))
        .await;
    let other_id = other["id"].as_str().unwrap().to_string();
    let (notification, _) = fire_reminder(&app, "alice", &other).await;

    let events = alice.events(7, WAIT).await;
    assert_task_frame(&events[0], "task-created", "created", &id, "alice");
    assert_eq!(events[0].2["data"]["title"], "Live");
    assert_eq!(events[0].2["data"]["priority"], "low");
    assert_task_frame(&events[1], "task-updated", "updated", &id, "alice");
    assert_eq!(events[1].2["data"]["title"], "Live, renamed");
    assert_task_frame(&events[2], "task-updated", "updated", &id, "alice");
    assert_eq!(events[2].2["data"]["completed"], true);
    assert_task_frame(&events[3], "task-completed", "completed", &id, "alice");
    assert_eq!(events[3].2["data"]["status"], "completed");
    assert_task_frame(&events[4], "task-deleted", "deleted", &id, "alice");
    assert_task_frame(&events[5], "task-created", "created", &other_id, "alice");
    let (_, name, reminder) = &events[6];
    assert_eq!(name, "message");
    assert_eq!(reminder["type"], "reminder");
    assert_eq!(reminder["data"], notification);
    assert_eq!(reminder["user_id"], "alice");
    assert!(reminder.get("action").is_none());
    stream_ids_increase(&events);

    // Commit order: the task events in the order of the outbox's sequence.
    let rows = app
        .pg()
        .await
        .query(
            "SELECT topic, subject FROM events WHERE user_id = 'alice' ORDER BY seq",
            &[],
        )
        .await
        .unwrap();
    let committed: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let streamed: Vec<(String, String)> = events[..6]
        .iter()
        .map(|(_, _, data)| (topic_of(data), task_id(data).to_string()))
        .collect();
    assert_eq!(streamed, committed);

    // Each once; nothing for bob.
    alice.assert_quiet(Duration::from_millis(1500)).await;
    bob.assert_quiet(Duration::from_millis(500)).await;
}

/// The real reminder path: notification-service's cron sweep records the notification and
/// publishes `reminder-due` through the outbox; the stream gets it with the notification as the
/// API returns it.
#[tokio::test]
async fn a_reminder_fired_by_notification_service_reaches_the_stream() {
    let app = spawn_app().await;
    let workers = app
        .host_builder()
        .component("realtime-fanout")
        .component("notification-service")
        .spawn();
    app.wait_for_subscribers(&TOPICS, &workers).await;
    let client = sse_client();
    let mut alice = open_stream(&app, &client, "alice").await;
    let mut bob = open_stream(&app, &client, "bob").await;
    let remind_at = (chrono::Utc::now() + chrono::Duration::seconds(1))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let task = app
        .create_task(
            "alice",
            json!({"title": "Call the dentist", "reminderAt": remind_at}),
        )
        .await;
    let created = alice.next_event(WAIT).await;
    assert_task_frame(
        &created,
        "task-created",
        "created",
        task["id"].as_str().unwrap(),
        "alice",
    );

    // Cron cadence 5 s, plus slack for a loaded machine.
    let (_, name, reminder) = alice.next_event(Duration::from_secs(60)).await;
    assert_eq!(name, "message", "{reminder}");
    assert_eq!(reminder["type"], "reminder");
    assert_eq!(reminder["user_id"], "alice");
    let listed: Value = app
        .get("alice", "/api/alice/notifications")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        reminder["data"], listed[0],
        "the notification as the API returns it"
    );
    assert_eq!(reminder["data"]["taskId"], task["id"]);
    alice.assert_quiet(Duration::from_millis(1000)).await;
    bob.assert_quiet(Duration::from_millis(200)).await;
    drop(workers);
}

/// The seed's frontend opens `new EventSource(url + "?access_token=" + jwt)` and sets only
/// `onmessage`, which fires for unnamed frames alone: by default every event reaches it, and
/// the frame's JSON says what happened. `?events=named` names the frames for clients that
/// listen per type (and an `onmessage`-only page then hears nothing, which is what the seed's
/// page got before).
#[tokio::test]
async fn an_onmessage_page_receives_every_event_and_named_frames_come_on_request() {
    let app = spawn_app().await;
    let _workers = start_fanout(&app).await;
    let client = sse_client();
    let page_url = app.url(&format!(
        "/api/sse/alice?access_token={}",
        app.token("alice")
    ));
    let mut page = Sse::open(client.get(&page_url)).await;
    let named_url = app.url("/api/sse/alice?events=named");
    let mut named =
        Sse::open_listening_to_every_type(client.get(&named_url).bearer_auth(app.token("alice")))
            .await;
    let mut deaf = Sse::try_open_as(
        client.get(&named_url).bearer_auth(app.token("alice")),
        Listening::OnMessage,
    )
    .await
    .unwrap();

    let task = app.create_task("alice", json!({"title": "Heard"})).await;
    let id = task["id"].as_str().unwrap().to_string();
    let path = format!("/api/alice/tasks/{id}");
    let update = app.put("alice", &path, &json!({"title": "Heard, renamed"}));
    assert_eq!(update.send().await.unwrap().status(), 200);
    let complete = app.patch("alice", &format!("{path}/complete"));
    assert_eq!(complete.send().await.unwrap().status(), 200);
    assert_eq!(
        app.delete("alice", &path).send().await.unwrap().status(),
        204
    );
    let other = app
        .create_task("alice", json!({"title": "Remind me"}))
        .await;
    let (notification, _) = fire_reminder(&app, "alice", &other).await;
    let topics = [
        "task-created",
        "task-updated",
        "task-updated",
        "task-completed",
        "task-deleted",
        "task-created",
        "reminder-due",
    ];

    let heard = page.events(topics.len(), WAIT).await;
    for ((_, name, data), topic) in heard.iter().zip(topics) {
        assert_eq!(name, "message", "{data}");
        assert_eq!(topic_of(data), topic, "{data}");
    }
    assert_eq!(heard[6].2["data"], notification);
    stream_ids_increase(&heard);

    let listened = named.events(topics.len(), WAIT).await;
    for (((id, name, data), topic), (page_id, _, page_data)) in
        listened.iter().zip(topics).zip(&heard)
    {
        assert_eq!(name, topic, "{data}");
        assert_eq!(id, page_id, "the same entries, the same ids");
        assert_eq!(data, page_data, "the same JSON");
    }

    let mut unheard = Vec::new();
    while unheard.len() < topics.len() {
        match deaf.next_item(WAIT).await {
            Some(Item::Unheard(name)) => unheard.push(name),
            Some(Item::Comment(_)) => continue,
            other => panic!("expected only named frames, got {other:?}"),
        }
    }
    assert_eq!(unheard, topics);
}
