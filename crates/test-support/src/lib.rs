//! Pieces every integration test needs: a throw-away `redis-server` per test, a fresh
//! PostgreSQL database per test (cloned from a migrated template), and the local host
//! running as a child process, exactly as a user would start it.
//!
//! PostgreSQL comes from `TEST_PG_URL`: a superuser URL of a throw-away cluster, which
//! `scripts/test` starts. Redis servers are started here, one per test, so that tests
//! never see each other's pub/sub traffic.

mod database;
mod host;
mod postgres_server;
mod redis_server;

pub use database::{empty_database, fresh_database, TestDatabase};
pub use host::{host_binary, HostBuilder, HostProcess};
pub use postgres_server::PostgresServer;
pub use redis_server::RedisServer;

use std::net::TcpListener;
use std::path::PathBuf;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root exists")
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// Path of a release wasm artefact built by `scripts/build-wasm` (`backend-api` -> `backend_api.wasm`).
pub fn wasm_artifact(package: &str) -> PathBuf {
    repo_root()
        .join("target/wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}
