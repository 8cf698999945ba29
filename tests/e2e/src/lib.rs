//! `spawn_app`: a fresh database (migrated), a redis-server of its own, and the real
//! components on the local host, configured through Spin variables exactly as in production.
//! HTTP components run in one host process, event-driven ones in another (as deployed).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use jwt_simple::prelude::*;
use serde_json::Value;
use test_support::{
    fresh_database, repo_root, HostBuilder, HostProcess, RedisServer, TestDatabase,
};

pub use test_support;
use todo_host::inspect::AppInfo;

pub mod assistant;
pub mod db;
pub mod logs;
pub mod sse;
pub mod stats;
pub mod wait;

pub use logs::{log_lines, request_line, served_url, tail, wait_for_log_lines};
pub use wait::eventually;

/// The Redis channels of API.md, one per event type: the four task topics, then
/// `reminder-due`. Spelled here from the contract rather than taken from the code under test,
/// so that a renamed topic fails the tests.
pub const TOPICS: [&str; 5] = [
    "task-created",
    "task-updated",
    "task-completed",
    "task-deleted",
    "reminder-due",
];

/// The task topics: every channel of [`TOPICS`] but `reminder-due`.
pub const TASK_TOPICS: &[&str] = TOPICS.split_at(4).0;

/// The seven task tools, in the order MCP's `tools/list` gives them (the same for the
/// assistant's model).
pub const TOOLS: [&str; 7] = [
    "create_task",
    "list_tasks",
    "get_task",
    "update_task",
    "delete_task",
    "toggle_complete",
    "get_stats",
];

pub const HS256_SECRET: &str = "e2e-test-secret-0123456789abcdef";
pub const SWEEP_TOKEN: &str = "e2e-sweep-token";

/// The repository's `spin.toml` as the host reads it with the repository's runtime config
/// (the host's own library: the tests follow the same rules as the host and the deploy checks).
pub fn spin_app() -> &'static AppInfo {
    static APP: OnceLock<AppInfo> = OnceLock::new();
    APP.get_or_init(|| {
        let runtime_config = repo_root().join("runtime-config.toml");
        todo_host::inspect::describe(&repo_root().join("spin.toml"), Some(&runtime_config), &[])
            .unwrap_or_else(|e| panic!("spin.toml: {e}"))
    })
}

/// The components of the API process, as deployed: those triggered by HTTP only (the others
/// run in a worker process, whose Redis trigger exits when Redis drops).
pub fn http_components() -> Vec<&'static str> {
    spin_app().http_only_components()
}

/// The component spin.toml routes `path` to, checked to have no cron trigger: in a host of
/// its own it runs exactly when a test calls the route.
pub fn route_only_component(path: &str) -> String {
    let app = spin_app();
    let id = app
        .component_for_path(path)
        .unwrap_or_else(|| panic!("spin.toml routes no component at {path}"));
    let triggers = app.components[&id].trigger_types();
    assert!(
        !triggers.contains("cron"),
        "{id} (at {path}) must not have a cron trigger: {triggers:?}"
    );
    id
}

/// The component spin.toml routes the outbox relay's sweep route to (the relay's .wasm under
/// an id without the cron trigger).
pub fn outbox_sweep_component() -> String {
    route_only_component(OUTBOX_SWEEP_PATH)
}

/// The outbox relay's sweep route.
pub const OUTBOX_SWEEP_PATH: &str = "/internal/sweeps/outbox";

/// The URL of the outbox relay's sweep route on `process` (a host running
/// [`outbox_sweep_component`]).
pub fn outbox_sweep_url(process: &HostProcess) -> String {
    format!("{}{OUTBOX_SWEEP_PATH}", served_url(process))
}

/// A valid HS256 token for `user` (1 hour).
pub fn token(user: &str) -> String {
    let claims = Claims::create(jwt_simple::prelude::Duration::from_hours(1)).with_subject(user);
    HS256Key::from_bytes(HS256_SECRET.as_bytes())
        .authenticate(claims)
        .expect("sign token")
}

/// An HS256 token for `user`, correctly signed, that expired an hour ago.
pub fn expired_token(user: &str) -> String {
    let mut claims =
        Claims::create(jwt_simple::prelude::Duration::from_hours(1)).with_subject(user);
    let now = Clock::now_since_epoch();
    claims.issued_at = Some(now - jwt_simple::prelude::Duration::from_hours(2));
    claims.invalid_before = Some(now - jwt_simple::prelude::Duration::from_hours(2));
    claims.expires_at = Some(now - jwt_simple::prelude::Duration::from_hours(1));
    HS256Key::from_bytes(HS256_SECRET.as_bytes())
        .authenticate(claims)
        .expect("sign token")
}

pub struct TestApp {
    pub db: TestDatabase,
    pub redis: RedisServer,
    pub api: HostProcess,
    pub client: reqwest::Client,
    config_dir: tempfile::TempDir,
    extra_variables: Vec<(String, String)>,
}

#[derive(Default)]
pub struct AppOptions {
    /// Extra Spin variables (name, value), e.g. JWKS settings.
    pub variables: Vec<(String, String)>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    spawn_app_running(options, &[], &[], LOCAL_STORE).await
}

/// The runtime config's `[key_value_store.local]` table as deployed: Spin's in-memory store.
pub const LOCAL_STORE: &str = "type = \"spin\"\n";

/// The runtime config of runtime-config.toml for this Redis, with `local_store` as the body
/// of the `[key_value_store.local]` table.
pub fn runtime_config(redis_url: &str, local_store: &str) -> String {
    format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{redis_url}\"\n\n[key_value_store.local]\n{local_store}"
    )
}

/// `spawn_app_with`, the key-value store `local` configured by `local_store` (the body of its
/// runtime-config table) instead of as deployed.
pub async fn spawn_app_with_local_store(options: AppOptions, local_store: &str) -> TestApp {
    spawn_app_running(options, &[], &[], local_store).await
}

/// [`spawn_app_with`], the API host's environment extended with `host_env` (e.g.
/// `SPIN_PG_ZERO_ROW_QUERY`).
pub async fn spawn_app_with_host_env(options: AppOptions, host_env: &[(&str, &str)]) -> TestApp {
    spawn_app_running(options, &[], host_env, LOCAL_STORE).await
}

/// Like [`spawn_app_with`], with HTTP `components` besides [`http_components`], `host_env`
/// for the host process (e.g. `SPIN_PG_ZERO_ROW_QUERY`) and the `local` store's table.
pub async fn spawn_app_running(
    options: AppOptions,
    components: &[&str],
    host_env: &[(&str, &str)],
    local_store: &str,
) -> TestApp {
    let db = fresh_database().await;
    let redis = RedisServer::start();
    let config_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        config_dir.path().join("runtime-config.toml"),
        runtime_config(&redis.url(), local_store),
    )
    .expect("write runtime config");
    let mut builder = host_builder(&db, &redis, config_dir.path(), &options.variables);
    let mut ids = http_components();
    for id in components {
        if !ids.contains(id) {
            ids.push(id);
        }
    }
    for id in ids {
        builder = builder.component(id);
    }
    for (key, value) in host_env {
        builder = builder.env(key, *value);
    }
    let api = builder.spawn();
    TestApp {
        db,
        redis,
        api,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client"),
        config_dir,
        extra_variables: options.variables,
    }
}

fn host_builder(
    db: &TestDatabase,
    redis: &RedisServer,
    config_dir: &std::path::Path,
    extra_variables: &[(String, String)],
) -> HostBuilder {
    let mut builder = HostBuilder::new(repo_root().join("spin.toml"))
        .runtime_config(config_dir.join("runtime-config.toml"))
        .current_dir(config_dir)
        .variable("db_url", &db.url)
        .variable("db_host", &db.host_port)
        .variable("redis_url", redis.url())
        .variable("redis_host", redis.host_port())
        .variable("jwt_hs256_secret", HS256_SECRET)
        .variable("sweep_token", SWEEP_TOKEN);
    for (name, value) in extra_variables {
        builder = builder.variable(name, value.clone());
    }
    builder
}

impl TestApp {
    /// A host builder for this app's manifest with every variable set for this test's
    /// database and Redis; add `.component(...)` and spawn it.
    pub fn host_builder(&self) -> HostBuilder {
        host_builder(
            &self.db,
            &self.redis,
            self.config_dir.path(),
            &self.extra_variables,
        )
    }

    /// A host builder like [`TestApp::host_builder`] whose database is unreachable (its URL
    /// names a port nothing listened on a moment ago).
    pub fn host_builder_without_database(&self) -> HostBuilder {
        let port = test_support::free_port();
        self.host_builder()
            .variable(
                "db_url",
                format!("postgres://postgres@127.0.0.1:{port}/todo"),
            )
            .variable("db_host", format!("127.0.0.1:{port}"))
    }

    pub fn runtime_config_path(&self) -> PathBuf {
        self.config_dir.path().join("runtime-config.toml")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.api.base_url(), path)
    }

    /// A valid HS256 token for `user` (1 hour).
    pub fn token(&self, user: &str) -> String {
        token(user)
    }

    pub fn get(&self, user: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(self.url(path))
            .bearer_auth(self.token(user))
    }

    pub fn post(&self, user: &str, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth(self.token(user))
            .json(body)
    }

    pub fn put(&self, user: &str, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client
            .put(self.url(path))
            .bearer_auth(self.token(user))
            .json(body)
    }

    /// `method` on `path` as `user` with `body` sent as it is, declared `application/json`
    /// (for bodies that are not valid JSON, or that `serde_json` would not write).
    pub fn raw_json(
        &self,
        method: reqwest::Method,
        user: &str,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(self.token(user))
            .header("content-type", "application/json")
            .body(body)
    }

    pub fn patch(&self, user: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .patch(self.url(path))
            .bearer_auth(self.token(user))
    }

    pub fn delete(&self, user: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .delete(self.url(path))
            .bearer_auth(self.token(user))
    }

    /// `GET path` as `user`, expecting 200, and its JSON body.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, user: &str, path: &str) -> T {
        let response = self.get(user, path).send().await.expect("GET");
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("JSON body")
    }

    /// Creates a task for `user` and returns its JSON (panics unless 201).
    pub async fn create_task(&self, user: &str, body: Value) -> Value {
        let response = self
            .post(user, &format!("/api/{user}/tasks"), &body)
            .send()
            .await
            .expect("POST tasks");
        let status = response.status();
        let json: Value = response.json().await.expect("JSON body");
        assert_eq!(status, 201, "create failed: {json}");
        json
    }

    pub async fn pg(&self) -> tokio_postgres::Client {
        self.db.connect().await
    }

    /// A Redis pub/sub connection subscribed to `channels`, ready before this returns.
    pub async fn subscribe(&self, channels: &[&str]) -> redis::aio::PubSub {
        let client = redis::Client::open(self.redis.url()).expect("redis client");
        let mut pubsub = client.get_async_pubsub().await.expect("redis pubsub");
        for channel in channels {
            pubsub.subscribe(*channel).await.expect("subscribe");
        }
        pubsub
    }

    /// A connection to this test's Redis.
    pub async fn redis_connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis.url())
            .expect("redis client")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// Publishes `payload` on `channel` of this test's Redis, as a producer would.
    pub async fn publish(&self, channel: &str, payload: impl redis::ToRedisArgs) {
        let mut connection = self.redis_connection().await;
        let _receivers: i64 = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut connection)
            .await
            .expect("PUBLISH");
    }

    /// Waits until every one of `channels` has a subscriber (`subscriber`, whose output a
    /// failure shows): a message published before that would reach no one.
    pub async fn wait_for_subscribers(&self, channels: &[&str], subscriber: &HostProcess) {
        let connection = self.redis_connection().await;
        eventually(
            &format!("subscribers on {channels:?}"),
            Duration::from_secs(60),
            || {
                let mut connection = connection.clone();
                async move {
                    let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
                        .arg("NUMSUB")
                        .arg(channels)
                        .query_async(&mut connection)
                        .await
                        .map_err(|e| e.to_string())?;
                    if counts.iter().all(|(_, n)| *n >= 1) {
                        Ok(())
                    } else {
                        Err(format!(
                            "{counts:?}; the subscriber's output ends with:\n{}",
                            tail(&subscriber.output(), 30)
                        ))
                    }
                }
            },
        )
        .await;
    }
}
