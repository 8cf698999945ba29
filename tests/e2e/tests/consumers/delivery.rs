//! Deliveries as Redis makes them: the same event twice and at once, and messages that are
//! malformed or forged.

use std::time::Duration;

use serde_json::{json, Value};
use todo_e2e::db::count;
use todo_e2e::test_support::HostProcess;
use todo_e2e::{eventually, log_lines, spawn_app, tail, TASK_TOPICS};
use uuid::Uuid;

use crate::{envelope, latest_event, occurrence, start, toggle, wait_for_events, CONSUMERS};

/// The event lines `component` wrote about `event_id`.
fn event_lines(process: &HostProcess, component: &str, event_id: &str) -> Vec<Value> {
    log_lines(process)
        .into_iter()
        .filter(|l| l["kind"] == "event" && l["component"] == component && l["eventId"] == event_id)
        .collect()
}

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
        app.publish("task-completed", completion.as_bytes()).await;
        app.publish("task-created", created.as_bytes()).await;
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
            app.publish(topic, message).await;
        }
        // Well-formed but naming no event of ours, for a user that does not exist...
        let unknown = envelope(
            Uuid::now_v7(),
            topic,
            "nobody-at-all",
            &Uuid::now_v7().to_string(),
        );
        app.publish(topic, unknown.to_string().as_bytes()).await;
        // ... and alice's real task claimed by another user.
        app.publish(
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
    assert_eq!(count(&pg, "SELECT count(*) FROM audit_logs", &[]).await, 0);
    assert_eq!(count(&pg, "SELECT count(*) FROM tasks", &[]).await, 1);

    // Still working: the real completion, delivered now, is audited and gets its successor.
    app.publish("task-completed", completion.as_bytes()).await;
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
