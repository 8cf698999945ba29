//! `fermyon:spin/redis@2.0.0` against a real redis-server: every operation, Spin's flattening
//! of `execute` replies, and the allowed_outbound_hosts refusal.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

async fn call(
    host: &HostProcess,
    path: &str,
    address: &str,
    calls: serde_json::Value,
) -> Vec<String> {
    let (status, text) = post_json(
        &format!("{}{path}?op=redis", host.base_url()),
        &json!({ "address": address, "calls": calls }),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_and_execute_flattening() {
    let redis = RedisServer::start();
    let app = app("http");
    let host = spawn(app.host().variable("redis_host", redis.host_port())).await;
    let r = call(
        &host,
        "/x",
        &redis.url(),
        json!([
            { "fn": "set", "key": "k", "value": "v" },
            { "fn": "get", "key": "k" },
            { "fn": "get", "key": "missing" },
            { "fn": "incr", "key": "n" },
            { "fn": "incr", "key": "n" },
            { "fn": "sadd", "key": "s", "values": ["a", "b", "c"] },
            { "fn": "srem", "key": "s", "values": ["b"] },
            { "fn": "smembers", "key": "s" },
            { "fn": "del", "keys": ["k", "n", "nope"] },
            { "fn": "publish", "channel": "ch", "payload": "hello" },
            { "fn": "execute", "command": "SET", "args": ["e", "1"] },
            { "fn": "execute", "command": "XADD", "args": ["st", "1-1", "field", "value"] },
            { "fn": "execute", "command": "XRANGE", "args": ["st", "-", "+"] },
            { "fn": "execute", "command": "GET", "args": ["missing"] },
            { "fn": "execute", "command": "HSET", "args": ["h", "f", "v"] },
            { "fn": "execute", "command": "NOSUCHCOMMAND", "args": [] },
            { "fn": "incr", "key": "s" },
        ]),
    )
    .await;
    assert_eq!(r[0], "Ok(())");
    assert_eq!(r[1], "Ok(Some(\"v\"))");
    assert_eq!(r[2], "Ok(None)");
    assert_eq!(r[3], "Ok(1)");
    assert_eq!(r[4], "Ok(2)");
    assert_eq!(r[5], "Ok(3)");
    assert_eq!(r[6], "Ok(1)");
    assert_eq!(r[7], "Ok([\"a\", \"c\"])");
    assert_eq!(r[8], "Ok(2)");
    assert_eq!(r[9], "Ok(())");
    assert_eq!(r[10], "Ok(Status(OK))");
    assert_eq!(r[11], "Ok(Binary(1-1))");
    // XRANGE's nested reply, flattened into one list.
    assert_eq!(r[12], "Ok(Binary(1-1), Binary(field), Binary(value))");
    assert_eq!(r[13], "Ok(Nil)");
    assert_eq!(r[14], "Ok(Int64(1))");
    assert!(r[15].starts_with("Err(Error::Other("), "{}", r[15]);
    assert!(r[16].starts_with("Err("), "{}", r[16]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_xread_is_flattened_and_others_keep_being_served() {
    let redis = RedisServer::start();
    let app = app("http");
    let host = spawn(app.host().variable("redis_host", redis.host_port())).await;
    let base = host.base_url().to_string();
    let url = redis.url();

    // No data: BLOCK times out with a single Nil.
    let start = Instant::now();
    let r = call(&host, "/x", &url, json!([{ "fn": "execute", "command": "XREAD", "args": ["BLOCK", "700", "STREAMS", "s", "$"] }])).await;
    assert_eq!(r[0], "Ok(Nil)");
    assert!(start.elapsed() >= Duration::from_millis(650));

    // An XADD during the wait returns it at once, flattened; other requests are served meanwhile.
    // Each step waits for the state it needs (the XREAD blocked in Redis), never for a time.
    let blocked = {
        let host_url = base.clone();
        let url = url.clone();
        tokio::spawn(async move {
            let (_, text) = post_json(
                &format!("{host_url}/x?op=redis"),
                &json!({ "address": url, "calls": [{ "fn": "execute", "command": "XREAD", "args": ["BLOCK", "120000", "STREAMS", "s", "$"] }] }),
            )
            .await;
            text
        })
    };
    let mut conn = redis_conn(&redis).await;
    wait_for_blocked_clients(&mut conn, 1).await;
    assert_eq!(get(&format!("{base}/x?op=hello")).await.1, "hello");
    assert_eq!(
        blocked_clients(&mut conn).await,
        1,
        "the XREAD was still blocked while another request was served"
    );
    let _: String = redis::cmd("XADD")
        .arg("s")
        .arg("5-1")
        .arg("field")
        .arg("value")
        .query_async(&mut conn)
        .await
        .unwrap();
    // Without the XADD it would block for two minutes and then return Nil.
    let text = tokio::time::timeout(Duration::from_secs(60), blocked)
        .await
        .expect("returns once the entry is added")
        .unwrap();
    let r: Vec<String> = serde_json::from_str(&text).unwrap();
    assert_eq!(
        r[0],
        "Ok(Binary(s), Binary(5-1), Binary(field), Binary(value))"
    );
}

async fn blocked_clients(conn: &mut redis::aio::MultiplexedConnection) -> i64 {
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO clients has blocked_clients")
}

async fn wait_for_blocked_clients(conn: &mut redis::aio::MultiplexedConnection, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while blocked_clients(conn).await < n {
        assert!(Instant::now() < deadline, "no client blocked in Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_outside_allowed_hosts_are_refused() {
    let redis = RedisServer::start();
    let app = app("http");
    let host = spawn(app.host().variable("redis_host", redis.host_port())).await;
    let r = call(&host, "/locked/x", &redis.url(), json!([])).await;
    assert_eq!(r, vec!["open: Err(Error::InvalidAddress)".to_string()]);
    let other = format!("redis://127.0.0.1:{}", redis.port() + 1);
    let r = call(&host, "/x", &other, json!([])).await;
    assert_eq!(r, vec!["open: Err(Error::InvalidAddress)".to_string()]);
}
