//! `realtime`: `GET /api/sse/{user_id}`, the user's task and reminder events as Server-Sent
//! Events (API.md "Realtime").
//!
//! - Authenticated exactly like the API: `Authorization: Bearer`, or `?access_token=` (a browser
//!   `EventSource` cannot set headers); `403` when the token's user is not `{user_id}`. Every
//!   refusal is a JSON error sent before any streaming starts.
//! - `realtime-fanout` appends each event once to the Redis Stream `rt:<user_id>`; this component
//!   reads it with blocking `XREAD`s (a Spin HTTP component cannot `SUBSCRIBE`) and writes one
//!   `id:`/`event:`/`data:` frame per entry, the entry id being the SSE id.
//! - Start: right after `Last-Event-ID` (header, else `?last_event_id=`), so a reconnecting client
//!   gets exactly what it missed while the entry is still within the capped stream; without
//!   one, from "now": the stream's current last id is read first (`XREVRANGE ... COUNT 1`) and
//!   reading continues from it, so nothing published between the connect and the first read is
//!   missed. A Last-Event-ID that is not a stream id this endpoint could have sent
//!   (`<digits>-<digits>`) is refused with `400 {"detail":"Invalid Last-Event-ID"}` rather than
//!   silently restarting from "now" (which would hide a gap from the client).
//! - A `retry: 3000` hint first; a `: keep-alive` comment after every `sse_keepalive_seconds`
//!   (default 10, at most 15) without a frame; the response ends after `sse_lifetime_seconds`
//!   (default 300) so browsers reconnect (and resume) and instances are recycled; it ends at
//!   once when a write fails (the client went away) or Redis fails (the client resumes).
//! - Redis unreachable when a client connects: `200` with only the `retry:` hint, then the end
//!   (an `EventSource` retries in 3 s; a `503` would make it stop for good). The cause is logged
//!   with the request id.

mod sse;

use std::time::{Duration, Instant};

use futures::SinkExt as _;
use spin_sdk::http::{
    Fields, IncomingRequest, Method, OutgoingResponse, Response, ResponseOutparam,
};
use spin_sdk::http_component;
use spin_sdk::redis::{Connection, RedisParameter};
use spin_support::auth::{self, AuthError};
use spin_support::config;
use spin_support::http::{header, ApiError, Cors};

use sse::{Entry, StreamId};

/// Entries read per `XREAD`.
const READ_COUNT: i64 = 100;
const DEFAULT_LIFETIME_SECONDS: u64 = 300;
const DEFAULT_KEEPALIVE_SECONDS: u64 = 10;
/// API.md: a keep-alive comment at least every 15 s.
const MAX_KEEPALIVE_SECONDS: u64 = 15;
const RETRY_MILLISECONDS: u64 = 3000;

struct Context {
    request_id: String,
    origin: Option<String>,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    last_event_id: Option<String>,
}

impl Context {
    fn new(incoming: &IncomingRequest) -> Context {
        let path_and_query = incoming.path_with_query().unwrap_or_default();
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (path_and_query, String::new()),
        };
        Context {
            request_id: spin_support::http::request_id(header(incoming, "x-request-id").as_deref()),
            origin: header(incoming, "origin"),
            authorization: header(incoming, "authorization"),
            last_event_id: header(incoming, "last-event-id"),
            path,
            query: form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path's user: `/api/sse/{user_id}` exactly (percent-decoded), else `404`.
    fn path_user(&self) -> Result<String, ApiError> {
        let segments: Vec<String> = self
            .path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(spin_support::http::decode_path_segment)
            .collect();
        match segments.as_slice() {
            [api, sse, user] if api == "api" && sse == "sse" && !user.is_empty() => {
                Ok(user.clone())
            }
            _ => Err(ApiError::NotFound("Not Found".into())),
        }
    }

    /// The token: the `Authorization` header when present (it wins), else `?access_token=`.
    async fn authorize(&self, path_user: &str) -> Result<String, ApiError> {
        let token = match (self.authorization.as_deref(), self.query("access_token")) {
            (Some(header), _) => auth::bearer_token(Some(header))?,
            (None, Some(token)) if !token.is_empty() && !token.contains(' ') => token,
            (None, Some(_)) => return Err(AuthError::MalformedHeader.into()),
            (None, None) => return Err(AuthError::MissingHeader.into()),
        };
        spin_support::http::authorize_path_user(token, path_user, &self.request_id).await
    }

    /// `Last-Event-ID` (header, else `?last_event_id=`; empty means absent).
    fn resume_after(&self) -> Result<Option<StreamId>, ApiError> {
        let raw = self
            .last_event_id
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .or_else(|| {
                self.query("last_event_id")
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
}

fn seconds_variable(name: &str, default: u64, max: u64) -> Duration {
    let seconds = config::optional(name)
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
        .min(max);
    Duration::from_secs(seconds)
}

/// Everything checked before the response head goes out: the user's stream key and where to
/// read it from, or `None` when Redis cannot be reached. Then the response is a `200` with only
/// the `retry:` hint and ends, so an `EventSource` reconnects (with its Last-Event-ID) in 3 s;
/// a `503` would make a browser give up on the stream for good.
struct Stream {
    key: String,
    source: Option<(Connection, StreamId)>,
}

async fn prepare(context: &Context) -> Result<Stream, ApiError> {
    let user = context.path_user()?;
    let user = context.authorize(&user).await?;
    let resume = context.resume_after()?;
    let address = config::required("redis_url").map_err(ApiError::Internal)?;
    let key = format!("rt:{user}");
    let source = match open_at(&address, &key, resume) {
        Ok(source) => Some(source),
        Err(cause) => {
            eprintln!(
                "request {}: Redis unavailable, the client is told to retry: {cause}",
                context.request_id
            );
            None
        }
    };
    Ok(Stream { key, source })
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
    let context = Context::new(&incoming);
    let cors = Cors::from_variables();
    let method = incoming.method();
    let prepared = match method {
        Method::Options => Err(cors.preflight(context.origin.as_deref())),
        Method::Get => prepare(&context)
            .await
            .map_err(|error| error.to_response(&context.request_id)),
        _ => Err(ApiError::MethodNotAllowed("Method Not Allowed".into())
            .to_response(&context.request_id)),
    };
    let mut head = vec![("x-request-id".to_string(), context.request_id.clone())];
    for (name, value) in cors.headers(context.origin.as_deref()) {
        head.push((name.to_string(), value));
    }
    match prepared {
        Err(response) => send_whole(out, response, &head).await,
        Ok(stream) => run_stream(out, stream, head, &context.request_id).await,
    }
}

/// Sends a complete (non-streamed) response with the extra `head` headers.
async fn send_whole(out: ResponseOutparam, response: Response, head: &[(String, String)]) {
    let mut fields: Vec<(String, Vec<u8>)> = response
        .headers()
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    fields.extend(head.iter().map(|(n, v)| (n.clone(), v.as_bytes().to_vec())));
    let headers = match Fields::from_list(&fields) {
        Ok(headers) => headers,
        Err(e) => {
            eprintln!("realtime: invalid response headers: {e:?}");
            Fields::new()
        }
    };
    let outgoing = OutgoingResponse::new(headers);
    let _ = outgoing.set_status_code(*response.status());
    if let Err(e) = out.set_with_body(outgoing, response.into_body()).await {
        eprintln!("realtime: writing an error response failed: {e:?}");
    }
}

async fn run_stream(
    out: ResponseOutparam,
    stream: Stream,
    mut head: Vec<(String, String)>,
    request_id: &str,
) {
    let lifetime = seconds_variable("sse_lifetime_seconds", DEFAULT_LIFETIME_SECONDS, 24 * 3600);
    let keepalive = seconds_variable(
        "sse_keepalive_seconds",
        DEFAULT_KEEPALIVE_SECONDS,
        MAX_KEEPALIVE_SECONDS,
    );
    head.extend([
        ("content-type".to_string(), "text/event-stream".to_string()),
        ("cache-control".to_string(), "no-cache".to_string()),
        ("x-accel-buffering".to_string(), "no".to_string()),
    ]);
    let fields: Vec<(String, Vec<u8>)> =
        head.into_iter().map(|(n, v)| (n, v.into_bytes())).collect();
    let headers = Fields::from_list(&fields).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(200);
    let mut body = response.take_body();
    out.set(response);

    let started = Instant::now();
    let deadline = started + lifetime;
    let Stream { key, source } = stream;
    if body
        .send(format!("retry: {RETRY_MILLISECONDS}\n\n").into_bytes())
        .await
        .is_err()
    {
        return;
    }
    let Some((conn, mut after)) = source else {
        return;
    };
    let mut last_write = Instant::now();
    let text = |s: &str| RedisParameter::Binary(s.as_bytes().to_vec());
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let since_write = now.duration_since(last_write);
        if since_write >= keepalive {
            if body.send(b": keep-alive\n\n".to_vec()).await.is_err() {
                return;
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
                eprintln!("request {request_id}: reading {key} failed, ending the stream: {error}");
                break;
            }
        };
        if let Some(last) = entries.last() {
            let mut chunk = String::new();
            for entry in &entries {
                sse::write_frame(&mut chunk, entry);
            }
            after = last.id;
            if body.send(chunk.into_bytes()).await.is_err() {
                return;
            }
            last_write = Instant::now();
        }
    }
    drop(body);
}
