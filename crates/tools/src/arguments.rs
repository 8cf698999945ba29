//! Tool arguments into domain input, through the parsers the REST API uses.
//!
//! A tool's snake_case arguments become the REST body (`due_date` -> `dueDate`) or query
//! string (`sort_by`) they stand for, and `todo_domain` validates them exactly as it validates
//! a REST request. Its messages name the REST fields; here they name the tool's arguments.
//! Arguments a tool does not know are refused (the input schemas say
//! `additionalProperties: false`), so a misspelt argument is never silently dropped.

use serde_json::{Map, Value};
use todo_domain::error::FieldError;
use todo_domain::{input, listing};
use uuid::Uuid;

use crate::{ToolCall, ToolError};

/// The REST detail of a `user_id` that is not the caller (API.md: the same as a `403`).
pub const FOREIGN_USER_DETAIL: &str = "Not authorized to access this user's data";

/// Create/update arguments and the REST body fields they stand for.
const TASK_FIELDS: &[(&str, &str)] = &[
    ("title", "title"),
    ("description", "description"),
    ("priority", "priority"),
    ("category", "category"),
    ("due_date", "dueDate"),
    ("recurring_rule", "recurringRule"),
    ("recurring_end_date", "recurringEndDate"),
    ("reminder_at", "reminderAt"),
    ("tags", "tags"),
    ("time_zone", "timeZone"),
];

/// `list_tasks` arguments; each is the REST query parameter of the same name.
const LIST_ARGUMENTS: &[&str] = &[
    "status",
    "priority",
    "category",
    "search",
    "tags",
    "due_before",
    "due_after",
    "sort_by",
    "sort_order",
    "limit",
    "cursor",
];

/// Validates a call of tool `name` made for `caller_user`. Pure: reads nothing, writes nothing.
pub fn parse(caller_user: &str, name: &str, arguments: &Value) -> Result<ToolCall, ToolError> {
    let allowed: Vec<&str> = match name {
        "create_task" => TASK_FIELDS.iter().map(|(argument, _)| *argument).collect(),
        "update_task" => std::iter::once("task_id")
            .chain(TASK_FIELDS.iter().map(|(argument, _)| *argument))
            .collect(),
        "list_tasks" => LIST_ARGUMENTS.to_vec(),
        "get_task" | "delete_task" | "toggle_complete" => vec!["task_id"],
        "get_stats" => vec![],
        other => return Err(ToolError::UnknownTool(format!("Unknown tool: {other}"))),
    };
    let empty = Map::new();
    let arguments = match arguments {
        Value::Object(object) => object,
        Value::Null => &empty,
        other => {
            return Err(ToolError::InvalidArguments(format!(
                "arguments must be an object, got {}",
                type_name(other)
            )))
        }
    };
    check_user(caller_user, arguments)?;
    let unknown: Vec<&str> = arguments
        .keys()
        .map(String::as_str)
        .filter(|key| *key != "user_id" && !allowed.contains(key))
        .collect();
    if !unknown.is_empty() {
        let expected = if allowed.is_empty() {
            "this tool takes no arguments".to_string()
        } else {
            format!("expected {}", allowed.join(", "))
        };
        return Err(ToolError::InvalidArguments(format!(
            "unknown argument{} {}; {expected}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", ")
        )));
    }
    match name {
        "create_task" => input::parse_new_task(&task_body(arguments))
            .map(ToolCall::CreateTask)
            .map_err(|errors| ToolError::InvalidArguments(describe_body_errors(&errors))),
        "update_task" => {
            let id = task_id(arguments);
            let changes = input::parse_task_changes(&task_body(arguments))
                .map_err(|errors| describe_body_errors(&errors));
            match (id, changes) {
                (Ok(id), Ok(changes)) => Ok(ToolCall::UpdateTask(id, changes)),
                (id, changes) => Err(ToolError::InvalidArguments(
                    [id.err(), changes.err()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join("; "),
                )),
            }
        }
        "list_tasks" => list_query(arguments).map(ToolCall::ListTasks),
        "get_task" => task_id(arguments)
            .map(ToolCall::GetTask)
            .map_err(ToolError::InvalidArguments),
        "delete_task" => task_id(arguments)
            .map(ToolCall::DeleteTask)
            .map_err(ToolError::InvalidArguments),
        "toggle_complete" => task_id(arguments)
            .map(ToolCall::ToggleComplete)
            .map_err(ToolError::InvalidArguments),
        _ => Ok(ToolCall::GetStats),
    }
}

/// The seed's tools took a `user_id`; it is accepted, but the caller is always the token's
/// user: any other value fails the call, as a foreign `{user_id}` in a REST path is a `403`.
fn check_user(caller_user: &str, arguments: &Map<String, Value>) -> Result<(), ToolError> {
    match arguments.get("user_id") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(user)) if user == caller_user => Ok(()),
        Some(Value::String(_)) => Err(ToolError::Failed(FOREIGN_USER_DETAIL.into())),
        Some(other) => Err(ToolError::InvalidArguments(format!(
            "user_id must be a string, got {}",
            type_name(other)
        ))),
    }
}

/// The REST body the task arguments stand for.
fn task_body(arguments: &Map<String, Value>) -> Value {
    let body: Map<String, Value> = TASK_FIELDS
        .iter()
        .filter_map(|(argument, field)| {
            arguments
                .get(*argument)
                .map(|value| (field.to_string(), value.clone()))
        })
        .collect();
    Value::Object(body)
}

/// `task_id`, required, a UUID (the REST path rule and words).
fn task_id(arguments: &Map<String, Value>) -> Result<Uuid, String> {
    match arguments.get("task_id") {
        None | Some(Value::Null) => Err("task_id is required".into()),
        Some(Value::String(raw)) => {
            Uuid::parse_str(raw).map_err(|_| "task_id must be a UUID".to_string())
        }
        Some(other) => Err(format!(
            "task_id must be a string, got {}",
            type_name(other)
        )),
    }
}

/// The list arguments as the query string the REST API parses: strings as they are, a
/// number as its decimal text, `tags` as an array of tags (or one comma-separated string).
fn list_query(arguments: &Map<String, Value>) -> Result<listing::ListQuery, ToolError> {
    let mut pairs = Vec::new();
    let mut errors = Vec::new();
    for name in LIST_ARGUMENTS {
        let Some(value) = arguments.get(*name) else {
            continue;
        };
        match (*name, value) {
            (_, Value::Null) => {}
            (_, Value::String(text)) => pairs.push((name.to_string(), text.clone())),
            ("limit", Value::Number(number)) => pairs.push((name.to_string(), number.to_string())),
            ("tags", Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    match item {
                        Value::String(tag) if tag.contains(',') => {
                            errors.push(format!("tags.{index}: a tag cannot contain a comma"))
                        }
                        Value::String(tag) => pairs.push(("tags".to_string(), tag.clone())),
                        other => errors.push(format!(
                            "tags must be an array of strings; element {index} is {}",
                            type_name(other)
                        )),
                    }
                }
            }
            ("limit", other) => errors.push(format!(
                "limit must be an integer, got {}",
                type_name(other)
            )),
            ("tags", other) => errors.push(format!(
                "tags must be an array of strings, got {}",
                type_name(other)
            )),
            (name, other) => {
                errors.push(format!("{name} must be a string, got {}", type_name(other)))
            }
        }
    }
    if !errors.is_empty() {
        return Err(ToolError::InvalidArguments(errors.join("; ")));
    }
    listing::parse_list_query(&pairs).map_err(|errors| {
        ToolError::InvalidArguments(
            errors
                .iter()
                .map(|error| error.msg.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// The REST validation messages of a create/update body, with each REST field name (in the
/// message, outside quoted input) replaced by the tool's argument name.
pub(crate) fn describe_body_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|error| rename_fields(&error.msg))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Replaces whole-word REST field names by argument names outside `'quoted'` input.
fn rename_fields(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut word = String::new();
    let mut quoted = false;
    let flush = |word: &mut String, out: &mut String, quoted: bool| {
        let renamed = (!quoted)
            .then(|| {
                TASK_FIELDS
                    .iter()
                    .find(|(_, field)| field == word)
                    .map(|(argument, _)| *argument)
            })
            .flatten();
        out.push_str(renamed.unwrap_or(word));
        word.clear();
    };
    for c in message.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out, quoted);
        if c == '\'' {
            quoted = !quoted;
        }
        out.push(c);
    }
    flush(&mut word, &mut out, quoted);
    out
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use todo_domain::input::Patch;
    use todo_domain::listing::{SortBy, SortOrder};
    use todo_domain::task::{Priority, Status};

    const ME: &str = "alice";

    fn invalid(name: &str, arguments: Value) -> String {
        match parse(ME, name, &arguments) {
            Err(ToolError::InvalidArguments(text)) => text,
            other => panic!("{name} {arguments}: expected invalid arguments, got {other:?}"),
        }
    }

    #[test]
    fn create_maps_snake_case_arguments_to_the_rest_body() {
        let call = parse(
            ME,
            "create_task",
            &json!({
                "title": " Pay rent ", "priority": "HIGH", "due_date": "2030-01-31T10:00:00+01:00",
                "recurring_rule": "monthly", "recurring_end_date": "2030-12-31T00:00:00Z",
                "reminder_at": "2030-01-31T08:00:00Z", "tags": ["Bills"], "time_zone": "Europe/Paris",
                "user_id": ME
            }),
        )
        .unwrap();
        let ToolCall::CreateTask(task) = call else {
            panic!("{call:?}")
        };
        assert_eq!(task.title.as_str(), "Pay rent");
        assert_eq!(task.priority, Priority::High);
        assert!(task.due_date.is_some() && task.recurring_end_date.is_some());
        assert!(task.reminder_at.is_some() && task.recurring_rule.is_some());
        assert_eq!(task.tags.as_slice(), &["bills".to_string()]);
        assert_eq!(task.time_zone.name(), "Europe/Paris");
    }

    #[test]
    fn validation_messages_are_the_rest_apis_with_argument_names() {
        assert_eq!(invalid("create_task", json!({})), "title is required");
        assert_eq!(
            invalid("create_task", json!({"title": "x", "priority": "urgent"})),
            "unknown priority 'urgent'; expected one of low, medium, high"
        );
        let text = invalid(
            "create_task",
            json!({"title": "x", "due_date": "yesterday"}),
        );
        assert!(
            text.starts_with("due_date: invalid instant 'yesterday'"),
            "{text}"
        );
        let text = invalid(
            "create_task",
            json!({"title": "x", "due_date": "2030-02-01T00:00:00Z",
                   "recurring_end_date": "2030-01-01T00:00:00Z"}),
        );
        assert!(
            text.starts_with(
                "recurring_end_date (2030-01-01T00:00:00.000Z) must not be before due_date"
            ),
            "{text}"
        );
        assert_eq!(
            invalid(
                "create_task",
                json!({"title": "x", "recurring_rule": "hourly"})
            ),
            "unknown recurring_rule 'hourly'; expected one of daily, weekly, monthly, yearly"
        );
        // Every field error is reported, as the REST API's 422 lists them all.
        let text = invalid("create_task", json!({"title": "", "tags": "a,b"}));
        assert_eq!(
            text,
            "title must be 1-255 characters after trimming (it is empty); \
             tags must be an array of strings, got a string"
        );
    }

    #[test]
    fn quoted_input_is_not_renamed() {
        assert_eq!(
            rename_fields("dueDate: invalid instant 'dueDate x'"),
            "due_date: invalid instant 'dueDate x'"
        );
        assert_eq!(rename_fields("timeZone_x timeZone"), "timeZone_x time_zone");
    }

    #[test]
    fn unknown_and_misspelt_arguments_are_refused() {
        assert_eq!(
            invalid(
                "get_task",
                json!({"task_id": uuid::Uuid::nil(), "dueDate": "x"})
            ),
            "unknown argument dueDate; expected task_id"
        );
        assert_eq!(
            invalid("get_stats", json!({"a": 1, "b": 2})),
            "unknown arguments a, b; this tool takes no arguments"
        );
        assert_eq!(
            invalid("get_stats", json!([1])),
            "arguments must be an object, got an array"
        );
        assert_eq!(parse(ME, "get_stats", &Value::Null), Ok(ToolCall::GetStats));
    }

    #[test]
    fn unknown_tools_are_their_own_error() {
        assert_eq!(
            parse(ME, "drop_tables", &json!({})),
            Err(ToolError::UnknownTool("Unknown tool: drop_tables".into()))
        );
    }

    #[test]
    fn task_ids_follow_the_rest_path_rule() {
        assert_eq!(invalid("get_task", json!({})), "task_id is required");
        assert_eq!(
            invalid("delete_task", json!({"task_id": "42"})),
            "task_id must be a UUID"
        );
        assert_eq!(
            invalid("toggle_complete", json!({"task_id": 42})),
            "task_id must be a string, got a number"
        );
        let id = Uuid::now_v7();
        assert_eq!(
            parse(ME, "toggle_complete", &json!({"task_id": id.to_string()})),
            Ok(ToolCall::ToggleComplete(id))
        );
    }

    #[test]
    fn another_users_id_fails_like_a_rest_403_before_anything_else() {
        for (name, arguments) in [
            ("get_stats", json!({"user_id": "bob"})),
            ("create_task", json!({"user_id": "bob", "title": ""})),
            (
                "delete_task",
                json!({"user_id": "bob", "task_id": Uuid::nil()}),
            ),
        ] {
            assert_eq!(
                parse(ME, name, &arguments),
                Err(ToolError::Failed(FOREIGN_USER_DETAIL.into())),
                "{name}"
            );
        }
        assert_eq!(
            invalid("get_stats", json!({"user_id": 7})),
            "user_id must be a string, got a number"
        );
        assert_eq!(
            parse(ME, "get_stats", &json!({"user_id": ME})),
            Ok(ToolCall::GetStats)
        );
    }

    #[test]
    fn update_distinguishes_absent_null_and_values() {
        let id = Uuid::now_v7();
        let call = parse(
            ME,
            "update_task",
            &json!({"task_id": id, "title": "New", "due_date": null, "description": ""}),
        )
        .unwrap();
        let ToolCall::UpdateTask(got, changes) = call else {
            panic!("{call:?}")
        };
        assert_eq!(got, id);
        assert_eq!(changes.title.unwrap().as_str(), "New");
        assert_eq!(changes.due_date, Patch::Clear);
        assert_eq!(changes.description, Patch::Clear);
        assert_eq!(changes.reminder_at, Patch::Unchanged);
        assert_eq!(
            invalid("update_task", json!({"task_id": "x", "priority": 1})),
            "task_id must be a UUID; priority must be a string, got a number"
        );
    }

    #[test]
    fn list_arguments_are_the_rest_query() {
        let call = parse(
            ME,
            "list_tasks",
            &json!({"status": "pending", "tags": ["Home", "work"], "sort_by": "title",
                    "sort_order": "asc", "limit": 5, "search": " milk "}),
        )
        .unwrap();
        let ToolCall::ListTasks(query) = call else {
            panic!("{call:?}")
        };
        assert_eq!(query.status, Some(Status::Pending));
        assert_eq!(query.tags, vec!["home".to_string(), "work".to_string()]);
        assert_eq!(query.sort_by, SortBy::Title);
        assert_eq!(query.sort_order, SortOrder::Asc);
        assert_eq!(query.limit, 5);
        assert_eq!(query.search.as_deref(), Some("milk"));
        assert_eq!(
            invalid("list_tasks", json!({"limit": 0})),
            "limit must be between 1 and 500 (got 0)"
        );
        assert_eq!(
            invalid("list_tasks", json!({"limit": 2.5})),
            "limit must be an integer between 1 and 500 (got '2.5')"
        );
        assert_eq!(
            invalid("list_tasks", json!({"limit": true, "status": 3})),
            "status must be a string, got a number; limit must be an integer, got a boolean"
        );
        assert_eq!(
            invalid("list_tasks", json!({"status": "done"})),
            "unknown status 'done'; expected one of pending, completed"
        );
        assert_eq!(
            invalid("list_tasks", json!({"tags": ["a,b"]})),
            "tags.0: a tag cannot contain a comma"
        );
    }
}
