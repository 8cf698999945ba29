//! What a fired reminder leaves: notifications only their owner reaches, and a recurring task's
//! successor reminded at the same offset.

use std::time::Duration;

use chrono::{SubsecRound, Utc};
use serde_json::{json, Value};
use todo_e2e::{eventually, spawn_app, SWEEP_TOKEN};
use uuid::Uuid;

use crate::{
    assert_no_failed_sweep, http_sweeper, instant, list_notifications, notifications_of_task,
    reminder_events_of_task, rfc3339, sweep, wait_for_a_later_sweep, CRON_WAIT,
};

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

/// A recurring task's next occurrence (created by recurring-service when the occurrence is
/// completed) keeps the reminder's offset to the due date, and that reminder fires once: a
/// user who is reminded an hour before each standup stays reminded an hour before the next.
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
    eventually("the root's reminder", CRON_WAIT, || {
        let id = root_id.clone();
        let app = &app;
        async move {
            match notifications_of_task(app, &id).await.len() {
                1 => Ok(()),
                n => Err(format!("{n} notifications")),
            }
        }
    })
    .await;

    let done = app
        .patch("alice", &format!("/api/alice/tasks/{root_id}/complete"))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);

    let successor: Value = eventually("the successor", Duration::from_secs(60), || async {
        let response = app
            .get("alice", "/api/alice/tasks")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let tasks: Vec<Value> = response.json().await.map_err(|e| e.to_string())?;
        tasks
            .into_iter()
            .find(|t| t["parentTaskId"] == root_id)
            .ok_or_else(|| "no task names the root as its parent yet".to_string())
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

    eventually("the successor's reminder", CRON_WAIT, || {
        let id = successor_id.clone();
        let app = &app;
        async move {
            match notifications_of_task(app, &id).await.len() {
                0 => Err("no notification yet".to_string()),
                _ => Ok(()),
            }
        }
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
