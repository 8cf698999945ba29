//! The cron trigger as Spin runs it: a reminder fires once on the cadence and not before, and
//! reminders due while the service was stopped fire once when it starts.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use futures::StreamExt;
use serde_json::{json, Value};
use todo_e2e::db::count;
use todo_e2e::{eventually, spawn_app};

use crate::{
    assert_no_failed_sweep, cron_worker, instant, list_notifications, notifications_of_task,
    reminder_events_of_task, rfc3339, wait_for_a_later_sweep, CADENCE, CRON_WAIT,
};

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
        count(&app.pg().await, "SELECT count(*) FROM notifications", &[]).await,
        0,
        "nothing runs while stopped"
    );

    // Taken before the start: nothing the new process fires can be earlier.
    let restarted_at = Utc::now().trunc_subsecs(3);
    let restarted = cron_worker(&app);
    eventually("every missed reminder", CRON_WAIT, || async {
        match count(&app.pg().await, "SELECT count(*) FROM notifications", &[]).await {
            10 => Ok(()),
            n => Err(format!("{n} notifications")),
        }
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
