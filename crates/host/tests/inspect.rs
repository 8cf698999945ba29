//! `todo-host inspect`: the application as JSON for scripts, from the same code `up` uses.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const APP: &str = include_str!("apps/inspect/spin.toml");

fn inspect(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(test_support::host_binary());
    command.arg("inspect").args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("SPIN_VARIABLE_") {
            command.env_remove(key);
        }
    }
    let out = command
        .envs(env.iter().copied())
        .output()
        .expect("run todo-host");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn app_dir(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("spin.toml"), text).expect("write manifest");
    dir
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

#[test]
fn describes_the_application_without_variable_values() {
    let dir = app_dir(APP);
    let (ok, stdout, stderr) = inspect(dir.path(), &[], &[]);
    assert!(ok, "{stderr}");
    let v = json(&stdout);
    assert_eq!(v["application"]["name"], "inspected");
    assert_eq!(v["variables"]["db_url"]["required"], true);
    assert_eq!(v["variables"]["db_url"]["secret"], true);
    assert_eq!(
        v["components"]["worker"]["triggers"],
        serde_json::json!([
            {"type": "redis", "channel": "events", "address": "{{ redis_url }}"},
            {"type": "cron", "cron_expression": "*/5 * * * * *"},
        ])
    );
    assert_eq!(
        v["components"]["api"]["uses_variables"],
        serde_json::json!(["db_host", "db_url", "origins"])
    );
    assert_eq!(
        v["components"]["api"]["allowed_outbound_hosts"],
        serde_json::json!(["postgres://{{ db_host }}"])
    );
    assert_eq!(
        v["routes"],
        serde_json::json!([
            {"route": "/api/...", "component": "api"},
            {"route": "/api/users/:id", "component": "users"},
            {"route": "/internal/sweep", "component": "sweep"},
        ])
    );
    assert!(v.get("resolved").is_none());
}

#[test]
fn answers_route_questions_for_the_selected_components() {
    let dir = app_dir(APP);
    let args = [
        "--route",
        "/api/users/42?x=1",
        "--route",
        "/api/tasks",
        "--route",
        "/.well-known/spin/health",
        "--route",
        "/other",
    ];
    let (ok, stdout, stderr) = inspect(dir.path(), &args, &[]);
    assert!(ok, "{stderr}");
    let answers = json(&stdout)["route_answers"].clone();
    assert_eq!(answers[0]["answer"], "component");
    assert_eq!(answers[0]["component"], "users");
    assert_eq!(answers[0]["captures"], serde_json::json!([["id", "42"]]));
    assert_eq!(answers[1]["component"], "api");
    assert_eq!(answers[2]["answer"], "spin");
    assert_eq!(answers[3]["answer"], "not_found");

    let only_api = ["-c", "api", "--route", "/api/users/42"];
    let (ok, stdout, _) = inspect(dir.path(), &only_api, &[]);
    assert!(ok);
    let v = json(&stdout);
    assert_eq!(v["route_answers"][0]["component"], "api");
    assert_eq!(
        v["components"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["api"]
    );

    let only_worker = ["-c", "worker", "--route", "/api/x"];
    let (ok, stdout, _) = inspect(dir.path(), &only_worker, &[]);
    assert!(ok);
    assert_eq!(
        json(&stdout)["route_answers"][0]["answer"],
        "no_http_trigger"
    );
}

#[test]
fn resolves_like_up_and_judges_connections_without_printing_secrets() {
    let dir = app_dir(APP);
    let env = [
        (
            "SPIN_VARIABLE_DB_URL",
            "postgres://todo:hunter2@db.internal:5432/todo",
        ),
        ("SPIN_VARIABLE_DB_HOST", "db.internal:5433"),
    ];
    let (ok, stdout, stderr) = inspect(dir.path(), &["--resolve"], &env);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
    let resolved = json(&stdout)["resolved"].clone();
    assert_eq!(
        resolved["components"]["api"]["allowed_outbound_hosts"],
        serde_json::json!(["postgres://db.internal:5433"])
    );
    let db_url = &resolved["components"]["api"]["variables"]["db_url"];
    assert_eq!(db_url["secret"], true);
    assert!(db_url.get("value").is_none());
    assert_eq!(db_url["connection"]["host"], "db.internal");
    assert_eq!(db_url["connection"]["port"], 5432);
    assert_eq!(db_url["connection"]["allowed"], false);
    assert_eq!(
        resolved["redis_triggers"][0]["address"],
        serde_json::json!({"scheme": "redis", "host": "127.0.0.1", "port": 6379})
    );

    // The same variables from a .env file in the working directory, as `up` reads them.
    std::fs::write(
        dir.path().join(".env"),
        "SPIN_VARIABLE_DB_URL=postgres://todo@db.internal:5433/todo\nSPIN_VARIABLE_DB_HOST=db.internal:5433\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = inspect(dir.path(), &["--resolve"], &[]);
    assert!(ok, "{stderr}");
    let db_url = &json(&stdout)["resolved"]["components"]["api"]["variables"]["db_url"];
    assert_eq!(db_url["connection"]["allowed"], true);
}

#[test]
fn answers_whether_a_component_may_connect() {
    let dir = app_dir(APP);
    let env = [("SPIN_VARIABLE_DB_URL", "postgres://todo@db:5432/todo")];
    let args = [
        "--connect",
        "api=postgres://todo:hunter2@127.0.0.1:5432/todo",
        "--connect",
        "api=postgres://todo@127.0.0.1:5433/todo",
        "--connect",
        "worker=redis://127.0.0.1:6379/0",
        "--connect",
        "worker=https://example.com/",
        "--connect",
        "api=host=127.0.0.1 port=5432 user=todo",
    ];
    let (ok, stdout, stderr) = inspect(dir.path(), &args, &env);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
    let answers = json(&stdout)["connect_answers"].clone();
    let allowed: Vec<_> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["component"].clone(), a["allowed"].clone()))
        .collect();
    assert_eq!(
        allowed,
        [
            ("api".into(), true.into()),
            ("api".into(), false.into()),
            ("worker".into(), true.into()),
            ("worker".into(), false.into()),
            ("api".into(), true.into()),
        ]
    );
    assert_eq!(
        answers[1]["endpoint"],
        serde_json::json!({"scheme": "postgres", "host": "127.0.0.1", "port": 5433})
    );
    assert!(answers[1]["refused_because"]
        .as_str()
        .unwrap()
        .contains("not permitted by allowed_outbound_hosts"));
    assert_eq!(answers[4]["endpoint"], Value::Null);

    let (ok, _, stderr) = inspect(
        dir.path(),
        &["-c", "api", "--connect", "worker=redis://x"],
        &env,
    );
    assert!(!ok);
    assert!(
        stderr.contains("'worker' is not in the manifest or not selected"),
        "{stderr}"
    );
    let (ok, _, stderr) = inspect(dir.path(), &["--connect", "api"], &env);
    assert!(!ok);
    assert!(stderr.contains("expected ID=URL"), "{stderr}");
}

#[test]
fn fails_as_up_fails() {
    let dir = app_dir(APP);
    let (ok, stdout, stderr) = inspect(dir.path(), &["--resolve"], &[]);
    assert!(!ok && stdout.is_empty());
    assert!(stderr.contains("'db_url' is required"), "{stderr}");

    let dir = app_dir(&APP.replace("{{ db_host }}", "{{ db_hots }}"));
    let (ok, _, stderr) = inspect(dir.path(), &[], &[]);
    assert!(!ok);
    assert!(stderr.contains("undefined variable 'db_hots'"), "{stderr}");

    let dir = app_dir(&APP.replace(
        "source = \"users.wasm\"",
        "source = \"users.wasm\"\nfiles = []",
    ));
    let (ok, _, stderr) = inspect(dir.path(), &[], &[]);
    assert!(!ok);
    assert!(stderr.contains("unknown field `files`"), "{stderr}");

    let dir = app_dir(APP);
    let (ok, _, stderr) = inspect(dir.path(), &["-c", "nope"], &[]);
    assert!(!ok);
    assert!(stderr.contains("--component-id 'nope'"), "{stderr}");
}

#[test]
fn describes_the_repository_application() {
    let root = test_support::repo_root();
    let (ok, stdout, stderr) = inspect(
        &root,
        &["-f", "spin.toml", "--runtime-config-file", "runtime-config.toml"],
        &[],
    );
    assert!(ok, "{stderr}");
    let v = json(&stdout);
    let components = v["components"].as_object().unwrap();
    assert!(components.contains_key("backend-api"), "{stdout}");
    for (id, c) in components {
        let source = c["source"].as_str().unwrap();
        assert!(source.ends_with(".wasm"), "{id}: {source}");
    }
}
