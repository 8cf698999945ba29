//! The transactional outbox: every state change writes its events in the same transaction
//! (the PL/pgSQL function of the change calls `events_append`), and after the commit the
//! events are published on their Redis channels and marked published. A failed publish is
//! only logged: the `events` row stays unpublished and the outbox relay delivers it.

use todo_domain::event::EventEnvelope;

use crate::db::{param, Db, Statement};
use crate::log::note;

/// The five array arguments of `events_append` (`migrations/0008_*.sql`) for `events`, in
/// order: ids, topics, user ids, subjects, payloads (JSON text).
pub fn event_array_args(statement: &mut Statement, events: &[EventEnvelope]) -> Vec<String> {
    let column = |f: &dyn Fn(&EventEnvelope) -> String| events.iter().map(f).collect::<Vec<_>>();
    let columns = [
        column(&|e| e.id.to_string()),
        column(&|e| e.topic.as_str().to_string()),
        column(&|e| e.user_id.clone()),
        column(&|e| e.subject.clone()),
        column(&|e| e.to_json().to_string()),
    ];
    columns
        .iter()
        .map(|values| statement.bind(param::text_array(values)))
        .collect()
}

/// Publishes committed events on their channels. `redis_url` is read and the connection
/// opened once, when the first events are published, however many batches follow.
#[derive(Default)]
pub struct Publisher {
    connection: std::cell::OnceCell<Option<spin_sdk::redis::Connection>>,
}

impl Publisher {
    pub fn new() -> Publisher {
        Publisher::default()
    }

    fn connection(&self) -> Option<&spin_sdk::redis::Connection> {
        self.connection
            .get_or_init(|| {
                let Some(url) = crate::config::optional("redis_url") else {
                    note("outbox: redis_url is not set; leaving events to the relay".to_string());
                    return None;
                };
                spin_sdk::redis::Connection::open(&url)
                    .map_err(|e| {
                        note(format!(
                            "outbox: redis unavailable ({e}); leaving events to the relay"
                        ))
                    })
                    .ok()
            })
            .as_ref()
    }

    /// Publishes committed events, in order, and marks the ones Redis accepted as published.
    /// Never fails the caller: whatever is not published here, the relay publishes later.
    pub fn publish_committed(&self, db: &Db, events: &[EventEnvelope]) {
        if events.is_empty() {
            return;
        }
        let Some(connection) = self.connection() else {
            return;
        };
        let mut published = Vec::new();
        for event in events {
            let payload = serde_json::to_vec(&event.to_json()).unwrap_or_default();
            match connection.publish(event.topic.as_str(), &payload) {
                Ok(()) => published.push(event.id.to_string()),
                Err(e) => {
                    // Later events must not overtake this one on the channel: stop here.
                    note(format!(
                        "outbox: publish of {} failed ({e}); the relay will retry",
                        event.id
                    ));
                    break;
                }
            }
        }
        mark_published(db, &published);
    }
}

/// Publishes one change's committed events (see [`Publisher::publish_committed`]).
pub fn publish_committed(db: &Db, events: &[EventEnvelope]) {
    Publisher::new().publish_committed(db, events);
}

/// Records that these event ids reached Redis.
pub fn mark_published(db: &Db, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let statement = Statement::new("SELECT events_mark_published($1)").arg(param::text_array(ids));
    if let Err(e) = db.execute(&statement) {
        note(format!(
            "outbox: could not mark {} event(s) published ({e}); they may be published again",
            ids.len()
        ));
    }
}
