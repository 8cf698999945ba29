//! The agent loop of one user message: the instructions, the thread's history within its
//! budget and the message go to the model with the seven task tools; each tool call runs
//! in-process for the token's user and its result (or its error text) goes back to the model;
//! the loop ends with the model's answer, a model failure, or after `llm_max_steps` calls.
//! Each step that called tools is stored in the thread as it completes, so the next message's
//! history has the tool results (ids included) and nothing that changed is forgotten.

use serde_json::{json, Value};
use spin_support::db::Db;
use spin_support::log::note;
use todo_chat::agent::{self, Agent};
use todo_chat::history::{self, HistoryItem, ToolExchange};
use todo_chat::wire::{Message, ToolCall};
use todo_domain::task::TimeZone;
use todo_tasks::Caller;

use crate::model::{self, ModelError};
use crate::settings::LlmSettings;
use crate::{store, tools};

/// Where a turn reports what happens while it runs (the ChatKit stream; nothing for
/// `/api/chat`).
pub trait Progress {
    /// Text of the answer as the model writes it.
    async fn text(&mut self, delta: &str);
    /// A tool is about to run.
    async fn tool_started(&mut self, name: &str);
    /// The client went away: start nothing new.
    fn cancelled(&self) -> bool {
        false
    }
}

/// A `Progress` that reports nowhere.
pub struct Silent;

impl Progress for Silent {
    async fn text(&mut self, _delta: &str) {}
    async fn tool_started(&mut self, _name: &str) {}
}

/// One tool call as the client is told about it.
#[derive(Debug, Clone)]
pub struct ToolRecord {
    pub name: String,
    /// The arguments as the model gave them (JSON, or the raw text when it was not JSON).
    pub arguments: Value,
    pub result: Result<Value, String>,
    /// Whether it changed the user's tasks.
    pub changed: bool,
}

impl ToolRecord {
    pub fn to_json(&self) -> Value {
        match &self.result {
            Ok(result) => {
                json!({"name": self.name, "arguments": self.arguments, "result": result, "is_error": false})
            }
            Err(error) => json!({
                "name": self.name,
                "arguments": self.arguments,
                "result": {"error": error},
                "is_error": true,
            }),
        }
    }

    /// One line for a user: what this change did.
    fn describe_change(&self) -> Option<String> {
        let result = self.result.as_ref().ok().filter(|_| self.changed)?;
        let title = result
            .get("title")
            .and_then(Value::as_str)
            .map(|t| format!("“{t}”"));
        let id = self
            .arguments
            .get("task_id")
            .and_then(Value::as_str)
            .unwrap_or("?");
        Some(match self.name.as_str() {
            "create_task" => format!("created {}", title.unwrap_or_default()),
            "update_task" => format!("updated {}", title.unwrap_or_else(|| id.into())),
            "toggle_complete" => {
                let state = if result.get("completed").and_then(Value::as_bool) == Some(true) {
                    "marked as done"
                } else {
                    "marked as not done"
                };
                format!("{state}: {}", title.unwrap_or_else(|| id.into()))
            }
            "delete_task" => format!("deleted the task {id}"),
            other => format!("ran {other}"),
        })
    }
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The model answered.
    Answered,
    /// The model was still calling tools after `llm_max_steps` calls.
    StepLimit(u32),
    Failed(ModelError),
    /// The client went away before the answer.
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct TurnResult {
    /// What the user is shown: the model's answer, or the failure and what changed before it.
    pub text: String,
    /// The model's own text (all steps).
    pub answer: String,
    pub tool_calls: Vec<ToolRecord>,
    pub outcome: Outcome,
    pub agent: Agent,
}

impl TurnResult {
    /// One line per change a tool made.
    pub fn changes(&self) -> Vec<String> {
        self.tool_calls
            .iter()
            .filter_map(ToolRecord::describe_change)
            .collect()
    }

    /// The model's answer; on a failure, with `failure` (if given) and every change made
    /// before it, so that no change goes unmentioned.
    pub fn answer_with(&self, failure: Option<&str>) -> String {
        let answer = self.answer.trim();
        if matches!(self.outcome, Outcome::Answered | Outcome::Cancelled) {
            return answer.to_string();
        }
        let mut parts: Vec<String> = Vec::new();
        if !answer.is_empty() {
            parts.push(answer.to_string());
        }
        if let Some(failure) = failure {
            parts.push(failure.to_string());
        }
        let changes = self.changes();
        if !changes.is_empty() {
            let list: Vec<String> = changes.iter().map(|c| format!("- {c}")).collect();
            parts.push(format!(
                "What I changed before stopping:\n{}",
                list.join("\n")
            ));
        }
        parts.join("\n\n")
    }

    /// What went wrong, for the user (`None` when the model answered or the client left).
    pub fn failure(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Answered | Outcome::Cancelled => None,
            Outcome::StepLimit(steps) => Some(format!(
                "I stopped after {steps} steps without finishing your request. Please try again, perhaps one thing at a time."
            )),
            Outcome::Failed(error) => Some(error.user_message()),
        }
    }

    /// The `error` of `/api/chat` (`None` when the model answered).
    pub fn error(&self) -> Option<Value> {
        let code = match &self.outcome {
            Outcome::Answered | Outcome::Cancelled => return None,
            Outcome::StepLimit(_) => "step_limit",
            Outcome::Failed(error) => error.code(),
        };
        Some(json!({"code": code, "detail": self.failure()}))
    }
}

pub struct Turn<'a> {
    pub settings: &'a LlmSettings,
    pub db: &'a Db,
    pub caller: Caller<'a>,
    pub thread_id: &'a str,
    pub zone: TimeZone,
    /// The thread's items before this message, oldest first.
    pub history: &'a [HistoryItem],
    pub message: &'a str,
}

/// The zone the model is told: the request's, else the zone of the user's most recent task,
/// else UTC.
pub fn user_zone(db: &Db, user: &str, requested: Option<TimeZone>) -> TimeZone {
    if let Some(zone) = requested {
        return zone;
    }
    match store::latest_task_zone(db, user) {
        Ok(Some(name)) => TimeZone::parse(&name).unwrap_or(TimeZone::UTC),
        Ok(None) => TimeZone::UTC,
        Err(e) => {
            note(format!(
                "reading the user's time zone failed ({e}); using UTC"
            ));
            TimeZone::UTC
        }
    }
}

pub async fn run<P: Progress>(turn: Turn<'_>, progress: &mut P) -> TurnResult {
    let agent = Agent::for_message(turn.message);
    let mut messages = vec![Message::System {
        content: agent::instructions(agent, turn.zone, spin_support::now()),
    }];
    messages.extend(history::within_budget(turn.history, turn.settings.history));
    messages.push(Message::User {
        content: turn.message.to_string(),
    });
    let specs = tools::specs();
    let mut answer = String::new();
    let mut records: Vec<ToolRecord> = Vec::new();
    let mut outcome = Outcome::StepLimit(turn.settings.max_steps);
    for _ in 0..turn.settings.max_steps {
        if progress.cancelled() {
            outcome = Outcome::Cancelled;
            break;
        }
        let completion = {
            // The text of an earlier step and this one's are separate paragraphs.
            let mut sink = Separated {
                inner: &mut *progress,
                pending: (!answer.is_empty()).then_some("\n\n"),
                answer: &mut answer,
            };
            model::complete(turn.settings, &messages, &specs, &mut sink).await
        };
        match completion {
            Ok(completion) => {
                if let Some(done) =
                    step(&turn, &mut messages, &mut records, completion, progress).await
                {
                    outcome = done;
                    break;
                }
            }
            Err(error) => {
                outcome = Outcome::Failed(error);
                break;
            }
        }
    }
    if let Outcome::Failed(error) = &outcome {
        note(format!(
            "thread {}: model call failed: {}",
            turn.thread_id,
            error.cause()
        ));
    }
    let mut result = TurnResult {
        text: String::new(),
        answer,
        tool_calls: records,
        outcome,
        agent,
    };
    result.text = result.answer_with(result.failure().as_deref());
    result
}

/// Runs the tool calls of one completion. `Some(outcome)` ends the turn.
async fn step<P: Progress>(
    turn: &Turn<'_>,
    messages: &mut Vec<Message>,
    records: &mut Vec<ToolRecord>,
    completion: todo_chat::wire::Completion,
    progress: &mut P,
) -> Option<Outcome> {
    if completion.tool_calls.is_empty() {
        return Some(Outcome::Answered);
    }
    let mut exchanges = Vec::new();
    for call in &completion.tool_calls {
        if progress.cancelled() {
            break;
        }
        progress.tool_started(&call.function.name).await;
        let (record, output) = run_tool(turn.caller, call);
        records.push(record);
        exchanges.push(ToolExchange {
            call: call.clone(),
            output,
        });
    }
    // Calls not run (the client went away) are not sent back: a tool call without its result
    // is refused by Chat Completions.
    let calls: Vec<ToolCall> = exchanges.iter().map(|e| e.call.clone()).collect();
    messages.push(Message::Assistant {
        content: None,
        tool_calls: calls,
    });
    for exchange in &exchanges {
        messages.push(Message::Tool {
            tool_call_id: exchange.call.id.clone(),
            content: exchange.output.clone(),
        });
    }
    let step = HistoryItem::ToolStep {
        text: None,
        calls: exchanges,
    };
    if let Err(e) = store::add_item(turn.db, turn.caller.user_id, turn.thread_id, &step) {
        note(format!(
            "thread {}: storing a tool step failed ({e}); the next message's history will miss it",
            turn.thread_id
        ));
    }
    if progress.cancelled() {
        return Some(Outcome::Cancelled);
    }
    None
}

/// Runs one tool call for the caller: its record for the client, and the text the model gets
/// back (the result as JSON, or `{"error": ...}`).
fn run_tool(caller: Caller<'_>, call: &ToolCall) -> (ToolRecord, String) {
    let name = call.function.name.clone();
    let raw = call.function.arguments.trim();
    let parsed: Result<Value, String> = if raw.is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_str(raw)
            .map_err(|e| format!("the arguments are not valid JSON ({e}); send a JSON object"))
    };
    let (arguments, result) = match parsed {
        Ok(arguments) => {
            let result = tools::call(caller, &name, &arguments);
            (arguments, result)
        }
        Err(error) => (Value::String(raw.to_string()), Err(error)),
    };
    let output = match &result {
        Ok(value) => value.to_string(),
        Err(error) => json!({ "error": error }).to_string(),
    };
    let changed = result.is_ok() && tools::changes_tasks(&name);
    (
        ToolRecord {
            name,
            arguments,
            result,
            changed,
        },
        output,
    )
}

/// Passes text on to the real progress and keeps the whole answer; puts `pending` (a
/// paragraph break) before the first text of a later step.
struct Separated<'p, 'a, P: Progress> {
    inner: &'p mut P,
    pending: Option<&'static str>,
    answer: &'a mut String,
}

impl<P: Progress> Progress for Separated<'_, '_, P> {
    async fn text(&mut self, delta: &str) {
        if let Some(separator) = self.pending.take() {
            self.answer.push_str(separator);
            self.inner.text(separator).await;
        }
        self.answer.push_str(delta);
        self.inner.text(delta).await;
    }

    async fn tool_started(&mut self, name: &str) {
        self.inner.tool_started(name).await;
    }

    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}
