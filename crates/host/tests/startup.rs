//! Start-up refusals: each is a clear message and a non-zero exit, as on Spin.

mod common;

use std::time::Duration;

use common::*;

const BASE: &str = r#"
spin_manifest_version = 2
[application]
name = "startup"
[variables]
host = { default = "127.0.0.1:5432" }
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "../../../../../target/wasm32-wasip2/release/fixture_http.wasm"
allowed_outbound_hosts = ["postgres://{{ host }}"]
"#;

fn refused(text: &str, expected: &str) {
    let app = app_from_text(text);
    let (status, out) = app.host().run_to_exit(Duration::from_secs(60));
    assert!(!status.success(), "must exit non-zero:\n{out}");
    assert!(out.contains(expected), "expected '{expected}' in:\n{out}");
    assert!(!out.contains("todo-host: ready"), "{out}");
}

#[test]
fn the_base_manifest_starts() {
    let app = app_from_text(BASE);
    let host = app.host().spawn();
    assert!(host.output().contains("todo-host: ready"));
}

#[test]
fn unknown_manifest_field() {
    refused(
        &BASE.replace("name = \"startup\"", "name = \"startup\"\ncolour = \"red\""),
        "unknown field `colour`",
    );
    refused(&format!("{BASE}files = [\"x\"]\n"), "unknown field `files`");
}

#[test]
fn undefined_variable_in_a_template() {
    refused(
        &BASE.replace("{{ host }}", "{{ nope }}"),
        "undefined variable 'nope'",
    );
}

#[test]
fn required_variable_without_a_value() {
    refused(
        &BASE.replace(
            "host = { default = \"127.0.0.1:5432\" }",
            "host = { required = true }",
        ),
        "variable 'host' is required",
    );
}

#[test]
fn unknown_key_value_label() {
    refused(
        &format!("{BASE}key_value_stores = [\"cache\"]\n"),
        "key-value store 'cache'",
    );
}

#[test]
fn bad_cron_expression_and_cron_fields() {
    let cron = "[[trigger.cron]]\ncomponent = \"web\"\ncron_expression = \"* * * * *\"\n";
    refused(&format!("{BASE}{cron}"), "seconds can not be omitted");
    let cron =
        "[[trigger.cron]]\ncomponent = \"web\"\ncron_expression = \"* * * * * *\"\nid = \"x\"\n";
    refused(&format!("{BASE}{cron}"), "unknown field `id`");
}

#[test]
fn cron_expressions_spin_accepts_start() {
    // `0` (Sunday), `L` and `#` are refused by the `cron` crate but accepted by Spin's cron
    // trigger (croner): the host must start with them, and print each schedule.
    let app = app_from_text(
        r#"
spin_manifest_version = 2
[application]
name = "cron-startup"
[[trigger.cron]]
component = "ticker"
cron_expression = "0 0 9 * * 0"
[[trigger.cron]]
component = "ticker"
cron_expression = "0 0 9 L * *"
[[trigger.cron]]
component = "ticker"
cron_expression = "0 0 9 * * MON#2"
[component.ticker]
source = "../../../../../target/wasm32-wasip2/release/fixture_cron.wasm"
"#,
    );
    let host = app.host().spawn();
    let out = host.output();
    for expression in ["0 0 9 * * 0", "0 0 9 L * *", "0 0 9 * * MON#2"] {
        assert!(
            out.contains(&format!("Cron schedule {expression} -> ticker")),
            "{out}"
        );
    }
}

#[test]
fn missing_component_file_and_unknown_component_id() {
    refused(
        &BASE.replace("fixture_http.wasm", "nope.wasm"),
        "cannot read component",
    );
    let app = app_from_text(BASE);
    let (status, out) = app
        .host()
        .component("ghost")
        .run_to_exit(Duration::from_secs(60));
    assert!(!status.success());
    assert!(out.contains("--component-id 'ghost'"), "{out}");
}

#[test]
fn trigger_export_must_match() {
    // fixture-redis has no wasi:http export.
    refused(
        &BASE.replace("fixture_http.wasm", "fixture_redis.wasm"),
        "does not export wasi:http/incoming-handler",
    );
}

#[test]
fn bad_runtime_config() {
    let app = app_from_text(BASE);
    let rc = app.write(
        "rc.toml",
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\nextra = 1\n",
    );
    let (status, out) = app
        .host()
        .runtime_config(&rc)
        .run_to_exit(Duration::from_secs(60));
    assert!(!status.success());
    assert!(out.contains("invalid runtime config"), "{out}");
}
