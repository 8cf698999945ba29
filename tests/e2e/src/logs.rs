//! What the hosts print: the components' JSON log lines and the host's own lines.

use std::time::Duration;

use serde_json::Value;
use test_support::HostProcess;

use crate::eventually;

/// The JSON log lines (`spin_support::log`) a host has printed so far, in order.
pub fn log_lines(process: &HostProcess) -> Vec<Value> {
    process
        .output()
        .lines()
        .filter(|line| line.starts_with('{'))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("kind").is_some())
        .collect()
}

/// Waits until `process` has printed at least `n` log lines matching `wanted` and returns them.
/// (The host forwards component output asynchronously, so a line can arrive after the effect a
/// test already saw.)
pub async fn wait_for_log_lines(
    process: &HostProcess,
    what: &str,
    n: usize,
    wanted: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    eventually(what, Duration::from_secs(60), || {
        let lines: Vec<Value> = log_lines(process)
            .into_iter()
            .filter(|l| wanted(l))
            .collect();
        let result = if lines.len() >= n {
            Ok(lines)
        } else {
            Err(format!(
                "{} of {n} lines; output ends with:\n{}",
                lines.len(),
                tail(&process.output(), 30)
            ))
        };
        std::future::ready(result)
    })
    .await
}

/// The log line of the request with this `X-Request-Id` (waits for it).
pub async fn request_line(process: &HostProcess, request_id: &str) -> Value {
    let mut lines = wait_for_log_lines(
        process,
        &format!("the line of request {request_id}"),
        1,
        |l| l["kind"] == "request" && l["requestId"] == request_id,
    )
    .await;
    assert_eq!(lines.len(), 1, "one line per request: {lines:?}");
    lines.remove(0)
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The address a host serves HTTP on, read from its `Serving http://...` line (bounded wait).
pub fn served_url(process: &HostProcess) -> String {
    assert!(
        process.wait_for_output("Serving http://", Duration::from_secs(60)),
        "{}",
        process.output()
    );
    process
        .output()
        .lines()
        .find_map(|line| line.split("Serving ").nth(1))
        .map(|url| url.trim().trim_end_matches('/').to_string())
        .expect("a Serving line")
}
