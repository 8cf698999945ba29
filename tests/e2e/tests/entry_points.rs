//! What every entry point does the same way, end to end on the local host with the real
//! components: one JSON log line per request, per consumed event and per sweep (fields, route
//! templates, causes, and never a token or a secret) from every HTTP component (the API, the
//! realtime stream, the sweeps, `/mcp`, the assistant), and the two sweep routes answering
//! alike.

use chrono::DateTime;
use jwt_simple::prelude::*;
use serde_json::{json, Map, Value};
use todo_e2e::assistant::{spawn_assistant_app, FakeModel};
use todo_e2e::test_support::HostProcess;
use todo_e2e::{
    log_lines, request_line, served_url, spawn_app_with, wait_for_log_lines, AppOptions,
    HS256_SECRET, SWEEP_TOKEN,
};

const REQUEST_FIELDS: &[&str] = &[
    "time",
    "level",
    "kind",
    "component",
    "requestId",
    "method",
    "route",
    "status",
    "durationMs",
];
/// Fields a request line may add to those above.
const OPTIONAL_REQUEST_FIELDS: &[&str] = &["cause", "notes", "streamEnd", "counts"];

fn token(user: &str, lifetime: jwt_simple::prelude::Duration) -> String {
    HS256Key::from_bytes(HS256_SECRET.as_bytes())
        .authenticate(Claims::create(lifetime).with_subject(user))
        .unwrap()
}

/// Checks the fields every request line has.
fn assert_request_line(
    line: &Value,
    component: &str,
    method: &str,
    route: Option<&str>,
    status: u16,
) {
    let object = line.as_object().unwrap();
    for field in REQUEST_FIELDS {
        assert!(object.contains_key(*field), "{field} missing: {line}");
    }
    for field in object.keys() {
        assert!(
            REQUEST_FIELDS.contains(&field.as_str())
                || OPTIONAL_REQUEST_FIELDS.contains(&field.as_str()),
            "unexpected field {field}: {line}"
        );
    }
    let time = line["time"].as_str().unwrap();
    assert!(time.ends_with('Z'), "UTC: {line}");
    DateTime::parse_from_rfc3339(time).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(line["kind"], "request", "{line}");
    assert_eq!(line["component"], component, "{line}");
    assert_eq!(line["method"], method, "{line}");
    assert_eq!(line["route"], json!(route), "{line}");
    assert_eq!(line["status"], status, "{line}");
    assert!(line["durationMs"].is_u64(), "{line}");
    let level = if status >= 500 { "error" } else { "info" };
    assert_eq!(line["level"], level, "{line}");
    assert_eq!(
        line.get("cause").is_some(),
        status >= 500,
        "a cause exactly on 5xx: {line}"
    );
}

/// Every byte `hosts` printed: no token, no secret, no query string.
fn assert_nothing_secret(hosts: &[&HostProcess], secrets: &[String]) {
    for host in hosts {
        let output = host.output();
        for secret in secrets {
            assert!(
                !output.contains(secret.as_str()),
                "a secret ({}...) is in the output:\n{output}",
                &secret[..secret.len().min(12)]
            );
        }
        assert!(!output.contains("access_token"), "{output}");
        assert!(!output.contains("?events"), "{output}");
    }
}

/// Exactly one line per request (the tests' request ids start with `log-`), everywhere.
fn assert_one_line_per_request(hosts: &[&HostProcess]) {
    for host in hosts {
        let mut ids: Vec<String> = log_lines(host)
            .iter()
            .filter(|l| l["kind"] == "request")
            .map(|l| l["requestId"].as_str().unwrap().to_string())
            .filter(|id| id.starts_with("log-"))
            .collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "a request with two lines: {ids:?}");
    }
}

/// The line's first note says why the token was refused.
fn assert_refusal_noted(line: &Value, why: &str) {
    let note = line["notes"][0].as_str().unwrap_or_default();
    assert!(
        note.starts_with(&format!("authentication failed: {why}")),
        "why the token was refused: {line}"
    );
}

async fn send(request: reqwest::RequestBuilder) -> u16 {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    response.bytes().await.unwrap();
    status
}

fn without(line: &Value, keys: &[&str]) -> Map<String, Value> {
    let mut object = line.as_object().unwrap().clone();
    for key in keys {
        object.remove(*key);
    }
    object
}

/// The API and realtime on one host, the consumers and both sweep routes (and the reminder
/// sweep's cron trigger) on another; requests with known ids; then every line is read back.
#[tokio::test]
async fn every_request_event_and_sweep_writes_one_json_line_and_no_secret() {
    let app = spawn_app_with(AppOptions {
        variables: vec![("sse_lifetime_seconds".into(), "1".into())],
    })
    .await;
    let workers = app
        .host_builder()
        .component("realtime-fanout")
        .component("audit-service")
        .component("recurring-service")
        .component("notification-service")
        .component("notification-sweep")
        .component("outbox-sweep")
        .spawn();
    let workers_url = served_url(&workers);
    let alice = token("alice", jwt_simple::prelude::Duration::from_hours(1));
    let mut forged = token("alice", jwt_simple::prelude::Duration::from_hours(1));
    forged.push('x');
    let stream_token = token("alice", jwt_simple::prelude::Duration::from_hours(1));
    let client = &app.client;
    let url = |path: &str| app.url(path);

    let created: Value = {
        let response = client
            .post(url("/api/alice/tasks"))
            .bearer_auth(&alice)
            .header("x-request-id", "log-create")
            .json(&json!({"title": "Logged", "recurringRule": "daily", "dueDate": "2027-01-01T09:00:00Z"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    };
    let id = created["id"].as_str().unwrap();
    let task = format!("/api/alice/tasks/{id}");
    let missing = "/api/alice/tasks/00000000-0000-4000-8000-000000000000";
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        ("log-get", client.get(url(&task)).bearer_auth(&alice), 200),
        ("log-404", client.get(url(missing)).bearer_auth(&alice), 404),
        (
            "log-422",
            client
                .post(url("/api/alice/tasks"))
                .bearer_auth(&alice)
                .json(&json!({"title": ""})),
            422,
        ),
        ("log-401", client.get(url(&task)).bearer_auth(&forged), 401),
        ("log-unrouted", client.get(url("/api/alice/nothing")), 404),
        (
            "log-405",
            client.delete(url("/api/alice/tasks")).bearer_auth(&alice),
            405,
        ),
        (
            "log-preflight",
            client
                .request(reqwest::Method::OPTIONS, url(&task))
                .header("origin", "http://localhost:3000")
                .header("access-control-request-method", "PUT"),
            204,
        ),
        (
            "log-complete",
            client
                .patch(url(&format!("{task}/complete")))
                .bearer_auth(&alice),
            200,
        ),
        (
            "log-sse",
            client.get(url(&format!(
                "/api/sse/alice?access_token={stream_token}&events=named"
            ))),
            200,
        ),
        (
            "log-sse-401",
            client.get(url("/api/sse/alice?access_token=not.a.jwt")),
            401,
        ),
        (
            "log-sweep-outbox",
            client
                .post(format!("{workers_url}/internal/sweeps/outbox"))
                .bearer_auth(SWEEP_TOKEN),
            200,
        ),
        (
            "log-sweep-reminders",
            client
                .post(format!("{workers_url}/internal/sweeps/reminders"))
                .bearer_auth(SWEEP_TOKEN),
            200,
        ),
    ];
    for (request_id, request, status) in cases {
        // The SSE response ends after its 1 s lifetime; reading the body waits for it.
        assert_eq!(
            send(request.header("x-request-id", request_id)).await,
            status,
            "{request_id}"
        );
    }

    let api = |id: &'static str| request_line(&app.api, id);
    let line = api("log-create").await;
    assert_request_line(
        &line,
        "backend-api",
        "POST",
        Some("/api/{user_id}/tasks"),
        201,
    );
    let template = Some("/api/{user_id}/tasks/{task_id}");
    assert_request_line(&api("log-get").await, "backend-api", "GET", template, 200);
    assert_request_line(&api("log-404").await, "backend-api", "GET", template, 404);
    let line = api("log-422").await;
    assert_request_line(
        &line,
        "backend-api",
        "POST",
        Some("/api/{user_id}/tasks"),
        422,
    );
    let line = api("log-401").await;
    assert_request_line(&line, "backend-api", "GET", template, 401);
    assert_refusal_noted(&line, "invalid token");
    assert_request_line(&api("log-unrouted").await, "backend-api", "GET", None, 404);
    let line = api("log-405").await;
    assert_request_line(
        &line,
        "backend-api",
        "DELETE",
        Some("/api/{user_id}/tasks"),
        405,
    );
    let line = api("log-preflight").await;
    assert_request_line(&line, "backend-api", "OPTIONS", template, 204);
    let line = api("log-complete").await;
    let toggle = Some("/api/{user_id}/tasks/{task_id}/complete");
    assert_request_line(&line, "backend-api", "PATCH", toggle, 200);
    let line = api("log-sse").await;
    assert_request_line(&line, "realtime", "GET", Some("/api/sse/{user_id}"), 200);
    assert_eq!(line["streamEnd"], "lifetime", "{line}");
    let line = api("log-sse-401").await;
    assert_request_line(&line, "realtime", "GET", Some("/api/sse/{user_id}"), 401);
    for (id, component, route) in [
        (
            "log-sweep-outbox",
            "outbox-relay",
            "/internal/sweeps/outbox",
        ),
        (
            "log-sweep-reminders",
            "notification-service",
            "/internal/sweeps/reminders",
        ),
    ] {
        let line = request_line(&workers, id).await;
        assert_request_line(&line, component, "POST", Some(route), 200);
        assert!(line["counts"].is_object(), "the sweep's counts: {line}");
    }

    // The completion's events, and the task-created of the successor it caused: one line per
    // consumer and event, all tied to the request by its id.
    let events = wait_for_log_lines(&workers, "the completion's event lines", 7, |l| {
        l["kind"] == "event" && l["correlationId"] == "log-complete"
    })
    .await;
    let mut seen: Vec<(String, String, String)> = events
        .iter()
        .map(|l| {
            assert_eq!(l["level"], "info", "{l}");
            assert!(l["eventId"].is_string() && l["durationMs"].is_u64(), "{l}");
            DateTime::parse_from_rfc3339(l["time"].as_str().unwrap()).unwrap();
            (
                l["component"].as_str().unwrap().to_string(),
                l["topic"].as_str().unwrap().to_string(),
                l["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    let expected = [
        ("audit-service", "task-completed", "recorded"),
        ("audit-service", "task-created", "recorded"),
        ("audit-service", "task-updated", "recorded"),
        ("realtime-fanout", "task-completed", "appended"),
        ("realtime-fanout", "task-created", "appended"),
        ("realtime-fanout", "task-updated", "appended"),
        ("recurring-service", "task-completed", "created"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(seen, expected);

    // The reminder sweep's cron trigger: one line per tick.
    let ticks = wait_for_log_lines(&workers, "a cron sweep line", 1, |l| {
        l["kind"] == "sweep" && l["component"] == "notification-service"
    })
    .await;
    let tick = &ticks[0];
    assert_eq!(tick["trigger"], "cron", "{tick}");
    assert_eq!(tick["outcome"], "ok", "{tick}");
    assert_eq!(tick["level"], "info", "{tick}");
    assert!(tick["counts"]["fired"].is_u64(), "{tick}");
    assert!(tick["durationMs"].is_u64(), "{tick}");

    // A 5xx line carries its cause (and the client only the request id).
    let broken = app
        .host_builder_without_database()
        .component("backend-api")
        .spawn();
    let response = client
        .get(format!("{}/api/alice/tasks", served_url(&broken)))
        .bearer_auth(&alice)
        .header("x-request-id", "log-503")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["request_id"], "log-503");
    let line = request_line(&broken, "log-503").await;
    assert_request_line(
        &line,
        "backend-api",
        "GET",
        Some("/api/{user_id}/tasks"),
        503,
    );
    // The database's own error (which one depends on what, if anything, has the port now).
    assert!(
        line["cause"].as_str().unwrap().starts_with("unavailable: "),
        "{line}"
    );

    assert_one_line_per_request(&[&app.api, &workers, &broken]);
    assert_nothing_secret(
        &[&app.api, &workers, &broken],
        &[
            alice,
            forged,
            stream_token,
            SWEEP_TOKEN.to_string(),
            HS256_SECRET.to_string(),
            app.db.url.clone(),
        ],
    );
}

/// `POST /internal/sweeps/reminders` and `POST /internal/sweeps/outbox` share one entry point:
/// for every request they answer the same status, headers and error body (405 before the
/// token is looked at, 401 without the right token, 503 unconfigured or with the database
/// down, the request id in a 5xx body and in `X-Request-Id`, `Cache-Control: no-store`).
#[tokio::test]
async fn the_two_sweep_routes_answer_every_request_alike() {
    let app = spawn_app_with(AppOptions::default()).await;
    let sweeps = |builder: todo_e2e::test_support::HostBuilder| {
        builder
            .component("notification-sweep")
            .component("outbox-sweep")
            .spawn()
    };
    let configured = sweeps(app.host_builder());
    let unconfigured = sweeps(app.host_builder().variable("sweep_token", ""));
    let no_database = sweeps(app.host_builder_without_database());
    let bearer = format!("Bearer {SWEEP_TOKEN}");
    let cases: Vec<(&str, &HostProcess, reqwest::Method, Option<String>, u16)> = vec![
        (
            "get-with-token",
            &configured,
            reqwest::Method::GET,
            Some(bearer.clone()),
            405,
        ),
        (
            "get-without-token",
            &configured,
            reqwest::Method::GET,
            None,
            405,
        ),
        ("no-token", &configured, reqwest::Method::POST, None, 401),
        (
            "wrong-token",
            &configured,
            reqwest::Method::POST,
            Some(format!("Bearer {SWEEP_TOKEN}x")),
            401,
        ),
        (
            "basic",
            &configured,
            reqwest::Method::POST,
            Some(format!("Basic {SWEEP_TOKEN}")),
            401,
        ),
        (
            "unconfigured",
            &unconfigured,
            reqwest::Method::POST,
            Some(bearer.clone()),
            503,
        ),
        (
            "no-database",
            &no_database,
            reqwest::Method::POST,
            Some(bearer.clone()),
            503,
        ),
        (
            "swept",
            &configured,
            reqwest::Method::POST,
            Some(bearer.clone()),
            200,
        ),
    ];
    for (case, host, method, authorization, status) in cases {
        let mut answers = Vec::new();
        for (route, component) in [
            ("/internal/sweeps/reminders", "notification-service"),
            ("/internal/sweeps/outbox", "outbox-relay"),
        ] {
            let request_id = format!("{case}{}", route.replace('/', "-"));
            let mut request = app
                .client
                .request(method.clone(), format!("{}{route}", served_url(host)))
                .header("x-request-id", &request_id);
            if let Some(authorization) = &authorization {
                request = request.header("authorization", authorization);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), status, "{case} {route}");
            let headers = response.headers().clone();
            assert_eq!(
                headers["x-request-id"],
                request_id.as_str(),
                "{case} {route}"
            );
            assert_eq!(headers["cache-control"], "no-store", "{case} {route}");
            assert_eq!(
                headers["content-type"], "application/json",
                "{case} {route}"
            );
            let named = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
            let body: Value = response.json().await.unwrap();
            if status == 200 {
                assert!(body.is_object() && body.get("detail").is_none(), "{body}");
            }
            if status >= 500 {
                assert_eq!(body["request_id"], request_id.as_str(), "{case} {route}");
            }
            let line = request_line(host, &request_id).await;
            assert_request_line(&line, component, method.as_str(), Some(route), status);
            // What must be the same on both routes: all but the sweep's own summary.
            let body = if status == 200 {
                json!("a summary")
            } else {
                Value::Object(without(&body, &["request_id"]))
            };
            answers.push((
                body,
                named("allow"),
                named("www-authenticate"),
                named("retry-after"),
            ));
        }
        assert_eq!(
            answers[0], answers[1],
            "{case}: the routes answer differently"
        );
    }
    drop(app);
}

/// `/mcp` (and its metadata documents) and the assistant's routes write their one line like the
/// API: the route template, the status, why a token was refused (never the token), a cause on
/// a 5xx, and for a streamed ChatKit answer the line when the stream ends.
#[tokio::test]
async fn mcp_and_assistant_requests_write_one_line_each_and_no_token() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    model.script(json!([{"text": "Nothing to do."}])).await;
    model.script(json!([{"text": "Hello."}])).await;
    let alice = token("alice", jwt_simple::prelude::Duration::from_hours(1));
    let mut forged = token("alice", jwt_simple::prelude::Duration::from_hours(1));
    forged.push('x');
    let unconfigured = app
        .host_builder()
        .variable("llm_model", "")
        .component("assistant")
        .spawn();
    let client = &app.client;
    let mcp = |authorization: Option<&str>| {
        let request = client
            .post(app.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "get_stats", "arguments": {}}}));
        match authorization {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };
    let chatkit_create = json!({"type": "threads.create", "params": {"input": {
        "content": [{"type": "input_text", "text": "hello"}], "attachments": [],
        "inference_options": {}}}});
    let cases: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        ("log-mcp-call", mcp(Some(&alice)), 200),
        ("log-mcp-401", mcp(Some(&forged)), 401),
        ("log-mcp-no-token", mcp(None), 401),
        (
            "log-mcp-405",
            client.get(app.url("/mcp")).bearer_auth(&alice),
            405,
        ),
        (
            "log-mcp-metadata",
            client.get(app.url("/.well-known/oauth-protected-resource/mcp")),
            200,
        ),
        (
            "log-chat",
            client
                .post(app.url("/api/chat"))
                .bearer_auth(&alice)
                .json(&json!({"message": "what do I have to do?"})),
            200,
        ),
        (
            "log-chat-401",
            client
                .post(app.url("/api/chat"))
                .bearer_auth(&forged)
                .json(&json!({"message": "hi"})),
            401,
        ),
        (
            "log-chat-405",
            client.get(app.url("/api/chat")).bearer_auth(&alice),
            405,
        ),
        (
            "log-chatkit",
            client
                .post(app.url("/api/chatkit"))
                .bearer_auth(&alice)
                .json(&chatkit_create),
            200,
        ),
        (
            "log-chat-503",
            client
                .post(format!("{}/api/chat", served_url(&unconfigured)))
                .bearer_auth(&alice)
                .json(&json!({"message": "hi"})),
            503,
        ),
    ];
    for (request_id, request, status) in cases {
        assert_eq!(
            send(request.header("x-request-id", request_id)).await,
            status,
            "{request_id}"
        );
    }

    let line = |id: &'static str| request_line(&app.api, id);
    assert_request_line(
        &line("log-mcp-call").await,
        "mcp",
        "POST",
        Some("/mcp"),
        200,
    );
    for (id, why) in [
        ("log-mcp-401", "invalid token"),
        ("log-mcp-no-token", "Authorization header required"),
    ] {
        let line = line(id).await;
        assert_request_line(&line, "mcp", "POST", Some("/mcp"), 401);
        assert_refusal_noted(&line, why);
    }
    assert_request_line(&line("log-mcp-405").await, "mcp", "GET", Some("/mcp"), 405);
    assert_request_line(
        &line("log-mcp-metadata").await,
        "mcp",
        "GET",
        Some("/.well-known/oauth-protected-resource/mcp"),
        200,
    );
    let chat = Some("/api/chat");
    assert_request_line(&line("log-chat").await, "assistant", "POST", chat, 200);
    let refused = line("log-chat-401").await;
    assert_request_line(&refused, "assistant", "POST", chat, 401);
    assert_refusal_noted(&refused, "invalid token");
    assert_request_line(&line("log-chat-405").await, "assistant", "GET", chat, 405);
    let streamed = line("log-chatkit").await;
    assert_request_line(&streamed, "assistant", "POST", Some("/api/chatkit"), 200);
    assert_eq!(streamed["streamEnd"], "done", "{streamed}");
    let down = request_line(&unconfigured, "log-chat-503").await;
    assert_request_line(&down, "assistant", "POST", chat, 503);
    assert!(
        down["cause"].as_str().unwrap().contains("llm_model"),
        "the operator's next step: {down}"
    );

    assert_one_line_per_request(&[&app.api, &unconfigured]);
    assert_nothing_secret(
        &[&app.api, &unconfigured],
        &[
            alice,
            forged,
            HS256_SECRET.to_string(),
            "test-llm-key".to_string(),
            app.db.url.clone(),
        ],
    );
}
