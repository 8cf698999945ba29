//! `notification-service` end to end: the real component on the local host, real PostgreSQL,
//! real Redis. Reminders are armed through the API; they fire through the component's cron
//! trigger (a worker host started like `spin up --component-id notification-service`) or
//! through the sweep route (`POST /internal/sweeps/reminders`: the same .wasm under the
//! component id `notification-sweep`, which has no cron trigger, as the SpinKube shim needs;
//! a Kubernetes CronJob calls it there), which lets a test decide exactly when sweeps run.
//! Waits are bounded polls with generous deadlines; no sleep is an assertion and no assertion
//! is about wall time (how late reminders fire is measured by `bench/reminders.sh`).

mod bench;
mod cron;
mod notifications;
mod sweeps;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use todo_e2e::test_support::HostProcess;
use todo_e2e::{eventually, log_lines, wait_for_log_lines, TestApp, SWEEP_TOKEN};
use todo_host::inspect::TriggerInfo;
use uuid::Uuid;

const SWEEP_PATH: &str = "/internal/sweeps/reminders";

/// The cron cadence in spin.toml (`*/5 * * * * *`).
const CADENCE: Duration = Duration::from_secs(5);

/// How long a test waits for something the cron trigger does: many cadences, so that a loaded
/// machine is slow, not failing.
const CRON_WAIT: Duration = Duration::from_secs(90);

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn instant(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not an instant: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// The sweep route's component alone (in spin.toml it has no cron trigger: the SpinKube shim
/// refuses those): sweeps run exactly when a test POSTs.
fn http_sweeper(app: &TestApp, sweep_token: &str) -> HostProcess {
    app.host_builder()
        .variable("sweep_token", sweep_token)
        .component(&todo_e2e::route_only_component(SWEEP_PATH))
        .spawn()
}

/// `notification-service` as deployed with Spin: its cron trigger, every [`CADENCE`].
fn cron_worker(app: &TestApp) -> HostProcess {
    let triggers = &todo_e2e::spin_app().components["notification-service"].triggers;
    assert_eq!(
        triggers,
        &[TriggerInfo::Cron {
            cron_expression: "*/5 * * * * *".into()
        }],
        "CADENCE follows spin.toml"
    );
    app.host_builder().component("notification-service").spawn()
}

async fn sweep(app: &TestApp, host: &HostProcess) -> Value {
    sweep_as(app, host, &Uuid::new_v4().to_string()).await
}

/// A sweep through the route with this `X-Request-Id`.
async fn sweep_as(app: &TestApp, host: &HostProcess, request_id: &str) -> Value {
    let response = app
        .client
        .post(format!("{}{SWEEP_PATH}", host.base_url()))
        .bearer_auth(SWEEP_TOKEN)
        .header("x-request-id", request_id)
        .send()
        .await
        .expect("POST sweep");
    let status = response.status();
    let body: Value = response.json().await.expect("sweep JSON");
    assert_eq!(status, 200, "sweep failed: {body}\n{}", host.output());
    body
}

async fn notifications_of_task(
    app: &TestApp,
    task_id: &str,
) -> Vec<(Uuid, String, String, DateTime<Utc>, DateTime<Utc>)> {
    let id = Uuid::parse_str(task_id).unwrap();
    app.pg()
        .await
        .query(
            "SELECT id, user_id, message, created_at, reminder_at FROM notifications WHERE task_id = $1 ORDER BY created_at",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

async fn reminder_events_of_task(app: &TestApp, task_id: &str) -> Vec<Value> {
    app.pg()
        .await
        .query(
            "SELECT payload FROM events WHERE topic = 'reminder-due' AND subject = $1 ORDER BY seq",
            &[&task_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn reminder_sent(app: &TestApp, task_id: &str) -> bool {
    let id = Uuid::parse_str(task_id).unwrap();
    app.pg()
        .await
        .query_one("SELECT reminder_sent FROM tasks WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0)
}

async fn list_notifications(app: &TestApp, user: &str) -> Vec<Value> {
    let response = app
        .get(user, &format!("/api/{user}/notifications?limit=100"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Waits until a task armed now (due in 1 s) has fired: proof that at least one more sweep
/// ran after everything before it, without sleeping for a fixed time.
async fn wait_for_a_later_sweep(app: &TestApp, user: &str) {
    let canary = app
        .create_task(
            user,
            json!({"title": "canary", "reminderAt": rfc3339(Utc::now() + chrono::Duration::seconds(1))}),
        )
        .await;
    let id = canary["id"].as_str().unwrap().to_string();
    eventually("the canary reminder", CRON_WAIT, || {
        let id = id.clone();
        async move {
            match notifications_of_task(app, &id).await.len() {
                0 => Err("no notification yet".to_string()),
                _ => Ok(()),
            }
        }
    })
    .await;
}

/// No sweep of `worker`'s cron trigger failed (each writes one `sweep` line).
async fn assert_no_failed_sweep(worker: &HostProcess) {
    wait_for_log_lines(worker, "a sweep line", 1, |l| l["kind"] == "sweep").await;
    for line in log_lines(worker).iter().filter(|l| l["kind"] == "sweep") {
        assert_eq!(line["outcome"], "ok", "{line}");
    }
}
