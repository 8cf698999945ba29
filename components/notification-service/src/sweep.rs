//! One reminder sweep: read a bounded batch of due reminders (oldest first, through the
//! partial index `tasks_reminders_due`), claim each in its own single statement, publish the
//! committed events, and repeat until nothing is due or the time budget is spent.
//!
//! The claim is one data-modifying CTE (never an open transaction: Spin hands pooled
//! connections back without a rollback):
//! `UPDATE tasks SET reminder_sent = true ... WHERE ... AND NOT reminder_sent RETURNING`, then
//! the notification `INSERT ... ON CONFLICT (task_id, reminder_at) DO NOTHING`, then the
//! `reminder-due` outbox row only if the notification was inserted. The `NOT reminder_sent`
//! re-check happens under the row lock, so concurrent sweeps (replicas, overlapping ticks,
//! the cron and the HTTP route at once) fire each arming exactly once; the unique key on the
//! notification is the second guard. The claim also requires the version that was read, so
//! the event's task snapshot is exactly the claimed state; a task changed in between is
//! simply read again by the next batch.

use std::time::{Duration, Instant};

use spin_support::db::{param, Db, DbError, Row, Statement};
use spin_support::outbox;
use spin_support::task_store::{stored_task_from_row, TASK_COLUMNS};
use todo_domain::event::EventEnvelope;
use todo_domain::task::{Status, Task};

use crate::reminder::{self, Summary};

pub struct SweepConfig {
    /// Rows read per batch.
    pub batch_size: usize,
    /// Stop starting new claims after this long (what is left waits for the next sweep).
    pub budget: Duration,
    /// Publish the committed events after this many claims at the latest.
    pub publish_every: usize,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            batch_size: 200,
            budget: Duration::from_secs(3),
            publish_every: 25,
        }
    }
}

enum Claim {
    Fired(EventEnvelope),
    SkippedCompleted,
    AlreadyNotified,
    Lost,
}

/// Runs one sweep. Fails only when the database fails (the caller reports it); events that
/// were committed before the failure are still published.
pub fn run(config: &SweepConfig, correlation_id: &str) -> Result<Summary, DbError> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let db = Db::open()?;
    let result = sweep(&db, config, correlation_id, started, &mut summary);
    summary.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    result.map(|()| summary)
}

fn sweep(
    db: &Db,
    config: &SweepConfig,
    correlation_id: &str,
    started: Instant,
    summary: &mut Summary,
) -> Result<(), DbError> {
    let mut committed: Vec<EventEnvelope> = Vec::new();
    let outcome = claim_batches(db, config, correlation_id, started, summary, &mut committed);
    // Whatever was committed is published, even when the sweep stopped on an error.
    outbox::publish_committed(db, &committed);
    outcome
}

fn claim_batches(
    db: &Db,
    config: &SweepConfig,
    correlation_id: &str,
    started: Instant,
    summary: &mut Summary,
    committed: &mut Vec<EventEnvelope>,
) -> Result<(), DbError> {
    // Rows that cannot be read as a task: skipped (and logged) for the rest of this sweep.
    let mut undecodable: Vec<String> = Vec::new();
    loop {
        if started.elapsed() >= config.budget {
            summary.more_due = true;
            return Ok(());
        }
        let rows = db.query(&select_due(config.batch_size, &undecodable))?;
        summary.batches += 1;
        if rows.is_empty() {
            return Ok(());
        }
        // Concurrent sweeps read the same oldest batch; starting each at its own offset lets
        // them claim different rows instead of queueing on the same row locks.
        let offset = (uuid::Uuid::new_v4().as_u128() % rows.len() as u128) as usize;
        for i in 0..rows.len() {
            if started.elapsed() >= config.budget {
                summary.more_due = true;
                return Ok(());
            }
            let row = &rows[(offset + i) % rows.len()];
            let task = match stored_task_from_row(row) {
                Ok(stored) => stored.task,
                Err(e) => {
                    note_undecodable(row, &e, &mut undecodable, summary);
                    continue;
                }
            };
            match claim(db, &task, correlation_id)? {
                Claim::Fired(event) => {
                    summary.fired += 1;
                    committed.push(event);
                    if committed.len() >= config.publish_every {
                        outbox::publish_committed(db, &std::mem::take(committed));
                    }
                }
                Claim::SkippedCompleted => summary.skipped_completed += 1,
                Claim::AlreadyNotified => summary.already_notified += 1,
                Claim::Lost => summary.lost += 1,
            }
        }
        if rows.len() < config.batch_size {
            return Ok(());
        }
    }
}

fn note_undecodable(
    row: &Row,
    error: &DbError,
    undecodable: &mut Vec<String>,
    summary: &mut Summary,
) {
    summary.undecodable += 1;
    match row.uuid(0) {
        Ok(id) => {
            eprintln!(
                "reminder sweep: task {id} cannot be read ({error}); its reminder is left armed"
            );
            undecodable.push(id.to_string());
        }
        Err(e) => eprintln!("reminder sweep: a due task row has no readable id ({e}); skipped"),
    }
}

/// Due reminders, oldest first (matches the partial index `tasks_reminders_due`).
fn select_due(limit: usize, exclude: &[String]) -> Statement {
    let now = spin_support::now();
    Statement::new(format!(
        "SELECT {TASK_COLUMNS} FROM tasks \
         WHERE NOT reminder_sent AND reminder_at IS NOT NULL AND reminder_at <= $1::text::timestamptz \
           AND NOT (id = ANY($2::text[]::uuid[])) \
         ORDER BY reminder_at, id LIMIT $3"
    ))
    .arg(param::instant(now))
    .arg(param::text_array(exclude))
    .arg(param::int64(i64::try_from(limit).unwrap_or(i64::MAX)))
}

/// The claim's `UPDATE ... RETURNING`, a CTE body: only the version that was read, only while
/// the same arming is still unsent.
fn claim_update_sql(
    statement: &mut Statement,
    task: &Task,
    reminder_at: chrono::DateTime<chrono::Utc>,
) -> String {
    format!(
        "UPDATE tasks SET reminder_sent = true, version = version + 1 \
         WHERE id = {} AND user_id = {} AND version = {} AND NOT reminder_sent \
           AND reminder_at = {}::text::timestamptz \
         RETURNING id, user_id, status, reminder_at",
        statement.bind(param::uuid(task.id)),
        statement.bind(param::text(&task.user_id)),
        statement.bind(param::int64(task.version)),
        statement.bind(param::instant(reminder_at)),
    )
}

fn claim(db: &Db, task: &Task, correlation_id: &str) -> Result<Claim, DbError> {
    let Some(reminder_at) = task.reminder_at else {
        return Ok(Claim::Lost);
    };
    let mut statement = Statement::default();
    let update = claim_update_sql(&mut statement, task, reminder_at);

    if task.status == Status::Completed {
        statement.sql =
            format!("WITH claimed AS ({update}) SELECT (SELECT count(*) FROM claimed)::int8");
        let claimed = count(db.query_one(&statement)?.as_ref(), 0)?;
        return Ok(if claimed == 1 {
            Claim::SkippedCompleted
        } else {
            Claim::Lost
        });
    }

    let claimed_task = reminder::claimed_state(task);
    let fired = reminder::fire(&claimed_task, spin_support::now(), correlation_id);
    let notification = format!(
        "INSERT INTO notifications (id, user_id, task_id, message, read, created_at, reminder_at) \
         SELECT {}::uuid, c.user_id, c.id, {}::text, false, {}::text::timestamptz, c.reminder_at \
         FROM claimed c WHERE c.status = 'pending' \
         ON CONFLICT (task_id, reminder_at) DO NOTHING RETURNING id",
        statement.bind(param::uuid(fired.notification_id)),
        statement.bind(param::text(&fired.message)),
        statement.bind(param::instant(fired.created_at)),
    );
    let events = outbox::insert_events_sql(&mut statement, "n", std::slice::from_ref(&fired.event));
    statement.sql = format!(
        "WITH claimed AS ({update}), n AS ({notification}), ev AS ({events}) \
         SELECT (SELECT count(*) FROM claimed)::int8, (SELECT count(*) FROM n)::int8"
    );
    let row = db.query_one(&statement)?;
    let claimed = count(row.as_ref(), 0)?;
    let notified = count(row.as_ref(), 1)?;
    Ok(match (claimed, notified) {
        (1, 1) => Claim::Fired(fired.event),
        (1, _) => Claim::AlreadyNotified,
        _ => Claim::Lost,
    })
}

fn count(row: Option<&Row>, column: usize) -> Result<i64, DbError> {
    row.map_or(Ok(0), |r| r.int(column))
}
