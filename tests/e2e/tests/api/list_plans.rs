//! The plans of `task_list_page` (`migrations/0009_*.sql`), read with `auto_explain` from every
//! one of its statements: each walks an index of the user's tasks and reads at most one page
//! (plus a task or two) from each part, whatever the sort, direction and cursor. A generic plan of
//! the optional filters estimates about one row, and without the function's settings the
//! planner would then read and sort every task, or spend more compiling the statement (JIT)
//! than running it; the results would be the same, only slower, so only the plans show it.
//! A tags filter is planned per call instead, and finds a rare tag through its GIN index.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use todo_e2e::test_support::fresh_database;
use tokio_postgres::{AsyncMessage, Client, NoTls};
use uuid::Uuid;

const USER: &str = "plans-user";
const LIMIT: i32 = 10;
const CALL: &str = "SELECT * FROM task_list_page($1, NULL, NULL, NULL, NULL, '{}', NULL, NULL, \
                    $2, $3, $4::text::timestamptz, $5, $6, $7, $8)";

/// A connection whose server log messages (`client_min_messages = log`) are collected.
async fn connect_collecting_logs(url: &str) -> (Client, Arc<Mutex<Vec<String>>>) {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = logs.clone();
    tokio::spawn(async move {
        while let Some(message) = futures::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let Ok(AsyncMessage::Notice(notice)) = message {
                sink.lock().unwrap().push(notice.message().to_string());
            }
        }
    });
    (client, logs)
}

/// Every plan node of `plan` (an `auto_explain` JSON plan node), depth first.
fn nodes(plan: &Value) -> Vec<&Value> {
    let mut out = vec![plan];
    for child in plan["Plans"].as_array().into_iter().flatten() {
        out.extend(nodes(child));
    }
    out
}

#[tokio::test]
async fn every_list_statement_reads_one_page_from_an_index_without_jit() {
    let db = fresh_database().await;
    let (client, logs) = connect_collecting_logs(&db.url).await;
    // 600 tasks of the user (a third without a due date) among 1,800, so that reading them
    // all is visible in the row counts.
    client
        .batch_execute(&format!(
            "INSERT INTO tasks (id, user_id, title, priority, category, due_date, created_at, \
                                updated_at, series_id, tags) \
             SELECT md5('task' || n)::uuid, CASE WHEN n % 3 = 0 THEN '{USER}' ELSE 'other-' || (n % 7) END, \
                    'task ' || n, (ARRAY['low', 'medium', 'high'])[1 + n % 3], 'work', \
                    CASE WHEN n % 9 < 6 THEN timestamptz '2027-01-01' + n * interval '1 hour' END, \
                    timestamptz '2026-01-01' + n * interval '1 minute', \
                    timestamptz '2026-01-01' + n * interval '1 minute', md5('task' || n)::uuid, '{{a}}' \
             FROM generate_series(1, 1800) AS n; \
             UPDATE tasks SET tags = '{{a,rare}}' WHERE id IN (md5('task3')::uuid, md5('task6')::uuid); \
             ANALYZE tasks; \
             LOAD 'auto_explain'; \
             SET auto_explain.log_min_duration = 0; \
             SET auto_explain.log_nested_statements = on; \
             SET auto_explain.log_analyze = on; \
             SET auto_explain.log_format = json; \
             SET client_min_messages = log;"
        ))
        .await
        .unwrap();
    // Make JIT as eager as it can be, so that a statement that allows it shows it.
    client
        .batch_execute("SET jit_above_cost = 0; SET jit_optimize_above_cost = 0")
        .await
        .unwrap();

    let no_instant: Option<String> = None;
    let no_rank: Option<i32> = None;
    let no_title: Option<String> = None;
    let no_id: Option<Uuid> = None;
    let id = Some(Uuid::now_v7());
    let instant = Some("2027-01-10T00:00:00Z".to_string());
    let mut statements = 0;
    for sort in ["createdAt", "updatedAt", "dueDate", "priority", "title"] {
        // No cursor; after a key of the sort's type; for the due date, after a task without one.
        let mut cursors = vec![
            (no_instant.clone(), no_rank, no_title.clone(), no_id),
            match sort {
                "priority" => (no_instant.clone(), Some(1), no_title.clone(), id),
                "title" => (no_instant.clone(), no_rank, Some("task 5".to_string()), id),
                _ => (instant.clone(), no_rank, no_title.clone(), id),
            },
        ];
        if sort == "dueDate" {
            cursors.push((no_instant.clone(), no_rank, no_title.clone(), id));
        }
        for descending in [false, true] {
            for (after_instant, after_rank, after_title, after_id) in &cursors {
                logs.lock().unwrap().clear();
                client
                    .query_one(
                        CALL,
                        &[
                            &USER,
                            &sort,
                            &descending,
                            after_instant,
                            after_rank,
                            after_title,
                            after_id,
                            &LIMIT,
                        ],
                    )
                    .await
                    .unwrap();
                let case = format!("{sort} descending={descending} after={after_id:?}");
                let plans: Vec<Value> = logs
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(|log| log.split_once("plan:\n"))
                    .map(|(_, plan)| serde_json::from_str::<Value>(plan).unwrap())
                    // not the test's own call (JIT is allowed there)
                    .filter(|plan| plan["Query Text"] != CALL)
                    .collect();
                assert_eq!(plans.len(), 1, "{case}: {:?}", logs.lock().unwrap());
                for plan in &plans {
                    assert!(plan.get("JIT").is_none(), "{case}: compiled: {plan}");
                    for node in nodes(&plan["Plan"]) {
                        let kind = node["Node Type"].as_str().unwrap();
                        assert_ne!(kind, "Seq Scan", "{case}: {plan}");
                        if kind.contains("Scan") {
                            // A page and one more task, and the window function reads one
                            // row ahead of the limit above it.
                            let rows = node["Actual Rows"].as_f64().unwrap();
                            assert!(
                                rows <= f64::from(LIMIT + 2),
                                "{case}: a {kind} read {rows} rows: {plan}"
                            );
                        }
                    }
                }
                statements += 1;
            }
        }
    }
    assert_eq!(statements, 22, "every statement of the function");

    // A tags filter is planned per call (EXECUTE), with the tags' statistics: a rare tag is
    // looked up in its GIN index rather than by reading the user's tasks.
    let rare: Vec<String> = vec!["rare".into()];
    logs.lock().unwrap().clear();
    let page = client
        .query_one(
            "SELECT json FROM task_list_page($1, NULL, NULL, NULL, NULL, $2, NULL, NULL, \
             'createdAt', true, NULL, NULL, NULL, NULL, 10)",
            &[&USER, &rare],
        )
        .await
        .unwrap();
    let json: Value = serde_json::from_str(page.get(0)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2, "{json}");
    let logs = logs.lock().unwrap();
    assert!(
        logs.iter()
            .any(|log| log.contains("\"Index Name\": \"tasks_tags\"")),
        "{logs:?}"
    );
}
