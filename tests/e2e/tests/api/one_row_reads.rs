//! Spin 4.0.0-4.0.2 never answer a PostgreSQL `query` that matches no row: every "not found"
//! and every empty list would hang there. The host runs these tests with
//! `SPIN_PG_ZERO_ROW_QUERY=error` (a zero-row query fails at once), so each case passes only if
//! every query behind it returns a row: the four cases found on a real Spin, and their kin.

use serde_json::{json, Value};
use todo_e2e::{spawn_app_with_host_env, AppOptions, TestApp};

async fn strict_app() -> TestApp {
    spawn_app_with_host_env(
        AppOptions::default(),
        &[("SPIN_PG_ZERO_ROW_QUERY", "error")],
    )
    .await
}

/// Status and body text of a request.
async fn send(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn reading_a_task_that_was_just_deleted_is_404() {
    let app = strict_app().await;
    let task = app
        .create_task("alice", json!({"title": "gone soon"}))
        .await;
    let path = format!("/api/alice/tasks/{}", task["id"].as_str().unwrap());
    assert_eq!(send(app.delete("alice", &path)).await.0, 204);
    let (status, body) = send(app.get("alice", &path)).await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"detail":"Task not found"}"#)
    );
    // Every other route on the deleted id, too.
    assert_eq!(send(app.delete("alice", &path)).await.0, 404);
    assert_eq!(
        send(app.put("alice", &path, &json!({"title": "x"})))
            .await
            .0,
        404
    );
    assert_eq!(
        send(app.patch("alice", &format!("{path}/complete")))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_search_that_matches_nothing_is_an_empty_list() {
    let app = strict_app().await;
    app.create_task("alice", json!({"title": "Buy milk"})).await;
    let (status, body) = send(app.get("alice", "/api/alice/tasks?search=nothing-like-this")).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    // A user without any task, a cursor past the end, and stats of nothing.
    assert_eq!(
        send(app.get("bob", "/api/bob/tasks")).await,
        (200, "[]".into())
    );
    let response = app
        .get("alice", "/api/alice/tasks?limit=1")
        .send()
        .await
        .unwrap();
    assert!(
        response.headers().get("x-next-cursor").is_none(),
        "one task, one page"
    );
    let (status, body) = send(app.get("bob", "/api/bob/stats")).await;
    assert_eq!(
        (status, body.as_str()),
        (
            200,
            r#"{"completed":0,"highPriorityPending":0,"overdue":0,"pending":0,"total":0}"#
        )
    );
    assert_eq!(
        send(app.get("bob", "/api/bob/audit")).await,
        (200, "[]".into())
    );
}

#[tokio::test]
async fn another_users_task_id_is_404() {
    let app = strict_app().await;
    let task = app.create_task("alice", json!({"title": "mine"})).await;
    let path = format!("/api/bob/tasks/{}", task["id"].as_str().unwrap());
    let (status, body) = send(app.get("bob", &path)).await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"detail":"Task not found"}"#)
    );
    assert_eq!(
        send(app.put("bob", &path, &json!({"title": "x"}))).await.0,
        404
    );
    assert_eq!(
        send(app.patch("bob", &format!("{path}/complete"))).await.0,
        404
    );
    assert_eq!(send(app.delete("bob", &path)).await.0, 404);
    let own = format!("/api/alice/tasks/{}", task["id"].as_str().unwrap());
    let still: Value = app.get_json("alice", &own).await;
    assert_eq!(still, task, "untouched by bob");
}

#[tokio::test]
async fn the_notifications_list_while_it_is_still_empty_is_an_empty_list() {
    let app = strict_app().await;
    let (status, body) = send(app.get("alice", "/api/alice/notifications")).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    let (status, _) = send(app.get("alice", "/api/alice/notifications?unread_only=true")).await;
    assert_eq!(status, 200);
    let missing = "/api/alice/notifications/0190b9a4-0000-7000-8000-000000000009";
    let (status, body) = send(app.patch("alice", &format!("{missing}/read"))).await;
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"detail":"Notification not found"}"#)
    );
    assert_eq!(send(app.delete("alice", missing)).await.0, 404);
    let (status, body) = send(app.patch("alice", "/api/alice/notifications/read-all")).await;
    assert_eq!((status, body.as_str()), (200, r#"{"count":0}"#));
}

#[tokio::test]
async fn responses_are_compact_json_with_sorted_keys_as_before() {
    let app = strict_app().await;
    let created = app
        .post(
            "alice",
            "/api/alice/tasks",
            &json!({"title": "Pay \"rent\" \\ اردو 😀", "tags": ["b", "a"], "dueDate": "2027-01-31T09:00:00.1239Z"}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let task: Value = serde_json::from_str(&created).unwrap();
    // serde_json (no preserve_order) writes objects with sorted keys and no spaces: the bytes
    // the API has always answered, now written by PostgreSQL on reads.
    assert_eq!(created, task.to_string());
    let path = format!("/api/alice/tasks/{}", task["id"].as_str().unwrap());
    assert_eq!(send(app.get("alice", &path)).await, (200, created.clone()));
    assert_eq!(
        send(app.get("alice", "/api/alice/tasks")).await,
        (200, format!("[{created}]"))
    );
    assert_eq!(task["dueDate"], "2027-01-31T09:00:00.123Z");
    // A replayed create answers the first response's bytes.
    let first = app
        .post("alice", "/api/alice/tasks", &json!({"title": "once"}))
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let replay = app
        .post("alice", "/api/alice/tasks", &json!({"title": "once"}))
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.text().await.unwrap(), first);
}
