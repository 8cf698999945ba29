//! `POST /api/chatkit`: the protocol as `openai-chatkit` 1.6.5 parses it, per-user threads,
//! errors as events.

use std::process::Command;

use serde_json::{json, Value};
use todo_e2e::assistant::{python, spawn_assistant_app, stream_events, FakeModel};
use todo_e2e::db::count;
use todo_e2e::test_support::repo_root;

use crate::{assert_all_valid, system_message};

fn input(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

#[tokio::test]
async fn the_full_flow_parses_with_the_official_chatkit_types() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    let base = app.api.base_url().to_string();
    let token = app.token("alice");
    let origin = model.origin();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(repo_root().join("tests/assistant/chatkit_conformance.py"))
            .args([&base, &token, &origin])
            .output()
            .expect("run chatkit_conformance.py")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "ChatKit conformance failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The task the first message asked for is a real task.
    let tasks: Vec<Value> = app.get_json("alice", "/api/alice/tasks").await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "Buy oat milk");
    assert_all_valid(&model.requests().await);
    // threads.delete took the items with it.
    let items = count(&app.pg().await, "SELECT count(*) FROM chat_items", &[]).await;
    assert_eq!(items, 0);
}

#[tokio::test]
async fn another_users_thread_is_not_found_for_every_request() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    let (status, _, body) = app
        .chatkit(
            "alice",
            json!({"type": "threads.create", "params": {"input": input("hello")}}),
        )
        .await;
    assert_eq!(status, 200);
    let events = stream_events(&body);
    let thread_id = events[0]["thread"]["id"].as_str().unwrap().to_string();
    let user_item = events[1]["item"]["id"].as_str().unwrap().to_string();
    for request in [
        json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        json!({"type": "items.list", "params": {"thread_id": thread_id}}),
        json!({"type": "threads.update", "params": {"thread_id": thread_id, "title": "mine now"}}),
        json!({"type": "threads.delete", "params": {"thread_id": thread_id}}),
        json!({"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [user_item], "kind": "negative"}}),
        json!({"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": input("hi")}}),
        json!({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": user_item}}),
    ] {
        let (status, _, body) = app.chatkit("bob", request.clone()).await;
        assert_eq!(status, 404, "{request}: {body}");
        assert!(body.contains("Thread not found"), "{body}");
    }
    let (_, _, body) = app
        .chatkit("bob", json!({"type": "threads.list", "params": {}}))
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["data"],
        json!([])
    );
    // Alice's thread is untouched: her two items, her title.
    let (status, _, body) = app
        .chatkit(
            "alice",
            json!({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}),
        )
        .await;
    assert_eq!(status, 200);
    let thread: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(thread["title"], "hello");
    assert_eq!(thread["items"]["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        model.requests().await.len(),
        1,
        "bob's requests never reached the model"
    );
}

#[tokio::test]
async fn bad_requests_are_4xx_before_anything_streams() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    for (request, status) in [
        (
            json!({"type": "threads.create", "params": {"input": input(&"x".repeat(4001))}}),
            422,
        ),
        (json!({"type": "threads.create", "params": {}}), 422),
        (json!({"type": "threads.frobnicate", "params": {}}), 422),
        (json!({"params": {}}), 422),
        (
            json!({"type": "threads.list", "params": {"limit": 1000}}),
            422,
        ),
        (
            json!({"type": "threads.list", "params": {"after": "thr_unknown"}}),
            422,
        ),
        (
            json!({"type": "threads.create", "params": {"input": input("hi")}, "metadata": {"time_zone": "Nowhere/Land"}}),
            422,
        ),
        (
            json!({"type": "attachments.create", "params": {"name": "a", "size": 1, "mime_type": "text/plain"}}),
            400,
        ),
        (
            json!({"type": "input.transcribe", "params": {"audio_base64": "", "mime_type": "audio/webm"}}),
            400,
        ),
    ] {
        let (got, content_type, body) = app.chatkit("alice", request.clone()).await;
        assert_eq!(got, status, "{request}: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
    }
    let threads = count(&app.pg().await, "SELECT count(*) FROM chat_threads", &[]).await;
    assert_eq!(threads, 0);
    assert!(model.requests().await.is_empty());
    // Unsupported streaming requests: the protocol's error event.
    for kind in [
        "threads.add_client_tool_output",
        "threads.custom_action",
        "threads.add_structured_input",
    ] {
        let (status, content_type, body) = app
            .chatkit(
                "alice",
                json!({"type": kind, "params": {"thread_id": "thr_x"}}),
            )
            .await;
        assert_eq!(status, 200);
        assert!(content_type.starts_with("text/event-stream"));
        let events = stream_events(&body);
        assert_eq!(events.len(), 1, "{body}");
        assert_eq!(events[0]["type"], "error");
        assert_eq!(events[0]["allow_retry"], false);
        assert!(events[0]["message"]
            .as_str()
            .unwrap()
            .contains("not supported"));
    }
}

#[tokio::test]
async fn a_model_failure_is_an_error_event_after_the_changes_made() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    model
        .script(json!([
            {"tool_calls": [{"name": "create_task", "arguments": {"title": "Renew passport"}}]},
            {"status": 500, "message": "boom"},
        ]))
        .await;
    let (status, _, body) = app
        .chatkit(
            "alice",
            json!({"type": "threads.create", "params": {"input": input("renew passport")},
                   "metadata": {"time_zone": "Asia/Karachi"}}),
        )
        .await;
    assert_eq!(status, 200);
    let events = stream_events(&body);
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.last(), Some(&"error"), "{kinds:?}");
    let error = events.last().unwrap();
    assert!(
        error["message"].as_str().unwrap().contains("HTTP 500"),
        "{error}"
    );
    assert_eq!(error["allow_retry"], true);
    let message = events
        .iter()
        .find(|e| e["type"] == "thread.item.done" && e["item"]["type"] == "assistant_message")
        .expect("an assistant message listing the change");
    let text = message["item"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("created “Renew passport”"), "{text}");
    let tasks: Vec<Value> = app.get_json("alice", "/api/alice/tasks").await;
    assert_eq!(tasks.len(), 1);
    // The ChatKit request's time zone reached the model.
    assert!(system_message(&model.requests().await[0]).contains("Asia/Karachi"));
}

#[tokio::test]
async fn text_is_streamed_as_deltas_of_one_assistant_message() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    let answer = "Here is a longer answer, streamed in several small pieces.";
    model.script(json!([{"text": answer}])).await;
    let (_, _, body) = app
        .chatkit(
            "alice",
            json!({"type": "threads.create", "params": {"input": input("talk to me")}}),
        )
        .await;
    let events = stream_events(&body);
    let deltas: Vec<&str> = events
        .iter()
        .filter(|e| e["update"]["type"] == "assistant_message.content_part.text_delta")
        .map(|e| e["update"]["delta"].as_str().unwrap())
        .collect();
    assert!(
        deltas.len() > 3,
        "the model's chunks are forwarded as they come: {deltas:?}"
    );
    assert_eq!(deltas.concat(), answer);
    let added = events
        .iter()
        .position(|e| e["type"] == "thread.item.added")
        .unwrap();
    let done = events
        .iter()
        .rposition(|e| e["type"] == "thread.item.done")
        .unwrap();
    assert!(added < done);
    assert_eq!(events[done]["item"]["content"][0]["text"], answer);
    assert_eq!(events[added]["item"]["id"], events[done]["item"]["id"]);
}
