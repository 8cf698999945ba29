//! `POST /api/chat`: what the model is sent, the reply, threads, limits and configuration.

use serde_json::{json, Value};
use todo_e2e::assistant::{spawn_assistant_app, FakeModel};
use todo_e2e::db::count;
use todo_e2e::{spawn_app_running, AppOptions, TOOLS};

use crate::{assert_all_valid, conversation, system_message};

#[tokio::test]
async fn the_model_gets_the_instructions_the_time_zone_the_tools_and_the_key() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    model
        .script(json!([{"text": "You have no tasks yet."}]))
        .await;
    let (status, body) = app
        .chat(
            "alice",
            json!({"message": "what do I have to do?", "time_zone": "Asia/Karachi"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"], "You have no tasks yet.");
    assert_eq!(body["agent"], "orchestrator");
    assert_eq!(body["tool_calls"], json!([]));
    assert!(body["thread_id"].as_str().unwrap().starts_with("thr_"));
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("error").is_none(), "{body}");

    let requests = model.requests().await;
    assert_eq!(requests.len(), 1);
    assert_all_valid(&requests);
    let request = &requests[0];
    assert_eq!(request["authorization"], "Bearer test-llm-key");
    assert_eq!(request["body"]["model"], "fake-model");
    assert_eq!(request["body"]["stream"], true);
    let tools: Vec<&str> = request["body"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    for name in TOOLS {
        assert!(tools.contains(&name), "{name} missing from {tools:?}");
    }
    let system = system_message(request);
    assert!(system.contains("Act through the tools"), "{system}");
    assert!(system.contains("Asia/Karachi (UTC+05:00 now)"), "{system}");
    assert!(system.contains("+05:00"), "{system}");
    assert!(
        system.contains("Never write a local time with a Z"),
        "{system}"
    );
    assert!(!system.contains("Urdu specialist"), "{system}");
    assert_eq!(
        conversation(request),
        vec![json!({"role": "user", "content": "what do I have to do?"})]
    );
}

#[tokio::test]
async fn an_urdu_message_gets_the_urdu_specialists_instructions() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    model.script(json!([{"text": "ٹھیک ہے"}])).await;
    let (status, body) = app
        .chat(
            "alice",
            json!({"message": "ہر مہینے کی پہلی تاریخ کو صبح 9 بجے کرایہ ادا کرنا یاد دلائیں"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["agent"], "urdu_specialist");
    assert_eq!(body["response"], "ٹھیک ہے");
    let requests = model.requests().await;
    let system = system_message(&requests[0]);
    assert!(system.contains("Urdu specialist"), "{system}");
    assert!(system.contains("Urdu script"), "{system}");
    assert!(
        system.contains("UTC (UTC+00:00 now)"),
        "no zone given, no task: UTC; {system}"
    );
}

#[tokio::test]
async fn without_a_requested_zone_the_latest_tasks_zone_is_used() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    app.create_task(
        "alice",
        json!({"title": "Call mum", "dueDate": "2026-12-01T14:00:00Z", "timeZone": "America/New_York"}),
    )
    .await;
    app.create_task("bob", json!({"title": "Bob's", "timeZone": "Asia/Tokyo"}))
        .await;
    let (status, _) = app.chat("alice", json!({"message": "hello"})).await;
    assert_eq!(status, 200);
    let system = system_message(&model.requests().await[0]);
    assert!(system.contains("America/New_York"), "{system}");
    // A zone in the request wins.
    let (status, _) = app
        .chat(
            "alice",
            json!({"message": "hello", "time_zone": "Europe/Paris"}),
        )
        .await;
    assert_eq!(status, 200);
    let system = system_message(&model.requests().await[1]);
    assert!(system.contains("Europe/Paris"), "{system}");
}

#[tokio::test]
async fn a_thread_keeps_the_conversation_and_twenty_turns_stay_within_the_budget() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    let mut thread_id = Value::Null;
    // Each turn: a 1,900-character message and a short answer. The default budget (40
    // messages, 24,000 characters) holds about a dozen of these turns, not twenty.
    for turn in 0..20 {
        model
            .script(json!([{"text": format!("answer {turn}")}]))
            .await;
        let message = format!("turn {turn}: {}", "x".repeat(1900));
        let (status, body) = app
            .chat("alice", json!({"message": message, "thread_id": thread_id}))
            .await;
        assert_eq!(status, 200, "{body}");
        if turn == 0 {
            thread_id = body["thread_id"].clone();
        } else {
            assert_eq!(body["thread_id"], thread_id, "the same thread");
        }
    }
    let requests = model.requests().await;
    assert_eq!(requests.len(), 20);
    assert_all_valid(&requests);
    // The second turn saw the first whole.
    let second = conversation(&requests[1]);
    assert_eq!(second.len(), 3);
    assert!(second[0]["content"]
        .as_str()
        .unwrap()
        .starts_with("turn 0:"));
    assert_eq!(
        second[1],
        json!({"role": "assistant", "content": "answer 0"})
    );
    for (turn, request) in requests.iter().enumerate() {
        let messages = conversation(request);
        let history = &messages[..messages.len() - 1];
        let chars: usize = history
            .iter()
            .map(|m| m["content"].as_str().map_or(0, |c| c.chars().count()))
            .sum();
        assert!(
            history.len() <= 40,
            "turn {turn}: {} messages",
            history.len()
        );
        assert!(
            chars <= 24_000,
            "turn {turn}: {chars} characters of history"
        );
        // The newest turn before this one is always there.
        if turn > 0 {
            assert_eq!(
                history.last().unwrap(),
                &json!({"role": "assistant", "content": format!("answer {}", turn - 1)})
            );
            assert_eq!(
                history[0]["role"], "user",
                "turn {turn}: starts with a question"
            );
        }
    }
    // By the last turn the oldest turns were dropped.
    let last = conversation(&requests[19]);
    assert!(!last[0]["content"].as_str().unwrap().starts_with("turn 0:"));
    assert!(last.len() < 39, "{} messages", last.len());
}

#[tokio::test]
async fn a_message_over_4000_characters_is_422_and_changes_nothing() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    let (status, body) = app
        .chat("alice", json!({"message": "ے".repeat(4001)}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "message"]));
    assert!(body["detail"][0]["msg"].as_str().unwrap().contains("4000"));
    for bad in [
        json!({}),
        json!({"message": "   "}),
        json!({"message": 42}),
        json!({"message": "hi", "time_zone": "Mars/Olympus"}),
    ] {
        let (status, body) = app.chat("alice", bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let response = app
        .client
        .post(app.url("/api/chat"))
        .bearer_auth(app.token("alice"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Exactly 4000 is fine.
    let (status, _) = app
        .chat("alice", json!({"message": "x".repeat(4000)}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        model.requests().await.len(),
        1,
        "only the valid message reached the model"
    );
    let threads = count(&app.pg().await, "SELECT count(*) FROM chat_threads", &[]).await;
    assert_eq!(threads, 1);
}

#[tokio::test]
async fn another_users_thread_is_not_found() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    let (_, body) = app.chat("alice", json!({"message": "hello"})).await;
    let thread_id = body["thread_id"].as_str().unwrap().to_string();
    let (status, body) = app
        .chat("bob", json!({"message": "hello", "thread_id": thread_id}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["detail"], "Thread not found");
    let (status, _) = app
        .chat(
            "alice",
            json!({"message": "hello", "thread_id": "thr_nope"}),
        )
        .await;
    assert_eq!(status, 404);
    // Alice's thread has only her turn.
    let items = count(
        &app.pg().await,
        "SELECT count(*) FROM chat_items WHERE thread_id = $1",
        &[&thread_id],
    )
    .await;
    assert_eq!(items, 2);
}

#[tokio::test]
async fn auth_methods_and_cors() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[]).await;
    for path in ["/api/chat", "/api/chatkit"] {
        let response = app
            .client
            .post(app.url(path))
            .json(&json!({"message": "hi"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert!(response.headers().contains_key("x-request-id"));
        let response = app
            .client
            .post(app.url(path))
            .bearer_auth("not.a.token")
            .json(&json!({"message": "hi"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        let response = app.get("alice", path).send().await.unwrap();
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(response.headers()["allow"], "POST, OPTIONS");
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{path}");
        assert_eq!(
            response.headers()["access-control-allow-origin"],
            "http://localhost:3000"
        );
    }
    // backend-api still owns the rest of /api.
    app.create_task("alice", json!({"title": "still routed"}))
        .await;
    let response = app.get("alice", "/api/alice/tasks").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(model.requests().await.is_empty());
}

#[tokio::test]
async fn without_a_model_the_chat_endpoints_are_503_naming_the_variable() {
    // No llm_* variables: spin.toml's defaults (OpenAI's URL, no model).
    let app = spawn_app_running(
        AppOptions::default(),
        &["assistant"],
        &[("SPIN_PG_ZERO_ROW_QUERY", "error")],
        todo_e2e::LOCAL_STORE,
    )
    .await;
    let (status, body) = app.chat("alice", json!({"message": "hi"})).await;
    assert_eq!(status, 503, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("llm_model"), "{detail}");
    assert!(detail.contains("SPIN_VARIABLE_LLM_MODEL"), "{detail}");
    let (status, _, text) = app
        .chatkit(
            "alice",
            json!({"type": "threads.create", "params": {"input": {
                "content": [{"type": "input_text", "text": "hi"}], "attachments": [], "inference_options": {}
            }}}),
        )
        .await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("llm_model"), "{text}");
    // Requests that need no model still work.
    let (status, _, text) = app
        .chatkit("alice", json!({"type": "threads.list", "params": {}}))
        .await;
    assert_eq!(status, 200, "{text}");
    let threads = count(&app.pg().await, "SELECT count(*) FROM chat_threads", &[]).await;
    assert_eq!(threads, 0, "nothing stored for a refused message");
}

#[tokio::test]
async fn a_base_url_off_the_allowed_origin_is_503_naming_llm_origin() {
    let model = FakeModel::start();
    let app = spawn_assistant_app(&model, &[("llm_base_url", "http://127.0.0.1:9/v1")]).await;
    let (status, body) = app.chat("alice", json!({"message": "hi"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("llm_origin"),
        "{body}"
    );
}
