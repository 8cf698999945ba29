//! `notification-service` end to end: the real component on the local host, real PostgreSQL,
//! real Redis. Reminders are armed through the API; they fire through the component's cron
//! trigger (a worker host started like `spin up --component-id notification-service`) or
//! through the sweep route (`POST /internal/sweeps/reminders`: the same .wasm under the
//! component id `notification-sweep`, which has no cron trigger, as the SpinKube shim needs;
//! a Kubernetes CronJob calls it there), which lets a test decide exactly when sweeps run.
//! Waits are bounded polls with generous deadlines; no sleep is an assertion and no assertion
//! is about wall time (how late reminders fire is measured by `bench/reminders.sh`).

use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use futures::StreamExt;
use serde_json::{json, Value};
use todo_e2e::test_support::HostProcess;
use todo_e2e::{log_lines, request_line, spawn_app, wait_for_log_lines, TestApp, SWEEP_TOKEN};
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

/// Polls `check` every 100 ms until it returns `Some`, for at most `timeout`.
async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// Sweeps until a sweep finds nothing more to do; returns the total fired.
async fn sweep_until_idle(app: &TestApp, host: &HostProcess) -> u64 {
    let mut fired = 0;
    for _ in 0..50 {
        let s = sweep(app, host).await;
        fired += s["fired"].as_u64().unwrap();
        if s["fired"] == 0 && s["more_due"] == false {
            return fired;
        }
    }
    panic!("sweeps never became idle");
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

async fn count(app: &TestApp, sql: &str) -> i64 {
    app.pg().await.query_one(sql, &[]).await.unwrap().get(0)
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
    wait_for("the canary reminder", CRON_WAIT, || {
        let id = id.clone();
        async move { (!notifications_of_task(app, &id).await.is_empty()).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn reminder_fires_once_on_the_cron_cadence_and_not_before() {
    let app = spawn_app().await;
    let worker = cron_worker(&app);
    let mut pubsub = app.subscribe(&["reminder-due"]).await;

    let reminder_at = (Utc::now() + chrono::Duration::seconds(3)).trunc_subsecs(3);
    let due = DateTime::parse_from_rfc3339("2031-07-04T16:30:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let task = app
        .create_task(
            "alice",
            json!({"title": "Call mom", "reminderAt": rfc3339(reminder_at), "dueDate": rfc3339(due),
                   "timeZone": "America/New_York"}),
        )
        .await;
    let task_id = task["id"].as_str().unwrap().to_string();

    // Before its time: nothing, however often we look. (What a look finds is judged by when
    // the notification was made, not by when the look happened: a slow answer is not early.)
    while Utc::now() < reminder_at - chrono::Duration::milliseconds(300) {
        for notification in list_notifications(&app, "alice").await {
            assert!(
                instant(&notification["createdAt"]) >= reminder_at,
                "fired before its time: {notification}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // On a tick of the cadence: exactly one reminder-due message on Redis.
    let message = {
        let mut stream = pubsub.on_message();
        let message = tokio::time::timeout(CRON_WAIT, stream.next())
            .await
            .unwrap_or_else(|_| panic!("no reminder-due event\n{}", worker.output()))
            .expect("pubsub stream");
        let payload: String = message.get_payload().unwrap();
        serde_json::from_str::<Value>(&payload).unwrap()
    };
    assert_eq!(message["type"], "reminder-due");
    assert_eq!(message["source"], "notification-service");
    assert_eq!(message["subject"], task_id);
    let data = &message["data"];
    assert_eq!(data["event_type"], "reminder-due");
    assert_eq!(data["user_id"], "alice");
    assert_eq!(data["data"]["task_id"], task_id);
    assert_eq!(data["data"]["reminderSent"], true);
    let notification = &data["data"]["notification"];
    // 16:30 UTC is 12:30 in New York (daylight time).
    assert_eq!(
        notification["message"],
        "Reminder: Call mom (due 2031-07-04 12:30)"
    );
    assert_eq!(notification["userId"], "alice");
    assert_eq!(notification["taskId"], task_id);
    assert_eq!(notification["read"], false);

    let created_at = instant(&notification["createdAt"]);
    let lateness = created_at - reminder_at;
    assert!(
        lateness >= chrono::Duration::zero(),
        "created {created_at} before its reminder {reminder_at}"
    );
    eprintln!("fired {lateness} after reminderAt (cadence {CADENCE:?})");

    // The API shows the same notification.
    let listed = list_notifications(&app, "alice").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], *notification);
    let task_now: Value = app
        .get("alice", &format!("/api/alice/tasks/{task_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(task_now["reminderSent"], true);

    // Later sweeps do not fire it again.
    wait_for_a_later_sweep(&app, "bob").await;
    assert_eq!(notifications_of_task(&app, &task_id).await.len(), 1);
    assert_eq!(reminder_events_of_task(&app, &task_id).await.len(), 1);
    let mut extra = Vec::new();
    {
        let mut stream = pubsub.on_message();
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(500), stream.next()).await
        {
            let payload: String = m.get_payload().unwrap();
            let v: Value = serde_json::from_str(&payload).unwrap();
            if v["subject"] == task_id {
                extra.push(v);
            }
        }
    }
    assert!(extra.is_empty(), "fired again: {extra:?}");
    assert_no_failed_sweep(&worker).await;
}

/// No sweep of `worker`'s cron trigger failed (each writes one `sweep` line).
async fn assert_no_failed_sweep(worker: &HostProcess) {
    wait_for_log_lines(worker, "a sweep line", 1, |l| l["kind"] == "sweep").await;
    for line in log_lines(worker).iter().filter(|l| l["kind"] == "sweep") {
        assert_eq!(line["outcome"], "ok", "{line}");
    }
}

#[tokio::test]
async fn five_hundred_reminders_in_one_second_three_concurrent_sweeps_fire_each_once() {
    let app = spawn_app().await;
    let sweeper = http_sweeper(&app, SWEEP_TOKEN);

    // 500 reminders due at the same instant (in the past: due as soon as a sweep looks), 50 users.
    let due_at = rfc3339((Utc::now() - chrono::Duration::seconds(1)).trunc_subsecs(0));
    let users: Vec<String> = (0..50).map(|u| format!("user{u:02}")).collect();
    let jobs: Vec<(String, usize)> = users
        .iter()
        .flat_map(|u| (0..10).map(move |i| (u.clone(), i)))
        .collect();
    let created: Vec<(String, String)> = futures::stream::iter(jobs)
        .map(|(user, i)| {
            let app = &app;
            let due_at = due_at.clone();
            async move {
                let task = app
                    .create_task(
                        &user,
                        json!({"title": format!("{user} task {i}"), "reminderAt": due_at}),
                    )
                    .await;
                (user, task["id"].as_str().unwrap().to_string())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(created.len(), 500);

    // Three sweeps at once.
    let (a, b, c) = tokio::join!(
        sweep(&app, &sweeper),
        sweep(&app, &sweeper),
        sweep(&app, &sweeper)
    );
    let fired_concurrently: u64 = [&a, &b, &c]
        .iter()
        .map(|s| s["fired"].as_u64().unwrap())
        .sum();
    eprintln!("concurrent sweeps: {a}\n{b}\n{c}");
    // Whatever the time budget left (on a loaded machine), later sweeps finish; the sum is exact.
    let fired_later = sweep_until_idle(&app, &sweeper).await;
    assert_eq!(fired_concurrently + fired_later, 500, "{a} {b} {c}");

    assert_eq!(count(&app, "SELECT count(*) FROM notifications").await, 500);
    assert_eq!(
        count(&app, "SELECT count(DISTINCT task_id) FROM notifications").await,
        500
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM events WHERE topic = 'reminder-due'"
        )
        .await,
        500
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM tasks WHERE NOT reminder_sent").await,
        0
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM notifications n JOIN tasks t ON t.id = n.task_id WHERE n.user_id <> t.user_id").await,
        0
    );

    // Each user sees exactly their ten, through the API.
    for user in &users {
        let listed = list_notifications(&app, user).await;
        let mut got: Vec<String> = listed
            .iter()
            .map(|n| {
                assert_eq!(n["userId"], *user);
                n["taskId"].as_str().unwrap().to_string()
            })
            .collect();
        let mut want: Vec<String> = created
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, id)| id.clone())
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{user}'s notifications");
    }
}

#[tokio::test]
async fn rearmed_reminder_fires_again_once_completed_and_deleted_tasks_never_fire() {
    let app = spawn_app().await;
    let sweeper = http_sweeper(&app, SWEEP_TOKEN);
    let past = |s: i64| rfc3339(Utc::now() - chrono::Duration::seconds(s));

    // Sub-millisecond precision survives the claim (the claim matches reminder_at exactly).
    let rearmed = app
        .create_task(
            "alice",
            json!({"title": "Water plants", "reminderAt": "2020-01-01T00:00:00.123456Z"}),
        )
        .await;
    let rearmed_id = rearmed["id"].as_str().unwrap().to_string();
    let completed = app
        .create_task(
            "alice",
            json!({"title": "Done already", "reminderAt": past(5)}),
        )
        .await;
    let completed_id = completed["id"].as_str().unwrap().to_string();
    let toggled = app
        .patch(
            "alice",
            &format!("/api/alice/tasks/{completed_id}/complete"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(toggled.status(), 200);
    let deleted = app
        .create_task("alice", json!({"title": "Gone", "reminderAt": past(5)}))
        .await;
    let deleted_id = deleted["id"].as_str().unwrap().to_string();
    let response = app
        .delete("alice", &format!("/api/alice/tasks/{deleted_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let first = sweep(&app, &sweeper).await;
    assert_eq!(first["fired"], 1, "{first}");
    assert_eq!(first["skipped_completed"], 1, "{first}");
    assert_eq!(notifications_of_task(&app, &rearmed_id).await.len(), 1);

    // Completed: marked sent, no notification, no event. Deleted: nothing, no failure.
    assert!(reminder_sent(&app, &completed_id).await);
    assert!(notifications_of_task(&app, &completed_id).await.is_empty());
    assert!(reminder_events_of_task(&app, &completed_id)
        .await
        .is_empty());
    assert!(notifications_of_task(&app, &deleted_id).await.is_empty());
    assert!(reminder_events_of_task(&app, &deleted_id).await.is_empty());

    // Setting the same reminderAt again does not re-arm it.
    let same = app
        .put(
            "alice",
            &format!("/api/alice/tasks/{rearmed_id}"),
            &json!({"reminderAt": "2020-01-01T00:00:00.123456Z"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), 200);
    assert_eq!(same.json::<Value>().await.unwrap()["reminderSent"], true);
    assert_eq!(sweep(&app, &sweeper).await["fired"], 0);

    // A new reminderAt re-arms it: it fires once more, then never again.
    let put = app
        .put(
            "alice",
            &format!("/api/alice/tasks/{rearmed_id}"),
            &json!({"reminderAt": past(1)}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(put.json::<Value>().await.unwrap()["reminderSent"], false);
    assert_eq!(sweep(&app, &sweeper).await["fired"], 1);
    assert_eq!(sweep(&app, &sweeper).await["fired"], 0);
    let notes = notifications_of_task(&app, &rearmed_id).await;
    assert_eq!(notes.len(), 2);
    assert_ne!(notes[0].4, notes[1].4, "one notification per arming");
    assert_eq!(reminder_events_of_task(&app, &rearmed_id).await.len(), 2);
    assert!(reminder_sent(&app, &rearmed_id).await);
}

#[tokio::test]
async fn reminders_due_while_the_service_was_stopped_fire_once_when_it_starts() {
    let app = spawn_app().await;
    let mut worker = cron_worker(&app);
    worker.kill();

    // Ten reminders falling due during 20 s of downtime.
    let stopped_at = Utc::now();
    let mut ids = Vec::new();
    for i in 0..10 {
        let at = stopped_at + chrono::Duration::seconds(1 + 2 * i);
        let task = app
            .create_task(
                "alice",
                json!({"title": format!("while down {i}"), "reminderAt": rfc3339(at)}),
            )
            .await;
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    // The scenario itself: the service stays down for 20 s (this sleep asserts nothing).
    let downtime = Duration::from_secs(20)
        .saturating_sub((Utc::now() - stopped_at).to_std().unwrap_or_default());
    tokio::time::sleep(downtime).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM notifications").await,
        0,
        "nothing runs while stopped"
    );

    // Taken before the start: nothing the new process fires can be earlier.
    let restarted_at = Utc::now().trunc_subsecs(3);
    let restarted = cron_worker(&app);
    wait_for("every missed reminder", CRON_WAIT, || async {
        (count(&app, "SELECT count(*) FROM notifications").await == 10).then_some(())
    })
    .await;
    wait_for_a_later_sweep(&app, "bob").await;
    for id in &ids {
        let notes = notifications_of_task(&app, id).await;
        assert_eq!(notes.len(), 1, "task {id}");
        assert!(notes[0].3 >= restarted_at, "fired late, after the restart");
        assert_eq!(reminder_events_of_task(&app, id).await.len(), 1);
    }
    assert_no_failed_sweep(&restarted).await;
}

#[tokio::test]
async fn sweep_route_requires_the_token_and_does_nothing_without_it() {
    let app = spawn_app().await;
    let sweeper = http_sweeper(&app, SWEEP_TOKEN);
    let task = app
        .create_task("alice", json!({"title": "Due", "reminderAt": rfc3339(Utc::now() - chrono::Duration::seconds(1))}))
        .await;
    let task_id = task["id"].as_str().unwrap().to_string();
    let url = format!("{}{SWEEP_PATH}", sweeper.base_url());

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("wrong token", Some(format!("Bearer {SWEEP_TOKEN}x"))),
        (
            "prefix of the token",
            Some(format!("Bearer {}", &SWEEP_TOKEN[..SWEEP_TOKEN.len() - 1])),
        ),
        (
            "other case",
            Some(format!("Bearer {}", SWEEP_TOKEN.to_uppercase())),
        ),
        ("not bearer", Some(format!("Basic {SWEEP_TOKEN}"))),
        ("empty bearer", Some("Bearer ".to_string())),
        (
            "a user's JWT",
            Some(format!("Bearer {}", app.token("alice"))),
        ),
    ];
    for (name, header) in cases {
        let mut request = app.client.post(&url);
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{name}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{name}");
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].is_string(), "{name}: {body}");
    }
    // Nothing happened.
    assert!(notifications_of_task(&app, &task_id).await.is_empty());
    assert!(reminder_events_of_task(&app, &task_id).await.is_empty());
    assert!(!reminder_sent(&app, &task_id).await);

    // The right token but the wrong method: 405, still nothing.
    let get = app
        .client
        .get(&url)
        .bearer_auth(SWEEP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert!(notifications_of_task(&app, &task_id).await.is_empty());

    // The right token works (the setup above was live).
    assert_eq!(sweep(&app, &sweeper).await["fired"], 1);
    assert_eq!(notifications_of_task(&app, &task_id).await.len(), 1);

    // An unconfigured deployment is closed, whatever is presented.
    let unconfigured = http_sweeper(&app, "");
    let again = app
        .create_task("alice", json!({"title": "Due too", "reminderAt": rfc3339(Utc::now() - chrono::Duration::seconds(1))}))
        .await;
    for header in [
        None,
        Some("Bearer ".to_string()),
        Some(format!("Bearer {SWEEP_TOKEN}")),
    ] {
        let mut request = app
            .client
            .post(format!("{}{SWEEP_PATH}", unconfigured.base_url()));
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        assert_eq!(request.send().await.unwrap().status(), 503);
    }
    assert!(notifications_of_task(&app, again["id"].as_str().unwrap())
        .await
        .is_empty());
}

#[tokio::test]
async fn fired_notifications_are_only_reachable_by_their_owner() {
    let app = spawn_app().await;
    let sweeper = http_sweeper(&app, SWEEP_TOKEN);
    let past = rfc3339(Utc::now() - chrono::Duration::seconds(1));
    app.create_task("alice", json!({"title": "Alice's", "reminderAt": past}))
        .await;
    app.create_task("bob", json!({"title": "Bob's", "reminderAt": past}))
        .await;
    assert_eq!(sweep(&app, &sweeper).await["fired"], 2);

    let alice = list_notifications(&app, "alice").await;
    let bob = list_notifications(&app, "bob").await;
    assert_eq!(alice.len(), 1);
    assert_eq!(bob.len(), 1);
    assert_eq!(alice[0]["message"], "Reminder: Alice's");
    let alices = alice[0]["id"].as_str().unwrap().to_string();
    let bobs = bob[0]["id"].as_str().unwrap().to_string();

    // Another user's id: 404, exactly like a missing one; nothing changes.
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(
            app.patch("alice", &format!("/api/alice/notifications/{bobs}/read"))
                .send()
                .await
                .unwrap()
        ),
        404
    );
    assert_eq!(
        status(
            app.delete("alice", &format!("/api/alice/notifications/{bobs}"))
                .send()
                .await
                .unwrap()
        ),
        404
    );
    let missing = Uuid::now_v7();
    assert_eq!(
        status(
            app.patch("alice", &format!("/api/alice/notifications/{missing}/read"))
                .send()
                .await
                .unwrap()
        ),
        404
    );
    // Malformed ids: 422.
    for bad in ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"] {
        assert_eq!(
            status(
                app.patch("alice", &format!("/api/alice/notifications/{bad}/read"))
                    .send()
                    .await
                    .unwrap()
            ),
            422
        );
        assert_eq!(
            status(
                app.delete("alice", &format!("/api/alice/notifications/{bad}"))
                    .send()
                    .await
                    .unwrap()
            ),
            422
        );
    }
    // Another user's path: 403.
    assert_eq!(
        status(
            app.get("alice", "/api/bob/notifications")
                .send()
                .await
                .unwrap()
        ),
        403
    );
    let bob_after = list_notifications(&app, "bob").await;
    assert_eq!(bob_after, bob, "bob's notification untouched");

    // The owner can read and delete.
    let read = app
        .patch("alice", &format!("/api/alice/notifications/{alices}/read"))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    assert_eq!(read.json::<Value>().await.unwrap()["read"], true);
    let deleted = app
        .delete("alice", &format!("/api/alice/notifications/{alices}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        deleted.json::<Value>().await.unwrap(),
        json!({"success": true})
    );
    assert!(list_notifications(&app, "alice").await.is_empty());
}

#[tokio::test]
async fn odd_rows_are_skipped_and_logged_and_never_hold_back_the_others() {
    let app = spawn_app().await;
    let sweeper = http_sweeper(&app, SWEEP_TOKEN);
    let past = rfc3339(Utc::now() - chrono::Duration::seconds(1));
    let mut normal = Vec::new();
    for i in 0..5 {
        let t = app
            .create_task(
                "alice",
                json!({"title": format!("fine {i}"), "reminderAt": past}),
            )
            .await;
        normal.push(t["id"].as_str().unwrap().to_string());
    }
    // A row the domain cannot read (a time zone that is not an IANA name), written with SQL.
    let odd = Uuid::new_v4();
    let pg = app.pg().await;
    pg.execute(
        "INSERT INTO tasks (id, user_id, title, priority, category, status, created_at, updated_at, series_id, \
                            reminder_at, time_zone) \
         VALUES ($1, 'alice', 'odd', 'medium', 'other', 'pending', now(), now(), $1, now() - interval '2 seconds', 'Mars/Olympus')",
        &[&odd],
    )
    .await
    .unwrap();
    // A row whose claim fails in the database for a reason other than an outage.
    let poison = app
        .create_task("alice", json!({"title": "poison", "reminderAt": past}))
        .await;
    let poison_id = poison["id"].as_str().unwrap().to_string();
    pg.batch_execute("ALTER TABLE notifications ADD CONSTRAINT test_poison CHECK (message <> 'Reminder: poison')")
        .await
        .unwrap();

    let summary = sweep_as(&app, &sweeper, "odd-rows").await;
    assert_eq!(summary["fired"], 5, "{summary}");
    assert_eq!(summary["undecodable"], 1, "{summary}");
    assert_eq!(summary["failed"], 1, "{summary}");
    for id in &normal {
        assert_eq!(notifications_of_task(&app, id).await.len(), 1);
    }
    // Both odd ones are left armed (not lost), and noted in the sweep's log line.
    assert!(!reminder_sent(&app, &odd.to_string()).await);
    assert!(!reminder_sent(&app, &poison_id).await);
    let line = request_line(&sweeper, "odd-rows").await;
    let notes: Vec<&str> = line["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes: {line}"))
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with(&format!("task {odd} cannot be read"))),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with(&format!("task {poison_id}: claim failed"))),
        "{notes:?}"
    );

    // Once the cause is gone, the poisoned reminder fires on the next sweep.
    pg.batch_execute("ALTER TABLE notifications DROP CONSTRAINT test_poison")
        .await
        .unwrap();
    let again = sweep(&app, &sweeper).await;
    assert_eq!(again["fired"], 1, "{again}");
    assert_eq!(notifications_of_task(&app, &poison_id).await.len(), 1);
}

/// Issue 5 item 3: a recurring task's next occurrence (created by recurring-service when the
/// occurrence is completed) keeps the reminder's offset to the due date, and that reminder
/// fires once.
#[tokio::test]
async fn successor_of_a_recurring_task_keeps_the_reminder_offset_and_fires_once() {
    let app = spawn_app().await;
    let worker = app
        .host_builder()
        .component("notification-service")
        .component("recurring-service")
        .spawn();

    // Daily; the successor's reminder falls due a few seconds from now (one day after the root's).
    let root_reminder =
        (Utc::now() - chrono::Duration::days(1) + chrono::Duration::seconds(8)).trunc_subsecs(3);
    let root_due = root_reminder + chrono::Duration::hours(1);
    let root = app
        .create_task(
            "alice",
            json!({"title": "Standup", "recurringRule": "daily", "dueDate": rfc3339(root_due),
                   "reminderAt": rfc3339(root_reminder)}),
        )
        .await;
    let root_id = root["id"].as_str().unwrap().to_string();
    // The root's reminder is already past: it fires on the next tick.
    wait_for("the root's reminder", CRON_WAIT, || {
        let id = root_id.clone();
        let app = &app;
        async move { (notifications_of_task(app, &id).await.len() == 1).then_some(()) }
    })
    .await;

    let done = app
        .patch("alice", &format!("/api/alice/tasks/{root_id}/complete"))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);

    let successor: Value = wait_for("the successor", Duration::from_secs(60), || async {
        let tasks: Vec<Value> = app
            .get("alice", "/api/alice/tasks")
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        tasks.into_iter().find(|t| t["parentTaskId"] == root_id)
    })
    .await;
    let successor_id = successor["id"].as_str().unwrap().to_string();
    let succ_due = instant(&successor["dueDate"]);
    let succ_reminder = instant(&successor["reminderAt"]);
    assert_eq!(succ_due, root_due + chrono::Duration::days(1));
    assert_eq!(
        succ_due - succ_reminder,
        root_due - root_reminder,
        "same offset to the due date"
    );
    assert_eq!(successor["reminderSent"], false);

    wait_for("the successor's reminder", CRON_WAIT, || {
        let id = successor_id.clone();
        let app = &app;
        async move { (!notifications_of_task(app, &id).await.is_empty()).then_some(()) }
    })
    .await;
    wait_for_a_later_sweep(&app, "bob").await;
    let notes = notifications_of_task(&app, &successor_id).await;
    assert_eq!(notes.len(), 1);
    assert!(notes[0].3 >= succ_reminder, "not before its time");
    let expected_due = succ_due.format("%Y-%m-%d %H:%M");
    assert_eq!(
        notes[0].2,
        format!("Reminder: Standup (due {expected_due})")
    );
    assert_eq!(reminder_events_of_task(&app, &successor_id).await.len(), 1);
    assert_eq!(
        notifications_of_task(&app, &root_id).await.len(),
        1,
        "the root fired once"
    );
    assert_no_failed_sweep(&worker).await;
}

// ------------------------------------------------------------------ benchmarks (on demand)
//
// Not part of the suite (`#[ignore]`): `bench/reminders.sh` runs them with `--ignored`.

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn describe(label: &str, mut values: Vec<f64>) -> String {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!(
        "{label}: n={} p50={:.0} ms p99={:.0} ms max={:.0} ms min={:.0} ms",
        values.len(),
        percentile(&values, 50.0),
        percentile(&values, 99.0),
        values[values.len() - 1],
        values[0]
    )
}

/// Reminder lateness (`notification.createdAt - reminderAt`) with the real cron cadence:
/// `BENCH_REMINDERS` (default 600) reminders armed through the API, spread over 60 s.
#[tokio::test]
#[ignore = "benchmark: bench/reminders.sh"]
async fn bench_reminder_lateness_on_the_cron_cadence() {
    let n: usize = std::env::var("BENCH_REMINDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let app = spawn_app().await;
    let worker = cron_worker(&app);
    let start = Utc::now() + chrono::Duration::seconds(10);
    let window_ms = 60_000i64;
    let jobs: Vec<usize> = (0..n).collect();
    let created: Vec<String> = futures::stream::iter(jobs)
        .map(|i| {
            let app = &app;
            // Spread evenly over the window, at odd milliseconds, across 50 users.
            let at = start
                + chrono::Duration::milliseconds(
                    i as i64 * window_ms / n as i64 + (i as i64 * 7919) % 997,
                );
            async move {
                let user = format!("bench{:02}", i % 50);
                let task = app
                    .create_task(
                        &user,
                        json!({"title": format!("bench {i}"), "reminderAt": rfc3339(at)}),
                    )
                    .await;
                task["id"].as_str().unwrap().to_string()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        Utc::now() < start,
        "arming took longer than the 10 s lead; lower BENCH_REMINDERS"
    );
    assert_eq!(created.len(), n);
    let expected = i64::try_from(n).unwrap();
    wait_for(
        "every benchmark reminder",
        Duration::from_secs(60) + CRON_WAIT,
        || async {
            (count(&app, "SELECT count(*) FROM notifications").await == expected).then_some(())
        },
    )
    .await;
    let rows = app
        .pg()
        .await
        .query(
            "SELECT extract(epoch FROM n.created_at - n.reminder_at)::float8 * 1000, \
                    extract(epoch FROM n.created_at)::float8 * 1000, \
                    extract(epoch FROM n.reminder_at)::float8 * 1000 \
             FROM notifications n",
            &[],
        )
        .await
        .unwrap();
    let lateness: Vec<f64> = rows.iter().map(|r| r.get::<_, f64>(0)).collect();
    // Beyond the cron cadence: time from the first tick at or after reminderAt.
    let after_tick: Vec<f64> = rows
        .iter()
        .map(|r| {
            let (created, reminder): (f64, f64) = (r.get(1), r.get(2));
            let tick = (reminder / 5000.0).ceil() * 5000.0;
            created - tick
        })
        .collect();
    assert!(
        lateness.iter().all(|l| *l >= 0.0),
        "a reminder fired before its time"
    );
    assert_eq!(
        count(&app, "SELECT count(DISTINCT task_id) FROM notifications").await,
        expected
    );
    println!("BENCH reminders={n} over {window_ms} ms, cron */5 s");
    println!(
        "BENCH {}",
        describe("lateness (createdAt - reminderAt)", lateness)
    );
    println!(
        "BENCH {}",
        describe(
            "after the due tick (createdAt - first tick >= reminderAt)",
            after_tick
        )
    );
    assert_no_failed_sweep(&worker).await;
}

/// One sweep's duration with `BENCH_PENDING` (default 100,000) pending reminders of which
/// `BENCH_DUE` (default 1,000) are due. Rows are written with SQL (the API is not measured).
#[tokio::test]
#[ignore = "benchmark: bench/reminders.sh"]
async fn bench_sweep_with_many_pending_and_some_due() {
    let pending: i64 = std::env::var("BENCH_PENDING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let due: i64 = std::env::var("BENCH_DUE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let app = spawn_app().await;
    let sweeper = http_sweeper(&app, SWEEP_TOKEN);
    let pg = app.pg().await;
    // Due ones 1-60 s ago; the rest 1 h to ~1 year ahead. 100 users.
    pg.execute(
        "INSERT INTO tasks (id, user_id, title, priority, category, status, created_at, updated_at, series_id, reminder_at, due_date) \
         SELECT id, 'user' || (i % 100), 'bench task ' || i, 'medium', 'other', 'pending', now(), now(), id, \
                CASE WHEN i <= $2 THEN now() - make_interval(secs => 1 + (i % 60)) \
                     ELSE now() + make_interval(hours => (1 + (i % 8760))::int) END, \
                CASE WHEN i % 2 = 0 THEN now() + interval '1 day' END \
         FROM (SELECT gen_random_uuid() AS id, i FROM generate_series(1, $1::int8) AS i) s",
        &[&pending, &due],
    )
    .await
    .unwrap();
    pg.batch_execute("ANALYZE tasks").await.unwrap();
    let plan: Vec<String> = pg
        .query(
            "EXPLAIN SELECT id FROM tasks WHERE NOT reminder_sent AND reminder_at IS NOT NULL \
             AND reminder_at <= now() AND NOT (id = ANY('{}'::uuid[])) ORDER BY reminder_at, id LIMIT 200",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    println!("BENCH plan of the batch query:\n  {}", plan.join("\n  "));

    let mut durations = Vec::new();
    for round in 0..3 {
        if round > 0 {
            // Re-arm the same rows (a new arming: reminder_at moves by 1 ms).
            let rearmed = pg
                .execute(
                    "UPDATE tasks SET reminder_sent = false, reminder_at = reminder_at - interval '1 millisecond', \
                     version = version + 1 WHERE reminder_sent",
                    &[],
                )
                .await
                .unwrap();
            assert_eq!(rearmed, u64::try_from(due).unwrap());
        }
        let started = Instant::now();
        let summary = sweep(&app, &sweeper).await;
        let wall = started.elapsed();
        println!(
            "BENCH sweep round {round}: wall {} ms, summary {summary}",
            wall.as_millis()
        );
        assert_eq!(
            summary["fired"], due,
            "all due reminders in one sweep: {summary}"
        );
        assert_eq!(summary["more_due"], false);
        durations.push(wall.as_secs_f64() * 1000.0);
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM notifications").await,
        due * 3
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM tasks WHERE NOT reminder_sent").await,
        pending - due
    );
    println!(
        "BENCH pending={pending} due={due}: {}",
        describe("sweep wall time (3 rounds)", durations)
    );
}
