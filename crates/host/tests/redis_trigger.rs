//! Redis trigger against a real redis-server: fan-out to every component of a channel, one
//! message at a time per address, errors dropped, and exit when the subscription is lost.

mod common;

use std::time::{Duration, Instant};

use common::*;

async fn start(redis: &RedisServer) -> (TestApp, HostProcess) {
    let app = app("redis-trigger");
    let host = spawn(
        app.host()
            .variable("redis_url", redis.url())
            .variable("redis_host", redis.host_port()),
    )
    .await;
    (app, host)
}

async fn publish(conn: &mut redis::aio::MultiplexedConnection, channel: &str, payload: &str) {
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async(conn)
        .await
        .expect("publish");
    assert_eq!(receivers, 1, "exactly the host's subscriber receives it");
}

/// Waits until the list has `n` entries (or 60 s), then returns it.
async fn list(conn: &mut redis::aio::MultiplexedConnection, key: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v: Vec<String> = redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query_async(conn)
            .await
            .unwrap();
        if v.len() >= n || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_component_of_the_channel_receives_the_payload() {
    let redis = RedisServer::start();
    let (_app, host) = start(&redis).await;
    assert!(
        host.output()
            .contains("Subscribed to Redis channel 'events'"),
        "{}",
        host.output()
    );
    let mut conn = redis_conn(&redis).await;
    publish(&mut conn, "events", "m1").await;
    publish(&mut conn, "other", "o1").await;
    assert_eq!(list(&mut conn, "received-a", 2).await, vec!["m1", "o1"]);
    assert_eq!(list(&mut conn, "received-b", 1).await, vec!["m1"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        list(&mut conn, "received-b", 1).await,
        vec!["m1"],
        "b is not subscribed to 'other'"
    );
    assert!(host.wait_for_output("received-a received m1", Duration::from_secs(60)));
    assert!(host.wait_for_output("received-b received m1", Duration::from_secs(60)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_handled_one_at_a_time_in_order() {
    let redis = RedisServer::start();
    let (_app, host) = start(&redis).await;
    let mut conn = redis_conn(&redis).await;
    publish(&mut conn, "other", "sleep:600:first").await;
    publish(&mut conn, "other", "second").await;
    publish(&mut conn, "other", "third").await;
    assert_eq!(
        list(&mut conn, "received-a", 3).await,
        vec!["first", "second", "third"]
    );
    drop(host);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_drops_the_message_and_goes_on() {
    let redis = RedisServer::start();
    let (_app, host) = start(&redis).await;
    let mut conn = redis_conn(&redis).await;
    publish(&mut conn, "other", "fail").await;
    publish(&mut conn, "other", "after").await;
    assert_eq!(list(&mut conn, "received-a", 1).await, vec!["after"]);
    assert!(
        host.wait_for_output("asked to fail", Duration::from_secs(60)),
        "{}",
        host.output()
    );
    assert!(
        host.wait_for_output(
            "component 'recorder-a' failed on a message from channel 'other' (dropped)",
            Duration::from_secs(60)
        ),
        "{}",
        host.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_subscriber_connection_exits_non_zero() {
    let mut redis = RedisServer::start();
    let (_app, mut host) = start(&redis).await;
    redis.stop();
    let status = tokio::task::spawn_blocking(move || {
        let s = host.wait_for_exit(Duration::from_secs(20));
        (s, host.output())
    })
    .await
    .unwrap();
    let (status, out) = status;
    let status =
        status.unwrap_or_else(|| panic!("host kept running without its subscription:\n{out}"));
    assert!(!status.success(), "{out}");
    assert!(out.contains("was lost"), "{out}");
}
