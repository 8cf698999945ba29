//! Exactly once through reconnects, duplicate publishes and the outbox relay's republishing,
//! and fan-out to many streams of many users.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use todo_e2e::sse::{open_stream, sse_client, sse_request, Sse};
use todo_e2e::{outbox_sweep_component, spawn_app, TOPICS};

use crate::{assert_task_frame, start_fanout, stream_ids_increase, task_id, topic_of, WAIT};

#[tokio::test]
async fn reconnecting_with_last_event_id_delivers_exactly_the_missed_events_then_live_ones() {
    let app = spawn_app().await;
    let _workers = start_fanout(&app).await;
    let client = sse_client();
    let mut first = open_stream(&app, &client, "alice").await;
    let task = app.create_task("alice", json!({"title": "v1"})).await;
    let id = task["id"].as_str().unwrap().to_string();
    let path = format!("/api/alice/tasks/{id}");
    app.put("alice", &path, &json!({"title": "v2"}))
        .send()
        .await
        .unwrap();
    let seen = first.events(2, WAIT).await;
    assert_eq!(seen[1].2["data"]["title"], "v2");
    let last_seen = seen[1].0.clone();
    drop(first);

    // Three changes while disconnected.
    for (title, status) in [("v3", 200), ("v4", 200)] {
        let response = app
            .put("alice", &path, &json!({"title": title}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
    }
    assert_eq!(
        app.delete("alice", &path).send().await.unwrap().status(),
        204
    );

    let mut resumed =
        Sse::open(sse_request(&app, &client, "alice").header("Last-Event-ID", &last_seen)).await;
    let missed = resumed.events(3, WAIT).await;
    assert_task_frame(&missed[0], "task-updated", "updated", &id, "alice");
    assert_eq!(missed[0].2["data"]["title"], "v3");
    assert_task_frame(&missed[1], "task-updated", "updated", &id, "alice");
    assert_eq!(missed[1].2["data"]["title"], "v4");
    assert_task_frame(&missed[2], "task-deleted", "deleted", &id, "alice");
    stream_ids_increase(&[
        seen[1].clone(),
        missed[0].clone(),
        missed[1].clone(),
        missed[2].clone(),
    ]);

    let live = app.create_task("alice", json!({"title": "live"})).await;
    let next = resumed.next_event(WAIT).await;
    assert_task_frame(
        &next,
        "task-created",
        "created",
        live["id"].as_str().unwrap(),
        "alice",
    );
    resumed.assert_quiet(Duration::from_millis(1000)).await;
    drop(resumed);

    // The same through the query string (EventSource-style token and position).
    let url = app.url(&format!(
        "/api/sse/alice?access_token={}&last_event_id={}",
        app.token("alice"),
        missed[1].0
    ));
    let mut by_query = Sse::open(client.get(url)).await;
    let replay = by_query.events(2, WAIT).await;
    assert_eq!(replay[0].0, missed[2].0);
    assert_eq!(replay[1].0, next.0);
    by_query.assert_quiet(Duration::from_millis(500)).await;
}

#[tokio::test]
async fn an_event_published_twice_is_delivered_once_and_garbage_is_ignored() {
    let app = spawn_app().await;
    let _workers = start_fanout(&app).await;
    let client = sse_client();
    let mut pubsub = app.subscribe(&["task-created"]).await;
    let mut stream = open_stream(&app, &client, "alice").await;

    let first = app.create_task("alice", json!({"title": "once"})).await;
    let payload: String = {
        let mut messages = pubsub.on_message();
        let message = tokio::time::timeout(WAIT, messages.next())
            .await
            .unwrap()
            .unwrap();
        message.get_payload().unwrap()
    };
    // The relay's republish, twice over, plus messages that are not envelopes.
    for message in [
        payload.as_str(),
        "not json",
        "{\"specversion\":\"1.0\"}",
        payload.as_str(),
    ] {
        app.publish("task-created", message).await;
    }
    let second = app.create_task("alice", json!({"title": "barrier"})).await;

    let events = stream.events(2, WAIT).await;
    assert_task_frame(
        &events[0],
        "task-created",
        "created",
        first["id"].as_str().unwrap(),
        "alice",
    );
    assert_task_frame(
        &events[1],
        "task-created",
        "created",
        second["id"].as_str().unwrap(),
        "alice",
    );
    stream.assert_quiet(Duration::from_millis(1500)).await;
    let len: i64 = redis::cmd("XLEN")
        .arg("rt:alice")
        .query_async(&mut app.redis_connection().await)
        .await
        .unwrap();
    assert_eq!(len, 2);
}

/// The real relay publishing an event the API had already published (the API crashed between
/// its publish and marking the row): the stream still carries it once.
#[tokio::test]
async fn an_event_republished_by_the_outbox_relay_is_delivered_once() {
    let app = spawn_app().await;
    let workers = app
        .host_builder()
        .component("realtime-fanout")
        .component(&outbox_sweep_component())
        .spawn();
    app.wait_for_subscribers(&TOPICS, &workers).await;
    let sweep_url = todo_e2e::outbox_sweep_url(&workers);
    let client = sse_client();
    let mut stream = open_stream(&app, &client, "alice").await;

    let first = app
        .create_task("alice", json!({"title": "published twice"}))
        .await;
    let first_id = first["id"].as_str().unwrap();
    let event = stream.next_event(WAIT).await;
    assert_task_frame(&event, "task-created", "created", first_id, "alice");
    let reset = app
        .pg()
        .await
        .execute(
            "UPDATE events SET published_at = NULL, created_at = now() - interval '1 minute' \
             WHERE subject = $1",
            &[&first_id],
        )
        .await
        .unwrap();
    assert_eq!(reset, 1);
    let response = app
        .client
        .post(&sweep_url)
        .bearer_auth(todo_e2e::SWEEP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let republished = app
        .pg()
        .await
        .query_one(
            "SELECT published_at IS NOT NULL FROM events WHERE subject = $1",
            &[&first_id],
        )
        .await
        .unwrap();
    assert!(
        republished.get::<_, bool>(0),
        "the relay published the event again"
    );
    let event_id: String = app
        .pg()
        .await
        .query_one(
            "SELECT id::text FROM events WHERE subject = $1",
            &[&first_id],
        )
        .await
        .unwrap()
        .get(0);
    // The fanout received the republished event and appended nothing.
    let lines = todo_e2e::wait_for_log_lines(&workers, "the fanout's second line", 2, |l| {
        l["component"] == "realtime-fanout" && l["eventId"] == event_id
    })
    .await;
    let outcomes: Vec<&Value> = lines.iter().map(|l| &l["outcome"]).collect();
    assert_eq!(
        outcomes,
        [&json!("appended"), &json!("duplicate")],
        "{lines:?}"
    );

    let second = app.create_task("alice", json!({"title": "barrier"})).await;
    let next = stream.next_event(WAIT).await;
    assert_task_frame(
        &next,
        "task-created",
        "created",
        second["id"].as_str().unwrap(),
        "alice",
    );
    stream.assert_quiet(Duration::from_millis(1000)).await;
}

#[tokio::test]
async fn two_hundred_streams_for_twenty_users_each_get_exactly_their_users_events() {
    const USERS: usize = 20;
    const STREAMS_PER_USER: usize = 10;
    const MUTATIONS_PER_USER: usize = 50; // 1,000 in all
    let app = spawn_app().await;
    let _workers = start_fanout(&app).await;
    let client = sse_client();
    let users: Vec<String> = (0..USERS).map(|i| format!("load-user-{i}")).collect();

    let opened = Instant::now();
    let mut streams = Vec::new();
    for chunk in users
        .iter()
        .flat_map(|u| std::iter::repeat_n(u.clone(), STREAMS_PER_USER))
        .collect::<Vec<_>>()
        .chunks(25)
    {
        let opening = chunk.iter().map(|user| {
            let user = user.clone();
            let app = &app;
            let client = &client;
            async move { (user.clone(), open_stream(app, client, &user).await) }
        });
        streams.extend(futures::future::join_all(opening).await);
    }
    eprintln!("opened {} streams in {:?}", streams.len(), opened.elapsed());

    // Per user, sequential mutations (so each user's commit order is defined); users in
    // parallel. Half creates, half updates of those tasks.
    let started = Instant::now();
    let expected: HashMap<String, Vec<(String, String)>> =
        futures::future::join_all(users.iter().map(|user| {
            let app = &app;
            async move {
                let mut log = Vec::new();
                let mut ids = Vec::new();
                for i in 0..MUTATIONS_PER_USER / 2 {
                    let task = app
                        .create_task(user, json!({"title": format!("t{i}")}))
                        .await;
                    let id = task["id"].as_str().unwrap().to_string();
                    log.push(("task-created".to_string(), id.clone()));
                    ids.push(id);
                }
                for id in &ids {
                    let response = app
                        .put(
                            user,
                            &format!("/api/{user}/tasks/{id}"),
                            &json!({"priority": "high"}),
                        )
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    log.push(("task-updated".to_string(), id.clone()));
                }
                (user.clone(), log)
            }
        }))
        .await
        .into_iter()
        .collect();
    eprintln!(
        "{} mutations in {:?}",
        USERS * MUTATIONS_PER_USER,
        started.elapsed()
    );

    let checks = streams.iter_mut().map(|(user, stream)| {
        let want = &expected[user.as_str()];
        async move {
            let events = stream.events(want.len(), Duration::from_secs(120)).await;
            let got: Vec<(String, String)> = events
                .iter()
                .map(|(_, _, data)| {
                    assert_eq!(data["user_id"], user.as_str());
                    (topic_of(data), task_id(data).to_string())
                })
                .collect();
            assert_eq!(&got, want, "stream of {user}");
            stream.assert_quiet(Duration::from_millis(1000)).await;
        }
    });
    futures::future::join_all(checks).await;
    eprintln!("all streams verified after {:?}", started.elapsed());
}
