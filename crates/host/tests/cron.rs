//! Cron trigger: a six-field (seconds-first) expression ticks in UTC, each tick in a fresh
//! instance receiving the tick's epoch seconds.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_second_ticks_with_epoch_seconds() {
    let redis = RedisServer::start();
    let app = app("cron");
    let host = spawn(
        app.host()
            .variable("redis_url", redis.url())
            .variable("redis_host", redis.host_port()),
    )
    .await;
    // Wait for the ticks themselves (a loaded machine may start late), not for a time.
    let mut conn = redis_conn(&redis).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let ticks: Vec<u64> = loop {
        let ticks: Vec<u64> = redis::cmd("LRANGE")
            .arg("cron-ticks")
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .unwrap();
        if ticks.len() >= 3 {
            break ticks;
        }
        assert!(Instant::now() < deadline, "{ticks:?}\n{}", host.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Each tick is a scheduled second, run in its own instance: ticks can finish out of order
    // and, on a machine too busy to wake up within the second, one can be skipped; none repeats.
    let mut sorted = ticks.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ticks.len(), "a tick ran twice: {ticks:?}");
    // Epoch seconds (not milliseconds, not zero): within the last hour.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ticks.iter().all(|t| now - t < 3600), "{ticks:?} vs {now}");
    assert!(
        host.wait_for_output(&format!("tick {}", ticks[0]), Duration::from_secs(60)),
        "{}",
        host.output()
    );
}
