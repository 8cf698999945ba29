//! The event consumers (audit-service, recurring-service) and the outbox relay, end to end on
//! the local host with real PostgreSQL and Redis: duplicate and concurrent deliveries, a Redis
//! outage, a consumer that was down, malformed messages, recurrence arithmetic through
//! successive completions, and the relay's sweep route and cron trigger.
//!
//! Waits are bounded polls of an observable effect (a row, the log line the component writes
//! once it has handled a given event id); nothing is asserted by sleeping. Absence ("no
//! successor", "nothing written") is asserted after the component reported, for that very
//! event, what it decided. The relay's grace period and back-off are set by the tests that
//! depend on them, and "time passing" is the test moving the relay's timestamps back, so no
//! test races a timer.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use todo_e2e::test_support::HostProcess;
use todo_e2e::{
    eventually, log_lines, served_url, spawn_app, tail, wait_for_log_lines, TestApp, SWEEP_TOKEN,
};
use uuid::Uuid;

const TASK_TOPICS: [&str; 4] = [
    "task-created",
    "task-updated",
    "task-completed",
    "task-deleted",
];
const CONSUMERS: [&str; 2] = ["audit-service", "recurring-service"];

// ------------------------------------------------------------------------------- helpers

/// The component id spin.toml routes `/internal/sweeps/outbox` to (the relay's .wasm under an
/// id without the cron trigger).
fn sweep_component() -> String {
    todo_e2e::route_only_component("/internal/sweeps/outbox")
}

fn start(app: &TestApp, components: &[&str]) -> HostProcess {
    let mut builder = app.host_builder();
    for id in components {
        builder = builder.component(id);
    }
    builder.spawn()
}

/// The consumers, the relay (cron) and its sweep route, in one process.
fn start_workers(app: &TestApp) -> HostProcess {
    let sweep = sweep_component();
    let mut components = vec!["audit-service", "recurring-service", "outbox-relay"];
    if sweep != "outbox-relay" {
        components.push(&sweep);
    }
    start(app, &components)
}

/// Waits until `component` wrote at least `n` event lines matching `wanted`; returns them.
async fn wait_for_events(
    process: &HostProcess,
    component: &str,
    n: usize,
    wanted: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    wait_for_log_lines(
        process,
        &format!("{n} event lines of {component}"),
        n,
        |line| line["kind"] == "event" && line["component"] == component && wanted(line),
    )
    .await
}

/// The event lines `component` wrote about `event_id`.
fn event_lines(process: &HostProcess, component: &str, event_id: &str) -> Vec<Value> {
    log_lines(process)
        .into_iter()
        .filter(|l| l["kind"] == "event" && l["component"] == component && l["eventId"] == event_id)
        .collect()
}

fn sweep_url(relay: &HostProcess) -> String {
    format!("{}/internal/sweeps/outbox", served_url(relay))
}

async fn sweep(app: &TestApp, relay: &HostProcess, token: Option<&str>) -> (u16, Value) {
    let mut request = app.client.post(sweep_url(relay));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST sweep");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn toggle(app: &TestApp, user: &str, id: &str) -> Value {
    let response = app
        .patch(user, &format!("/api/{user}/tasks/{id}/complete"))
        .send()
        .await
        .expect("PATCH complete");
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn publish(app: &TestApp, channel: &str, payload: &[u8]) {
    let client = redis::Client::open(app.redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _receivers: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async(&mut connection)
        .await
        .unwrap();
}

/// The latest event of `topic` about task `id`: (event id, payload text).
async fn latest_event(pg: &tokio_postgres::Client, topic: &str, id: &str) -> (String, String) {
    let row = pg
        .query_one(
            "SELECT id::text, payload::text FROM events WHERE topic = $1 AND subject = $2 ORDER BY seq DESC LIMIT 1",
            &[&topic, &id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn count(pg: &tokio_postgres::Client, sql: &str) -> i64 {
    pg.query_one(sql, &[]).await.unwrap().get(0)
}

/// The occurrence `index` of series `series` as the API returns it, once it exists.
async fn occurrence(app: &TestApp, user: &str, series: &str, index: i32) -> Value {
    let pg = app.pg().await;
    let series_id = Uuid::parse_str(series).unwrap();
    let id: Uuid = eventually(
        &format!("occurrence {index} of {series}"),
        Duration::from_secs(60),
        || async {
            let rows = pg
                .query(
                    "SELECT id FROM tasks WHERE series_id = $1 AND occurrence_index = $2",
                    &[&series_id, &index],
                )
                .await
                .unwrap();
            rows.first()
                .map(|r| r.get(0))
                .ok_or_else(|| "not yet".to_string())
        },
    )
    .await;
    let response = app
        .get(user, &format!("/api/{user}/tasks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Completes every next occurrence of `root` `n` times; returns the due dates of occurrences
/// 0..=n.
async fn due_dates_by_completion(app: &TestApp, user: &str, root: &Value, n: i32) -> Vec<String> {
    let series = root["id"].as_str().unwrap().to_string();
    let mut current = root.clone();
    let mut dues = vec![current["dueDate"].as_str().unwrap().to_string()];
    for index in 1..=n {
        toggle(app, user, current["id"].as_str().unwrap()).await;
        current = occurrence(app, user, &series, index).await;
        dues.push(current["dueDate"].as_str().unwrap().to_string());
    }
    dues
}

/// Every task event has exactly one audit row, every completed recurring occurrence (no end
/// date) exactly one successor, and nothing is left unpublished.
async fn consistent(pg: &tokio_postgres::Client) -> Result<(), String> {
    let unaudited = count(
        pg,
        "SELECT count(*) FROM events e WHERE e.topic <> 'reminder-due' \
         AND NOT EXISTS (SELECT 1 FROM audit_logs a WHERE a.event_id = e.id)",
    )
    .await;
    let audit_rows = count(pg, "SELECT count(*) FROM audit_logs").await;
    let task_events = count(
        pg,
        "SELECT count(*) FROM events WHERE topic <> 'reminder-due'",
    )
    .await;
    let without_one_successor = count(
        pg,
        "SELECT count(*) FROM tasks t WHERE t.status = 'completed' AND t.recurring_rule IS NOT NULL \
         AND t.recurring_end_date IS NULL AND (SELECT count(*) FROM tasks s \
             WHERE s.series_id = t.series_id AND s.occurrence_index = t.occurrence_index + 1) <> 1",
    )
    .await;
    let unpublished = count(pg, "SELECT count(*) FROM events WHERE published_at IS NULL").await;
    if unaudited == 0 && audit_rows == task_events && without_one_successor == 0 && unpublished == 0
    {
        Ok(())
    } else {
        Err(format!(
            "unaudited events {unaudited}, audit rows {audit_rows} for {task_events} task events, \
             completed occurrences without exactly one successor {without_one_successor}, unpublished {unpublished}"
        ))
    }
}

/// Runs the relay through its route until the data is consistent.
async fn sweep_until_consistent(app: &TestApp, relay: &HostProcess, timeout: Duration) {
    let pg = app.pg().await;
    eventually("consistency after relay sweeps", timeout, || async {
        let (status, summary) = sweep(app, relay, Some(SWEEP_TOKEN)).await;
        if status != 200 {
            return Err(format!("sweep answered {status}: {summary}"));
        }
        consistent(&pg)
            .await
            .map_err(|e| format!("{e}; last sweep {summary}"))
    })
    .await
}

/// `mutations` API mutations for `user`: creates (recurring and not), updates, completions of
/// recurring tasks, deletes of non-recurring ones. Every request must succeed.
async fn mutate(app: &TestApp, user: &str, mutations: usize) {
    let mut recurring: Vec<String> = Vec::new();
    let mut plain: Vec<String> = Vec::new();
    let mut done = 0;
    let mut step = 0usize;
    while done < mutations {
        step += 1;
        let result = match step % 6 {
            0 | 1 if recurring.len() < 3 || step % 6 == 1 => {
                let task = app
                    .create_task(
                        user,
                        json!({"title": format!("recurring {step}"), "recurringRule": "daily",
                               "dueDate": "2027-04-01T08:00:00Z", "reminderAt": "2027-04-01T07:45:00Z"}),
                    )
                    .await;
                recurring.push(task["id"].as_str().unwrap().to_string());
                201
            }
            2 => {
                let task = app
                    .create_task(
                        user,
                        json!({"title": format!("plain {step}"), "tags": ["x"]}),
                    )
                    .await;
                plain.push(task["id"].as_str().unwrap().to_string());
                201
            }
            3 if !plain.is_empty() => {
                let id = &plain[step % plain.len()];
                app.put(
                    user,
                    &format!("/api/{user}/tasks/{id}"),
                    &json!({"priority": "high", "title": format!("edited {step}")}),
                )
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
            }
            4 if !recurring.is_empty() => {
                // Complete a pending recurring task (an occurrence the API has not completed).
                let id = recurring.remove(0);
                toggle(app, user, &id).await;
                200
            }
            5 if plain.len() > 1 => {
                let id = plain.remove(0);
                app.delete(user, &format!("/api/{user}/tasks/{id}"))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
            _ => continue,
        };
        assert!(
            (200..300).contains(&result),
            "mutation {step} answered {result}"
        );
        done += 1;
    }
}

/// The relay's sweep route alone, without its cron trigger: the relay runs only when the test
/// calls its route.
fn relay_without_cron(app: &TestApp, sweep_token: &str) -> HostProcess {
    relay_without_cron_with(app, sweep_token, &[])
}

/// The same, with extra Spin variables (the relay's timing).
fn relay_without_cron_with(
    app: &TestApp,
    sweep_token: &str,
    variables: &[(&str, &str)],
) -> HostProcess {
    let mut builder = app
        .host_builder()
        .variable("sweep_token", sweep_token)
        .component(&sweep_component());
    for (name, value) in variables {
        builder = builder.variable(name, *value);
    }
    builder.spawn()
}

/// An unpublished event, as a crashed API would leave it (created a minute ago).
async fn insert_unpublished_event(pg: &tokio_postgres::Client, user: &str) -> Uuid {
    let id = Uuid::now_v7();
    let subject = Uuid::now_v7().to_string();
    let payload = envelope(id, "task-deleted", user, &subject);
    pg.execute(
        "INSERT INTO events (id, topic, user_id, subject, payload, created_at) \
         VALUES ($1, 'task-deleted', $2, $3, $4, now() - interval '1 minute')",
        &[&id, &user, &subject, &payload],
    )
    .await
    .unwrap();
    id
}

/// A well-formed envelope (the shape API.md defines).
fn envelope(id: Uuid, topic: &str, user: &str, task_id: &str) -> Value {
    json!({
        "specversion": "1.0", "id": id.to_string(), "source": "backend-api", "type": topic,
        "subject": task_id, "time": "2027-01-01T00:00:00.000Z", "datacontenttype": "application/json",
        "data": {
            "event_id": id.to_string(), "event_type": topic, "timestamp": "2027-01-01T00:00:00.000Z",
            "user_id": user, "correlation_id": "forged",
            "data": {"task_id": task_id, "id": task_id, "title": "forged", "priority": "low",
                     "category": "other", "status": "completed", "completed": true}
        }
    })
}

// --------------------------------------------------------------------------------- tests

#[tokio::test]
async fn duplicate_and_concurrent_deliveries_write_one_audit_row_and_one_successor() {
    let app = spawn_app().await;
    // Two replicas of the consumers: every message reaches both.
    let replica_a = start(&app, &CONSUMERS);
    let replica_b = start(&app, &CONSUMERS);
    let pg = app.pg().await;

    let task = app
        .create_task("alice", json!({"title": "Water plants", "recurringRule": "daily", "dueDate": "2027-05-01T07:00:00Z"}))
        .await;
    let id = task["id"].as_str().unwrap();
    toggle(&app, "alice", id).await;
    let (completion_id, completion) = latest_event(&pg, "task-completed", id).await;
    let (created_id, created) = latest_event(&pg, "task-created", id).await;

    // Delivered 3 more times, to 2 replicas each: 8 deliveries of each event in all.
    for _ in 0..3 {
        publish(&app, "task-completed", completion.as_bytes()).await;
        publish(&app, "task-created", created.as_bytes()).await;
    }
    let lines = |component: &str, event: &str| {
        let mut lines = event_lines(&replica_a, component, event);
        lines.extend(event_lines(&replica_b, component, event));
        lines
    };
    let outcomes =
        |lines: &[Value], outcome: &str| lines.iter().filter(|l| l["outcome"] == outcome).count();
    eventually(
        "8 handled deliveries of the completion",
        Duration::from_secs(60),
        || async {
            let handled = lines("recurring-service", &completion_id).len();
            let audit_dupes = outcomes(&lines("audit-service", &completion_id), "duplicate")
                + outcomes(&lines("audit-service", &created_id), "duplicate");
            if handled >= 8 && audit_dupes >= 14 {
                Ok(())
            } else {
                Err(format!(
                    "recurring handled {handled}/8, audit redeliveries {audit_dupes}/14\n{}",
                    tail(&format!("{}{}", replica_a.output(), replica_b.output()), 40)
                ))
            }
        },
    )
    .await;
    let recurring = lines("recurring-service", &completion_id);
    assert_eq!(recurring.len(), 8, "{recurring:?}");
    assert_eq!(outcomes(&recurring, "created"), 1, "{recurring:?}");
    assert_eq!(outcomes(&recurring, "duplicate"), 7, "{recurring:?}");
    let created = recurring
        .iter()
        .find(|l| l["outcome"] == "created")
        .unwrap();
    assert!(
        created["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("task {id}: successor ")),
        "{created}"
    );
    for line in &recurring {
        assert_eq!(line["topic"], "task-completed");
        assert_eq!(line["level"], "info");
    }

    let series = Uuid::parse_str(id).unwrap();
    let audit_rows = |event: String| {
        let pg = &pg;
        async move {
            let event = Uuid::parse_str(&event).unwrap();
            pg.query_one(
                "SELECT count(*) FROM audit_logs WHERE event_id = $1",
                &[&event],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
        }
    };
    assert_eq!(audit_rows(completion_id.clone()).await, 1);
    assert_eq!(audit_rows(created_id.clone()).await, 1);
    let successors: i64 = pg
        .query_one(
            "SELECT count(*) FROM tasks WHERE series_id = $1 AND occurrence_index = 1",
            &[&series],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(successors, 1);

    // The audit row carries the full event and the API lists it.
    let audit: Vec<Value> = app
        .get(
            "alice",
            &format!("/api/alice/audit?entity_id={id}&event_type=task-completed"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["eventType"], "task-completed");
    assert_eq!(audit[0]["entityType"], "task");
    assert_eq!(audit[0]["userId"], "alice");
    assert_eq!(audit[0]["data"]["id"], completion_id);
    assert_eq!(audit[0]["data"]["data"]["data"]["task_id"], id);
}

#[tokio::test]
async fn redis_outage_during_200_mutations_is_repaired_by_the_relay() {
    let mut app = spawn_app().await;
    let mut workers = start_workers(&app);
    app.redis.stop();

    // As on Spin, the Redis-triggered process exits when its subscription drops.
    let status = workers
        .wait_for_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("workers kept running without Redis:\n{}", workers.output()));
    assert!(!status.success(), "workers exited with {status}");

    // The API runs apart and keeps accepting writes; the events wait in the outbox.
    mutate(&app, "alice", 200).await;
    let pg = app.pg().await;
    let unpublished = count(
        &pg,
        "SELECT count(*) FROM events WHERE published_at IS NULL",
    )
    .await;
    assert!(unpublished >= 200, "only {unpublished} unpublished events");

    app.redis.start_again();
    let workers = start_workers(&app);
    sweep_until_consistent(&app, &workers, Duration::from_secs(240)).await;
    let completed = count(
        &pg,
        "SELECT count(*) FROM tasks WHERE status = 'completed' AND recurring_rule IS NOT NULL",
    )
    .await;
    assert!(
        completed >= 30,
        "only {completed} completed recurring tasks"
    );
}

#[tokio::test]
async fn a_consumer_that_was_down_during_100_mutations_catches_up() {
    let app = spawn_app().await;
    // Published on time, but nobody listens.
    mutate(&app, "bob", 100).await;
    let pg = app.pg().await;
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM events WHERE published_at IS NULL"
        )
        .await,
        0
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM audit_logs").await, 0);
    assert_eq!(
        count(&pg, "SELECT count(*) FROM tasks WHERE occurrence_index > 0").await,
        0
    );

    let workers = start_workers(&app);
    sweep_until_consistent(&app, &workers, Duration::from_secs(180)).await;
    // The repair cursor moved over everything that needs nothing more.
    let (_, summary) = sweep(&app, &workers, Some(SWEEP_TOKEN)).await;
    let last_task_event = count(&pg, "SELECT max(seq) FROM events").await;
    eventually(
        "the repair cursor to reach the last settled event",
        Duration::from_secs(120),
        || async {
            let cursor = count(&pg, "SELECT seq FROM relay_cursors WHERE name = 'repair'").await;
            let (_, summary) = sweep(&app, &workers, Some(SWEEP_TOKEN)).await;
            if cursor >= last_task_event {
                Ok(())
            } else {
                Err(format!("cursor {cursor} < {last_task_event}; {summary}"))
            }
        },
    )
    .await;
    assert_eq!(summary["repairAbandoned"], 0, "{summary}");
}

/// The relay's clock is the database's `now()`; the test moves its repair timestamps back
/// instead of waiting: no grace period (every published event is settled at once) and an
/// hour of back-off, so "an immediate second sweep" cannot race a timer however slow the
/// machine (CI once saw an event cross the 10 s grace between two sweeps).
#[tokio::test]
async fn repairs_lost_while_the_consumers_are_still_down_are_retried_with_back_off() {
    let app = spawn_app().await;
    mutate(&app, "kim", 30).await;
    let pg = app.pg().await;
    let task_events = count(
        &pg,
        "SELECT count(*) FROM events WHERE topic <> 'reminder-due'",
    )
    .await;
    let relay = relay_without_cron_with(
        &app,
        SWEEP_TOKEN,
        &[
            ("relay_repair_grace_seconds", "0"),
            ("relay_repair_backoff_seconds", "3600"),
            ("relay_repair_backoff_max_seconds", "3600"),
        ],
    );
    // Every event was published (and missed: nobody listens yet); the first sweep re-publishes
    // each of them into the void.
    let (status, summary) = sweep(&app, &relay, Some(SWEEP_TOKEN)).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["repairRepublished"], task_events, "{summary}");
    // Backed off: a second sweep within the hour re-publishes nothing.
    let (status, summary) = sweep(&app, &relay, Some(SWEEP_TOKEN)).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["repairRepublished"], 0, "{summary}");
    assert_eq!(summary["repairScanned"], task_events, "{summary}");
    assert_eq!(count(&pg, "SELECT count(*) FROM audit_logs").await, 0);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM events WHERE repair_attempts <> 1 AND topic <> 'reminder-due'"
        )
        .await,
        0
    );

    // The consumers come back; each sweep runs an hour later (by the relay's clock).
    let _consumers = start(&app, &CONSUMERS);
    eventually("consistency after relay sweeps", Duration::from_secs(120), || async {
        pg.execute(
            "UPDATE events SET repaired_at = repaired_at - interval '1 hour' WHERE repaired_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
        let (status, summary) = sweep(&app, &relay, Some(SWEEP_TOKEN)).await;
        if status != 200 {
            return Err(format!("sweep answered {status}: {summary}"));
        }
        consistent(&pg)
            .await
            .map_err(|e| format!("{e}; last sweep {summary}"))
    })
    .await;
    assert!(count(&pg, "SELECT max(repair_attempts)::int8 FROM events").await >= 2);
}

#[tokio::test]
async fn an_unavailable_database_is_a_transient_failure_that_the_relay_repairs() {
    let app = spawn_app().await;
    // Consumers whose database is down.
    let broken = app
        .host_builder_without_database()
        .component("audit-service")
        .component("recurring-service")
        .spawn();
    let task = app
        .create_task(
            "lea",
            json!({"title": "Yoga", "recurringRule": "weekly", "dueDate": "2027-06-01T18:00:00Z"}),
        )
        .await;
    toggle(&app, "lea", task["id"].as_str().unwrap()).await;
    // task-created, task-updated, task-completed: each fails and is dropped, nothing panics.
    let failed = wait_for_events(&broken, "audit-service", 3, |l| l["outcome"] == "failed").await;
    for line in &failed {
        assert_eq!(line["level"], "error", "{line}");
        assert!(
            line["cause"]
                .as_str()
                .unwrap()
                .contains("database unavailable"),
            "{line}"
        );
    }
    wait_for_events(&broken, "recurring-service", 1, |l| {
        l["outcome"] == "failed"
    })
    .await;
    let mut broken = broken;
    assert!(broken.is_running());
    assert!(!broken.output().contains("panicked"), "{}", broken.output());
    drop(broken);

    let _consumers = start(&app, &CONSUMERS);
    let relay = relay_without_cron(&app, SWEEP_TOKEN);
    sweep_until_consistent(&app, &relay, Duration::from_secs(120)).await;
}

#[tokio::test]
async fn malformed_and_forged_messages_are_dropped_and_the_consumers_keep_working() {
    let app = spawn_app().await;
    let pg = app.pg().await;
    // A completed recurring task whose completion nobody received yet.
    let task = app
        .create_task(
            "alice",
            json!({"title": "Gym", "recurringRule": "weekly", "dueDate": "2027-06-01T18:00:00Z"}),
        )
        .await;
    let id = task["id"].as_str().unwrap();
    toggle(&app, "alice", id).await;
    let (completion_id, completion) = latest_event(&pg, "task-completed", id).await;

    // Consumers only: no relay to repair behind the test's back.
    let workers = start(&app, &CONSUMERS);
    let mut huge = br#"{"specversion":"1.0","pad":""#.to_vec();
    huge.resize(1024 * 1024 + 16, b'x');
    huge.extend_from_slice(br#""}"#);
    let forged_id = Uuid::now_v7();
    for topic in TASK_TOPICS {
        let wrong_type = json!({"specversion": "1.0", "id": Uuid::now_v7().to_string(), "source": "x",
                                "type": "task-exploded", "subject": id, "time": "2027-01-01T00:00:00Z", "data": {}});
        let bad: Vec<Vec<u8>> = vec![
            b"not json at all".to_vec(),
            vec![0xff, 0xfe, 0x00, 0x01],
            br#"{"hello": "world"}"#.to_vec(),
            br#"[1, 2, 3]"#.to_vec(),
            wrong_type.to_string().into_bytes(),
            huge.clone(),
        ];
        for message in &bad {
            publish(&app, topic, message).await;
        }
        // Well-formed but naming no event of ours, for a user that does not exist...
        let unknown = envelope(
            Uuid::now_v7(),
            topic,
            "nobody-at-all",
            &Uuid::now_v7().to_string(),
        );
        publish(&app, topic, unknown.to_string().as_bytes()).await;
        // ... and alice's real task claimed by another user.
        publish(
            &app,
            topic,
            envelope(forged_id, topic, "mallory", id)
                .to_string()
                .as_bytes(),
        )
        .await;
    }
    // audit: 6 malformed x 4 channels; recurring: 6 on task-completed.
    let malformed = |line: &Value| line["outcome"] == "malformed";
    let audit_malformed = wait_for_events(&workers, "audit-service", 24, malformed).await;
    let recurring_malformed = wait_for_events(&workers, "recurring-service", 6, malformed).await;
    for line in audit_malformed.iter().chain(&recurring_malformed) {
        assert_eq!(line["level"], "warn", "{line}");
        assert!(line["eventId"].is_null(), "{line}");
    }
    let causes: Vec<&str> = audit_malformed
        .iter()
        .map(|l| l["cause"].as_str().unwrap())
        .collect();
    assert!(
        causes.iter().any(|c| c.contains("message too large")),
        "{causes:?}"
    );
    assert!(
        causes.iter().any(|c| c.contains("unknown event type")),
        "{causes:?}"
    );
    wait_for_events(&workers, "audit-service", 8, |l| {
        l["outcome"] == "unknown-event"
    })
    .await;
    let forged = wait_for_events(&workers, "recurring-service", 1, |l| {
        l["eventId"] == forged_id.to_string() && l["outcome"] == "task-gone"
    })
    .await;
    assert!(
        forged[0]["cause"]
            .as_str()
            .unwrap()
            .starts_with(&format!("task {id}: ")),
        "{}",
        forged[0]
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM audit_logs").await, 0);
    assert_eq!(count(&pg, "SELECT count(*) FROM tasks").await, 1);

    // Still working: the real completion, delivered now, is audited and gets its successor.
    publish(&app, "task-completed", completion.as_bytes()).await;
    let next = occurrence(&app, "alice", id, 1).await;
    assert_eq!(next["dueDate"], "2027-06-08T18:00:00.000Z");
    let completion_uuid = Uuid::parse_str(&completion_id).unwrap();
    eventually(
        "the completion's audit row",
        Duration::from_secs(60),
        || async {
            let n: i64 = pg
                .query_one(
                    "SELECT count(*) FROM audit_logs WHERE event_id = $1",
                    &[&completion_uuid],
                )
                .await
                .unwrap()
                .get(0);
            if n == 1 {
                Ok(())
            } else {
                Err(format!("{n} rows"))
            }
        },
    )
    .await;
    let forged = pg
        .query_one(
            "SELECT count(*) FROM audit_logs WHERE event_id = $1",
            &[&forged_id],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(forged, 0);
}

#[tokio::test]
async fn successors_follow_each_rule_and_copy_the_task() {
    let app = spawn_app().await;
    let _workers = start(&app, &CONSUMERS);
    let cases = [
        (
            "daily",
            "2027-03-01T10:00:00.000Z",
            "2027-03-02T10:00:00.000Z",
        ),
        (
            "weekly",
            "2027-03-01T10:00:00.000Z",
            "2027-03-08T10:00:00.000Z",
        ),
        (
            "monthly",
            "2027-03-31T10:00:00.000Z",
            "2027-04-30T10:00:00.000Z",
        ),
        (
            "yearly",
            "2027-06-15T10:00:00.000Z",
            "2028-06-15T10:00:00.000Z",
        ),
    ];
    for (rule, due, next_due) in cases {
        let root = app
            .create_task(
                "carol",
                json!({"title": format!("{rule} chore"), "description": "the details", "priority": "high",
                       "category": "home", "tags": ["chores", "weekly-plan"], "recurringRule": rule,
                       "dueDate": due, "reminderAt": "2027-03-01T09:30:00Z", "timeZone": "Europe/Paris",
                       "recurringEndDate": "2030-01-01T00:00:00Z"}),
            )
            .await;
        let root_id = root["id"].as_str().unwrap();
        toggle(&app, "carol", root_id).await;
        let next = occurrence(&app, "carol", root_id, 1).await;
        assert_eq!(next["dueDate"], next_due, "{rule}: {next}");
        assert_eq!(next["status"], "pending");
        assert_eq!(next["completed"], false);
        assert_eq!(next["version"], 1);
        assert_eq!(next["occurrenceIndex"], 1);
        assert_eq!(next["parentTaskId"], root_id);
        for field in [
            "title",
            "description",
            "priority",
            "category",
            "tags",
            "timeZone",
            "recurringRule",
            "recurringEndDate",
        ] {
            assert_eq!(next[field], root[field], "{rule}: {field}");
        }
        // The reminder keeps its offset to the due date.
        let offset = |t: &Value| {
            let due = chrono::DateTime::parse_from_rfc3339(t["dueDate"].as_str().unwrap()).unwrap();
            let reminder =
                chrono::DateTime::parse_from_rfc3339(t["reminderAt"].as_str().unwrap()).unwrap();
            due - reminder
        };
        assert_eq!(offset(&next), offset(&root), "{rule}");
        assert_eq!(
            Uuid::parse_str(next["id"].as_str().unwrap())
                .unwrap()
                .get_version_num(),
            7
        );

        // The grandchild still names the series root as its parent.
        toggle(&app, "carol", next["id"].as_str().unwrap()).await;
        let third = occurrence(&app, "carol", root_id, 2).await;
        assert_eq!(third["parentTaskId"], root_id);
    }
    // The successor was written with its own task-created event (audited like any other).
    let pg = app.pg().await;
    eventually(
        "audit rows of the successors' task-created events",
        Duration::from_secs(60),
        || async {
            let n = count(
                &pg,
                "SELECT count(*) FROM events e JOIN audit_logs a ON a.event_id = e.id \
             WHERE e.topic = 'task-created' AND e.payload->>'source' = 'recurring-service'",
            )
            .await;
            if n == 8 {
                Ok(())
            } else {
                Err(format!("{n}/8"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn monthly_from_january_31_does_not_drift_over_a_year() {
    let app = spawn_app().await;
    let _workers = start(&app, &["recurring-service"]);
    let root = app
        .create_task(
            "dave",
            json!({"title": "Rent", "recurringRule": "monthly", "dueDate": "2027-01-31T09:00:00Z"}),
        )
        .await;
    let dues = due_dates_by_completion(&app, "dave", &root, 12).await;
    let days: Vec<&str> = dues.iter().map(|d| &d[..10]).collect();
    assert_eq!(
        days,
        [
            "2027-01-31",
            "2027-02-28",
            "2027-03-31",
            "2027-04-30",
            "2027-05-31",
            "2027-06-30",
            "2027-07-31",
            "2027-08-31",
            "2027-09-30",
            "2027-10-31",
            "2027-11-30",
            "2027-12-31",
            "2028-01-31"
        ]
    );
    assert!(
        dues.iter().all(|d| d.ends_with("T09:00:00.000Z")),
        "{dues:?}"
    );
}

#[tokio::test]
async fn yearly_from_february_29_returns_to_it_in_leap_years() {
    let app = spawn_app().await;
    let _workers = start(&app, &["recurring-service"]);
    let root = app
        .create_task("erin", json!({"title": "Leap day", "recurringRule": "yearly", "dueDate": "2028-02-29T12:00:00Z"}))
        .await;
    let dues = due_dates_by_completion(&app, "erin", &root, 4).await;
    assert_eq!(
        dues,
        [
            "2028-02-29T12:00:00.000Z",
            "2029-02-28T12:00:00.000Z",
            "2030-02-28T12:00:00.000Z",
            "2031-02-28T12:00:00.000Z",
            "2032-02-29T12:00:00.000Z"
        ]
    );
}

#[tokio::test]
async fn daily_at_nine_new_york_keeps_the_wall_clock_across_both_dst_changes() {
    let app = spawn_app().await;
    let _workers = start(&app, &["recurring-service"]);
    // 09:00 EST; DST starts on Sunday 2027-03-14.
    let spring = app
        .create_task(
            "fay",
            json!({"title": "Standup", "recurringRule": "daily", "timeZone": "America/New_York", "dueDate": "2027-03-12T14:00:00Z"}),
        )
        .await;
    assert_eq!(
        due_dates_by_completion(&app, "fay", &spring, 3).await,
        [
            "2027-03-12T14:00:00.000Z",
            "2027-03-13T14:00:00.000Z",
            "2027-03-14T13:00:00.000Z",
            "2027-03-15T13:00:00.000Z"
        ]
    );
    // 09:00 EDT; DST ends on Sunday 2027-11-07.
    let autumn = app
        .create_task(
            "fay",
            json!({"title": "Standup", "recurringRule": "daily", "timeZone": "America/New_York", "dueDate": "2027-11-05T13:00:00Z"}),
        )
        .await;
    assert_eq!(
        due_dates_by_completion(&app, "fay", &autumn, 3).await,
        [
            "2027-11-05T13:00:00.000Z",
            "2027-11-06T13:00:00.000Z",
            "2027-11-07T14:00:00.000Z",
            "2027-11-08T14:00:00.000Z"
        ]
    );
}

#[tokio::test]
async fn no_successor_after_the_recurring_end_date() {
    let app = spawn_app().await;
    let workers = start(&app, &["recurring-service"]);
    let pg = app.pg().await;
    let root = app
        .create_task(
            "gus",
            json!({"title": "Course", "recurringRule": "daily", "dueDate": "2027-05-01T09:00:00Z",
                   "recurringEndDate": "2027-05-02T09:00:00Z"}),
        )
        .await;
    let root_id = root["id"].as_str().unwrap();
    // The end date is inclusive: occurrence 1 is due on it.
    let dues = due_dates_by_completion(&app, "gus", &root, 1).await;
    assert_eq!(dues[1], "2027-05-02T09:00:00.000Z");
    let last = occurrence(&app, "gus", root_id, 1).await;
    let last_id = last["id"].as_str().unwrap();
    toggle(&app, "gus", last_id).await;
    let (event_id, _) = latest_event(&pg, "task-completed", last_id).await;
    wait_for_events(&workers, "recurring-service", 1, |l| {
        l["eventId"] == event_id && l["outcome"] == "series-ended"
    })
    .await;
    let series = Uuid::parse_str(root_id).unwrap();
    let n: i64 = pg
        .query_one(
            "SELECT count(*) FROM tasks WHERE series_id = $1",
            &[&series],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_task_deleted_before_its_successor_is_created_gets_none() {
    let app = spawn_app().await;
    let pg = app.pg().await;
    let task = app
        .create_task(
            "hal",
            json!({"title": "Gone", "recurringRule": "daily", "dueDate": "2027-05-01T09:00:00Z"}),
        )
        .await;
    let id = task["id"].as_str().unwrap();
    toggle(&app, "hal", id).await;
    let response = app
        .delete("hal", &format!("/api/hal/tasks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (event_id, completion) = latest_event(&pg, "task-completed", id).await;

    // The consumer starts only now and receives the completion late.
    let workers = start(&app, &["recurring-service"]);
    publish(&app, "task-completed", completion.as_bytes()).await;
    wait_for_events(&workers, "recurring-service", 1, |l| {
        l["eventId"] == event_id && l["outcome"] == "task-gone"
    })
    .await;
    assert_eq!(count(&pg, "SELECT count(*) FROM tasks").await, 0);
}

#[tokio::test]
async fn completed_pending_completed_yields_one_successor() {
    let app = spawn_app().await;
    let workers = start(&app, &["recurring-service"]);
    let pg = app.pg().await;
    let task = app
        .create_task("ivy", json!({"title": "Flip-flop", "recurringRule": "daily", "dueDate": "2027-05-01T09:00:00Z"}))
        .await;
    let id = task["id"].as_str().unwrap();
    toggle(&app, "ivy", id).await;
    toggle(&app, "ivy", id).await;
    toggle(&app, "ivy", id).await;
    let completions: Vec<String> = pg
        .query(
            "SELECT id::text FROM events WHERE topic = 'task-completed' AND subject = $1 ORDER BY seq",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(completions.len(), 2);
    for event_id in &completions {
        wait_for_events(&workers, "recurring-service", 1, |l| {
            l["eventId"] == *event_id
        })
        .await;
    }
    let series = Uuid::parse_str(id).unwrap();
    let n: i64 = pg
        .query_one(
            "SELECT count(*) FROM tasks WHERE series_id = $1 AND occurrence_index = 1",
            &[&series],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "{}", workers.output());

    // Deleting the successor and delivering the completion again does not bring it back.
    let next = occurrence(&app, "ivy", id, 1).await;
    let next_id = next["id"].as_str().unwrap();
    assert_eq!(
        app.delete("ivy", &format!("/api/ivy/tasks/{next_id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let (last_completion, payload) = latest_event(&pg, "task-completed", id).await;
    publish(&app, "task-completed", payload.as_bytes()).await;
    wait_for_events(&workers, "recurring-service", 1, |l| {
        l["eventId"] == last_completion && l["outcome"] == "duplicate"
    })
    .await;
    assert_eq!(count(&pg, "SELECT count(*) FROM tasks").await, 1);
}

#[tokio::test]
async fn sweep_route_requires_the_token_and_publishes_only_with_it() {
    let app = spawn_app().await;
    let relay = relay_without_cron(&app, SWEEP_TOKEN);
    let pg = app.pg().await;
    let event = insert_unpublished_event(&pg, "alice").await;
    let mut pubsub = app.subscribe(&["task-deleted"]).await;

    let url = sweep_url(&relay);
    let attempts = [
        app.client.post(&url),
        app.client.post(&url).bearer_auth("wrong-token"),
        app.client.post(&url).bearer_auth(format!("{SWEEP_TOKEN}x")),
        app.client
            .post(&url)
            .header("authorization", format!("Basic {SWEEP_TOKEN}")),
        app.client.post(&url).header("authorization", SWEEP_TOKEN),
    ];
    for attempt in attempts {
        let response = attempt.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    let response = app
        .client
        .get(&url)
        .bearer_auth(SWEEP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let row = pg
        .query_one(
            "SELECT published_at IS NULL, publish_attempts FROM events WHERE id = $1",
            &[&event],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(
        row.get::<_, i32>(1),
        0,
        "a refused sweep touched the outbox"
    );

    let (status, summary) = sweep(&app, &relay, Some(SWEEP_TOKEN)).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["published"], 1, "{summary}");
    // The only message on the channel is the one the authorised sweep published.
    use futures::StreamExt;
    let message = tokio::time::timeout(Duration::from_secs(60), pubsub.on_message().next())
        .await
        .expect("a published message")
        .unwrap();
    let payload: Value = serde_json::from_str(&message.get_payload::<String>().unwrap()).unwrap();
    assert_eq!(payload["id"], event.to_string());
    let published: bool = pg
        .query_one(
            "SELECT published_at IS NOT NULL FROM events WHERE id = $1",
            &[&event],
        )
        .await
        .unwrap()
        .get(0);
    assert!(published);
}

#[tokio::test]
async fn sweep_route_is_closed_without_a_configured_token() {
    let app = spawn_app().await;
    let relay = relay_without_cron(&app, "");
    let pg = app.pg().await;
    let event = insert_unpublished_event(&pg, "alice").await;
    for token in [None, Some(""), Some(SWEEP_TOKEN)] {
        let (status, _) = sweep(&app, &relay, token).await;
        assert_eq!(status, 503);
    }
    let attempts: i32 = pg
        .query_one(
            "SELECT publish_attempts FROM events WHERE id = $1",
            &[&event],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(attempts, 0);
}

#[tokio::test]
async fn the_cron_trigger_runs_the_relay() {
    let app = spawn_app().await;
    let pg = app.pg().await;
    let event = insert_unpublished_event(&pg, "alice").await;
    // spin.toml's cron trigger (every 5 s); nobody calls the route.
    let relay = start(&app, &["outbox-relay"]);
    eventually(
        "the cron tick to publish the event",
        Duration::from_secs(60),
        || async {
            let published: bool = pg
                .query_one(
                    "SELECT published_at IS NOT NULL FROM events WHERE id = $1",
                    &[&event],
                )
                .await
                .unwrap()
                .get(0);
            if published {
                Ok(())
            } else {
                Err(tail(&relay.output(), 40))
            }
        },
    )
    .await;
    // Every tick writes one sweep line; the one that published says so.
    let ticks = wait_for_log_lines(&relay, "the tick's sweep line", 1, |l| {
        l["kind"] == "sweep" && l["counts"]["published"] == 1
    })
    .await;
    assert_eq!(ticks[0]["component"], "outbox-relay");
    assert_eq!(ticks[0]["trigger"], "cron");
    assert_eq!(ticks[0]["outcome"], "ok");
    assert_eq!(ticks[0]["level"], "info");
}

#[tokio::test]
async fn two_relays_at_once_publish_each_event_once() {
    let mut app = spawn_app().await;
    app.redis.stop();
    mutate(&app, "jo", 60).await;
    app.redis.start_again();
    let pg = app.pg().await;
    // Make the backlog old enough to publish, then sweep from two relays at the same time.
    pg.execute(
        "UPDATE events SET created_at = created_at - interval '1 minute'",
        &[],
    )
    .await
    .unwrap();
    let backlog = count(
        &pg,
        "SELECT count(*) FROM events WHERE published_at IS NULL",
    )
    .await;
    let relay_a = relay_without_cron(&app, SWEEP_TOKEN);
    let relay_b = relay_without_cron(&app, SWEEP_TOKEN);
    let (a, b) = tokio::join!(
        sweep(&app, &relay_a, Some(SWEEP_TOKEN)),
        sweep(&app, &relay_b, Some(SWEEP_TOKEN))
    );
    assert_eq!(a.0, 200, "{}", a.1);
    assert_eq!(b.0, 200, "{}", b.1);
    let total = a.1["published"].as_i64().unwrap() + b.1["published"].as_i64().unwrap();
    assert_eq!(total, backlog, "{} / {}", a.1, b.1);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM events WHERE published_at IS NULL"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM events WHERE publish_attempts <> 1"
        )
        .await,
        0
    );
}

// ----------------------------------------------------------------------------- benchmark

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "RESULT {name}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

/// `n` unpublished events, a minute old, well-formed (the consumers could audit them).
async fn insert_backlog(pg: &tokio_postgres::Client, n: i32) {
    pg.execute(
        "WITH ids AS (SELECT gen_random_uuid() AS id, g FROM generate_series(1, $1) g) \
         INSERT INTO events (id, topic, user_id, subject, payload, created_at) \
         SELECT id, 'task-updated', 'bench', id::text, jsonb_build_object( \
             'specversion', '1.0', 'id', id::text, 'source', 'bench', 'type', 'task-updated', \
             'subject', id::text, 'time', '2027-01-01T00:00:00.000Z', 'datacontenttype', 'application/json', \
             'data', jsonb_build_object('event_id', id::text, 'event_type', 'task-updated', \
                 'timestamp', '2027-01-01T00:00:00.000Z', 'user_id', 'bench', 'correlation_id', 'bench', \
                 'data', jsonb_build_object('task_id', id::text, 'title', 'bench event ' || g))), \
             now() - interval '1 minute' \
         FROM ids ORDER BY g",
        &[&n],
    )
    .await
    .unwrap();
}

/// Run by bench/consumers.sh (not part of the suite): toggle -> successor and toggle -> audit
/// row latencies over 200 completions; the relay's drain time for 10,000 unpublished events,
/// through back-to-back route calls and through the cron trigger alone.
#[tokio::test]
#[ignore = "benchmark: run bench/consumers.sh"]
async fn bench_consumers() {
    let completions: usize = std::env::var("BENCH_COMPLETIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let backlog: i32 = std::env::var("BENCH_BACKLOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let app = spawn_app().await;
    let pg = app.pg().await;
    {
        let _consumers = start(&app, &CONSUMERS);
        let mut tasks = Vec::new();
        for i in 0..completions {
            let task = app
                .create_task("bench", json!({"title": format!("bench {i}"), "recurringRule": "daily", "dueDate": "2027-04-01T08:00:00Z"}))
                .await;
            tasks.push(Uuid::parse_str(task["id"].as_str().unwrap()).unwrap());
        }
        let (mut to_successor, mut to_audit) = (Vec::new(), Vec::new());
        for id in &tasks {
            toggle(&app, "bench", &id.to_string()).await;
            let responded = Instant::now();
            let (mut successor_at, mut audit_at) = (None, None);
            while successor_at.is_none() || audit_at.is_none() {
                assert!(
                    responded.elapsed() < Duration::from_secs(30),
                    "no successor/audit for {id}"
                );
                let row = pg
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM tasks WHERE series_id = $1 AND occurrence_index = 1), \
                                EXISTS (SELECT 1 FROM audit_logs a JOIN events e ON e.id = a.event_id \
                                        WHERE e.topic = 'task-completed' AND e.subject = $1::uuid::text)",
                        &[id],
                    )
                    .await
                    .unwrap();
                if successor_at.is_none() && row.get::<_, bool>(0) {
                    successor_at = Some(responded.elapsed());
                }
                if audit_at.is_none() && row.get::<_, bool>(1) {
                    audit_at = Some(responded.elapsed());
                }
            }
            to_successor.push(successor_at.unwrap());
            to_audit.push(audit_at.unwrap());
        }
        report("toggle response -> successor row", to_successor);
        report(
            "toggle response -> audit row of its task-completed",
            to_audit,
        );
    }

    // Drain through the route, called back to back (what a CronJob or an operator does).
    let relay = relay_without_cron(&app, SWEEP_TOKEN);
    insert_backlog(&pg, backlog).await;
    let started = Instant::now();
    let mut calls = 0;
    loop {
        let (status, summary) = sweep(&app, &relay, Some(SWEEP_TOKEN)).await;
        assert_eq!(status, 200, "{summary}");
        calls += 1;
        if count(
            &pg,
            "SELECT count(*) FROM events WHERE published_at IS NULL",
        )
        .await
            == 0
        {
            break;
        }
    }
    println!(
        "RESULT relay drain of {backlog} events via the sweep route: {:.2} s in {calls} sweep call(s) ({:.0} events/s)",
        started.elapsed().as_secs_f64(),
        f64::from(backlog) / started.elapsed().as_secs_f64()
    );
    drop(relay);

    // Drain by the cron trigger alone (every 5 s on Spin, 2 s budget per tick).
    insert_backlog(&pg, backlog).await;
    let started = Instant::now();
    let cron = start(&app, &["outbox-relay"]);
    eventually(
        "the cron relay to drain the backlog",
        Duration::from_secs(300),
        || async {
            let left = count(
                &pg,
                "SELECT count(*) FROM events WHERE published_at IS NULL",
            )
            .await;
            if left == 0 {
                Ok(())
            } else {
                Err(format!("{left} left"))
            }
        },
    )
    .await;
    println!(
        "RESULT relay drain of {backlog} events by the cron trigger alone (from host start): {:.2} s; ticks that published: {}",
        started.elapsed().as_secs_f64(),
        log_lines(&cron)
            .iter()
            .filter(|l| l["kind"] == "sweep" && l["counts"]["published"].as_u64() > Some(0))
            .count()
    );
}
