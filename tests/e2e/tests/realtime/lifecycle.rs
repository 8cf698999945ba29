//! How a stream is refused, kept alive and ended: bad input refused before streaming, keep-alives
//! and the response lifetime, a Redis outage, an expiring token.

use std::time::Duration;

use jwt_simple::prelude::*;
use serde_json::{json, Value};
use todo_e2e::sse::{open_stream, sse_client, sse_request, Item, Sse};
use todo_e2e::{eventually, expired_token, spawn_app, spawn_app_with, AppOptions, HS256_SECRET};

use crate::{assert_task_frame, start_fanout, WAIT};

/// A refusal: the status, a JSON `{"detail": <detail>}` body and nothing else.
async fn assert_refused(response: reqwest::Response, status: u16, detail: &str) {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "detail": detail }));
}

#[tokio::test]
async fn bad_input_is_refused_before_streaming_without_leaking_anything() {
    let app = spawn_app().await;
    let _workers = start_fanout(&app).await;
    let client = sse_client();
    let url = app.url("/api/sse/alice");
    let send = |request: reqwest::RequestBuilder| async move { request.send().await.unwrap() };

    assert_refused(
        send(client.get(&url)).await,
        401,
        "Authorization header required",
    )
    .await;
    assert_refused(
        send(client.get(&url).header("authorization", "Token abc")).await,
        401,
        "Invalid authorization header format",
    )
    .await;
    assert_refused(
        send(client.get(&url).bearer_auth(expired_token("alice"))).await,
        401,
        "Invalid or expired token",
    )
    .await;
    let mut forged = app.token("alice");
    forged.push('x');
    assert_refused(
        send(client.get(&url).bearer_auth(&forged)).await,
        401,
        "Invalid or expired token",
    )
    .await;
    assert_refused(
        send(client.get(format!("{url}?access_token=not.a.jwt"))).await,
        401,
        "Invalid or expired token",
    )
    .await;
    assert_refused(
        send(client.get(format!("{url}?access_token={}", expired_token("alice")))).await,
        401,
        "Invalid or expired token",
    )
    .await;
    assert_refused(
        send(client.get(&url).bearer_auth(app.token("bob"))).await,
        403,
        "Not authorized to access this user's data",
    )
    .await;
    assert_refused(
        send(client.get(format!("{url}?access_token={}", app.token("bob")))).await,
        403,
        "Not authorized to access this user's data",
    )
    .await;
    for bad in [
        "garbage",
        "1-2-3",
        "-1-0",
        "18446744073709551616-0",
        "1 -2",
        "1700000000000",
    ] {
        assert_refused(
            send(
                client
                    .get(&url)
                    .bearer_auth(app.token("alice"))
                    .header("last-event-id", bad),
            )
            .await,
            400,
            "Invalid Last-Event-ID",
        )
        .await;
    }
    assert_refused(
        send(
            client
                .get(format!("{url}?last_event_id=%00%ff"))
                .bearer_auth(app.token("alice")),
        )
        .await,
        400,
        "Invalid Last-Event-ID",
    )
    .await;
    // An unknown framing is refused, with the parameter named; an empty one is the default.
    let response = send(
        client
            .get(format!("{url}?events=bogus"))
            .bearer_auth(app.token("alice")),
    )
    .await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["query", "events"]),
        "{body}"
    );
    assert_eq!(body["detail"][0]["type"], "enum", "{body}");
    assert!(
        body["detail"][0]["msg"].as_str().unwrap().contains("named"),
        "{body}"
    );
    drop(
        Sse::open(
            client
                .get(format!("{url}?events="))
                .bearer_auth(app.token("alice")),
        )
        .await,
    );
    assert_refused(
        send(
            client
                .get(app.url("/api/sse/"))
                .bearer_auth(app.token("alice")),
        )
        .await,
        404,
        "Not Found",
    )
    .await;
    assert_refused(
        send(
            client
                .get(app.url("/api/sse/alice/more"))
                .bearer_auth(app.token("alice")),
        )
        .await,
        404,
        "Not Found",
    )
    .await;
    assert_refused(
        send(client.post(&url).bearer_auth(app.token("alice"))).await,
        405,
        "Method Not Allowed",
    )
    .await;

    // CORS as for the API.
    let preflight = send(
        client
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "last-event-id"),
    )
    .await;
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert!(preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("Last-Event-ID"));
    let from_browser =
        Sse::open(sse_request(&app, &client, "alice").header("origin", "http://localhost:3000"))
            .await;
    assert_eq!(
        from_browser.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );
    drop(from_browser);
    let evil =
        send(sse_request(&app, &client, "alice").header("origin", "http://evil.example")).await;
    assert!(!evil.headers().contains_key("access-control-allow-origin"));
    drop(evil);

    // An unknown user (never had a task) gets an empty, healthy stream; a user id that needs
    // escaping works; nothing of alice's leaks to either.
    let mut stranger = open_stream(&app, &client, "never-seen-user").await;
    let odd_user = "odd user/{x}";
    let odd_token = {
        let claims =
            Claims::create(jwt_simple::prelude::Duration::from_hours(1)).with_subject(odd_user);
        HS256Key::from_bytes(HS256_SECRET.as_bytes())
            .authenticate(claims)
            .unwrap()
    };
    let mut odd = Sse::open(
        client
            .get(app.url("/api/sse/odd%20user%2F%7Bx%7D"))
            .bearer_auth(&odd_token),
    )
    .await;
    let mut alice = open_stream(&app, &client, "alice").await;
    app.create_task("alice", json!({"title": "private"})).await;
    alice.next_event(WAIT).await;
    stranger.assert_quiet(Duration::from_millis(1000)).await;
    odd.assert_quiet(Duration::from_millis(200)).await;

    // The host survived all of it.
    assert!(app.api.output().contains("todo-host: ready"));
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        !app.api.output().contains("panicked"),
        "{}",
        app.api.output()
    );
}

#[tokio::test]
async fn keep_alives_flow_the_response_ends_after_its_lifetime_and_a_gone_client_frees_its_instance(
) {
    let app = spawn_app_with(AppOptions {
        variables: vec![
            ("sse_lifetime_seconds".into(), "4".into()),
            ("sse_keepalive_seconds".into(), "1".into()),
        ],
    })
    .await;
    let client = sse_client();
    let mut conn = app.redis_connection().await;
    let clients = |info: String| -> i64 {
        info.lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let baseline = clients(
        redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut conn)
            .await
            .unwrap(),
    );

    // Without a lifetime the stream would never end; with 4 s and a keep-alive every second
    // it ends after several keep-alives (counted, not timed), and says why in its log line.
    let mut stream =
        Sse::open(sse_request(&app, &client, "alice").header("x-request-id", "lifetime-stream"))
            .await;
    let mut keepalives = 0;
    loop {
        match stream.next_item(Duration::from_secs(120)).await {
            Some(Item::Comment(c)) => {
                assert_eq!(c, "keep-alive");
                keepalives += 1;
            }
            Some(Item::End) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(keepalives >= 2, "{keepalives} keep-alives");
    let line = todo_e2e::request_line(&app.api, "lifetime-stream").await;
    assert_eq!(line["streamEnd"], "lifetime", "{line}");
    assert_eq!(line["status"], 200, "{line}");

    // Clients that go away: their instances (and Redis connections) end within a keep-alive.
    let mut gone = Vec::new();
    for _ in 0..5 {
        gone.push(open_stream(&app, &client, "alice").await);
    }
    let open_now = clients(
        redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut conn)
            .await
            .unwrap(),
    );
    assert!(
        open_now >= baseline + 5,
        "{open_now} connections with 5 streams (baseline {baseline})"
    );
    drop(gone);
    eventually(
        "the gone clients' Redis connections closed",
        Duration::from_secs(60),
        || {
            let mut conn = conn.clone();
            async move {
                let info: String = redis::cmd("INFO")
                    .arg("clients")
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                match clients(info) {
                    now if now <= baseline => Ok(()),
                    now => Err(format!("{now} connections (baseline {baseline})")),
                }
            }
        },
    )
    .await;
}

/// Redis down: an open stream ends (the client resumes later); a new connection gets `200`
/// with only the retry hint and ends, so an EventSource keeps retrying instead of giving up
/// on a 5xx; once Redis is back, streams work again.
#[tokio::test]
async fn a_redis_outage_ends_streams_and_tells_clients_to_retry() {
    // A user no other test uses: while this test's Redis is down its port is free, and a
    // redis-server started meanwhile by a concurrent test could take it (see the report).
    const USER: &str = "outage-user";
    let mut app = spawn_app().await;
    let client = sse_client();
    let mut open =
        Sse::open(sse_request(&app, &client, USER).header("x-request-id", "open-during-outage"))
            .await;
    app.redis.stop();
    match open.next_item(Duration::from_secs(60)).await {
        Some(Item::End) => {}
        other => panic!("expected the stream to end, got {other:?}"),
    }
    let line = todo_e2e::request_line(&app.api, "open-during-outage").await;
    assert_eq!(line["streamEnd"], "redis-failed", "{line}");

    let mut refused =
        Sse::open(sse_request(&app, &client, USER).header("x-request-id", "opened-during-outage"))
            .await;
    assert_eq!(refused.headers["content-type"], "text/event-stream");
    match refused.next_item(Duration::from_secs(60)).await {
        Some(Item::End) => {}
        other => panic!("expected an immediate end, got {other:?}"),
    }
    let line = todo_e2e::request_line(&app.api, "opened-during-outage").await;
    assert_eq!(line["streamEnd"], "redis-unavailable", "{line}");
    assert!(
        line["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("Redis unavailable, the client is told to retry"),
        "{line}"
    );

    app.redis.start_again();
    let _workers = start_fanout(&app).await;
    let mut back = open_stream(&app, &client, USER).await;
    let task = app
        .create_task(USER, json!({"title": "after the outage"}))
        .await;
    let event = back.next_event(WAIT).await;
    assert_task_frame(
        &event,
        "task-created",
        "created",
        task["id"].as_str().unwrap(),
        USER,
    );
}

/// A stream opened with a token that expires soon ends when it expires (not after its
/// lifetime), so a revoked session does not stream on; the log line says why.
#[tokio::test]
async fn a_stream_ends_when_its_token_expires() {
    let app = spawn_app_with(AppOptions {
        variables: vec![("sse_lifetime_seconds".into(), "3600".into())],
    })
    .await;
    let client = sse_client();
    let claims = Claims::create(jwt_simple::prelude::Duration::from_secs(3)).with_subject("alice");
    let expires_at = claims.expires_at.unwrap().as_secs();
    let token = HS256Key::from_bytes(HS256_SECRET.as_bytes())
        .authenticate(claims)
        .unwrap();
    let mut stream = Sse::open(
        client
            .get(app.url(&format!("/api/sse/alice?access_token={token}")))
            .header("x-request-id", "short-lived-token"),
    )
    .await;
    // Without the expiry the stream would last an hour.
    loop {
        match stream.next_item(Duration::from_secs(120)).await {
            Some(Item::Comment(_)) => continue,
            Some(Item::End) => break,
            other => panic!("expected the stream to end, got {other:?}"),
        }
    }
    let line = todo_e2e::request_line(&app.api, "short-lived-token").await;
    assert_eq!(line["streamEnd"], "token-expired", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(line["route"], "/api/sse/{user_id}", "{line}");
    // It ended at the expiry, not before (the server's own clock, from its line).
    let started = chrono::DateTime::parse_from_rfc3339(line["time"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let ended = started + line["durationMs"].as_i64().unwrap();
    assert!(
        ended >= expires_at as i64 * 1000 - 1000,
        "ended at {ended} ms, the token expires at {expires_at} s"
    );
}
