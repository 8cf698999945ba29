//! What each tool is, for a client and for a model: name, title, description, input and
//! output JSON Schemas (2020-12; no `$schema`, which MCP reads as 2020-12, and only keywords
//! that mean the same in draft-07, for clients whose validators default to it), annotations.

use std::sync::OnceLock;

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolAnnotations {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    /// Whether the tool reaches beyond a closed domain (it never does: the user's own tasks).
    pub open_world: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolDefinition {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: Value,
    pub output_schema: Value,
    pub annotations: ToolAnnotations,
}

impl ToolDefinition {
    /// The MCP `Tool` object (`tools/list`).
    pub fn to_mcp_json(&self) -> Value {
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "outputSchema": self.output_schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.annotations.read_only,
                "destructiveHint": self.annotations.destructive,
                "idempotentHint": self.annotations.idempotent,
                "openWorldHint": self.annotations.open_world,
            },
        })
    }
}

/// Every tool, in a fixed order.
pub fn definitions() -> &'static [ToolDefinition] {
    static DEFINITIONS: OnceLock<Vec<ToolDefinition>> = OnceLock::new();
    DEFINITIONS.get_or_init(build)
}

pub fn definition(name: &str) -> Option<&'static ToolDefinition> {
    definitions().iter().find(|tool| tool.name == name)
}

const INSTANT: &str = "RFC 3339 date-time with an offset, e.g. 2030-01-31T09:00:00Z or \
                       2030-01-31T10:00:00+01:00 (a bare date means midnight UTC)";

fn nullable_instant(meaning: &str) -> Value {
    json!({
        "type": ["string", "null"],
        "description": format!("{meaning}. {INSTANT}; null or \"\" for none."),
    })
}

/// The fields a task is created with (`create_task`) or changed by (`update_task`).
fn task_input_properties() -> serde_json::Map<String, Value> {
    let Value::Object(properties) = json!({
        "title": {
            "type": "string", "minLength": 1, "maxLength": 255,
            "description": "What to do; trimmed, 1-255 characters."
        },
        "description": {
            "type": ["string", "null"], "maxLength": 1000,
            "description": "Details, at most 1000 characters; null or \"\" for none."
        },
        "priority": {
            "type": "string", "enum": ["low", "medium", "high"],
            "description": "low, medium (default) or high."
        },
        "category": {
            "type": "string", "enum": ["work", "personal", "home", "other"],
            "description": "work, personal, home or other (default)."
        },
        "due_date": nullable_instant("When the task is due"),
        "recurring_rule": {
            "type": ["string", "null"], "enum": ["daily", "weekly", "monthly", "yearly", "", null],
            "description": "Repeat the task: completing it creates the next occurrence \
                            (from due_date, or from its creation without one). null or \"\" for none."
        },
        "recurring_end_date": nullable_instant("Last moment a recurring task repeats (not before due_date)"),
        "reminder_at": nullable_instant("When to remind the user"),
        "tags": {
            "type": ["array", "null"], "maxItems": 10,
            "items": { "type": "string", "minLength": 1, "maxLength": 50 },
            "description": "Up to 10 labels, each 1-50 characters; lower-cased, duplicates removed."
        },
        "time_zone": {
            "type": ["string", "null"],
            "description": "IANA time zone (e.g. America/New_York, default UTC): a recurring task \
                            keeps its due time of day in this zone across daylight-saving changes."
        },
    }) else {
        unreachable!("a JSON object literal")
    };
    properties
}

fn user_id_property() -> Value {
    json!({
        "type": "string",
        "description": "Optional; only ever the signed-in user (any other value fails the call)."
    })
}

fn task_id_property(what: &str) -> Value {
    json!({ "type": "string", "format": "uuid", "description": format!("The id of the task to {what}.") })
}

fn object(properties: serde_json::Map<String, Value>, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn task_output_schema() -> Value {
    let instant = json!({ "type": "string", "format": "date-time" });
    let nullable_instant = json!({ "type": ["string", "null"], "format": "date-time" });
    json!({
        "type": "object",
        "description": "A task.",
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "title": { "type": "string" },
            "description": { "type": ["string", "null"] },
            "priority": { "type": "string", "enum": ["low", "medium", "high"] },
            "category": { "type": "string", "enum": ["work", "personal", "home", "other"] },
            "status": { "type": "string", "enum": ["pending", "completed"] },
            "completed": { "type": "boolean" },
            "dueDate": nullable_instant,
            "createdAt": instant,
            "updatedAt": instant,
            "completedAt": nullable_instant,
            "userId": { "type": "string" },
            "recurringRule": { "type": ["string", "null"], "enum": ["daily", "weekly", "monthly", "yearly", null] },
            "recurringEndDate": nullable_instant,
            "parentTaskId": { "type": ["string", "null"], "format": "uuid" },
            "reminderAt": nullable_instant,
            "reminderSent": { "type": "boolean" },
            "tags": { "type": "array", "items": { "type": "string" } },
            "timeZone": { "type": "string" },
            "version": { "type": "integer" },
        },
        "required": [
            "id", "title", "description", "priority", "category", "status", "completed",
            "dueDate", "createdAt", "updatedAt", "userId", "recurringRule", "recurringEndDate",
            "parentTaskId", "reminderAt", "reminderSent", "tags"
        ],
    })
}

fn build() -> Vec<ToolDefinition> {
    let create_input = {
        let mut properties = task_input_properties();
        properties.insert("user_id".into(), user_id_property());
        object(properties, &["title"])
    };
    let update_input = {
        let mut properties = task_input_properties();
        properties.insert("task_id".into(), task_id_property("change"));
        properties.insert("user_id".into(), user_id_property());
        object(properties, &["task_id"])
    };
    let task_id_input = |what: &str| {
        let mut properties = serde_json::Map::new();
        properties.insert("task_id".into(), task_id_property(what));
        properties.insert("user_id".into(), user_id_property());
        object(properties, &["task_id"])
    };
    let list_input = {
        let Value::Object(mut properties) = json!({
            "status": { "type": "string", "enum": ["pending", "completed", "all"],
                        "description": "Only pending or only completed tasks (default: all)." },
            "priority": { "type": "string", "enum": ["low", "medium", "high", "all"] },
            "category": { "type": "string", "enum": ["work", "personal", "home", "other", "all"] },
            "search": { "type": "string", "maxLength": 1000,
                        "description": "Case-insensitive text to find in the title or description." },
            "tags": { "type": "array", "items": { "type": "string" },
                      "description": "Only tasks that have all of these tags." },
            "due_before": { "type": "string", "description": format!("Due at or before this instant. {INSTANT}.") },
            "due_after": { "type": "string", "description": format!("Due at or after this instant. {INSTANT}.") },
            "sort_by": { "type": "string", "enum": ["createdAt", "updatedAt", "dueDate", "priority", "title"],
                         "description": "Sort key (default createdAt); tasks without a due date sort last." },
            "sort_order": { "type": "string", "enum": ["asc", "desc"], "description": "Default desc." },
            "limit": { "type": "integer", "minimum": 1, "maximum": 500,
                       "description": "Page size, 1-500 (default 100)." },
            "cursor": { "type": "string",
                        "description": "next_cursor of the previous page, with the same sort_by and sort_order." },
        }) else {
            unreachable!("a JSON object literal")
        };
        properties.insert("user_id".into(), user_id_property());
        object(properties, &[])
    };
    let no_input = {
        let mut properties = serde_json::Map::new();
        properties.insert("user_id".into(), user_id_property());
        object(properties, &[])
    };
    let count = json!({ "type": "integer", "minimum": 0 });
    vec![
        ToolDefinition {
            name: "create_task",
            title: "Create task",
            description: "Create a task for the signed-in user and return it. Only title is \
                          required; priority defaults to medium, category to other. Instants are \
                          RFC 3339 with an offset: convert the user's local time with their time \
                          zone.",
            input_schema: create_input,
            output_schema: task_output_schema(),
            annotations: ToolAnnotations {
                read_only: false,
                destructive: false,
                idempotent: false,
                open_world: false,
            },
        },
        ToolDefinition {
            name: "list_tasks",
            title: "List tasks",
            description: "List the signed-in user's tasks, newest first unless sort_by/sort_order \
                          say otherwise, optionally filtered by status, priority, category, tags, \
                          text or due date. Returns at most limit tasks and, when there are more, \
                          a next_cursor to pass back for the next page.",
            input_schema: list_input,
            output_schema: json!({
                "type": "object",
                "properties": {
                    "tasks": { "type": "array", "items": task_output_schema() },
                    "next_cursor": { "type": ["string", "null"],
                                     "description": "Pass as cursor for the next page; null on the last page." },
                },
                "required": ["tasks", "next_cursor"],
            }),
            annotations: ToolAnnotations {
                read_only: true,
                destructive: false,
                idempotent: true,
                open_world: false,
            },
        },
        ToolDefinition {
            name: "get_task",
            title: "Get task",
            description: "Get one of the signed-in user's tasks by id.",
            input_schema: task_id_input("get"),
            output_schema: task_output_schema(),
            annotations: ToolAnnotations {
                read_only: true,
                destructive: false,
                idempotent: true,
                open_world: false,
            },
        },
        ToolDefinition {
            name: "update_task",
            title: "Update task",
            description: "Change fields of one of the signed-in user's tasks and return it. Only \
                          the fields given change; null (or \"\") clears description, due_date, \
                          recurring_rule, recurring_end_date, reminder_at and tags. Changing \
                          reminder_at re-arms the reminder. To complete a task use \
                          toggle_complete.",
            input_schema: update_input,
            output_schema: task_output_schema(),
            annotations: ToolAnnotations {
                read_only: false,
                destructive: true,
                idempotent: true,
                open_world: false,
            },
        },
        ToolDefinition {
            name: "delete_task",
            title: "Delete task",
            description: "Delete one of the signed-in user's tasks for good.",
            input_schema: task_id_input("delete"),
            output_schema: json!({
                "type": "object",
                "properties": {
                    "deleted": { "type": "boolean", "const": true },
                    "task_id": { "type": "string", "format": "uuid" },
                },
                "required": ["deleted", "task_id"],
            }),
            annotations: ToolAnnotations {
                read_only: false,
                destructive: true,
                idempotent: true,
                open_world: false,
            },
        },
        ToolDefinition {
            name: "toggle_complete",
            title: "Toggle complete",
            description:
                "Mark one of the signed-in user's tasks completed, or pending again if it \
                          was completed, and return it. Completing a recurring task schedules its \
                          next occurrence.",
            input_schema: task_id_input("complete or reopen"),
            output_schema: task_output_schema(),
            annotations: ToolAnnotations {
                read_only: false,
                destructive: false,
                idempotent: false,
                open_world: false,
            },
        },
        ToolDefinition {
            name: "get_stats",
            title: "Task statistics",
            description: "Count the signed-in user's tasks: total, pending, completed, overdue \
                          (pending and past due) and high-priority pending.",
            input_schema: no_input,
            output_schema: json!({
                "type": "object",
                "properties": {
                    "total": count, "pending": count, "completed": count,
                    "overdue": count, "highPriorityPending": count,
                },
                "required": ["total", "pending", "completed"],
            }),
            annotations: ToolAnnotations {
                read_only: true,
                destructive: false,
                idempotent: true,
                open_world: false,
            },
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use todo_domain::task::Task;

    #[test]
    fn there_are_the_seven_tools_of_the_seed_in_a_fixed_order() {
        let names: Vec<&str> = definitions().iter().map(|tool| tool.name).collect();
        assert_eq!(
            names,
            [
                "create_task",
                "list_tasks",
                "get_task",
                "update_task",
                "delete_task",
                "toggle_complete",
                "get_stats"
            ]
        );
        assert!(definition("get_task").is_some() && definition("nope").is_none());
    }

    #[test]
    fn every_schema_is_valid_json_schema_2020_12_describing_an_object() {
        for tool in definitions() {
            for schema in [&tool.input_schema, &tool.output_schema] {
                let draft = jsonschema::options().with_draft(jsonschema::Draft::Draft202012);
                assert!(
                    jsonschema::draft202012::meta::is_valid(schema),
                    "{}: {schema}",
                    tool.name
                );
                draft
                    .build(schema)
                    .unwrap_or_else(|e| panic!("{}: {e}", tool.name));
                assert_eq!(schema["type"], "object", "{}", tool.name);
            }
            let mcp = tool.to_mcp_json();
            assert_eq!(mcp["name"], tool.name);
            assert!(mcp["description"].as_str().is_some_and(|d| d.len() > 20));
            for hint in [
                "readOnlyHint",
                "destructiveHint",
                "idempotentHint",
                "openWorldHint",
            ] {
                assert!(
                    mcp["annotations"][hint].is_boolean(),
                    "{} {hint}",
                    tool.name
                );
            }
        }
    }

    #[test]
    fn every_argument_the_parser_accepts_is_in_the_input_schema() {
        for tool in definitions() {
            let properties: Vec<&String> = tool.input_schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .collect();
            for property in &properties {
                let arguments = json!({ property.as_str(): null });
                let outcome = crate::parse("u", tool.name, &arguments);
                assert!(
                    !matches!(&outcome, Err(crate::ToolError::InvalidArguments(t)) if t.starts_with("unknown argument")),
                    "{}: {property} refused: {outcome:?}",
                    tool.name
                );
            }
        }
    }

    #[test]
    fn the_task_schema_accepts_the_apis_task_json() {
        let body = json!({"title": "x", "dueDate": "2030-01-01T00:00:00Z", "tags": ["a"],
                          "recurringRule": "daily"});
        let task = todo_domain::input::parse_new_task(&body)
            .unwrap()
            .into_task(uuid::Uuid::now_v7(), "u", chrono::Utc::now());
        let schema = task_output_schema();
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let json = Task::to_json(&task);
        assert!(validator.is_valid(&json), "{json}");
        let mut broken = json.clone();
        broken["priority"] = json!("urgent");
        assert!(!validator.is_valid(&broken));
    }
}
