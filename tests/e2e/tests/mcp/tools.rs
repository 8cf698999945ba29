//! The seven tools: results that match their output schemas, tool errors in the API's words,
//! and one user's tools never reaching another's tasks.

use serde_json::{json, Value};
use todo_e2e::{spawn_app, TestApp};

use crate::{call, call_ok, legacy, modern, rpc, task_count};

/// Calls a tool that must fail as a tool error; returns its message.
async fn call_err(app: &TestApp, user: &str, tool: &str, arguments: Value) -> String {
    let result = call(app, user, tool, arguments.clone()).await;
    assert_eq!(result["isError"], true, "{tool} {arguments}: {result}");
    assert!(result.get("structuredContent").is_none(), "{result}");
    result["content"][0]["text"].as_str().unwrap().to_string()
}

/// The `outputSchema` of each tool, from `tools/list`.
async fn output_schemas(app: &TestApp) -> std::collections::HashMap<String, Value> {
    let (_, body) = modern(app, "alice", "tools/list", json!({})).await;
    body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| {
            (
                tool["name"].as_str().unwrap().to_string(),
                tool["outputSchema"].clone(),
            )
        })
        .collect()
}

fn assert_matches_schema(tool: &str, schema: &Value, value: &Value) {
    let validator = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{tool}: {errors:?} in {value}");
}

#[tokio::test]
async fn every_tool_runs_and_its_result_matches_its_output_schema() {
    let app = spawn_app().await;
    let schemas = output_schemas(&app).await;
    let check = |tool: &str, value: &Value| assert_matches_schema(tool, &schemas[tool], value);

    let created = call_ok(&app, "alice", "create_task", json!({
        "title": "Pay rent", "priority": "high", "category": "home", "due_date": "2030-01-31T10:00:00+01:00",
        "recurring_rule": "monthly", "reminder_at": "2030-01-31T08:00:00Z", "tags": ["Bills", "bills"],
        "time_zone": "Europe/Paris", "description": "  flat  "
    })).await;
    check("create_task", &created);
    assert_eq!(created["dueDate"], "2030-01-31T09:00:00.000Z");
    assert_eq!(created["tags"], json!(["bills"]));
    assert_eq!(created["description"], "flat");
    let id = created["id"].as_str().unwrap().to_string();
    // The REST API returns exactly the task the tool returned.
    let rest: Value = app
        .get_json("alice", &format!("/api/alice/tasks/{id}"))
        .await;
    assert_eq!(rest, created);

    let second = call_ok(
        &app,
        "alice",
        "create_task",
        json!({"title": "Buy milk", "user_id": "alice"}),
    )
    .await;
    let got = call_ok(&app, "alice", "get_task", json!({"task_id": id})).await;
    check("get_task", &got);
    assert_eq!(got, created);

    let page = call_ok(
        &app,
        "alice",
        "list_tasks",
        json!({"limit": 1, "sort_by": "title", "sort_order": "asc"}),
    )
    .await;
    check("list_tasks", &page);
    assert_eq!(page["tasks"][0]["title"], "Buy milk");
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = call_ok(
        &app,
        "alice",
        "list_tasks",
        json!({"limit": 1, "sort_by": "title", "sort_order": "asc", "cursor": cursor}),
    )
    .await;
    check("list_tasks", &next);
    assert_eq!(next["tasks"][0]["id"], id.as_str());
    assert_eq!(next["next_cursor"], Value::Null);
    let filtered = call_ok(
        &app,
        "alice",
        "list_tasks",
        json!({"tags": ["bills"], "priority": "high"}),
    )
    .await;
    assert_eq!(filtered["tasks"].as_array().unwrap().len(), 1);

    let updated = call_ok(
        &app,
        "alice",
        "update_task",
        json!({"task_id": id, "title": "Pay the rent", "due_date": null, "recurring_rule": null}),
    )
    .await;
    check("update_task", &updated);
    assert_eq!(
        (updated["title"].as_str(), &updated["dueDate"]),
        (Some("Pay the rent"), &Value::Null)
    );
    assert_eq!(updated["version"], 2);

    let toggled = call_ok(&app, "alice", "toggle_complete", json!({"task_id": id})).await;
    check("toggle_complete", &toggled);
    assert_eq!(
        (toggled["status"].as_str(), &toggled["completed"]),
        (Some("completed"), &json!(true))
    );

    let stats = call_ok(&app, "alice", "get_stats", json!({})).await;
    check("get_stats", &stats);
    assert_eq!(
        (
            stats["total"].as_i64(),
            stats["completed"].as_i64(),
            stats["pending"].as_i64()
        ),
        (Some(2), Some(1), Some(1))
    );

    let deleted = call_ok(
        &app,
        "alice",
        "delete_task",
        json!({"task_id": second["id"]}),
    )
    .await;
    check("delete_task", &deleted);
    assert_eq!(deleted, json!({"deleted": true, "task_id": second["id"]}));
    let response = app
        .get(
            "alice",
            &format!("/api/alice/tasks/{}", second["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The 2025 revisions get the same results.
    let (_, body) = legacy(
        &app,
        "alice",
        Some("2025-06-18"),
        &rpc(
            "tools/call",
            json!({"name": "get_task", "arguments": {"task_id": id}}),
        ),
    )
    .await;
    assert_eq!(body["result"]["structuredContent"]["id"], id.as_str());
    assert!(body["result"].get("resultType").is_none());
}

#[tokio::test]
async fn invalid_arguments_and_missing_tasks_are_tool_errors_with_the_rest_messages() {
    let app = spawn_app().await;
    // The REST API's own words for the same body.
    let rest = app
        .post(
            "alice",
            "/api/alice/tasks",
            &json!({"title": "x", "priority": "urgent"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 422);
    let rest: Value = rest.json().await.unwrap();
    let rest_msg = rest["detail"][0]["msg"].as_str().unwrap().to_string();
    let text = call_err(
        &app,
        "alice",
        "create_task",
        json!({"title": "x", "priority": "urgent"}),
    )
    .await;
    assert_eq!(text, rest_msg);

    let cases = [
        ("create_task", json!({}), "title is required".to_string()),
        (
            "create_task",
            json!({"title": "   "}),
            "title must be 1-255 characters after trimming (it is empty)".to_string(),
        ),
        (
            "create_task",
            json!({"title": "x", "due_date": "soon"}),
            "due_date: invalid instant 'soon'".to_string(),
        ),
        (
            "create_task",
            json!({"title": "x", "tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            "at most 10 distinct tags are allowed (got 11)".to_string(),
        ),
        (
            "create_task",
            json!({"title": "x", "dueDate": "2030-01-01"}),
            "unknown argument dueDate".to_string(),
        ),
        (
            "update_task",
            json!({"task_id": "nope", "title": "x"}),
            "task_id must be a UUID".to_string(),
        ),
        ("get_task", json!({}), "task_id is required".to_string()),
        (
            "list_tasks",
            json!({"limit": 501}),
            "limit must be between 1 and 500 (got 501)".to_string(),
        ),
        (
            "list_tasks",
            json!({"sort_by": "colour"}),
            "unknown sort_by 'colour'".to_string(),
        ),
    ];
    for (tool, arguments, expected) in cases {
        let text = call_err(&app, "alice", tool, arguments.clone()).await;
        assert!(text.starts_with(&expected), "{tool} {arguments}: {text}");
    }
    assert_eq!(task_count(&app).await, 0);

    let missing = uuid::Uuid::now_v7().to_string();
    for tool in ["get_task", "delete_task", "toggle_complete"] {
        assert_eq!(
            call_err(&app, "alice", tool, json!({"task_id": missing})).await,
            "Task not found",
            "{tool}"
        );
    }
    assert_eq!(
        call_err(
            &app,
            "alice",
            "update_task",
            json!({"task_id": missing, "title": "x"})
        )
        .await,
        "Task not found"
    );
}

#[tokio::test]
async fn a_user_cannot_read_or_change_another_users_tasks() {
    let app = spawn_app().await;
    let bobs = app
        .create_task("bob", json!({"title": "Bob's secret", "tags": ["private"]}))
        .await;
    let id = bobs["id"].as_str().unwrap();
    let mine = call_ok(&app, "alice", "create_task", json!({"title": "Alice's"})).await;

    for (tool, arguments) in [
        ("get_task", json!({"task_id": id})),
        ("update_task", json!({"task_id": id, "title": "pwned"})),
        ("toggle_complete", json!({"task_id": id})),
        ("delete_task", json!({"task_id": id})),
    ] {
        assert_eq!(
            call_err(&app, "alice", tool, arguments).await,
            "Task not found",
            "{tool}"
        );
    }
    // A user_id argument cannot move a tool to another user: the REST 403's words.
    for (tool, arguments) in [
        ("create_task", json!({"user_id": "bob", "title": "planted"})),
        ("list_tasks", json!({"user_id": "bob"})),
        ("get_task", json!({"user_id": "bob", "task_id": id})),
        (
            "update_task",
            json!({"user_id": "bob", "task_id": id, "title": "pwned"}),
        ),
        ("delete_task", json!({"user_id": "bob", "task_id": id})),
        ("toggle_complete", json!({"user_id": "bob", "task_id": id})),
        ("get_stats", json!({"user_id": "bob"})),
    ] {
        assert_eq!(
            call_err(&app, "alice", tool, arguments).await,
            "Not authorized to access this user's data",
            "{tool}"
        );
    }
    let listed = call_ok(&app, "alice", "list_tasks", json!({})).await;
    assert_eq!(listed["tasks"], json!([mine]));
    let listed = call_ok(
        &app,
        "alice",
        "list_tasks",
        json!({"search": "secret", "tags": ["private"]}),
    )
    .await;
    assert_eq!(listed["tasks"], json!([]));
    let stats = call_ok(&app, "alice", "get_stats", json!({})).await;
    assert_eq!(stats["total"], 1);
    // Bob's task is exactly as it was, and he has no other.
    let after: Value = app.get_json("bob", &format!("/api/bob/tasks/{id}")).await;
    assert_eq!(after, bobs);
    let all: Value = app.get_json("bob", "/api/bob/tasks").await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}
