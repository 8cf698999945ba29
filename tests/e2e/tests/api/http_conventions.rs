//! API.md conventions: health, request ids, CORS, body limits, content types, error shapes,
//! unknown routes, stats.

use serde_json::{json, Value};
use todo_e2e::spawn_app;

#[tokio::test]
async fn health_reports_both_dependencies() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "ok");
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated_on_every_response() {
    let app = spawn_app().await;
    let echoed = app
        .get("alice", "/api/alice/tasks")
        .header("x-request-id", "abc-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-42");
    let generated = app
        .client
        .get(app.url("/api/alice/tasks"))
        .send()
        .await
        .unwrap();
    assert_eq!(generated.status(), 401);
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    uuid::Uuid::parse_str(id).unwrap();
}

#[tokio::test]
async fn cors_preflight_and_simple_responses() {
    let app = spawn_app().await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/alice/tasks"))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
        "last-event-id",
    ] {
        assert!(allowed.contains(h), "{h} allowed");
    }
    assert!(headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PATCH"));

    let foreign = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/alice/tasks"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "DELETE")
        .send()
        .await
        .unwrap();
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let simple = app
        .get("alice", "/api/alice/tasks")
        .header("origin", "http://127.0.0.1:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "http://127.0.0.1:3000"
    );
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    for h in ["ETag", "X-Request-Id", "X-Next-Cursor"] {
        assert!(exposed.contains(h));
    }
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_even_without_content_length() {
    let app = spawn_app().await;
    let big = json!({"title": "t", "description": "x".repeat(70 * 1024)});
    let response = app
        .post("alice", "/api/alice/tasks", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(response.json::<Value>().await.unwrap()["detail"].is_string());

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let streamed = app
        .client
        .post(app.url("/api/alice/tasks"))
        .bearer_auth(app.token("alice"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 413);
    let count: i64 = app
        .pg()
        .await
        .query_one("SELECT count(*) FROM tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn wrong_content_type_and_malformed_json_are_client_errors() {
    let app = spawn_app().await;
    let url = app.url("/api/alice/tasks");
    let text = app
        .client
        .post(&url)
        .bearer_auth(app.token("alice"))
        .header("content-type", "text/plain")
        .body(r#"{"title":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    for body in ["{", "{\"title\": }", "", "nul"] {
        let response = app
            .raw_json(reqwest::Method::POST, "alice", "/api/alice/tasks", body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
        assert!(response.json::<Value>().await.unwrap()["detail"].is_string());
    }
    let not_object = app
        .post("alice", "/api/alice/tasks", &json!(["title"]))
        .send()
        .await
        .unwrap();
    assert_eq!(not_object.status(), 422);
}

/// `depth` arrays nested in one another, innermost empty: `[[...[]...]]`.
fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// The deepest JSON the parser accepts (serde_json's limit of 128 nested values) and the
/// deepest a 64 KiB body can carry: the components' wasm stack must hold the first, and the
/// second must be refused by the parser, not by a trap (a 500).
#[tokio::test]
async fn deeply_nested_bodies_are_client_errors() {
    let app = spawn_app().await;
    let cases = [
        (
            format!(r#"{{"title":"x","tags":{}}}"#, nested_arrays(126)),
            422,
        ),
        (
            format!(r#"{{"title":"x","tags":{}}}"#, nested_arrays(127)),
            400,
        ),
        (nested_arrays(32 * 1024 - 1), 400),
        (
            format!(
                r#"{{"title":{}1{}}}"#,
                r#"{"a":"#.repeat(8000),
                "}".repeat(8000)
            ),
            400,
        ),
    ];
    let task = app
        .post("alice", "/api/alice/tasks", &json!({"title": "kept"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let task_path = format!("/api/alice/tasks/{}", task["id"].as_str().unwrap());
    for (body, status) in &cases {
        for (method, path) in [
            (reqwest::Method::POST, "/api/alice/tasks"),
            (reqwest::Method::PUT, task_path.as_str()),
        ] {
            let response = app
                .raw_json(method, "alice", path, body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), *status, "{}", &body[..40]);
            let detail = &response.json::<Value>().await.unwrap()["detail"];
            assert!(detail.is_string() || detail.is_array(), "{detail}");
        }
    }
    let tasks = todo_e2e::db::count(&app.pg().await, "SELECT count(*) FROM tasks", &[]).await;
    assert_eq!(tasks, 1);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = spawn_app().await;
    let missing = app.get("alice", "/api/alice/nothing").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.json::<Value>().await.unwrap()["detail"].is_string());
    let wrong_method = app
        .client
        .delete(app.url("/api/alice/tasks"))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
}

#[tokio::test]
async fn stats_count_in_sql_per_user() {
    let app = spawn_app().await;
    let one = app
        .create_task(
            "alice",
            json!({"title": "a", "dueDate": "2020-01-01T00:00:00Z", "priority": "high"}),
        )
        .await;
    app.create_task("alice", json!({"title": "b"})).await;
    let three = app.create_task("alice", json!({"title": "c"})).await;
    app.create_task("bob", json!({"title": "bob's"})).await;
    app.patch(
        "alice",
        &format!(
            "/api/alice/tasks/{}/complete",
            three["id"].as_str().unwrap()
        ),
    )
    .send()
    .await
    .unwrap();
    let stats: Value = app
        .get("alice", "/api/alice/stats")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total"], 3);
    assert_eq!(stats["pending"], 2);
    assert_eq!(stats["completed"], 1);
    assert_eq!(stats["overdue"], 1);
    assert_eq!(stats["highPriorityPending"], 1);
    let _ = one;
    let empty: Value = app
        .get("carol", "/api/carol/stats")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(empty["total"], 0);
}

#[tokio::test]
async fn probes_keep_the_api_in_service_while_redis_is_down() {
    let mut app = spawn_app().await;
    app.redis.stop();
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503, "/health reports the outage (API.md)");
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["redis"], "unavailable");
    assert_eq!(body["postgres"], "ok");
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "readiness needs only PostgreSQL");
    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
}
