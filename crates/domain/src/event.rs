//! The CloudEvents 1.0 envelope published on the Redis channels (API.md "Event envelope").
//!
//! ```json
//! {
//!   "specversion": "1.0", "id": "<event_id>", "source": "backend-api",
//!   "type": "task-created", "subject": "<task_id>", "time": "<instant>",
//!   "datacontenttype": "application/json",
//!   "data": {
//!     "event_id": "<event_id>", "event_type": "task-created", "timestamp": "<instant>",
//!     "user_id": "...", "correlation_id": "<request id>",
//!     "data": { "task_id": "...", ...task snapshot... }
//!   }
//! }
//! ```
//!
//! Inner `data` (what the builders put there):
//! - every topic: `task_id` plus the full task snapshot ([`Task::to_json`] fields, camelCase);
//! - `task-updated`: also `before` and `after` (objects: changed field -> JSON value) and
//!   `changed_fields` (array of names, in snapshot order);
//! - `reminder-due`: also `notification` (the notification object as the API returns it).
//!
//! `time` (and `data.timestamp`, always equal to it when built here) has millisecond precision.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use thiserror::Error;
use uuid::Uuid;

use crate::input::FieldChange;
use crate::task::{format_instant, shorten, Task};

/// The Redis channels / CloudEvents `type`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    TaskCreated,
    TaskUpdated,
    TaskCompleted,
    TaskDeleted,
    ReminderDue,
}

impl Topic {
    pub const ALL: &'static [Topic] = &[
        Topic::TaskCreated,
        Topic::TaskUpdated,
        Topic::TaskCompleted,
        Topic::TaskDeleted,
        Topic::ReminderDue,
    ];

    /// The channel name, also the CloudEvents `type`: `"task-created"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::TaskCreated => "task-created",
            Topic::TaskUpdated => "task-updated",
            Topic::TaskCompleted => "task-completed",
            Topic::TaskDeleted => "task-deleted",
            Topic::ReminderDue => "reminder-due",
        }
    }

    /// The realtime `action` of a task topic (`created|updated|completed|deleted`); `None` for
    /// `reminder-due`.
    pub fn action(self) -> Option<&'static str> {
        match self {
            Topic::TaskCreated => Some("created"),
            Topic::TaskUpdated => Some("updated"),
            Topic::TaskCompleted => Some("completed"),
            Topic::TaskDeleted => Some("deleted"),
            Topic::ReminderDue => None,
        }
    }
}

impl FromStr for Topic {
    type Err = String;
    /// Exact channel names only (these come from machines, not people).
    fn from_str(s: &str) -> Result<Topic, String> {
        Topic::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown topic '{}'", shorten(s)))
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message is not a valid envelope. Consumers log it and drop the message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    #[error("message too large: {0} bytes (max {max})", max = MAX_ENVELOPE_BYTES)]
    TooLarge(usize),
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("{0} is not a JSON object")]
    NotObject(&'static str),
    #[error("missing attribute {0}")]
    Missing(&'static str),
    #[error("invalid attribute {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("unsupported specversion '{0}' (expected 1.0)")]
    SpecVersion(String),
    #[error("unknown event type '{0}'")]
    UnknownType(String),
    #[error("{0} does not match the envelope")]
    Mismatch(&'static str),
}

/// Larger messages are rejected before JSON parsing.
pub const MAX_ENVELOPE_BYTES: usize = 1024 * 1024;

/// The default `source` of envelopes built here.
pub const DEFAULT_SOURCE: &str = "backend-api";

/// One event. `to_json` gives the structured CloudEvents JSON; `parse` reads it back strictly.
#[derive(Debug, Clone, PartialEq)]
pub struct EventEnvelope {
    pub id: Uuid,
    pub source: String,
    pub topic: Topic,
    /// The task id (as a string) for every topic.
    pub subject: String,
    pub time: DateTime<Utc>,
    pub user_id: String,
    pub correlation_id: String,
    /// The inner data (`data.data`).
    pub data: Value,
}

impl EventEnvelope {
    /// A new event with a fresh id (UUIDv7) and `time = now` (millisecond precision).
    pub fn new(
        topic: Topic,
        subject: impl Into<String>,
        user_id: impl Into<String>,
        correlation_id: impl Into<String>,
        data: Value,
    ) -> EventEnvelope {
        EventEnvelope {
            id: Uuid::now_v7(),
            source: DEFAULT_SOURCE.to_string(),
            topic,
            subject: subject.into(),
            time: Utc::now().trunc_subsecs(3),
            user_id: user_id.into(),
            correlation_id: correlation_id.into(),
            data,
        }
    }

    /// Replaces the `source` (e.g. `"recurring-service"`).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Replaces id and time (deterministic tests; replays). `time` is truncated to milliseconds.
    pub fn with_id_time(mut self, id: Uuid, time: DateTime<Utc>) -> Self {
        self.id = id;
        self.time = time.trunc_subsecs(3);
        self
    }

    /// The structured-mode CloudEvents JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.wire()).expect("an envelope has only string keys")
    }

    /// The JSON text (what is published): the bytes of [`EventEnvelope::to_json`]'s text.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.wire()).expect("an envelope has only string keys")
    }

    fn wire(&self) -> WireEvent<'_> {
        let time = format_instant(self.time);
        WireEvent {
            data: WireEventData {
                correlation_id: &self.correlation_id,
                data: &self.data,
                event_id: self.id,
                event_type: self.topic.as_str(),
                timestamp: time.clone(),
                user_id: &self.user_id,
            },
            datacontenttype: JSON_CONTENT_TYPE,
            id: self.id,
            source: &self.source,
            specversion: SPEC_VERSION,
            subject: &self.subject,
            time,
            topic: self.topic.as_str(),
        }
    }

    /// Strict parse of a published message: size limit, `specversion` `1.0`, uuid `id`, known
    /// `type`, non-empty `source`/`subject`, RFC 3339 `time`, `datacontenttype` (if present)
    /// `application/json`, and an inner `data` object whose `event_id`/`event_type` repeat `id`
    /// and `type`, with a non-empty `user_id`, a string `correlation_id`, a valid `timestamp`
    /// and an object `data`. Extension attributes are ignored; an attribute that is `null` is
    /// absent (CloudEvents' JSON format). Never panics.
    pub fn parse(bytes: &[u8]) -> Result<EventEnvelope, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let v: Value =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        if !v.is_object() {
            return Err(EnvelopeError::NotObject("message"));
        }
        let wire = ReadEvent::deserialize(v).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;

        let spec = required(wire.specversion, "specversion")?;
        if spec != SPEC_VERSION {
            return Err(EnvelopeError::SpecVersion(shorten(&spec)));
        }
        let id = uuid_attr(wire.id, "id")?;
        let source = nonempty_attr(wire.source, "source")?;
        let ty = required(wire.ty, "type")?;
        let topic: Topic = ty
            .parse()
            .map_err(|_| EnvelopeError::UnknownType(shorten(&ty)))?;
        let subject = nonempty_attr(wire.subject, "subject")?;
        let time = instant_attr(wire.time, "time")?;
        if let Some(content_type) = wire.datacontenttype {
            if required(Some(content_type), "datacontenttype")? != JSON_CONTENT_TYPE {
                return Err(EnvelopeError::Invalid {
                    field: "datacontenttype",
                    reason: "expected application/json".into(),
                });
            }
        }
        let outer = match wire.data {
            None => return Err(EnvelopeError::Missing("data")),
            Some(Attr::Expected(outer)) => outer,
            Some(Attr::Other(_)) => return Err(EnvelopeError::NotObject("data")),
        };
        let outer = ReadEventData::deserialize(Value::Object(outer))
            .map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        if uuid_attr(outer.event_id, "event_id")? != id {
            return Err(EnvelopeError::Mismatch("data.event_id"));
        }
        if required(outer.event_type, "event_type")? != ty {
            return Err(EnvelopeError::Mismatch("data.event_type"));
        }
        instant_attr(outer.timestamp, "timestamp")?;
        let user_id = nonempty_attr(outer.user_id, "user_id")?;
        let correlation_id = required(outer.correlation_id, "correlation_id")?;
        let data = match outer.data {
            None => return Err(EnvelopeError::Missing("data.data")),
            Some(Attr::Expected(data)) => Value::Object(data),
            Some(Attr::Other(_)) => return Err(EnvelopeError::NotObject("data.data")),
        };
        Ok(EventEnvelope {
            id,
            source,
            topic,
            subject,
            time,
            user_id,
            correlation_id,
            data,
        })
    }

    /// `data.task_id` as a uuid, if present and valid.
    pub fn task_id(&self) -> Option<Uuid> {
        self.data
            .get("task_id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
    }

    /// The task snapshot of the inner data (the [`Task::to_json`] fields only: `task_id`,
    /// `before`, `after`, `changed_fields`, `notification` removed).
    pub fn task_json(&self) -> Value {
        let mut m = self.data.as_object().cloned().unwrap_or_default();
        for k in [
            "task_id",
            "before",
            "after",
            "changed_fields",
            "notification",
        ] {
            m.remove(k);
        }
        Value::Object(m)
    }

    /// The task snapshot parsed back into a [`Task`].
    pub fn task(&self) -> Result<Task, String> {
        Task::deserialize(&self.task_json()).map_err(|e| format!("task snapshot: {e}"))
    }

    /// The realtime (SSE `data:`) payload: for task topics
    /// `{"type":"task_update","action":"created|updated|completed|deleted","data":{task},"user_id","timestamp"}`,
    /// for `reminder-due` `{"type":"reminder","data":{notification},"user_id","timestamp"}`.
    pub fn realtime_payload(&self) -> Value {
        let timestamp = format_instant(self.time);
        match self.topic.action() {
            Some(action) => json!({
                "type": "task_update", "action": action, "data": self.task_json(),
                "user_id": self.user_id, "timestamp": timestamp,
            }),
            None => json!({
                "type": "reminder",
                "data": self.data.get("notification").cloned().unwrap_or(Value::Null),
                "user_id": self.user_id, "timestamp": timestamp,
            }),
        }
    }
}

const SPEC_VERSION: &str = "1.0";
const JSON_CONTENT_TYPE: &str = "application/json";

/// The envelope as published. Fields are declared in the order of their names, so the bytes
/// are the same as those of the `Value` (whose keys are sorted) the outbox stores.
#[derive(Serialize)]
struct WireEvent<'a> {
    data: WireEventData<'a>,
    datacontenttype: &'static str,
    id: Uuid,
    source: &'a str,
    specversion: &'static str,
    subject: &'a str,
    time: String,
    #[serde(rename = "type")]
    topic: &'static str,
}

#[derive(Serialize)]
struct WireEventData<'a> {
    correlation_id: &'a str,
    data: &'a Value,
    event_id: Uuid,
    event_type: &'static str,
    timestamp: String,
    user_id: &'a str,
}

/// An attribute as received: of the expected type, or anything else (so that the error names
/// the attribute rather than being serde's).
#[derive(Deserialize)]
#[serde(untagged)]
enum Attr<T> {
    Expected(T),
    Other(IgnoredAny),
}

/// The envelope as received: every attribute optional here, so that a missing or mistyped one
/// is reported by name ([`EnvelopeError`]); extension attributes are ignored.
#[derive(Deserialize)]
struct ReadEvent {
    specversion: Option<Attr<String>>,
    id: Option<Attr<String>>,
    source: Option<Attr<String>>,
    #[serde(rename = "type")]
    ty: Option<Attr<String>>,
    subject: Option<Attr<String>>,
    time: Option<Attr<String>>,
    datacontenttype: Option<Attr<String>>,
    /// An object (a derived struct would also read an array): read as [`ReadEventData`] next.
    data: Option<Attr<Map<String, Value>>>,
}

#[derive(Deserialize)]
struct ReadEventData {
    event_id: Option<Attr<String>>,
    event_type: Option<Attr<String>>,
    timestamp: Option<Attr<String>>,
    user_id: Option<Attr<String>>,
    correlation_id: Option<Attr<String>>,
    data: Option<Attr<Map<String, Value>>>,
}

fn required(attr: Option<Attr<String>>, field: &'static str) -> Result<String, EnvelopeError> {
    match attr {
        None => Err(EnvelopeError::Missing(field)),
        Some(Attr::Expected(s)) => Ok(s),
        Some(Attr::Other(_)) => Err(EnvelopeError::Invalid {
            field,
            reason: "not a string".into(),
        }),
    }
}

fn nonempty_attr(attr: Option<Attr<String>>, field: &'static str) -> Result<String, EnvelopeError> {
    let s = required(attr, field)?;
    if s.is_empty() {
        return Err(EnvelopeError::Invalid {
            field,
            reason: "empty".into(),
        });
    }
    Ok(s)
}

fn uuid_attr(attr: Option<Attr<String>>, field: &'static str) -> Result<Uuid, EnvelopeError> {
    let s = required(attr, field)?;
    Uuid::parse_str(&s).map_err(|_| EnvelopeError::Invalid {
        field,
        reason: format!("not a uuid: '{}'", shorten(&s)),
    })
}

fn instant_attr(
    attr: Option<Attr<String>>,
    field: &'static str,
) -> Result<DateTime<Utc>, EnvelopeError> {
    let s = required(attr, field)?;
    DateTime::parse_from_rfc3339(&s)
        .ok()
        .and_then(|t| {
            DateTime::<Utc>::from_timestamp_micros(t.with_timezone(&Utc).timestamp_micros())
        })
        .filter(|t| crate::task::instant_in_range(*t))
        .ok_or_else(|| EnvelopeError::Invalid {
            field,
            reason: format!("not an RFC 3339 instant: '{}'", shorten(&s)),
        })
}

/// `{"task_id": id, ...task.to_json()}`.
pub fn task_snapshot(task: &Task) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("task_id".into(), Value::String(task.id.to_string()));
    if let Value::Object(fields) = task.to_json() {
        m.extend(fields);
    }
    m
}

fn task_event(
    topic: Topic,
    task: &Task,
    correlation_id: &str,
    data: Map<String, Value>,
) -> EventEnvelope {
    EventEnvelope::new(
        topic,
        task.id.to_string(),
        task.user_id.clone(),
        correlation_id,
        Value::Object(data),
    )
}

pub fn task_created(task: &Task, correlation_id: &str) -> EventEnvelope {
    task_event(
        Topic::TaskCreated,
        task,
        correlation_id,
        task_snapshot(task),
    )
}

/// `task` is the state after the change; `changes` as returned by
/// [`crate::input::apply_changes`] or [`Task::toggle`].
pub fn task_updated(task: &Task, changes: &[FieldChange], correlation_id: &str) -> EventEnvelope {
    let mut m = task_snapshot(task);
    let before: Map<String, Value> = changes
        .iter()
        .map(|c| (c.field.to_string(), c.before.clone()))
        .collect();
    let after: Map<String, Value> = changes
        .iter()
        .map(|c| (c.field.to_string(), c.after.clone()))
        .collect();
    m.insert("before".into(), Value::Object(before));
    m.insert("after".into(), Value::Object(after));
    m.insert(
        "changed_fields".into(),
        Value::Array(changes.iter().map(|c| json!(c.field)).collect()),
    );
    task_event(Topic::TaskUpdated, task, correlation_id, m)
}

pub fn task_completed(task: &Task, correlation_id: &str) -> EventEnvelope {
    task_event(
        Topic::TaskCompleted,
        task,
        correlation_id,
        task_snapshot(task),
    )
}

/// `task` is the state just before deletion.
pub fn task_deleted(task: &Task, correlation_id: &str) -> EventEnvelope {
    task_event(
        Topic::TaskDeleted,
        task,
        correlation_id,
        task_snapshot(task),
    )
}

/// `task-deleted` of a task the caller has not read: `data` holds only `task_id` until
/// [`EventEnvelope::add_task_snapshot`] adds the deleted row's fields (the store deletes the row
/// and completes the stored event with the same snapshot in one statement). Completed, it is
/// [`task_deleted`] of that task.
pub fn task_deleted_by_id(task_id: Uuid, user_id: &str, correlation_id: &str) -> EventEnvelope {
    let mut data = Map::new();
    data.insert("task_id".into(), Value::String(task_id.to_string()));
    EventEnvelope::new(
        Topic::TaskDeleted,
        task_id.to_string(),
        user_id,
        correlation_id,
        Value::Object(data),
    )
}

impl EventEnvelope {
    /// Adds a task snapshot ([`Task::to_json`] fields) to the inner `data`.
    pub fn add_task_snapshot(&mut self, snapshot: Value) {
        if let (Value::Object(data), Value::Object(fields)) = (&mut self.data, snapshot) {
            data.extend(fields);
        }
    }
}

/// `notification` is the notification object as the API returns it.
pub fn reminder_due(notification: &Value, task: &Task, correlation_id: &str) -> EventEnvelope {
    let mut m = task_snapshot(task);
    m.insert("notification".into(), notification.clone());
    task_event(Topic::ReminderDue, task, correlation_id, m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{apply_changes, parse_task_changes};
    use crate::task::parse_instant;
    use crate::task::tests::sample_task;

    #[test]
    fn a_deleted_event_completed_with_the_snapshot_is_task_deleted() {
        let task = sample_task();
        let mut by_id = task_deleted_by_id(task.id, &task.user_id, "req-1");
        assert_eq!(by_id.data, json!({"task_id": task.id.to_string()}));
        by_id.add_task_snapshot(task.to_json());
        let full = task_deleted(&task, "req-1").with_id_time(by_id.id, by_id.time);
        assert_eq!(by_id, full);
    }

    #[test]
    fn topics() {
        for t in Topic::ALL {
            assert_eq!(t.as_str().parse::<Topic>(), Ok(*t));
        }
        assert!("Task-Created".parse::<Topic>().is_err());
        assert_eq!(Topic::TaskCompleted.action(), Some("completed"));
        assert_eq!(Topic::ReminderDue.action(), None);
    }

    #[test]
    fn created_envelope_has_the_api_shape_and_round_trips() {
        let task = sample_task();
        let id = Uuid::parse_str("0190b9a4-1111-7000-8000-000000000002").unwrap();
        let time = parse_instant("2026-01-01T08:00:00.123456Z").unwrap();
        let ev = task_created(&task, "req-1").with_id_time(id, time);
        let j = ev.to_json();
        assert_eq!(j["specversion"], "1.0");
        assert_eq!(j["id"], id.to_string());
        assert_eq!(j["source"], "backend-api");
        assert_eq!(j["type"], "task-created");
        assert_eq!(j["subject"], task.id.to_string());
        assert_eq!(j["time"], "2026-01-01T08:00:00.123Z");
        assert_eq!(j["datacontenttype"], "application/json");
        let d = &j["data"];
        assert_eq!(d["event_id"], id.to_string());
        assert_eq!(d["event_type"], "task-created");
        assert_eq!(d["timestamp"], "2026-01-01T08:00:00.123Z");
        assert_eq!(d["user_id"], "user-1");
        assert_eq!(d["correlation_id"], "req-1");
        assert_eq!(d["data"]["task_id"], task.id.to_string());
        assert_eq!(d["data"]["title"], "Pay rent");
        assert_eq!(d["data"]["dueDate"], "2026-01-31T09:00:00.000Z");
        let back = EventEnvelope::parse(&ev.to_bytes()).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.task_id(), Some(task.id));
        assert_eq!(back.task().unwrap(), task);
    }

    #[test]
    fn updated_envelope_carries_before_after() {
        let task = sample_task();
        let now = parse_instant("2026-01-02T00:00:00Z").unwrap();
        let c = parse_task_changes(&json!({"title": "New", "priority": "low"})).unwrap();
        let (t, changes) = apply_changes(&task, &c, now).unwrap();
        let ev = task_updated(&t, &changes, "req-2");
        let d = &ev.to_json()["data"]["data"];
        assert_eq!(
            d["before"],
            json!({"title": "Pay rent", "priority": "high"})
        );
        assert_eq!(d["after"], json!({"title": "New", "priority": "low"}));
        assert_eq!(d["changed_fields"], json!(["title", "priority"]));
        assert_eq!(d["title"], "New");
        assert_eq!(ev.task().unwrap(), t);
        let rt = ev.realtime_payload();
        assert_eq!(rt["type"], "task_update");
        assert_eq!(rt["action"], "updated");
        assert_eq!(rt["data"], t.to_json());
        assert_eq!(rt["user_id"], "user-1");
    }

    #[test]
    fn reminder_and_other_builders() {
        let task = sample_task();
        let n = json!({"id": "n1", "userId": "user-1", "message": "Pay rent is due", "taskId": task.id.to_string(), "read": false, "createdAt": "2026-01-31T08:00:00.000Z"});
        let ev = reminder_due(&n, &task, "sweep-1").with_source("notification-service");
        let back = EventEnvelope::parse(&ev.to_bytes()).unwrap();
        assert_eq!(back.topic, Topic::ReminderDue);
        assert_eq!(back.source, "notification-service");
        assert_eq!(back.data["notification"], n);
        assert_eq!(back.realtime_payload()["type"], "reminder");
        assert_eq!(back.realtime_payload()["data"], n);
        assert_eq!(task_completed(&task, "c").topic, Topic::TaskCompleted);
        assert_eq!(
            task_deleted(&task, "c").realtime_payload()["action"],
            "deleted"
        );
        // fresh ids are unique
        assert_ne!(task_created(&task, "c").id, task_created(&task, "c").id);
    }

    fn good() -> Value {
        task_created(&sample_task(), "r").to_json()
    }

    fn broken(f: impl FnOnce(&mut Value)) -> Result<EventEnvelope, EnvelopeError> {
        let mut v = good();
        f(&mut v);
        EventEnvelope::parse(v.to_string().as_bytes())
    }

    /// What is published is the text of the envelope's `Value` (sorted keys): the outbox
    /// stores that `Value` and the relay publishes it again.
    #[test]
    fn published_bytes_are_the_value_text() {
        let ev = task_updated(
            &sample_task(),
            &sample_task().toggle(parse_instant("2026-02-01T00:00:00Z").unwrap()),
            "req-3",
        );
        assert_eq!(ev.to_bytes(), ev.to_json().to_string().into_bytes());
        assert!(String::from_utf8(ev.to_bytes())
            .unwrap()
            .starts_with(r#"{"data":{"correlation_id":"req-3","data":{"after":"#));
    }

    /// The inner objects must be objects: an array holding the right values in field order is
    /// not an envelope, and a `null` attribute is an absent one.
    #[test]
    fn envelope_data_must_be_objects() {
        let as_array = broken(|v| {
            let d = v["data"].clone();
            v["data"] = json!([
                d["correlation_id"],
                d["data"],
                d["event_id"],
                d["event_type"],
                d["timestamp"],
                d["user_id"]
            ]);
        });
        assert_eq!(as_array, Err(EnvelopeError::NotObject("data")));
        assert_eq!(
            broken(|v| v["subject"] = Value::Null),
            Err(EnvelopeError::Missing("subject"))
        );
        assert!(broken(|v| v["datacontenttype"] = Value::Null).is_ok());
        assert_eq!(
            broken(|v| v["data"]["correlation_id"] = json!(1)),
            Err(EnvelopeError::Invalid {
                field: "correlation_id",
                reason: "not a string".into()
            })
        );
    }

    /// An envelope time beyond years 0001-9999 in UTC would render as `+10000-...`, which is
    /// not RFC 3339 and does not parse back (same class as the `instant` fuzz finding).
    #[test]
    fn envelope_time_out_of_range_is_refused() {
        for time in ["9999-12-31T23:59:59-23:59", "0000-01-01T00:00:00+01:00"] {
            assert!(
                broken(|v| v["time"] = json!(time)).is_err(),
                "{time} accepted"
            );
        }
        assert!(broken(|v| v["time"] = json!("9999-12-31T23:59:59+23:59")).is_ok());
    }

    #[test]
    fn strict_parse_rejects_bad_envelopes() {
        assert!(broken(|_| {}).is_ok());
        assert!(matches!(
            EventEnvelope::parse(b"not json"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            EventEnvelope::parse(b""),
            Err(EnvelopeError::NotJson(_))
        ));
        assert_eq!(
            EventEnvelope::parse(b"[1]"),
            Err(EnvelopeError::NotObject("message"))
        );
        let huge = vec![b' '; MAX_ENVELOPE_BYTES + 1];
        assert!(matches!(
            EventEnvelope::parse(&huge),
            Err(EnvelopeError::TooLarge(_))
        ));
        assert!(matches!(
            broken(|v| v["specversion"] = json!("0.3")),
            Err(EnvelopeError::SpecVersion(_))
        ));
        assert!(matches!(
            broken(|v| v["specversion"] = json!(1.0)),
            Err(EnvelopeError::Invalid { .. })
        ));
        assert!(matches!(
            broken(|v| v["id"] = json!("x")),
            Err(EnvelopeError::Invalid { field: "id", .. })
        ));
        assert!(matches!(
            broken(|v| v["type"] = json!("task-exploded")),
            Err(EnvelopeError::UnknownType(_))
        ));
        assert!(matches!(
            broken(|v| v["source"] = json!("")),
            Err(EnvelopeError::Invalid { .. })
        ));
        assert!(matches!(
            broken(|v| v["time"] = json!("yesterday")),
            Err(EnvelopeError::Invalid { .. })
        ));
        assert!(matches!(
            broken(|v| v["datacontenttype"] = json!("text/plain")),
            Err(EnvelopeError::Invalid { .. })
        ));
        assert!(matches!(
            broken(|v| {
                v.as_object_mut().unwrap().remove("subject");
            }),
            Err(EnvelopeError::Missing("subject"))
        ));
        assert!(matches!(
            broken(|v| v["data"] = json!("x")),
            Err(EnvelopeError::NotObject("data"))
        ));
        assert!(matches!(
            broken(|v| v["data"]["event_id"] = json!(Uuid::nil().to_string())),
            Err(EnvelopeError::Mismatch(_))
        ));
        assert!(matches!(
            broken(|v| v["data"]["event_type"] = json!("task-updated")),
            Err(EnvelopeError::Mismatch(_))
        ));
        assert!(matches!(
            broken(|v| v["data"]["user_id"] = json!("")),
            Err(EnvelopeError::Invalid { .. })
        ));
        assert!(matches!(
            broken(|v| v["data"]["user_id"] = json!(7)),
            Err(EnvelopeError::Invalid { .. })
        ));
        assert!(matches!(
            broken(|v| v["data"]["data"] = json!([])),
            Err(EnvelopeError::NotObject("data.data"))
        ));
        // extension attributes are fine
        assert!(broken(|v| v["traceparent"] = json!("00-abc")).is_ok());
        // deep nesting does not overflow the stack
        let deep = "[".repeat(100_000);
        assert!(EventEnvelope::parse(deep.as_bytes()).is_err());
    }
}
