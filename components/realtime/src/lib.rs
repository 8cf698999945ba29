//! `realtime`: `GET /api/sse/{user_id}`, the user's task and reminder events as Server-Sent
//! Events (API.md "Realtime").
//!
//! - Authenticated exactly like the API: `Authorization: Bearer`, or `?access_token=` (a browser
//!   `EventSource` cannot set headers); `403` when the token's user is not `{user_id}`. Every
//!   refusal is a JSON error sent before any streaming starts. The token never reaches a log
//!   line: the request's line names the route template, never the query string.
//! - `realtime-fanout` appends each event once to the Redis Stream `rt:<user_id>`; this component
//!   reads it with blocking `XREAD`s (a Spin HTTP component cannot `SUBSCRIBE`) and writes one
//!   frame per entry, the entry id being the SSE id. Frames are unnamed (`id:` and `data:` only),
//!   because `EventSource.onmessage` only fires for unnamed events; the JSON's `type` and
//!   `action` say what happened. `?events=named` adds an `event: <topic>` line to each frame;
//!   any other `events` value is `422`.
//! - Start: right after `Last-Event-ID` (header, else `?last_event_id=`), so a reconnecting client
//!   gets exactly what it missed while the entry is still within the capped stream; without
//!   one, from "now": the stream's current last id is read first (`XREVRANGE ... COUNT 1`) and
//!   reading continues from it, so nothing published between the connect and the first read is
//!   missed. A Last-Event-ID that is not a stream id this endpoint could have sent
//!   (`<digits>-<digits>`) is refused with `400 {"detail":"Invalid Last-Event-ID"}` rather than
//!   silently restarting from "now" (which would hide a gap from the client).
//! - A `retry: 3000` hint first; a `: keep-alive` comment after every `sse_keepalive_seconds`
//!   (default 10, at most 15) without a frame. The response ends after `sse_lifetime_seconds`
//!   (default 300) so browsers reconnect (and resume) and instances are recycled, and at the
//!   latest when the token expires (its `exp`), so a revoked session does not stream on: the
//!   browser's reconnect with the same token is then a `401`. It ends at once when a write fails
//!   (the client went away) or Redis fails (the client resumes).
//! - Redis unreachable when a client connects: `200` with only the `retry:` hint, then the end
//!   (an `EventSource` retries in 3 s; a `503` would make it stop for good).
//! - One log line per request, written when the response ends (`streamEnd` says why).

mod sse;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::SinkExt as _;
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use spin_sdk::redis::{Connection, RedisParameter};
use spin_support::auth::{self, AuthError, Identity};
use spin_support::config;
use spin_support::http::{header, send_whole, start_event_stream, ApiError, BodySink, Cors};
use spin_support::log::note;
use spin_support::request::Context;
use todo_domain::error::{kinds, FieldError};

use sse::{Entry, Frames, StreamId};

/// The component id in log lines.
const COMPONENT: &str = "realtime";
/// The route template in log lines.
const ROUTE: &str = "/api/sse/{user_id}";
/// Entries read per `XREAD`.
const READ_COUNT: i64 = 100;
const DEFAULT_LIFETIME_SECONDS: u64 = 300;
const DEFAULT_KEEPALIVE_SECONDS: u64 = 10;
/// API.md: a keep-alive comment at least every 15 s.
const MAX_KEEPALIVE_SECONDS: u64 = 15;
const RETRY_MILLISECONDS: u64 = 3000;

/// The path's user: `/api/sse/{user_id}` exactly (percent-decoded), else `404`.
fn path_user(context: &Context) -> Result<String, ApiError> {
    match context.segments().as_slice() {
        [api, sse, user] if api == "api" && sse == "sse" && !user.is_empty() => {
            context.set_route(ROUTE);
            Ok(user.clone())
        }
        _ => Err(ApiError::NotFound("Not Found".into())),
    }
}

/// The token: the `Authorization` header when present (it wins), else `?access_token=`.
async fn authorize(context: &Context, path_user: &str) -> Result<Identity, ApiError> {
    let token = match (context.authorization(), context.query_value("access_token")) {
        (Some(header), _) => auth::bearer_token(Some(header))?,
        (None, Some(token)) if !token.is_empty() && !token.contains(' ') => token,
        (None, Some(_)) => return Err(AuthError::MalformedHeader.into()),
        (None, None) => return Err(AuthError::MissingHeader.into()),
    };
    spin_support::http::authorize_path_user(token, path_user).await
}

/// `Last-Event-ID` (header, else `?last_event_id=`; empty means absent).
fn resume_after(
    context: &Context,
    last_event_id: Option<&str>,
) -> Result<Option<StreamId>, ApiError> {
    let raw = last_event_id
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .or_else(|| {
            context
                .query_value("last_event_id")
                .map(str::trim)
                .filter(|v| !v.is_empty())
        });
    match raw {
        None => Ok(None),
        Some(raw) => raw
            .parse::<StreamId>()
            .map(Some)
            .map_err(|()| ApiError::BadRequest("Invalid Last-Event-ID".into())),
    }
}

/// `?events=named` (any case) names each frame; absent or empty: unnamed frames.
fn frames(context: &Context) -> Result<Frames, ApiError> {
    match context.query_value("events").map(str::trim) {
        None | Some("") => Ok(Frames::Unnamed),
        Some(value) if value.eq_ignore_ascii_case("named") => Ok(Frames::Named),
        Some(_) => Err(ApiError::validation(FieldError::query(
            "events",
            "unknown events value; expected named (or no events parameter, for unnamed frames)",
            kinds::ENUM,
        ))),
    }
}

fn seconds_variable(name: &str, default: u64, max: u64) -> Duration {
    let seconds = config::optional(name)
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
        .min(max);
    Duration::from_secs(seconds)
}

/// Everything checked before the response head goes out: the user's stream key, where to
/// read it from (`None` when Redis cannot be reached: the response is then a `200` with only
/// the `retry:` hint and ends, so an `EventSource` reconnects with its Last-Event-ID in 3 s; a
/// `503` would make a browser give up on the stream for good), the framing, and when the
/// token expires.
struct Stream {
    key: String,
    source: Option<(Connection, StreamId)>,
    frames: Frames,
    /// The token's `exp` (seconds since the epoch).
    expires_at: u64,
}

async fn prepare(context: &Context, last_event_id: Option<&str>) -> Result<Stream, ApiError> {
    let user = path_user(context)?;
    let identity = authorize(context, &user).await?;
    let resume = resume_after(context, last_event_id)?;
    let frames = frames(context)?;
    let address = config::required("redis_url").map_err(ApiError::Internal)?;
    let key = format!("rt:{}", identity.user);
    let source = match open_at(&address, &key, resume) {
        Ok(source) => Some(source),
        Err(cause) => {
            note(format!(
                "Redis unavailable, the client is told to retry: {cause}"
            ));
            None
        }
    };
    Ok(Stream {
        key,
        source,
        frames,
        expires_at: identity.expires_at,
    })
}

/// A connection and the id to read after: `resume`, else the stream's newest entry ("now"),
/// or `0-0` for an empty or absent stream.
fn open_at(
    address: &str,
    key: &str,
    resume: Option<StreamId>,
) -> Result<(Connection, StreamId), String> {
    let conn = Connection::open(address).map_err(|e| format!("cannot open Redis: {e}"))?;
    if let Some(id) = resume {
        return Ok((conn, id));
    }
    let text = |s: &str| RedisParameter::Binary(s.as_bytes().to_vec());
    let reply = conn
        .execute(
            "XREVRANGE",
            &[
                text(key),
                text("+"),
                text("-"),
                text("COUNT"),
                RedisParameter::Int64(1),
            ],
        )
        .map_err(|e| format!("XREVRANGE failed: {e}"))?;
    let entries =
        sse::parse_entries(&reply).map_err(|e| format!("unexpected XREVRANGE reply: {e}"))?;
    let after = entries.first().map(|e| e.id).unwrap_or(StreamId::ZERO);
    Ok((conn, after))
}

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let context = Context::new(COMPONENT, &incoming);
    let last_event_id = header(&incoming, "last-event-id");
    let cors = Cors::for_origin(context.origin.as_deref());
    let prepared = match context.method.as_str() {
        "OPTIONS" => {
            let _ = path_user(&context);
            Err(Ok(cors.preflight(context.origin.as_deref())))
        }
        "GET" => prepare(&context, last_event_id.as_deref())
            .await
            .map_err(Err),
        _ => {
            let _ = path_user(&context);
            Err(Err(ApiError::method_not_allowed("GET, OPTIONS")))
        }
    };
    match prepared {
        Err(outcome) => send_whole(out, context.finish(outcome, Some(&cors))).await,
        Ok(stream) => {
            let body = start_event_stream(out, context.stream_headers(Some(&cors)));
            let end = run_stream(body, stream).await;
            context.log_field("streamEnd", json!(end.as_str()));
            context.write_log(200, None);
        }
    }
}

/// Why a stream ended (the `streamEnd` of its log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Lifetime,
    TokenExpired,
    ClientGone,
    RedisFailed,
    RedisUnavailable,
}

impl End {
    fn as_str(self) -> &'static str {
        match self {
            End::Lifetime => "lifetime",
            End::TokenExpired => "token-expired",
            End::ClientGone => "client-gone",
            End::RedisFailed => "redis-failed",
            End::RedisUnavailable => "redis-unavailable",
        }
    }
}

/// How long the stream may run: its lifetime, or less if the token expires first.
fn stream_deadline(lifetime: Duration, expires_at: u64) -> (Duration, End) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let token_left = Duration::from_secs(expires_at.saturating_sub(now));
    if token_left < lifetime {
        (token_left, End::TokenExpired)
    } else {
        (lifetime, End::Lifetime)
    }
}

async fn run_stream(mut body: BodySink, stream: Stream) -> End {
    let lifetime = seconds_variable("sse_lifetime_seconds", DEFAULT_LIFETIME_SECONDS, 24 * 3600);
    let keepalive = seconds_variable(
        "sse_keepalive_seconds",
        DEFAULT_KEEPALIVE_SECONDS,
        MAX_KEEPALIVE_SECONDS,
    );
    let (allowed, ends_by) = stream_deadline(lifetime, stream.expires_at);
    let deadline = Instant::now() + allowed;
    let Stream {
        key,
        source,
        frames,
        ..
    } = stream;
    if body
        .send(format!("retry: {RETRY_MILLISECONDS}\n\n").into_bytes())
        .await
        .is_err()
    {
        return End::ClientGone;
    }
    let Some((conn, mut after)) = source else {
        return End::RedisUnavailable;
    };
    let mut last_write = Instant::now();
    let text = |s: &str| RedisParameter::Binary(s.as_bytes().to_vec());
    loop {
        let now = Instant::now();
        if now >= deadline {
            return ends_by;
        }
        let since_write = now.duration_since(last_write);
        if since_write >= keepalive {
            if body.send(b": keep-alive\n\n".to_vec()).await.is_err() {
                return End::ClientGone;
            }
            last_write = Instant::now();
            continue;
        }
        // BLOCK 0 would wait forever: at least 1 ms.
        let block = (keepalive - since_write)
            .min(deadline - now)
            .as_millis()
            .max(1);
        let reply = conn.execute(
            "XREAD",
            &[
                text("COUNT"),
                RedisParameter::Int64(READ_COUNT),
                text("BLOCK"),
                RedisParameter::Int64(block as i64),
                text("STREAMS"),
                text(&key),
                text(&after.to_string()),
            ],
        );
        let entries: Vec<Entry> = match reply
            .map_err(|e| e.to_string())
            .and_then(|r| sse::parse_xread(&r, &key).map_err(|e| e.to_string()))
        {
            Ok(entries) => entries,
            Err(error) => {
                // The client reconnects after `retry` and resumes from its Last-Event-ID.
                note(format!(
                    "reading the user's stream failed, ending it: {error}"
                ));
                return End::RedisFailed;
            }
        };
        if let Some(last) = entries.last() {
            let mut chunk = String::new();
            for entry in &entries {
                sse::write_frame(&mut chunk, entry, frames);
            }
            after = last.id;
            if body.send(chunk.into_bytes()).await.is_err() {
                return End::ClientGone;
            }
            last_write = Instant::now();
        }
    }
}
