//! Task types: enums, validated value types, instants and the stored task state.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{kinds, FieldError};
use crate::input::FieldChange;

/// Defines a closed, lower-case string enum with case-insensitive, trimming `FromStr`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $label:literal, { $($variant:ident => $s:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire name (lower case).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }

            /// `"unknown <label> 'x'; expected one of a, b, c"`.
            pub(crate) fn unknown_message(input: &str) -> String {
                format!(
                    "unknown {} '{}'; expected one of {}",
                    $label,
                    crate::task::shorten(input),
                    [$($s),+].join(", ")
                )
            }
        }

        impl FromStr for $name {
            type Err = String;
            /// Case-insensitive, surrounding whitespace ignored.
            fn from_str(s: &str) -> Result<Self, String> {
                let t = s.trim();
                $(if t.eq_ignore_ascii_case($s) { return Ok($name::$variant); })+
                Err(Self::unknown_message(s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Cuts user input quoted back in error messages to a readable length.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

string_enum!(
    /// Task priority; `rank()` orders low < medium < high.
    Priority, "priority", { Low => "low", Medium => "medium", High => "high" }
);
string_enum!(
    /// Task category.
    Category, "category", { Work => "work", Personal => "personal", Home => "home", Other => "other" }
);
string_enum!(
    /// Task status; `completed` in the API is `status == Completed`.
    Status, "status", { Pending => "pending", Completed => "completed" }
);
string_enum!(
    /// Recurrence rule of a recurring series.
    RecurringRule, "recurringRule", { Daily => "daily", Weekly => "weekly", Monthly => "monthly", Yearly => "yearly" }
);

impl Priority {
    /// Sort rank: low = 0, medium = 1, high = 2 (what the `priority` sort and its cursor use).
    pub fn rank(self) -> i16 {
        match self {
            Priority::Low => 0,
            Priority::Medium => 1,
            Priority::High => 2,
        }
    }

    pub fn from_rank(rank: i16) -> Option<Priority> {
        match rank {
            0 => Some(Priority::Low),
            1 => Some(Priority::Medium),
            2 => Some(Priority::High),
            _ => None,
        }
    }
}

#[allow(clippy::derivable_impls)] // the enum is macro-generated
impl Default for Priority {
    fn default() -> Self {
        Priority::Medium
    }
}

#[allow(clippy::derivable_impls)] // the enum is macro-generated
impl Default for Category {
    fn default() -> Self {
        Category::Other
    }
}

#[allow(clippy::derivable_impls)] // the enum is macro-generated
impl Default for Status {
    fn default() -> Self {
        Status::Pending
    }
}

/// `true` if the string contains a character PostgreSQL `text` cannot store.
pub(crate) fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// A task title: trimmed, 1..=255 characters (Unicode scalar values, not bytes), no NUL.
/// (De)serialises as a string; deserialising validates like [`Title::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 255;

    /// Errors carry `loc = ["body","title"]`.
    pub fn parse(s: &str) -> Result<Title, FieldError> {
        let t = s.trim();
        let n = t.chars().count();
        if n == 0 {
            return Err(FieldError::body(
                "title",
                "title must be 1-255 characters after trimming (it is empty)",
                kinds::STRING_TOO_SHORT,
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(FieldError::body(
                "title",
                format!("title must be 1-255 characters after trimming (it has {n})"),
                kinds::STRING_TOO_LONG,
            ));
        }
        if has_nul(t) {
            return Err(FieldError::body(
                "title",
                "title must not contain NUL (\\u0000) characters",
                kinds::VALUE_ERROR,
            ));
        }
        Ok(Title(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Title {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A task description: trimmed, 1..=1000 characters, no NUL.
///
/// An empty (or all-whitespace) description is not a `Description`: [`Description::parse`]
/// returns `Ok(None)` for it, i.e. `""` means "no description" (stored and returned as `null`).
/// (De)serialises as a string; deserialising validates (and rejects an empty string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Description(String);

impl Description {
    pub const MAX_CHARS: usize = 1000;

    /// `Ok(None)` for empty/whitespace input; errors carry `loc = ["body","description"]`.
    pub fn parse(s: &str) -> Result<Option<Description>, FieldError> {
        let t = s.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let n = t.chars().count();
        if n > Self::MAX_CHARS {
            return Err(FieldError::body(
                "description",
                format!("description must be at most 1000 characters after trimming (it has {n})"),
                kinds::STRING_TOO_LONG,
            ));
        }
        if has_nul(t) {
            return Err(FieldError::body(
                "description",
                "description must not contain NUL (\\u0000) characters",
                kinds::VALUE_ERROR,
            ));
        }
        Ok(Some(Description(t.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Normalised tags: each trimmed, lower-cased, 1..=50 characters, duplicates removed keeping
/// the first occurrence's position, at most 10 **after** normalisation and de-duplication.
/// (De)serialises as an array of strings; deserialising validates like [`Tags::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Tags(Vec<String>);

impl TryFrom<Vec<String>> for Tags {
    type Error = String;
    fn try_from(v: Vec<String>) -> Result<Tags, String> {
        Tags::parse(&v).map_err(|e| e.msg)
    }
}

impl From<Tags> for Vec<String> {
    fn from(t: Tags) -> Vec<String> {
        t.0
    }
}

impl TryFrom<String> for Title {
    type Error = String;
    fn try_from(s: String) -> Result<Title, String> {
        Title::parse(&s).map_err(|e| e.msg)
    }
}

impl From<Title> for String {
    fn from(t: Title) -> String {
        t.0
    }
}

impl TryFrom<String> for Description {
    type Error = String;
    fn try_from(s: String) -> Result<Description, String> {
        Description::parse(&s)
            .map_err(|e| e.msg)?
            .ok_or_else(|| "description must not be empty".to_string())
    }
}

impl From<Description> for String {
    fn from(d: Description) -> String {
        d.0
    }
}

impl Tags {
    pub const MAX_TAGS: usize = 10;
    pub const MAX_CHARS: usize = 50;

    /// Normalises one tag (trim + lower-case) and checks its length; errors carry
    /// `loc = ["body","tags"]`.
    pub fn normalize_one(s: &str) -> Result<String, FieldError> {
        let t = s.trim().to_lowercase();
        let n = t.chars().count();
        if n == 0 {
            return Err(FieldError::body(
                "tags",
                "each tag must be 1-50 characters after trimming (got an empty tag)",
                kinds::STRING_TOO_SHORT,
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(FieldError::body(
                "tags",
                format!(
                    "each tag must be 1-50 characters after trimming ('{}' has {n})",
                    shorten(&t)
                ),
                kinds::STRING_TOO_LONG,
            ));
        }
        if has_nul(&t) {
            return Err(FieldError::body(
                "tags",
                "tags must not contain NUL (\\u0000) characters",
                kinds::VALUE_ERROR,
            ));
        }
        Ok(t)
    }

    /// Errors carry `loc = ["body","tags"]`, plus the element index for a bad element.
    pub fn parse(input: &[String]) -> Result<Tags, FieldError> {
        let mut out: Vec<String> = Vec::new();
        for (i, raw) in input.iter().enumerate() {
            let t = Self::normalize_one(raw).map_err(|e| e.push_loc(i.to_string()))?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        if out.len() > Self::MAX_TAGS {
            return Err(FieldError::body(
                "tags",
                format!("at most 10 distinct tags are allowed (got {})", out.len()),
                kinds::TOO_LONG,
            ));
        }
        Ok(Tags(out))
    }

    pub fn empty() -> Tags {
        Tags(Vec::new())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// An IANA time zone (default UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(pub chrono_tz::Tz);

impl TimeZone {
    pub const UTC: TimeZone = TimeZone(chrono_tz::Tz::UTC);

    /// Exact IANA name first, then case-insensitively; surrounding whitespace ignored.
    /// Errors carry `loc = ["body","timeZone"]`.
    pub fn parse(s: &str) -> Result<TimeZone, FieldError> {
        let t = s.trim();
        t.parse::<chrono_tz::Tz>()
            .ok()
            .or_else(|| {
                chrono_tz::TZ_VARIANTS
                    .iter()
                    .copied()
                    .find(|tz| tz.name().eq_ignore_ascii_case(t))
            })
            .map(TimeZone)
            .ok_or_else(|| {
                FieldError::body(
                    "timeZone",
                    format!(
                        "unknown time zone '{}'; expected an IANA name such as 'America/New_York' or 'UTC'",
                        shorten(s)
                    ),
                    kinds::VALUE_ERROR,
                )
            })
    }

    /// The canonical IANA name, e.g. `"America/New_York"`.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone::UTC
    }
}

impl Serialize for TimeZone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TimeZone::parse(&s).map_err(|e| serde::de::Error::custom(e.msg))
    }
}

/// Parses an input instant and converts it to UTC, truncated to microseconds (what
/// PostgreSQL `timestamptz` stores, so a parsed value compares equal to its stored copy).
///
/// Accepted: RFC 3339 with any offset (`Z`/`z` or `±hh:mm`; `T`, `t` or a space between date
/// and time; any number of fraction digits). Also accepted, as pydantic did for the seed:
/// a date-time without offset (`2026-01-31T09:00`, `2026-01-31T09:00:00.5`), taken as UTC, and
/// a bare date (`2026-01-31`), taken as midnight UTC. Everything else is an error whose text
/// is meant for a `422` message.
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    let bad = || {
        format!(
            "invalid instant '{}'; expected RFC 3339, e.g. 2026-01-31T09:00:00Z or 2026-01-31T10:00:00+01:00",
            shorten(s)
        )
    };
    if t.is_empty() || t.len() > 64 {
        return Err(bad());
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return to_micros(dt.with_timezone(&Utc))
            .ok_or_else(bad)
            .and_then(|t| in_range(t, s));
    }
    // Naive forms (no offset): taken as UTC.
    let normalized = t.replacen(' ', "T", 1);
    if naive_shape(t, true) {
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
            if let Ok(ndt) = NaiveDateTime::parse_from_str(&normalized, fmt) {
                return to_micros(ndt.and_utc())
                    .ok_or_else(bad)
                    .and_then(|t| in_range(t, s));
            }
        }
    }
    if naive_shape(t, false) {
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return in_range(
                d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
                s,
            );
        }
    }
    Err(bad())
}

/// Whether `t` is an instant the API can take and give back: years 0001-9999 in UTC. RFC 3339
/// (and so [`format_instant`]) cannot write other years, and PostgreSQL refuses the text it
/// would get, so an input beyond them (e.g. `9999-12-31T23:59:59-23:59`, which is year 10000
/// in UTC, or `0000-01-01T00:00:00Z`) is a validation error rather than a failed write.
pub fn instant_in_range(t: DateTime<Utc>) -> bool {
    (1..=9999).contains(&t.year())
}

fn in_range(t: DateTime<Utc>, input: &str) -> Result<DateTime<Utc>, String> {
    if instant_in_range(t) {
        Ok(t)
    } else {
        Err(format!(
            "instant '{}' is out of range: years 0001-9999 in UTC",
            shorten(input)
        ))
    }
}

/// Truncates to microseconds and folds a leap second (`23:59:60`) into the next minute, as
/// PostgreSQL does, so that the value equals what `timestamptz` stores.
fn to_micros(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_micros(t.timestamp_micros())
}

/// `YYYY-MM-DD` exactly (with_time = false) or `YYYY-MM-DD[T t ]hh:mm...` (with_time = true).
fn naive_shape(t: &str, with_time: bool) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let date_ok = b.len() >= 10
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10);
    if !with_time {
        return date_ok && b.len() == 10;
    }
    date_ok
        && b.len() >= 16
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
}

/// `"2026-01-31T09:00:00.000Z"`: UTC, millisecond precision, `Z`.
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Instants on the wire: written by [`format_instant`], read by [`parse_instant`].
mod wire_instant {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_instant(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_instant(&text).map_err(serde::de::Error::custom)
    }

    /// The same for an optional instant (`null` or absent: `None`).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| super::super::parse_instant(&text).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

fn first_version() -> i64 {
    1
}

/// A task on the wire (API responses, event snapshots). The fields are declared in the order
/// of their names, so the text serde writes is the same whether it goes through a `Value`
/// (whose keys are sorted) or straight to bytes: PostgreSQL's JSON of a row is compared with it
/// byte for byte. Reading validates with the input rules (the newtypes' own `Deserialize`) and
/// [`TryFrom`]: every field of API.md's response shape is required (the optional ones may be
/// `null`), the additive ones default (`completedAt` null, `timeZone` UTC, `version` 1,
/// `occurrenceIndex` 0), and `completed` must agree with `status`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskSnapshot {
    category: Category,
    completed: bool,
    #[serde(default, with = "wire_instant::option")]
    completed_at: Option<DateTime<Utc>>,
    #[serde(with = "wire_instant")]
    created_at: DateTime<Utc>,
    description: Option<String>,
    #[serde(default, with = "wire_instant::option")]
    due_date: Option<DateTime<Utc>>,
    id: Uuid,
    #[serde(default)]
    occurrence_index: i32,
    parent_task_id: Option<Uuid>,
    priority: Priority,
    #[serde(default, with = "wire_instant::option")]
    recurring_end_date: Option<DateTime<Utc>>,
    recurring_rule: Option<RecurringRule>,
    #[serde(default, with = "wire_instant::option")]
    reminder_at: Option<DateTime<Utc>>,
    reminder_sent: bool,
    status: Status,
    tags: Tags,
    time_zone: Option<TimeZone>,
    title: Title,
    #[serde(with = "wire_instant")]
    updated_at: DateTime<Utc>,
    user_id: String,
    #[serde(default = "first_version")]
    version: i64,
}

impl From<&Task> for TaskSnapshot {
    fn from(task: &Task) -> TaskSnapshot {
        TaskSnapshot {
            category: task.category,
            completed: task.completed(),
            completed_at: task.completed_at,
            created_at: task.created_at,
            description: task.description.clone().map(String::from),
            due_date: task.due_date,
            id: task.id,
            occurrence_index: task.occurrence_index,
            parent_task_id: task.parent_task_id,
            priority: task.priority,
            recurring_end_date: task.recurring_end_date,
            recurring_rule: task.recurring_rule,
            reminder_at: task.reminder_at,
            reminder_sent: task.reminder_sent,
            status: task.status,
            tags: task.tags.clone(),
            time_zone: Some(task.time_zone),
            title: task.title.clone(),
            updated_at: task.updated_at,
            user_id: task.user_id.clone(),
            version: task.version,
        }
    }
}

impl From<Task> for TaskSnapshot {
    fn from(task: Task) -> TaskSnapshot {
        TaskSnapshot::from(&task)
    }
}

impl From<TaskSnapshot> for Value {
    fn from(snapshot: TaskSnapshot) -> Value {
        serde_json::to_value(snapshot).expect("a task snapshot has only string keys")
    }
}

impl TryFrom<TaskSnapshot> for Task {
    type Error = String;

    fn try_from(s: TaskSnapshot) -> Result<Task, String> {
        if s.completed != (s.status == Status::Completed) {
            return Err("completed contradicts status".into());
        }
        if s.user_id.is_empty() {
            return Err("empty userId".into());
        }
        // An empty description is no description, as in an input.
        let description = match s.description {
            Some(d) => Description::parse(&d).map_err(|e| e.msg)?,
            None => None,
        };
        Ok(Task {
            id: s.id,
            user_id: s.user_id,
            title: s.title,
            description,
            priority: s.priority,
            category: s.category,
            status: s.status,
            due_date: s.due_date,
            created_at: s.created_at,
            updated_at: s.updated_at,
            completed_at: s.completed_at,
            recurring_rule: s.recurring_rule,
            recurring_end_date: s.recurring_end_date,
            parent_task_id: s.parent_task_id,
            reminder_at: s.reminder_at,
            reminder_sent: s.reminder_sent,
            tags: s.tags,
            time_zone: s.time_zone.unwrap_or_default(),
            version: s.version,
            occurrence_index: s.occurrence_index,
        })
    }
}

/// The full stored state of a task (what the DB row holds). (De)serialises as the API's task
/// JSON ([`TaskSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "TaskSnapshot", try_from = "TaskSnapshot")]
pub struct Task {
    pub id: Uuid,
    pub user_id: String,
    pub title: Title,
    pub description: Option<Description>,
    pub priority: Priority,
    pub category: Category,
    /// `completed` in the API is `status == Completed`.
    pub status: Status,
    pub due_date: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub recurring_rule: Option<RecurringRule>,
    pub recurring_end_date: Option<DateTime<Utc>>,
    pub parent_task_id: Option<Uuid>,
    pub reminder_at: Option<DateTime<Utc>>,
    pub reminder_sent: bool,
    pub tags: Tags,
    pub time_zone: TimeZone,
    pub version: i64,
    pub occurrence_index: i32,
}

impl Task {
    pub fn completed(&self) -> bool {
        self.status == Status::Completed
    }

    /// The API.md response shape (camelCase, instants via [`format_instant`]) plus the additive
    /// fields `completedAt`, `version`, `timeZone`, `occurrenceIndex`: [`Task`]'s `Serialize`.
    pub fn to_json(&self) -> Value {
        Value::from(TaskSnapshot::from(self))
    }

    /// The JSON value of one field as it appears in [`Task::to_json`] (for before/after).
    /// Unknown names give `null`.
    pub fn field_json(&self, field: &str) -> Value {
        self.to_json().get(field).cloned().unwrap_or(Value::Null)
    }

    /// Toggles pending <-> completed: completing sets `completed_at = now`, reopening clears it.
    /// Also sets `updated_at = now` and increments `version`, so the result is exactly the row
    /// to store. Returns the changed fields (`status`, `completed`, `completedAt`) with their
    /// before/after JSON, for the `task-updated` event.
    pub fn toggle(&mut self, now: DateTime<Utc>) -> Vec<FieldChange> {
        let target = match self.status {
            Status::Pending => Status::Completed,
            Status::Completed => Status::Pending,
        };
        let changes = self.set_status(target, now);
        self.touch(now);
        changes
    }

    /// Sets the status (no-op if equal), maintaining `completed_at`; does not touch
    /// `updated_at`/`version`. Returns the changed fields.
    pub(crate) fn set_status(&mut self, target: Status, now: DateTime<Utc>) -> Vec<FieldChange> {
        if self.status == target {
            return Vec::new();
        }
        let before = self.clone();
        self.status = target;
        self.completed_at = match target {
            Status::Completed => Some(now),
            Status::Pending => None,
        };
        ["status", "completed", "completedAt"]
            .into_iter()
            .map(|f| FieldChange {
                field: f,
                before: before.field_json(f),
                after: self.field_json(f),
            })
            .filter(|c| c.before != c.after)
            .collect()
    }

    /// `updated_at = now` (never moving backwards) and `version += 1`.
    pub(crate) fn touch(&mut self, now: DateTime<Utc>) {
        if now > self.updated_at {
            self.updated_at = now;
        }
        self.version = self.version.saturating_add(1);
    }

    /// The first due instant of this task's series if it is the series root: its `due_date`, or
    /// its creation time for a recurring task without a due date (API.md: "A recurring task
    /// without a dueDate recurs from its creation time").
    pub fn own_anchor(&self) -> DateTime<Utc> {
        self.due_date.unwrap_or(self.created_at)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Found by the `instant` fuzz target: these parsed, then the API rendered them as
    /// `+10000-01-01T23:58:59.000Z` / `-0001-12-31T23:00:00.000Z` (not RFC 3339, refused by
    /// PostgreSQL and by parse_instant itself), so a create with such a dueDate was a 500.
    #[test]
    fn instants_beyond_years_1_to_9999_in_utc_are_refused() {
        for input in [
            "9999-12-31T23:59:59-23:59",
            "0000-01-01T00:00:00Z",
            "0000-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00+01:00",
            "0000-06-01",
            "0000-06-01T12:00",
        ] {
            let err = parse_instant(input).unwrap_err();
            assert!(err.contains("out of range"), "{input}: {err}");
        }
        for input in [
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00-01:00",
            "9999-12-31T23:59:59.999999Z",
            "9999-12-31T23:59:59+23:59",
        ] {
            let t = parse_instant(input).unwrap();
            assert_eq!(
                parse_instant(&format_instant(t))
                    .unwrap()
                    .timestamp_millis(),
                t.timestamp_millis(),
                "{input}"
            );
        }
    }

    #[test]
    fn enums_parse_case_insensitive_and_trimmed() {
        assert_eq!(" HIGH ".parse::<Priority>(), Ok(Priority::High));
        assert_eq!("Work".parse::<Category>(), Ok(Category::Work));
        assert_eq!("Completed".parse::<Status>(), Ok(Status::Completed));
        assert_eq!(
            "mOnThLy".parse::<RecurringRule>(),
            Ok(RecurringRule::Monthly)
        );
        assert_eq!(
            "urgent".parse::<Priority>().unwrap_err(),
            "unknown priority 'urgent'; expected one of low, medium, high"
        );
        assert_eq!(
            "garden".parse::<Category>().unwrap_err(),
            "unknown category 'garden'; expected one of work, personal, home, other"
        );
        assert!("".parse::<Status>().is_err());
        assert!("hourly".parse::<RecurringRule>().is_err());
    }

    #[test]
    fn enum_as_str_round_trips_and_serde_is_lowercase() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(*p));
            assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
            assert_eq!(Priority::from_rank(p.rank()), Some(*p));
        }
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(*c));
        }
        for r in RecurringRule::ALL {
            assert_eq!(r.as_str().parse::<RecurringRule>(), Ok(*r));
        }
        assert!(Priority::Low.rank() < Priority::Medium.rank());
        assert!(Priority::Medium.rank() < Priority::High.rank());
        assert_eq!(Priority::from_rank(3), None);
    }

    #[test]
    fn title_rules() {
        assert_eq!(Title::parse("  Buy milk \n").unwrap().as_str(), "Buy milk");
        let e = Title::parse("   \t ").unwrap_err();
        assert_eq!(e.loc, vec!["body", "title"]);
        assert_eq!(e.kind, "string_too_short");
        assert!(e.msg.contains("1-255 characters after trimming"));
        assert!(Title::parse("").is_err());
        assert!(Title::parse(&"a".repeat(255)).is_ok());
        let e = Title::parse(&"a".repeat(256)).unwrap_err();
        assert_eq!(e.kind, "string_too_long");
        assert!(e.msg.contains("256"), "{}", e.msg);
        // characters, not bytes: 255 multi-byte characters are fine
        assert!(Title::parse(&"é".repeat(255)).is_ok());
        assert!(Title::parse(&"日".repeat(256)).is_err());
        // surrounding whitespace does not count
        assert!(Title::parse(&format!("  {}  ", "a".repeat(255))).is_ok());
        assert!(Title::parse("a\0b").is_err());
    }

    #[test]
    fn description_rules() {
        assert_eq!(Description::parse("").unwrap(), None);
        assert_eq!(Description::parse("  ").unwrap(), None);
        assert_eq!(Description::parse(" x ").unwrap().unwrap().as_str(), "x");
        assert!(Description::parse(&"d".repeat(1000)).unwrap().is_some());
        let e = Description::parse(&"d".repeat(1001)).unwrap_err();
        assert_eq!(e.loc, vec!["body", "description"]);
        assert!(Description::parse("\0").is_err());
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tags_rules() {
        let t = Tags::parse(&strings(&[" Work ", "HOME", "work", "home ", "x"])).unwrap();
        assert_eq!(t.as_slice(), &strings(&["work", "home", "x"])[..]);
        let ten: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        assert_eq!(Tags::parse(&ten).unwrap().len(), 10);
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        let e = Tags::parse(&eleven).unwrap_err();
        assert_eq!(e.loc, vec!["body", "tags"]);
        assert!(e.msg.contains("at most 10"));
        // 11 entries that are 10 distinct tags after normalisation are accepted
        let mut dup = ten.clone();
        dup.push("T0".into());
        assert_eq!(Tags::parse(&dup).unwrap().len(), 10);
        assert!(Tags::parse(&["a".repeat(50)]).is_ok());
        let e = Tags::parse(&strings(&["ok", &"a".repeat(51)])).unwrap_err();
        assert_eq!(e.loc, vec!["body", "tags", "1"]);
        assert_eq!(e.kind, "string_too_long");
        let e = Tags::parse(&strings(&["  "])).unwrap_err();
        assert_eq!(e.loc, vec!["body", "tags", "0"]);
        assert!(Tags::parse(&[]).unwrap().is_empty());
    }

    #[test]
    fn serde_of_value_types_validates() {
        let t: Title = serde_json::from_value(json!("  x ")).unwrap();
        assert_eq!(t.as_str(), "x");
        assert_eq!(serde_json::to_value(&t).unwrap(), json!("x"));
        assert!(serde_json::from_value::<Title>(json!(" ")).is_err());
        assert!(serde_json::from_value::<Description>(json!("")).is_err());
        let tags: Tags = serde_json::from_value(json!(["A", "a"])).unwrap();
        assert_eq!(serde_json::to_value(&tags).unwrap(), json!(["a"]));
        assert!(serde_json::from_value::<Tags>(json!(["x".repeat(51)])).is_err());
        let tz: TimeZone = serde_json::from_value(json!("europe/paris")).unwrap();
        assert_eq!(serde_json::to_value(tz).unwrap(), json!("Europe/Paris"));
    }

    #[test]
    fn time_zone_rules() {
        assert_eq!(
            TimeZone::parse("America/New_York").unwrap().name(),
            "America/New_York"
        );
        assert_eq!(
            TimeZone::parse("america/new_york").unwrap().name(),
            "America/New_York"
        );
        assert_eq!(TimeZone::parse("UTC").unwrap(), TimeZone::UTC);
        assert_eq!(TimeZone::default().name(), "UTC");
        let e = TimeZone::parse("Mars/Olympus").unwrap_err();
        assert_eq!(e.loc, vec!["body", "timeZone"]);
        assert!(e.msg.contains("Mars/Olympus"));
        assert!(TimeZone::parse("").is_err());
    }

    #[test]
    fn instants_parse_any_offset_and_format_with_millis_z() {
        let a = parse_instant("2026-01-31T10:00:00+01:00").unwrap();
        assert_eq!(format_instant(a), "2026-01-31T09:00:00.000Z");
        let b = parse_instant("2026-01-31T09:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(
            format_instant(parse_instant("2026-01-31t09:00:00.123456789z").unwrap()),
            "2026-01-31T09:00:00.123Z"
        );
        // truncated to microseconds
        assert_eq!(
            parse_instant("2026-01-31T09:00:00.123456789Z")
                .unwrap()
                .timestamp_subsec_nanos(),
            123_456_000
        );
        assert_eq!(
            parse_instant("2026-01-31 09:00:00-05:00").unwrap(),
            parse_instant("2026-01-31T14:00:00Z").unwrap()
        );
        // naive forms are UTC
        assert_eq!(parse_instant("2026-01-31T09:00").unwrap(), b);
        assert_eq!(parse_instant("2026-01-31T09:00:00").unwrap(), b);
        assert_eq!(
            format_instant(parse_instant("2026-01-31").unwrap()),
            "2026-01-31T00:00:00.000Z"
        );
        for bad in [
            "",
            " ",
            "tomorrow",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-31T25:00:00Z",
            "31/01/2026",
            "2026-01-31T09:00:00+25:00",
            "20260131T090000Z",
            "1e9",
            "2026-1-3",
            "+12026-01-31T09:00:00Z",
            "2026-01-31T09:00:00Zjunk",
        ] {
            let e = parse_instant(bad).unwrap_err();
            assert!(e.starts_with("invalid instant"), "{bad}: {e}");
        }
    }

    pub(crate) fn sample_task() -> Task {
        let t0 = parse_instant("2026-01-01T08:00:00Z").unwrap();
        Task {
            id: Uuid::parse_str("0190b9a4-0000-7000-8000-000000000001").unwrap(),
            user_id: "user-1".into(),
            title: Title::parse("Pay rent").unwrap(),
            description: None,
            priority: Priority::High,
            category: Category::Home,
            status: Status::Pending,
            due_date: Some(parse_instant("2026-01-31T09:00:00Z").unwrap()),
            created_at: t0,
            updated_at: t0,
            completed_at: None,
            recurring_rule: Some(RecurringRule::Monthly),
            recurring_end_date: None,
            parent_task_id: None,
            reminder_at: None,
            reminder_sent: false,
            tags: Tags::parse(&["bills".to_string()]).unwrap(),
            time_zone: TimeZone::parse("Europe/Paris").unwrap(),
            version: 1,
            occurrence_index: 0,
        }
    }

    #[test]
    fn to_json_has_the_api_shape() {
        let t = sample_task();
        let j = t.to_json();
        assert_eq!(j["id"], "0190b9a4-0000-7000-8000-000000000001");
        assert_eq!(j["title"], "Pay rent");
        assert_eq!(j["description"], Value::Null);
        assert_eq!(j["priority"], "high");
        assert_eq!(j["category"], "home");
        assert_eq!(j["status"], "pending");
        assert_eq!(j["completed"], false);
        assert_eq!(j["dueDate"], "2026-01-31T09:00:00.000Z");
        assert_eq!(j["createdAt"], "2026-01-01T08:00:00.000Z");
        assert_eq!(j["updatedAt"], "2026-01-01T08:00:00.000Z");
        assert_eq!(j["completedAt"], Value::Null);
        assert_eq!(j["userId"], "user-1");
        assert_eq!(j["recurringRule"], "monthly");
        assert_eq!(j["recurringEndDate"], Value::Null);
        assert_eq!(j["parentTaskId"], Value::Null);
        assert_eq!(j["reminderAt"], Value::Null);
        assert_eq!(j["reminderSent"], false);
        assert_eq!(j["tags"], json!(["bills"]));
        assert_eq!(j["timeZone"], "Europe/Paris");
        assert_eq!(j["version"], 1);
        assert_eq!(j["occurrenceIndex"], 0);
        assert_eq!(j.as_object().unwrap().len(), 21);
    }

    /// The text serde writes for a task is the text of its `Value` (sorted keys), which is
    /// what PostgreSQL's JSON of the row is compared with byte for byte.
    #[test]
    fn task_text_is_the_same_straight_or_through_a_value() {
        let mut t = sample_task();
        t.description = Description::parse("Before the 5th").unwrap();
        t.completed_at = Some(t.created_at);
        t.status = Status::Completed;
        let straight = serde_json::to_string(&t).unwrap();
        assert_eq!(straight, t.to_json().to_string());
        let keys: Vec<String> = t.to_json().as_object().unwrap().keys().cloned().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(straight.starts_with(r#"{"category":"home","completed":true,"completedAt":"#));
    }

    #[test]
    fn snapshots_are_read_with_the_input_rules_and_defaults() {
        let t = sample_task();
        let read = |f: &dyn Fn(&mut Value)| {
            let mut j = t.to_json();
            f(&mut j);
            serde_json::from_value::<Task>(j)
        };
        assert_eq!(read(&|_| {}).unwrap(), t);
        // additive fields default when absent
        let minimal = read(&|j| {
            let o = j.as_object_mut().unwrap();
            for k in ["completedAt", "timeZone", "version", "occurrenceIndex"] {
                o.remove(k);
            }
        })
        .unwrap();
        assert_eq!(minimal.time_zone, TimeZone::UTC);
        assert_eq!((minimal.version, minimal.occurrence_index), (1, 0));
        // an empty description is none, a title is trimmed, tags normalised
        let normalised = read(&|j| {
            j["description"] = json!("  ");
            j["title"] = json!("  Pay rent ");
            j["tags"] = json!(["Bills", "bills"]);
        })
        .unwrap();
        assert_eq!(normalised, t);
        for (what, broken) in [
            ("completed contradicts status", json!({"completed": true})),
            ("empty userId", json!({"userId": ""})),
            ("empty title", json!({"title": " "})),
            (
                "eleven tags",
                json!({"tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            ),
            ("bad instant", json!({"dueDate": "tomorrow"})),
            ("unknown priority", json!({"priority": "urgent"})),
            ("unknown zone", json!({"timeZone": "Mars/Olympus"})),
            ("id not a uuid", json!({"id": "x"})),
            (
                "index beyond 32 bits",
                json!({"occurrenceIndex": 1_i64 << 40}),
            ),
            ("version not an integer", json!({"version": "1"})),
        ] {
            let result = read(&|j| {
                for (k, v) in broken.as_object().unwrap() {
                    j[k] = v.clone();
                }
            });
            assert!(result.is_err(), "{what} accepted");
        }
        for required in [
            "id",
            "title",
            "status",
            "completed",
            "createdAt",
            "userId",
            "tags",
        ] {
            assert!(
                read(&|j| {
                    j.as_object_mut().unwrap().remove(required);
                })
                .is_err(),
                "{required} may be missing"
            );
        }
    }

    #[test]
    fn toggle_flips_status_and_completed_at() {
        let mut t = sample_task();
        let now = parse_instant("2026-02-01T12:00:00Z").unwrap();
        let changes = t.toggle(now);
        assert_eq!(t.status, Status::Completed);
        assert!(t.completed());
        assert_eq!(t.completed_at, Some(now));
        assert_eq!(t.updated_at, now);
        assert_eq!(t.version, 2);
        let names: Vec<_> = changes.iter().map(|c| c.field).collect();
        assert_eq!(names, vec!["status", "completed", "completedAt"]);
        assert_eq!(changes[0].before, "pending");
        assert_eq!(changes[0].after, "completed");
        assert_eq!(changes[2].after, "2026-02-01T12:00:00.000Z");
        let later = parse_instant("2026-02-01T12:05:00Z").unwrap();
        t.toggle(later);
        assert_eq!(t.status, Status::Pending);
        assert_eq!(t.completed_at, None);
        assert_eq!(t.updated_at, later);
        assert_eq!(t.version, 3);
    }
}
