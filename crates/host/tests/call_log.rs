//! Host-call accounting (`TODO_HOST_CALL_LOG`): the fixture components make known calls, and
//! the records must count exactly those calls, the values and the bytes that crossed the
//! component boundary, per request, per Redis message and per cron tick.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// Waits until the log has at least `n` records (or 60 s), then returns them all.
async fn records(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The record of the request to `path` (each request of a test has a path of its own).
fn record_for<'a>(records: &'a [Value], path: &str) -> &'a Value {
    let found: Vec<&Value> = records.iter().filter(|r| r["path"] == path).collect();
    assert_eq!(found.len(), 1, "one record for {path}: {records:#?}");
    found[0]
}

fn interface(
    calls: &[(&str, u64)],
    values_in: u64,
    bytes_in: usize,
    values_out: u64,
    bytes_out: usize,
) -> Value {
    let calls: serde_json::Map<String, Value> = calls
        .iter()
        .map(|(method, n)| (method.to_string(), json!(n)))
        .collect();
    json!({ "calls": calls, "values_in": values_in, "bytes_in": bytes_in,
            "values_out": values_out, "bytes_out": bytes_out })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_count_each_host_call_value_and_byte() {
    let db = empty_database().await;
    let redis = RedisServer::start();
    let app = app("http");
    let log = app.path("calls.jsonl");
    let host = spawn(
        app.host()
            .variable("db_url", &db.url)
            .variable("db_host", &db.host_port)
            .variable("redis_host", redis.host_port())
            .env("TODO_HOST_CALL_LOG", log.display().to_string())
            // A zero-row query is counted as such (scripts/test turns them into errors).
            .env("SPIN_PG_ZERO_ROW_QUERY", "return"),
    )
    .await;
    let base = host.base_url().to_string();

    assert_eq!(get(&format!("{base}/hello?op=hello")).await.0, 200);
    assert_eq!(get(&format!("{base}/unknown?op=nonsense")).await.0, 400);
    assert_eq!(get(&format!("{base}/env?op=env&name=message")).await.0, 200);
    let (status, body) = get(&format!("{base}/kv-set?op=kv&action=set&key=k1&value=abc")).await;
    assert_eq!((status, body.as_str()), (200, "Ok(())"));
    let (status, body) = get(&format!("{base}/kv-get?op=kv&action=get&key=k1")).await;
    assert_eq!((status, body.as_str()), (200, "Ok(Some(\"abc\"))"));
    let (status, body) = get(&format!("{base}/kv-exists?op=kv&action=exists&key=k1")).await;
    assert_eq!((status, body.as_str()), (200, "Ok(true)"));
    let (status, body) = get(&format!("{base}/kv-keys?op=kv&action=keys")).await;
    assert_eq!((status, body.as_str()), (200, "Ok([\"k1\"])"));
    let (status, body) = get(&format!("{base}/kv-delete?op=kv&action=delete&key=k1")).await;
    assert_eq!((status, body.as_str()), (200, "Ok(())"));

    let statements = [
        "SELECT 1::int4, 'abc'::text, NULL::text",
        "SELECT $1::int8 + n FROM generate_series(1, 3) AS n",
        "SELECT 1",
        "SELECT 1 WHERE false",
    ];
    let (status, body) = post_json(
        &format!("{base}/pg?op=pg"),
        &json!({ "statements": [
            { "sql": statements[0], "params": [], "mode": "query" },
            { "sql": statements[1], "params": [{ "int64": 41 }], "mode": "query" },
            { "sql": statements[2], "params": [], "mode": "execute" },
            { "sql": statements[3], "params": [], "mode": "query" },
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        r#"["Ok([[DbValue::Int32(1), DbValue::Str(\"abc\"), DbValue::DbNull]])","Ok([[DbValue::Int64(42)], [DbValue::Int64(43)], [DbValue::Int64(44)]])","Ok(1)","Ok([])"]"#
    );

    let (status, body) = post_json(
        &format!("{base}/redis?op=redis"),
        &json!({ "address": redis.url(), "calls": [
            { "fn": "set", "key": "a", "value": "xyz" },
            { "fn": "get", "key": "a" },
            { "fn": "execute", "command": "MGET", "args": ["a", "nope"] },
            { "fn": "publish", "channel": "ch", "payload": "pp" },
            { "fn": "incr", "key": "n" },
            { "fn": "sadd", "key": "s", "values": ["x", "yy"] },
            { "fn": "smembers", "key": "s" },
            { "fn": "srem", "key": "s", "values": ["x"] },
            { "fn": "del", "keys": ["a", "n"] },
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        r#"["Ok(())","Ok(Some(\"xyz\"))","Ok(Binary(xyz), Nil)","Ok(())","Ok(1)","Ok(2)","Ok([\"x\", \"yy\"])","Ok(1)","Ok(2)"]"#
    );

    // Refused (nothing listens there), but the call was made.
    let (status, _) = get(&format!(
        "{base}/outbound?op=outbound&url=http%3A%2F%2F127.0.0.1%3A1%2Fx"
    ))
    .await;
    assert_eq!(status, 200);

    let records = records(&log, 11).await;
    assert_eq!(records.len(), 11, "{records:#?}");

    let hello = record_for(&records, "/hello");
    assert_eq!(
        *hello,
        json!({ "component": "fixture", "trigger": "http", "method": "GET", "route": "/...",
                "path": "/hello", "status": 200, "total_calls": 0, "interfaces": {} })
    );
    assert_eq!(record_for(&records, "/unknown")["status"], 400);

    let env = record_for(&records, "/env");
    assert_eq!(env["total_calls"], 1);
    assert_eq!(
        env["interfaces"],
        json!({ "variables": interface(&[("get", 1)], 1, "message".len(), 1, "hello, world".len()) })
    );

    assert_eq!(
        record_for(&records, "/kv-set")["interfaces"],
        json!({ "key_value": interface(&[("open", 1), ("set", 1)], 3, "default".len() + "k1abc".len(), 0, 0) })
    );
    assert_eq!(
        record_for(&records, "/kv-get")["interfaces"],
        json!({ "key_value": interface(&[("get", 1), ("open", 1)], 2, "default".len() + "k1".len(), 1, 3) })
    );
    assert_eq!(
        record_for(&records, "/kv-exists")["interfaces"],
        json!({ "key_value": interface(&[("exists", 1), ("open", 1)], 2, "default".len() + "k1".len(), 1, 1) })
    );
    assert_eq!(
        record_for(&records, "/kv-keys")["interfaces"],
        json!({ "key_value": interface(&[("get-keys", 1), ("open", 1)], 1, "default".len(), 1, "k1".len()) })
    );
    assert_eq!(
        record_for(&records, "/kv-delete")["interfaces"],
        json!({ "key_value": interface(&[("delete", 1), ("open", 1)], 2, "default".len() + "k1".len(), 0, 0) })
    );

    let pg = record_for(&records, "/pg");
    assert_eq!(pg["total_calls"], 6);
    let statement_bytes: usize = statements.iter().map(|s| s.len()).sum();
    // open (the address) + one int8 parameter in; 3 columns + 3 rows of 1 + the execute's row
    // count out: int4 + "abc" + NULL, three int8, the count; the last query has no row.
    let mut expected_pg = interface(
        &[("execute", 1), ("open", 1), ("query", 3)],
        2,
        db.url.len() + statement_bytes + 8,
        7,
        (4 + 3) + 3 * 8 + 8,
    );
    expected_pg["zero_row_queries"] = json!(1);
    assert_eq!(
        pg["interfaces"],
        json!({
            "variables": interface(&[("get", 1)], 1, "db_url".len(), 1, db.url.len()),
            "pg": expected_pg,
        })
    );

    // Per call, (values, bytes) in and out: open (1, url); set a xyz (2, 4); get a (1, 1) ->
    // (1, 3); execute MGET a nope (3, 9) -> [xyz, nil] (2, 3); publish ch pp (2, 4); incr n
    // (1, 1) -> (1, 8); sadd s x yy (3, 4) -> (1, 4); smembers s (1, 1) -> [x, yy] (2, 3);
    // srem s x (2, 2) -> (1, 4); del a n (2, 2) -> (1, 4).
    assert_eq!(
        record_for(&records, "/redis")["interfaces"],
        json!({ "redis": interface(
            &[("del", 1), ("execute", 1), ("get", 1), ("incr", 1), ("open", 1), ("publish", 1),
              ("sadd", 1), ("set", 1), ("smembers", 1), ("srem", 1)],
            1 + 2 + 1 + 3 + 2 + 1 + 3 + 1 + 2 + 2,
            redis.url().len() + 4 + 1 + 9 + 4 + 1 + 4 + 1 + 2 + 2,
            1 + 2 + 1 + 1 + 2 + 1 + 1,
            3 + 3 + 8 + 4 + 3 + 4 + 4,
        ) })
    );

    assert_eq!(
        record_for(&records, "/outbound")["interfaces"],
        json!({ "outbound_http": interface(&[("send", 1)], 0, 0, 0, 0) })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_messages_and_cron_ticks_are_recorded_too() {
    let redis = RedisServer::start();
    let app = app_from_text(&format!(
        "{}\n{}",
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/redis-trigger/spin.toml")
        )
        .unwrap(),
        r#"
[[trigger.cron]]
component = "ticker"
cron_expression = "* * * * * *"

[component.ticker]
source = "../../../../../target/wasm32-wasip2/release/fixture_cron.wasm"
allowed_outbound_hosts = ["redis://{{ redis_host }}"]

[component.ticker.variables]
redis_url = "{{ redis_url }}"
"#
    ));
    let log = app.path("calls.jsonl");
    let host = spawn(
        app.host()
            .variable("redis_url", redis.url())
            .variable("redis_host", redis.host_port())
            .env("TODO_HOST_CALL_LOG", log.display().to_string()),
    )
    .await;
    let mut conn = redis_conn(&redis).await;
    let _: i64 = redis::cmd("PUBLISH")
        .arg("other")
        .arg("hello")
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("other")
        .arg("fail")
        .query_async(&mut conn)
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let (message, failed, tick) = loop {
        let all = records(&log, 0).await;
        let of = |trigger: &str, ok: bool| {
            all.iter()
                .find(|r| r["trigger"] == trigger && r["ok"] == ok)
                .cloned()
        };
        match (of("redis", true), of("redis", false), of("cron", true)) {
            (Some(m), Some(f), Some(t)) => break (m, f, t),
            _ if Instant::now() > deadline => panic!("{all:#?}\n{}", host.output()),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let rpush = |list: &str, item: &str| {
        // variables.get of redis_url and list_key; open; RPUSH <list> <item>.
        json!({
            "variables": interface(&[("get", 2)], 2, "redis_url".len() + "list_key".len(),
                                   2, redis.url().len() + list.len()),
            "redis": interface(&[("execute", 1), ("open", 1)], 1 + 3,
                               redis.url().len() + "RPUSH".len() + list.len() + item.len(), 1, 8),
        })
    };
    assert_eq!(
        message,
        json!({ "component": "recorder-a", "trigger": "redis", "channel": "other", "ok": true,
                "total_calls": 4, "interfaces": rpush("received-a", "hello") })
    );
    assert_eq!(
        failed,
        // The handler reads list_key, then fails before touching Redis.
        json!({ "component": "recorder-a", "trigger": "redis", "channel": "other", "ok": false,
                "total_calls": 1,
                "interfaces": { "variables": interface(&[("get", 1)], 1, "list_key".len(),
                                                       1, "received-a".len()) } })
    );
    assert_eq!(tick["component"], "ticker");
    assert_eq!(tick["schedule"], "* * * * * *");
    assert_eq!(tick["total_calls"], 3);
    assert_eq!(
        tick["interfaces"]["redis"]["calls"],
        json!({ "execute": 1, "open": 1 })
    );
}

#[test]
fn an_unwritable_call_log_refuses_to_start() {
    let app = app("http");
    let (status, out) = app
        .host()
        .env(
            "TODO_HOST_CALL_LOG",
            app.path("no-such-dir/calls.jsonl").display().to_string(),
        )
        .run_to_exit(Duration::from_secs(60));
    assert!(!status.success(), "{out}");
    assert!(out.contains("TODO_HOST_CALL_LOG: cannot open"), "{out}");
}
