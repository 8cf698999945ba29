//! Security table: EVERY route of `backend-api` (its routing table, `todo_api_routes::ROUTES`, so a new
//! route is covered without editing this file) and the SSE route of `realtime`, crossed with
//! every kind of bad credential: no token, an expired token, a wrong signature, `alg: none`,
//! HS256 "signed" with the JWKS public key (algorithm confusion) and another user's valid
//! token. Each is rejected (401, or 403 for the other user), the error body is exactly the
//! documented `{"detail": ...}` (nothing about why, no stack, no SQL, no internal text), and
//! nothing changed in the database. A valid token on the same request is the control: it gets
//! past authentication, so the table cannot pass by every request being refused for another
//! reason.
//!
//! Two configurations: HS256 secret + JWKS (the usual one here), and JWKS only (where algorithm
//! confusion would bite: no HS256 key exists, so an HS256 token must not be verified with the
//! RSA/EC public key).

use std::time::Duration;

use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{json, Value};
use todo_e2e::{spawn_app_with, AppOptions, TestApp, HS256_SECRET};

const PUBLIC: &[&str] = &[
    "/health",
    "/health/live",
    "/health/ready",
    "/api/openapi.json",
];
const MISSING: &str = "Authorization header required";
const MALFORMED: &str = "Invalid authorization header format";
const INVALID: &str = "Invalid or expired token";
const FORBIDDEN: &str = "Not authorized to access this user's data";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct Keys {
    rs: RS256KeyPair,
    es: ES256KeyPair,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            rs: RS256KeyPair::generate(2048).unwrap().with_key_id("rs-1"),
            es: ES256KeyPair::generate().with_key_id("es-1"),
        }
    }

    fn jwks(&self) -> Value {
        let rs = self.rs.public_key().to_components();
        let point = self.es.public_key().public_key().to_bytes_uncompressed();
        json!({"keys": [
            {"kty": "RSA", "kid": "rs-1", "alg": "RS256", "use": "sig", "n": b64(&rs.n), "e": b64(&rs.e)},
            {"kty": "EC", "crv": "P-256", "kid": "es-1", "alg": "ES256", "x": b64(&point[1..33]), "y": b64(&point[33..65])},
        ]})
    }
}

fn claims(user: &str) -> JWTClaims<NoCustomClaims> {
    Claims::create(jwt_simple::prelude::Duration::from_hours(1)).with_subject(user)
}

fn expired(user: &str) -> JWTClaims<NoCustomClaims> {
    let now = chrono::Utc::now().timestamp() as u64;
    let mut c = claims(user);
    c.issued_at = Some(UnixTimeStamp::from_secs(now - 7200));
    c.expires_at = Some(UnixTimeStamp::from_secs(now - 3600));
    c
}

/// (case name, Authorization header value or None, expected status, expected detail).
fn bad_credentials(keys: &Keys, hs256: bool) -> Vec<(String, Option<String>, u16, &'static str)> {
    let now = chrono::Utc::now().timestamp();
    let header = |h: Value| b64(h.to_string().as_bytes());
    let alice = b64(json!({"sub": "alice", "exp": now + 3600})
        .to_string()
        .as_bytes());
    let stranger_rs = RS256KeyPair::generate(2048).unwrap().with_key_id("rs-1");
    let stranger_es = ES256KeyPair::generate().with_key_id("es-1");
    let rs_pem = keys.rs.public_key().to_pem().unwrap();
    let es_pem = keys.es.public_key().to_pem().unwrap();
    let jwks = keys.jwks();
    let mut cases: Vec<(String, Option<String>, u16, &'static str)> = vec![
        ("no token".into(), None, 401, MISSING),
        (
            "empty bearer".into(),
            Some("Bearer ".into()),
            401,
            MALFORMED,
        ),
        (
            "basic".into(),
            Some("Basic YWxpY2U6cHc=".into()),
            401,
            MALFORMED,
        ),
        (
            "expired RS256".into(),
            Some(keys.rs.sign(expired("alice")).unwrap()),
            401,
            INVALID,
        ),
        (
            "expired ES256".into(),
            Some(keys.es.sign(expired("alice")).unwrap()),
            401,
            INVALID,
        ),
        (
            "RS256 wrong signature (another key, same kid)".into(),
            Some(stranger_rs.sign(claims("alice")).unwrap()),
            401,
            INVALID,
        ),
        (
            "ES256 wrong signature (another key, same kid)".into(),
            Some(stranger_es.sign(claims("alice")).unwrap()),
            401,
            INVALID,
        ),
        (
            "HS256 wrong secret".into(),
            Some(
                HS256Key::from_bytes(b"not-the-secret")
                    .authenticate(claims("alice"))
                    .unwrap(),
            ),
            401,
            INVALID,
        ),
        (
            "alg none".into(),
            Some(format!(
                "{}.{alice}.",
                header(json!({"alg": "none", "typ": "JWT"}))
            )),
            401,
            INVALID,
        ),
        (
            "alg none with kid".into(),
            Some(format!(
                "{}.{alice}.",
                header(json!({"alg": "none", "typ": "JWT", "kid": "rs-1"}))
            )),
            401,
            INVALID,
        ),
        (
            "alg None (case)".into(),
            Some(format!("{}.{alice}.", header(json!({"alg": "None"})))),
            401,
            INVALID,
        ),
        (
            "bypass-signature suffix".into(),
            Some(format!(
                "{}.{alice}.bypass-signature",
                header(json!({"alg": "RS256", "kid": "rs-1"}))
            )),
            401,
            INVALID,
        ),
    ];
    // Algorithm confusion: HS256 keyed with every public form of the JWKS keys, with and
    // without the key's kid.
    let public_forms: Vec<(&str, Vec<u8>)> = vec![
        ("RSA PEM", rs_pem.clone().into_bytes()),
        ("RSA PEM trimmed", rs_pem.trim().as_bytes().to_vec()),
        ("EC PEM", es_pem.into_bytes()),
        ("RSA JWK", jwks["keys"][0].to_string().into_bytes()),
        ("RSA DER", keys.rs.public_key().to_der().unwrap()),
        ("RSA modulus", keys.rs.public_key().to_components().n),
        ("JWKS document", jwks.to_string().into_bytes()),
    ];
    for (form, secret) in public_forms {
        for kid in [None, Some("rs-1")] {
            let mut key = HS256Key::from_bytes(&secret);
            if let Some(kid) = kid {
                key = key.with_key_id(kid);
            }
            cases.push((
                format!("HS256 keyed with the {form} (kid {kid:?})"),
                Some(key.authenticate(claims("alice")).unwrap()),
                401,
                INVALID,
            ));
        }
    }
    // Another user's valid token on alice's routes: signed every accepted way.
    cases.push((
        "bob's RS256 token".into(),
        Some(keys.rs.sign(claims("bob")).unwrap()),
        403,
        FORBIDDEN,
    ));
    cases.push((
        "bob's ES256 token".into(),
        Some(keys.es.sign(claims("bob")).unwrap()),
        403,
        FORBIDDEN,
    ));
    if hs256 {
        cases.push((
            "bob's HS256 token".into(),
            Some(
                HS256Key::from_bytes(HS256_SECRET.as_bytes())
                    .authenticate(claims("bob"))
                    .unwrap(),
            ),
            403,
            FORBIDDEN,
        ));
    }
    cases
        .into_iter()
        .map(|(name, token, status, detail)| {
            let header = token.map(|t| {
                if t.starts_with("Bearer") || t.starts_with("Basic") {
                    t
                } else {
                    format!("Bearer {t}")
                }
            });
            (name, header, status, detail)
        })
        .collect()
}

/// The error body is exactly `{"detail": "<documented message>"}`.
fn assert_no_leak(what: &str, body: &str, detail: &str) {
    let parsed: Value = serde_json::from_str(body)
        .unwrap_or_else(|_| panic!("{what}: the error body is not JSON: {body:?}"));
    assert_eq!(parsed, json!({ "detail": detail }), "{what}: body {body}");
    let lower = body.to_lowercase();
    for word in [
        "panic",
        "sql",
        "postgres",
        "stack",
        "thread",
        "backtrace",
        "jwt",
        "signature",
        "kid",
        "alg",
        "expired at",
        "error:",
        ".rs:",
    ] {
        assert!(
            !lower.contains(word) || detail.to_lowercase().contains(word),
            "{what}: leaks {word:?}: {body}"
        );
    }
}

struct Fixture {
    task_id: String,
    notification_id: String,
}

async fn fixture(app: &TestApp, token: &str) -> Fixture {
    let response = app
        .client
        .post(app.url("/api/alice/tasks"))
        .bearer_auth(token)
        .json(&json!({"title": "alice's", "tags": ["x"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let task: Value = response.json().await.unwrap();
    let notification_id = uuid::Uuid::new_v4().to_string();
    app.pg()
        .await
        .execute(
            "INSERT INTO notifications (id, user_id, task_id, message, read, created_at) \
             VALUES ($1::text::uuid, 'alice', $2::text::uuid, 'Reminder: alice''s', false, now())",
            &[&notification_id, &task["id"].as_str().unwrap()],
        )
        .await
        .unwrap();
    Fixture {
        task_id: task["id"].as_str().unwrap().to_string(),
        notification_id,
    }
}

/// Everything a rejected request could have changed, as one comparable value.
async fn snapshot(app: &TestApp) -> Value {
    let pg = app.pg().await;
    let mut out = serde_json::Map::new();
    for (name, sql) in [
        (
            "tasks",
            "SELECT coalesce(json_agg(t ORDER BY t.id), '[]')::text FROM tasks t",
        ),
        (
            "notifications",
            "SELECT coalesce(json_agg(n ORDER BY n.id), '[]')::text FROM notifications n",
        ),
        ("events", "SELECT count(*)::text FROM events"),
        ("idempotency", "SELECT count(*)::text FROM idempotency_keys"),
    ] {
        let row = pg.query_one(sql, &[]).await.unwrap();
        let text: String = row.get(0);
        out.insert(name.into(), Value::String(text));
    }
    Value::Object(out)
}

fn concrete(template: &str, fixture: &Fixture) -> String {
    template
        .replace("{user_id}", "alice")
        .replace("{task_id}", &fixture.task_id)
        .replace("{notification_id}", &fixture.notification_id)
}

async fn run_table(app: &TestApp, keys: &Keys, valid: &str, hs256: bool) -> (usize, usize) {
    let fixture = fixture(app, valid).await;
    let before = snapshot(app).await;
    let cases = bad_credentials(keys, hs256);
    let mut checked = 0;
    let mut routes_checked = 0;

    let protected: Vec<_> = todo_api_routes::ROUTES
        .iter()
        .filter(|(_, _, path)| !PUBLIC.contains(path))
        .collect();
    // Every route that is not public is under /api/{user_id}/: the table covers all of them.
    for (_, _, path) in &protected {
        assert!(
            path.starts_with("/api/{user_id}/"),
            "unexpected route {path}"
        );
    }
    assert_eq!(
        todo_api_routes::ROUTES.len() - protected.len(),
        PUBLIC.len(),
        "every public route is listed in PUBLIC"
    );

    for (_, method, template) in &protected {
        let path = concrete(template, &fixture);
        let what = format!("{method} {template}");
        let request = |header: Option<&str>| {
            let mut r = app
                .client
                .request(method.parse().unwrap(), app.url(&path))
                .header("content-type", "application/json")
                .body(json!({"title": "changed"}).to_string());
            if let Some(h) = header {
                r = r.header("authorization", h);
            }
            r
        };
        for (name, header, status, detail) in &cases {
            let response = request(header.as_deref()).send().await.unwrap();
            let got = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_eq!(got, *status, "{what} with {name}: {body}");
            assert_no_leak(&format!("{what} with {name}"), &body, detail);
            checked += 1;
        }
        routes_checked += 1;
    }
    // Nothing any of them did is visible.
    assert_eq!(
        snapshot(app).await,
        before,
        "a rejected request changed something"
    );

    // The control: a valid token gets past authentication on every route (so the refusals
    // above were about the credentials). Deletes last, so that the ids still exist.
    let mut control = protected.clone();
    control.sort_by_key(|(_, method, _)| *method == "DELETE");
    for (_, method, template) in &control {
        let path = concrete(template, &fixture);
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .header("authorization", format!("Bearer {valid}"))
            .json(&json!({"title": "changed"}))
            .send()
            .await
            .unwrap();
        let got = response.status().as_u16();
        assert!(
            (200..300).contains(&got),
            "{method} {template} with a valid token: {got} {}",
            response.text().await.unwrap()
        );
    }
    (routes_checked, checked)
}

async fn run_sse(app: &TestApp, keys: &Keys, valid: &str, hs256: bool) -> usize {
    let mut checked = 0;
    for (name, header, status, detail) in bad_credentials(keys, hs256) {
        // As a header, and (for EventSource) as ?access_token=.
        let mut forms = vec![("header", header.clone(), String::new())];
        if let Some(token) = header.as_deref().and_then(|h| h.strip_prefix("Bearer ")) {
            if !token.is_empty() {
                forms.push(("query", None, format!("?access_token={token}")));
            }
        }
        for (form, header, query) in forms {
            let mut request = app
                .client
                .get(app.url(&format!("/api/sse/alice{query}")))
                .timeout(Duration::from_secs(90));
            if let Some(h) = &header {
                request = request.header("authorization", h);
            }
            let response = request.send().await.unwrap();
            let got = response.status().as_u16();
            let body = response.text().await.unwrap();
            let what = format!("GET /api/sse/{{user_id}} with {name} ({form})");
            assert_eq!(got, status, "{what}: {body}");
            assert_no_leak(&what, &body, detail);
            checked += 1;
        }
    }
    // Control: a valid token opens the stream.
    let response = app
        .client
        .get(app.url("/api/sse/alice"))
        .bearer_auth(valid)
        .timeout(Duration::from_secs(90))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    drop(response);
    checked
}

#[tokio::test]
async fn every_route_rejects_every_bad_credential_with_hs256_and_jwks_configured() {
    let keys = Keys::new();
    let app = spawn_app_with(AppOptions {
        variables: vec![("jwks".into(), keys.jwks().to_string())],
    })
    .await;
    let valid = app.token("alice");
    let (routes, requests) = run_table(&app, &keys, &valid, true).await;
    let sse = run_sse(&app, &keys, &valid, true).await;
    eprintln!("security table (HS256 + JWKS): {routes} routes, {requests} rejected requests, {sse} SSE requests");
}

#[tokio::test]
async fn every_route_rejects_every_bad_credential_with_only_a_jwks() {
    let keys = Keys::new();
    let app = spawn_app_with(AppOptions {
        variables: vec![
            ("jwks".into(), keys.jwks().to_string()),
            // No HS256 key at all: an HS256 token can only be forged with a public key.
            ("jwt_hs256_secret".into(), String::new()),
        ],
    })
    .await;
    let valid = keys.rs.sign(claims("alice")).unwrap();
    // HS256 with the shared secret is not configured: such a token is as bad as any other.
    let hs = HS256Key::from_bytes(HS256_SECRET.as_bytes())
        .authenticate(claims("alice"))
        .unwrap();
    let response = app
        .client
        .get(app.url("/api/alice/tasks"))
        .bearer_auth(&hs)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (routes, requests) = run_table(&app, &keys, &valid, false).await;
    let sse = run_sse(&app, &keys, &valid, false).await;
    eprintln!("security table (JWKS only): {routes} routes, {requests} rejected requests, {sse} SSE requests");
}

/// A validly signed token whose subject contains NUL (which PostgreSQL text cannot hold) was a
/// 500 on every route; it is refused like any unusable token.
#[tokio::test]
async fn a_signed_token_naming_a_user_with_nul_is_401_not_500() {
    let app = spawn_app_with(AppOptions::default()).await;
    let token = HS256Key::from_bytes(HS256_SECRET.as_bytes())
        .authenticate(claims("a\u{0}b"))
        .unwrap();
    for (method, path) in [
        ("GET", "/api/a%00b/tasks"),
        ("POST", "/api/a%00b/tasks"),
        ("GET", "/api/a%00b/stats"),
        ("GET", "/api/a%00b/notifications"),
        ("GET", "/api/a%00b/audit"),
        ("GET", "/api/sse/a%00b"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(&token)
            .json(&json!({"title": "x"}))
            .timeout(Duration::from_secs(90))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(status, 401, "{method} {path}: {body}");
        assert_no_leak(&format!("{method} {path}"), &body, INVALID);
    }
}
