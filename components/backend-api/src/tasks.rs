//! `/api/{user_id}/tasks...`: list, create (idempotent with `Idempotency-Key`), get,
//! update (`If-Match`), delete, toggle. Each change and its events are one statement; the
//! events are published after it committed.

use serde_json::Value;
use sha2::{Digest, Sha256};
use spin_sdk::http::Response;
use spin_support::db::{param, Db, Statement};
use spin_support::http::{json_response, ApiError};
use spin_support::outbox;
use spin_support::task_store::{self, StoredTask, TASK_COLUMNS};
use todo_domain::error::FieldError;
use todo_domain::event::{self, EventEnvelope};
use todo_domain::input::{self, FieldChange};
use todo_domain::listing::{self, CursorKey};
use todo_domain::task::{Status, Task};
use uuid::Uuid;

use crate::request::{path_uuid, Request};

/// Optimistic-concurrency retries for changes without `If-Match`.
const MAX_ATTEMPTS: usize = 5;

fn task_not_found() -> ApiError {
    ApiError::NotFound("Task not found".into())
}

fn task_response(status: u16, task: &Task) -> Response {
    let mut response = json_response(status, &task.to_json());
    response.set_header("etag", format!("\"{}\"", task.version));
    response
}

fn load(db: &Db, user: &str, id: Uuid) -> Result<Option<StoredTask>, ApiError> {
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

pub fn get(request: &Request, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "task_id")?;
    let db = Db::open()?;
    let stored = load(&db, &request.user, id)?.ok_or_else(task_not_found)?;
    Ok(task_response(200, &stored.task))
}

pub async fn create(request: &mut Request<'_>) -> Result<Response, ApiError> {
    let idempotency_key = match request.header("idempotency-key") {
        Some(key) if key.trim().is_empty() || key.len() > 255 => {
            return Err(ApiError::validation(FieldError::new(
                &["header", "Idempotency-Key"],
                "Idempotency-Key must be 1-255 characters",
                "value_error",
            )))
        }
        other => other,
    };
    let body = request.json_body().await?;
    let new_task = input::parse_new_task(&body).map_err(ApiError::Validation)?;
    let now = spin_support::now();
    let task = new_task.into_task(Uuid::now_v7(), request.user.clone(), now);
    let stored = StoredTask::new_root(task);
    let events = vec![event::task_created(
        &stored.task,
        &request.context.request_id,
    )];
    let db = Db::open()?;

    let mut statement = Statement::default();
    let guard = match &idempotency_key {
        Some(key) => {
            let hash = hex::encode(Sha256::digest(
                serde_json::to_vec(&body).unwrap_or_default(),
            ));
            let key_cte = format!(
                "INSERT INTO idempotency_keys (user_id, key, request_hash, task_id, status_code, response) \
                 VALUES ({}::text, {}::text, {}::text, {}::uuid, 201, {}::jsonb) \
                 ON CONFLICT (user_id, key) DO NOTHING RETURNING task_id",
                statement.bind(param::text(&request.user)),
                statement.bind(param::text(key)),
                statement.bind(param::text(&hash)),
                statement.bind(param::uuid(stored.task.id)),
                statement.bind(param::jsonb(&stored.task.to_json())),
            );
            Some((key_cte, hash))
        }
        None => None,
    };
    let insert =
        task_store::insert_task_sql(&mut statement, &stored, guard.as_ref().map(|_| "idem"));
    let prefix = match &guard {
        Some((key_cte, _)) => format!("idem AS ({key_cte}), "),
        None => String::new(),
    };
    if write_with_events(&db, statement, &prefix, &insert, &events)? {
        return Ok(task_response(201, &stored.task));
    }
    // The key was used before: replay its first response, or refuse a different body.
    let (Some(key), Some((_, hash))) = (idempotency_key, guard) else {
        return Err(ApiError::Internal("task insert affected no row".into()));
    };
    replay(&db, &request.user, &key, &hash)
}

fn replay(db: &Db, user: &str, key: &str, hash: &str) -> Result<Response, ApiError> {
    let statement = Statement::new(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .arg(param::text(user))
    .arg(param::text(key));
    let row = db
        .query_one(&statement)?
        .ok_or_else(|| ApiError::Internal("idempotency key vanished".into()))?;
    if row.text(0)? != hash {
        return Err(ApiError::validation(FieldError::new(
            &["header", "Idempotency-Key"],
            "this Idempotency-Key was already used with a different request body",
            "idempotency_key_reused",
        )));
    }
    let status = u16::try_from(row.int(1)?).unwrap_or(201);
    let body = row.json(2)?;
    let mut response = json_response(status, &body);
    if let Some(version) = body.get("version").and_then(Value::as_i64) {
        response.set_header("etag", format!("\"{version}\""));
    }
    response.set_header("idempotent-replayed", "true");
    Ok(response)
}

/// What a change makes of the task it read.
enum Plan {
    /// Nothing to change: answer with the current task, write nothing, publish nothing.
    Unchanged,
    /// Run `change` (a CTE body returning the id of the row it wrote, guarded by the version
    /// that was read) with `events`, and answer with `response` if it wrote the row.
    Write {
        statement: Statement,
        change: String,
        events: Vec<EventEnvelope>,
        response: Response,
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
) -> Result<bool, ApiError> {
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
/// `If-Match` pinned the version (then 412).
fn change_task<F>(request: &Request, id: Uuid, mut plan: F) -> Result<Response, ApiError>
where
    F: FnMut(&Task) -> Result<Plan, ApiError>,
{
    let if_match = request.if_match()?;
    let db = Db::open()?;
    for _ in 0..MAX_ATTEMPTS {
        let current = load(&db, &request.user, id)?.ok_or_else(task_not_found)?;
        if let Some(expected) = if_match {
            if expected != current.task.version {
                return Err(precondition_failed(current.task.version));
            }
        }
        let (statement, change, events, response) = match plan(&current.task)? {
            Plan::Unchanged => return Ok(task_response(200, &current.task)),
            Plan::Write {
                statement,
                change,
                events,
                response,
            } => (statement, change, events, response),
        };
        if write_with_events(&db, statement, "", &change, &events)? {
            return Ok(response);
        }
        if if_match.is_some() {
            let version = load(&db, &request.user, id)?
                .ok_or_else(task_not_found)?
                .task
                .version;
            return Err(precondition_failed(version));
        }
    }
    Err(ApiError::Conflict(
        "Task is being changed concurrently; retry".into(),
    ))
}

/// The plan that stores `task` (read at `read_version`) with `events`.
fn store_plan(task: Task, read_version: i64, events: Vec<EventEnvelope>) -> Plan {
    let mut statement = Statement::default();
    let change = task_store::update_task_sql(&mut statement, &task, read_version);
    Plan::Write {
        statement,
        change,
        events,
        response: task_response(200, &task),
    }
}

fn precondition_failed(current_version: i64) -> ApiError {
    ApiError::PreconditionFailed(format!(
        "Task was modified: If-Match does not match its current version {current_version}"
    ))
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

pub async fn update(request: &mut Request<'_>, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "task_id")?;
    let body = request.json_body().await?;
    let changes = input::parse_task_changes(&body).map_err(ApiError::Validation)?;
    let correlation = request.context.request_id.clone();
    change_task(request, id, |current| {
        let (task, field_changes) = input::apply_changes(current, &changes, spin_support::now())
            .map_err(ApiError::Validation)?;
        if field_changes.is_empty() {
            return Ok(Plan::Unchanged);
        }
        let events = change_events(current, &task, &field_changes, &correlation);
        Ok(store_plan(task, current.version, events))
    })
}

pub fn toggle(request: &Request, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "task_id")?;
    let correlation = request.context.request_id.clone();
    change_task(request, id, |current| {
        let mut task = current.clone();
        let field_changes = task.toggle(spin_support::now());
        let events = change_events(current, &task, &field_changes, &correlation);
        Ok(store_plan(task, current.version, events))
    })
}

pub fn delete(request: &Request, raw_id: &str) -> Result<Response, ApiError> {
    let id = path_uuid(raw_id, "task_id")?;
    let correlation = request.context.request_id.clone();
    change_task(request, id, |current| {
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
            events: vec![event::task_deleted(current, &correlation)],
            response: Response::builder().status(204).body(Vec::new()).build(),
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

pub fn list(request: &Request) -> Result<Response, ApiError> {
    let query =
        listing::parse_list_query(&request.context.query_pairs()).map_err(ApiError::Validation)?;
    let mut statement = Statement::default();
    let mut conditions = vec![format!(
        "user_id = {}",
        statement.bind(param::text(&request.user))
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
    let db = Db::open()?;
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
    let body = Value::Array(tasks.iter().map(Task::to_json).collect());
    let mut response = json_response(200, &body);
    if let Some(cursor) = next_cursor {
        response.set_header("x-next-cursor", cursor);
    }
    Ok(response)
}
