//! The HTTP edge of `/mcp`: the same conventions as the API, and bad credentials answered with
//! the protected-resource challenge.

use serde_json::{json, Value};
use todo_e2e::{expired_token, spawn_app, spawn_app_with, AppOptions};

use crate::{post, rpc, task_count};

#[tokio::test]
async fn the_http_edge_behaves_as_on_the_api() {
    let app = spawn_app().await;
    let token = app.token("alice");
    for method in [
        reqwest::Method::GET,
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
    ] {
        let response = app
            .client
            .request(method.clone(), app.url("/mcp"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "POST, OPTIONS");
    }
    // The body limit: 413, and nothing runs.
    let huge = rpc(
        "tools/call",
        json!({"name": "create_task", "arguments": {"title": "x", "description": "d".repeat(70 * 1024)}}),
    );
    let response = post(&app, Some(&token)).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(task_count(&app).await, 0);
    let body = rpc("ping", json!({}));
    let response = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 406);

    // Origin: a page of another origin is refused (DNS rebinding); an allowed one gets CORS.
    let response = post(&app, Some(&token))
        .header("origin", "http://evil.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = post(&app, Some(&token))
        .header("origin", "http://localhost:3000")
        .header("x-request-id", "req-mcp-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(response.headers()["x-request-id"], "req-mcp-1");
    let response = post(&app, Some(&token)).json(&body).send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"].len(), 36);
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/mcp"))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
    ] {
        assert!(allowed.contains(name), "{allowed}");
    }
}

#[tokio::test]
async fn bad_credentials_get_401_with_the_protected_resource_challenge() {
    let app = spawn_app_with(AppOptions {
        variables: vec![("auth_issuer".into(), "https://auth.example.com".into())],
    })
    .await;
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let payload = b64(json!({"sub": "alice", "exp": chrono::Utc::now().timestamp() + 3600}));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("expired", Some(expired_token("alice"))),
        (
            "alg none",
            Some(format!(
                "{}.{payload}.",
                b64(json!({"alg": "none", "typ": "JWT"}))
            )),
        ),
        (
            "bypass-signature",
            Some(format!(
                "{}.{payload}.bypass-signature",
                b64(json!({"alg": "HS256", "typ": "JWT"}))
            )),
        ),
        ("garbage", Some("not-a-jwt".into())),
    ];
    let metadata_url = app.url("/.well-known/oauth-protected-resource");
    let create = rpc(
        "tools/call",
        json!({"name": "create_task", "arguments": {"title": "sneaky"}}),
    );
    for (case, token) in cases {
        let response = post(&app, token.as_deref())
            .header("mcp-protocol-version", "2025-11-25")
            .json(&create)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{case}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.starts_with("Bearer "), "{case}: {challenge}");
        assert!(
            challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
            "{case}: {challenge}"
        );
        assert_eq!(
            challenge.contains("error=\"invalid_token\""),
            token.is_some(),
            "{case}: {challenge}"
        );
    }
    assert_eq!(task_count(&app).await, 0);

    // The metadata document is public.
    let document: Value = app
        .client
        .get(&metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["resource"], app.url(""));
    assert_eq!(
        document["authorization_servers"],
        json!(["https://auth.example.com"])
    );
    assert_eq!(document["bearer_methods_supported"], json!(["header"]));
    let response = app
        .client
        .get(app.url("/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["resource"], app.url("/mcp"));
}
