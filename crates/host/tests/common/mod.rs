//! Shared helpers of the host tests: fixture apps copied into a temporary directory (so each
//! test has its own `.spin/` key-value file), and small HTTP helpers.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::time::Duration;

#[allow(unused_imports)]
pub use test_support::{empty_database, HostBuilder, HostProcess, RedisServer};

pub const FIXTURES: [&str; 3] = ["fixture-http", "fixture-redis", "fixture-cron"];

/// A fixture application in a temporary directory.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub manifest: PathBuf,
}

impl TestApp {
    pub fn host(&self) -> HostBuilder {
        HostBuilder::new(&self.manifest).current_dir(self.dir.path())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).expect("write test file");
        p
    }
}

fn check_fixtures_built() {
    for f in FIXTURES {
        let p = test_support::wasm_artifact(f);
        assert!(
            p.exists(),
            "{} is missing: build the fixtures first (scripts/build-wasm, or `cargo build --target wasm32-wasip2 --release -p {f}`)",
            p.display()
        );
    }
}

/// Copies `tests/apps/<name>/spin.toml`, making the wasm paths absolute.
pub fn app(name: &str) -> TestApp {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/apps")
        .join(name)
        .join("spin.toml");
    let text = std::fs::read_to_string(&src).expect("fixture manifest exists");
    app_from_text(&text)
}

/// A manifest given as text; `../../../../../target/` in `source` paths means the repo's target dir.
pub fn app_from_text(text: &str) -> TestApp {
    check_fixtures_built();
    let target = test_support::repo_root().join("target");
    let text = text.replace("../../../../../target", &target.display().to_string());
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = dir.path().join("spin.toml");
    std::fs::write(&manifest, text).expect("write manifest");
    TestApp { dir, manifest }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client")
}

pub async fn get(url: &str) -> (u16, String) {
    let resp = client().get(url).send().await.expect("request succeeds");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

pub async fn post_json(url: &str, body: &serde_json::Value) -> (u16, String) {
    let resp = client()
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .expect("request succeeds");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

/// Runs the host in a blocking thread (the builder waits synchronously for readiness).
pub async fn spawn(builder: HostBuilder) -> HostProcess {
    tokio::task::spawn_blocking(move || builder.spawn())
        .await
        .expect("spawn thread")
}

pub async fn redis_conn(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to the test redis")
}
