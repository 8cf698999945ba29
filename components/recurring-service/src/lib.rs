//! `recurring-service`: Redis trigger on `task-completed`. Creates the next occurrence of a
//! completed recurring task, exactly once per completed occurrence.
//!
//! The event only says which task to look at: the task row is read again (scoped to the
//! event's user), and nothing happens unless it still exists, is still completed and is still
//! recurring. So:
//! - a task deleted before its successor was created gets no successor (deleting the
//!   occurrence ends the series, the user's last word);
//! - a task reopened (completed -> pending) before the event arrived gets none from this event;
//!   completing it again publishes a new `task-completed`, which creates it (once);
//! - a forged event (another user, unknown task) creates nothing.
//!
//! The next due date comes from `todo_domain::recurrence` (anchored to the series, in the
//! task's time zone; no successor after `recurringEndDate`). The successor and its own
//! `task-created` event are written in ONE transaction (`task_insert_successor`), with a row in
//! `recurrence_successors (series_id, occurrence_index)`: that primary key (and the tasks'
//! `UNIQUE (series_id, occurrence_index)`) makes the successor exactly-once however often and
//! by however many replicas the completion is delivered, and because the marker row outlives
//! the successor task, a re-delivered completion never re-creates a successor the user deleted.
//!
//! Errors: malformed messages are logged and dropped (`Ok`); only failures that may pass
//! (database unavailable, unexpected query errors) return `Err` (Spin drops the message; the
//! outbox relay re-publishes the completion while the successor is missing). Each message
//! writes one log line (`spin_support::consumer`) saying which of these it was.

use spin_sdk::redis_component;
use spin_support::consumer::{consume, Handled};
use spin_support::db::{Db, DbError};
use spin_support::outbox;
use todo_domain::event::{self, EventEnvelope, Topic};
use todo_domain::recurrence;
use todo_domain::task::Status;
use todo_tasks::store::{self, StoredTask};
use uuid::Uuid;

const SERVICE: &str = "recurring-service";

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    consume(SERVICE, &message, |completion| {
        if completion.topic != Topic::TaskCompleted {
            return Ok(Handled::dropped(
                "ignored",
                format!("type {} is not task-completed", completion.topic),
            ));
        }
        let Some(task_id) = completion
            .task_id()
            .or_else(|| Uuid::parse_str(&completion.subject).ok())
        else {
            return Ok(Handled::dropped("ignored", "the event names no task"));
        };
        Ok(create_successor(completion, task_id)?.handled(task_id))
    })
}

enum Outcome {
    Created(Uuid),
    TaskGone,
    NotCompleted,
    NotRecurring,
    SeriesEnded,
    AlreadyCreated,
}

impl Outcome {
    fn handled(self, task_id: Uuid) -> Handled {
        let nothing =
            |outcome, why: &str| Handled::nothing_to_do(outcome, format!("task {task_id}: {why}"));
        match self {
            Outcome::Created(id) => {
                Handled::done("created").with_detail(format!("task {task_id}: successor {id}"))
            }
            Outcome::TaskGone => nothing(
                "task-gone",
                "not found (deleted, or not this user's): no successor",
            ),
            Outcome::NotCompleted => {
                nothing("not-completed", "not completed any more: no successor")
            }
            Outcome::NotRecurring => nothing("not-recurring", "not recurring: no successor"),
            Outcome::SeriesEnded => {
                nothing("series-ended", "recurringEndDate reached: no successor")
            }
            Outcome::AlreadyCreated => Handled::done("duplicate")
                .with_detail(format!("task {task_id}: successor already created")),
        }
    }
}

fn create_successor(completion: &EventEnvelope, task_id: Uuid) -> Result<Outcome, DbError> {
    let db = Db::open()?;
    let Some(current) = store::load(&db, &completion.user_id, task_id)? else {
        return Ok(Outcome::TaskGone);
    };
    if current.task.status != Status::Completed {
        return Ok(Outcome::NotCompleted);
    }
    if current.task.recurring_rule.is_none() {
        return Ok(Outcome::NotRecurring);
    }
    let anchor = current
        .series_anchor
        .unwrap_or_else(|| current.task.own_anchor());
    let now = spin_support::now();
    let Some(mut next) = recurrence::successor(&current.task, anchor, Uuid::now_v7(), now) else {
        return Ok(Outcome::SeriesEnded);
    };
    next.parent_task_id = Some(current.series_id);
    let stored = StoredTask {
        task: next,
        series_id: current.series_id,
        series_anchor: Some(anchor),
    };
    let created =
        event::task_created(&stored.task, &completion.correlation_id).with_source(SERVICE);

    let written = store::insert_successor_with_events(&db, &stored, std::slice::from_ref(&created));
    match written {
        Ok(true) => {}
        Ok(false) => return Ok(Outcome::AlreadyCreated),
        // The tasks' own UNIQUE (series_id, occurrence_index): created by a concurrent replica.
        Err(DbError::UniqueViolation(_)) => return Ok(Outcome::AlreadyCreated),
        Err(e) => return Err(e),
    }
    outbox::publish_committed(&db, std::slice::from_ref(&created));
    Ok(Outcome::Created(stored.task.id))
}
