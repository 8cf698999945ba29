//! The operations. Each change and its events are one transaction (one call of a PL/pgSQL
//! function of `store`); the events are published after it committed.

use serde_json::Value;
use sha2::{Digest, Sha256};
use spin_support::db::{Db, DbError};
use spin_support::outbox;
use todo_domain::error::{kinds, FieldError};
use todo_domain::event::{self, EventEnvelope};
use todo_domain::input::{self, FieldChange, NewTask, TaskChanges};
use todo_domain::listing::ListQuery;
use todo_domain::task::{Status, Task};
use uuid::Uuid;

use crate::store::{self, Deletion, StoredTask};
use crate::{Caller, TaskError};

/// Optimistic-concurrency retries for changes without `If-Match`.
const MAX_ATTEMPTS: usize = 5;

/// A task as the API shows it: its JSON (API.md's task shape) and its version (the `ETag`).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskBody {
    pub json: String,
    pub version: i64,
}

impl TaskBody {
    fn of(task: &Task) -> TaskBody {
        TaskBody {
            json: task.to_json().to_string(),
            version: task.version,
        }
    }
}

/// One page of a list: a JSON array of tasks, and the cursor of the next page (none on the
/// last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub json: String,
    pub next_cursor: Option<String>,
}

/// The outcome of a create.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// A new task.
    New(TaskBody),
    /// The `Idempotency-Key` was used before with the same body: its first response, as it was.
    Replayed { status: u16, body: TaskBody },
}

/// A deleted task's id.
#[derive(Debug, Clone, PartialEq)]
pub struct Deleted {
    pub task_id: Uuid,
}

/// An `Idempotency-Key` and the hash of the request body it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    key: String,
    request_hash: String,
}

impl Idempotency {
    /// `key` as given (1-255 characters, else a validation error at
    /// `["header","Idempotency-Key"]`) for the request `body`.
    pub fn new(key: &str, body: &Value) -> Result<Idempotency, TaskError> {
        Idempotency::check_key(key)?;
        let request_hash =
            hex::encode(Sha256::digest(serde_json::to_vec(body).unwrap_or_default()));
        Ok(Idempotency {
            key: key.to_string(),
            request_hash,
        })
    }

    /// The key's own rule, checkable before the body is read.
    pub fn check_key(key: &str) -> Result<(), TaskError> {
        if key.trim().is_empty() || key.len() > 255 {
            return Err(TaskError::Invalid(vec![FieldError::new(
                &["header", "Idempotency-Key"],
                "Idempotency-Key must be 1-255 characters",
                kinds::VALUE_ERROR,
            )]));
        }
        Ok(())
    }
}

pub fn get(db: &Db, caller: Caller<'_>, id: Uuid) -> Result<TaskBody, TaskError> {
    let (json, version) = store::load_json(db, caller.user_id, id)?.ok_or(TaskError::NotFound)?;
    Ok(TaskBody { json, version })
}

pub fn create(
    db: &Db,
    caller: Caller<'_>,
    new_task: NewTask,
    idempotency: Option<Idempotency>,
) -> Result<Created, TaskError> {
    let now = spin_support::now();
    let task = new_task.into_task(Uuid::now_v7(), caller.user_id, now);
    let stored = StoredTask::new_root(task);
    let events = vec![event::task_created(&stored.task, caller.correlation_id)];

    let key = idempotency.as_ref().map(|idem| store::IdempotencyKey {
        key: &idem.key,
        request_hash: &idem.request_hash,
    });
    match store::insert_with_events(db, &stored, &events, key)? {
        Ok(()) => {
            outbox::publish_committed(db, &events);
            Ok(Created::New(TaskBody::of(&stored.task)))
        }
        // The key was used before: replay its first response, or refuse a different body.
        Err(first) => {
            let same_body = idempotency
                .as_ref()
                .is_some_and(|idem| idem.request_hash == first.request_hash);
            if !same_body {
                return Err(TaskError::Invalid(vec![FieldError::new(
                    &["header", "Idempotency-Key"],
                    "this Idempotency-Key was already used with a different request body",
                    kinds::IDEMPOTENCY_KEY_REUSED,
                )]));
            }
            let version = first
                .body
                .get("version")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            Ok(Created::Replayed {
                status: first.status,
                body: TaskBody {
                    json: first.body.to_string(),
                    version,
                },
            })
        }
    }
}

/// What a change makes of the task it read.
enum Plan<T> {
    /// Nothing to change: answer with the current task, write nothing, publish nothing.
    Unchanged,
    /// Store `task` with `events` (only if the row is still at the version that was read),
    /// and answer with `outcome` if it wrote the row.
    Write {
        task: Box<Task>,
        events: Vec<EventEnvelope>,
        outcome: T,
    },
}

/// Stores `task` if its row is still at `read_version`, with its `events` in the same
/// transaction; publishes the events once they committed. Returns whether the row was written.
fn store_with_events(
    db: &Db,
    task: &Task,
    read_version: i64,
    events: &[EventEnvelope],
) -> Result<bool, TaskError> {
    let written = store::update_with_events(db, task, read_version, events)?;
    if written {
        outbox::publish_committed(db, events);
    }
    Ok(written)
}

/// Read, plan the change in memory, write only if the row is still the version that was
/// read; the events go in the same statement. Retries on a concurrent change unless
/// `If-Match` pinned the version (then [`TaskError::VersionMismatch`]). `unchanged` is the
/// answer when the plan writes nothing.
fn change_task<T, F, U>(
    db: &Db,
    caller: Caller<'_>,
    id: Uuid,
    if_match: Option<i64>,
    unchanged: U,
    mut plan: F,
) -> Result<T, TaskError>
where
    F: FnMut(&Task) -> Result<Plan<T>, TaskError>,
    U: Fn(&Task) -> T,
{
    for _ in 0..MAX_ATTEMPTS {
        let current = store::load(db, caller.user_id, id)?.ok_or(TaskError::NotFound)?;
        if let Some(expected) = if_match {
            if expected != current.task.version {
                return Err(TaskError::VersionMismatch {
                    current_version: current.task.version,
                });
            }
        }
        let (task, events, outcome) = match plan(&current.task)? {
            Plan::Unchanged => return Ok(unchanged(&current.task)),
            Plan::Write {
                task,
                events,
                outcome,
            } => (task, events, outcome),
        };
        if store_with_events(db, &task, current.task.version, &events)? {
            return Ok(outcome);
        }
        if if_match.is_some() {
            let current_version = store::load(db, caller.user_id, id)?
                .ok_or(TaskError::NotFound)?
                .task
                .version;
            return Err(TaskError::VersionMismatch { current_version });
        }
    }
    Err(TaskError::Conflict)
}

/// The plan that stores `task` with `events`.
fn store_plan(task: Task, events: Vec<EventEnvelope>) -> Plan<TaskBody> {
    Plan::Write {
        outcome: TaskBody::of(&task),
        task: Box::new(task),
        events,
    }
}

/// `task-updated`, plus `task-completed` when the change completed the task.
fn change_events(
    before: &Task,
    after: &Task,
    changes: &[FieldChange],
    correlation: &str,
) -> Vec<EventEnvelope> {
    let mut events = vec![event::task_updated(after, changes, correlation)];
    if before.status != Status::Completed && after.status == Status::Completed {
        events.push(event::task_completed(after, correlation));
    }
    events
}

pub fn update(
    db: &Db,
    caller: Caller<'_>,
    id: Uuid,
    changes: &TaskChanges,
    if_match: Option<i64>,
) -> Result<TaskBody, TaskError> {
    change_task(db, caller, id, if_match, TaskBody::of, |current| {
        let (task, field_changes) = input::apply_changes(current, changes, spin_support::now())
            .map_err(TaskError::Invalid)?;
        if field_changes.is_empty() {
            return Ok(Plan::Unchanged);
        }
        let events = change_events(current, &task, &field_changes, caller.correlation_id);
        Ok(store_plan(task, events))
    })
}

pub fn toggle(
    db: &Db,
    caller: Caller<'_>,
    id: Uuid,
    if_match: Option<i64>,
) -> Result<TaskBody, TaskError> {
    change_task(db, caller, id, if_match, TaskBody::of, |current| {
        let mut task = current.clone();
        let field_changes = task.toggle(spin_support::now());
        let events = change_events(current, &task, &field_changes, caller.correlation_id);
        Ok(store_plan(task, events))
    })
}

/// One statement: the row is deleted and its `task-deleted` event written with the deleted
/// row's snapshot, so a concurrent change can never slip between a read and the delete.
pub fn delete(
    db: &Db,
    caller: Caller<'_>,
    id: Uuid,
    if_match: Option<i64>,
) -> Result<Deleted, TaskError> {
    let mut deleted = event::task_deleted_by_id(id, caller.user_id, caller.correlation_id);
    match store::delete_with_event(db, caller.user_id, id, if_match, &deleted)? {
        Deletion::Deleted(json) => {
            let snapshot: Value = serde_json::from_str(&json).map_err(|e| {
                TaskError::Db(DbError::Decode {
                    column: 0,
                    detail: format!("deleted task: {e}"),
                })
            })?;
            deleted.add_task_snapshot(snapshot);
            outbox::publish_committed(db, std::slice::from_ref(&deleted));
            Ok(Deleted { task_id: id })
        }
        Deletion::Kept(None) => Err(TaskError::NotFound),
        Deletion::Kept(Some(version)) if if_match.is_some_and(|v| v != version) => {
            Err(TaskError::VersionMismatch {
                current_version: version,
            })
        }
        // Changed between the statement's snapshot and the delete: the version it had is stale.
        Deletion::Kept(Some(_)) => {
            let current = store::load(db, caller.user_id, id)?.ok_or(TaskError::NotFound)?;
            Err(TaskError::VersionMismatch {
                current_version: current.task.version,
            })
        }
    }
}

pub fn list(db: &Db, caller: Caller<'_>, query: &ListQuery) -> Result<Page, TaskError> {
    let page = store::list_page(db, caller.user_id, query)?;
    Ok(Page {
        json: page.json,
        next_cursor: page.next.map(|cursor| cursor.encode()),
    })
}

/// `{"completed","highPriorityPending","overdue","pending","total"}`, counted by PostgreSQL.
pub fn stats(db: &Db, caller: Caller<'_>) -> Result<String, TaskError> {
    Ok(store::stats_json(db, caller.user_id)?)
}
