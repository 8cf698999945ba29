//! `realtime-fanout` (Redis trigger on `task-created`, `task-updated`, `task-completed`,
//! `task-deleted`, `reminder-due`): appends each event **once** to its user's Redis Stream
//! `rt:<user_id>`, which the `realtime` component streams to the browser as SSE frames.
//!
//! Every replica receives every message and the outbox relay may publish an event again, so
//! the append is deduplicated by event id, atomically, in one Lua script run by `EVAL`:
//! `SET rt-seen:<event_id> 1 NX EX <dedupe ttl>`, and only when that key was new, `XADD` to the
//! capped stream (`MAXLEN ~ 1000`) and refresh the stream's idle expiry. Each entry has the
//! fields `event` (the topic, the SSE `event:` name), `data` (the API.md realtime payload, the
//! SSE `data:` line) and `event_id`.
//!
//! Messages go through the consumers' shared entry point (`spin_support::consumer`): a
//! malformed message is logged and dropped (never a panic, never a retry loop); a Redis
//! failure is returned as an error, which Spin logs (the message is then lost for realtime
//! only: clients re-read their state on reconnect). One log line per message: `appended`,
//! `duplicate`, `malformed` or `failed`.

use bytes::Bytes;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
use spin_sdk::redis_component;
use spin_support::consumer::{consume, Handled};
use todo_domain::event::EventEnvelope;

const SERVICE: &str = "realtime-fanout";

/// Entries kept per user stream (approximately: `MAXLEN ~`).
pub const STREAM_MAX_LEN: i64 = 1000;
/// A user's stream expires after this long without a new event.
pub const STREAM_IDLE_TTL_SECONDS: i64 = 86_400;
/// How long an event id is remembered for deduplication (the relay republishes within seconds).
pub const DEDUPE_TTL_SECONDS: i64 = 86_400;

/// KEYS[1] dedupe key, KEYS[2] stream key; ARGV: dedupe ttl, max len, topic, payload,
/// event id, stream ttl. Returns the new entry id, or nil when the event was seen before.
const APPEND_ONCE: &str = r#"
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return false
end
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
  'event', ARGV[3], 'data', ARGV[4], 'event_id', ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return id
"#;

/// The user's realtime stream key (also read by the `realtime` component).
pub fn stream_key(user_id: &str) -> String {
    format!("rt:{user_id}")
}

pub fn dedupe_key(event_id: &str) -> String {
    format!("rt-seen:{event_id}")
}

/// The `EVAL` arguments appending `envelope` once.
pub fn append_arguments(envelope: &EventEnvelope) -> Vec<RedisParameter> {
    let event_id = envelope.id.to_string();
    let text = |s: String| RedisParameter::Binary(s.into_bytes());
    vec![
        text(APPEND_ONCE.to_string()),
        RedisParameter::Int64(2),
        text(dedupe_key(&event_id)),
        text(stream_key(&envelope.user_id)),
        RedisParameter::Int64(DEDUPE_TTL_SECONDS),
        RedisParameter::Int64(STREAM_MAX_LEN),
        text(envelope.topic.as_str().to_string()),
        text(envelope.realtime_payload().to_string()),
        text(event_id),
        RedisParameter::Int64(STREAM_IDLE_TTL_SECONDS),
    ]
}

#[redis_component]
fn on_message(message: Bytes) -> anyhow::Result<()> {
    consume(SERVICE, &message, append_once)
}

fn append_once(envelope: &EventEnvelope) -> anyhow::Result<Handled> {
    let address = spin_support::config::required("redis_url").map_err(anyhow::Error::msg)?;
    let conn = Connection::open(&address).map_err(|e| anyhow::anyhow!("cannot open Redis: {e}"))?;
    let reply = conn
        .execute("EVAL", &append_arguments(envelope))
        .map_err(|e| anyhow::anyhow!("appending to the user's stream failed: {e}"))?;
    Ok(match reply.first() {
        None | Some(RedisResult::Nil) => Handled::done("duplicate"),
        Some(_) => Handled::done("appended"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use todo_domain::event::Topic;

    #[test]
    fn arguments_carry_keys_topic_and_realtime_payload() {
        let envelope = EventEnvelope::new(
            Topic::TaskDeleted,
            "t1",
            "alice",
            "req-1",
            json!({"task_id": "t1", "title": "x"}),
        );
        let args = append_arguments(&envelope);
        let texts: Vec<Option<String>> = args
            .iter()
            .map(|a| match a {
                RedisParameter::Binary(b) => Some(String::from_utf8(b.clone()).unwrap()),
                RedisParameter::Int64(_) => None,
            })
            .collect();
        assert_eq!(
            texts[2].as_deref(),
            Some(format!("rt-seen:{}", envelope.id).as_str())
        );
        assert_eq!(texts[3].as_deref(), Some("rt:alice"));
        assert_eq!(texts[6].as_deref(), Some("task-deleted"));
        let payload: serde_json::Value =
            serde_json::from_str(texts[7].as_deref().unwrap()).unwrap();
        assert_eq!(payload["type"], "task_update");
        assert_eq!(payload["action"], "deleted");
        assert_eq!(payload["user_id"], "alice");
        assert!(!texts[7].as_deref().unwrap().contains('\n'));
    }
}
