//! `fermyon:spin/key-value@2.0.0`: the default SQLite file next to spin.toml, a Redis store
//! from the runtime config, a `spin` store with a path, and the refusals.

mod common;

use common::*;

async fn kv(host: &HostProcess, path: &str, query: &str) -> String {
    let (status, text) = get(&format!("{}{path}?op=kv&{query}", host.base_url())).await;
    assert_eq!(status, 200, "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_store_is_a_sqlite_file_next_to_the_manifest() {
    let app = app("http");
    let host = spawn(app.host()).await;
    assert_eq!(kv(&host, "/x", "action=get&key=a").await, "Ok(None)");
    assert_eq!(kv(&host, "/x", "action=set&key=a&value=1").await, "Ok(())");
    assert_eq!(kv(&host, "/x", "action=set&key=b&value=2").await, "Ok(())");
    assert_eq!(kv(&host, "/x", "action=set&key=a&value=3").await, "Ok(())");
    assert_eq!(kv(&host, "/x", "action=get&key=a").await, "Ok(Some(\"3\"))");
    assert_eq!(kv(&host, "/x", "action=exists&key=b").await, "Ok(true)");
    assert_eq!(kv(&host, "/x", "action=keys").await, "Ok([\"a\", \"b\"])");
    assert_eq!(kv(&host, "/x", "action=delete&key=b").await, "Ok(())");
    assert_eq!(kv(&host, "/x", "action=exists&key=b").await, "Ok(false)");
    assert!(app.path(".spin/sqlite_key_value.db").exists());
    drop(host);
    // Persisted across restarts.
    let host = spawn(app.host()).await;
    assert_eq!(kv(&host, "/x", "action=get&key=a").await, "Ok(Some(\"3\"))");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_labels_are_access_denied() {
    let app = app("http");
    let host = spawn(app.host()).await;
    assert_eq!(
        kv(&host, "/x", "store=other&action=get&key=a").await,
        "open: Error::AccessDenied"
    );
    assert_eq!(
        kv(&host, "/locked/x", "action=get&key=a").await,
        "open: Error::AccessDenied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_config_redis_default_and_spin_store_with_path() {
    let redis = RedisServer::start();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/http/spin.toml"),
    )
    .unwrap()
    .replace(
        "key_value_stores = [\"default\"]",
        "key_value_stores = [\"default\", \"files\"]",
    );
    let app = app_from_text(&text);
    let rc = app.write(
        "runtime-config.toml",
        &format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n\n[key_value_store.files]\ntype = \"spin\"\npath = \"data/files.db\"\n",
            redis.url()
        ),
    );
    let host = spawn(app.host().runtime_config(&rc)).await;
    assert_eq!(
        kv(&host, "/x", "action=set&key=r&value=in-redis").await,
        "Ok(())"
    );
    let mut conn = redis_conn(&redis).await;
    let v: Option<String> = redis::cmd("GET")
        .arg("r")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(v.as_deref(), Some("in-redis"));
    assert_eq!(kv(&host, "/x", "action=exists&key=r").await, "Ok(true)");
    assert_eq!(kv(&host, "/x", "action=keys").await, "Ok([\"r\"])");
    assert_eq!(
        kv(&host, "/x", "store=files&action=set&key=f&value=1").await,
        "Ok(())"
    );
    assert_eq!(
        kv(&host, "/x", "store=files&action=get&key=f").await,
        "Ok(Some(\"1\"))"
    );
    assert!(app.path("data/files.db").exists());
    assert!(!app.path(".spin/sqlite_key_value.db").exists());
}

/// As in Spin (`spin-key-value-spin`: no `path`, `DatabaseLocation::InMemory`): one database
/// per label, shared by every instance of the process, never written to disk, gone on restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spin_store_without_a_path_is_in_memory_for_the_life_of_the_process() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/http/spin.toml"),
    )
    .unwrap()
    .replace(
        "key_value_stores = [\"default\"]",
        "key_value_stores = [\"default\", \"mem\", \"other\"]",
    );
    let app = app_from_text(&text);
    let rc = app.write(
        "runtime-config.toml",
        "[key_value_store.mem]\ntype = \"spin\"\n\n[key_value_store.other]\ntype = \"spin\"\n",
    );
    let host = spawn(app.host().runtime_config(&rc)).await;
    assert_eq!(
        kv(&host, "/x", "store=mem&action=set&key=k&value=kept").await,
        "Ok(())"
    );
    // Another request is another instance: it sees the value.
    assert_eq!(
        kv(&host, "/x", "store=mem&action=get&key=k").await,
        "Ok(Some(\"kept\"))"
    );
    // Each label is a database of its own, and the default store is untouched.
    assert_eq!(
        kv(&host, "/x", "store=other&action=get&key=k").await,
        "Ok(None)"
    );
    assert_eq!(kv(&host, "/x", "action=get&key=k").await, "Ok(None)");
    let files: Vec<_> = walk(&app.path(""))
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "db") && !p.ends_with(".spin/sqlite_key_value.db")
        })
        .collect();
    assert!(files.is_empty(), "no database file: {files:?}");
    drop(host);
    let host = spawn(app.host().runtime_config(&rc)).await;
    assert_eq!(
        kv(&host, "/x", "store=mem&action=get&key=k").await,
        "Ok(None)",
        "gone with the process"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}
