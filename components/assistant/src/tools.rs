//! The seven task tools of `todo-tools` (the MCP server's, with the same schemas), as the model
//! sees them and as the loop runs them: in-process, for the token's user only.

use serde_json::Value;
use todo_chat::wire::ToolSpec;
use todo_tasks::Caller;

/// The tools in Chat Completions' terms: name, description, and the input schema as the
/// function's `parameters`.
pub fn specs() -> Vec<ToolSpec> {
    todo_tools::definitions()
        .iter()
        .map(|tool| ToolSpec {
            name: tool.name.to_string(),
            description: tool.description.to_string(),
            parameters: tool.input_schema.clone(),
        })
        .collect()
}

/// Whether a successful call of `name` changed the user's tasks (every tool not marked
/// read-only; an unknown name changes nothing).
pub fn changes_tasks(name: &str) -> bool {
    todo_tools::definition(name).is_some_and(|tool| !tool.annotations.read_only)
}

/// Runs tool `name` for `caller`; an error is the tool's error text (the REST API's words,
/// or which tools exist).
pub fn call(caller: Caller<'_>, name: &str, arguments: &Value) -> Result<Value, String> {
    todo_tools::call(caller, name, arguments).map_err(|error| match error {
        todo_tools::ToolError::UnknownTool(_) => format!(
            "{error}. The tools are: {}.",
            todo_tools::definitions()
                .iter()
                .map(|t| t.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    })
}
