//! Sweeps through the route: concurrent sweeps fire each reminder once, re-armed reminders fire
//! again, completed and deleted tasks never do, odd rows never hold back the others, and the
//! route needs its token.

use chrono::{SubsecRound, Utc};
use futures::StreamExt;
use serde_json::{json, Value};
use todo_e2e::db::count;
use todo_e2e::test_support::HostProcess;
use todo_e2e::{request_line, spawn_app, TestApp, SWEEP_TOKEN};
use uuid::Uuid;

use crate::{
    http_sweeper, list_notifications, notifications_of_task, reminder_events_of_task,
    reminder_sent, rfc3339, sweep, sweep_as, SWEEP_PATH,
};

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

    assert_eq!(
        count(&app.pg().await, "SELECT count(*) FROM notifications", &[]).await,
        500
    );
    assert_eq!(
        count(
            &app.pg().await,
            "SELECT count(DISTINCT task_id) FROM notifications",
            &[]
        )
        .await,
        500
    );
    assert_eq!(
        count(
            &app.pg().await,
            "SELECT count(*) FROM events WHERE topic = 'reminder-due'",
            &[]
        )
        .await,
        500
    );
    assert_eq!(
        count(
            &app.pg().await,
            "SELECT count(*) FROM tasks WHERE NOT reminder_sent",
            &[]
        )
        .await,
        0
    );
    assert_eq!(
        count(&app.pg().await, "SELECT count(*) FROM notifications n JOIN tasks t ON t.id = n.task_id WHERE n.user_id <> t.user_id", &[]).await,
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
