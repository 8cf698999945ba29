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

mod bench;
mod delivery;
mod outages;
mod recurrence;
mod relay;

use std::time::Duration;

use serde_json::{json, Value};
use todo_e2e::test_support::HostProcess;
use todo_e2e::{eventually, outbox_sweep_component, outbox_sweep_url, wait_for_log_lines, TestApp};
use uuid::Uuid;

const CONSUMERS: [&str; 2] = ["audit-service", "recurring-service"];

fn start(app: &TestApp, components: &[&str]) -> HostProcess {
    let mut builder = app.host_builder();
    for id in components {
        builder = builder.component(id);
    }
    builder.spawn()
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

async fn sweep(app: &TestApp, relay: &HostProcess, token: Option<&str>) -> (u16, Value) {
    let mut request = app.client.post(outbox_sweep_url(relay));
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
        .component(&outbox_sweep_component());
    for (name, value) in variables {
        builder = builder.variable(name, *value);
    }
    builder.spawn()
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
