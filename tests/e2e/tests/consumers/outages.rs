//! Redis, a consumer or the database away while changes are made: the outbox relay repairs
//! what was lost, with back-off while the consumers are still down.

use std::time::Duration;

use serde_json::json;
use todo_e2e::db::count;
use todo_e2e::test_support::HostProcess;
use todo_e2e::{eventually, outbox_sweep_component, spawn_app, TestApp, SWEEP_TOKEN};

use crate::{
    mutate, relay_without_cron, relay_without_cron_with, start, sweep, toggle, wait_for_events,
    CONSUMERS,
};

/// The consumers, the relay (cron) and its sweep route, in one process.
fn start_workers(app: &TestApp) -> HostProcess {
    let sweep = outbox_sweep_component();
    let mut components = vec!["audit-service", "recurring-service", "outbox-relay"];
    if sweep != "outbox-relay" {
        components.push(&sweep);
    }
    start(app, &components)
}

/// Every task event has exactly one audit row, every completed recurring occurrence (no end
/// date) exactly one successor, and nothing is left unpublished.
async fn consistent(pg: &tokio_postgres::Client) -> Result<(), String> {
    let unaudited = count(
        pg,
        "SELECT count(*) FROM events e WHERE e.topic <> 'reminder-due' \
         AND NOT EXISTS (SELECT 1 FROM audit_logs a WHERE a.event_id = e.id)",
        &[],
    )
    .await;
    let audit_rows = count(pg, "SELECT count(*) FROM audit_logs", &[]).await;
    let task_events = count(
        pg,
        "SELECT count(*) FROM events WHERE topic <> 'reminder-due'",
        &[],
    )
    .await;
    let without_one_successor = count(
        pg,
        "SELECT count(*) FROM tasks t WHERE t.status = 'completed' AND t.recurring_rule IS NOT NULL \
         AND t.recurring_end_date IS NULL AND (SELECT count(*) FROM tasks s \
             WHERE s.series_id = t.series_id AND s.occurrence_index = t.occurrence_index + 1) <> 1", &[],
    )
    .await;
    let unpublished = count(
        pg,
        "SELECT count(*) FROM events WHERE published_at IS NULL",
        &[],
    )
    .await;
    if unaudited == 0 && audit_rows == task_events && without_one_successor == 0 && unpublished == 0
    {
        Ok(())
    } else {
        Err(format!(
            "unaudited events {unaudited}, audit rows {audit_rows} for {task_events} task events, \
             completed occurrences without exactly one successor {without_one_successor}, unpublished {unpublished}"
        ))
    }
}

/// Runs the relay through its route until the data is consistent.
async fn sweep_until_consistent(app: &TestApp, relay: &HostProcess, timeout: Duration) {
    let pg = app.pg().await;
    eventually("consistency after relay sweeps", timeout, || async {
        let (status, summary) = sweep(app, relay, Some(SWEEP_TOKEN)).await;
        if status != 200 {
            return Err(format!("sweep answered {status}: {summary}"));
        }
        consistent(&pg)
            .await
            .map_err(|e| format!("{e}; last sweep {summary}"))
    })
    .await
}

#[tokio::test]
async fn redis_outage_during_200_mutations_is_repaired_by_the_relay() {
    let mut app = spawn_app().await;
    let mut workers = start_workers(&app);
    app.redis.stop();

    // As on Spin, the Redis-triggered process exits when its subscription drops.
    let status = workers
        .wait_for_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("workers kept running without Redis:\n{}", workers.output()));
    assert!(!status.success(), "workers exited with {status}");

    // The API runs apart and keeps accepting writes; the events wait in the outbox.
    mutate(&app, "alice", 200).await;
    let pg = app.pg().await;
    let unpublished = count(
        &pg,
        "SELECT count(*) FROM events WHERE published_at IS NULL",
        &[],
    )
    .await;
    assert!(unpublished >= 200, "only {unpublished} unpublished events");

    app.redis.start_again();
    let workers = start_workers(&app);
    sweep_until_consistent(&app, &workers, Duration::from_secs(240)).await;
    let completed = count(
        &pg,
        "SELECT count(*) FROM tasks WHERE status = 'completed' AND recurring_rule IS NOT NULL",
        &[],
    )
    .await;
    assert!(
        completed >= 30,
        "only {completed} completed recurring tasks"
    );
}

#[tokio::test]
async fn a_consumer_that_was_down_during_100_mutations_catches_up() {
    let app = spawn_app().await;
    // Published on time, but nobody listens.
    mutate(&app, "bob", 100).await;
    let pg = app.pg().await;
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM events WHERE published_at IS NULL",
            &[]
        )
        .await,
        0
    );
    assert_eq!(count(&pg, "SELECT count(*) FROM audit_logs", &[]).await, 0);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM tasks WHERE occurrence_index > 0",
            &[]
        )
        .await,
        0
    );

    let workers = start_workers(&app);
    sweep_until_consistent(&app, &workers, Duration::from_secs(180)).await;
    // The repair cursor moved over everything that needs nothing more.
    let (_, summary) = sweep(&app, &workers, Some(SWEEP_TOKEN)).await;
    let last_task_event = count(&pg, "SELECT max(seq) FROM events", &[]).await;
    eventually(
        "the repair cursor to reach the last settled event",
        Duration::from_secs(120),
        || async {
            let cursor = count(
                &pg,
                "SELECT seq FROM relay_cursors WHERE name = 'repair'",
                &[],
            )
            .await;
            let (_, summary) = sweep(&app, &workers, Some(SWEEP_TOKEN)).await;
            if cursor >= last_task_event {
                Ok(())
            } else {
                Err(format!("cursor {cursor} < {last_task_event}; {summary}"))
            }
        },
    )
    .await;
    assert_eq!(summary["repairAbandoned"], 0, "{summary}");
}

/// The relay's clock is the database's `now()`; the test moves its repair timestamps back
/// instead of waiting: no grace period (every published event is settled at once) and an
/// hour of back-off, so "an immediate second sweep" cannot race a timer however slow the
/// machine (CI once saw an event cross the 10 s grace between two sweeps).
#[tokio::test]
async fn repairs_lost_while_the_consumers_are_still_down_are_retried_with_back_off() {
    let app = spawn_app().await;
    mutate(&app, "kim", 30).await;
    let pg = app.pg().await;
    let task_events = count(
        &pg,
        "SELECT count(*) FROM events WHERE topic <> 'reminder-due'",
        &[],
    )
    .await;
    let relay = relay_without_cron_with(
        &app,
        SWEEP_TOKEN,
        &[
            ("relay_repair_grace_seconds", "0"),
            ("relay_repair_backoff_seconds", "3600"),
            ("relay_repair_backoff_max_seconds", "3600"),
        ],
    );
    // Every event was published (and missed: nobody listens yet); the first sweep re-publishes
    // each of them into the void.
    let (status, summary) = sweep(&app, &relay, Some(SWEEP_TOKEN)).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["repairRepublished"], task_events, "{summary}");
    // Backed off: a second sweep within the hour re-publishes nothing.
    let (status, summary) = sweep(&app, &relay, Some(SWEEP_TOKEN)).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["repairRepublished"], 0, "{summary}");
    assert_eq!(summary["repairScanned"], task_events, "{summary}");
    assert_eq!(count(&pg, "SELECT count(*) FROM audit_logs", &[]).await, 0);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM events WHERE repair_attempts <> 1 AND topic <> 'reminder-due'",
            &[]
        )
        .await,
        0
    );

    // The consumers come back; each sweep runs an hour later (by the relay's clock).
    let _consumers = start(&app, &CONSUMERS);
    eventually("consistency after relay sweeps", Duration::from_secs(120), || async {
        pg.execute(
            "UPDATE events SET repaired_at = repaired_at - interval '1 hour' WHERE repaired_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
        let (status, summary) = sweep(&app, &relay, Some(SWEEP_TOKEN)).await;
        if status != 200 {
            return Err(format!("sweep answered {status}: {summary}"));
        }
        consistent(&pg)
            .await
            .map_err(|e| format!("{e}; last sweep {summary}"))
    })
    .await;
    assert!(count(&pg, "SELECT max(repair_attempts)::int8 FROM events", &[]).await >= 2);
}

#[tokio::test]
async fn an_unavailable_database_is_a_transient_failure_that_the_relay_repairs() {
    let app = spawn_app().await;
    // Consumers whose database is down.
    let broken = app
        .host_builder_without_database()
        .component("audit-service")
        .component("recurring-service")
        .spawn();
    let task = app
        .create_task(
            "lea",
            json!({"title": "Yoga", "recurringRule": "weekly", "dueDate": "2027-06-01T18:00:00Z"}),
        )
        .await;
    toggle(&app, "lea", task["id"].as_str().unwrap()).await;
    // task-created, task-updated, task-completed: each fails and is dropped, nothing panics.
    let failed = wait_for_events(&broken, "audit-service", 3, |l| l["outcome"] == "failed").await;
    for line in &failed {
        assert_eq!(line["level"], "error", "{line}");
        assert!(
            line["cause"]
                .as_str()
                .unwrap()
                .contains("database unavailable"),
            "{line}"
        );
    }
    wait_for_events(&broken, "recurring-service", 1, |l| {
        l["outcome"] == "failed"
    })
    .await;
    let mut broken = broken;
    assert!(broken.is_running());
    assert!(!broken.output().contains("panicked"), "{}", broken.output());
    drop(broken);

    let _consumers = start(&app, &CONSUMERS);
    let relay = relay_without_cron(&app, SWEEP_TOKEN);
    sweep_until_consistent(&app, &relay, Duration::from_secs(120)).await;
}
