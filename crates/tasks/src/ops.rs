//! The operations. Each change and its events are one statement; the events are published
//! after it committed.

use serde_json::Value;
use sha2::{Digest, Sha256};
use spin_support::db::{param, Db, Statement};
use spin_support::outbox;
use spin_support::task_store::{self, StoredTask, TASK_COLUMNS};
use todo_domain::error::FieldError;
use todo_domain::event::{self, EventEnvelope};
use todo_domain::input::{self, FieldChange, NewTask, TaskChanges};
use todo_domain::listing::{self, CursorKey, ListQuery};
use todo_domain::task::{Status, Task};
use uuid::Uuid;

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
                "value_error",
            )]));
        }
        Ok(())
    }
}

fn load(db: &Db, user: &str, id: Uuid) -> Result<Option<StoredTask>, TaskError> {
    let statement = Statement::new(format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2"
    ))
    .arg(param::uuid(id))
    .arg(param::text(user));
    match db.query_one(&statement)? {
        Some(row) => Ok(Some(task_store::stored_task_from_row(&row)?)),
        None => Ok(None),
    }
}

pub fn get(db: &Db, caller: Caller<'_>, id: Uuid) -> Result<TaskBody, TaskError> {
    let stored = load(db, caller.user_id, id)?.ok_or(TaskError::NotFound)?;
    Ok(TaskBody::of(&stored.task))
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

    let mut statement = Statement::default();
    let key_cte = idempotency.as_ref().map(|idem| {
        format!(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, task_id, status_code, response) \
             VALUES ({}::text, {}::text, {}::text, {}::uuid, 201, {}::jsonb) \
             ON CONFLICT (user_id, key) DO NOTHING RETURNING task_id",
            statement.bind(param::text(caller.user_id)),
            statement.bind(param::text(&idem.key)),
            statement.bind(param::text(&idem.request_hash)),
            statement.bind(param::uuid(stored.task.id)),
            statement.bind(param::jsonb(&stored.task.to_json())),
        )
    });
    let insert =
        task_store::insert_task_sql(&mut statement, &stored, key_cte.as_ref().map(|_| "idem"));
    let prefix = match &key_cte {
        Some(key_cte) => format!("idem AS ({key_cte}), "),
        None => String::new(),
    };
    if write_with_events(db, statement, &prefix, &insert, &events)? {
        return Ok(Created::New(TaskBody::of(&stored.task)));
    }
    // The key was used before: replay its first response, or refuse a different body.
    let Some(idempotency) = idempotency else {
        return Err(TaskError::Db(spin_support::db::DbError::Query(
            "task insert affected no row".into(),
        )));
    };
    replay(db, caller.user_id, &idempotency)
}

fn replay(db: &Db, user: &str, idempotency: &Idempotency) -> Result<Created, TaskError> {
    let statement = Statement::new(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .arg(param::text(user))
    .arg(param::text(&idempotency.key));
    let row = db.query_one(&statement)?.ok_or_else(|| {
        TaskError::Db(spin_support::db::DbError::Query(
            "idempotency key vanished".into(),
        ))
    })?;
    if row.text(0)? != idempotency.request_hash {
        return Err(TaskError::Invalid(vec![FieldError::new(
            &["header", "Idempotency-Key"],
            "this Idempotency-Key was already used with a different request body",
            "idempotency_key_reused",
        )]));
    }
    let status = u16::try_from(row.int(1)?).unwrap_or(201);
    let body = row.json(2)?;
    let version = body.get("version").and_then(Value::as_i64).unwrap_or(1);
    Ok(Created::Replayed {
        status,
        body: TaskBody {
            json: body.to_string(),
            version,
        },
    })
}

/// What a change makes of the task it read.
enum Plan<T> {
    /// Nothing to change: answer with the current task, write nothing, publish nothing.
    Unchanged,
    /// Run `change` (a CTE body returning the id of the row it wrote, guarded by the version
    /// that was read) with `events`, and answer with `outcome` if it wrote the row.
    Write {
        statement: Statement,
        change: String,
        events: Vec<EventEnvelope>,
        outcome: T,
    },
}

/// Runs `change` (a CTE body in `statement`) and its `events` as one statement; publishes the
/// events once it committed. Returns whether the change wrote its row. `prefix` are CTEs the
/// change refers to (e.g. the idempotency key's).
fn write_with_events(
    db: &Db,
    mut statement: Statement,
    prefix: &str,
    change: &str,
    events: &[EventEnvelope],
) -> Result<bool, TaskError> {
    let insert_events = outbox::insert_events_sql(&mut statement, "changed", events);
    statement.sql = format!(
        "WITH {prefix}changed AS ({change}), ev AS ({insert_events}) \
         SELECT (SELECT count(*) FROM changed)::int8"
    );
    let written = db
        .query_one(&statement)?
        .map(|row| row.int(0))
        .transpose()?
        .unwrap_or(0);
    if written == 1 {
        outbox::publish_committed(db, events);
    }
    Ok(written == 1)
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
        let current = load(db, caller.user_id, id)?.ok_or(TaskError::NotFound)?;
        if let Some(expected) = if_match {
            if expected != current.task.version {
                return Err(TaskError::VersionMismatch {
                    current_version: current.task.version,
                });
            }
        }
        let (statement, change, events, outcome) = match plan(&current.task)? {
            Plan::Unchanged => return Ok(unchanged(&current.task)),
            Plan::Write {
                statement,
                change,
                events,
                outcome,
            } => (statement, change, events, outcome),
        };
        if write_with_events(db, statement, "", &change, &events)? {
            return Ok(outcome);
        }
        if if_match.is_some() {
            let current_version = load(db, caller.user_id, id)?
                .ok_or(TaskError::NotFound)?
                .task
                .version;
            return Err(TaskError::VersionMismatch { current_version });
        }
    }
    Err(TaskError::Conflict)
}

/// The plan that stores `task` (read at `read_version`) with `events`.
fn store_plan(task: Task, read_version: i64, events: Vec<EventEnvelope>) -> Plan<TaskBody> {
    let mut statement = Statement::default();
    let change = task_store::update_task_sql(&mut statement, &task, read_version);
    Plan::Write {
        statement,
        change,
        events,
        outcome: TaskBody::of(&task),
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
        Ok(store_plan(task, current.version, events))
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
        Ok(store_plan(task, current.version, events))
    })
}

pub fn delete(
    db: &Db,
    caller: Caller<'_>,
    id: Uuid,
    if_match: Option<i64>,
) -> Result<Deleted, TaskError> {
    let deleted = |task: &Task| Deleted { task_id: task.id };
    change_task(db, caller, id, if_match, deleted, |current| {
        let mut statement = Statement::default();
        let change = format!(
            "DELETE FROM tasks WHERE id = {} AND user_id = {} AND version = {} RETURNING id",
            statement.bind(param::uuid(current.id)),
            statement.bind(param::text(&current.user_id)),
            statement.bind(param::int64(current.version)),
        );
        Ok(Plan::Write {
            statement,
            change,
            events: vec![event::task_deleted(current, caller.correlation_id)],
            outcome: deleted(current),
        })
    })
}

/// The cursor key bound with the cast its column needs. A missing due date is not bound:
/// the keyset predicate for it does not use the key.
fn bind_key(statement: &mut Statement, key: &CursorKey) -> String {
    match key {
        CursorKey::Instant(None) => String::new(),
        CursorKey::Instant(Some(t)) => {
            format!("{}::text::timestamptz", statement.bind(param::instant(*t)))
        }
        CursorKey::Text(s) => format!("{}::text", statement.bind(param::text(s))),
        CursorKey::Rank(r) => format!("{}::int4", statement.bind(param::int32(i32::from(*r)))),
    }
}

pub fn list(db: &Db, caller: Caller<'_>, query: &ListQuery) -> Result<Page, TaskError> {
    let mut statement = Statement::default();
    let mut conditions = vec![format!(
        "user_id = {}",
        statement.bind(param::text(caller.user_id))
    )];
    if let Some(status) = query.status {
        conditions.push(format!(
            "status = {}",
            statement.bind(param::text(status.as_str()))
        ));
    }
    if let Some(priority) = query.priority {
        conditions.push(format!(
            "priority = {}",
            statement.bind(param::text(priority.as_str()))
        ));
    }
    if let Some(category) = query.category {
        conditions.push(format!(
            "category = {}",
            statement.bind(param::text(category.as_str()))
        ));
    }
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        let pattern = statement.bind(param::text(listing::like_pattern(search)));
        conditions.push(format!(
            "(title ILIKE {pattern} ESCAPE '\\' OR description ILIKE {pattern} ESCAPE '\\')"
        ));
    }
    if !query.tags.is_empty() {
        conditions.push(format!(
            "tags @> {}::text[]",
            statement.bind(param::text_array(&query.tags))
        ));
    }
    if let Some(before) = query.due_before {
        conditions.push(format!(
            "due_date <= {}::text::timestamptz",
            statement.bind(param::instant(before))
        ));
    }
    if let Some(after) = query.due_after {
        conditions.push(format!(
            "due_date >= {}::text::timestamptz",
            statement.bind(param::instant(after))
        ));
    }
    if let Some(cursor) = &query.cursor {
        let key = bind_key(&mut statement, &cursor.key);
        let id = format!("{}::uuid", statement.bind(param::uuid(cursor.id)));
        conditions.push(listing::keyset_predicate_sql(cursor, &key, &id));
    }
    statement.sql = format!(
        "SELECT {TASK_COLUMNS} FROM tasks WHERE {} ORDER BY {} LIMIT {}",
        conditions.join(" AND "),
        listing::order_by_sql(query.sort_by, query.sort_order),
        query.limit + 1
    );
    let rows = db.query(&statement)?;
    let mut tasks = rows
        .iter()
        .map(task_store::task_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if tasks.len() > query.limit as usize {
        tasks.truncate(query.limit as usize);
        tasks
            .last()
            .map(|last| listing::cursor_after(last, query.sort_by, query.sort_order).encode())
    } else {
        None
    };
    Ok(Page {
        json: Value::Array(tasks.iter().map(Task::to_json).collect()).to_string(),
        next_cursor,
    })
}

/// `{"total","pending","completed","overdue","highPriorityPending"}`, counted by PostgreSQL.
pub fn stats(db: &Db, caller: Caller<'_>) -> Result<String, TaskError> {
    let statement = Statement::new(
        "SELECT count(*)::int8, \
                count(*) FILTER (WHERE status = 'pending')::int8, \
                count(*) FILTER (WHERE status = 'pending' AND due_date < now())::int8, \
                count(*) FILTER (WHERE status = 'completed')::int8, \
                count(*) FILTER (WHERE status = 'pending' AND priority = 'high')::int8 \
         FROM tasks WHERE user_id = $1",
    )
    .arg(param::text(caller.user_id));
    let row = db.query_one(&statement)?.ok_or_else(|| {
        TaskError::Db(spin_support::db::DbError::Query(
            "aggregate returned no row".into(),
        ))
    })?;
    Ok(serde_json::json!({
        "total": row.int(0)?,
        "pending": row.int(1)?,
        "completed": row.int(3)?,
        "overdue": row.int(2)?,
        "highPriorityPending": row.int(4)?,
    })
    .to_string())
}
