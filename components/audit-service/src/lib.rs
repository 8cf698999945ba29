//! `audit-service`: Redis trigger on `task-created`, `task-updated`, `task-completed` and
//! `task-deleted`. Writes one `audit_logs` row per event, idempotent by event id (the
//! `UNIQUE (event_id)` constraint, `ON CONFLICT DO NOTHING`), however often and by however many
//! replicas the event is delivered.
//!
//! The message is only trusted to name an event: the row is written from the `events` outbox
//! row with that id, topic and user (the durable log the API wrote in the change's
//! transaction). A message naming no such event (forged, another user, a typo) writes nothing.
//!
//! Errors: a malformed message (not JSON, wrong shape, unknown type, over 1 MiB) or one naming
//! an unknown event is logged and dropped (`Ok`). Only a failure that may pass (database
//! unavailable, an unexpected query error) returns `Err`: Spin logs it and drops the message,
//! and the outbox relay re-publishes the event later because it still has no audit row. Each
//! message writes one log line (`spin_support::consumer`): `recorded`, `duplicate`,
//! `unknown-event`, `ignored`, `malformed` or `failed`.
//!
//! No key-value "already processed" fast path: the insert with `ON CONFLICT DO NOTHING` is one
//! round trip, as a key-value lookup would be, so a fast path would only add a write and a
//! dependency on the store.

use spin_sdk::redis_component;
use spin_support::consumer::{consume, Handled};
use spin_support::db::{param, Db, DbError, Statement};
use todo_domain::event::{EventEnvelope, Topic};

const SERVICE: &str = "audit-service";

#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    consume(SERVICE, &message, |event| {
        if event.topic == Topic::ReminderDue {
            return Ok(Handled::dropped(
                "ignored",
                "reminder-due events are not audited",
            ));
        }
        Ok(match record(event)? {
            Outcome::Written => Handled::done("recorded"),
            Outcome::AlreadyRecorded => Handled::done("duplicate"),
            Outcome::UnknownEvent => Handled::dropped(
                "unknown-event",
                format!(
                    "no such event in the outbox (user {:?}): dropped",
                    event.user_id
                ),
            ),
        })
    })
}

enum Outcome {
    Written,
    AlreadyRecorded,
    UnknownEvent,
}

fn record(event: &EventEnvelope) -> Result<Outcome, DbError> {
    let db = Db::open()?;
    // The row comes from the outbox; `known` tells "already audited" from "no such event".
    let statement = Statement::new(
        "WITH source AS ( \
             SELECT id, topic, subject, user_id, payload FROM events \
             WHERE id = $1::uuid AND topic = $2::text AND user_id = $3::text), \
         inserted AS ( \
             INSERT INTO audit_logs (event_id, event_type, entity_type, entity_id, user_id, \"timestamp\", data) \
             SELECT id, topic, 'task', subject, user_id, (payload->>'time')::timestamptz, payload FROM source \
             ON CONFLICT (event_id) DO NOTHING RETURNING 1) \
         SELECT (SELECT count(*) FROM source)::int8, (SELECT count(*) FROM inserted)::int8",
    )
    .arg(param::uuid(event.id))
    .arg(param::text(event.topic.as_str()))
    .arg(param::text(&event.user_id));
    let row = db.query_row(&statement)?;
    Ok(match (row.int(0)?, row.int(1)?) {
        (0, _) => Outcome::UnknownEvent,
        (_, 0) => Outcome::AlreadyRecorded,
        _ => Outcome::Written,
    })
}
