//! Regression tests for what tests/schemathesis/run found (one test per finding).

use serde_json::{json, Value};
use todo_e2e::spawn_app;

/// RFC 9110 §15.5.6: a 405 must list the served methods in `Allow` (found as
/// `TRACE /health` -> 405 without `Allow`).
#[tokio::test]
async fn method_not_allowed_lists_the_served_methods_in_allow() {
    let app = spawn_app().await;
    let task_id = uuid::Uuid::new_v4();
    for (method, path, allow) in [
        ("TRACE", "/health".to_string(), "GET, OPTIONS"),
        ("POST", "/api/alice/stats".to_string(), "GET, OPTIONS"),
        (
            "PATCH",
            format!("/api/alice/tasks/{task_id}"),
            "DELETE, GET, PUT, OPTIONS",
        ),
        (
            "DELETE",
            "/api/alice/tasks".to_string(),
            "GET, POST, OPTIONS",
        ),
        // A concrete path is not taken by a templated one for another method (found as
        // `DELETE .../notifications/read-all` -> 422 "notification_id must be a UUID").
        (
            "DELETE",
            "/api/alice/notifications/read-all".to_string(),
            "PATCH, OPTIONS",
        ),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(app.token("alice"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(
            response.headers().get("allow").map(|v| v.to_str().unwrap()),
            Some(allow),
            "{method} {path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"detail": "Method Not Allowed"}));
    }
}

/// Found by the `instant` fuzz target (crates/domain/fuzz): instants whose UTC value is outside
/// years 0001-9999 parsed, then failed in PostgreSQL: a 500 instead of a 422.
#[tokio::test]
async fn instants_beyond_years_1_to_9999_are_422_not_500() {
    let app = spawn_app().await;
    for due in [
        "9999-12-31T23:59:59-23:59",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
    ] {
        let response = app
            .post(
                "alice",
                "/api/alice/tasks",
                &json!({"title": "t", "dueDate": due}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{due}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["body", "dueDate"]),
            "{due}"
        );
    }
    for query in [
        "due_before=0000-01-01",
        "due_after=9999-12-31T23:59:59-23:59",
    ] {
        let response = app
            .get("alice", &format!("/api/alice/tasks?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{query}");
    }
    // A forged cursor with an instant key beyond year 9999.
    let cursor = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        json!({"s": "createdAt", "o": "desc", "k": 253_402_300_800_000_000_i64, "i": uuid::Uuid::nil()})
            .to_string(),
    );
    let response = app
        .get("alice", &format!("/api/alice/tasks?cursor={cursor}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    // The limits themselves are fine.
    let task = app
        .create_task(
            "alice",
            json!({"title": "t", "dueDate": "9999-12-31T23:59:59+23:59", "reminderAt": "0001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(task["dueDate"], "9999-12-31T00:00:59.000Z");
    assert_eq!(task["reminderAt"], "0001-01-01T00:00:00.000Z");
}

/// Found while following up schemathesis' NUL finding: `entity_id` went to PostgreSQL as text
/// with a NUL in it, which PostgreSQL refuses: a 500 instead of a 422.
#[tokio::test]
async fn audit_entity_id_with_nul_is_422_not_500() {
    let app = spawn_app().await;
    for query in ["entity_id=%00", "entity_id=a%00b"] {
        let response = app
            .get("alice", &format!("/api/alice/audit?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["detail"][0]["loc"], json!(["query", "entity_id"]));
    }
    let response = app
        .get("alice", "/api/alice/audit?entity_id=no-such-task")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
