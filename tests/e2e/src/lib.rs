//! `spawn_app`: a fresh database (migrated), a redis-server of its own, and the real
//! components on the local host, configured through Spin variables exactly as in production.
//! HTTP components run in one host process, event-driven ones in another (as deployed).

use std::path::PathBuf;
use std::time::Duration;

use jwt_simple::prelude::*;
use serde_json::Value;
use test_support::{
    fresh_database, repo_root, HostBuilder, HostProcess, RedisServer, TestDatabase,
};

pub use test_support;

pub const HS256_SECRET: &str = "e2e-test-secret-0123456789abcdef";
pub const SWEEP_TOKEN: &str = "e2e-sweep-token";

/// The component ids behind HTTP triggers in spin.toml, and the rest.
pub const HTTP_COMPONENTS: &[&str] = &["backend-api", "realtime"];

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
    spawn_app_with_local_store(options, LOCAL_STORE).await
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
    let db = fresh_database().await;
    let redis = RedisServer::start();
    let config_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        config_dir.path().join("runtime-config.toml"),
        runtime_config(&redis.url(), local_store),
    )
    .expect("write runtime config");
    let mut builder = host_builder(&db, &redis, config_dir.path(), &options.variables);
    for id in HTTP_COMPONENTS {
        builder = builder.component(id);
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

    pub fn runtime_config_path(&self) -> PathBuf {
        self.config_dir.path().join("runtime-config.toml")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.api.base_url(), path)
    }

    /// A valid HS256 token for `user` (1 hour).
    pub fn token(&self, user: &str) -> String {
        let claims =
            Claims::create(jwt_simple::prelude::Duration::from_hours(1)).with_subject(user);
        HS256Key::from_bytes(HS256_SECRET.as_bytes())
            .authenticate(claims)
            .expect("sign token")
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
}
