//! The PL/pgSQL functions every task request calls (`migrations/0008_*.sql`, `0010_*`,
//! `0011_*`), called directly with the argument types the components bind: a write that lost
//! its version race writes no event, events keep their order, a failed insert leaves nothing
//! behind, a key or a successor is written once, the published mark commits asynchronously,
//! and every read returns exactly one row (NULLs for a task that is missing or another
//! user's).

use todo_e2e::db::count;
use todo_e2e::test_support::{fresh_database, TestDatabase};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;
use uuid::Uuid;

const USER: &str = "statements-user";

/// A fresh database holding one task of [`USER`], inserted by `task_insert` with the event
/// `event`: the database (dropped with the test), a connection, the task's id.
async fn with_one_task(event: Uuid) -> (TestDatabase, Client, Uuid) {
    let db = fresh_database().await;
    let client = db.connect().await;
    let id = Uuid::now_v7();
    insert(&client, id, event).await.expect("task_insert");
    (db, client, id)
}

/// `task_insert` of a plain pending task `id` with one `task-created` event `event`.
async fn insert(client: &Client, id: Uuid, event: Uuid) -> Result<(), tokio_postgres::Error> {
    call_with_task(client, "task_insert", &[], (id, id, 0), event)
        .await
        .map(|_| ())
}

/// `SELECT * FROM function(leading..., <a plain pending task>, <one task-created event>)`, the
/// task being `(id, series_id, occurrence_index)`: the arguments of `task_insert` after
/// `leading` (`task_insert_once` and `task_insert_successor` take them too).
async fn call_with_task(
    client: &Client,
    function: &str,
    leading: &[&(dyn ToSql + Sync)],
    (id, series, occurrence): (Uuid, Uuid, i32),
    event: Uuid,
) -> Result<tokio_postgres::Row, tokio_postgres::Error> {
    let no_text: Option<String> = None;
    let no_uuid: Option<Uuid> = None;
    let tags: Vec<String> = vec!["a".into()];
    let now = "2026-12-07T10:00:00.000000Z";
    let (event_ids, topics, users, subjects, payloads) = (
        vec![event.to_string()],
        vec!["task-created".to_string()],
        vec![USER.to_string()],
        vec![id.to_string()],
        vec![r#"{"n": 0}"#.to_string()],
    );
    let task: [&(dyn ToSql + Sync); 27] = [
        &id,
        &USER,
        &"First",
        &no_text,
        &"medium",
        &"work",
        &"pending",
        &no_text,
        &now,
        &now,
        &no_text,
        &no_text,
        &no_text,
        &no_uuid,
        &no_text,
        &false,
        &tags,
        &"UTC",
        &1i64,
        &occurrence,
        &series,
        &no_text,
        &event_ids,
        &topics,
        &users,
        &subjects,
        &payloads,
    ];
    let args: Vec<&(dyn ToSql + Sync)> = leading.iter().copied().chain(task).collect();
    let placeholders: Vec<String> = (1..=args.len()).map(|i| format!("${i}")).collect();
    client
        .query_one(
            &format!("SELECT * FROM {function}({})", placeholders.join(", ")),
            &args,
        )
        .await
}

/// `task_update` of task `id` (expected at `expected`) to title `title`, with `events` as
/// `(id, topic, payload)`.
async fn update(
    client: &Client,
    id: Uuid,
    expected: i64,
    title: &str,
    events: &[(Uuid, &str, &str)],
) -> bool {
    let no_text: Option<String> = None;
    let tags: Vec<String> = vec![];
    let column = |f: &dyn Fn(&(Uuid, &str, &str)) -> String| -> Vec<String> {
        events.iter().map(f).collect()
    };
    client
        .query_one(
            "SELECT task_update($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21, $22, $23, $24)",
            &[
                &USER,
                &id,
                &expected,
                &title,
                &no_text,
                &"high",
                &"work",
                &"completed",
                &no_text,
                &"2026-12-07T11:00:00.000000Z",
                &Some("2026-12-07T11:00:00.000000Z"),
                &no_text,
                &no_text,
                &no_text,
                &false,
                &tags,
                &"UTC",
                &(expected + 1),
                &no_text,
                &column(&|e| e.0.to_string()),
                &column(&|e| e.1.to_string()),
                &column(&|_| USER.to_string()),
                &column(&|_| id.to_string()),
                &column(&|e| e.2.to_string()),
            ],
        )
        .await
        .expect("task_update")
        .get(0)
}

/// The outbox rows as `(id, topic, payload)`, in `seq` order.
async fn events(client: &Client) -> Vec<(Uuid, String, serde_json::Value)> {
    client
        .query("SELECT id, topic, payload FROM events ORDER BY seq", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn task_update_writes_its_events_in_order_and_nothing_when_the_version_moved() {
    let created = Uuid::now_v7();
    let (_db, client, id) = with_one_task(created).await;

    let (stale_a, stale_b) = (Uuid::now_v7(), Uuid::now_v7());
    let written = update(
        &client,
        id,
        7,
        "Lost the race",
        &[
            (stale_a, "task-updated", "{}"),
            (stale_b, "task-completed", "{}"),
        ],
    )
    .await;
    assert!(
        !written,
        "a write at a version the row is not at must not happen"
    );
    let row = client
        .query_one("SELECT title, version FROM tasks WHERE id = $1", &[&id])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, i64>(1)),
        ("First".into(), 1)
    );
    assert_eq!(
        events(&client).await.len(),
        1,
        "the lost write left events behind"
    );

    let (updated, completed) = (Uuid::now_v7(), Uuid::now_v7());
    let written = update(
        &client,
        id,
        1,
        "Won",
        &[
            (updated, "task-updated", r#"{"k": "updated"}"#),
            (completed, "task-completed", r#"{"k": "completed"}"#),
        ],
    )
    .await;
    assert!(written);
    let row = client
        .query_one(
            "SELECT title, version, status, completed_at IS NOT NULL, api_json = task_json(t) \
             FROM tasks t WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Won");
    assert_eq!(row.get::<_, i64>(1), 2);
    assert_eq!(row.get::<_, String>(2), "completed");
    assert!(row.get::<_, bool>(3));
    assert!(row.get::<_, bool>(4), "api_json fell behind the update");
    let written_events = events(&client).await;
    let topics: Vec<(Uuid, &str)> = written_events
        .iter()
        .map(|(id, topic, _)| (*id, topic.as_str()))
        .collect();
    assert_eq!(
        topics,
        [
            (created, "task-created"),
            (updated, "task-updated"),
            (completed, "task-completed")
        ]
    );
    assert_eq!(written_events[2].2, serde_json::json!({"k": "completed"}));
}

#[tokio::test]
async fn a_failed_task_insert_writes_no_event() {
    let (_db, client, id) = with_one_task(Uuid::now_v7()).await;
    let again = insert(&client, id, Uuid::now_v7()).await;
    let error = again.expect_err("a second task with the same id");
    assert_eq!(
        error.as_db_error().map(|e| e.code().code()),
        Some("23505"),
        "{error}"
    );
    assert_eq!(events(&client).await.len(), 1);
    assert_eq!(count(&client, "SELECT count(*) FROM tasks", &[]).await, 1);
}

#[tokio::test]
async fn reads_return_one_row_of_nulls_for_a_missing_or_foreign_task() {
    let (_db, client, id) = with_one_task(Uuid::now_v7()).await;
    for (user, task, found) in [
        (USER, id, true),
        ("someone-else", id, false),
        (USER, Uuid::now_v7(), false),
    ] {
        let rows = client
            .query(
                "SELECT json, version, task_record_of($1, $2) FROM task_api_json_of($1, $2)",
                &[&user, &task],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{user} {task}");
        let (json, version, record): (Option<String>, Option<i64>, Option<String>) =
            (rows[0].get(0), rows[0].get(1), rows[0].get(2));
        assert_eq!(json.is_some(), found, "{user} {task}");
        assert_eq!(version, found.then_some(1), "{user} {task}");
        assert_eq!(record.is_some(), found, "{user} {task}");
        if let Some(json) = json {
            let task_json: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(task_json["title"], "First");
        }
    }
}

#[tokio::test]
async fn events_mark_published_marks_each_event_once() {
    let event = Uuid::now_v7();
    let (_db, client, _) = with_one_task(event).await;
    let ids = vec![event.to_string(), Uuid::now_v7().to_string()];
    for expected in [1i64, 0] {
        let marked: i64 = client
            .query_one("SELECT events_mark_published($1)", &[&ids])
            .await
            .unwrap()
            .get(0);
        assert_eq!(marked, expected);
    }
    let row = client
        .query_one(
            "SELECT published_at IS NOT NULL, publish_attempts FROM events WHERE id = $1",
            &[&event],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i32>(1), 1);
}

async fn synchronous_commit(client: &Client) -> String {
    client
        .query_one("SELECT current_setting('synchronous_commit')", &[])
        .await
        .unwrap()
        .get(0)
}

/// The mark's own transaction does not wait for its WAL flush (migrations/0010_*), and the
/// setting ends with that transaction: the change before it, and whatever the pooled
/// connection runs next, commit durably.
#[tokio::test]
async fn events_mark_published_commits_asynchronously_in_its_own_transaction_only() {
    let event = Uuid::now_v7();
    let (_db, client, _) = with_one_task(event).await;
    // PostgreSQL's default (the test cluster runs with it off, for speed).
    client
        .batch_execute("SET synchronous_commit = on")
        .await
        .unwrap();
    let durable = synchronous_commit(&client).await;
    client.batch_execute("BEGIN").await.unwrap();
    client
        .query_one(
            "SELECT events_mark_published($1)",
            &[&vec![event.to_string()]],
        )
        .await
        .unwrap();
    assert_eq!(
        synchronous_commit(&client).await,
        "off",
        "for the mark's transaction"
    );
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        synchronous_commit(&client).await,
        durable,
        "and not after it"
    );
    // In autocommit, as the components call it.
    client
        .query_one(
            "SELECT events_mark_published($1)",
            &[&vec![event.to_string()]],
        )
        .await
        .unwrap();
    assert_eq!(synchronous_commit(&client).await, durable);
}

#[tokio::test]
async fn task_delete_writes_its_event_only_when_it_deleted() {
    let (_db, client, id) = with_one_task(Uuid::now_v7()).await;
    let delete = |version: Option<i64>, task: Uuid| {
        let client = &client;
        async move {
            let row = client
                .query_one(
                    "SELECT json, version FROM task_delete($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &USER,
                        &task,
                        &version,
                        &Uuid::now_v7().to_string(),
                        &"task-deleted",
                        &USER,
                        &task.to_string(),
                        &r#"{"data": {"data": {"deleted": true}}}"#,
                    ],
                )
                .await
                .expect("task_delete");
            (
                row.get::<_, Option<String>>(0),
                row.get::<_, Option<i64>>(1),
            )
        }
    };
    assert_eq!(delete(Some(5), id).await, (None, Some(1)), "stale version");
    assert_eq!(
        delete(None, Uuid::now_v7()).await,
        (None, None),
        "no such task"
    );
    assert_eq!(events(&client).await.len(), 1, "a kept task wrote an event");

    let (json, _) = delete(Some(1), id).await;
    let json: serde_json::Value = serde_json::from_str(&json.expect("deleted")).unwrap();
    assert_eq!(json["title"], "First");
    let written = events(&client).await;
    assert_eq!(written.len(), 2);
    let data = &written[1].2["data"]["data"];
    assert_eq!(
        (&data["deleted"], &data["title"]),
        (&serde_json::json!(true), &json["title"])
    );
    assert_eq!(count(&client, "SELECT count(*) FROM tasks", &[]).await, 0);
}

/// `task_insert_once` of task `id` under `key`, for a body hashed `hash` whose first response
/// would be `response`.
async fn insert_once(
    client: &Client,
    key: &str,
    hash: &str,
    response: &serde_json::Value,
    id: Uuid,
) -> Result<tokio_postgres::Row, tokio_postgres::Error> {
    call_with_task(
        client,
        "task_insert_once",
        &[&key, &hash, response],
        (id, id, 0),
        Uuid::now_v7(),
    )
    .await
}

#[tokio::test]
async fn task_insert_once_writes_a_key_once_and_then_answers_its_first_response() {
    let db = fresh_database().await;
    let client = db.connect().await;
    let response = serde_json::json!({"id": "first"});
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let row = insert_once(&client, "key-1", "hash-1", &response, first)
        .await
        .unwrap();
    assert!(row.get::<_, bool>("inserted"));
    assert_eq!(row.get::<_, Option<String>>("first_response"), None);
    // The same key again, with another body and task: nothing is written, the first answer is.
    let row = insert_once(
        &client,
        "key-1",
        "hash-2",
        &serde_json::json!({"id": "second"}),
        second,
    )
    .await
    .unwrap();
    assert!(!row.get::<_, bool>("inserted"));
    let first_response: serde_json::Value =
        serde_json::from_str(&row.get::<_, String>("first_response")).unwrap();
    assert_eq!(first_response, serde_json::json!(["hash-1", 201, response]));
    assert_eq!(count(&client, "SELECT count(*) FROM tasks", &[]).await, 1);
    assert_eq!(count(&client, "SELECT count(*) FROM events", &[]).await, 1);
    // A failed insert takes its key with it.
    let failed = insert_once(&client, "key-2", "hash-3", &response, first)
        .await
        .unwrap_err();
    assert_eq!(
        failed.code(),
        Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
    );
    assert_eq!(
        count(&client, "SELECT count(*) FROM idempotency_keys", &[]).await,
        1
    );
}

/// `task_insert_successor` of task `id`, occurrence 1 of `series`: whether it was written.
async fn insert_successor(client: &Client, id: Uuid, series: Uuid) -> bool {
    call_with_task(
        client,
        "task_insert_successor",
        &[],
        (id, series, 1),
        Uuid::now_v7(),
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn task_insert_successor_writes_one_successor_per_occurrence_ever() {
    let db = fresh_database().await;
    let client = db.connect().await;
    let series = Uuid::now_v7();
    let (successor, again) = (Uuid::now_v7(), Uuid::now_v7());
    assert!(insert_successor(&client, successor, series).await);
    // The user deletes the successor; a re-delivered completion must not re-create it.
    client
        .execute("DELETE FROM tasks WHERE id = $1", &[&successor])
        .await
        .unwrap();
    assert!(!insert_successor(&client, again, series).await);
    assert_eq!(count(&client, "SELECT count(*) FROM tasks", &[]).await, 0);
    assert_eq!(count(&client, "SELECT count(*) FROM events", &[]).await, 1);
}
