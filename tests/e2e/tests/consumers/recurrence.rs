//! recurring-service's successors through successive completions: each rule's arithmetic,
//! month ends, leap days, daylight-saving changes, end dates, deletes and re-completions.

use std::time::Duration;

use serde_json::{json, Value};
use todo_e2e::db::count;
use todo_e2e::{eventually, spawn_app, TestApp};
use uuid::Uuid;

use crate::{latest_event, occurrence, start, toggle, wait_for_events, CONSUMERS};

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
                &[],
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
    app.publish("task-completed", completion.as_bytes()).await;
    wait_for_events(&workers, "recurring-service", 1, |l| {
        l["eventId"] == event_id && l["outcome"] == "task-gone"
    })
    .await;
    assert_eq!(count(&pg, "SELECT count(*) FROM tasks", &[]).await, 0);
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
    app.publish("task-completed", payload.as_bytes()).await;
    wait_for_events(&workers, "recurring-service", 1, |l| {
        l["eventId"] == last_completion && l["outcome"] == "duplicate"
    })
    .await;
    assert_eq!(count(&pg, "SELECT count(*) FROM tasks", &[]).await, 1);
}
