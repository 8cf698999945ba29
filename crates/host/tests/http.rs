//! HTTP trigger: routing, `spin-*` headers, health, output prefixing, environment and
//! variables, streamed responses, client disconnects, outbound HTTP, component selection.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt as _;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_and_spin_headers_follow_spin() {
    let app = app("routing");
    let host = spawn(app.host()).await;
    let base = host.base_url().to_string();

    // Trailing wildcard: path-info is the part after the prefix.
    let (status, body) = get(&format!("{base}/api/tasks/7?op=headers&x=1")).await;
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    let h = &v["headers"];
    assert_eq!(h["spin-path-info"], "/tasks/7");
    assert_eq!(h["spin-matched-route"], "/api/...");
    assert_eq!(h["spin-raw-component-route"], "/api/...");
    assert_eq!(h["spin-component-route"], "/api");
    assert_eq!(h["spin-base-path"], "/");
    assert_eq!(
        h["spin-full-url"],
        format!("{base}/api/tasks/7?op=headers&x=1")
    );
    let client_addr = h["spin-client-addr"].as_str().expect("client addr");
    assert!(client_addr.starts_with("127.0.0.1:"), "{client_addr}");
    assert!(
        h.get("connection").is_none(),
        "Connection must be stripped: {h}"
    );
    assert_eq!(v["path_with_query"], "/api/tasks/7?op=headers&x=1");

    // `:name` capture.
    let (_, body) = get(&format!("{base}/users/Alice_1?op=headers")).await;
    let v = json(&body);
    assert_eq!(v["headers"]["spin-path-match-user-id"], "Alice_1");
    assert_eq!(v["headers"]["spin-path-info"], "");
    assert_eq!(v["headers"]["spin-matched-route"], "/users/:user_id");

    // Exact beats wildcard; the later of two identical routes wins.
    let (_, body) = get(&format!("{base}/api/special?op=env")).await;
    assert_eq!(json(&body)["env"], "second");
    let (_, body) = get(&format!("{base}/api/other?op=env")).await;
    assert_eq!(json(&body)["env"], "first");
    let (_, body) = get(&format!("{base}/dup?op=env")).await;
    assert_eq!(json(&body)["env"], "second");

    // No match: 404; exact route does not match deeper paths.
    assert_eq!(get(&format!("{base}/nothing")).await.0, 404);
    assert_eq!(get(&format!("{base}/exact/more")).await.0, 404);
    assert_eq!(
        get(&format!("{base}/exact?op=hello")).await,
        (200, "hello".to_string())
    );

    // Health endpoint.
    assert_eq!(
        get(&format!("{base}/.well-known/spin/health")).await,
        (200, "OK".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_prints_routes_and_serving_line() {
    let app = app("routing");
    let host = spawn(app.host()).await;
    let out = host.output();
    assert!(out.contains("Serving http://127.0.0.1:"), "{out}");
    assert!(out.contains("Available Routes:"), "{out}");
    assert!(out.contains("first: http://127.0.0.1:"), "{out}");
    assert!(out.contains("/api (wildcard)"), "{out}");
    assert!(!host.base_url().ends_with(":0"));
}

/// As `spin up` shows them: the guest's lines as written, without a `[component]` prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_stdout_and_stderr_lines_are_forwarded_unchanged() {
    let app = app("http");
    let host = spawn(app.host()).await;
    let (status, _) = get(&format!("{}/x?op=print", host.base_url())).await;
    assert_eq!(status, 200);
    for line in ["hello from stdout", "hello from stderr"] {
        assert!(
            host.wait_for_output(line, Duration::from_secs(60)),
            "{}",
            host.output()
        );
        assert!(
            host.output().lines().any(|l| l == line),
            "{line:?} is not a line of its own:\n{}",
            host.output()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_and_component_variables() {
    let app = app("http");
    // Env var beats the default; a .env file in the working directory is read too.
    app.write(".env", "SPIN_VARIABLE_GREETING=from-dotenv\n");
    let host = spawn(app.host()).await;
    let base = host.base_url().to_string();
    let v = json(&get(&format!("{base}/x?op=env&name=message")).await.1);
    assert_eq!(v["env"], "from-manifest");
    assert_eq!(v["variable"], "Ok(\"from-dotenv, world\")");
    // Only keys of [component.x.variables] are visible; application variables are not.
    let v = json(&get(&format!("{base}/x?op=env&name=greeting")).await.1);
    assert!(v["variable"].as_str().unwrap().contains("Undefined"), "{v}");
    // A component without variables or environment.
    let v = json(&get(&format!("{base}/locked/x?op=env&name=message")).await.1);
    assert_eq!(v["env"], serde_json::Value::Null);
    assert!(v["variable"].as_str().unwrap().contains("Undefined"), "{v}");
    drop(host);

    let host = spawn(app.host().variable("greeting", "from-env")).await;
    let v = json(
        &get(&format!("{}/x?op=env&name=message", host.base_url()))
            .await
            .1,
    );
    assert_eq!(v["variable"], "Ok(\"from-env, world\")");
}

/// The head and each frame reach the client while the guest is still running: the guest
/// writes a frame only after the test received the previous one and opened a gate (a Redis
/// list it blocks on), so nothing here depends on timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_response_chunks_arrive_incrementally() {
    let redis = RedisServer::start();
    let app = app("http");
    let host = spawn(app.host().variable("redis_host", redis.host_port())).await;
    let mut conn = redis_conn(&redis).await;
    let address: String = url::form_urlencoded::byte_serialize(redis.url().as_bytes()).collect();
    let resp = client()
        .get(format!(
            "{}/x?op=gated-stream&n=4&gate=gate&address={address}",
            host.base_url()
        ))
        .send()
        .await
        .expect("response head");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    for frame in 0..4 {
        if frame > 0 {
            let _: i64 = redis::cmd("LPUSH")
                .arg("gate")
                .arg("go")
                .query_async(&mut conn)
                .await
                .unwrap();
        }
        // Frame `frame` can only have been written after the gate opened for it.
        while !text.contains(&format!("data: {frame}\n\n")) {
            let chunk = tokio::time::timeout(Duration::from_secs(60), stream.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("frame {frame} did not arrive: {text:?}\n{}", host.output())
                })
                .expect("the body goes on")
                .expect("chunk");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(
            !text.contains(&format!("data: {}", frame + 1)),
            "frame {} came before its gate opened: {text:?}",
            frame + 1
        );
    }
    assert!(
        stream.next().await.is_none(),
        "the body ends after 4 frames"
    );
    assert_eq!(text, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_ends_the_instance() {
    let app = app("http");
    let host = spawn(app.host()).await;
    let resp = client()
        .get(format!("{}/x?op=stream&n=100&ms=100", host.base_url()))
        .send()
        .await
        .expect("response head");
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.expect("a first chunk").expect("chunk");
    assert!(String::from_utf8_lossy(&first).contains("data: 0"));
    drop(stream);
    assert!(
        host.wait_for_output("stream ended early", Duration::from_secs(60)),
        "the guest should see its writes fail once the client is gone:\n{}",
        host.output()
    );
    assert!(!host.output().contains("stream finished 100"));
}

/// A one-shot HTTP server answering `200 ok` to every request.
async fn tiny_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_only_to_allowed_hosts() {
    let port = tiny_server().await;
    let other = tiny_server().await;
    let app = app("http");
    let host = spawn(
        app.host()
            .variable("outbound_origin", format!("http://127.0.0.1:{port}")),
    )
    .await;
    let base = host.base_url().to_string();
    let (_, body) = get(&format!(
        "{base}/x?op=outbound&url=http://127.0.0.1:{port}/hi"
    ))
    .await;
    assert_eq!(body, "Ok(200)");
    let (_, body) = get(&format!(
        "{base}/x?op=outbound&url=http://127.0.0.1:{other}/hi"
    ))
    .await;
    assert!(body.contains("HttpRequestDenied"), "{body}");
    let (_, body) = get(&format!(
        "{base}/locked/x?op=outbound&url=http://127.0.0.1:{port}/hi"
    ))
    .await;
    assert!(body.contains("HttpRequestDenied"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn component_selection_runs_only_those_components() {
    let app = app("routing");
    let host = spawn(app.host().component("second")).await;
    let base = host.base_url().to_string();
    assert_eq!(get(&format!("{base}/dup?op=hello")).await.0, 200);
    assert_eq!(get(&format!("{base}/api/special?op=hello")).await.0, 200);
    // Routes of `first` are not served.
    assert_eq!(get(&format!("{base}/exact?op=hello")).await.0, 404);
    assert_eq!(get(&format!("{base}/api/other?op=hello")).await.0, 404);
    let out = host.output();
    assert!(!out.contains("first:"), "{out}");
}
