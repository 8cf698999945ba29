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
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let mut conn = redis_conn(&redis).await;
    let ticks: Vec<u64> = redis::cmd("LRANGE")
        .arg("cron-ticks")
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ticks.len() >= 2, "{ticks:?}\n{}", host.output());
    for pair in ticks.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{ticks:?}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ticks.iter().all(|t| now - t < 10), "{ticks:?} vs {now}");
    assert!(
        host.output().contains("[ticker] tick "),
        "{}",
        host.output()
    );
}
