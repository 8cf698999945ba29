//! wasmtime's compilation cache, configured as `spin up` configures it: on by default,
//! `--cache <file>` / `WASMTIME_CACHE_FILE` for a configuration file, `--disable-cache` /
//! `DISABLE_WASMTIME_CACHE` to turn it off; `TODO_HOST_CACHE_DIR` moves its directory. The host
//! logs how many of its `.wasm` files it compiled and how many it loaded from the cache.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "cache"
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "../../../../../target/wasm32-wasip2/release/fixture_http.wasm"
"#;

const COMPILED: &str = "0 loaded from the compilation cache, 1 compiled";
const FROM_CACHE: &str = "1 loaded from the compilation cache, 0 compiled";

/// Starts the host, checks that it serves, and returns what it printed once it has said how
/// it got the component (its log goes to stderr, read apart from the stdout readiness line).
fn start(app: &TestApp, env: &[(&str, String)]) -> String {
    let mut builder = app.host();
    for (key, value) in env {
        builder = builder.env(key, value.clone());
    }
    let host = builder.spawn();
    let resp = blocking_get(&format!("{}/?op=hello", host.base_url()));
    assert_eq!(resp, "hello", "{}", host.output());
    host.wait_for_output("loaded from the compilation cache", Duration::from_secs(60));
    host.output()
}

/// Entries wasmtime wrote under `dir` (`modules/wasmtime-<version>/<hash>`).
fn cache_entries(dir: &Path) -> usize {
    let Ok(versions) = std::fs::read_dir(dir.join("modules")) else {
        return 0;
    };
    versions
        .flatten()
        .flat_map(|v| std::fs::read_dir(v.path()).into_iter().flatten().flatten())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            !name.contains('.')
        })
        .count()
}

/// A GET from synchronous code (the host builder is synchronous, the client async).
fn blocking_get(url: &str) -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async { get(url).await.1 })
}

#[test]
fn a_second_start_loads_the_component_from_the_cache() {
    let app = app_from_text(APP);
    let dir = app.path("cache");
    let cache_dir = ("TODO_HOST_CACHE_DIR", dir.display().to_string());

    let first = start(&app, std::slice::from_ref(&cache_dir));
    assert!(first.contains(COMPILED), "{first}");
    assert_eq!(cache_entries(&dir), 1, "{first}");

    let second = start(&app, std::slice::from_ref(&cache_dir));
    assert!(second.contains(FROM_CACHE), "{second}");

    // Turned off as with `spin up --disable-cache`: compiled again.
    let disabled = start(&app, &[cache_dir, ("DISABLE_WASMTIME_CACHE", "1".into())]);
    assert!(disabled.contains(COMPILED), "{disabled}");
}

#[test]
fn a_cache_configuration_file_is_honoured() {
    let app = app_from_text(APP);
    let dir = app.path("from-config");
    let config = app.write(
        "wasmtime-cache.toml",
        &format!("[cache]\ndirectory = {:?}\n", dir.display().to_string()),
    );
    let env = [
        ("WASMTIME_CACHE_FILE", config.display().to_string()),
        ("TODO_HOST_CACHE_DIR", String::new()),
    ];
    let first = start(&app, &env);
    assert!(first.contains(COMPILED), "{first}");
    assert_eq!(cache_entries(&dir), 1, "{first}");
    let second = start(&app, &env);
    assert!(second.contains(FROM_CACHE), "{second}");
}

#[test]
fn a_bad_cache_configuration_refuses_to_start() {
    let app = app_from_text(APP);
    let config = app.write("wasmtime-cache.toml", "[cache]\nenabled = true\n");
    let (status, out) = app
        .host()
        .env("WASMTIME_CACHE_FILE", config.display().to_string())
        .run_to_exit(Duration::from_secs(60));
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("loading the wasmtime cache configuration"),
        "{out}"
    );
    assert!(!out.contains("todo-host: ready"), "{out}");
}

#[test]
fn hosts_started_together_share_one_cold_cache() {
    let app = app_from_text(APP);
    let dir = app.path("shared");
    let outputs: Vec<String> = std::thread::scope(|scope| {
        let starts: Vec<_> = (0..4)
            .map(|_| {
                let app = &app;
                let dir = &dir;
                scope.spawn(move || {
                    start(app, &[("TODO_HOST_CACHE_DIR", dir.display().to_string())])
                })
            })
            .collect();
        starts
            .into_iter()
            .map(|s| s.join().expect("host start"))
            .collect()
    });
    for out in &outputs {
        assert!(out.contains(COMPILED) || out.contains(FROM_CACHE), "{out}");
    }
    assert_eq!(cache_entries(&dir), 1);
    let after = start(&app, &[("TODO_HOST_CACHE_DIR", dir.display().to_string())]);
    assert!(after.contains(FROM_CACHE), "{after}");
}

#[test]
fn components_sharing_a_wasm_file_compile_it_once() {
    let app = app_from_text(&format!(
        "{APP}\n[[trigger.http]]\nroute = \"/twin/...\"\ncomponent = \"twin\"\n\
         [component.twin]\nsource = \"../../../../../target/wasm32-wasip2/release/fixture_http.wasm\"\n"
    ));
    let out = start(&app, &[("DISABLE_WASMTIME_CACHE", "1".into())]);
    assert!(
        out.contains("2 components from 1 .wasm files ready in"),
        "{out}"
    );
    assert!(out.contains(COMPILED), "{out}");
}
