//! The outbox relay's sweep route (its token) and cron trigger, and two relays at once.

use std::time::Duration;

use serde_json::Value;
use todo_e2e::db::count;
use todo_e2e::{eventually, outbox_sweep_url, spawn_app, tail, wait_for_log_lines, SWEEP_TOKEN};
use uuid::Uuid;

use crate::{envelope, mutate, relay_without_cron, start, sweep};

/// An unpublished event, as a crashed API would leave it (created a minute ago).
async fn insert_unpublished_event(pg: &tokio_postgres::Client, user: &str) -> Uuid {
    let id = Uuid::now_v7();
    let subject = Uuid::now_v7().to_string();
    let payload = envelope(id, "task-deleted", user, &subject);
    pg.execute(
        "INSERT INTO events (id, topic, user_id, subject, payload, created_at) \
         VALUES ($1, 'task-deleted', $2, $3, $4, now() - interval '1 minute')",
        &[&id, &user, &subject, &payload],
    )
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn sweep_route_requires_the_token_and_publishes_only_with_it() {
    let app = spawn_app().await;
    let relay = relay_without_cron(&app, SWEEP_TOKEN);
    let pg = app.pg().await;
    let event = insert_unpublished_event(&pg, "alice").await;
    let mut pubsub = app.subscribe(&["task-deleted"]).await;

    let url = outbox_sweep_url(&relay);
    let attempts = [
        app.client.post(&url),
        app.client.post(&url).bearer_auth("wrong-token"),
        app.client.post(&url).bearer_auth(format!("{SWEEP_TOKEN}x")),
        app.client
            .post(&url)
            .header("authorization", format!("Basic {SWEEP_TOKEN}")),
        app.client.post(&url).header("authorization", SWEEP_TOKEN),
    ];
    for attempt in attempts {
        let response = attempt.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    let response = app
        .client
        .get(&url)
        .bearer_auth(SWEEP_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let row = pg
        .query_one(
            "SELECT published_at IS NULL, publish_attempts FROM events WHERE id = $1",
            &[&event],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(
        row.get::<_, i32>(1),
        0,
        "a refused sweep touched the outbox"
    );

    let (status, summary) = sweep(&app, &relay, Some(SWEEP_TOKEN)).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["published"], 1, "{summary}");
    // The only message on the channel is the one the authorised sweep published.
    use futures::StreamExt;
    let message = tokio::time::timeout(Duration::from_secs(60), pubsub.on_message().next())
        .await
        .expect("a published message")
        .unwrap();
    let payload: Value = serde_json::from_str(&message.get_payload::<String>().unwrap()).unwrap();
    assert_eq!(payload["id"], event.to_string());
    let published: bool = pg
        .query_one(
            "SELECT published_at IS NOT NULL FROM events WHERE id = $1",
            &[&event],
        )
        .await
        .unwrap()
        .get(0);
    assert!(published);
}

#[tokio::test]
async fn sweep_route_is_closed_without_a_configured_token() {
    let app = spawn_app().await;
    let relay = relay_without_cron(&app, "");
    let pg = app.pg().await;
    let event = insert_unpublished_event(&pg, "alice").await;
    for token in [None, Some(""), Some(SWEEP_TOKEN)] {
        let (status, _) = sweep(&app, &relay, token).await;
        assert_eq!(status, 503);
    }
    let attempts: i32 = pg
        .query_one(
            "SELECT publish_attempts FROM events WHERE id = $1",
            &[&event],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(attempts, 0);
}

#[tokio::test]
async fn the_cron_trigger_runs_the_relay() {
    let app = spawn_app().await;
    let pg = app.pg().await;
    let event = insert_unpublished_event(&pg, "alice").await;
    // spin.toml's cron trigger (every 5 s); nobody calls the route.
    let relay = start(&app, &["outbox-relay"]);
    eventually(
        "the cron tick to publish the event",
        Duration::from_secs(60),
        || async {
            let published: bool = pg
                .query_one(
                    "SELECT published_at IS NOT NULL FROM events WHERE id = $1",
                    &[&event],
                )
                .await
                .unwrap()
                .get(0);
            if published {
                Ok(())
            } else {
                Err(tail(&relay.output(), 40))
            }
        },
    )
    .await;
    // Every tick writes one sweep line; the one that published says so.
    let ticks = wait_for_log_lines(&relay, "the tick's sweep line", 1, |l| {
        l["kind"] == "sweep" && l["counts"]["published"] == 1
    })
    .await;
    assert_eq!(ticks[0]["component"], "outbox-relay");
    assert_eq!(ticks[0]["trigger"], "cron");
    assert_eq!(ticks[0]["outcome"], "ok");
    assert_eq!(ticks[0]["level"], "info");
}

#[tokio::test]
async fn two_relays_at_once_publish_each_event_once() {
    let mut app = spawn_app().await;
    app.redis.stop();
    mutate(&app, "jo", 60).await;
    app.redis.start_again();
    let pg = app.pg().await;
    // Make the backlog old enough to publish, then sweep from two relays at the same time.
    pg.execute(
        "UPDATE events SET created_at = created_at - interval '1 minute'",
        &[],
    )
    .await
    .unwrap();
    let backlog = count(
        &pg,
        "SELECT count(*) FROM events WHERE published_at IS NULL",
        &[],
    )
    .await;
    let relay_a = relay_without_cron(&app, SWEEP_TOKEN);
    let relay_b = relay_without_cron(&app, SWEEP_TOKEN);
    let (a, b) = tokio::join!(
        sweep(&app, &relay_a, Some(SWEEP_TOKEN)),
        sweep(&app, &relay_b, Some(SWEEP_TOKEN))
    );
    assert_eq!(a.0, 200, "{}", a.1);
    assert_eq!(b.0, 200, "{}", b.1);
    let total = a.1["published"].as_i64().unwrap() + b.1["published"].as_i64().unwrap();
    assert_eq!(total, backlog, "{} / {}", a.1, b.1);
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM events WHERE published_at IS NULL",
            &[]
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &pg,
            "SELECT count(*) FROM events WHERE publish_attempts <> 1",
            &[]
        )
        .await,
        0
    );
}
