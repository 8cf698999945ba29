//! The assistant's test rig: a local OpenAI-compatible model server (`tests/assistant/
//! fake_model.py`, in the pinned venv of `tests/assistant/venv`) and an app whose `assistant`
//! component talks to it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};
use test_support::repo_root;

use crate::{spawn_app_running, AppOptions, TestApp};

/// The venv's python (created on first use, cached under ~/.cache/todo-backend).
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let script = repo_root().join("tests/assistant/venv");
            let output = Command::new(&script)
                .stderr(Stdio::inherit())
                .output()
                .expect("run tests/assistant/venv");
            assert!(output.status.success(), "tests/assistant/venv failed");
            PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
        })
        .clone()
}

/// The scripted model. Stopped (its stdin closed, then killed) on drop.
pub struct FakeModel {
    child: Child,
    port: u16,
    client: reqwest::Client,
}

impl FakeModel {
    pub fn start() -> FakeModel {
        let mut child = Command::new(python())
            .arg(repo_root().join("tests/assistant/fake_model.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the fake model server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the fake model's port");
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected fake model output: {line:?}"));
        FakeModel {
            child,
            port,
            client: reqwest::Client::new(),
        }
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn base_url(&self) -> String {
        format!("{}/v1", self.origin())
    }

    /// Appends scripted answers (see fake_model.py for the step shapes).
    pub async fn script(&self, steps: Value) {
        let response = self
            .client
            .post(format!("{}/_script", self.origin()))
            .json(&json!({ "responses": steps }))
            .send()
            .await
            .expect("script the fake model");
        assert_eq!(response.status(), 200);
    }

    /// Every completion request received so far: `{"body", "authorization", "invalid"}`.
    pub async fn requests(&self) -> Vec<Value> {
        self.client
            .get(format!("{}/_requests", self.origin()))
            .send()
            .await
            .expect("read the fake model's requests")
            .json()
            .await
            .expect("JSON")
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The variables that point the assistant at `model`.
pub fn model_variables(model: &FakeModel) -> Vec<(String, String)> {
    [
        ("llm_base_url", model.base_url()),
        ("llm_origin", model.origin()),
        ("llm_model", "fake-model".to_string()),
        ("llm_api_key", "test-llm-key".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// An app with the assistant, configured for `model`, plus `variables`; every PostgreSQL
/// query that returns no row fails (as it would hang on Spin 4.0.0-4.0.2).
pub async fn spawn_assistant_app(model: &FakeModel, variables: &[(&str, &str)]) -> TestApp {
    let mut all = model_variables(model);
    all.extend(
        variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    spawn_app_running(
        AppOptions { variables: all },
        &["assistant"],
        &[("SPIN_PG_ZERO_ROW_QUERY", "error")],
        crate::LOCAL_STORE,
    )
    .await
}

impl TestApp {
    /// `POST /api/chat` as `user`: status and JSON body.
    pub async fn chat(&self, user: &str, body: Value) -> (u16, Value) {
        let response = self
            .post(user, "/api/chat", &body)
            .send()
            .await
            .expect("POST /api/chat");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST /api/chatkit` as `user`: status, content type and body text.
    pub async fn chatkit(&self, user: &str, body: Value) -> (u16, String, String) {
        let response = self
            .post(user, "/api/chatkit", &body)
            .send()
            .await
            .expect("POST /api/chatkit");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (
            status,
            content_type,
            response.text().await.unwrap_or_default(),
        )
    }
}

/// The JSON of each `data:` event of a ChatKit stream.
pub fn stream_events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|line| line.strip_prefix("data: "))
                .collect();
            (!data.is_empty()).then(|| serde_json::from_str(&data.join("\n")).expect("event JSON"))
        })
        .collect()
}
