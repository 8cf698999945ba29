//! Authentication and authorisation: every way in without a valid token for the path's user
//! is refused, and another user's tasks are invisible and untouchable.

use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{json, Value};
use todo_e2e::{spawn_app, spawn_app_with, test_support, AppOptions, HS256_SECRET};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn status_and_detail(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn missing_and_malformed_headers_are_401_with_the_seed_messages() {
    let app = spawn_app().await;
    let url = app.url("/api/alice/tasks");
    let (status, body) = status_and_detail(app.client.get(&url).send().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (401, json!({"detail": "Authorization header required"}))
    );
    for header in ["Basic abc", "Bearer", "token", "Bearer a b"] {
        let (status, body) = status_and_detail(
            app.client
                .get(&url)
                .header("authorization", header)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, body),
            (
                401,
                json!({"detail": "Invalid authorization header format"})
            ),
            "{header}"
        );
    }
}

#[tokio::test]
async fn forged_expired_unsigned_and_bypass_tokens_are_401() {
    let app = spawn_app().await;
    let url = app.url("/api/alice/tasks");
    let now = chrono::Utc::now().timestamp();
    let header = |alg: &str| b64(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes());
    let claims = b64(json!({"sub": "alice", "exp": now + 3600})
        .to_string()
        .as_bytes());

    let wrong_secret = HS256Key::from_bytes(b"not-the-secret")
        .authenticate(Claims::create(Duration::from_hours(1)).with_subject("alice"))
        .unwrap();
    let expired = {
        let mut c = Claims::create(Duration::from_secs(1)).with_subject("alice");
        c.expires_at = Some(UnixTimeStamp::from_secs((now - 3600) as u64));
        c.issued_at = Some(UnixTimeStamp::from_secs((now - 7200) as u64));
        HS256Key::from_bytes(HS256_SECRET.as_bytes())
            .authenticate(c)
            .unwrap()
    };
    let valid = app.token("alice");
    let mut tampered_parts: Vec<&str> = valid.split('.').collect();
    let other_claims = b64(json!({"sub": "alice", "exp": now + 99999})
        .to_string()
        .as_bytes());
    tampered_parts[1] = &other_claims;
    let tampered = tampered_parts.join(".");
    let no_exp = {
        let mut c = Claims::create(Duration::from_hours(1)).with_subject("alice");
        c.expires_at = None;
        HS256Key::from_bytes(HS256_SECRET.as_bytes())
            .authenticate(c)
            .unwrap()
    };

    let cases = [
        ("alg none", format!("{}.{}.", header("none"), claims)),
        (
            "alg none with signature",
            format!("{}.{}.c2ln", header("none"), claims),
        ),
        (
            "bypass suffix",
            format!("{}.{}.bypass-signature", header("HS256"), claims),
        ),
        ("wrong secret", wrong_secret),
        ("expired", expired),
        ("tampered claims", tampered),
        ("garbage", "abc.def.ghi".to_string()),
        ("not a jwt", "x".to_string()),
        ("unknown alg", format!("{}.{}.sig", header("HS999"), claims)),
        (
            "asymmetric without a JWKS",
            format!("{}.{}.sig", header("RS256"), claims),
        ),
        ("no exp", no_exp),
    ];
    for (name, token) in cases {
        let response = app
            .client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let (status, body) = status_and_detail(response).await;
        assert_eq!(status, 401, "{name}");
        assert_eq!(
            body,
            json!({"detail": "Invalid or expired token"}),
            "{name}: nothing about why"
        );
    }
}

#[tokio::test]
async fn a_token_for_another_user_is_403_on_every_route() {
    let app = spawn_app().await;
    let task = app.create_task("bob", json!({"title": "Bob's"})).await;
    let id = task["id"].as_str().unwrap();
    let token = app.token("alice");
    for (method, path) in [
        ("GET", "/api/bob/tasks".to_string()),
        ("POST", "/api/bob/tasks".to_string()),
        ("GET", format!("/api/bob/tasks/{id}")),
        ("PUT", format!("/api/bob/tasks/{id}")),
        ("DELETE", format!("/api/bob/tasks/{id}")),
        ("PATCH", format!("/api/bob/tasks/{id}/complete")),
        ("GET", "/api/bob/stats".to_string()),
        ("GET", "/api/bob/notifications".to_string()),
        ("PATCH", "/api/bob/notifications/read-all".to_string()),
        ("GET", "/api/bob/audit".to_string()),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth(&token)
            .json(&json!({"title": "hijack"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{method} {path}");
    }
    let unchanged: Value = app
        .get("bob", &format!("/api/bob/tasks/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged, task);
}

#[tokio::test]
async fn another_users_task_id_is_404_on_the_callers_own_path_and_stays_unchanged() {
    let app = spawn_app().await;
    let task = app.create_task("bob", json!({"title": "Bob's"})).await;
    let id = task["id"].as_str().unwrap();
    let path = format!("/api/alice/tasks/{id}");
    assert_eq!(app.get("alice", &path).send().await.unwrap().status(), 404);
    assert_eq!(
        app.put("alice", &path, &json!({"title": "mine"}))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.patch("alice", &format!("{path}/complete"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.delete("alice", &path).send().await.unwrap().status(),
        404
    );
    let list: Value = app
        .get("alice", "/api/alice/tasks")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list, json!([]));
    let unchanged: Value = app
        .get("bob", &format!("/api/bob/tasks/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged, task);
    let events: i64 = app
        .pg()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE topic <> 'task-created'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 0, "no change, no event");
}

/// A JWKS with one key of each accepted kind, and tokens signed by each.
struct Keys {
    ed: Ed25519KeyPair,
    es: ES256KeyPair,
    rs: RS256KeyPair,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            ed: Ed25519KeyPair::generate().with_key_id("ed-1"),
            es: ES256KeyPair::generate().with_key_id("es-1"),
            rs: RS256KeyPair::generate(2048).unwrap().with_key_id("rs-1"),
        }
    }

    fn jwks(&self) -> Value {
        let es_point = self.es.public_key().public_key().to_bytes_uncompressed();
        let rs = self.rs.public_key().to_components();
        json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "alg": "EdDSA", "x": b64(&self.ed.public_key().to_bytes())},
            {"kty": "EC", "crv": "P-256", "kid": "es-1", "alg": "ES256", "x": b64(&es_point[1..33]), "y": b64(&es_point[33..65])},
            {"kty": "RSA", "kid": "rs-1", "alg": "RS256", "n": b64(&rs.n), "e": b64(&rs.e)},
        ]})
    }

    fn claims(user: &str) -> JWTClaims<NoCustomClaims> {
        Claims::create(Duration::from_hours(1)).with_subject(user)
    }
}

#[tokio::test]
async fn eddsa_es256_and_rs256_tokens_verify_against_an_inline_jwks() {
    let keys = Keys::new();
    let app = spawn_app_with(AppOptions {
        variables: vec![("jwks".into(), keys.jwks().to_string())],
    })
    .await;
    let url = app.url("/api/alice/tasks");
    let tokens = [
        ("EdDSA", keys.ed.sign(Keys::claims("alice")).unwrap()),
        ("ES256", keys.es.sign(Keys::claims("alice")).unwrap()),
        ("RS256", keys.rs.sign(Keys::claims("alice")).unwrap()),
    ];
    for (alg, token) in &tokens {
        let response = app
            .client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{alg}");
    }

    // A key from another JWKS, an unknown kid, and algorithm confusion are all 401.
    let stranger = Ed25519KeyPair::generate()
        .with_key_id("ed-1")
        .sign(Keys::claims("alice"))
        .unwrap();
    let unknown_kid = Ed25519KeyPair::generate()
        .with_key_id("nope")
        .sign(Keys::claims("alice"))
        .unwrap();
    // HS256 "signed" with the RSA public key as the HMAC secret.
    let rsa_public_as_secret =
        HS256Key::from_bytes(keys.rs.public_key().to_pem().unwrap().as_bytes())
            .authenticate(Keys::claims("alice"))
            .unwrap();
    for (name, token) in [
        ("stranger", stranger),
        ("unknown kid", unknown_kid),
        ("alg confusion", rsa_public_as_secret),
    ] {
        let response = app
            .client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{name}");
    }
}

#[tokio::test]
async fn issuer_and_audience_are_enforced_when_configured() {
    let app = spawn_app_with(AppOptions {
        variables: vec![
            ("jwt_issuer".into(), "https://auth.example".into()),
            ("jwt_audience".into(), "todo".into()),
        ],
    })
    .await;
    let url = app.url("/api/alice/tasks");
    let key = HS256Key::from_bytes(HS256_SECRET.as_bytes());
    let good = key
        .authenticate(
            Keys::claims("alice")
                .with_issuer("https://auth.example")
                .with_audience("todo"),
        )
        .unwrap();
    let wrong_issuer = key
        .authenticate(
            Keys::claims("alice")
                .with_issuer("https://evil")
                .with_audience("todo"),
        )
        .unwrap();
    let no_audience = key
        .authenticate(Keys::claims("alice").with_issuer("https://auth.example"))
        .unwrap();
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(good)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(wrong_issuer)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(no_audience)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn the_user_id_may_come_from_the_id_claim() {
    let app = spawn_app().await;
    #[derive(serde::Serialize, serde::Deserialize)]
    struct BetterAuth {
        id: String,
    }
    let token = HS256Key::from_bytes(HS256_SECRET.as_bytes())
        .authenticate(Claims::with_custom_claims(
            BetterAuth { id: "carol".into() },
            Duration::from_hours(1),
        ))
        .unwrap();
    let response = app
        .client
        .get(app.url("/api/carol/tasks"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Serves `jwks` at `http://127.0.0.1:<port>/api/auth/jwks`, counting requests.
async fn serve_jwks(
    jwks: std::sync::Arc<std::sync::Mutex<Value>>,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                break;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let body = jwks.lock().unwrap().to_string();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    body.len(),
                    body
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

#[tokio::test]
async fn a_jwks_url_is_fetched_cached_and_refetched_for_an_unknown_kid() {
    use std::sync::atomic::Ordering;
    let keys = Keys::new();
    let served = std::sync::Arc::new(std::sync::Mutex::new(keys.jwks()));
    let (port, hits) = serve_jwks(served.clone()).await;
    let app = spawn_app_with(AppOptions {
        variables: vec![
            (
                "jwks_url".into(),
                format!("http://127.0.0.1:{port}/api/auth/jwks"),
            ),
            ("jwks_origin".into(), format!("http://127.0.0.1:{port}")),
        ],
    })
    .await;
    let url = app.url("/api/alice/tasks");
    for _ in 0..3 {
        let token = keys.ed.sign(Keys::claims("alice")).unwrap();
        assert_eq!(
            app.client
                .get(&url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the JWKS is cached in the key-value store"
    );

    // Key rotation: a token with a new kid makes the component refetch once.
    let rotated = Ed25519KeyPair::generate().with_key_id("ed-2");
    let mut jwks = keys.jwks();
    jwks["keys"].as_array_mut().unwrap().push(json!({
        "kty": "OKP", "crv": "Ed25519", "kid": "ed-2", "x": b64(&rotated.public_key().to_bytes())
    }));
    *served.lock().unwrap() = jwks;
    let token = rotated.sign(Keys::claims("alice")).unwrap();
    assert_eq!(
        app.client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unreachable_jwks_is_503_not_a_pass() {
    let keys = Keys::new();
    let port = test_support::free_port();
    let app = spawn_app_with(AppOptions {
        variables: vec![
            ("jwks_url".into(), format!("http://127.0.0.1:{port}/jwks")),
            ("jwks_origin".into(), format!("http://127.0.0.1:{port}")),
        ],
    })
    .await;
    let token = keys.ed.sign(Keys::claims("alice")).unwrap();
    let response = app
        .client
        .get(app.url("/api/alice/tasks"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    // HS256 still works meanwhile.
    assert_eq!(
        app.get("alice", "/api/alice/tasks")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// An app whose JWKS is served at a URL (as Better Auth serves it), with what the server serves
/// and how often it was fetched.
struct JwksApp {
    app: todo_e2e::TestApp,
    served: std::sync::Arc<std::sync::Mutex<Value>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl JwksApp {
    async fn spawn(jwks: Value) -> JwksApp {
        JwksApp::spawn_with_local_store(jwks, todo_e2e::LOCAL_STORE).await
    }

    async fn spawn_with_local_store(jwks: Value, local_store: &str) -> JwksApp {
        let served = std::sync::Arc::new(std::sync::Mutex::new(jwks));
        let (port, fetches) = serve_jwks(served.clone()).await;
        let app = todo_e2e::spawn_app_with_local_store(
            AppOptions {
                variables: vec![
                    (
                        "jwks_url".into(),
                        format!("http://127.0.0.1:{port}/api/auth/jwks"),
                    ),
                    ("jwks_origin".into(), format!("http://127.0.0.1:{port}")),
                ],
            },
            local_store,
        )
        .await;
        JwksApp {
            app,
            served,
            fetches,
        }
    }

    fn serve(&self, jwks: Value) {
        *self.served.lock().unwrap() = jwks;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn status(&self, token: &str) -> u16 {
        self.app
            .client
            .get(self.app.url("/api/alice/tasks"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Asks with `token` until the answer is `status` (deadline 60 s); panics otherwise.
    async fn wait_for_status(&self, token: &str, status: u16, what: &str) {
        todo_e2e::eventually(what, std::time::Duration::from_secs(60), || async {
            match self.status(token).await {
                got if got == status => Ok(()),
                got => Err(format!("still {got}, expected {status}")),
            }
        })
        .await
    }
}

fn ed_jwk(key: &Ed25519KeyPair, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid, "x": b64(&key.public_key().to_bytes())})
}

/// Claims for alice whose `exp` (with the 60 s leeway) ends `seconds_left` from now.
fn claims_expiring_in(seconds_left: i64) -> JWTClaims<NoCustomClaims> {
    let now = chrono::Utc::now().timestamp();
    let mut claims = Keys::claims("alice");
    claims.expires_at = Some(UnixTimeStamp::from_secs((now - 60 + seconds_left) as u64));
    claims
}

#[tokio::test]
async fn a_verified_token_once_cached_is_401_past_its_exp() {
    let key = Ed25519KeyPair::generate().with_key_id("ed-1");
    let app = JwksApp::spawn(json!({"keys": [ed_jwk(&key, "ed-1")]})).await;
    // Valid for 15 more seconds (leeway included): verified and cached by the first request.
    let token = key.sign(claims_expiring_in(15)).unwrap();
    assert_eq!(app.status(&token).await, 200);
    assert_eq!(
        app.status(&token).await,
        200,
        "served again (from the cache)"
    );
    // The JWKS (and so every cached token) stays current for 10 minutes: only the cached
    // token's own exp can end it.
    app.wait_for_status(&token, 401, "a cached token past its exp")
        .await;
    assert_eq!(app.fetches(), 1);
}

#[tokio::test]
async fn a_key_removed_from_the_jwks_stops_verifying_cached_and_new_tokens_once_it_is_refetched() {
    let old = Ed25519KeyPair::generate().with_key_id("ed-1");
    let new = Ed25519KeyPair::generate().with_key_id("ed-2");
    let app = JwksApp::spawn(json!({"keys": [ed_jwk(&old, "ed-1")]})).await;
    let cached = old.sign(Keys::claims("alice")).unwrap();
    assert_eq!(app.status(&cached).await, 200);
    assert_eq!(app.status(&cached).await, 200);
    assert_eq!(app.fetches(), 1);

    // The issuer rotates: ed-1 is gone. The first token naming the new kid makes the app fetch
    // the JWKS again, and from then on ed-1 verifies nothing, not even the token it verified
    // (and cached) before.
    app.serve(json!({"keys": [ed_jwk(&new, "ed-2")]}));
    assert_eq!(
        app.status(&new.sign(Keys::claims("alice")).unwrap()).await,
        200
    );
    assert_eq!(app.fetches(), 2);
    assert_eq!(app.status(&cached).await, 401, "the cached token");
    assert_eq!(
        app.status(&old.sign(Keys::claims("alice")).unwrap()).await,
        401,
        "a new token of the removed key"
    );
}

#[tokio::test]
async fn a_rejected_token_is_not_cached() {
    let key = Ed25519KeyPair::generate().with_key_id("ed-1");
    let app = JwksApp::spawn(json!({"keys": [ed_jwk(&key, "ed-1")]})).await;
    // Not valid before 10 s from now (leeway included): rejected until then, accepted after.
    let now = chrono::Utc::now().timestamp();
    let mut claims = Keys::claims("alice");
    claims.invalid_before = Some(UnixTimeStamp::from_secs((now + 60 + 10) as u64));
    let token = key.sign(claims).unwrap();
    assert_eq!(app.status(&token).await, 401);
    app.wait_for_status(&token, 200, "a token once rejected as not yet valid")
        .await;
}

#[tokio::test]
async fn a_cache_store_that_cannot_be_opened_is_bypassed() {
    let key = Ed25519KeyPair::generate().with_key_id("ed-1");
    // `local` on a Redis nobody listens on: opening it fails on every request.
    let dead = test_support::free_port();
    let app = JwksApp::spawn_with_local_store(
        json!({"keys": [ed_jwk(&key, "ed-1")]}),
        &format!("type = \"redis\"\nurl = \"redis://127.0.0.1:{dead}\"\n"),
    )
    .await;
    let token = key.sign(Keys::claims("alice")).unwrap();
    for _ in 0..3 {
        assert_eq!(app.status(&token).await, 200);
    }
    assert_eq!(
        app.fetches(),
        3,
        "nothing cached: the JWKS is fetched every time"
    );
    let stranger = Ed25519KeyPair::generate()
        .with_key_id("ed-1")
        .sign(Keys::claims("alice"))
        .unwrap();
    assert_eq!(app.status(&stranger).await, 401);
}
