//! The persistence adapter of tasks: every SQL statement about `tasks` is rendered here, from
//! domain values (a [`ListQuery`], a [`Task`], events), and every row is decoded here.
//!
//! PostgreSQL builds the JSON (the functions of `migrations/0003_*.sql`, PL/pgSQL since `0005_*`):
//! `task_json(t)` is the API's task, byte for byte [`Task::to_json`] as serde_json writes it,
//! kept in the column `api_json` by a trigger on every write (`0006_*`), so reads pass it
//! straight through; `task_record(t)` is the stored task at full precision, decoded by serde
//! into [`StoredTask`]. Every query returns exactly one row (Spin 4.0.0-4.0.2 never answer a
//! query without rows): a task or NULL, a page as one JSON array, stats as one aggregate.
//!
//! Every statement is a call of a PL/pgSQL function: single-task reads, read-modify-writes,
//! creates without a key, deletes, marking events published and the stats (`0008_*`), a list
//! page (`0009_*`), creates with a key and recurring successors (`0011_*`). Spin prepares every
//! statement afresh, so PostgreSQL would otherwise parse and plan each of them per request; a
//! function's statements are planned once per pooled connection, and the request plans only
//! the call.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use spin_support::db::{param, Db, DbError, ParameterValue, Statement};
use todo_domain::event::EventEnvelope;
use todo_domain::listing::{Cursor, CursorKey, ListQuery, SortBy, SortOrder};
use todo_domain::task::{
    Category, Description, Priority, RecurringRule, Status, Tags, Task, TimeZone, Title,
};
use uuid::Uuid;

/// A task with the series bookkeeping that only storage needs.
#[derive(Debug, Clone)]
pub struct StoredTask {
    pub task: Task,
    /// The series root's id (a root's own id); unique with `occurrence_index`.
    pub series_id: Uuid,
    /// Due instant of occurrence 0, which every later occurrence is computed from.
    pub series_anchor: Option<DateTime<Utc>>,
}

impl StoredTask {
    /// A new task that starts its own series.
    pub fn new_root(task: Task) -> StoredTask {
        let series_anchor = task.recurring_rule.map(|_| task.own_anchor());
        StoredTask {
            series_id: task.id,
            series_anchor,
            task,
        }
    }
}

/// What `task_record(t)` writes (the composite type `task_stored`). Deserialising validates
/// every value with the domain's own rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRecord {
    id: Uuid,
    user_id: String,
    title: Title,
    /// Text, not yet a [`Description`]: the table allows an empty one, which reads as none.
    description: Option<String>,
    priority: Priority,
    category: Category,
    status: Status,
    due_date: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    recurring_rule: Option<RecurringRule>,
    recurring_end_date: Option<DateTime<Utc>>,
    parent_task_id: Option<Uuid>,
    reminder_at: Option<DateTime<Utc>>,
    reminder_sent: bool,
    tags: Tags,
    time_zone: TimeZone,
    version: i64,
    occurrence_index: i32,
    series_id: Uuid,
    series_anchor: Option<DateTime<Utc>>,
}

impl TryFrom<StoredRecord> for StoredTask {
    type Error = String;

    fn try_from(r: StoredRecord) -> Result<StoredTask, String> {
        let description = match r.description {
            Some(text) => Description::parse(&text).map_err(|e| e.msg)?,
            None => None,
        };
        Ok(StoredTask {
            task: Task {
                id: r.id,
                user_id: r.user_id,
                title: r.title,
                description,
                priority: r.priority,
                category: r.category,
                status: r.status,
                due_date: r.due_date,
                created_at: r.created_at,
                updated_at: r.updated_at,
                completed_at: r.completed_at,
                recurring_rule: r.recurring_rule,
                recurring_end_date: r.recurring_end_date,
                parent_task_id: r.parent_task_id,
                reminder_at: r.reminder_at,
                reminder_sent: r.reminder_sent,
                tags: r.tags,
                time_zone: r.time_zone,
                version: r.version,
                occurrence_index: r.occurrence_index,
            },
            series_id: r.series_id,
            series_anchor: r.series_anchor,
        })
    }
}

/// Decodes one `task_record(t)` value.
pub fn decode_record(record: Value) -> Result<StoredTask, DbError> {
    serde_json::from_value::<StoredRecord>(record)
        .map_err(|e| e.to_string())
        .and_then(StoredTask::try_from)
        .map_err(|e| DbError::Decode {
            column: 0,
            detail: format!("task record: {e}"),
        })
}

/// The stored task `id` of `user`, at full precision, or `None`.
pub fn load(db: &Db, user: &str, id: Uuid) -> Result<Option<StoredTask>, DbError> {
    let statement = Statement::new("SELECT task_record_of($1, $2)")
        .arg(param::text(user))
        .arg(param::uuid(id));
    let row = db.query_row(&statement)?;
    if row.is_null(0) {
        return Ok(None);
    }
    decode_record(row.decode_json(0)?).map(Some)
}

/// The API's JSON of task `id` of `user` and its version, or `None`.
pub fn load_json(db: &Db, user: &str, id: Uuid) -> Result<Option<(String, i64)>, DbError> {
    let statement = Statement::new("SELECT json, version FROM task_api_json_of($1, $2)")
        .arg(param::text(user))
        .arg(param::uuid(id));
    let row = db.query_row(&statement)?;
    match row.opt_text(0)? {
        Some(json) => Ok(Some((json, row.int(1)?))),
        None => Ok(None),
    }
}

/// Every column of `stored`, in the order of the arguments of `task_insert`
/// (`migrations/0008_*.sql`); instants as RFC 3339 text.
fn task_columns(stored: &StoredTask) -> Vec<ParameterValue> {
    let t = &stored.task;
    let mut columns = vec![param::uuid(t.id), param::text(&t.user_id)];
    columns.extend(described_columns(t));
    columns.extend([
        param::opt_instant(t.due_date),
        param::opt_instant(Some(t.created_at)),
        param::opt_instant(Some(t.updated_at)),
        param::opt_instant(t.completed_at),
        param::opt_text(t.recurring_rule.map(|r| r.as_str())),
        param::opt_instant(t.recurring_end_date),
        param::opt_uuid(t.parent_task_id),
        param::opt_instant(t.reminder_at),
        param::boolean(t.reminder_sent),
        param::text_array(t.tags.as_slice()),
        param::text(t.time_zone.name()),
        param::int64(t.version),
        param::int32(t.occurrence_index),
        param::uuid(stored.series_id),
        param::opt_instant(stored.series_anchor),
    ]);
    columns
}

/// Title, description, priority, category and status of `task`: the columns a task is
/// described by, in the order `task_insert` and `task_update` take them.
fn described_columns(task: &Task) -> [ParameterValue; 5] {
    [
        param::text(task.title.as_str()),
        param::opt_text(task.description.as_ref().map(|d| d.as_str())),
        param::text(task.priority.as_str()),
        param::text(task.category.as_str()),
        param::text(task.status.as_str()),
    ]
}

/// The arguments of `task_insert` (`migrations/0008_*.sql`), and of the functions around it
/// (`0011_*`), for `stored` and its `events`: every column, then the five event arrays.
fn insert_args(
    statement: &mut Statement,
    stored: &StoredTask,
    events: &[EventEnvelope],
) -> Vec<String> {
    let mut args: Vec<String> = task_columns(stored)
        .into_iter()
        .map(|value| statement.bind(value))
        .collect();
    args.extend(spin_support::outbox::event_array_args(statement, events));
    args
}

/// Writes every mutable column of `task` if its row is still at `expected_version`
/// (optimistic concurrency) and, in the same transaction, `events`: one call of `task_update`
/// (`migrations/0008_*.sql`). Returns whether the row was written (no event is written when
/// it was not).
pub fn update_with_events(
    db: &Db,
    task: &Task,
    expected_version: i64,
    events: &[EventEnvelope],
) -> Result<bool, DbError> {
    let mut statement = Statement::default();
    let mut args = vec![
        param::text(&task.user_id),
        param::uuid(task.id),
        param::int64(expected_version),
    ];
    args.extend(described_columns(task));
    args.extend([
        param::opt_instant(task.due_date),
        param::instant(task.updated_at),
        param::opt_instant(task.completed_at),
        param::opt_text(task.recurring_rule.map(|r| r.as_str())),
        param::opt_instant(task.recurring_end_date),
        param::opt_instant(task.reminder_at),
        param::boolean(task.reminder_sent),
        param::text_array(task.tags.as_slice()),
        param::text(task.time_zone.name()),
        param::int64(task.version),
        param::opt_instant(task.recurring_rule.map(|_| task.own_anchor())),
    ]);
    let mut placeholders: Vec<String> = args.into_iter().map(|a| statement.bind(a)).collect();
    placeholders.extend(spin_support::outbox::event_array_args(
        &mut statement,
        events,
    ));
    statement.sql = format!("SELECT task_update({})", placeholders.join(", "));
    db.query_row(&statement)?.boolean(0)
}

/// A create's key: `Idempotency-Key` and the hash of the body it came with.
pub struct IdempotencyKey<'a> {
    pub key: &'a str,
    pub request_hash: &'a str,
}

/// The first response recorded for an `Idempotency-Key`.
pub struct FirstResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: Value,
}

/// Inserts `stored` with `events` in one transaction: one call of `task_insert`
/// (`migrations/0008_*.sql`). With a key, of `task_insert_once` (`0011_*`): the task is only
/// inserted if the key is new; otherwise the outcome is the key's first response (`Err`).
pub fn insert_with_events(
    db: &Db,
    stored: &StoredTask,
    events: &[EventEnvelope],
    key: Option<IdempotencyKey<'_>>,
) -> Result<Result<(), FirstResponse>, DbError> {
    let mut statement = Statement::default();
    let Some(key) = key else {
        let args = insert_args(&mut statement, stored, events);
        statement.sql = format!("SELECT task_insert({})", args.join(", "));
        db.query_row(&statement)?;
        return Ok(Ok(()));
    };
    let mut args = vec![
        statement.bind(param::text(key.key)),
        statement.bind(param::text(key.request_hash)),
        statement.bind(param::jsonb(&stored.task.to_json())),
    ];
    args.extend(insert_args(&mut statement, stored, events));
    statement.sql = format!(
        "SELECT inserted, first_response FROM task_insert_once({})",
        args.join(", ")
    );
    let row = db.query_row(&statement)?;
    if row.boolean(0)? {
        return Ok(Ok(()));
    }
    let first = row
        .opt_text(1)?
        .ok_or_else(|| DbError::Query("idempotency key vanished".into()))?;
    let (request_hash, status, body): (String, u16, Value) =
        serde_json::from_str(&first).map_err(|e| DbError::Decode {
            column: 1,
            detail: format!("idempotency key: {e}"),
        })?;
    Ok(Err(FirstResponse {
        request_hash,
        status,
        body,
    }))
}

/// Inserts `stored`, the successor of a completed recurring occurrence, with `events`, unless
/// that occurrence's successor was created before (then `false`, and nothing is written): one
/// call of `task_insert_successor` (`migrations/0011_*.sql`).
pub fn insert_successor_with_events(
    db: &Db,
    stored: &StoredTask,
    events: &[EventEnvelope],
) -> Result<bool, DbError> {
    let mut statement = Statement::default();
    let args = insert_args(&mut statement, stored, events);
    statement.sql = format!("SELECT task_insert_successor({})", args.join(", "));
    db.query_row(&statement)?.boolean(0)
}

/// What [`delete_with_event`] found.
pub enum Deletion {
    /// Deleted; the API's JSON of the row as it was.
    Deleted(String),
    /// Not deleted: the task's version as the statement saw it (`None`: no such task).
    Kept(Option<i64>),
}

/// Deletes task `id` of `user` (only at `version` when given) and writes `event` in the same
/// transaction (`task_delete`, `migrations/0008_*.sql`), its `data` completed with the deleted
/// row's snapshot (`api_json`, i.e. [`Task::to_json`] of the row): what
/// [`todo_domain::event::task_deleted`] of that row gives.
pub fn delete_with_event(
    db: &Db,
    user: &str,
    id: Uuid,
    version: Option<i64>,
    event: &EventEnvelope,
) -> Result<Deletion, DbError> {
    let statement =
        Statement::new("SELECT json, version FROM task_delete($1, $2, $3, $4, $5, $6, $7, $8)")
            .arg(param::text(user))
            .arg(param::uuid(id))
            .arg(param::opt_int64(version))
            .arg(param::text(event.id.to_string()))
            .arg(param::text(event.topic.as_str()))
            .arg(param::text(&event.user_id))
            .arg(param::text(&event.subject))
            .arg(param::text(event.to_json().to_string()));
    let row = db.query_row(&statement)?;
    Ok(match row.opt_text(0)? {
        Some(json) => Deletion::Deleted(json),
        None => Deletion::Kept(if row.is_null(1) {
            None
        } else {
            Some(row.int(1)?)
        }),
    })
}

/// One page of a list, as PostgreSQL wrote it.
pub struct PageRows {
    /// The JSON array of the page's tasks.
    pub json: String,
    /// The cursor after the last task, when more follow.
    pub next: Option<Cursor>,
}

/// `%search%` for `ILIKE ... ESCAPE '\'`, with `\`, `%`, `_` in `search` escaped (so they are
/// matched literally).
pub fn like_pattern(search: &str) -> String {
    let mut out = String::with_capacity(search.len() + 2);
    out.push('%');
    for c in search.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// One page of `user`'s tasks for `query`, in one row: the JSON array of up to `limit` tasks,
/// whether another task follows, and the last task's sort key and id (for the next cursor).
/// One call of `task_list_page` (`migrations/0009_*.sql`), whose statement for each sort,
/// direction and kind of cursor is planned once per connection; the order and the keyset
/// condition are those of `todo_domain::listing`.
pub fn list_page(db: &Db, user: &str, query: &ListQuery) -> Result<PageRows, DbError> {
    let (after_instant, after_rank, after_title, after_id) = match &query.cursor {
        None => (None, None, None, None),
        Some(cursor) => {
            let (instant, rank, title) = match &cursor.key {
                CursorKey::Instant(t) => (*t, None, None),
                CursorKey::Rank(r) => (None, Some(i32::from(*r)), None),
                CursorKey::Text(s) => (None, None, Some(s.as_str())),
            };
            (instant, rank, title, Some(cursor.id))
        }
    };
    let limit = i32::try_from(query.limit).unwrap_or(i32::MAX);
    let statement = Statement::new(
        "SELECT json, more, last_instant, last_rank, last_title, last_id FROM task_list_page(\
         $1::text, $2::text, $3::text, $4::text, $5::text, $6::text[], $7::text::timestamptz, \
         $8::text::timestamptz, $9::text, $10::bool, $11::text::timestamptz, $12::int4, $13::text, \
         $14::uuid, $15::int4)",
    )
    .arg(param::text(user))
    .arg(param::opt_text(query.status.map(|s| s.as_str())))
    .arg(param::opt_text(query.priority.map(|p| p.as_str())))
    .arg(param::opt_text(query.category.map(|c| c.as_str())))
    .arg(param::opt_text(
        query
            .search
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(like_pattern),
    ))
    .arg(param::text_array(&query.tags))
    .arg(param::opt_instant(query.due_before))
    .arg(param::opt_instant(query.due_after))
    .arg(param::text(query.sort_by.as_str()))
    .arg(param::boolean(query.sort_order == SortOrder::Desc))
    .arg(param::opt_instant(after_instant))
    .arg(param::opt_int32(after_rank))
    .arg(param::opt_text(after_title))
    .arg(param::opt_uuid(after_id))
    .arg(param::int32(limit));
    let row = db.query_row(&statement)?;
    let json = row.text(0)?;
    if !row.boolean(1)? {
        return Ok(PageRows { json, next: None });
    }
    let key = match query.sort_by {
        SortBy::CreatedAt | SortBy::UpdatedAt | SortBy::DueDate => {
            CursorKey::Instant(row.opt_instant(2)?)
        }
        SortBy::Priority => {
            CursorKey::Rank(i16::try_from(row.int(3)?).map_err(|e| DbError::Decode {
                column: 3,
                detail: e.to_string(),
            })?)
        }
        SortBy::Title => CursorKey::Text(row.text(4)?),
    };
    Ok(PageRows {
        json,
        next: Some(Cursor {
            sort_by: query.sort_by,
            sort_order: query.sort_order,
            key,
            id: row.uuid(5)?,
        }),
    })
}

/// `{"completed","highPriorityPending","overdue","pending","total"}` of `user`, written by
/// PostgreSQL (`task_stats_of`, `migrations/0008_*.sql`): the counts from the user's counter
/// shards (kept by triggers), `overdue` from the partial index of pending tasks by due date.
pub fn stats_json(db: &Db, user: &str) -> Result<String, DbError> {
    let statement = Statement::new("SELECT task_stats_of($1)").arg(param::text(user));
    db.query_row(&statement)?.text(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use todo_domain::task::parse_instant;

    #[test]
    fn search_patterns_match_their_text_literally() {
        assert_eq!(like_pattern(r"50%_\x"), r"%50\%\_\\x%");
    }

    #[test]
    fn an_insert_passes_every_column_then_the_five_event_arrays() {
        let stored = decode_record(serde_json::json!({
            "id": "0190b9a4-0000-7000-8000-000000000001", "user_id": "u1", "title": "T",
            "description": null, "priority": "high", "category": "work", "status": "pending",
            "due_date": null, "created_at": "2026-12-07T11:22:38.634978Z",
            "updated_at": "2026-12-07T11:22:38.634978Z", "completed_at": null,
            "recurring_rule": null, "recurring_end_date": null, "parent_task_id": null,
            "reminder_at": null, "reminder_sent": false, "tags": [], "time_zone": "UTC",
            "version": 1, "occurrence_index": 0,
            "series_id": "0190b9a4-0000-7000-8000-000000000001", "series_anchor": null,
        }))
        .unwrap();
        let mut statement = Statement::default();
        let args = insert_args(&mut statement, &stored, &[]);
        // task_insert(22 columns, 5 event arrays)
        assert_eq!(args.len(), 27);
        assert_eq!(statement.params.len(), 27);
        assert_eq!(args[26], "$27");
    }

    #[test]
    fn records_decode_and_refuse_what_the_domain_refuses() {
        let record = serde_json::json!({
            "id": "0190b9a4-0000-7000-8000-000000000001", "user_id": "u1", "title": "T",
            "description": null, "priority": "high", "category": "work", "status": "pending",
            "due_date": "2026-01-31T09:00:00.123999Z", "created_at": "0001-01-01T00:00:00.000000Z",
            "updated_at": "2026-12-07T11:22:38.634978Z", "completed_at": null,
            "recurring_rule": "monthly", "recurring_end_date": null, "parent_task_id": null,
            "reminder_at": null, "reminder_sent": false, "tags": ["a"], "time_zone": "UTC",
            "version": 3, "occurrence_index": 0,
            "series_id": "0190b9a4-0000-7000-8000-000000000001", "series_anchor": null,
        });
        let stored = decode_record(record.clone()).unwrap();
        assert_eq!(
            stored.task.due_date,
            Some(parse_instant("2026-01-31T09:00:00.123999Z").unwrap())
        );
        assert_eq!(stored.task.version, 3);
        // An empty description (the table allows it) reads as none, as it always did.
        let mut empty = record.clone();
        empty["description"] = "".into();
        assert_eq!(decode_record(empty).unwrap().task.description, None);
        let mut bad = record.clone();
        bad["priority"] = "urgent".into();
        assert!(decode_record(bad).is_err());
        let mut long = record;
        long["description"] = "d".repeat(1001).into();
        assert!(decode_record(long).is_err());
    }
}
