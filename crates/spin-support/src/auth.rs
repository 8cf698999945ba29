//! Bearer-token authentication (API.md "Authentication").
//!
//! HS256 with `jwt_hs256_secret`; EdDSA (Ed25519), ES256 and RS256 against a JWKS given
//! inline (`jwks`) or fetched from `jwks_url`. Which key verifies a token is decided by the
//! key, never by the token: an HS256 token is only ever checked against the shared secret, an
//! RS256 token only against RSA keys, so algorithm confusion and `alg: none` fail. `exp` is
//! required; `exp`/`nbf` have a 60 s leeway; `iss`/`aud` are enforced when configured. No
//! other path lets a request in.
//!
//! Two caches make a JWKS-verified request nearly as cheap as an HS256 one. Both live in the
//! key-value store `local`, which nothing needs to share between replicas (Spin's own store,
//! in memory, in `runtime-config.toml`); a store that cannot be opened, read or written is
//! bypassed, never an error:
//! - the JWKS of `jwks_url`, as checked key material, for `JWKS_CACHE_SECONDS`: after that, or
//!   as soon as a token names a `kid` it does not have (key rotation), it is fetched again. A
//!   fetch that finds other keys than the cached ones starts a new *generation* of keys;
//! - every token verified against a JWKS, by SHA-256 of the token and of the settings it was
//!   verified under (JWKS source, issuer, audience): its user, `exp`, `nbf` and the generation
//!   that verified it. A hit costs that hash and two small local reads; `exp`/`nbf` are checked
//!   again on every use, and an entry counts only while its generation is the current one, so
//!   a key removed from the JWKS stops verifying cached tokens exactly when it stops verifying
//!   new ones: when the JWKS is next fetched. A rejection is never cached.

use std::collections::HashSet;

use base64::Engine;
use jwt_simple::prelude::*;
use serde::Deserialize;
use sha2::Digest;
use spin_sdk::key_value::Store;

const LEEWAY_SECONDS: u64 = 60;
/// How long a fetched JWKS (and every token it verified) is trusted without fetching it again.
const JWKS_CACHE_SECONDS: i64 = 600;
/// The key-value store of this process's caches.
const LOCAL_STORE: &str = "local";
/// Verified tokens are cached in this many slots (a direct-mapped cache: the key-value store
/// has no expiry, so a bounded key space is what keeps it from growing without end).
const TOKEN_CACHE_SLOTS: u16 = 1 << 14;
/// The generation of a JWKS given inline: it changes only with the variable, which is part of
/// the settings every cached token is keyed by.
const INLINE_GENERATION: i64 = 0;

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

fn invalid(reason: impl std::fmt::Display) -> AuthError {
    AuthError::InvalidToken(reason.to_string())
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
    let metadata = Token::decode_metadata(token).map_err(invalid)?;
    let verified = match metadata.algorithm() {
        "HS256" => {
            let secret = config
                .hs256_secret
                .as_ref()
                .ok_or_else(|| invalid("HS256 is not enabled"))?;
            let claims = HS256Key::from_bytes(secret.as_bytes())
                .verify_token::<ExtraClaims>(token, Some(verification_options(config)))
                .map_err(invalid)?;
            VerifiedToken::from_claims(claims)?
        }
        alg @ ("EdDSA" | "ES256" | "RS256") => {
            authenticate_with_jwks(token, alg, metadata.key_id(), config).await?
        }
        other => return Err(invalid(format!("algorithm {other} is not accepted"))),
    };
    Ok(Identity {
        user: verified.user,
        expires_at: u64::try_from(verified.exp).unwrap_or(0),
    })
}

async fn authenticate_with_jwks(
    token: &str,
    alg: &str,
    kid: Option<&str>,
    config: &AuthConfig,
) -> Result<VerifiedToken, AuthError> {
    let source = JwksSource::of(config)?;
    let store = open_local_store();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let digest = token_digest(token, &source, config);

    let stored_keys = match (&source, &store) {
        (JwksSource::Url(url), Some(store)) => read_key_set(store, url),
        _ => None,
    };
    let fresh = stored_keys
        .as_ref()
        .is_some_and(|keys| keys.is_fresh(now_ms));
    let generation = match &source {
        JwksSource::Inline(_) => Some(INLINE_GENERATION),
        JwksSource::Url(_) => stored_keys.as_ref().filter(|_| fresh).map(|k| k.generation),
    };
    if let (Some(store), Some(generation)) = (&store, generation) {
        if let Some(cached) = read_cached_token(store, &digest, generation, now_ms) {
            return Ok(cached);
        }
    }

    let options = verification_options(config);
    let (mut keys, fetched_now) = match stored_keys {
        Some(keys) if fresh => (keys, false),
        previous => {
            let loaded = load_key_set(&source, store.as_ref(), previous.as_ref(), now_ms).await?;
            (loaded, true)
        }
    };
    let mut verified = verify_with_keys(token, alg, kid, &keys.keys, &options);
    // An unknown kid may mean the issuer rotated its keys: fetch again, once.
    if let (Err(VerifyFailure::UnknownKid), JwksSource::Url(url), false) =
        (&verified, &source, fetched_now)
    {
        keys = fetch_key_set(url, store.as_ref(), Some(&keys), now_ms).await?;
        verified = verify_with_keys(token, alg, kid, &keys.keys, &options);
    }
    let verified = VerifiedToken::from_claims(verified.map_err(|e| invalid(e.describe()))?)?;
    if let Some(store) = &store {
        remember_token(store, &digest, keys.generation, &verified);
    }
    Ok(verified)
}

/// What a verified token stands for, and the times it is valid between.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct VerifiedToken {
    user: String,
    /// `exp`, epoch seconds.
    exp: i64,
    /// `nbf`, epoch seconds.
    nbf: Option<i64>,
}

impl VerifiedToken {
    fn from_claims(claims: JWTClaims<ExtraClaims>) -> Result<VerifiedToken, AuthError> {
        let exp = claims
            .expires_at
            .ok_or_else(|| invalid("token has no exp"))?;
        let user = claims
            .subject
            .filter(|s| !s.is_empty())
            .or(claims.custom.id.filter(|s| !s.is_empty()))
            .ok_or_else(|| invalid("token names no user (sub or id)"))?;
        usable_user_id(&user)?;
        let seconds = |t: UnixTimeStamp| i64::try_from(t.as_secs()).unwrap_or(i64::MAX);
        Ok(VerifiedToken {
            user,
            exp: seconds(exp),
            nbf: claims.invalid_before.map(seconds),
        })
    }

    /// `exp` and `nbf` at `now_ms`, with the leeway jwt-simple allows when it verifies.
    fn is_current(&self, now_ms: i64) -> bool {
        let leeway_ms = LEEWAY_SECONDS as i64 * 1000;
        now_ms <= self.exp.saturating_mul(1000).saturating_add(leeway_ms)
            && self
                .nbf
                .is_none_or(|nbf| now_ms.saturating_add(leeway_ms) >= nbf.saturating_mul(1000))
    }
}

/// Every query binds the user id as PostgreSQL text, which cannot hold NUL: a (validly signed)
/// token naming such a user is refused here (401) instead of failing every query (500).
fn usable_user_id(user: &str) -> Result<(), AuthError> {
    if user.contains('\0') {
        return Err(invalid("user id contains NUL"));
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

// ---------------------------------------------------------------- the verified-token cache

/// A verified token as cached: `digest` is the whole SHA-256 (the slot holds only part of it).
#[derive(Debug, Serialize, Deserialize)]
struct CachedToken {
    digest: String,
    generation: i64,
    token: VerifiedToken,
}

/// SHA-256 over the token and every setting its verification depended on, each part length-
/// prefixed so that no two different inputs hash the same bytes.
fn token_digest(token: &str, source: &JwksSource, config: &AuthConfig) -> [u8; 32] {
    let mut hash = sha2::Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    part(b"todo-backend verified token v1");
    match source {
        JwksSource::Inline(jwks) => {
            part(b"inline");
            part(jwks.as_bytes());
        }
        JwksSource::Url(url) => {
            part(b"url");
            part(url.as_bytes());
        }
    }
    for setting in [&config.issuer, &config.audience] {
        match setting {
            Some(value) => {
                part(b"some");
                part(value.as_bytes());
            }
            None => part(b"none"),
        }
    }
    part(token.as_bytes());
    hash.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn token_slot_key(digest: &[u8; 32]) -> String {
    let slot = u16::from_be_bytes([digest[0], digest[1]]) % TOKEN_CACHE_SLOTS;
    format!("auth-token:{slot}")
}

/// The cached token, if this slot holds this very token, verified by the current generation
/// of keys, and still within its `exp`/`nbf`.
fn read_cached_token(
    store: &Store,
    digest: &[u8; 32],
    generation: i64,
    now_ms: i64,
) -> Option<VerifiedToken> {
    let bytes = store.get(&token_slot_key(digest)).ok()??;
    let cached: CachedToken = serde_json::from_slice(&bytes).ok()?;
    usable_cached_token(cached, &hex(digest), generation, now_ms)
}

fn usable_cached_token(
    cached: CachedToken,
    digest_hex: &str,
    generation: i64,
    now_ms: i64,
) -> Option<VerifiedToken> {
    (cached.digest == digest_hex
        && cached.generation == generation
        && cached.token.is_current(now_ms))
    .then_some(cached.token)
}

fn remember_token(store: &Store, digest: &[u8; 32], generation: i64, token: &VerifiedToken) {
    let cached = CachedToken {
        digest: hex(digest),
        generation,
        token: token.clone(),
    };
    if let Err(e) = store.set_json(token_slot_key(digest), &cached) {
        crate::log::note(format!(
            "auth: could not cache a verified token ({e}); continuing"
        ));
    }
}

fn open_local_store() -> Option<Store> {
    match Store::open(LOCAL_STORE) {
        Ok(store) => Some(store),
        Err(e) => {
            crate::log::note(format!(
                "auth: key-value store `{LOCAL_STORE}` unavailable ({e:?}); verifying without a cache"
            ));
            None
        }
    }
}

// ---------------------------------------------------------------- JWKS and keys

enum JwksSource<'a> {
    Inline(&'a str),
    Url(&'a str),
}

impl<'a> JwksSource<'a> {
    fn of(config: &'a AuthConfig) -> Result<JwksSource<'a>, AuthError> {
        match (&config.jwks_inline, &config.jwks_url) {
            (Some(inline), _) => Ok(JwksSource::Inline(inline)),
            (None, Some(url)) => Ok(JwksSource::Url(url)),
            (None, None) => Err(invalid("no JWKS is configured for asymmetric tokens")),
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

/// A JWKS reduced to what verification needs, decoded once when it is fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct KeySet {
    /// When it was fetched (epoch milliseconds).
    fetched_at: i64,
    /// Names these keys: when they were first fetched. A fetch that finds the same keys keeps
    /// it (the tokens they verified stay verified); any change of the keys starts a new one.
    generation: i64,
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    fn inline(jwks: Jwks) -> KeySet {
        KeySet {
            fetched_at: INLINE_GENERATION,
            generation: INLINE_GENERATION,
            keys: jwks.keys.into_iter().map(VerifyingKey::from_jwk).collect(),
        }
    }

    /// The keys of `jwks`, fetched at `now_ms`, after `previous` (the cached keys, if any).
    fn fetched(jwks: Jwks, now_ms: i64, previous: Option<&KeySet>) -> KeySet {
        let keys: Vec<VerifyingKey> = jwks.keys.into_iter().map(VerifyingKey::from_jwk).collect();
        let generation = match previous {
            Some(previous) if previous.keys == keys => previous.generation,
            Some(previous) => now_ms.max(previous.generation + 1),
            None => now_ms,
        };
        KeySet {
            fetched_at: now_ms,
            generation,
            keys,
        }
    }

    fn is_fresh(&self, now_ms: i64) -> bool {
        (0..JWKS_CACHE_SECONDS * 1000).contains(&(now_ms - self.fetched_at))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct VerifyingKey {
    kid: Option<String>,
    /// The JWK's `alg`: when present, the only algorithm the key may verify.
    alg: Option<String>,
    /// `None` for a key of a kind (or with values) no accepted algorithm can use: it still
    /// counts as present for its `kid`.
    material: Option<KeyMaterial>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum KeyMaterial {
    /// The 32-byte public key.
    Ed25519(Vec<u8>),
    /// The uncompressed SEC1 point (0x04 || x || y).
    P256(Vec<u8>),
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

fn b64(value: &Option<String>) -> Option<Vec<u8>> {
    let value = value.as_ref()?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .ok()
}

impl VerifyingKey {
    fn from_jwk(jwk: Jwk) -> VerifyingKey {
        let material = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => b64(&jwk.x).map(KeyMaterial::Ed25519),
            ("EC", Some("P-256")) => match (b64(&jwk.x), b64(&jwk.y)) {
                (Some(x), Some(y)) if x.len() == 32 && y.len() == 32 => {
                    Some(KeyMaterial::P256([&[0x04][..], &x, &y].concat()))
                }
                _ => None,
            },
            ("RSA", _) => match (b64(&jwk.n), b64(&jwk.e)) {
                (Some(n), Some(e)) => Some(KeyMaterial::Rsa { n, e }),
                _ => None,
            },
            _ => None,
        };
        VerifyingKey {
            kid: jwk.kid,
            alg: jwk.alg,
            material,
        }
    }

    /// Verifies `token` if this key is of the kind `alg` needs; `None` if it is not (or its
    /// values do not make a key).
    fn verify(
        &self,
        token: &str,
        alg: &str,
        options: &VerificationOptions,
    ) -> Option<Result<JWTClaims<ExtraClaims>, jwt_simple::Error>> {
        let options = Some(options.clone());
        match (alg, self.material.as_ref()?) {
            ("EdDSA", KeyMaterial::Ed25519(x)) => Ed25519PublicKey::from_bytes(x)
                .ok()
                .map(|key| key.verify_token(token, options)),
            ("ES256", KeyMaterial::P256(sec1)) => ES256PublicKey::from_bytes(sec1)
                .ok()
                .map(|key| key.verify_token(token, options)),
            ("RS256", KeyMaterial::Rsa { n, e }) => RS256PublicKey::from_components(n, e)
                .ok()
                .map(|key| key.verify_token(token, options)),
            _ => None,
        }
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

fn verify_with_keys(
    token: &str,
    alg: &str,
    kid: Option<&str>,
    keys: &[VerifyingKey],
    options: &VerificationOptions,
) -> Result<JWTClaims<ExtraClaims>, VerifyFailure> {
    let candidates: Vec<&VerifyingKey> = keys
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
    for key in candidates {
        if key.alg.as_deref().is_some_and(|a| a != alg) {
            continue;
        }
        match key.verify(token, alg, options) {
            Some(Ok(claims)) => return Ok(claims),
            Some(Err(e)) => last = VerifyFailure::Rejected(e.to_string()),
            None => {}
        }
    }
    Err(last)
}

fn key_set_cache_key(url: &str) -> String {
    format!("jwks-keys:{url}")
}

fn read_key_set(store: &Store, url: &str) -> Option<KeySet> {
    let bytes = store.get(&key_set_cache_key(url)).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// The keys of an inline JWKS, or freshly fetched from `jwks_url` (`previous`: the keys the
/// cache held, however old).
async fn load_key_set(
    source: &JwksSource<'_>,
    store: Option<&Store>,
    previous: Option<&KeySet>,
    now_ms: i64,
) -> Result<KeySet, AuthError> {
    match source {
        JwksSource::Inline(inline) => serde_json::from_str(inline)
            .map(KeySet::inline)
            .map_err(|e| AuthError::Unavailable(format!("variable jwks is not a JWKS: {e}"))),
        JwksSource::Url(url) => fetch_key_set(url, store, previous, now_ms).await,
    }
}

/// Fetches the JWKS at `url` and caches its keys.
async fn fetch_key_set(
    url: &str,
    store: Option<&Store>,
    previous: Option<&KeySet>,
    now_ms: i64,
) -> Result<KeySet, AuthError> {
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
    let keys = KeySet::fetched(jwks, now_ms, previous);
    if let Some(store) = store {
        if let Err(e) = store.set_json(key_set_cache_key(url), &keys) {
            crate::log::note(format!("auth: could not cache the JWKS ({e}); continuing"));
        }
    }
    Ok(keys)
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

    const NOW_MS: i64 = 1_800_000_000_000;

    fn verified(exp: i64, nbf: Option<i64>) -> VerifiedToken {
        VerifiedToken {
            user: "alice".into(),
            exp,
            nbf,
        }
    }

    #[test]
    fn a_cached_token_is_current_only_within_exp_and_nbf_and_their_leeway() {
        let now_s = NOW_MS / 1000;
        assert!(verified(now_s - 60, None).is_current(NOW_MS));
        assert!(!verified(now_s - 60, None).is_current(NOW_MS + 1));
        assert!(!verified(now_s - 61, None).is_current(NOW_MS));
        assert!(verified(now_s + 3600, Some(now_s + 60)).is_current(NOW_MS));
        assert!(!verified(now_s + 3600, Some(now_s + 61)).is_current(NOW_MS));
        assert!(verified(i64::MAX, None).is_current(NOW_MS), "no overflow");
    }

    #[test]
    fn a_cached_token_counts_only_for_its_own_digest_and_its_generation_of_keys() {
        let cached = |digest: &str, generation| CachedToken {
            digest: digest.into(),
            generation,
            token: verified(NOW_MS / 1000 + 600, None),
        };
        assert_eq!(
            usable_cached_token(cached("ab", 7), "ab", 7, NOW_MS),
            Some(verified(NOW_MS / 1000 + 600, None))
        );
        assert_eq!(
            usable_cached_token(cached("ab", 7), "cd", 7, NOW_MS),
            None,
            "another token in the same slot"
        );
        assert_eq!(
            usable_cached_token(cached("ab", 7), "ab", 8, NOW_MS),
            None,
            "verified by keys fetched before the current ones"
        );
        assert_eq!(
            usable_cached_token(cached("ab", 7), "ab", 7, NOW_MS + 661_000),
            None,
            "past its exp"
        );
    }

    #[test]
    fn fetched_keys_are_trusted_for_the_cache_window_only() {
        let keys = KeySet {
            fetched_at: NOW_MS,
            generation: NOW_MS - 3_600_000,
            keys: vec![],
        };
        assert!(keys.is_fresh(NOW_MS));
        assert!(keys.is_fresh(NOW_MS + JWKS_CACHE_SECONDS * 1000 - 1));
        assert!(!keys.is_fresh(NOW_MS + JWKS_CACHE_SECONDS * 1000));
        assert!(
            !keys.is_fresh(NOW_MS - 1),
            "fetched in the future: fetch again"
        );
    }

    #[test]
    fn a_refetched_jwks_keeps_its_generation_while_its_keys_are_the_same() {
        let jwks = |xs: &[u8]| -> Jwks {
            serde_json::from_value(
                serde_json::json!({"keys": xs.iter().map(|x| serde_json::json!(
                {"kty": "OKP", "crv": "Ed25519", "kid": format!("k{x}"), "x": b64url(&[*x; 32])}
            )).collect::<Vec<_>>()}),
            )
            .unwrap()
        };
        let first = KeySet::fetched(jwks(&[1, 2]), NOW_MS, None);
        assert_eq!(first.generation, NOW_MS);
        let same = KeySet::fetched(jwks(&[1, 2]), NOW_MS + 700_000, Some(&first));
        assert_eq!(
            same.generation, NOW_MS,
            "the same keys: the same generation"
        );
        assert_eq!(same.fetched_at, NOW_MS + 700_000);
        assert!(same.is_fresh(NOW_MS + 700_000));
        let rotated = KeySet::fetched(jwks(&[2, 3]), NOW_MS + 800_000, Some(&same));
        assert_eq!(
            rotated.generation,
            NOW_MS + 800_000,
            "other keys: a new generation"
        );
        let removed = KeySet::fetched(jwks(&[2]), NOW_MS + 800_000, Some(&rotated));
        assert!(
            removed.generation > rotated.generation,
            "even within the same millisecond"
        );
    }

    #[test]
    fn the_token_digest_depends_on_the_token_and_every_verification_setting() {
        let config = AuthConfig {
            jwks_url: Some("https://auth.example/api/auth/jwks".into()),
            ..Default::default()
        };
        let url = JwksSource::of(&config).unwrap();
        let base = token_digest("a.b.c", &url, &config);
        assert_eq!(base, token_digest("a.b.c", &url, &config));
        assert_ne!(base, token_digest("a.b.d", &url, &config));
        let other_url = AuthConfig {
            jwks_url: Some("https://auth.example/other".into()),
            ..config.clone()
        };
        assert_ne!(
            base,
            token_digest("a.b.c", &JwksSource::of(&other_url).unwrap(), &other_url)
        );
        let inline = JwksSource::Inline("https://auth.example/api/auth/jwks");
        assert_ne!(base, token_digest("a.b.c", &inline, &config));
        let with_issuer = AuthConfig {
            issuer: Some("https://auth.example".into()),
            ..config.clone()
        };
        assert_ne!(base, token_digest("a.b.c", &url, &with_issuer));
        let with_audience = AuthConfig {
            audience: Some("https://auth.example".into()),
            ..config.clone()
        };
        assert_ne!(
            token_digest("a.b.c", &url, &with_issuer),
            token_digest("a.b.c", &url, &with_audience),
            "an issuer is not an audience"
        );
        let empty_issuer = AuthConfig {
            issuer: Some(String::new()),
            ..config.clone()
        };
        assert_ne!(base, token_digest("a.b.c", &url, &empty_issuer));
    }

    fn jwk(value: serde_json::Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    fn b64url(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn keys_are_decoded_from_the_jwks_once_and_unusable_ones_keep_their_kid() {
        let ed = VerifyingKey::from_jwk(jwk(serde_json::json!(
            {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": b64url(&[7; 32])}
        )));
        assert_eq!(ed.material, Some(KeyMaterial::Ed25519(vec![7; 32])));
        let ec = VerifyingKey::from_jwk(jwk(serde_json::json!(
            {"kty": "EC", "crv": "P-256", "kid": "b", "alg": "ES256", "x": b64url(&[1; 32]), "y": b64url(&[2; 32])}
        )));
        let mut sec1 = vec![4];
        sec1.extend([1; 32]);
        sec1.extend([2; 32]);
        assert_eq!(ec.material, Some(KeyMaterial::P256(sec1)));
        assert_eq!(ec.alg.as_deref(), Some("ES256"));
        let short_ec = VerifyingKey::from_jwk(jwk(serde_json::json!(
            {"kty": "EC", "crv": "P-256", "kid": "c", "x": b64url(&[1; 31]), "y": b64url(&[2; 32])}
        )));
        assert_eq!(short_ec.material, None);
        assert_eq!(short_ec.kid.as_deref(), Some("c"));
        let rsa = VerifyingKey::from_jwk(jwk(serde_json::json!(
            {"kty": "RSA", "kid": "d", "n": b64url(&[9; 256]), "e": "AQAB"}
        )));
        assert_eq!(
            rsa.material,
            Some(KeyMaterial::Rsa {
                n: vec![9; 256],
                e: vec![1, 0, 1]
            })
        );
        let unknown = VerifyingKey::from_jwk(jwk(
            serde_json::json!({"kty": "oct", "kid": "e", "k": "c2VjcmV0"}),
        ));
        assert_eq!(unknown.material, None);
        assert_eq!(unknown.kid.as_deref(), Some("e"));
    }

    /// The keys as the cache holds them (JSON and back) verify exactly as the JWKS did.
    #[test]
    fn cached_keys_verify_and_refuse_exactly_as_the_jwks() {
        let ed = Ed25519KeyPair::generate().with_key_id("ed");
        let es = ES256KeyPair::generate().with_key_id("es");
        let point = es.public_key().public_key().to_bytes_uncompressed();
        let jwks: Jwks = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64url(&ed.public_key().to_bytes())},
            {"kty": "EC", "crv": "P-256", "kid": "es", "alg": "ES256", "x": b64url(&point[1..33]), "y": b64url(&point[33..65])},
            {"kty": "OKP", "crv": "Ed25519", "kid": "pinned", "alg": "ES256", "x": b64url(&ed.public_key().to_bytes())},
        ]}))
        .unwrap();
        let keys: KeySet = serde_json::from_slice(
            &serde_json::to_vec(&KeySet::fetched(jwks, NOW_MS, None)).unwrap(),
        )
        .unwrap();
        let options = verification_options(&AuthConfig::default());
        let claims = || Claims::create(Duration::from_hours(1)).with_subject("alice");
        let verify = |token: &str, alg: &str, kid: Option<&str>| {
            verify_with_keys(token, alg, kid, &keys.keys, &options)
        };

        let token = ed.sign(claims()).unwrap();
        assert_eq!(
            verify(&token, "EdDSA", Some("ed"))
                .unwrap()
                .subject
                .as_deref(),
            Some("alice")
        );
        let token = es.sign(claims()).unwrap();
        assert!(verify(&token, "ES256", Some("es")).is_ok());
        let stranger = Ed25519KeyPair::generate().sign(claims()).unwrap();
        assert!(matches!(
            verify(&stranger, "EdDSA", Some("ed")),
            Err(VerifyFailure::Rejected(_))
        ));
        assert!(matches!(
            verify(&stranger, "EdDSA", Some("nope")),
            Err(VerifyFailure::UnknownKid)
        ));
        // The key decides the algorithm: an Ed25519 key never checks an ES256 token, and a key
        // whose JWK says ES256 never checks an EdDSA token.
        let es_token = es.sign(claims()).unwrap();
        assert!(matches!(
            verify(&es_token, "ES256", Some("ed")),
            Err(VerifyFailure::NoKeyForAlgorithm)
        ));
        let ed_token = ed.sign(claims()).unwrap();
        assert!(matches!(
            verify(&ed_token, "EdDSA", Some("pinned")),
            Err(VerifyFailure::NoKeyForAlgorithm)
        ));
    }

    #[test]
    fn a_verified_token_needs_exp_and_a_user() {
        let claims = Claims::with_custom_claims(
            ExtraClaims {
                id: Some("carol".into()),
            },
            Duration::from_hours(1),
        );
        let exp = i64::try_from(claims.expires_at.unwrap().as_secs()).unwrap();
        assert_eq!(
            VerifiedToken::from_claims(claims).unwrap(),
            VerifiedToken {
                user: "carol".into(),
                exp,
                nbf: Some(exp - 3600),
            }
        );
        let mut no_exp = Claims::with_custom_claims(
            ExtraClaims {
                id: Some("carol".into()),
            },
            Duration::from_hours(1),
        );
        no_exp.expires_at = None;
        assert!(matches!(
            VerifiedToken::from_claims(no_exp),
            Err(AuthError::InvalidToken(_))
        ));
        let nobody = Claims::with_custom_claims(ExtraClaims::default(), Duration::from_hours(1));
        assert!(matches!(
            VerifiedToken::from_claims(nobody),
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
