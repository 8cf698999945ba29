//! Bearer-token authentication (API.md "Authentication").
//!
//! HS256 with `jwt_hs256_secret`; EdDSA (Ed25519), ES256 and RS256 against a JWKS given
//! inline (`jwks`) or fetched from `jwks_url` and cached in the key-value store. Which key
//! verifies a token is decided by the key, never by the token: an HS256 token is only ever
//! checked against the shared secret, an RS256 token only against RSA keys, so algorithm
//! confusion and `alg: none` fail. `exp` is required; `exp`/`nbf` have a 60 s leeway;
//! `iss`/`aud` are enforced when configured. No other path lets a request in.

use std::collections::HashSet;

use base64::Engine;
use jwt_simple::prelude::*;
use serde::Deserialize;

const LEEWAY_SECONDS: u64 = 60;
const JWKS_CACHE_SECONDS: i64 = 600;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AuthError {
    #[error("Authorization header required")]
    MissingHeader,
    #[error("Invalid authorization header format")]
    MalformedHeader,
    /// The reason is for the log only; clients see a generic message.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// No way to verify a token is configured, or the JWKS cannot be fetched.
    #[error("authentication unavailable: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// What the client is told (nothing about why a token failed).
    pub fn public_detail(&self) -> &'static str {
        match self {
            AuthError::MissingHeader => "Authorization header required",
            AuthError::MalformedHeader => "Invalid authorization header format",
            AuthError::InvalidToken(_) => "Invalid or expired token",
            AuthError::Unavailable(_) => "Authentication is temporarily unavailable",
        }
    }
}

/// Claims beyond the registered ones: Better Auth puts the user id in `id` as well as `sub`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ExtraClaims {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    pub hs256_secret: Option<String>,
    pub jwks_inline: Option<String>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl AuthConfig {
    pub fn from_variables() -> AuthConfig {
        use crate::config::optional;
        AuthConfig {
            hs256_secret: optional("jwt_hs256_secret"),
            jwks_inline: optional("jwks"),
            jwks_url: optional("jwks_url"),
            issuer: optional("jwt_issuer"),
            audience: optional("jwt_audience"),
        }
    }
}

/// Extracts the token from an `Authorization` header value.
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthError> {
    let header = header.ok_or(AuthError::MissingHeader)?;
    let (scheme, token) = header
        .trim()
        .split_once(' ')
        .ok_or(AuthError::MalformedHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

/// Who a verified token speaks for, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `sub`, else `id`.
    pub user: String,
    /// `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Verifies `token` and returns the user id (`sub`, else `id`) and the token's expiry.
pub async fn authenticate(token: &str, config: &AuthConfig) -> Result<Identity, AuthError> {
    let metadata =
        Token::decode_metadata(token).map_err(|e| AuthError::InvalidToken(e.to_string()))?;
    let options = verification_options(config);
    let claims = match metadata.algorithm() {
        "HS256" => {
            let secret = config
                .hs256_secret
                .as_ref()
                .ok_or_else(|| AuthError::InvalidToken("HS256 is not enabled".into()))?;
            HS256Key::from_bytes(secret.as_bytes())
                .verify_token::<ExtraClaims>(token, Some(options))
                .map_err(|e| AuthError::InvalidToken(e.to_string()))?
        }
        alg @ ("EdDSA" | "ES256" | "RS256") => {
            let mut jwks = load_jwks(config, false).await?;
            let mut verified = verify_with_jwks(token, alg, metadata.key_id(), &jwks, &options);
            // An unknown kid may mean the issuer rotated its keys: refetch once.
            if matches!(verified, Err(VerifyFailure::UnknownKid)) && config.jwks_url.is_some() {
                jwks = load_jwks(config, true).await?;
                verified = verify_with_jwks(token, alg, metadata.key_id(), &jwks, &options);
            }
            verified.map_err(|e| AuthError::InvalidToken(e.describe()))?
        }
        other => {
            return Err(AuthError::InvalidToken(format!(
                "algorithm {other} is not accepted"
            )))
        }
    };
    let Some(expires_at) = claims.expires_at else {
        return Err(AuthError::InvalidToken("token has no exp".into()));
    };
    let user = claims
        .subject
        .filter(|s| !s.is_empty())
        .or(claims.custom.id.filter(|s| !s.is_empty()))
        .ok_or_else(|| AuthError::InvalidToken("token names no user (sub or id)".into()))?;
    usable_user_id(&user)?;
    Ok(Identity {
        user,
        expires_at: expires_at.as_secs(),
    })
}

/// Every query binds the user id as PostgreSQL text, which cannot hold NUL: a (validly signed)
/// token naming such a user is refused here (401) instead of failing every query (500).
fn usable_user_id(user: &str) -> Result<(), AuthError> {
    if user.contains('\0') {
        return Err(AuthError::InvalidToken("user id contains NUL".into()));
    }
    Ok(())
}

fn verification_options(config: &AuthConfig) -> VerificationOptions {
    VerificationOptions {
        time_tolerance: Some(Duration::from_secs(LEEWAY_SECONDS)),
        allowed_issuers: config.issuer.as_ref().map(|i| HashSet::from([i.clone()])),
        allowed_audiences: config.audience.as_ref().map(|a| HashSet::from([a.clone()])),
        ..Default::default()
    }
}

#[derive(Debug)]
enum VerifyFailure {
    UnknownKid,
    NoKeyForAlgorithm,
    Rejected(String),
}

impl VerifyFailure {
    fn describe(self) -> String {
        match self {
            VerifyFailure::UnknownKid => "no JWKS key has the token's kid".into(),
            VerifyFailure::NoKeyForAlgorithm => "no JWKS key fits the token's algorithm".into(),
            VerifyFailure::Rejected(reason) => reason,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

fn b64(value: &Option<String>) -> Option<Vec<u8>> {
    let value = value.as_ref()?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .ok()
}

fn verify_with_jwks(
    token: &str,
    alg: &str,
    kid: Option<&str>,
    jwks: &Jwks,
    options: &VerificationOptions,
) -> Result<JWTClaims<ExtraClaims>, VerifyFailure> {
    let candidates: Vec<&Jwk> = jwks
        .keys
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .collect();
    if candidates.is_empty() {
        return Err(if kid.is_some() {
            VerifyFailure::UnknownKid
        } else {
            VerifyFailure::NoKeyForAlgorithm
        });
    }
    let mut last = VerifyFailure::NoKeyForAlgorithm;
    for jwk in candidates {
        if jwk.alg.as_deref().is_some_and(|a| a != alg) {
            continue;
        }
        let result = match (alg, jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("EdDSA", "OKP", Some("Ed25519")) => b64(&jwk.x)
                .and_then(|x| Ed25519PublicKey::from_bytes(&x).ok())
                .map(|key| key.verify_token::<ExtraClaims>(token, Some(options.clone()))),
            ("ES256", "EC", Some("P-256")) => match (b64(&jwk.x), b64(&jwk.y)) {
                (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                    let mut sec1 = vec![0x04];
                    sec1.extend_from_slice(&x);
                    sec1.extend_from_slice(&y);
                    ES256PublicKey::from_bytes(&sec1)
                        .ok()
                        .map(|key| key.verify_token::<ExtraClaims>(token, Some(options.clone())))
                }
                _ => None,
            },
            ("RS256", "RSA", _) => match (b64(&jwk.n), b64(&jwk.e)) {
                (Some(n), Some(e)) => RS256PublicKey::from_components(&n, &e)
                    .ok()
                    .map(|key| key.verify_token::<ExtraClaims>(token, Some(options.clone()))),
                _ => None,
            },
            _ => None,
        };
        match result {
            Some(Ok(claims)) => return Ok(claims),
            Some(Err(e)) => last = VerifyFailure::Rejected(e.to_string()),
            None => {}
        }
    }
    Err(last)
}

#[derive(Debug, Serialize, Deserialize)]
struct CachedJwks {
    fetched_at: i64,
    jwks: Jwks,
}

/// The inline JWKS, or the one at `jwks_url`: from the key-value cache while it is fresh
/// (unless `refresh`), else fetched and cached. A cache that cannot be read or written is
/// bypassed, never an error.
async fn load_jwks(config: &AuthConfig, refresh: bool) -> Result<Jwks, AuthError> {
    if let Some(inline) = &config.jwks_inline {
        return serde_json::from_str(inline)
            .map_err(|e| AuthError::Unavailable(format!("variable jwks is not a JWKS: {e}")));
    }
    let url = config.jwks_url.as_ref().ok_or_else(|| {
        AuthError::InvalidToken("no JWKS is configured for asymmetric tokens".into())
    })?;
    let cache_key = format!("jwks-cache:{url}");
    let store = spin_sdk::key_value::Store::open_default().ok();
    let now = chrono::Utc::now().timestamp();
    if !refresh {
        if let Some(Ok(Some(cached))) = store.as_ref().map(|s| s.get_json::<CachedJwks>(&cache_key))
        {
            if now - cached.fetched_at < JWKS_CACHE_SECONDS {
                return Ok(cached.jwks);
            }
        }
    }
    let request = spin_sdk::http::Request::get(url).build();
    let response: spin_sdk::http::Response = spin_sdk::http::send(request)
        .await
        .map_err(|e| AuthError::Unavailable(format!("fetch {url}: {e}")))?;
    if *response.status() != 200 {
        return Err(AuthError::Unavailable(format!(
            "fetch {url}: status {}",
            response.status()
        )));
    }
    let jwks: Jwks = serde_json::from_slice(response.body())
        .map_err(|e| AuthError::Unavailable(format!("{url} is not a JWKS: {e}")))?;
    if let Some(store) = &store {
        let cached = CachedJwks {
            fetched_at: now,
            jwks: jwks.clone(),
        };
        if let Err(e) = store.set_json(&cache_key, &cached) {
            eprintln!("auth: could not cache the JWKS ({e}); continuing");
        }
    }
    Ok(jwks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by a probe after the schemathesis NUL finding: a signed token with
    /// `sub: "a\u0000b"` was a 500 on every route.
    #[test]
    fn user_ids_with_nul_are_refused() {
        assert!(usable_user_id("alice").is_ok());
        assert!(matches!(
            usable_user_id("a\0b"),
            Err(AuthError::InvalidToken(_))
        ));
    }

    #[test]
    fn bearer_header_forms() {
        assert_eq!(bearer_token(None), Err(AuthError::MissingHeader));
        assert_eq!(
            bearer_token(Some("Basic abc")),
            Err(AuthError::MalformedHeader)
        );
        assert_eq!(
            bearer_token(Some("Bearer")),
            Err(AuthError::MalformedHeader)
        );
        assert_eq!(
            bearer_token(Some("Bearer a b")),
            Err(AuthError::MalformedHeader)
        );
        assert_eq!(bearer_token(Some("bearer abc")), Ok("abc"));
    }
}
