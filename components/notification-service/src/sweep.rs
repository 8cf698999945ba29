//! One reminder sweep: read a bounded batch of due reminders (oldest first, through the
//! partial index `tasks_reminders_due`), claim them in small chunks, each chunk one
//! statement, publish the committed events, and repeat until nothing is due or the time
//! budget is spent.
//!
//! A claim is one data-modifying statement (never an open transaction: Spin hands pooled
//! connections back without a rollback). For every reminder of the chunk it locks the task
//! row only if it is still the version that was read with the same arming unsent
//! (`FOR UPDATE SKIP LOCKED`: a row another sweep is claiming right now is skipped, never
//! waited for, so concurrent sweeps cannot deadlock), marks it sent, inserts the
//! notification (`ON CONFLICT (task_id, reminder_at) DO NOTHING`, the second guard) and the
//! `reminder-due` outbox row only where the notification was inserted. The lock and the
//! re-check make concurrent sweeps (replicas, overlapping ticks, the cron and the HTTP route at
//! once) fire each arming exactly once. Requiring the version that was read makes the event's
//! task snapshot exactly the claimed state; a task changed in between is read again by the
//! next batch. If a chunk fails for a reason other than the database being unavailable, its
//! reminders are claimed one by one so that one odd row cannot hold back the others.

use std::time::{Duration, Instant};

use serde_json::Value;
use spin_sdk::pg4::ParameterValue;
use spin_support::db::{param, Db, DbError, Statement};
use spin_support::log::note;
use spin_support::outbox::Publisher;
use todo_domain::event::EventEnvelope;
use todo_domain::task::{Status, Task};
use todo_tasks::store;
use uuid::Uuid;

use crate::reminder::{self, Fired, Summary};

pub struct SweepConfig {
    /// Rows read per batch.
    pub batch_size: usize,
    /// Reminders claimed per statement.
    pub chunk_size: usize,
    /// Stop starting new claims after this long (what is left waits for the next sweep).
    pub budget: Duration,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            batch_size: 500,
            chunk_size: 50,
            budget: Duration::from_secs(3),
        }
    }
}

/// Runs one sweep. Fails only when the database is unavailable (the caller reports it);
/// events committed before the failure are still published.
pub fn run(config: &SweepConfig, correlation_id: &str) -> Result<Summary, DbError> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let db = Db::open()?;
    let result = claim_batches(&db, config, correlation_id, started, &mut summary);
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    result.map(|()| summary)
}

fn claim_batches(
    db: &Db,
    config: &SweepConfig,
    correlation_id: &str,
    started: Instant,
    summary: &mut Summary,
) -> Result<(), DbError> {
    // Rows that cannot be read or claimed: skipped (and logged) for the rest of this sweep.
    let mut excluded: Vec<String> = Vec::new();
    let publisher = Publisher::new();
    loop {
        if started.elapsed() >= config.budget {
            summary.more_due = true;
            return Ok(());
        }
        let rows: Vec<Value> = db
            .query_row(&select_due(config.batch_size, &excluded))?
            .decode_json(0)?;
        summary.batches += 1;
        if rows.is_empty() {
            return Ok(());
        }
        let mut tasks = Vec::with_capacity(rows.len());
        for row in &rows {
            match store::decode_record(row.clone()) {
                Ok(stored) => tasks.push(stored.task),
                Err(e) => note_undecodable(row, &e, &mut excluded, summary),
            }
        }
        // Concurrent sweeps read the same oldest batch; starting each at its own offset lets
        // them claim different rows instead of skipping each other's locked ones.
        if !tasks.is_empty() {
            let offset = (Uuid::new_v4().as_u128() % tasks.len() as u128) as usize;
            tasks.rotate_left(offset);
        }
        for chunk in tasks.chunks(config.chunk_size.max(1)) {
            if started.elapsed() >= config.budget {
                summary.more_due = true;
                return Ok(());
            }
            match claim_chunk(db, chunk, correlation_id) {
                Ok(events) => tally(db, &publisher, events, summary),
                Err(DbError::Unavailable(cause)) => return Err(DbError::Unavailable(cause)),
                Err(error) => {
                    note(format!(
                        "claiming {} reminders failed ({error}); claiming them one by one",
                        chunk.len()
                    ));
                    for task in chunk {
                        match claim_chunk(db, std::slice::from_ref(task), correlation_id) {
                            Ok(events) => tally(db, &publisher, events, summary),
                            Err(DbError::Unavailable(cause)) => {
                                return Err(DbError::Unavailable(cause))
                            }
                            Err(error) => {
                                note(format!(
                                    "task {}: claim failed ({error}); its reminder is left armed",
                                    task.id
                                ));
                                summary.failed += 1;
                                excluded.push(task.id.to_string());
                            }
                        }
                    }
                }
            }
        }
        if rows.len() < config.batch_size {
            return Ok(());
        }
    }
}

/// Counts a chunk's outcomes and publishes its committed events.
fn tally(db: &Db, publisher: &Publisher, outcomes: Vec<Outcome>, summary: &mut Summary) {
    let mut events = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Fired(event) => {
                summary.fired += 1;
                events.push(event);
            }
            Outcome::SkippedCompleted => summary.skipped_completed += 1,
            Outcome::AlreadyNotified => summary.already_notified += 1,
            Outcome::Lost => summary.lost += 1,
        }
    }
    publisher.publish_committed(db, &events);
}

fn note_undecodable(
    record: &Value,
    error: &DbError,
    excluded: &mut Vec<String>,
    summary: &mut Summary,
) {
    summary.undecodable += 1;
    match record
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
    {
        Some(id) => {
            note(format!(
                "task {id} cannot be read ({error}); its reminder is left armed"
            ));
            excluded.push(id.to_string());
        }
        None => note(format!(
            "a due task row has no readable id ({error}); skipped"
        )),
    }
}

/// Due reminders, oldest first (matches the partial index `tasks_reminders_due`), as one
/// JSON array of task records (one row, however many are due).
fn select_due(limit: usize, exclude: &[String]) -> Statement {
    let now = spin_support::now();
    Statement::new(
        "SELECT coalesce('[' || string_agg(task_record(t), ',' ORDER BY t.reminder_at, t.id) || ']', '[]') \
         FROM (SELECT * FROM tasks \
               WHERE NOT reminder_sent AND reminder_at IS NOT NULL AND reminder_at <= $1::text::timestamptz \
                 AND NOT (id = ANY($2::text[]::uuid[])) \
               ORDER BY reminder_at, id LIMIT $3) AS t",
    )
    .arg(param::instant(now))
    .arg(param::text_array(exclude))
    .arg(param::int64(i64::try_from(limit).unwrap_or(i64::MAX)))
}

enum Outcome {
    Fired(EventEnvelope),
    SkippedCompleted,
    AlreadyNotified,
    /// Another sweep holds or took it, or the task changed since it was read.
    Lost,
}

fn texts(values: impl Iterator<Item = Option<String>>) -> ParameterValue {
    ParameterValue::ArrayStr(values.collect())
}

/// The claim statement for `tasks` (as read; all with a reminder) and the reminders that
/// fire if claimed (pending tasks only).
fn claim_statement(tasks: &[&Task], fired: &[Option<Fired>]) -> Statement {
    let mut st = Statement::default();
    let ids = st.bind(texts(tasks.iter().map(|t| Some(t.id.to_string()))));
    let users = st.bind(texts(tasks.iter().map(|t| Some(t.user_id.clone()))));
    // Every array is bound as text[] and cast in SQL (Spin binds ArrayStr as text[]).
    let versions = st.bind(texts(tasks.iter().map(|t| Some(t.version.to_string()))));
    let reminders = st.bind(texts(
        tasks.iter().map(|t| t.reminder_at.map(param_instant)),
    ));
    let notification_ids = st.bind(texts(
        fired
            .iter()
            .map(|f| f.as_ref().map(|f| f.notification_id.to_string())),
    ));
    let messages = st.bind(texts(
        fired.iter().map(|f| f.as_ref().map(|f| f.message.clone())),
    ));
    let created = st.bind(texts(
        fired
            .iter()
            .map(|f| f.as_ref().map(|f| param_instant(f.created_at))),
    ));
    let event_ids = st.bind(texts(
        fired
            .iter()
            .map(|f| f.as_ref().map(|f| f.event.id.to_string())),
    ));
    let payloads = st.bind(texts(
        fired
            .iter()
            .map(|f| f.as_ref().map(|f| f.event.to_json().to_string())),
    ));
    st.sql = format!(
        "WITH input AS ( \
           SELECT * FROM unnest({ids}::text[]::uuid[], {users}::text[], {versions}::text[]::int8[], \
                                {reminders}::text[]::timestamptz[], {notification_ids}::text[]::uuid[], \
                                {messages}::text[], {created}::text[]::timestamptz[], \
                                {event_ids}::text[]::uuid[], {payloads}::text[]::jsonb[]) \
             AS i(id, user_id, version, reminder_at, notification_id, message, created_at, event_id, payload)), \
         locked AS ( \
           SELECT t.id FROM tasks t JOIN input i \
             ON t.id = i.id AND t.user_id = i.user_id AND t.version = i.version AND t.reminder_at = i.reminder_at \
           WHERE NOT t.reminder_sent \
           FOR UPDATE OF t SKIP LOCKED), \
         claimed AS ( \
           UPDATE tasks t SET reminder_sent = true, version = t.version + 1 \
           FROM locked l WHERE t.id = l.id AND NOT t.reminder_sent \
           RETURNING t.id, t.user_id, t.status, t.reminder_at), \
         n AS ( \
           INSERT INTO notifications (id, user_id, task_id, message, read, created_at, reminder_at) \
           SELECT i.notification_id, c.user_id, c.id, i.message, false, i.created_at, c.reminder_at \
           FROM claimed c JOIN input i ON i.id = c.id \
           WHERE c.status = 'pending' AND i.notification_id IS NOT NULL \
           ORDER BY c.reminder_at, c.id \
           ON CONFLICT (task_id, reminder_at) DO NOTHING \
           RETURNING task_id), \
         ev AS ( \
           INSERT INTO events (id, topic, user_id, subject, payload) \
           SELECT i.event_id, 'reminder-due', i.user_id, i.id::text, i.payload \
           FROM input i JOIN n ON n.task_id = i.id \
           ORDER BY i.reminder_at, i.id \
           RETURNING id) \
         SELECT coalesce(json_agg(json_build_array(c.id, c.status, EXISTS (SELECT 1 FROM n WHERE n.task_id = c.id))), '[]')::text \
         FROM claimed c"
    );
    st
}

fn param_instant(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Claims `tasks` in one statement; the outcome of each, in order.
fn claim_chunk(db: &Db, tasks: &[Task], correlation_id: &str) -> Result<Vec<Outcome>, DbError> {
    let tasks: Vec<&Task> = tasks.iter().filter(|t| t.reminder_at.is_some()).collect();
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let now = spin_support::now();
    let fired: Vec<Option<Fired>> = tasks
        .iter()
        .map(|t| {
            (t.status == Status::Pending)
                .then(|| reminder::fire(&reminder::claimed_state(t), now, correlation_id))
        })
        .collect();
    // (task id, status, whether its notification was inserted) of each claimed task.
    let rows: Vec<(Uuid, String, bool)> = db
        .query_row(&claim_statement(&tasks, &fired))?
        .decode_json(0)?;
    let claimed: std::collections::HashMap<Uuid, (String, bool)> = rows
        .into_iter()
        .map(|(id, status, notified)| (id, (status, notified)))
        .collect();
    Ok(tasks
        .iter()
        .zip(fired)
        .map(|(task, fired)| match claimed.get(&task.id) {
            None => Outcome::Lost,
            Some((status, _)) if status.as_str() != Status::Pending.as_str() => {
                Outcome::SkippedCompleted
            }
            Some((_, true)) => fired.map_or(Outcome::AlreadyNotified, |f| Outcome::Fired(f.event)),
            Some((_, false)) => Outcome::AlreadyNotified,
        })
        .collect())
}
