//! The authentication micro-benchmark of `bench/run` (never part of the test suite): one GET
//! times, inside wasm on the host, each step a JWKS-verified request may take, N times each in
//! R rounds, and answers `{"n": N, "rounds": R, "ops": {"<step>": {"us": <smallest round's
//! mean, microseconds>, "median_us": <median round's>}, ...}}`.
//!
//! Query: `n` (iterations per round, default 500), `rounds` (default 5), `ed_key` (hex Ed25519 key pair from `bench-jwt`;
//! its public key is the JWKS served at `jwks_url`), `jwks_url`, and optionally `ops` (comma-
//! separated names: only those). The component's manifest (written by bench.py) declares the
//! key-value stores `default` (Redis, as deployed) and `local` (Spin's in-memory SQLite store).
//!
//! Steps: opening each store, a JWKS-sized get from each, parsing a JWKS, building each kind of
//! key, decoding a token's header, SHA-256 of a token, the signature checks alone, jwt-simple's
//! whole verification per algorithm, and `spin_support::auth::authenticate` end to end:
//! HS256, a JWKS given inline, a JWKS from `jwks_url` with the same token every time (as a
//! browser sends it) and with a token never seen before every time.

use std::time::Instant;

use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::{json, Value};
use sha2::Digest;
use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;
use spin_support::auth::{authenticate, AuthConfig};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64")
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn param(query: &str, name: &str) -> Option<String> {
    form_pairs(query)
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs `op` `n` times, `rounds` times over, and records the mean of each round in
/// microseconds (the loop's own cost included, far below a microsecond). On a busy machine the
/// smallest round is the steadiest figure: other processes only ever add time.
struct Timer {
    n: usize,
    rounds: usize,
    only: Option<Vec<String>>,
    ops: serde_json::Map<String, Value>,
}

impl Timer {
    fn wanted(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == name))
    }

    fn time(&mut self, name: &str, mut op: impl FnMut(usize)) {
        if !self.wanted(name) {
            return;
        }
        // Warm-up (iteration `n * rounds`): first-use costs (connections, lazy statics) are not
        // per-request costs.
        op(self.n * self.rounds);
        let mut means = Vec::with_capacity(self.rounds);
        for round in 0..self.rounds {
            let start = Instant::now();
            for i in 0..self.n {
                op(round * self.n + i);
            }
            means.push(self.mean_us(start));
        }
        self.record(name, means);
    }

    async fn time_async<F: std::future::Future<Output = ()>>(
        &mut self,
        name: &str,
        mut op: impl FnMut(usize) -> F,
    ) {
        if !self.wanted(name) {
            return;
        }
        op(self.n * self.rounds).await;
        let mut means = Vec::with_capacity(self.rounds);
        for round in 0..self.rounds {
            let start = Instant::now();
            for i in 0..self.n {
                op(round * self.n + i).await;
            }
            means.push(self.mean_us(start));
        }
        self.record(name, means);
    }

    fn mean_us(&self, start: Instant) -> f64 {
        start.elapsed().as_secs_f64() * 1e6 / self.n as f64
    }

    fn record(&mut self, name: &str, mut means: Vec<f64>) {
        means.sort_by(f64::total_cmp);
        let round2 = |us: f64| (us * 100.0).round() / 100.0;
        self.ops.insert(
            name.into(),
            json!({"us": round2(means[0]), "median_us": round2(means[means.len() / 2])}),
        );
    }
}

fn claims(user: &str) -> JWTClaims<NoCustomClaims> {
    Claims::create(Duration::from_hours(2)).with_subject(user)
}

#[http_component]
async fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
    let query = request.query().to_string();
    let n: usize = param(&query, "n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(500)
        .max(1);
    let rounds: usize = param(&query, "rounds")
        .and_then(|n| n.parse().ok())
        .unwrap_or(5)
        .max(1);
    let ed_key = param(&query, "ed_key").ok_or_else(|| anyhow::anyhow!("ed_key is required"))?;
    let jwks_url = param(&query, "jwks_url");
    let only =
        param(&query, "ops").map(|ops| ops.split(',').map(str::to_string).collect::<Vec<_>>());
    let mut timer = Timer {
        n,
        rounds,
        only,
        ops: serde_json::Map::new(),
    };

    // Keys and tokens: the Ed25519 key is the one the bench's JWKS endpoint serves.
    let ed = Ed25519KeyPair::from_bytes(&hex(&ed_key))?.with_key_id("bench-ed25519");
    let es = ES256KeyPair::generate().with_key_id("bench-es256");
    let rs = RS256KeyPair::generate(2048)?.with_key_id("bench-rs256");
    let hs = HS256Key::generate();
    let ed_token = ed.sign(claims("micro"))?;
    let es_token = es.sign(claims("micro"))?;
    let rs_token = rs.sign(claims("micro"))?;
    let hs_token = hs.authenticate(claims("micro"))?;
    let es_point = es.public_key().public_key().to_bytes_uncompressed();
    let rs_parts = rs.public_key().to_components();
    let jwks = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "bench-ed25519", "x": b64(&ed.public_key().to_bytes())},
        {"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "bench-es256", "x": b64(&es_point[1..33]), "y": b64(&es_point[33..65])},
        {"kty": "RSA", "alg": "RS256", "kid": "bench-rs256", "n": b64(&rs_parts.n), "e": b64(&rs_parts.e)},
    ]});
    let jwks_text = json!({"fetched_at": 0, "jwks": jwks}).to_string();

    // The key-value stores.
    timer.time("kv_open_default", |_| {
        Store::open_default().expect("open default");
    });
    timer.time("kv_open_local", |_| {
        Store::open("local").expect("open local");
    });
    let default = Store::open_default()?;
    let local = Store::open("local")?;
    default.set("bench-auth-micro", jwks_text.as_bytes())?;
    local.set("bench-auth-micro", jwks_text.as_bytes())?;
    timer.time("kv_get_default_jwks", |_| {
        default.get("bench-auth-micro").expect("get").expect("set");
    });
    timer.time("kv_get_local_jwks", |_| {
        local.get("bench-auth-micro").expect("get").expect("set");
    });
    let small = vec![b'x'; 160];
    timer.time("kv_get_local_small", |_| {
        local.get("bench-auth-micro").expect("get");
    });
    timer.time("kv_set_local_small", |i| {
        local
            .set(&format!("bench-auth-micro-{}", i % 64), &small)
            .expect("set");
    });

    // Parsing and building keys.
    timer.time("jwks_parse", |_| {
        serde_json::from_str::<Value>(&jwks_text).expect("JSON");
    });
    let ed_x = jwks["keys"][0]["x"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    timer.time("key_build_ed25519", |_| {
        Ed25519PublicKey::from_bytes(&unb64(&ed_x)).expect("key");
    });
    timer.time("key_build_es256", |_| {
        let mut sec1 = vec![0x04];
        sec1.extend_from_slice(&unb64(jwks["keys"][1]["x"].as_str().unwrap_or_default()));
        sec1.extend_from_slice(&unb64(jwks["keys"][1]["y"].as_str().unwrap_or_default()));
        ES256PublicKey::from_bytes(&sec1).expect("key");
    });
    timer.time("key_build_rs256", |_| {
        RS256PublicKey::from_components(
            &unb64(jwks["keys"][2]["n"].as_str().unwrap_or_default()),
            &unb64(jwks["keys"][2]["e"].as_str().unwrap_or_default()),
        )
        .expect("key");
    });

    // Token work.
    timer.time("decode_metadata", |_| {
        Token::decode_metadata(&ed_token).expect("metadata");
    });
    timer.time("sha256_token", |_| {
        sha2::Sha256::digest(ed_token.as_bytes());
    });
    let (signed, signature) = ed_token.rsplit_once('.').unwrap_or_default();
    let signature = unb64(signature);
    let compact_key = ed25519_compact::PublicKey::from_slice(&ed.public_key().to_bytes())?;
    let compact_signature = ed25519_compact::Signature::from_slice(&signature)?;
    timer.time("signature_ed25519_only", |_| {
        compact_key
            .verify(signed.as_bytes(), &compact_signature)
            .expect("signature");
    });
    let dalek_key = ed25519_dalek::VerifyingKey::from_bytes(
        &ed.public_key().to_bytes().try_into().expect("32 bytes"),
    )?;
    let dalek_signature = ed25519_dalek::Signature::from_slice(&signature)?;
    timer.time("signature_ed25519_dalek_only", |_| {
        dalek_key
            .verify_strict(signed.as_bytes(), &dalek_signature)
            .expect("signature");
    });
    let ed_public = ed.public_key();
    let es_public = es.public_key();
    let rs_public = rs.public_key();
    timer.time("verify_hs256", |_| {
        hs.verify_token::<NoCustomClaims>(&hs_token, None)
            .expect("HS256");
    });
    timer.time("verify_eddsa", |_| {
        ed_public
            .verify_token::<NoCustomClaims>(&ed_token, None)
            .expect("EdDSA");
    });
    timer.time("verify_es256", |_| {
        es_public
            .verify_token::<NoCustomClaims>(&es_token, None)
            .expect("ES256");
    });
    timer.time("verify_rs256", |_| {
        rs_public
            .verify_token::<NoCustomClaims>(&rs_token, None)
            .expect("RS256");
    });

    // `authenticate` end to end, as a request runs it.
    let hs_secret = "bench-auth-micro-secret-0123456789";
    let hs_app_token = HS256Key::from_bytes(hs_secret.as_bytes()).authenticate(claims("micro"))?;
    let hs_config = AuthConfig {
        hs256_secret: Some(hs_secret.into()),
        ..Default::default()
    };
    timer
        .time_async("authenticate_hs256", |_| async {
            authenticate(&hs_app_token, &hs_config)
                .await
                .expect("HS256 accepted");
        })
        .await;
    let inline_config = AuthConfig {
        jwks_inline: Some(jwks.to_string()),
        ..Default::default()
    };
    timer
        .time_async("authenticate_jwks_inline", |_| async {
            authenticate(&ed_token, &inline_config)
                .await
                .expect("EdDSA accepted");
        })
        .await;
    if let Some(url) = jwks_url {
        let url_config = AuthConfig {
            jwks_url: Some(url),
            ..Default::default()
        };
        timer
            .time_async("authenticate_jwks_url", |_| async {
                authenticate(&ed_token, &url_config)
                    .await
                    .expect("EdDSA accepted");
            })
            .await;
        if timer.wanted("authenticate_jwks_url_fresh_token") {
            // Minted before timing: a token never presented before on every iteration.
            let fresh = (0..=n * rounds)
                .map(|i| ed.sign(claims("micro").with_jwt_id(format!("fresh-{i}"))))
                .collect::<Result<Vec<_>, _>>()?;
            timer
                .time_async("authenticate_jwks_url_fresh_token", |i| {
                    let token = &fresh[i];
                    let config = &url_config;
                    async move {
                        authenticate(token, config).await.expect("EdDSA accepted");
                    }
                })
                .await;
        }
    }

    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(json!({"n": n, "rounds": rounds, "ops": timer.ops}).to_string())
        .build())
}
