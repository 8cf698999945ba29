use serde_json::{json, Value};
use todo_e2e::spawn_app;

#[tokio::test]
async fn create_returns_201_with_the_documented_shape_and_defaults() {
    let app = spawn_app().await;
    let task = app
        .create_task(
            "alice",
            json!({"title": "  Buy milk  ", "tags": [" Shop ", "shop", "Food"]}),
        )
        .await;
    assert_eq!(task["title"], "Buy milk");
    assert_eq!(task["priority"], "medium");
    assert_eq!(task["category"], "other");
    assert_eq!(task["status"], "pending");
    assert_eq!(task["completed"], false);
    assert_eq!(task["userId"], "alice");
    assert_eq!(task["tags"], json!(["shop", "food"]));
    assert_eq!(task["reminderSent"], false);
    assert_eq!(task["version"], 1);
    for key in [
        "description",
        "dueDate",
        "recurringRule",
        "recurringEndDate",
        "parentTaskId",
        "reminderAt",
    ] {
        assert!(task[key].is_null(), "{key} should be null: {task}");
    }
    let created = task["createdAt"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.len() == 24,
        "instant format: {created}"
    );
    uuid::Uuid::parse_str(task["id"].as_str().unwrap()).unwrap();
}

#[tokio::test]
async fn create_accepts_any_offset_and_empty_strings_as_null() {
    let app = spawn_app().await;
    let task = app
        .create_task(
            "alice",
            json!({"title": "T", "priority": "HIGH", "category": "Work",
                   "dueDate": "2027-01-31T10:00:00+01:00", "reminderAt": "", "recurringEndDate": ""}),
        )
        .await;
    assert_eq!(task["dueDate"], "2027-01-31T09:00:00.000Z");
    assert!(task["reminderAt"].is_null());
    assert_eq!(task["priority"], "high");
    assert_eq!(task["category"], "work");
}

#[tokio::test]
async fn get_update_toggle_delete_round_trip() {
    let app = spawn_app().await;
    let task = app
        .create_task(
            "alice",
            json!({"title": "Write report", "reminderAt": "2030-01-01T00:00:00Z"}),
        )
        .await;
    let id = task["id"].as_str().unwrap();
    let path = format!("/api/alice/tasks/{id}");

    let got = app.get("alice", &path).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["etag"], "\"1\"");
    assert_eq!(got.json::<Value>().await.unwrap(), task);

    // Partial update: absent fields unchanged, explicit null clears.
    let updated: Value = app
        .put(
            "alice",
            &path,
            &json!({"description": "draft", "reminderAt": null}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["title"], "Write report");
    assert_eq!(updated["description"], "draft");
    assert!(updated["reminderAt"].is_null());
    assert_eq!(updated["version"], 2);

    let toggled = app
        .patch("alice", &format!("{path}/complete"))
        .send()
        .await
        .unwrap();
    assert_eq!(toggled.status(), 200);
    let toggled: Value = toggled.json().await.unwrap();
    assert_eq!(toggled["status"], "completed");
    assert_eq!(toggled["completed"], true);
    assert!(toggled["completedAt"].is_string());

    let back: Value = app
        .patch("alice", &format!("{path}/complete"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(back["status"], "pending");
    assert!(back["completedAt"].is_null());

    let deleted = app.delete("alice", &path).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.get("alice", &path).send().await.unwrap().status(), 404);
    assert_eq!(
        app.delete("alice", &path).send().await.unwrap().status(),
        404
    );
}

#[tokio::test]
async fn changing_reminder_at_rearms_the_reminder() {
    let app = spawn_app().await;
    let task = app
        .create_task(
            "alice",
            json!({"title": "R", "reminderAt": "2030-01-01T00:00:00Z"}),
        )
        .await;
    let id = task["id"].as_str().unwrap();
    let pg = app.pg().await;
    pg.execute(
        "UPDATE tasks SET reminder_sent = true WHERE id = $1",
        &[&uuid::Uuid::parse_str(id).unwrap()],
    )
    .await
    .unwrap();
    let updated: Value = app
        .put(
            "alice",
            &format!("/api/alice/tasks/{id}"),
            &json!({"reminderAt": "2030-01-02T00:00:00Z"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["reminderSent"], false);
    assert_eq!(updated["reminderAt"], "2030-01-02T00:00:00.000Z");
}

#[tokio::test]
async fn if_match_guards_update_delete_and_toggle() {
    let app = spawn_app().await;
    let task = app
        .create_task("alice", json!({"title": "Versioned"}))
        .await;
    let path = format!("/api/alice/tasks/{}", task["id"].as_str().unwrap());

    let stale = app
        .put("alice", &path, &json!({"title": "A"}))
        .header("if-match", "\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    assert!(stale.json::<Value>().await.unwrap()["detail"].is_string());

    let fresh = app
        .put("alice", &path, &json!({"title": "A"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 200);
    assert_eq!(fresh.headers()["etag"], "\"2\"");

    let stale_toggle = app
        .patch("alice", &format!("{path}/complete"))
        .header("if-match", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(stale_toggle.status(), 412);
    let stale_delete = app
        .delete("alice", &path)
        .header("if-match", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(stale_delete.status(), 412);
    let current: Value = app
        .get("alice", &path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["title"], "A");
    assert_eq!(current["status"], "pending");

    let garbage = app
        .put("alice", &path, &json!({"title": "B"}))
        .header("if-match", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 422);

    // `*` matches any current version (RFC 9110).
    let any = app
        .put("alice", &path, &json!({"title": "A*"}))
        .header("if-match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(any.status(), 200);
    assert_eq!(any.headers()["etag"], "\"3\"");
    assert_eq!(
        app.delete("alice", &path)
            .header("if-match", "3")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response_and_rejects_a_different_body() {
    let app = spawn_app().await;
    let body = json!({"title": "Once"});
    let first = app
        .post("alice", "/api/alice/tasks", &body)
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = app
        .post("alice", "/api/alice/tasks", &body)
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.json::<Value>().await.unwrap(), first);

    let different = app
        .post("alice", "/api/alice/tasks", &json!({"title": "Other"}))
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap();
    assert_eq!(different.status(), 422);

    // The same key is independent per user.
    let bob = app
        .post("bob", "/api/bob/tasks", &body)
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap();
    assert_eq!(bob.status(), 201);

    let pg = app.pg().await;
    let count: i64 = pg
        .query_one("SELECT count(*) FROM tasks WHERE user_id = 'alice'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1, "a retried create must not create a second task");
    let events: i64 = pg
        .query_one(
            "SELECT count(*) FROM events WHERE user_id = 'alice' AND topic = 'task-created'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 1);
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_create_one_task() {
    let app = spawn_app().await;
    let body = json!({"title": "Race"});
    let requests = (0..8).map(|_| {
        app.post("alice", "/api/alice/tasks", &body)
            .header("idempotency-key", "race")
            .send()
    });
    let responses = futures::future::join_all(requests).await;
    let mut ids = std::collections::HashSet::new();
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status(), 201);
        ids.insert(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ids.len(), 1);
    let pg = app.pg().await;
    let count: i64 = pg
        .query_one("SELECT count(*) FROM tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

async fn assert_422_at(app: &todo_e2e::TestApp, body: Value, field: &str) {
    let before: i64 = app
        .pg()
        .await
        .query_one("SELECT count(*) FROM tasks", &[])
        .await
        .unwrap()
        .get(0);
    let response = app
        .post("alice", "/api/alice/tasks", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422, "body {body}");
    let detail: Value = response.json().await.unwrap();
    let items = detail["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("detail list: {detail}"));
    assert!(
        items.iter().any(|i| i["loc"][0] == "body"
            && i["loc"][1] == field
            && i["msg"].is_string()
            && i["type"].is_string()),
        "expected an error at body.{field}: {detail}"
    );
    let after: i64 = app
        .pg()
        .await
        .query_one("SELECT count(*) FROM tasks", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(before, after, "a rejected create must write nothing");
}

#[tokio::test]
async fn invalid_create_bodies_are_422_with_the_field_and_write_nothing() {
    let app = spawn_app().await;
    let eleven: Vec<String> = (0..11).map(|i| format!("tag{i}")).collect();
    let cases = [
        (json!({"title": ""}), "title"),
        (json!({"title": "   \t "}), "title"),
        (json!({"title": "x".repeat(256)}), "title"),
        (json!({"description": "no title"}), "title"),
        (json!({"title": 5}), "title"),
        (
            json!({"title": "t", "description": "d".repeat(1001)}),
            "description",
        ),
        (json!({"title": "t", "priority": "urgent"}), "priority"),
        (json!({"title": "t", "category": "garden"}), "category"),
        (
            json!({"title": "t", "recurringRule": "hourly"}),
            "recurringRule",
        ),
        (json!({"title": "t", "tags": eleven}), "tags"),
        (json!({"title": "t", "tags": ["x".repeat(51)]}), "tags"),
        (json!({"title": "t", "tags": "a,b"}), "tags"),
        (json!({"title": "t", "dueDate": "tomorrow"}), "dueDate"),
        (
            json!({"title": "t", "reminderAt": "2027-02-30T00:00:00Z"}),
            "reminderAt",
        ),
        (
            json!({"title": "t", "dueDate": "2027-02-01T00:00:00Z", "recurringRule": "daily", "recurringEndDate": "2027-01-01T00:00:00Z"}),
            "recurringEndDate",
        ),
        (
            json!({"title": "t", "timeZone": "Mars/Olympus"}),
            "timeZone",
        ),
    ];
    for (body, field) in cases {
        assert_422_at(&app, body, field).await;
    }

    // 255 characters (multi-byte) is fine.
    app.create_task("alice", json!({"title": "é".repeat(255)}))
        .await;
}

#[tokio::test]
async fn invalid_updates_are_422_and_leave_the_task_unchanged() {
    let app = spawn_app().await;
    let task = app
        .create_task(
            "alice",
            json!({"title": "Keep", "dueDate": "2027-03-01T00:00:00Z", "recurringRule": "weekly"}),
        )
        .await;
    let path = format!("/api/alice/tasks/{}", task["id"].as_str().unwrap());
    for body in [
        json!({"title": ""}),
        json!({"priority": "nope"}),
        json!({"recurringEndDate": "2027-02-01T00:00:00Z"}),
        json!({"tags": ["ok", 3]}),
        json!([1, 2]),
    ] {
        let response = app.put("alice", &path, &body).send().await.unwrap();
        assert_eq!(response.status(), 422, "body {body}");
    }
    let current: Value = app
        .get("alice", &path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current, task);
}

#[tokio::test]
async fn malformed_task_ids_are_422() {
    let app = spawn_app().await;
    for (method, path) in [
        ("GET", "/api/alice/tasks/not-a-uuid"),
        ("PUT", "/api/alice/tasks/123"),
        ("DELETE", "/api/alice/tasks/zzz"),
        ("PATCH", "/api/alice/tasks/1-2-3/complete"),
    ] {
        let request = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(app.token("alice"))
            .json(&json!({"title": "x"}));
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 422, "{method} {path}");
        let detail: Value = response.json().await.unwrap();
        assert_eq!(detail["detail"][0]["loc"], json!(["path", "task_id"]));
    }
}
