//! `spin:postgres/postgres@4.0.0` against a real PostgreSQL (`TEST_PG_URL`): Spin's type
//! conversions (including its `timestamptz` behaviour), sessions, errors and refusals.

mod common;

use common::*;
use serde_json::json;

async fn pg_app() -> (TestApp, test_support::TestDatabase, HostProcess) {
    pg_app_with_zero_row_queries("return").await
}

/// The fixture app with `SPIN_PG_ZERO_ROW_QUERY` set (scripts/test exports `error` for the
/// whole suite, so each test says what it wants).
async fn pg_app_with_zero_row_queries(
    policy: &str,
) -> (TestApp, test_support::TestDatabase, HostProcess) {
    let db = empty_database().await;
    let app = app("http");
    let host = spawn(
        app.host()
            .variable("db_url", &db.url)
            .variable("db_host", &db.host_port)
            .env("SPIN_PG_ZERO_ROW_QUERY", policy),
    )
    .await;
    (app, db, host)
}

async fn run(host: &HostProcess, path: &str, body: serde_json::Value) -> Vec<String> {
    let (status, text) = post_json(&format!("{}{path}?op=pg", host.base_url()), &body).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn q(sql: &str, params: serde_json::Value) -> serde_json::Value {
    json!({ "sql": sql, "params": params, "mode": "query" })
}

fn x(sql: &str) -> serde_json::Value {
    json!({ "sql": sql, "params": [], "mode": "execute" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversions_match_spin() {
    let (_app, _db, host) = pg_app().await;
    let r = run(
        &host,
        "/x",
        json!({ "statements": [
            q("SELECT now()", json!([])),
            q("SELECT now() AT TIME ZONE 'UTC'", json!([])),
            q("SELECT $1::timestamptz", json!([{ "timestamp": 1_800_000_000 }])),
            q("SELECT $1::text::timestamptz AT TIME ZONE 'UTC'", json!([{ "str": "2027-01-31T09:00:00.123Z" }])),
            q("SELECT $1::timestamptz", json!([{ "str": "2027-01-31T09:00:00Z" }])),
            q("SELECT $1::timestamp", json!([{ "datetime": [2027, 1, 31, 9, 0, 0, 0] }])),
            q("SELECT ARRAY['a','b']::text[]", json!([])),
            q("SELECT '{\"a\":1}'::json", json!([])),
            q("SELECT gen_random_uuid()", json!([])),
            q("SELECT extract(epoch FROM $1::timestamptz)::int8", json!([{ "timestamp": 1_800_000_000 }])),
        ]}),
    )
    .await;
    assert!(
        r[0].starts_with("Err(Error::QueryFailed(QueryError::Text("),
        "{}",
        r[0]
    );
    assert!(r[0].contains("error deserializing column 0"), "{}", r[0]);
    assert!(
        r[0].contains("NaiveDateTime") && r[0].contains("timestamptz"),
        "{}",
        r[0]
    );
    assert!(r[1].starts_with("Ok([[DbValue::Datetime(("), "{}", r[1]);
    assert!(
        r[2].contains("error deserializing column 0") && r[2].contains("timestamptz"),
        "{}",
        r[2]
    );
    assert_eq!(
        r[3],
        "Ok([[DbValue::Datetime((2027, 1, 31, 9, 0, 0, 123000000))]])"
    );
    assert!(
        r[4].contains("ToSql(0)") && r[4].contains("WrongType"),
        "{}",
        r[4]
    );
    assert_eq!(r[5], "Ok([[DbValue::Datetime((2027, 1, 31, 9, 0, 0, 0))]])");
    assert_eq!(
        r[6],
        "Ok([[DbValue::ArrayStr([Some(\"a\"), Some(\"b\")])]])"
    );
    assert_eq!(
        r[7],
        "Ok([[DbValue::Unsupported([123, 34, 97, 34, 58, 49, 125])]])"
    );
    assert!(r[8].starts_with("Ok([[DbValue::Uuid(\""), "{}", r[8]);
    assert_eq!(r[9], "Ok([[DbValue::Int64(1800000000)]])");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scalar_types_and_nulls() {
    let (_app, _db, host) = pg_app().await;
    let r = run(
        &host,
        "/x",
        json!({ "statements": [
            q("SELECT 1::int2, 2::int4, 3::int8, true, 1.5::float8, 'x'::varchar, NULL::text, \
               '12.50'::numeric, '{\"a\": 1}'::jsonb, '1 day 2 hours'::interval, \
               '2027-01-31'::date, '09:30:00'::time, '\\x0102'::bytea, ARRAY[1,2]::int4[], \
               ARRAY[true]::bool[]", json!([])),
            q("SELECT $1::int4, $2::text, $3::uuid, $4::jsonb, $5::text[]", json!([
                { "null": true }, { "str": "s" }, { "uuid": "31439906-4c4d-4a8e-9a3b-0a3b3b3b3b3b" },
                { "jsonb": { "k": [1] } }, { "str_array": ["p", "q"] }
            ])),
            q("SELECT $1::uuid", json!([{ "uuid": "not-a-uuid" }])),
            q("SELECT int4range(1, 5), int8range(NULL, 3, '(]'), '[1.5,2.5]'::numrange, \
               'empty'::int4range", json!([])),
            q("SELECT $1::int4range @> 4, $2::int4range", json!([{ "int4range": [1, 5] }, { "int4range": [null, 2] }])),
        ]}),
    )
    .await;
    let row = &r[0];
    for expected in [
        "DbValue::Int16(1)",
        "DbValue::Int32(2)",
        "DbValue::Int64(3)",
        "DbValue::Boolean(true)",
        "DbValue::Floating64(1.5)",
        "DbValue::Str(\"x\")",
        "DbValue::DbNull",
        "DbValue::Decimal(\"12.50\")",
        "DbValue::Jsonb([123, 34, 97, 34, 58, 49, 125])",
        "DbValue::Interval(Interval { micros: 7200000000, days: 1, months: 0 })",
        "DbValue::Date((2027, 1, 31))",
        "DbValue::Time((9, 30, 0, 0))",
        "DbValue::Binary([1, 2])",
        "DbValue::ArrayInt32([Some(1), Some(2)])",
        "DbValue::Unsupported(",
    ] {
        assert!(row.contains(expected), "missing {expected} in {row}");
    }
    assert_eq!(
        r[1],
        "Ok([[DbValue::DbNull, DbValue::Str(\"s\"), DbValue::Uuid(\"31439906-4c4d-4a8e-9a3b-0a3b3b3b3b3b\"), \
         DbValue::Jsonb([123, 34, 107, 34, 58, 91, 49, 93, 125]), DbValue::ArrayStr([Some(\"p\"), Some(\"q\")])]])"
    );
    assert!(r[2].starts_with("Err(Error::BadParameter("), "{}", r[2]);
    assert_eq!(
        r[3],
        "Ok([[DbValue::RangeInt32((Some((1, RangeBoundKind::Inclusive)), Some((5, RangeBoundKind::Exclusive)))), \
         DbValue::RangeInt64((None, Some((4, RangeBoundKind::Exclusive)))), \
         DbValue::RangeDecimal((Some((\"1.5\", RangeBoundKind::Inclusive)), Some((\"2.5\", RangeBoundKind::Inclusive)))), \
         DbValue::RangeInt32((None, None))]])"
    );
    assert_eq!(
        r[4],
        "Ok([[DbValue::Boolean(true), DbValue::RangeInt32((None, Some((2, RangeBoundKind::Exclusive))))]])"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_is_one_session_and_db_errors_are_structured() {
    let (_app, _db, host) = pg_app().await;
    let r = run(
        &host,
        "/x",
        json!({ "statements": [
            x("CREATE TABLE t (id int PRIMARY KEY)"),
            x("BEGIN"),
            x("INSERT INTO t VALUES (1)"),
            x("ROLLBACK"),
            q("SELECT count(*) FROM t", json!([])),
            x("BEGIN"),
            x("INSERT INTO t VALUES (2)"),
            x("COMMIT"),
            q("SELECT count(*) FROM t", json!([])),
            x("INSERT INTO t VALUES (2)"),
        ]}),
    )
    .await;
    assert_eq!(r[2], "Ok(1)");
    assert_eq!(r[4], "Ok([[DbValue::Int64(0)]])");
    assert_eq!(r[8], "Ok([[DbValue::Int64(1)]])");
    assert!(
        r[9].starts_with("Err(Error::QueryFailed(QueryError::DbError(DbError {"),
        "{}",
        r[9]
    );
    assert!(r[9].contains("code: \"23505\""), "{}", r[9]);
    assert!(r[9].contains("(\"constraint\", \"t_pkey\")"), "{}", r[9]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_outside_allowed_hosts_are_refused() {
    let (_app, db, host) = pg_app().await;
    // A component with no allowed_outbound_hosts at all.
    let r = run(
        &host,
        "/locked/x",
        json!({ "address": db.url, "statements": [] }),
    )
    .await;
    assert!(
        r[0].starts_with("open: Err(Error::ConnectionFailed("),
        "{r:?}"
    );
    assert!(r[0].contains("not permitted"), "{r:?}");
    // Allowed host, other port.
    let (h, p) = db.host_port.rsplit_once(':').unwrap();
    let other = format!(
        "postgres://postgres@{h}:{}/postgres",
        p.parse::<u16>().unwrap() + 1
    );
    let r = run(&host, "/x", json!({ "address": other, "statements": [] })).await;
    assert!(r[0].contains("not permitted"), "{r:?}");
    // Unix sockets are never allowed.
    let r = run(
        &host,
        "/x",
        json!({ "address": "host=/tmp user=postgres dbname=postgres", "statements": [] }),
    )
    .await;
    assert!(r[0].contains("Unix socket"), "{r:?}");
    // A second host in the string that is not allowed.
    let r = run(
        &host,
        "/x",
        json!({ "address": format!("host={h},example.com port={p},5432 user=postgres"), "statements": [] }),
    )
    .await;
    assert!(r[0].contains("not permitted"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_goes_back_to_the_pool_without_rollback() {
    // Mirrors Spin: an open transaction is not rolled back when the guest connection is
    // dropped, so the next user of the pooled connection finds itself inside it.
    let (_app, db, host) = pg_app().await;
    run(
        &host,
        "/x",
        json!({ "statements": [x("CREATE TABLE t (id int)")] }),
    )
    .await;
    let r = run(
        &host,
        "/x",
        json!({ "statements": [x("BEGIN"), x("INSERT INTO t VALUES (1)")] }),
    )
    .await;
    assert_eq!(r, vec!["Ok(0)", "Ok(1)"]);
    // Another session does not see the uncommitted row.
    let outside = db.connect().await;
    let n: i64 = outside
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // The next request reuses the pooled connection, still inside the transaction.
    let r = run(
        &host,
        "/x",
        json!({ "statements": [
            q("SELECT count(*) FROM t", json!([])),
            q("SELECT now() = statement_timestamp()", json!([])),
            x("ROLLBACK"),
            q("SELECT count(*) FROM t", json!([])),
        ]}),
    )
    .await;
    assert_eq!(r[0], "Ok([[DbValue::Int64(1)]])");
    assert_eq!(
        r[1], "Ok([[DbValue::Boolean(false)]])",
        "now() is the transaction start"
    );
    assert_eq!(r[3], "Ok([[DbValue::Int64(0)]])");
}

/// `SPIN_PG_ZERO_ROW_QUERY=error`: a `query` that returns no row fails at once, naming the
/// Spin releases that would hang on it; a `query` with a row and every `execute` still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_row_query_fails_under_the_error_switch() {
    let db = empty_database().await;
    let app = app("http");
    let host = spawn(
        app.host()
            .variable("db_url", &db.url)
            .variable("db_host", &db.host_port)
            .env("SPIN_PG_ZERO_ROW_QUERY", "error"),
    )
    .await;
    let r = run(
        &host,
        "/x",
        json!({ "statements": [
            q("SELECT 1 WHERE false", json!([])),
            q("SELECT 1::int4", json!([])),
            q("SELECT (SELECT 1::int4 WHERE false)", json!([])),
            q("SELECT n::int4 FROM generate_series(1, 2) AS n", json!([])),
            x("CREATE TABLE t (id int)"),
            x("UPDATE t SET id = 1 WHERE false"),
            q("SELECT id FROM t WHERE id = $1", json!([{ "int32": 7 }])),
        ]}),
    )
    .await;
    for zero_rows in [&r[0], &r[6]] {
        assert!(
            zero_rows.starts_with("Err(Error::QueryFailed(QueryError::Text("),
            "{zero_rows}"
        );
        assert!(zero_rows.contains("Spin 4.0.0-4.0.2"), "{zero_rows}");
        assert!(zero_rows.contains("spinframework/spin#3671"), "{zero_rows}");
    }
    assert!(r[6].contains("SELECT id FROM t WHERE id = $1"), "{}", r[6]);
    assert_eq!(r[1], "Ok([[DbValue::Int32(1)]])");
    assert_eq!(r[2], "Ok([[DbValue::DbNull]])");
    assert_eq!(r[3], "Ok([[DbValue::Int32(1)], [DbValue::Int32(2)]])");
    assert_eq!(r[4], "Ok(0)");
    assert_eq!(r[5], "Ok(0)");
    assert!(
        host.wait_for_output(
            "query returned zero rows",
            std::time::Duration::from_secs(30)
        ),
        "{}",
        host.output()
    );
}

/// Without the switch (or with `return`), a zero-row `query` returns the empty row set, as
/// Spin 3.x and the fixed Spin 4.x do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_row_query_returns_the_empty_set_by_default() {
    let db = empty_database().await;
    for setting in [None, Some("return")] {
        let app = app("http");
        let mut builder = app
            .host()
            .variable("db_url", &db.url)
            .variable("db_host", &db.host_port)
            .env("SPIN_PG_ZERO_ROW_QUERY", "");
        if let Some(value) = setting {
            builder = builder.env("SPIN_PG_ZERO_ROW_QUERY", value);
        }
        let host = spawn(builder).await;
        let r = run(
            &host,
            "/x",
            json!({ "statements": [q("SELECT 1 WHERE false", json!([]))] }),
        )
        .await;
        assert_eq!(r, vec!["Ok([])"], "{setting:?}");
    }
}

#[test]
fn an_unknown_zero_row_switch_refuses_to_start() {
    let app = app("http");
    let (status, out) = app
        .host()
        .env("SPIN_PG_ZERO_ROW_QUERY", "hang")
        .run_to_exit(std::time::Duration::from_secs(60));
    assert!(!status.success(), "{out}");
    assert!(out.contains("SPIN_PG_ZERO_ROW_QUERY=\"hang\""), "{out}");
    assert!(out.contains("`error`"), "{out}");
    assert!(!out.contains("todo-host: ready"), "{out}");
}
