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
