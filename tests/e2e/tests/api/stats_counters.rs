//! `GET /stats` reads per-user counters that triggers keep in each change's transaction: they
//! must stay exact under concurrent writes of every kind, and the migration that introduced
//! them must count the tasks that already existed.

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use todo_e2e::test_support::empty_database;
use todo_e2e::{spawn_app, TestApp};

/// What the stats must say, counted from the rows themselves.
async fn counted(app: &TestApp, user: &str) -> Value {
    let row = app
        .pg()
        .await
        .query_one(
            "SELECT count(*) FILTER (WHERE status = 'completed'), \
                    count(*) FILTER (WHERE status = 'pending' AND priority = 'high'), \
                    count(*) FILTER (WHERE status = 'pending' AND due_date < now()), \
                    count(*) FILTER (WHERE status = 'pending'), count(*) \
             FROM tasks WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap();
    json!({
        "completed": row.get::<_, i64>(0),
        "highPriorityPending": row.get::<_, i64>(1),
        "overdue": row.get::<_, i64>(2),
        "pending": row.get::<_, i64>(3),
        "total": row.get::<_, i64>(4),
    })
}

async fn ok(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn counters_stay_exact_under_concurrent_creates_toggles_updates_and_deletes() {
    let app = spawn_app().await;
    let priorities = ["low", "medium", "high"];
    // 32 creates at once for one user (all on the same counter rows but for the shards).
    let created: Vec<Value> = stream::iter(0..96)
        .map(|i| {
            let mut body = json!({"title": format!("t{i}"), "priority": priorities[i % 3]});
            if i % 4 == 0 {
                body["dueDate"] = json!("2020-01-01T00:00:00Z");
            }
            let user = if i % 8 == 7 { "bob" } else { "alice" };
            ok(app.post(user, &format!("/api/{user}/tasks"), &body))
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let ids: Vec<(String, String)> = created
        .iter()
        .map(|t| {
            (
                t["userId"].as_str().unwrap().to_string(),
                t["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Toggles (some twice, so they race with themselves), priority changes, deletes and more
    // creates, all interleaved on 32 connections.
    let operations: Vec<(usize, &(String, String))> = ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| match i % 5 {
            0 => vec![(0, id), (0, id)],
            1 => vec![(0, id), (1, id)],
            2 => vec![(1, id), (2, id)],
            3 => vec![(2, id)],
            _ => vec![(3, id), (0, id)],
        })
        .collect();
    let outcomes: Vec<u16> = stream::iter(operations)
        .map(|(kind, (user, id))| {
            let path = format!("/api/{user}/tasks/{id}");
            let request = match kind {
                0 => app.patch(user, &format!("{path}/complete")),
                1 => app.put(user, &path, &json!({"priority": "high"})),
                2 => app.delete(user, &path),
                _ => app.post(
                    user,
                    &format!("/api/{user}/tasks"),
                    &json!({"title": "more", "priority": "high"}),
                ),
            };
            async move { request.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for status in &outcomes {
        // A change that lost a race on a deleted task is a 404; anything else must succeed.
        assert!(
            matches!(status, 200 | 201 | 204 | 404),
            "unexpected status {status}"
        );
    }
    for user in ["alice", "bob"] {
        let stats: Value = app.get_json(user, &format!("/api/{user}/stats")).await;
        assert_eq!(stats, counted(&app, user).await, "{user}");
    }
    let stats: Value = app.get_json("alice", "/api/alice/stats").await;
    assert!(stats["total"].as_i64().unwrap() > 50, "{stats}");
    assert!(stats["overdue"].as_i64().unwrap() > 0, "{stats}");
    // Concurrent writers of one user counted on several shards, not queued on one row.
    let shards: i64 = app
        .pg()
        .await
        .query_one(
            "SELECT count(*) FROM task_counters WHERE user_id = 'alice'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(shards > 1, "{shards} counter shard(s)");
    // A user with no tasks at all.
    let none: Value = app.get_json("carol", "/api/carol/stats").await;
    assert_eq!(none, counted(&app, "carol").await);
}

#[tokio::test]
async fn the_migration_counts_the_tasks_that_already_exist() {
    let db = empty_database().await;
    let mut client = db.connect().await;
    let migrations =
        todo_migrate::load_dir(&todo_e2e::test_support::repo_root().join("migrations")).unwrap();
    let split = migrations
        .iter()
        .position(|m| m.version.starts_with("0003"))
        .expect("the counters migration");
    todo_migrate::apply(&mut client, &migrations[..split])
        .await
        .unwrap();
    client
        .batch_execute(
            "INSERT INTO tasks (id, user_id, title, priority, category, status, created_at, updated_at, completed_at, series_id) \
             SELECT gen_random_uuid(), 'u' || (i % 3), 't' || i, \
                    (ARRAY['low','medium','high'])[1 + i % 3], 'work', \
                    CASE WHEN i % 4 = 0 THEN 'completed' ELSE 'pending' END, now(), now(), \
                    CASE WHEN i % 4 = 0 THEN now() END, gen_random_uuid() \
             FROM generate_series(1, 50) AS i",
        )
        .await
        .unwrap();
    todo_migrate::apply(&mut client, &migrations).await.unwrap();
    let mismatches: i64 = client
        .query_one(
            "SELECT count(*) FROM ( \
               SELECT user_id, count(*) AS total, count(*) FILTER (WHERE status = 'pending') AS pending, \
                      count(*) FILTER (WHERE status = 'completed') AS completed, \
                      count(*) FILTER (WHERE status = 'pending' AND priority = 'high') AS high \
               FROM tasks GROUP BY user_id) t \
             FULL JOIN (SELECT user_id, sum(total) AS total, sum(pending) AS pending, \
                               sum(completed) AS completed, sum(high_priority_pending) AS high \
                        FROM task_counters GROUP BY user_id) c USING (user_id) \
             WHERE c.total IS DISTINCT FROM t.total OR c.pending IS DISTINCT FROM t.pending \
                OR c.completed IS DISTINCT FROM t.completed OR c.high IS DISTINCT FROM t.high",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mismatches, 0);
    let users: i64 = client
        .query_one("SELECT count(DISTINCT user_id) FROM task_counters", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(users, 3);
}
