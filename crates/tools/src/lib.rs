//! The seven task tools of API.md ("MCP"): `create_task`, `list_tasks`, `get_task`,
//! `update_task`, `delete_task`, `toggle_complete`, `get_stats`.
//!
//! One implementation for every front door that speaks tools: the MCP server serves them over
//! Streamable HTTP, the assistant calls them in-process for the model. Each tool has a
//! definition ([`definitions`]: name, title, description, JSON Schema 2020-12 `inputSchema` and
//! `outputSchema`, annotations). A call ([`call`]) parses the snake_case arguments into the
//! same domain input the REST API builds ([`parse`], pure), and only then opens the database
//! and runs the task operation of `todo-tasks` for the [`Caller`]. Results are the structured
//! JSON the `outputSchema` describes; failures are a [`ToolError`] whose text is the REST API's
//! `detail`, with fields named as the tool's arguments.

mod arguments;
mod definitions;

use serde_json::{json, Value};
use spin_support::db::Db;
use todo_domain::input::{NewTask, TaskChanges};
use todo_domain::listing::ListQuery;
use todo_tasks::{Caller, Created, TaskError};
use uuid::Uuid;

pub use arguments::parse;
pub use definitions::{definition, definitions, ToolAnnotations, ToolDefinition};

/// Why a tool call did not produce its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// No tool has this name (a protocol error for an MCP client).
    UnknownTool(String),
    /// The arguments are not what the tool accepts: the REST API's validation messages, with
    /// each field named as the tool's argument. Nothing was read or written.
    InvalidArguments(String),
    /// The tool ran and failed: not found (also another user's task), a `user_id` argument
    /// that is not the caller, a concurrent change, or the database being unavailable.
    Failed(String),
}

impl ToolError {
    /// The text shown to the client (and the model).
    pub fn message(&self) -> &str {
        match self {
            ToolError::UnknownTool(text)
            | ToolError::InvalidArguments(text)
            | ToolError::Failed(text) => text,
        }
    }
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ToolError {}

/// A validated tool call: the tool and its arguments as domain input.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolCall {
    CreateTask(NewTask),
    ListTasks(ListQuery),
    GetTask(Uuid),
    UpdateTask(Uuid, TaskChanges),
    DeleteTask(Uuid),
    ToggleComplete(Uuid),
    GetStats,
}

/// Runs tool `name` with `arguments` (a JSON object, or null for none) for `caller`: the
/// arguments are validated first; the database is opened only for a valid call.
pub fn call(caller: Caller<'_>, name: &str, arguments: &Value) -> Result<Value, ToolError> {
    call_json(caller, name, arguments).and_then(|text| value_of(&text))
}

/// [`call`], with the result as the JSON text the task operations produced (no parse and
/// re-serialisation, for a front door that only passes it on).
pub fn call_json(caller: Caller<'_>, name: &str, arguments: &Value) -> Result<String, ToolError> {
    let tool_call = parse(caller.user_id, name, arguments)?;
    let db = Db::open().map_err(|error| failed(TaskError::Db(error)))?;
    execute_json(&db, caller, tool_call)
}

/// Runs a validated call on `db` for `caller`.
pub fn execute(db: &Db, caller: Caller<'_>, tool_call: ToolCall) -> Result<Value, ToolError> {
    execute_json(db, caller, tool_call).and_then(|text| value_of(&text))
}

/// [`execute`], with the result as JSON text.
pub fn execute_json(db: &Db, caller: Caller<'_>, tool_call: ToolCall) -> Result<String, ToolError> {
    let outcome = match tool_call {
        ToolCall::CreateTask(new_task) => {
            todo_tasks::create(db, caller, new_task, None).map(|created| match created {
                Created::New(task) | Created::Replayed { body: task, .. } => task.json,
            })
        }
        ToolCall::ListTasks(query) => todo_tasks::list(db, caller, &query).map(|page| {
            let next_cursor = Value::from(page.next_cursor);
            format!(r#"{{"tasks":{},"next_cursor":{next_cursor}}}"#, page.json)
        }),
        ToolCall::GetTask(id) => todo_tasks::get(db, caller, id).map(|task| task.json),
        ToolCall::UpdateTask(id, changes) => {
            todo_tasks::update(db, caller, id, &changes, None).map(|task| task.json)
        }
        ToolCall::DeleteTask(id) => todo_tasks::delete(db, caller, id, None).map(|deleted| {
            json!({ "deleted": true, "task_id": deleted.task_id.to_string() }).to_string()
        }),
        ToolCall::ToggleComplete(id) => {
            todo_tasks::toggle(db, caller, id, None).map(|task| task.json)
        }
        ToolCall::GetStats => todo_tasks::stats(db, caller),
    };
    outcome.map_err(failed)
}

/// JSON text produced by the task operations, as a value.
fn value_of(text: &str) -> Result<Value, ToolError> {
    serde_json::from_str(text).map_err(|error| {
        failed(TaskError::Db(spin_support::db::DbError::Query(format!(
            "task operation returned invalid JSON: {error}"
        ))))
    })
}

/// A failed operation: the REST API's words; an internal cause goes to the request's log line,
/// never to the client.
fn failed(error: TaskError) -> ToolError {
    if let TaskError::Db(cause) = &error {
        spin_support::log::note(format!("tool failed: {cause}"));
    }
    match error {
        TaskError::Invalid(errors) => {
            ToolError::InvalidArguments(arguments::describe_body_errors(&errors))
        }
        other => ToolError::Failed(other.detail()),
    }
}
