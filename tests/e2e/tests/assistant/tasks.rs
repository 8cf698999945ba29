//! Changes made by the assistant are real task changes: in the REST API, evented, audited and
//! streamed to the user's SSE clients like any REST change; and a conversation carries the
//! context (task ids) from one message to the next.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use todo_e2e::assistant::{spawn_assistant_app, FakeModel};
use todo_e2e::eventually;

use crate::{assert_all_valid, conversation};

#[tokio::test]
async fn an_english_message_creates_a_task_through_a_tool_call() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    let _workers = app
        .host_builder()
        .component("realtime-fanout")
        .component("audit-service")
        .spawn();
    let mut pubsub = app.subscribe(&["task-created"]).await;
    // An SSE client of alice's, started before the message (its first chunk fixes its start).
    let sse = reqwest::Client::new()
        .get(app.url("/api/sse/alice"))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let mut sse = sse.bytes_stream();
    let first = sse.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("retry:"));

    model
        .script(json!([
            {"tool_calls": [{"name": "create_task", "arguments": {
                "title": "Pay rent",
                "due_date": "2027-01-01T09:00:00+05:00",
                "recurring_rule": "monthly",
                "time_zone": "Asia/Karachi",
                "priority": "high",
            }}]},
            {"text": "Done: “Pay rent” every month on the 1st at 9:00."},
        ]))
        .await;
    let response = app
        .post(
            "alice",
            "/api/chat",
            &json!({"message": "remind me to pay rent every month on the 1st at 9", "time_zone": "Asia/Karachi"}),
        )
        .header("x-request-id", "chat-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "chat-req-1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["response"],
        "Done: “Pay rent” every month on the 1st at 9:00."
    );
    assert_eq!(body["tool_calls"].as_array().unwrap().len(), 1);
    let call = &body["tool_calls"][0];
    assert_eq!(call["name"], "create_task");
    assert_eq!(call["is_error"], false);
    assert_eq!(call["arguments"]["title"], "Pay rent");
    let task_id = call["result"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        call["result"]["dueDate"], "2027-01-01T04:00:00.000Z",
        "the offset was honoured"
    );

    // In the REST API.
    let task: Value = app
        .get_json("alice", &format!("/api/alice/tasks/{task_id}"))
        .await;
    assert_eq!(task["title"], "Pay rent");
    assert_eq!(task["recurringRule"], "monthly");
    assert_eq!(task["timeZone"], "Asia/Karachi");
    assert_eq!(task["priority"], "high");

    // Its event, with the chat request's id as correlation id.
    let message = tokio::time::timeout(Duration::from_secs(60), pubsub.on_message().next())
        .await
        .expect("a task-created event")
        .unwrap();
    let event: Value = serde_json::from_str(&message.get_payload::<String>().unwrap()).unwrap();
    assert_eq!(event["subject"], task_id.as_str());
    assert_eq!(event["data"]["user_id"], "alice");
    assert_eq!(event["data"]["correlation_id"], "chat-req-1");

    // Its SSE frame.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = String::new();
    while !(seen.contains(&task_id) && seen.contains("\"created\"")) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, sse.next())
            .await
            .unwrap_or_else(|_| panic!("no SSE frame for the task; got {seen}"))
            .expect("the stream is open")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // Its audit row.
    eventually(
        &format!("the audit row of {task_id}"),
        Duration::from_secs(60),
        || async {
            let rows: Vec<Value> = app
                .get_json("alice", &format!("/api/alice/audit?entity_id={task_id}"))
                .await;
            match rows.iter().any(|r| r["eventType"] == "task-created") {
                true => Ok(()),
                false => Err(format!("audit rows: {rows:?}")),
            }
        },
    )
    .await;

    // The model was given the tool's result.
    let requests = model.requests().await;
    assert_all_valid(&requests);
    let second = conversation(&requests[1]);
    assert_eq!(second[1]["role"], "assistant");
    assert_eq!(
        second[1]["tool_calls"][0]["function"]["name"],
        "create_task"
    );
    assert_eq!(second[2]["role"], "tool");
    assert!(second[2]["content"].as_str().unwrap().contains(&task_id));
}

#[tokio::test]
async fn list_then_delete_the_second_one_across_two_messages_of_a_thread() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    for title in ["Buy milk", "Call the plumber", "File taxes"] {
        app.create_task("alice", json!({ "title": title })).await;
    }
    // The order list_tasks returns (newest first), as the model would see it.
    let listed: Vec<Value> = app.get_json("alice", "/api/alice/tasks").await;
    let second_id = listed[1]["id"].as_str().unwrap().to_string();
    let second_title = listed[1]["title"].as_str().unwrap().to_string();

    model
        .script(json!([
            {"tool_calls": [{"name": "list_tasks", "arguments": {}}]},
            {"text": format!("1. {}\n2. {}\n3. {}", listed[0]["title"], second_title, listed[2]["title"])},
        ]))
        .await;
    let (status, first) = app.chat("alice", json!({"message": "list my tasks"})).await;
    assert_eq!(status, 200, "{first}");
    let thread_id = first["thread_id"].clone();
    assert_eq!(first["tool_calls"][0]["name"], "list_tasks");
    assert_eq!(
        first["tool_calls"][0]["result"]["tasks"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    model
        .script(json!([
            {"tool_calls": [{"name": "delete_task", "arguments": {"task_id": second_id}}]},
            {"text": format!("Deleted “{second_title}”.")},
        ]))
        .await;
    let (status, second) = app
        .chat(
            "alice",
            json!({"message": "delete the second one", "thread_id": thread_id}),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["thread_id"], thread_id);
    assert_eq!(second["tool_calls"][0]["name"], "delete_task");
    assert_eq!(second["tool_calls"][0]["result"]["deleted"], true);

    // The second message's request carried the first turn: the question, the list_tasks call
    // with its result (the ids the model needs), and the answer.
    let requests = model.requests().await;
    assert_all_valid(&requests);
    assert_eq!(requests.len(), 4);
    let history = conversation(&requests[2]);
    assert_eq!(
        history[0],
        json!({"role": "user", "content": "list my tasks"})
    );
    assert_eq!(
        history[1]["tool_calls"][0]["function"]["name"],
        "list_tasks"
    );
    assert_eq!(history[2]["role"], "tool");
    assert!(history[2]["content"].as_str().unwrap().contains(&second_id));
    assert_eq!(history[3]["role"], "assistant");
    assert!(history[3]["content"]
        .as_str()
        .unwrap()
        .contains(&second_title));
    assert_eq!(
        history[4],
        json!({"role": "user", "content": "delete the second one"})
    );

    let remaining: Vec<Value> = app.get_json("alice", "/api/alice/tasks").await;
    let titles: Vec<&str> = remaining
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2);
    assert!(!titles.contains(&second_title.as_str()), "{titles:?}");
}
