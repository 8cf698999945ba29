//! Structured logs: exactly one JSON line on stdout per HTTP request, per consumed event and per
//! sweep, written by the entry points ([`crate::request::Context::finish`],
//! [`crate::consumer::consume`], [`crate::sweep`]).
//!
//! Spin forwards a component's stdout unchanged (to its own stderr when following the
//! component, and to `.spin/logs/<component>_stdout.txt` when a log directory is set), so the
//! line reads the same on `spin up`, on SpinKube (pod logs) and on the local host. Each line is
//! written with one `write` call, so lines of concurrent instances never interleave.
//!
//! Fields, camelCase like the API: `time` (RFC 3339 UTC, when the work started), `level`,
//! `kind` (`request` | `event` | `sweep`), `component`, then per kind:
//! - request: `requestId`, `method`, `route` (the route template, e.g.
//!   `/api/{user_id}/tasks/{task_id}`, or `null` when no route matched: never the raw path, never
//!   the query string), `status`, `durationMs`, and `cause` when the response is a 5xx;
//! - event: `eventId`, `topic`, `correlationId` (the request id of the change), `outcome`,
//!   `detail` (what it produced), `durationMs`, `cause` for a failure or a dropped message;
//! - sweep: `trigger` (`cron`), `outcome` (`ok` | `failed`), `durationMs`, `counts`, `cause`.
//!
//! Anything worth saying while the work runs (a publish that failed, a row skipped) is a
//! [`note`]: it joins the one line as `notes`. Never tokens, request bodies or query strings.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// Longest `cause` or note kept (a line stays one `write`, well under a pipe's atomic size).
const MAX_TEXT: usize = 1000;
const MAX_NOTES: usize = 20;

/// Notes of the work in progress. Spin runs one request, event or tick per instance at a time,
/// so what is noted here belongs to the line the instance writes next.
static NOTES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Adds a remark to the line of the current request, event or sweep.
pub fn note(text: impl Into<String>) {
    let mut notes = NOTES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if notes.len() < MAX_NOTES {
        notes.push(clip(text.into()));
    }
}

fn take_notes() -> Vec<String> {
    std::mem::take(
        &mut *NOTES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
}

fn clip(mut text: String) -> String {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The clock of one unit of work (a request, an event, a sweep): when it started and how long
/// it took.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    at: DateTime<Utc>,
    instant: Instant,
}

impl Started {
    /// Starts the clock and forgets notes a previous unit of work left unwritten.
    pub fn now() -> Started {
        take_notes();
        Started {
            at: Utc::now(),
            instant: Instant::now(),
        }
    }

    fn duration_ms(&self) -> u64 {
        u64::try_from(self.instant.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Level of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Builds the line: the common fields, `fields` in order, `cause` and the notes.
fn render(
    kind: &str,
    component: &str,
    started: &Started,
    level: Level,
    fields: Map<String, Value>,
    cause: Option<&str>,
) -> String {
    let mut line = Map::new();
    line.insert("time".into(), json!(rfc3339(started.at)));
    line.insert("level".into(), json!(level.as_str()));
    line.insert("kind".into(), json!(kind));
    line.insert("component".into(), json!(component));
    line.extend(fields);
    line.insert("durationMs".into(), json!(started.duration_ms()));
    if let Some(cause) = cause {
        line.insert("cause".into(), json!(clip(cause.to_string())));
    }
    let notes = take_notes();
    if !notes.is_empty() {
        line.insert("notes".into(), json!(notes));
    }
    let mut text = Value::Object(line).to_string();
    text.push('\n');
    text
}

fn write(text: &str) {
    let mut out = std::io::stdout().lock();
    // Logging never fails the work.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// What the line of an HTTP request says.
pub struct RequestLine<'a> {
    pub component: &'a str,
    pub request_id: &'a str,
    pub method: &'a str,
    pub route: Option<&'a str>,
    pub status: u16,
    /// The internal cause of a 5xx (never shown to the client).
    pub cause: Option<&'a str>,
    /// Fields particular to the route (e.g. how a stream ended, a sweep's counts).
    pub extra: Map<String, Value>,
}

impl RequestLine<'_> {
    pub fn render(self, started: &Started) -> String {
        let level = match self.status {
            500.. => Level::Error,
            _ => Level::Info,
        };
        let mut fields = Map::new();
        fields.insert("requestId".into(), json!(self.request_id));
        fields.insert("method".into(), json!(self.method));
        fields.insert("route".into(), json!(self.route));
        fields.insert("status".into(), json!(self.status));
        fields.extend(self.extra);
        render(
            "request",
            self.component,
            started,
            level,
            fields,
            self.cause,
        )
    }

    pub fn write(self, started: &Started) {
        write(&self.render(started));
    }
}

/// What the line of a consumed event says.
pub struct EventLine<'a> {
    pub component: &'a str,
    pub event_id: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub correlation_id: Option<&'a str>,
    pub outcome: &'a str,
    pub level: Level,
    /// What the outcome produced (e.g. the successor's id).
    pub detail: Option<&'a str>,
    /// Why a message was dropped or failed.
    pub cause: Option<&'a str>,
}

impl EventLine<'_> {
    pub fn render(self, started: &Started) -> String {
        let mut fields = Map::new();
        fields.insert("eventId".into(), json!(self.event_id));
        fields.insert("topic".into(), json!(self.topic));
        fields.insert("correlationId".into(), json!(self.correlation_id));
        fields.insert("outcome".into(), json!(self.outcome));
        if let Some(detail) = self.detail {
            fields.insert("detail".into(), json!(detail));
        }
        render(
            "event",
            self.component,
            started,
            self.level,
            fields,
            self.cause,
        )
    }

    pub fn write(self, started: &Started) {
        write(&self.render(started));
    }
}

/// What the line of a sweep run by a trigger (not by an HTTP request) says.
pub struct SweepLine<'a> {
    pub component: &'a str,
    pub trigger: &'a str,
    /// The sweep's counts, or `None` when it failed.
    pub counts: Option<Value>,
    pub cause: Option<&'a str>,
}

impl SweepLine<'_> {
    pub fn render(self, started: &Started) -> String {
        let failed = self.counts.is_none();
        let mut fields = Map::new();
        fields.insert("trigger".into(), json!(self.trigger));
        fields.insert(
            "outcome".into(),
            json!(if failed { "failed" } else { "ok" }),
        );
        if let Some(counts) = self.counts {
            fields.insert("counts".into(), counts);
        }
        let level = if failed { Level::Error } else { Level::Info };
        render("sweep", self.component, started, level, fields, self.cause)
    }

    pub fn write(self, started: &Started) {
        write(&self.render(started));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The notes are process-wide: the tests that touch them run as one.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn parse(line: &str) -> Value {
        assert!(
            line.ends_with('\n') && line.matches('\n').count() == 1,
            "{line:?}"
        );
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn a_request_line_has_every_field_and_its_notes() {
        let _serial = SERIAL.lock().unwrap();
        let started = Started::now();
        note("outbox: redis unavailable\nleaving 2 event(s) to the relay");
        let line = parse(
            &RequestLine {
                component: "backend-api",
                request_id: "req-1",
                method: "GET",
                route: Some("/api/{user_id}/tasks/{task_id}"),
                status: 503,
                cause: Some("database unavailable: connection refused"),
                extra: Map::new(),
            }
            .render(&started),
        );
        assert_eq!(line["level"], "error");
        assert_eq!(line["kind"], "request");
        assert_eq!(line["component"], "backend-api");
        assert_eq!(line["requestId"], "req-1");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["route"], "/api/{user_id}/tasks/{task_id}");
        assert_eq!(line["status"], 503);
        assert!(line["durationMs"].is_u64());
        assert_eq!(line["cause"], "database unavailable: connection refused");
        assert_eq!(line["notes"].as_array().unwrap().len(), 1);
        let time = line["time"].as_str().unwrap();
        assert!(time.ends_with('Z'), "{time}");
        DateTime::parse_from_rfc3339(time).unwrap();
        // The notes went with that line.
        let next = parse(
            &RequestLine {
                component: "backend-api",
                request_id: "req-2",
                method: "GET",
                route: None,
                status: 404,
                cause: None,
                extra: Map::new(),
            }
            .render(&Started::now()),
        );
        assert!(next.get("notes").is_none());
        assert!(next["route"].is_null());
        assert_eq!(next["level"], "info");
        assert!(next.get("cause").is_none());
    }

    #[test]
    fn notes_left_by_an_earlier_unit_of_work_are_dropped_and_long_text_is_clipped() {
        let _serial = SERIAL.lock().unwrap();
        note("left over");
        let started = Started::now();
        let long = "é".repeat(2 * MAX_TEXT);
        let line = parse(
            &EventLine {
                component: "audit-service",
                event_id: Some("e1"),
                topic: Some("task-created"),
                correlation_id: Some("req-1"),
                outcome: "failed",
                level: Level::Error,
                detail: None,
                cause: Some(&long),
            }
            .render(&started),
        );
        assert!(line.get("notes").is_none(), "{line}");
        assert!(line["cause"].as_str().unwrap().len() <= MAX_TEXT + 3);
        assert_eq!(line["eventId"], "e1");
        assert_eq!(line["outcome"], "failed");
    }

    #[test]
    fn sweep_lines_say_ok_with_counts_or_failed_with_a_cause() {
        let _serial = SERIAL.lock().unwrap();
        let ok = parse(
            &SweepLine {
                component: "outbox-relay",
                trigger: "cron",
                counts: Some(json!({"published": 3})),
                cause: None,
            }
            .render(&Started::now()),
        );
        assert_eq!(ok["outcome"], "ok");
        assert_eq!(ok["counts"]["published"], 3);
        assert_eq!(ok["level"], "info");
        let failed = parse(
            &SweepLine {
                component: "outbox-relay",
                trigger: "cron",
                counts: None,
                cause: Some("redis unavailable"),
            }
            .render(&Started::now()),
        );
        assert_eq!(failed["outcome"], "failed");
        assert_eq!(failed["level"], "error");
        assert!(failed.get("counts").is_none());
    }
}
