//! The benchmarks `bench/reminders.sh` runs (`#[ignore]`: not part of the suite; it runs them
//! with `--ignored`).

use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use todo_e2e::db::count;
use todo_e2e::stats::{env_or, percentile};
use todo_e2e::{eventually, spawn_app, SWEEP_TOKEN};

use crate::{assert_no_failed_sweep, cron_worker, http_sweeper, rfc3339, sweep, CRON_WAIT};

fn describe(label: &str, mut values: Vec<f64>) -> String {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!(
        "{label}: n={} p50={:.0} ms p99={:.0} ms max={:.0} ms min={:.0} ms",
        values.len(),
        percentile(&values, 50.0),
        percentile(&values, 99.0),
        values[values.len() - 1],
        values[0]
    )
}

/// Reminder lateness (`notification.createdAt - reminderAt`) with the real cron cadence:
/// `BENCH_REMINDERS` (default 600) reminders armed through the API, spread over 60 s.
#[tokio::test]
#[ignore = "benchmark: bench/reminders.sh"]
async fn bench_reminder_lateness_on_the_cron_cadence() {
    let n: usize = env_or("BENCH_REMINDERS", 600);
    let app = spawn_app().await;
    let worker = cron_worker(&app);
    let start = Utc::now() + chrono::Duration::seconds(10);
    let window_ms = 60_000i64;
    let jobs: Vec<usize> = (0..n).collect();
    let created: Vec<String> = futures::stream::iter(jobs)
        .map(|i| {
            let app = &app;
            // Spread evenly over the window, at odd milliseconds, across 50 users.
            let at = start
                + chrono::Duration::milliseconds(
                    i as i64 * window_ms / n as i64 + (i as i64 * 7919) % 997,
                );
            async move {
                let user = format!("bench{:02}", i % 50);
                let task = app
                    .create_task(
                        &user,
                        json!({"title": format!("bench {i}"), "reminderAt": rfc3339(at)}),
                    )
                    .await;
                task["id"].as_str().unwrap().to_string()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        Utc::now() < start,
        "arming took longer than the 10 s lead; lower BENCH_REMINDERS"
    );
    assert_eq!(created.len(), n);
    let expected = i64::try_from(n).unwrap();
    eventually(
        "every benchmark reminder",
        Duration::from_secs(60) + CRON_WAIT,
        || async {
            match count(&app.pg().await, "SELECT count(*) FROM notifications", &[]).await {
                n if n == expected => Ok(()),
                n => Err(format!("{n} of {expected} notifications")),
            }
        },
    )
    .await;
    let rows = app
        .pg()
        .await
        .query(
            "SELECT extract(epoch FROM n.created_at - n.reminder_at)::float8 * 1000, \
                    extract(epoch FROM n.created_at)::float8 * 1000, \
                    extract(epoch FROM n.reminder_at)::float8 * 1000 \
             FROM notifications n",
            &[],
        )
        .await
        .unwrap();
    let lateness: Vec<f64> = rows.iter().map(|r| r.get::<_, f64>(0)).collect();
    // Beyond the cron cadence: time from the first tick at or after reminderAt.
    let after_tick: Vec<f64> = rows
        .iter()
        .map(|r| {
            let (created, reminder): (f64, f64) = (r.get(1), r.get(2));
            let tick = (reminder / 5000.0).ceil() * 5000.0;
            created - tick
        })
        .collect();
    assert!(
        lateness.iter().all(|l| *l >= 0.0),
        "a reminder fired before its time"
    );
    assert_eq!(
        count(
            &app.pg().await,
            "SELECT count(DISTINCT task_id) FROM notifications",
            &[]
        )
        .await,
        expected
    );
    println!("BENCH reminders={n} over {window_ms} ms, cron */5 s");
    println!(
        "BENCH {}",
        describe("lateness (createdAt - reminderAt)", lateness)
    );
    println!(
        "BENCH {}",
        describe(
            "after the due tick (createdAt - first tick >= reminderAt)",
            after_tick
        )
    );
    assert_no_failed_sweep(&worker).await;
}

/// One sweep's duration with `BENCH_PENDING` (default 100,000) pending reminders of which
/// `BENCH_DUE` (default 1,000) are due. Rows are written with SQL (the API is not measured).
#[tokio::test]
#[ignore = "benchmark: bench/reminders.sh"]
async fn bench_sweep_with_many_pending_and_some_due() {
    let pending: i64 = env_or("BENCH_PENDING", 100_000);
    let due: i64 = env_or("BENCH_DUE", 1_000);
    let app = spawn_app().await;
    let sweeper = http_sweeper(&app, SWEEP_TOKEN);
    let pg = app.pg().await;
    // Due ones 1-60 s ago; the rest 1 h to ~1 year ahead. 100 users.
    pg.execute(
        "INSERT INTO tasks (id, user_id, title, priority, category, status, created_at, updated_at, series_id, reminder_at, due_date) \
         SELECT id, 'user' || (i % 100), 'bench task ' || i, 'medium', 'other', 'pending', now(), now(), id, \
                CASE WHEN i <= $2 THEN now() - make_interval(secs => 1 + (i % 60)) \
                     ELSE now() + make_interval(hours => (1 + (i % 8760))::int) END, \
                CASE WHEN i % 2 = 0 THEN now() + interval '1 day' END \
         FROM (SELECT gen_random_uuid() AS id, i FROM generate_series(1, $1::int8) AS i) s",
        &[&pending, &due],
    )
    .await
    .unwrap();
    pg.batch_execute("ANALYZE tasks").await.unwrap();
    let plan: Vec<String> = pg
        .query(
            "EXPLAIN SELECT id FROM tasks WHERE NOT reminder_sent AND reminder_at IS NOT NULL \
             AND reminder_at <= now() AND NOT (id = ANY('{}'::uuid[])) ORDER BY reminder_at, id LIMIT 200",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    println!("BENCH plan of the batch query:\n  {}", plan.join("\n  "));

    let mut durations = Vec::new();
    for round in 0..3 {
        if round > 0 {
            // Re-arm the same rows (a new arming: reminder_at moves by 1 ms).
            let rearmed = pg
                .execute(
                    "UPDATE tasks SET reminder_sent = false, reminder_at = reminder_at - interval '1 millisecond', \
                     version = version + 1 WHERE reminder_sent",
                    &[],
                )
                .await
                .unwrap();
            assert_eq!(rearmed, u64::try_from(due).unwrap());
        }
        let started = Instant::now();
        let summary = sweep(&app, &sweeper).await;
        let wall = started.elapsed();
        println!(
            "BENCH sweep round {round}: wall {} ms, summary {summary}",
            wall.as_millis()
        );
        assert_eq!(
            summary["fired"], due,
            "all due reminders in one sweep: {summary}"
        );
        assert_eq!(summary["more_due"], false);
        durations.push(wall.as_secs_f64() * 1000.0);
    }
    assert_eq!(
        count(&app.pg().await, "SELECT count(*) FROM notifications", &[]).await,
        due * 3
    );
    assert_eq!(
        count(
            &app.pg().await,
            "SELECT count(*) FROM tasks WHERE NOT reminder_sent",
            &[]
        )
        .await,
        pending - due
    );
    println!(
        "BENCH pending={pending} due={due}: {}",
        describe("sweep wall time (3 rounds)", durations)
    );
}
