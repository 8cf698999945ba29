//! End-to-end tests of realtime SSE: the real `realtime` component on the HTTP host,
//! `realtime-fanout` on a second (worker) host, real PostgreSQL and Redis, and a real SSE client
//! (a streaming reqwest body and a small `text/event-stream` parser below). By default the
//! client behaves like a browser page that only sets `EventSource.onmessage` (the seed's
//! frontend): frames with an `event:` name are dropped unseen, as a browser would.
//!
//! The reminder-due event is published by the test itself (notification row inserted, envelope
//! built from the API.md contract), so these tests do not depend on notification-service.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jwt_simple::prelude::*;
use serde_json::{json, Value};
use todo_e2e::test_support::HostProcess;
use todo_e2e::{spawn_app, spawn_app_with, AppOptions, TestApp, HS256_SECRET};
use tokio::sync::mpsc;

// ------------------------------------------------------------------ SSE client

/// One dispatched SSE item.
#[derive(Debug, Clone)]
enum Item {
    Event {
        id: String,
        event: String,
        data: Value,
    },
    Comment(String),
    Retry(u64),
    /// A named event an `onmessage`-only client never sees (its `event:` name).
    Unheard(String),
    /// The response body ended (cleanly or not).
    End,
}

/// An open SSE response, parsed by a background task.
struct Sse {
    headers: reqwest::header::HeaderMap,
    rx: mpsc::UnboundedReceiver<Item>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sse {
    fn drop(&mut self) {
        // Dropping the body closes the connection: the client goes away.
        self.task.abort();
    }
}

/// Which events the client dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listening {
    /// `EventSource.onmessage` only: events of type `message` (no `event:` line, or
    /// `event: message`); named events are dropped, as a browser does when nobody listens.
    OnMessage,
    /// A listener for every event type (`addEventListener(<topic>, ...)`).
    EveryType,
}

/// Parses `text/event-stream` blocks (`\n`, `\r\n` or `\r` line ends) into items.
struct Parser {
    listening: Listening,
    buffer: String,
    id: Option<String>,
    event: Option<String>,
    data: Vec<String>,
}

impl Parser {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Item>) {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
        while let Some(pos) = self.buffer.find(['\n', '\r']) {
            let line = self.buffer[..pos].to_string();
            let mut skip = 1;
            if self.buffer[pos..].starts_with("\r\n") {
                skip = 2;
            }
            self.buffer.drain(..pos + skip);
            self.line(&line, out);
        }
    }

    fn new(listening: Listening) -> Parser {
        Parser {
            listening,
            buffer: String::new(),
            id: None,
            event: None,
            data: Vec::new(),
        }
    }

    fn line(&mut self, line: &str, out: &mut Vec<Item>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                let data = self.data.join("\n");
                let event = self.event.take().unwrap_or_else(|| "message".into());
                if event == "message" || self.listening == Listening::EveryType {
                    out.push(Item::Event {
                        id: self.id.clone().unwrap_or_default(),
                        event,
                        data: serde_json::from_str(&data)
                            .unwrap_or_else(|e| panic!("data is not JSON ({e}): {data:?}")),
                    });
                } else {
                    out.push(Item::Unheard(event));
                }
                self.data.clear();
            }
            self.event = None;
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            out.push(Item::Comment(comment.trim().to_string()));
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.id = Some(value.to_string()),
            "event" => self.event = Some(value.to_string()),
            "data" => self.data.push(value.to_string()),
            "retry" => out.push(Item::Retry(value.parse().expect("numeric retry"))),
            other => panic!("unexpected SSE field {other:?} in line {line:?}"),
        }
    }
}

/// A client for long-lived responses: no overall request timeout.
fn sse_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

impl Sse {
    /// Opens `/api/sse/{user}` with `request`'s extras as an `onmessage`-only client, asserts
    /// `200`, and waits for the `retry:` hint (the response head and first chunk: from then on
    /// the start position is fixed, so anything published afterwards must arrive).
    async fn open(request: reqwest::RequestBuilder) -> Sse {
        Sse::try_open(request)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The same as a client listening to every event type.
    async fn open_listening_to_every_type(request: reqwest::RequestBuilder) -> Sse {
        Sse::try_open_as(request, Listening::EveryType)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn try_open(request: reqwest::RequestBuilder) -> Result<Sse, String> {
        Sse::try_open_as(request, Listening::OnMessage).await
    }

    async fn try_open_as(
        request: reqwest::RequestBuilder,
        listening: Listening,
    ) -> Result<Sse, String> {
        let response = request
            .send()
            .await
            .map_err(|e| format!("SSE request failed: {e}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        if status != 200 {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("SSE request answered {status}: {body}"));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut body = response.bytes_stream();
            let mut parser = Parser::new(listening);
            while let Some(chunk) = body.next().await {
                let Ok(chunk) = chunk else { break };
                let mut items = Vec::new();
                parser.feed(&chunk, &mut items);
                for item in items {
                    if tx.send(item).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(Item::End);
        });
        let mut sse = Sse { headers, rx, task };
        match sse.next_item(Duration::from_secs(60)).await {
            Some(Item::Retry(3000)) => Ok(sse),
            other => Err(format!("expected the retry hint first, got {other:?}")),
        }
    }

    async fn next_item(&mut self, timeout: Duration) -> Option<Item> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next event (comments skipped); panics on timeout or end of stream.
    async fn next_event(&mut self, timeout: Duration) -> (String, String, Value) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_item(left).await {
                Some(Item::Event { id, event, data }) => return (id, event, data),
                Some(Item::Comment(_)) | Some(Item::Retry(_)) => continue,
                Some(Item::Unheard(name)) => {
                    panic!("a frame named {name:?}: onmessage never sees it")
                }
                Some(Item::End) => panic!("the stream ended while an event was expected"),
                None => panic!("no event within {timeout:?}"),
            }
        }
    }

    async fn events(&mut self, n: usize, timeout: Duration) -> Vec<(String, String, Value)> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_item(left).await {
                Some(Item::Event { id, event, data }) => out.push((id, event, data)),
                Some(Item::Comment(_)) | Some(Item::Retry(_)) => continue,
                Some(Item::Unheard(name)) => {
                    panic!("a frame named {name:?}: onmessage never sees it")
                }
                Some(Item::End) => panic!(
                    "the stream ended after {} of {n} events: {out:?}",
                    out.len()
                ),
                None => panic!(
                    "only {} of {n} events within {timeout:?}: {out:?}",
                    out.len()
                ),
            }
        }
        out
    }

    /// Asserts that no event arrives within `quiet`.
    async fn assert_quiet(&mut self, quiet: Duration) {
        let deadline = Instant::now() + quiet;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.next_item(left).await {
                Some(Item::Event { id, event, data }) => {
                    panic!("unexpected event {id} {event}: {data}")
                }
                Some(Item::Unheard(name)) => panic!("unexpected frame named {name:?}"),
                Some(Item::End) => panic!("the stream ended"),
                Some(_) => continue,
                None => return,
            }
        }
    }
}

fn sse_request(app: &TestApp, client: &reqwest::Client, user: &str) -> reqwest::RequestBuilder {
    client
        .get(app.url(&format!("/api/sse/{user}")))
        .bearer_auth(app.token(user))
}

async fn open_stream(app: &TestApp, client: &reqwest::Client, user: &str) -> Sse {
    Sse::open(sse_request(app, client, user)).await
}

// ------------------------------------------------------------------ helpers

/// Starts realtime-fanout on a worker host and waits until it is subscribed to every channel.
async fn start_fanout(app: &TestApp) -> HostProcess {
    let workers = app.host_builder().component("realtime-fanout").spawn();
    wait_subscribed(app).await;
    workers
}

/// Waits until every realtime channel has a subscriber.
async fn wait_subscribed(app: &TestApp) {
    let client = redis::Client::open(app.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&TOPICS)
            .query_async(&mut conn)
            .await
            .unwrap();
        if counts.iter().all(|(_, n)| *n >= 1) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fanout not subscribed: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const TOPICS: [&str; 5] = [
    "task-created",
    "task-updated",
    "task-completed",
    "task-deleted",
    "reminder-due",
];

async fn redis_conn(app: &TestApp) -> redis::aio::MultiplexedConnection {
    redis::Client::open(app.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
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
    let mut conn = redis_conn(app).await;
    let _: i64 = redis::cmd("PUBLISH")
        .arg("reminder-due")
        .arg(&envelope)
        .query_async(&mut conn)
        .await
        .unwrap();
    (notification, envelope)
}

const WAIT: Duration = Duration::from_secs(60);

// ------------------------------------------------------------------ tests

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

#[tokio::test]
async fn reconnecting_with_last_event_id_delivers_exactly_the_missed_events_then_live_ones() {
    let app = spawn_app().await;
    let _workers = start_fanout(&app).await;
    let client = sse_client();
    let mut first = open_stream(&app, &client, "alice").await;
    let task = app.create_task("alice", json!({"title": "v1"})).await;
    let id = task["id"].as_str().unwrap().to_string();
    let path = format!("/api/alice/tasks/{id}");
    app.put("alice", &path, &json!({"title": "v2"}))
        .send()
        .await
        .unwrap();
    let seen = first.events(2, WAIT).await;
    assert_eq!(seen[1].2["data"]["title"], "v2");
    let last_seen = seen[1].0.clone();
    drop(first);

    // Three changes while disconnected.
    for (title, status) in [("v3", 200), ("v4", 200)] {
        let response = app
            .put("alice", &path, &json!({"title": title}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
    }
    assert_eq!(
        app.delete("alice", &path).send().await.unwrap().status(),
        204
    );

    let mut resumed =
        Sse::open(sse_request(&app, &client, "alice").header("Last-Event-ID", &last_seen)).await;
    let missed = resumed.events(3, WAIT).await;
    assert_task_frame(&missed[0], "task-updated", "updated", &id, "alice");
    assert_eq!(missed[0].2["data"]["title"], "v3");
    assert_task_frame(&missed[1], "task-updated", "updated", &id, "alice");
    assert_eq!(missed[1].2["data"]["title"], "v4");
    assert_task_frame(&missed[2], "task-deleted", "deleted", &id, "alice");
    stream_ids_increase(&[
        seen[1].clone(),
        missed[0].clone(),
        missed[1].clone(),
        missed[2].clone(),
    ]);

    let live = app.create_task("alice", json!({"title": "live"})).await;
    let next = resumed.next_event(WAIT).await;
    assert_task_frame(
        &next,
        "task-created",
        "created",
        live["id"].as_str().unwrap(),
        "alice",
    );
    resumed.assert_quiet(Duration::from_millis(1000)).await;
    drop(resumed);

    // The same through the query string (EventSource-style token and position).
    let url = app.url(&format!(
        "/api/sse/alice?access_token={}&last_event_id={}",
        app.token("alice"),
        missed[1].0
    ));
    let mut by_query = Sse::open(client.get(url)).await;
    let replay = by_query.events(2, WAIT).await;
    assert_eq!(replay[0].0, missed[2].0);
    assert_eq!(replay[1].0, next.0);
    by_query.assert_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn an_event_published_twice_is_delivered_once_and_garbage_is_ignored() {
    let app = spawn_app().await;
    let _workers = start_fanout(&app).await;
    let client = sse_client();
    let mut pubsub = app.subscribe(&["task-created"]).await;
    let mut stream = open_stream(&app, &client, "alice").await;

    let first = app.create_task("alice", json!({"title": "once"})).await;
    let payload: String = {
        let mut messages = pubsub.on_message();
        let message = tokio::time::timeout(WAIT, messages.next())
            .await
            .unwrap()
            .unwrap();
        message.get_payload().unwrap()
    };
    // The relay's republish, twice over, plus messages that are not envelopes.
    let mut conn = redis_conn(&app).await;
    for message in [
        payload.as_str(),
        "not json",
        "{\"specversion\":\"1.0\"}",
        payload.as_str(),
    ] {
        let _: i64 = redis::cmd("PUBLISH")
            .arg("task-created")
            .arg(message)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let second = app.create_task("alice", json!({"title": "barrier"})).await;

    let events = stream.events(2, WAIT).await;
    assert_task_frame(
        &events[0],
        "task-created",
        "created",
        first["id"].as_str().unwrap(),
        "alice",
    );
    assert_task_frame(
        &events[1],
        "task-created",
        "created",
        second["id"].as_str().unwrap(),
        "alice",
    );
    stream.assert_quiet(Duration::from_millis(1500)).await;
    let len: i64 = redis::cmd("XLEN")
        .arg("rt:alice")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 2);
}

/// The component id spin.toml routes `/internal/sweeps/outbox` to.
fn outbox_sweep_component() -> String {
    todo_e2e::route_only_component("/internal/sweeps/outbox")
}

/// The real relay publishing an event the API had already published (the API crashed between
/// its publish and marking the row): the stream still carries it once.
#[tokio::test]
async fn an_event_republished_by_the_outbox_relay_is_delivered_once() {
    let app = spawn_app().await;
    let workers = app
        .host_builder()
        .component("realtime-fanout")
        .component(&outbox_sweep_component())
        .spawn();
    wait_subscribed(&app).await;
    let sweep_url = format!("{}/internal/sweeps/outbox", todo_e2e::served_url(&workers));
    let client = sse_client();
    let mut stream = open_stream(&app, &client, "alice").await;

    let first = app
        .create_task("alice", json!({"title": "published twice"}))
        .await;
    let first_id = first["id"].as_str().unwrap();
    let event = stream.next_event(WAIT).await;
    assert_task_frame(&event, "task-created", "created", first_id, "alice");
    let reset = app
        .pg()
        .await
        .execute(
            "UPDATE events SET published_at = NULL, created_at = now() - interval '1 minute' \
             WHERE subject = $1",
            &[&first_id],
        )
        .await
        .unwrap();
    assert_eq!(reset, 1);
    let response = app
        .client
        .post(&sweep_url)
        .bearer_auth(todo_e2e::SWEEP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let republished = app
        .pg()
        .await
        .query_one(
            "SELECT published_at IS NOT NULL FROM events WHERE subject = $1",
            &[&first_id],
        )
        .await
        .unwrap();
    assert!(
        republished.get::<_, bool>(0),
        "the relay published the event again"
    );
    let event_id: String = app
        .pg()
        .await
        .query_one(
            "SELECT id::text FROM events WHERE subject = $1",
            &[&first_id],
        )
        .await
        .unwrap()
        .get(0);
    // The fanout received the republished event and appended nothing.
    let lines = todo_e2e::wait_for_log_lines(&workers, "the fanout's second line", 2, |l| {
        l["component"] == "realtime-fanout" && l["eventId"] == event_id
    })
    .await;
    let outcomes: Vec<&Value> = lines.iter().map(|l| &l["outcome"]).collect();
    assert_eq!(
        outcomes,
        [&json!("appended"), &json!("duplicate")],
        "{lines:?}"
    );

    let second = app.create_task("alice", json!({"title": "barrier"})).await;
    let next = stream.next_event(WAIT).await;
    assert_task_frame(
        &next,
        "task-created",
        "created",
        second["id"].as_str().unwrap(),
        "alice",
    );
    stream.assert_quiet(Duration::from_millis(1000)).await;
}

#[tokio::test]
async fn two_hundred_streams_for_twenty_users_each_get_exactly_their_users_events() {
    const USERS: usize = 20;
    const STREAMS_PER_USER: usize = 10;
    const MUTATIONS_PER_USER: usize = 50; // 1,000 in all
    let app = spawn_app().await;
    let _workers = start_fanout(&app).await;
    let client = sse_client();
    let users: Vec<String> = (0..USERS).map(|i| format!("load-user-{i}")).collect();

    let opened = Instant::now();
    let mut streams = Vec::new();
    for chunk in users
        .iter()
        .flat_map(|u| std::iter::repeat_n(u.clone(), STREAMS_PER_USER))
        .collect::<Vec<_>>()
        .chunks(25)
    {
        let opening = chunk.iter().map(|user| {
            let user = user.clone();
            let app = &app;
            let client = &client;
            async move { (user.clone(), open_stream(app, client, &user).await) }
        });
        streams.extend(futures::future::join_all(opening).await);
    }
    eprintln!("opened {} streams in {:?}", streams.len(), opened.elapsed());

    // Per user, sequential mutations (so each user's commit order is defined); users in
    // parallel. Half creates, half updates of those tasks.
    let started = Instant::now();
    let expected: HashMap<String, Vec<(String, String)>> =
        futures::future::join_all(users.iter().map(|user| {
            let app = &app;
            async move {
                let mut log = Vec::new();
                let mut ids = Vec::new();
                for i in 0..MUTATIONS_PER_USER / 2 {
                    let task = app
                        .create_task(user, json!({"title": format!("t{i}")}))
                        .await;
                    let id = task["id"].as_str().unwrap().to_string();
                    log.push(("task-created".to_string(), id.clone()));
                    ids.push(id);
                }
                for id in &ids {
                    let response = app
                        .put(
                            user,
                            &format!("/api/{user}/tasks/{id}"),
                            &json!({"priority": "high"}),
                        )
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    log.push(("task-updated".to_string(), id.clone()));
                }
                (user.clone(), log)
            }
        }))
        .await
        .into_iter()
        .collect();
    eprintln!(
        "{} mutations in {:?}",
        USERS * MUTATIONS_PER_USER,
        started.elapsed()
    );

    let checks = streams.iter_mut().map(|(user, stream)| {
        let want = &expected[user.as_str()];
        async move {
            let events = stream.events(want.len(), Duration::from_secs(120)).await;
            let got: Vec<(String, String)> = events
                .iter()
                .map(|(_, _, data)| {
                    assert_eq!(data["user_id"], user.as_str());
                    (topic_of(data), task_id(data).to_string())
                })
                .collect();
            assert_eq!(&got, want, "stream of {user}");
            stream.assert_quiet(Duration::from_millis(1000)).await;
        }
    });
    futures::future::join_all(checks).await;
    eprintln!("all streams verified after {:?}", started.elapsed());
}

fn token_expired_an_hour_ago(user: &str) -> String {
    let mut claims =
        Claims::create(jwt_simple::prelude::Duration::from_hours(1)).with_subject(user);
    let now = Clock::now_since_epoch();
    claims.issued_at = Some(now - jwt_simple::prelude::Duration::from_hours(2));
    claims.invalid_before = Some(now - jwt_simple::prelude::Duration::from_hours(2));
    claims.expires_at = Some(now - jwt_simple::prelude::Duration::from_hours(1));
    HS256Key::from_bytes(HS256_SECRET.as_bytes())
        .authenticate(claims)
        .unwrap()
}

/// A refusal: the status, a JSON `{"detail": <detail>}` body and nothing else.
async fn assert_refused(response: reqwest::Response, status: u16, detail: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "detail": detail }));
}

#[tokio::test]
async fn bad_input_is_refused_before_streaming_without_leaking_anything() {
    let app = spawn_app().await;
    let _workers = start_fanout(&app).await;
    let client = sse_client();
    let url = app.url("/api/sse/alice");
    let send = |request: reqwest::RequestBuilder| async move { request.send().await.unwrap() };

    assert_refused(
        send(client.get(&url)).await,
        401,
        "Authorization header required",
    )
    .await;
    assert_refused(
        send(client.get(&url).header("authorization", "Token abc")).await,
        401,
        "Invalid authorization header format",
    )
    .await;
    assert_refused(
        send(
            client
                .get(&url)
                .bearer_auth(token_expired_an_hour_ago("alice")),
        )
        .await,
        401,
        "Invalid or expired token",
    )
    .await;
    let mut forged = app.token("alice");
    forged.push('x');
    assert_refused(
        send(client.get(&url).bearer_auth(&forged)).await,
        401,
        "Invalid or expired token",
    )
    .await;
    assert_refused(
        send(client.get(format!("{url}?access_token=not.a.jwt"))).await,
        401,
        "Invalid or expired token",
    )
    .await;
    assert_refused(
        send(client.get(format!(
            "{url}?access_token={}",
            token_expired_an_hour_ago("alice")
        )))
        .await,
        401,
        "Invalid or expired token",
    )
    .await;
    assert_refused(
        send(client.get(&url).bearer_auth(app.token("bob"))).await,
        403,
        "Not authorized to access this user's data",
    )
    .await;
    assert_refused(
        send(client.get(format!("{url}?access_token={}", app.token("bob")))).await,
        403,
        "Not authorized to access this user's data",
    )
    .await;
    for bad in [
        "garbage",
        "1-2-3",
        "-1-0",
        "18446744073709551616-0",
        "1 -2",
        "1700000000000",
    ] {
        assert_refused(
            send(
                client
                    .get(&url)
                    .bearer_auth(app.token("alice"))
                    .header("last-event-id", bad),
            )
            .await,
            400,
            "Invalid Last-Event-ID",
        )
        .await;
    }
    assert_refused(
        send(
            client
                .get(format!("{url}?last_event_id=%00%ff"))
                .bearer_auth(app.token("alice")),
        )
        .await,
        400,
        "Invalid Last-Event-ID",
    )
    .await;
    // An unknown framing is refused, with the parameter named; an empty one is the default.
    let response = send(
        client
            .get(format!("{url}?events=bogus"))
            .bearer_auth(app.token("alice")),
    )
    .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["query", "events"]),
        "{body}"
    );
    assert_eq!(body["detail"][0]["type"], "enum", "{body}");
    assert!(
        body["detail"][0]["msg"].as_str().unwrap().contains("named"),
        "{body}"
    );
    drop(
        Sse::open(
            client
                .get(format!("{url}?events="))
                .bearer_auth(app.token("alice")),
        )
        .await,
    );
    assert_refused(
        send(
            client
                .get(app.url("/api/sse/"))
                .bearer_auth(app.token("alice")),
        )
        .await,
        404,
        "Not Found",
    )
    .await;
    assert_refused(
        send(
            client
                .get(app.url("/api/sse/alice/more"))
                .bearer_auth(app.token("alice")),
        )
        .await,
        404,
        "Not Found",
    )
    .await;
    assert_refused(
        send(client.post(&url).bearer_auth(app.token("alice"))).await,
        405,
        "Method Not Allowed",
    )
    .await;

    // CORS as for the API.
    let preflight = send(
        client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "last-event-id"),
    )
    .await;
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Last-Event-ID"));
    let from_browser =
        Sse::open(sse_request(&app, &client, "alice").header("origin", "http://localhost:3000"))
            .await;
    assert_eq!(
        from_browser.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    drop(from_browser);
    let evil =
        send(sse_request(&app, &client, "alice").header("origin", "http://evil.example")).await;
    assert!(!evil.headers().contains_key("access-control-allow-origin"));
    drop(evil);

    // An unknown user (never had a task) gets an empty, healthy stream; a user id that needs
    // escaping works; nothing of alice's leaks to either.
    let mut stranger = open_stream(&app, &client, "never-seen-user").await;
    let odd_user = "odd user/{x}";
    let odd_token = {
        let claims =
            Claims::create(jwt_simple::prelude::Duration::from_hours(1)).with_subject(odd_user);
        HS256Key::from_bytes(HS256_SECRET.as_bytes())
            .authenticate(claims)
            .unwrap()
    };
    let mut odd = Sse::open(
        client
            .get(app.url("/api/sse/odd%20user%2F%7Bx%7D"))
            .bearer_auth(&odd_token),
    )
    .await;
    let mut alice = open_stream(&app, &client, "alice").await;
    app.create_task("alice", json!({"title": "private"})).await;
    alice.next_event(WAIT).await;
    stranger.assert_quiet(Duration::from_millis(1000)).await;
    odd.assert_quiet(Duration::from_millis(200)).await;

    // The host survived all of it.
    assert!(app.api.output().contains("todo-host: ready"));
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        !app.api.output().contains("panicked"),
        "{}",
        app.api.output()
    );
}

#[tokio::test]
async fn keep_alives_flow_the_response_ends_after_its_lifetime_and_a_gone_client_frees_its_instance(
) {
    let app = spawn_app_with(AppOptions {
        variables: vec![
            ("sse_lifetime_seconds".into(), "4".into()),
            ("sse_keepalive_seconds".into(), "1".into()),
        ],
    })
    .await;
    let client = sse_client();
    let mut conn = redis_conn(&app).await;
    let clients = |info: String| -> i64 {
        info.lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let baseline = clients(
        redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut conn)
            .await
            .unwrap(),
    );

    // Without a lifetime the stream would never end; with 4 s and a keep-alive every second
    // it ends after several keep-alives (counted, not timed), and says why in its log line.
    let mut stream =
        Sse::open(sse_request(&app, &client, "alice").header("x-request-id", "lifetime-stream"))
            .await;
    let mut keepalives = 0;
    loop {
        match stream.next_item(Duration::from_secs(120)).await {
            Some(Item::Comment(c)) => {
                assert_eq!(c, "keep-alive");
                keepalives += 1;
            }
            Some(Item::End) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(keepalives >= 2, "{keepalives} keep-alives");
    let line = todo_e2e::request_line(&app.api, "lifetime-stream").await;
    assert_eq!(line["streamEnd"], "lifetime", "{line}");
    assert_eq!(line["status"], 200, "{line}");

    // Clients that go away: their instances (and Redis connections) end within a keep-alive.
    let mut gone = Vec::new();
    for _ in 0..5 {
        gone.push(open_stream(&app, &client, "alice").await);
    }
    let open_now = clients(
        redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut conn)
            .await
            .unwrap(),
    );
    assert!(
        open_now >= baseline + 5,
        "{open_now} connections with 5 streams (baseline {baseline})"
    );
    drop(gone);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = clients(
            redis::cmd("INFO")
                .arg("clients")
                .query_async(&mut conn)
                .await
                .unwrap(),
        );
        if now <= baseline {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{now} connections a minute after the clients left (baseline {baseline})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    wait_subscribed(&app).await;
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

/// Redis down: an open stream ends (the client resumes later); a new connection gets `200`
/// with only the retry hint and ends, so an EventSource keeps retrying instead of giving up
/// on a 5xx; once Redis is back, streams work again.
#[tokio::test]
async fn a_redis_outage_ends_streams_and_tells_clients_to_retry() {
    // A user no other test uses: while this test's Redis is down its port is free, and a
    // redis-server started meanwhile by a concurrent test could take it (see the report).
    const USER: &str = "outage-user";
    let mut app = spawn_app().await;
    let client = sse_client();
    let mut open =
        Sse::open(sse_request(&app, &client, USER).header("x-request-id", "open-during-outage"))
            .await;
    app.redis.stop();
    match open.next_item(Duration::from_secs(60)).await {
        Some(Item::End) => {}
        other => panic!("expected the stream to end, got {other:?}"),
    }
    let line = todo_e2e::request_line(&app.api, "open-during-outage").await;
    assert_eq!(line["streamEnd"], "redis-failed", "{line}");

    let mut refused =
        Sse::open(sse_request(&app, &client, USER).header("x-request-id", "opened-during-outage"))
            .await;
    assert_eq!(refused.headers["content-type"], "text/event-stream");
    match refused.next_item(Duration::from_secs(60)).await {
        Some(Item::End) => {}
        other => panic!("expected an immediate end, got {other:?}"),
    }
    let line = todo_e2e::request_line(&app.api, "opened-during-outage").await;
    assert_eq!(line["streamEnd"], "redis-unavailable", "{line}");
    assert!(
        line["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("Redis unavailable, the client is told to retry"),
        "{line}"
    );

    app.redis.start_again();
    let _workers = start_fanout(&app).await;
    let mut back = open_stream(&app, &client, USER).await;
    let task = app
        .create_task(USER, json!({"title": "after the outage"}))
        .await;
    let event = back.next_event(WAIT).await;
    assert_task_frame(
        &event,
        "task-created",
        "created",
        task["id"].as_str().unwrap(),
        USER,
    );
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

/// A stream opened with a token that expires soon ends when it expires (not after its
/// lifetime), so a revoked session does not stream on; the log line says why.
#[tokio::test]
async fn a_stream_ends_when_its_token_expires() {
    let app = spawn_app_with(AppOptions {
        variables: vec![("sse_lifetime_seconds".into(), "3600".into())],
    })
    .await;
    let client = sse_client();
    let claims = Claims::create(jwt_simple::prelude::Duration::from_secs(3)).with_subject("alice");
    let expires_at = claims.expires_at.unwrap().as_secs();
    let token = HS256Key::from_bytes(HS256_SECRET.as_bytes())
        .authenticate(claims)
        .unwrap();
    let mut stream = Sse::open(
        client
            .get(app.url(&format!("/api/sse/alice?access_token={token}")))
            .header("x-request-id", "short-lived-token"),
    )
    .await;
    // Without the expiry the stream would last an hour.
    loop {
        match stream.next_item(Duration::from_secs(120)).await {
            Some(Item::Comment(_)) => continue,
            Some(Item::End) => break,
            other => panic!("expected the stream to end, got {other:?}"),
        }
    }
    let line = todo_e2e::request_line(&app.api, "short-lived-token").await;
    assert_eq!(line["streamEnd"], "token-expired", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["route"], "/api/sse/{user_id}", "{line}");
    // It ended at the expiry, not before (the server's own clock, from its line).
    let started = chrono::DateTime::parse_from_rfc3339(line["time"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let ended = started + line["durationMs"].as_i64().unwrap();
    assert!(
        ended >= expires_at as i64 * 1000 - 1000,
        "ended at {ended} ms, the token expires at {expires_at} s"
    );
}

// ------------------------------------------------------------------ benchmark (bench/realtime.sh)

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
        ms(*samples.last().unwrap())
    )
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (RSS in KiB, CPU ticks user+system) of a process, from /proc.
fn process_usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    (rss, ticks)
}

/// API response -> SSE frame latency, sequentially: one `PUT` at a time, the next only after
/// its frame arrived.
async fn measure_latency(
    app: &TestApp,
    stream: &mut Sse,
    task_path: &str,
    events: usize,
    label: &str,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(events);
    let mut api = Vec::with_capacity(events);
    let mut from_request = Vec::with_capacity(events);
    for i in 0..events {
        let title = format!("{label} {i}");
        let sent = Instant::now();
        let response = app
            .put("alice", task_path, &json!({ "title": title }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        let answered = Instant::now();
        let (_, _, data) = stream.next_event(WAIT).await;
        let received = Instant::now();
        assert_eq!(topic_of(&data), "task-updated");
        assert_eq!(data["data"]["title"], title.as_str());
        api.push(answered - sent);
        from_request.push(received - sent);
        latencies.push(received.saturating_duration_since(answered));
    }
    eprintln!("[{label}] API PUT round trip: {}", summary(api));
    eprintln!(
        "[{label}] request sent -> SSE frame received: {}",
        summary(from_request)
    );
    latencies
}

/// `bench/realtime.sh` runs this. Figures go to stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with bench/realtime.sh"]
async fn bench_realtime_latency_and_idle_streams() {
    let events = env_number("RT_BENCH_EVENTS", 1000);
    let idle_streams = env_number("RT_BENCH_IDLE_STREAMS", 1000);
    let idle_seconds = env_number("RT_BENCH_IDLE_SECONDS", 30) as u64;
    let app = spawn_app_with(AppOptions {
        variables: vec![("sse_lifetime_seconds".into(), "1800".into())],
    })
    .await;
    let workers = start_fanout(&app).await;
    let client = sse_client();
    let mut stream = open_stream(&app, &client, "alice").await;
    let task = app.create_task("alice", json!({"title": "bench"})).await;
    stream.next_event(WAIT).await;
    let path = format!("/api/alice/tasks/{}", task["id"].as_str().unwrap());
    measure_latency(&app, &mut stream, &path, 20, "warm-up").await;

    let latencies = measure_latency(&app, &mut stream, &path, events, "latency").await;
    eprintln!(
        "RESULT latency API response -> SSE frame received: {}",
        summary(latencies)
    );

    // The idle streams go to a host of their own that runs only `realtime` (as it should be
    // deployed: every open stream holds a wasm instance, and a host process, like Spin, allows
    // 1,000 concurrent instances in all, so streams sharing a process with the API would
    // starve it).
    let sse_host = app.host_builder().component("realtime").spawn();
    let pid = sse_host.pid();
    let (rss_before, _) = process_usage(pid);
    let opening = Instant::now();
    let mut idle = Vec::new();
    let mut failure = None;
    'open: for batch in (0..idle_streams).collect::<Vec<_>>().chunks(50) {
        let opened = futures::future::join_all(batch.iter().map(|i| {
            let user = format!("idle-{}", i % 100);
            let request = client
                .get(format!("{}/api/sse/{user}", sse_host.base_url()))
                .bearer_auth(app.token(&user));
            async move { Sse::try_open(request).await }
        }))
        .await;
        for result in opened {
            match result {
                Ok(sse) => idle.push(sse),
                Err(e) => {
                    failure = Some(e);
                    break 'open;
                }
            }
        }
    }
    eprintln!(
        "opened {} idle streams in {:?}",
        idle.len(),
        opening.elapsed()
    );
    let report_failure = |what: &str, e: &str| {
        eprintln!("RESULT {what}: {e}");
        for line in sse_host
            .output()
            .lines()
            .filter(|l| l.contains("ERROR"))
            .take(2)
        {
            eprintln!("RESULT host log: {line}");
        }
    };
    if let Some(e) = &failure {
        report_failure(&format!("opening stream #{} failed", idle.len() + 1), e);
    } else {
        // One more than the streams: shows whether the instance limit is reached.
        let extra = client
            .get(format!("{}/api/sse/idle-0", sse_host.base_url()))
            .bearer_auth(app.token("idle-0"));
        match Sse::try_open(extra).await {
            Ok(sse) => {
                eprintln!("RESULT stream #{} opened too", idle.len() + 1);
                drop(sse);
            }
            Err(e) => report_failure(&format!("stream #{} refused", idle.len() + 1), &e),
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_open, ticks_start) = process_usage(pid);
    let measured = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle_seconds)).await;
    let (rss_after, ticks_end) = process_usage(pid);
    let seconds = measured.elapsed().as_secs_f64();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let cpu = (ticks_end - ticks_start) as f64 / ticks_per_second / seconds * 100.0;
    eprintln!(
        "RESULT realtime-only host with {} idle open streams: RSS {} MiB (before opening {} MiB, after {:.0} s idle {} MiB), CPU {:.1} % of one core over {:.0} s idle",
        idle.len(),
        rss_open / 1024,
        rss_before / 1024,
        seconds,
        rss_after / 1024,
        cpu,
        seconds
    );

    let (mut open, mut with_keepalive) = (0, 0);
    for sse in idle.iter_mut() {
        let (mut ended, mut keepalive) = (false, false);
        while let Ok(item) = sse.rx.try_recv() {
            match item {
                Item::Comment(_) => keepalive = true,
                Item::End => ended = true,
                _ => {}
            }
        }
        open += usize::from(!ended);
        with_keepalive += usize::from(keepalive);
    }
    eprintln!(
        "RESULT {open} of {} idle streams still open, {with_keepalive} received keep-alives",
        idle.len()
    );

    let under_load = measure_latency(&app, &mut stream, &path, 200, "with idle streams").await;
    eprintln!(
        "RESULT latency with {} idle streams open: {}",
        idle.len(),
        summary(under_load)
    );
    drop(idle);
    drop(sse_host);
    drop(workers);
    assert!(failure.is_none(), "{failure:?}");
}
