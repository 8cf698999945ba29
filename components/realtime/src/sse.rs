//! Pure parts of the SSE endpoint: stream entry ids, the flattened `XREAD`/`XREVRANGE`
//! replies of Spin's outbound Redis `execute`, and `text/event-stream` framing.

use std::fmt;
use std::str::FromStr;

use spin_sdk::redis::RedisResult;

/// A Redis Stream entry id `<milliseconds>-<sequence>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// Before every entry (what an empty or absent stream resumes from).
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for StreamId {
    type Err = ();
    /// Strict: exactly `<digits>-<digits>`, each fitting a u64 (what this endpoint sends as
    /// `id:`); no spaces, signs, or the shorthand forms Redis also accepts.
    fn from_str(s: &str) -> Result<StreamId, ()> {
        let (ms, seq) = s.split_once('-').ok_or(())?;
        let number = |part: &str| -> Result<u64, ()> {
            if part.is_empty() || part.len() > 20 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            part.parse().map_err(|_| ())
        };
        Ok(StreamId {
            ms: number(ms)?,
            seq: number(seq)?,
        })
    }
}

/// One stream entry as the SSE endpoint needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: StreamId,
    /// The `event` field (the topic), if present.
    pub event: Option<String>,
    /// The `data` field (the realtime JSON payload), if present.
    pub data: Option<String>,
}

/// Why a reply could not be read (logged; the response then ends and the client resumes).
#[derive(Debug, PartialEq, Eq)]
pub struct ReplyError(pub String);

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn text(item: &RedisResult) -> Option<&str> {
    match item {
        RedisResult::Binary(bytes) => std::str::from_utf8(bytes).ok(),
        RedisResult::Status(s) => Some(s.as_str()),
        _ => None,
    }
}

fn entry_id(item: &RedisResult) -> Option<StreamId> {
    text(item).and_then(|t| t.parse().ok())
}

/// Reads a flattened `XREAD ... STREAMS <key> <id>` reply for one stream:
/// `[Nil]` or `[]` (timeout, nothing new), or
/// `[key, id1, field, value, field, value, ..., id2, field, value, ...]`.
///
/// Nesting is lost in the flattening, so entries are told apart by their ids: a new entry
/// starts wherever an id stands in a field-name position (our field names, `event`, `data`,
/// `event_id`, never look like ids; values are always taken as values).
pub fn parse_xread(reply: &[RedisResult], key: &str) -> Result<Vec<Entry>, ReplyError> {
    match reply {
        [] | [RedisResult::Nil] => Ok(Vec::new()),
        [first, rest @ ..] => {
            if text(first) != Some(key) {
                return Err(ReplyError(format!(
                    "XREAD reply does not start with the stream key: {first:?}"
                )));
            }
            parse_entries(rest)
        }
    }
}

/// Reads a flattened list of entries (`XRANGE`/`XREVRANGE` replies, or the tail of `XREAD`'s).
pub fn parse_entries(items: &[RedisResult]) -> Result<Vec<Entry>, ReplyError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let Some(id) = entry_id(&items[i]) else {
            return Err(ReplyError(format!(
                "expected a stream entry id, got {:?}",
                items[i]
            )));
        };
        let mut entry = Entry {
            id,
            event: None,
            data: None,
        };
        i += 1;
        while i < items.len() && entry_id(&items[i]).is_none() {
            let name = text(&items[i]);
            let value = items.get(i + 1).ok_or_else(|| {
                ReplyError(format!("stream entry {id}: field {name:?} has no value"))
            })?;
            let value = text(value).map(str::to_string);
            match name {
                Some("event") => entry.event = value,
                Some("data") => entry.data = value,
                _ => {}
            }
            i += 2;
        }
        if let Some(previous) = entries.last() {
            if previous.id >= entry.id {
                return Err(ReplyError(format!(
                    "stream entry ids out of order: {} then {}",
                    previous.id, entry.id
                )));
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// Whether frames carry an `event:` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frames {
    /// `id:` and `data:` only: what `EventSource.onmessage` receives (the default).
    Unnamed,
    /// Also `event: <topic>` (`?events=named`), for `addEventListener(<topic>, ...)`.
    Named,
}

/// Appends one SSE frame for `entry` to `out`: `id:`, `event:` (named frames, when known), one
/// `data:` line per payload line, and the blank line that dispatches it. Line breaks inside the
/// event name are dropped (they would break the framing).
pub fn write_frame(out: &mut String, entry: &Entry, frames: Frames) {
    out.push_str("id: ");
    out.push_str(&entry.id.to_string());
    out.push('\n');
    if let (Some(event), Frames::Named) = (&entry.event, frames) {
        let event: String = event.chars().filter(|c| *c != '\n' && *c != '\r').collect();
        if !event.is_empty() {
            out.push_str("event: ");
            out.push_str(&event);
            out.push('\n');
        }
    }
    let data = entry.data.as_deref().unwrap_or("");
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> RedisResult {
        RedisResult::Binary(s.as_bytes().to_vec())
    }

    #[test]
    fn stream_ids_parse_strictly() {
        assert_eq!(
            "1700000000000-3".parse(),
            Ok(StreamId {
                ms: 1_700_000_000_000,
                seq: 3
            })
        );
        assert_eq!("0-0".parse(), Ok(StreamId::ZERO));
        for bad in [
            "",
            "1",
            "-1",
            "1-",
            "a-b",
            " 1-2",
            "1-2 ",
            "+1-2",
            "1-2-3",
            "99999999999999999999999-0",
            "18446744073709551616-0",
        ] {
            assert_eq!(bad.parse::<StreamId>(), Err(()), "{bad:?}");
        }
        assert_eq!(StreamId { ms: 5, seq: 7 }.to_string(), "5-7");
        assert!(StreamId { ms: 5, seq: 7 } < StreamId { ms: 6, seq: 0 });
    }

    #[test]
    fn timeouts_are_empty() {
        assert_eq!(parse_xread(&[RedisResult::Nil], "rt:a"), Ok(vec![]));
        assert_eq!(parse_xread(&[], "rt:a"), Ok(vec![]));
    }

    #[test]
    fn flattened_xread_is_split_into_entries() {
        let reply = vec![
            b("rt:a"),
            b("10-0"),
            b("event"),
            b("task-created"),
            b("data"),
            b("{\"x\":1}"),
            b("event_id"),
            b("e1"),
            b("10-1"),
            b("data"),
            b("12-0"), // a value that looks like an id is still a value
            b("event"),
            b("task-updated"),
        ];
        let entries = parse_xread(&reply, "rt:a").unwrap();
        assert_eq!(
            entries,
            vec![
                Entry {
                    id: StreamId { ms: 10, seq: 0 },
                    event: Some("task-created".into()),
                    data: Some("{\"x\":1}".into())
                },
                Entry {
                    id: StreamId { ms: 10, seq: 1 },
                    event: Some("task-updated".into()),
                    data: Some("12-0".into())
                },
            ]
        );
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        assert!(parse_xread(&[b("rt:other"), b("1-0")], "rt:a").is_err());
        assert!(parse_xread(&[b("rt:a"), b("event")], "rt:a").is_err());
        assert!(parse_xread(&[b("rt:a"), b("1-0"), b("event")], "rt:a").is_err());
        assert!(parse_xread(&[b("rt:a"), b("2-0"), b("1-0")], "rt:a").is_err());
        assert!(parse_xread(&[RedisResult::Int64(3)], "rt:a").is_err());
    }

    #[test]
    fn xrevrange_entries_parse() {
        let entries =
            parse_entries(&[b("7-2"), b("event"), b("reminder-due"), b("data"), b("{}")]).unwrap();
        assert_eq!(entries[0].id, StreamId { ms: 7, seq: 2 });
        assert_eq!(parse_entries(&[]), Ok(vec![]));
    }

    #[test]
    fn frames_follow_the_event_stream_format() {
        let deleted = Entry {
            id: StreamId { ms: 1, seq: 2 },
            event: Some("task-deleted".into()),
            data: Some("{\"a\":1}".into()),
        };
        let mut out = String::new();
        write_frame(&mut out, &deleted, Frames::Unnamed);
        assert_eq!(out, "id: 1-2\ndata: {\"a\":1}\n\n");
        let mut out = String::new();
        write_frame(&mut out, &deleted, Frames::Named);
        assert_eq!(out, "id: 1-2\nevent: task-deleted\ndata: {\"a\":1}\n\n");
        let odd = Entry {
            id: StreamId { ms: 1, seq: 3 },
            event: Some("x\ny".into()),
            data: Some("a\r\nb".into()),
        };
        let mut out = String::new();
        write_frame(&mut out, &odd, Frames::Named);
        assert_eq!(out, "id: 1-3\nevent: xy\ndata: a\ndata: b\n\n");
        let mut out = String::new();
        write_frame(&mut out, &odd, Frames::Unnamed);
        assert_eq!(out, "id: 1-3\ndata: a\ndata: b\n\n");
    }
}
