//! The benchmark `bench/consumers.sh` runs (`#[ignore]`: not part of the suite).

use std::time::{Duration, Instant};

use serde_json::json;
use todo_e2e::db::count;
use todo_e2e::stats::{env_or, percentile};
use todo_e2e::{eventually, log_lines, spawn_app, SWEEP_TOKEN};
use uuid::Uuid;

use crate::{relay_without_cron, start, sweep, toggle, CONSUMERS};

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "RESULT {name}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        samples.len(),
        percentile(&samples, 50.0).as_secs_f64() * 1e3,
        percentile(&samples, 99.0).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

/// `n` unpublished events, a minute old, well-formed (the consumers could audit them).
async fn insert_backlog(pg: &tokio_postgres::Client, n: i32) {
    pg.execute(
        "WITH ids AS (SELECT gen_random_uuid() AS id, g FROM generate_series(1, $1) g) \
         INSERT INTO events (id, topic, user_id, subject, payload, created_at) \
         SELECT id, 'task-updated', 'bench', id::text, jsonb_build_object( \
             'specversion', '1.0', 'id', id::text, 'source', 'bench', 'type', 'task-updated', \
             'subject', id::text, 'time', '2027-01-01T00:00:00.000Z', 'datacontenttype', 'application/json', \
             'data', jsonb_build_object('event_id', id::text, 'event_type', 'task-updated', \
                 'timestamp', '2027-01-01T00:00:00.000Z', 'user_id', 'bench', 'correlation_id', 'bench', \
                 'data', jsonb_build_object('task_id', id::text, 'title', 'bench event ' || g))), \
             now() - interval '1 minute' \
         FROM ids ORDER BY g",
        &[&n],
    )
    .await
    .unwrap();
}

/// Run by bench/consumers.sh (not part of the suite): toggle -> successor and toggle -> audit
/// row latencies over 200 completions; the relay's drain time for 10,000 unpublished events,
/// through back-to-back route calls and through the cron trigger alone.
#[tokio::test]
#[ignore = "benchmark: run bench/consumers.sh"]
async fn bench_consumers() {
    let completions: usize = env_or("BENCH_COMPLETIONS", 200);
    let backlog: i32 = env_or("BENCH_BACKLOG", 10_000);
    let app = spawn_app().await;
    let pg = app.pg().await;
    {
        let _consumers = start(&app, &CONSUMERS);
        let mut tasks = Vec::new();
        for i in 0..completions {
            let task = app
                .create_task("bench", json!({"title": format!("bench {i}"), "recurringRule": "daily", "dueDate": "2027-04-01T08:00:00Z"}))
                .await;
            tasks.push(Uuid::parse_str(task["id"].as_str().unwrap()).unwrap());
        }
        let (mut to_successor, mut to_audit) = (Vec::new(), Vec::new());
        for id in &tasks {
            toggle(&app, "bench", &id.to_string()).await;
            let responded = Instant::now();
            let (mut successor_at, mut audit_at) = (None, None);
            while successor_at.is_none() || audit_at.is_none() {
                assert!(
                    responded.elapsed() < Duration::from_secs(30),
                    "no successor/audit for {id}"
                );
                let row = pg
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM tasks WHERE series_id = $1 AND occurrence_index = 1), \
                                EXISTS (SELECT 1 FROM audit_logs a JOIN events e ON e.id = a.event_id \
                                        WHERE e.topic = 'task-completed' AND e.subject = $1::uuid::text)",
                        &[id],
                    )
                    .await
                    .unwrap();
                if successor_at.is_none() && row.get::<_, bool>(0) {
                    successor_at = Some(responded.elapsed());
                }
                if audit_at.is_none() && row.get::<_, bool>(1) {
                    audit_at = Some(responded.elapsed());
                }
            }
            to_successor.push(successor_at.unwrap());
            to_audit.push(audit_at.unwrap());
        }
        report("toggle response -> successor row", to_successor);
        report(
            "toggle response -> audit row of its task-completed",
            to_audit,
        );
    }

    // Drain through the route, called back to back (what a CronJob or an operator does).
    let relay = relay_without_cron(&app, SWEEP_TOKEN);
    insert_backlog(&pg, backlog).await;
    let started = Instant::now();
    let mut calls = 0;
    loop {
        let (status, summary) = sweep(&app, &relay, Some(SWEEP_TOKEN)).await;
        assert_eq!(status, 200, "{summary}");
        calls += 1;
        if count(
            &pg,
            "SELECT count(*) FROM events WHERE published_at IS NULL",
            &[],
        )
        .await
            == 0
        {
            break;
        }
    }
    println!(
        "RESULT relay drain of {backlog} events via the sweep route: {:.2} s in {calls} sweep call(s) ({:.0} events/s)",
        started.elapsed().as_secs_f64(),
        f64::from(backlog) / started.elapsed().as_secs_f64()
    );
    drop(relay);

    // Drain by the cron trigger alone (every 5 s on Spin, 2 s budget per tick).
    insert_backlog(&pg, backlog).await;
    let started = Instant::now();
    let cron = start(&app, &["outbox-relay"]);
    eventually(
        "the cron relay to drain the backlog",
        Duration::from_secs(300),
        || async {
            let left = count(
                &pg,
                "SELECT count(*) FROM events WHERE published_at IS NULL",
                &[],
            )
            .await;
            if left == 0 {
                Ok(())
            } else {
                Err(format!("{left} left"))
            }
        },
    )
    .await;
    println!(
        "RESULT relay drain of {backlog} events by the cron trigger alone (from host start): {:.2} s; ticks that published: {}",
        started.elapsed().as_secs_f64(),
        log_lines(&cron)
            .iter()
            .filter(|l| l["kind"] == "sweep" && l["counts"]["published"].as_u64() > Some(0))
            .count()
    );
}
