//! Notifications and audit routes. Rows are written with SQL here (the services that
//! produce them are tested on their own); what is tested is the API over them.

use serde_json::{json, Value};
use todo_e2e::{spawn_app, TestApp};
use uuid::Uuid;

async fn seed_notification(
    app: &TestApp,
    user: &str,
    message: &str,
    minutes_ago: i32,
    read: bool,
) -> Uuid {
    let id = Uuid::new_v4();
    app.pg()
        .await
        .execute(
            "INSERT INTO notifications (id, user_id, task_id, message, read, created_at) \
             VALUES ($1, $2, gen_random_uuid(), $3, $4, now() - make_interval(mins => $5))",
            &[&id, &user, &message, &read, &minutes_ago],
        )
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn notifications_list_read_read_all_and_delete_are_scoped() {
    let app = spawn_app().await;
    let old = seed_notification(&app, "alice", "Reminder: old", 10, false).await;
    let new = seed_notification(&app, "alice", "Reminder: new", 1, false).await;
    let read = seed_notification(&app, "alice", "Reminder: read", 5, true).await;
    let bobs = seed_notification(&app, "bob", "Reminder: bob", 1, false).await;

    let all: Vec<Value> = app.get_json("alice", "/api/alice/notifications").await;
    let ids: Vec<&str> = all.iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [new.to_string(), read.to_string(), old.to_string()],
        "newest first, only alice's"
    );
    let first = &all[0];
    for key in ["id", "userId", "message", "taskId", "read", "createdAt"] {
        assert!(first.get(key).is_some(), "{key} in {first}");
    }
    assert_eq!(first["userId"], "alice");

    let unread: Vec<Value> = app
        .get_json("alice", "/api/alice/notifications?unread_only=true&limit=1")
        .await;
    assert_eq!(unread.len(), 1);
    assert_eq!(unread[0]["id"], new.to_string());

    let marked = app
        .patch("alice", &format!("/api/alice/notifications/{old}/read"))
        .send()
        .await
        .unwrap();
    assert_eq!(marked.status(), 200);
    assert_eq!(marked.json::<Value>().await.unwrap()["read"], true);

    // Bob's notification is invisible to alice: 404, and it stays unread.
    assert_eq!(
        app.patch("alice", &format!("/api/alice/notifications/{bobs}/read"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.delete("alice", &format!("/api/alice/notifications/{bobs}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let all_read: Value = app
        .patch("alice", "/api/alice/notifications/read-all")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all_read, json!({"count": 1}));

    let deleted = app
        .delete("alice", &format!("/api/alice/notifications/{new}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(
        deleted.json::<Value>().await.unwrap(),
        json!({"success": true})
    );
    assert_eq!(
        app.delete("alice", &format!("/api/alice/notifications/{new}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let bob: Vec<Value> = app
        .get_json("bob", "/api/bob/notifications?unread_only=true")
        .await;
    assert_eq!(bob.len(), 1, "bob's notification untouched");

    for (method, path) in [
        ("PATCH", "/api/alice/notifications/xyz/read"),
        ("DELETE", "/api/alice/notifications/123"),
        ("GET", "/api/alice/notifications?limit=0"),
        ("GET", "/api/alice/notifications?limit=101"),
        ("GET", "/api/alice/notifications?unread_only=maybe"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(app.token("alice"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{method} {path}");
    }
}

async fn seed_audit(app: &TestApp, user: &str, event_type: &str, entity: &str, minutes_ago: i32) {
    app.pg()
        .await
        .execute(
            "INSERT INTO audit_logs (event_id, event_type, entity_type, entity_id, user_id, \"timestamp\", data) \
             VALUES (gen_random_uuid(), $1, 'task', $2, $3, now() - make_interval(mins => $4), $5)",
            &[&event_type, &entity, &user, &minutes_ago, &json!({"task_id": entity})],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn audit_lists_newest_first_with_filters_and_paging() {
    let app = spawn_app().await;
    seed_audit(&app, "alice", "task-created", "t1", 30).await;
    seed_audit(&app, "alice", "task-updated", "t1", 20).await;
    seed_audit(&app, "alice", "task-created", "t2", 10).await;
    seed_audit(&app, "bob", "task-created", "t9", 5).await;

    let all: Vec<Value> = app.get_json("alice", "/api/alice/audit").await;
    let entities: Vec<(&str, &str)> = all
        .iter()
        .map(|a| {
            (
                a["eventType"].as_str().unwrap(),
                a["entityId"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entities,
        [
            ("task-created", "t2"),
            ("task-updated", "t1"),
            ("task-created", "t1")
        ]
    );
    for key in [
        "id",
        "eventType",
        "entityType",
        "entityId",
        "userId",
        "timestamp",
        "data",
    ] {
        assert!(all[0].get(key).is_some(), "{key}");
    }
    assert_eq!(all[0]["data"], json!({"task_id": "t2"}));

    let created: Vec<Value> = app
        .get_json("alice", "/api/alice/audit?event_type=task-created")
        .await;
    assert_eq!(created.len(), 2);
    let t1: Vec<Value> = app.get_json("alice", "/api/alice/audit?entity_id=t1").await;
    assert_eq!(t1.len(), 2);
    let paged: Vec<Value> = app
        .get_json("alice", "/api/alice/audit?limit=1&offset=1")
        .await;
    assert_eq!(paged.len(), 1);
    assert_eq!(paged[0]["entityId"], "t1");
    assert_eq!(paged[0]["eventType"], "task-updated");

    for query in [
        "limit=0",
        "limit=501",
        "offset=-1",
        "event_type=task-exploded",
    ] {
        let response = app
            .get("alice", &format!("/api/alice/audit?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{query}");
    }
}
