//! The entry point every Redis-triggered consumer shares: the message is parsed as an event
//! envelope, handed to the consumer, and its outcome written as the event's one log line.
//!
//! Spin's Redis trigger drops a message whose handler fails (no retry), so only a failure that
//! may pass is returned as an error (Spin logs it; the outbox relay re-publishes the event
//! later). A malformed message can never succeed: it is logged (`outcome: "malformed"`) and
//! dropped.

use todo_domain::event::EventEnvelope;

use crate::log::{EventLine, Level, Started};

/// How a consumer dealt with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// A short kebab-case word: `recorded`, `duplicate`, `created`, ...
    pub outcome: &'static str,
    pub level: Level,
    /// What it produced (e.g. the id of a created row).
    pub detail: Option<String>,
    /// Why nothing was done, for a message that was dropped.
    pub cause: Option<String>,
}

impl Handled {
    /// The event had its effect, or had had it before (a redelivery).
    pub fn done(outcome: &'static str) -> Handled {
        Handled {
            outcome,
            level: Level::Info,
            detail: None,
            cause: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Handled {
        self.detail = Some(detail.into());
        self
    }

    /// The event asks for nothing (a task that is gone, a series that ended).
    pub fn nothing_to_do(outcome: &'static str, cause: impl Into<String>) -> Handled {
        Handled {
            outcome,
            level: Level::Info,
            detail: None,
            cause: Some(cause.into()),
        }
    }

    /// The message was dropped: it names nothing we know, or was not meant for this consumer.
    pub fn dropped(outcome: &'static str, cause: impl Into<String>) -> Handled {
        Handled {
            outcome,
            level: Level::Warn,
            detail: None,
            cause: Some(cause.into()),
        }
    }
}

/// Runs `handle` on `message` and writes the line. `Err` only for failures worth a redelivery.
pub fn consume(
    component: &'static str,
    message: &[u8],
    handle: impl FnOnce(&EventEnvelope) -> anyhow::Result<Handled>,
) -> anyhow::Result<()> {
    let started = Started::now();
    let event = match EventEnvelope::parse(message) {
        Ok(event) => event,
        Err(reason) => {
            let cause = format!("{reason} ({} bytes)", message.len());
            EventLine {
                component,
                event_id: None,
                topic: None,
                correlation_id: None,
                outcome: "malformed",
                level: Level::Warn,
                detail: None,
                cause: Some(&cause),
            }
            .write(&started);
            return Ok(());
        }
    };
    let event_id = event.id.to_string();
    let line = |outcome: &str, level: Level, detail: Option<&str>, cause: Option<&str>| {
        EventLine {
            component,
            event_id: Some(&event_id),
            topic: Some(event.topic.as_str()),
            correlation_id: Some(&event.correlation_id),
            outcome,
            level,
            detail,
            cause,
        }
        .write(&started)
    };
    match handle(&event) {
        Ok(handled) => {
            line(
                handled.outcome,
                handled.level,
                handled.detail.as_deref(),
                handled.cause.as_deref(),
            );
            Ok(())
        }
        Err(error) => {
            let cause = format!("{error:#}");
            line("failed", Level::Error, None, Some(&cause));
            Err(error.context(format!("{component}: event {event_id} failed")))
        }
    }
}
