//! Cron trigger: a six-field (seconds-first) expression ticks in UTC, each tick in a fresh
//! instance receiving the tick's epoch seconds.

mod common;

use std::time::Duration;

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
    let mut conn = redis_conn(&redis).await;
    // Wait for the state asserted on (three ticks), with a deadline generous for a loaded machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let ticks = loop {
        let ticks: Vec<u64> = redis::cmd("LRANGE")
            .arg("cron-ticks")
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .unwrap();
        if ticks.len() >= 3 || std::time::Instant::now() > deadline {
            break ticks;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(ticks.len() >= 3, "{ticks:?}\n{}", host.output());
    // Every second is a tick, none twice, none skipped (ticks may finish out of order).
    let mut sorted = ticks.clone();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{ticks:?}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        ticks.iter().all(|t| now - t < 60),
        "epoch seconds: {ticks:?} vs {now}"
    );
    assert!(
        host.output().contains("[ticker] tick "),
        "{}",
        host.output()
    );
}
