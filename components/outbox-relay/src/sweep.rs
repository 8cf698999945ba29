//! One sweep of the outbox relay: publish, then repair. Every statement is bounded (batch
//! limits, the `seq` and partial `published_at IS NULL` indexes, the repair cursor) and no
//! transaction is ever left open (each claim is one statement).
//!
//! **Publish.** Claim up to [`BATCH`] events unpublished for more than
//! [`Timing::publish_after_secs`] (the API publishes right after its commit; older ones failed),
//! oldest first, with a lease ([`LEASE_SECS`]) set in the same statement
//! (`FOR UPDATE SKIP LOCKED`), so replicas running at once take disjoint batches and a replica
//! that dies mid-batch only delays its batch by the lease. Publish them in `seq` order, stop
//! at the first failure (later events must not overtake it), mark the published ones and
//! release the rest. Repeat while batches are full, within [`BUDGET`].
//!
//! **Repair.** Spin's Redis trigger is at-most-once: a consumer that was down (or failed) missed
//! its events for good. Walk the task events after the `relay_cursors` row `repair` in `seq`
//! order, only those published more than [`Timing::repair_grace_secs`] ago (consumers had their
//! chance), and find the ones whose effect is missing: no `audit_logs` row; or, for
//! `task-completed`, a task that is still completed and recurring, whose successor is due by the
//! recurrence rule and end date and was never created (no `recurrence_successors` row).
//! Re-publish those on their channel (every consumer is idempotent), with exponential back-off
//! per event (by default 10 s, 20 s, 40 s, 80 s, then every 2 min: a consumer that comes back is
//! caught up within about two minutes however long it was down) claimed in one statement so
//! replicas do not double it. The cursor moves over the events that need nothing (it stops at
//! the first that does, or at the first not yet settled), so each sweep reads only the recent
//! tail. After [`MAX_REPAIR_ATTEMPTS`] re-publishes (about two hours) an event is reported
//! and given up on, so one poisoned event cannot hold the cursor forever.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use spin_sdk::redis::Connection;
use spin_support::db::{param, Db, Statement};
use spin_support::log::note;
use todo_domain::event::Topic;
use todo_domain::recurrence;
use todo_domain::task::Status;
use todo_tasks::store;
use uuid::Uuid;

/// Events claimed (and published) per statement.
pub const BATCH: usize = 500;
/// How long a claim keeps other replicas off a batch.
pub const LEASE_SECS: u32 = 30;
/// Events read per repair page.
pub const REPAIR_PAGE: usize = 500;
/// Events re-published by one sweep at most.
pub const REPAIR_MAX_PER_SWEEP: usize = 1000;
/// Re-publishes of one event before it is given up on.
pub const MAX_REPAIR_ATTEMPTS: i64 = 60;
/// Time one invocation may spend looping over full batches.
pub const BUDGET: Duration = Duration::from_secs(2);

/// The relay's timing: Spin variables (spin.toml declares today's values as their defaults),
/// so that operators can tune them and tests can pin them instead of racing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// `relay_publish_after_seconds` (2): unpublished events younger than this are still being
    /// published by the API.
    pub publish_after_secs: u32,
    /// `relay_repair_grace_seconds` (10): consumers get this long after a publish before their
    /// effect is checked.
    pub repair_grace_secs: u32,
    /// `relay_repair_backoff_seconds` (10): the wait before an event's second re-publish,
    /// doubling with each attempt ...
    pub repair_backoff_secs: u32,
    /// ... up to `relay_repair_backoff_max_seconds` (120).
    pub repair_backoff_max_secs: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            publish_after_secs: 2,
            repair_grace_secs: 10,
            repair_backoff_secs: 10,
            repair_backoff_max_secs: 120,
        }
    }
}

impl Timing {
    /// Reads the variables; an unset one keeps its default, a malformed one is an error (a
    /// misconfigured relay must say so, not run on a guess).
    pub fn from_variables() -> Result<Timing, String> {
        Timing::from_lookup(spin_support::config::optional)
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Timing, String> {
        let defaults = Timing::default();
        let seconds = |name: &str, default: u32| -> Result<u32, String> {
            match lookup(name) {
                None => Ok(default),
                Some(value) => value.trim().parse::<u32>().map_err(|_| {
                    format!("variable {name} must be a whole number of seconds, got {value:?}")
                }),
            }
        };
        Ok(Timing {
            publish_after_secs: seconds(
                "relay_publish_after_seconds",
                defaults.publish_after_secs,
            )?,
            repair_grace_secs: seconds("relay_repair_grace_seconds", defaults.repair_grace_secs)?,
            repair_backoff_secs: seconds(
                "relay_repair_backoff_seconds",
                defaults.repair_backoff_secs,
            )?,
            repair_backoff_max_secs: seconds(
                "relay_repair_backoff_max_seconds",
                defaults.repair_backoff_max_secs,
            )?,
        })
    }

    /// SQL: the back-off of an event's next re-publish has passed.
    fn repair_due(&self) -> String {
        format!(
            "(repaired_at IS NULL OR repaired_at < now() - \
             LEAST(interval '{} seconds' * power(2, LEAST(repair_attempts, 4)), interval '{} seconds'))",
            self.repair_backoff_secs, self.repair_backoff_max_secs
        )
    }
}

/// The topics with a task effect to repair (every topic with a realtime action).
fn task_topics() -> Vec<String> {
    Topic::ALL
        .iter()
        .filter(|t| t.action().is_some())
        .map(|t| t.as_str().to_string())
        .collect()
}

#[derive(Debug, Default)]
pub struct Summary {
    pub published: u64,
    pub publish_batches: u64,
    /// The publish pass stopped at a Redis failure.
    pub publish_failed: bool,
    /// The publish pass stopped on the time budget with a full last batch.
    pub backlog_left: bool,
    pub repair_scanned: u64,
    pub repair_republished: u64,
    pub repair_abandoned: u64,
    pub repair_cursor: i64,
    pub elapsed: Duration,
}

impl Summary {
    pub fn to_json(&self) -> Value {
        json!({
            "published": self.published,
            "publishBatches": self.publish_batches,
            "publishFailed": self.publish_failed,
            "backlogLeft": self.backlog_left,
            "repairScanned": self.repair_scanned,
            "repairRepublished": self.repair_republished,
            "repairAbandoned": self.repair_abandoned,
            "repairCursor": self.repair_cursor,
            "elapsedMs": self.elapsed.as_millis() as u64,
        })
    }
}

/// An event a claim took, as published (the payload text as stored).
#[derive(Deserialize)]
struct Claimed {
    seq: i64,
    id: String,
    topic: String,
    payload: String,
}

/// `claim` is an `UPDATE events ... RETURNING seq, id, topic, payload`; the statement answers
/// the claimed events as one JSON array in `seq` order (one row, whatever was claimed).
fn claim(
    db: &Db,
    claim: &str,
    params: Vec<spin_sdk::pg4::ParameterValue>,
) -> anyhow::Result<Vec<Claimed>> {
    let statement = Statement {
        sql: format!(
            "WITH c AS ({claim}) \
             SELECT coalesce(json_agg(json_build_object('seq', c.seq, 'id', c.id, 'topic', c.topic, \
                 'payload', c.payload::text) ORDER BY c.seq), '[]')::text FROM c"
        ),
        params,
    };
    Ok(db.query_row(&statement)?.decode_json(0)?)
}

pub fn run() -> anyhow::Result<Summary> {
    let started = Instant::now();
    let timing = Timing::from_variables().map_err(anyhow::Error::msg)?;
    let db = Db::open()?;
    let redis_url = spin_support::config::required("redis_url").map_err(anyhow::Error::msg)?;
    let redis =
        Connection::open(&redis_url).map_err(|e| anyhow::anyhow!("redis unavailable: {e}"))?;
    let mut summary = Summary::default();
    publish_pass(&db, &redis, &timing, started, &mut summary)?;
    if !summary.publish_failed {
        repair_pass(&db, &redis, &timing, started, &mut summary)?;
    }
    summary.elapsed = started.elapsed();
    if summary.publish_failed {
        anyhow::bail!(
            "redis refused a publish after {} event(s)",
            summary.published
        );
    }
    Ok(summary)
}

/// Publishes `claimed` in order; returns the ids published, and those not attempted because an
/// earlier publish failed (the failed one included).
fn publish_in_order(redis: &Connection, claimed: &[Claimed]) -> (Vec<String>, Vec<String>) {
    let mut published = Vec::with_capacity(claimed.len());
    let mut left = Vec::new();
    for event in claimed {
        if !left.is_empty() {
            left.push(event.id.clone());
            continue;
        }
        match redis.publish(&event.topic, event.payload.as_bytes()) {
            Ok(()) => published.push(event.id.clone()),
            Err(e) => {
                note(format!(
                    "publish of event {} (seq {}) failed: {e}",
                    event.id, event.seq
                ));
                left.push(event.id.clone());
            }
        }
    }
    (published, left)
}

fn publish_pass(
    db: &Db,
    redis: &Connection,
    timing: &Timing,
    started: Instant,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let publish_after_secs = timing.publish_after_secs;
    let batch = format!(
        "UPDATE events SET publish_attempts = publish_attempts + 1, \
             claimed_until = now() + interval '{LEASE_SECS} seconds' \
         WHERE id IN ( \
             SELECT id FROM events \
             WHERE published_at IS NULL AND created_at < now() - interval '{publish_after_secs} seconds' \
               AND (claimed_until IS NULL OR claimed_until < now()) \
             ORDER BY seq LIMIT {BATCH} FOR UPDATE SKIP LOCKED) \
         RETURNING seq, id, topic, payload"
    );
    loop {
        let claimed = claim(db, &batch, Vec::new())?;
        if claimed.is_empty() {
            return Ok(());
        }
        summary.publish_batches += 1;
        let (published, left) = publish_in_order(redis, &claimed);
        summary.published += published.len() as u64;
        if !published.is_empty() {
            db.execute(
                &Statement::new(
                    "UPDATE events SET published_at = now(), claimed_until = NULL \
                     WHERE id = ANY($1::text[]::uuid[]) AND published_at IS NULL",
                )
                .arg(param::text_array(&published)),
            )?;
        }
        if !left.is_empty() {
            summary.publish_failed = true;
            db.execute(
                &Statement::new(
                    "UPDATE events SET claimed_until = NULL WHERE id = ANY($1::text[]::uuid[])",
                )
                .arg(param::text_array(&left)),
            )?;
            return Ok(());
        }
        if claimed.len() < BATCH {
            return Ok(());
        }
        if started.elapsed() >= BUDGET {
            summary.backlog_left = true;
            return Ok(());
        }
    }
}

/// One task event read by the repair walk.
#[derive(Deserialize)]
struct Walked {
    seq: i64,
    id: String,
    topic: String,
    user_id: String,
    subject: String,
    settled: bool,
    audited: bool,
    repair_attempts: i64,
    repair_due: bool,
}

impl Walked {
    fn task_id(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.subject).ok()
    }
}

fn repair_pass(
    db: &Db,
    redis: &Connection,
    timing: &Timing,
    started: Instant,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let repair_grace_secs = timing.repair_grace_secs;
    let repair_due = timing.repair_due();
    let cursor = db
        .query_row(&Statement::new(
            "SELECT coalesce((SELECT seq FROM relay_cursors WHERE name = 'repair'), 0)::int8",
        ))?
        .int(0)?;
    let mut after = cursor;
    let mut new_cursor = cursor;
    let mut contiguous = true;
    let mut to_republish: Vec<String> = Vec::new();
    let now = spin_support::now();
    'pages: loop {
        // One row: the page as a JSON array in seq order.
        let page = Statement::new(format!(
            "SELECT coalesce(json_agg(json_build_object( \
                 'seq', e.seq, 'id', e.id, 'topic', e.topic, 'user_id', e.user_id, \
                 'subject', e.subject, \
                 'settled', e.published_at IS NOT NULL AND e.published_at < now() - interval '{repair_grace_secs} seconds', \
                 'audited', EXISTS (SELECT 1 FROM audit_logs a WHERE a.event_id = e.id), \
                 'repair_attempts', e.repair_attempts, 'repair_due', {repair_due}) ORDER BY e.seq), '[]')::text \
             FROM (SELECT * FROM events \
                   WHERE seq > $1 AND topic = ANY($2::text[]) ORDER BY seq LIMIT {REPAIR_PAGE}) AS e"
        ))
        .arg(param::int64(after))
        .arg(param::text_array(&task_topics()));
        let walked: Vec<Walked> = db.query_row(&page)?.decode_json(0)?;
        let Some(last) = walked.last() else {
            break;
        };
        after = last.seq;
        let successors = missing_successors(db, &walked, now)?;
        for event in &walked {
            if !event.settled {
                break 'pages;
            }
            summary.repair_scanned += 1;
            let successor_missing = event.topic == Topic::TaskCompleted.as_str()
                && event.task_id().is_some_and(|id| {
                    successors
                        .get(&id)
                        .is_some_and(|(user, missing)| *missing && *user == event.user_id)
                });
            let mut needs_repair = !event.audited || successor_missing;
            if needs_repair && event.repair_attempts >= MAX_REPAIR_ATTEMPTS {
                note(format!(
                    "giving up on event {} (seq {}, {}): consumers still missed it after {} re-publishes (audited: {}, successor missing: {})",
                    event.id, event.seq, event.topic, event.repair_attempts, event.audited, successor_missing
                ));
                summary.repair_abandoned += 1;
                needs_repair = false;
            }
            if needs_repair {
                contiguous = false;
                if event.repair_due {
                    to_republish.push(event.id.clone());
                    if to_republish.len() >= REPAIR_MAX_PER_SWEEP {
                        break 'pages;
                    }
                }
            } else if contiguous {
                new_cursor = event.seq;
            }
        }
        if walked.len() < REPAIR_PAGE || started.elapsed() >= BUDGET {
            break;
        }
    }

    if new_cursor > cursor {
        db.execute(
            &Statement::new(
                "INSERT INTO relay_cursors (name, seq) VALUES ('repair', $1) \
                 ON CONFLICT (name) DO UPDATE SET seq = GREATEST(relay_cursors.seq, EXCLUDED.seq)",
            )
            .arg(param::int64(new_cursor)),
        )?;
    }
    summary.repair_cursor = new_cursor;

    if to_republish.is_empty() {
        return Ok(());
    }
    // Claim the re-publishes whose back-off has passed, in one statement (replica-safe).
    let claimed = claim(
        db,
        &format!(
            "UPDATE events SET repair_attempts = repair_attempts + 1, repaired_at = now() \
             WHERE id = ANY($1::text[]::uuid[]) AND {repair_due} RETURNING seq, id, topic, payload"
        ),
        vec![param::text_array(&to_republish)],
    )?;
    let (published, left) = publish_in_order(redis, &claimed);
    summary.repair_republished += published.len() as u64;
    if !left.is_empty() {
        summary.publish_failed = true;
    }
    Ok(())
}

/// For the `task-completed` events of `walked`: task id -> (owner, successor missing), where
/// "missing" means the task is still completed and recurring, its successor is due by the
/// rule and end date, and the recurring service never created it.
fn missing_successors(
    db: &Db,
    walked: &[Walked],
    now: DateTime<Utc>,
) -> anyhow::Result<HashMap<Uuid, (String, bool)>> {
    let ids: Vec<String> = walked
        .iter()
        .filter(|e| e.settled && e.topic == Topic::TaskCompleted.as_str())
        .filter_map(|e| e.task_id().map(|id| id.to_string()))
        .collect();
    let mut result = HashMap::new();
    if ids.is_empty() {
        return Ok(result);
    }
    // One row: [task record, successor created] pairs as a JSON array.
    let statement = Statement::new(
        "SELECT coalesce(json_agg(json_build_array(task_record(t)::json, EXISTS (SELECT 1 FROM recurrence_successors r \
             WHERE r.series_id = t.series_id AND r.occurrence_index = t.occurrence_index + 1))), '[]')::text \
         FROM tasks t WHERE t.id = ANY($1::text[]::uuid[]) AND t.status = 'completed' AND t.recurring_rule IS NOT NULL",
    )
    .arg(param::text_array(&ids));
    let rows: Vec<(Value, bool)> = db.query_row(&statement)?.decode_json(0)?;
    for (record, created) in rows {
        let stored = store::decode_record(record)?;
        let due = stored.task.status == Status::Completed && {
            let anchor = stored
                .series_anchor
                .unwrap_or_else(|| stored.task.own_anchor());
            recurrence::successor(&stored.task, anchor, Uuid::nil(), now).is_some()
        };
        result.insert(
            stored.task.id,
            (stored.task.user_id.clone(), due && !created),
        );
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(pairs: &[(&str, &str)]) -> Result<Timing, String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Timing::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn timing_defaults_to_the_documented_values_and_reads_each_variable() {
        assert_eq!(timing(&[]).unwrap(), Timing::default());
        let set = timing(&[
            ("relay_publish_after_seconds", "5"),
            ("relay_repair_grace_seconds", "0"),
            ("relay_repair_backoff_seconds", " 3600 "),
            ("relay_repair_backoff_max_seconds", "7200"),
        ])
        .unwrap();
        assert_eq!(
            set,
            Timing {
                publish_after_secs: 5,
                repair_grace_secs: 0,
                repair_backoff_secs: 3600,
                repair_backoff_max_secs: 7200,
            }
        );
        assert!(set
            .repair_due()
            .contains("interval '3600 seconds' * power(2"));
        assert!(set.repair_due().contains("interval '7200 seconds'))"));
    }

    #[test]
    fn a_malformed_timing_variable_is_an_error_naming_it() {
        for bad in ["-1", "ten", "1.5", "99999999999"] {
            let error = timing(&[("relay_repair_grace_seconds", bad)]).unwrap_err();
            assert!(error.contains("relay_repair_grace_seconds"), "{error}");
        }
    }
}
