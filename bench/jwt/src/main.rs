//! `bench-jwt --sub USER [--key HEX] [--kid KID] [--ttl SECONDS] [--tokens N]`: prints one
//! JSON object `{"key": HEX, "jwks": {...}, "tokens": [...]}`: an Ed25519 key pair (generated,
//! or the one `--key` gives back from an earlier run), its public key as a JWKS (the shape
//! Better Auth serves at `/api/auth/jwks`) and N EdDSA tokens for USER, each with a distinct
//! `jti`, so that no two are the same token.

use anyhow::{bail, Context};
use base64::Engine;
use jwt_simple::prelude::*;
use serde_json::json;

struct Options {
    subject: String,
    key: Option<String>,
    key_id: String,
    ttl_seconds: u64,
    tokens: usize,
}

fn parse_options() -> anyhow::Result<Options> {
    let mut options = Options {
        subject: String::new(),
        key: None,
        key_id: "bench-ed25519".into(),
        ttl_seconds: 7200,
        tokens: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--sub" => options.subject = value()?,
            "--key" => options.key = Some(value()?),
            "--kid" => options.key_id = value()?,
            "--ttl" => options.ttl_seconds = value()?.parse().context("--ttl")?,
            "--tokens" => options.tokens = value()?.parse().context("--tokens")?,
            other => bail!("unknown argument {other}; usage: bench-jwt --sub USER [--key HEX] [--kid KID] [--ttl SECONDS] [--tokens N]"),
        }
    }
    if options.subject.is_empty() {
        bail!("--sub is required");
    }
    Ok(options)
}

fn main() -> anyhow::Result<()> {
    let options = parse_options()?;
    let key = match &options.key {
        Some(hex) => Ed25519KeyPair::from_bytes(&decode_hex(hex)?).context("--key")?,
        None => Ed25519KeyPair::generate(),
    }
    .with_key_id(&options.key_id);
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.public_key().to_bytes());
    let jwks = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": options.key_id, "x": x}
    ]});
    let tokens = (0..options.tokens)
        .map(|n| {
            let claims = Claims::create(Duration::from_secs(options.ttl_seconds))
                .with_subject(&options.subject)
                .with_jwt_id(format!("bench-{n}"));
            key.sign(claims).context("signing a token")
        })
        .collect::<anyhow::Result<Vec<String>>>()?;
    let key_hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    println!(
        "{}",
        json!({"key": key_hex, "jwks": jwks, "tokens": tokens})
    );
    Ok(())
}

fn decode_hex(hex: &str) -> anyhow::Result<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        bail!("odd number of hex digits");
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).context("not hex"))
        .collect()
}
