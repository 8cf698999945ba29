//! Request bodies: parse-don't-validate constructors for create and update, and the merge of
//! an update into a stored task.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{kinds, FieldError};
use crate::task::{
    format_instant, parse_instant, shorten, Category, Description, Priority, RecurringRule, Status,
    Tags, Task, TimeZone, Title,
};

/// A field of a partial update: absent / explicit `null` (or `""` for the three instant fields,
/// `description`, and `recurringRule`) / a value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Unchanged,
    Clear,
    Set(T),
}

impl<T: Clone> Patch<T> {
    /// The value after applying this patch to `current`.
    pub fn apply(&self, current: &Option<T>) -> Option<T> {
        match self {
            Patch::Unchanged => current.clone(),
            Patch::Clear => None,
            Patch::Set(v) => Some(v.clone()),
        }
    }

    pub fn is_unchanged(&self) -> bool {
        matches!(self, Patch::Unchanged)
    }
}

/// A validated create body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub title: Title,
    pub description: Option<Description>,
    /// default `Medium`
    pub priority: Priority,
    /// default `Other`
    pub category: Category,
    pub due_date: Option<DateTime<Utc>>,
    pub recurring_rule: Option<RecurringRule>,
    pub recurring_end_date: Option<DateTime<Utc>>,
    pub reminder_at: Option<DateTime<Utc>>,
    pub tags: Tags,
    pub time_zone: TimeZone,
}

impl NewTask {
    /// The stored state of the new task: pending, `created_at = updated_at = now`, version 1,
    /// occurrence 0, no parent, reminder not sent. `due_date` is kept as given (a recurring task
    /// without one recurs from `created_at`, see [`Task::own_anchor`]).
    pub fn into_task(self, id: Uuid, user_id: impl Into<String>, now: DateTime<Utc>) -> Task {
        Task {
            id,
            user_id: user_id.into(),
            title: self.title,
            description: self.description,
            priority: self.priority,
            category: self.category,
            status: Status::Pending,
            due_date: self.due_date,
            created_at: now,
            updated_at: now,
            completed_at: None,
            recurring_rule: self.recurring_rule,
            recurring_end_date: self.recurring_end_date,
            parent_task_id: None,
            reminder_at: self.reminder_at,
            reminder_sent: false,
            tags: self.tags,
            time_zone: self.time_zone,
            version: 1,
            occurrence_index: 0,
        }
    }
}

/// A validated update body. `None`/`Unchanged` = the field was absent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskChanges {
    pub title: Option<Title>,
    pub description: Patch<Description>,
    pub priority: Option<Priority>,
    pub category: Option<Category>,
    pub due_date: Patch<DateTime<Utc>>,
    pub recurring_rule: Patch<RecurringRule>,
    pub recurring_end_date: Patch<DateTime<Utc>>,
    pub reminder_at: Patch<DateTime<Utc>>,
    /// `null` clears the tags (`Some(Tags::empty())`).
    pub tags: Option<Tags>,
    /// `""` resets to UTC.
    pub time_zone: Option<TimeZone>,
    /// From `completed` (bool) and/or `status` ("pending"/"completed"); they must agree.
    pub completed: Option<bool>,
}

impl TaskChanges {
    /// `true` if the body named no known field.
    pub fn is_empty(&self) -> bool {
        *self == TaskChanges::default()
    }
}

/// One changed field: camelCase name and its JSON value (as in [`Task::to_json`]) before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: Value,
    pub after: Value,
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

fn body_object(body: &Value) -> Result<&Map<String, Value>, Vec<FieldError>> {
    body.as_object().ok_or_else(|| {
        vec![FieldError::new(
            &["body"],
            "request body must be a JSON object",
            kinds::DICT_TYPE,
        )]
    })
}

/// How a message names the JSON type of `v` ("a string", "an array", ...).
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expect_str<'a>(field: &str, v: &'a Value) -> Result<&'a str, FieldError> {
    v.as_str().ok_or_else(|| {
        FieldError::body(
            field,
            format!("{field} must be a string, got {}", type_name(v)),
            kinds::STRING_TYPE,
        )
    })
}

/// Collects errors while parsing fields.
struct Errors(Vec<FieldError>);

impl Errors {
    fn take<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }
}

fn parse_enum<T: std::str::FromStr<Err = String>>(field: &str, v: &Value) -> Result<T, FieldError> {
    let s = expect_str(field, v)?;
    s.parse::<T>()
        .map_err(|msg| FieldError::body(field, msg, kinds::ENUM))
}

fn parse_title(v: &Value) -> Result<Title, FieldError> {
    Title::parse(expect_str("title", v)?)
}

fn parse_description(v: &Value) -> Result<Option<Description>, FieldError> {
    Description::parse(expect_str("description", v)?)
}

/// `""`, `"none"` (any case) mean "not recurring".
fn parse_rule(v: &Value) -> Result<Option<RecurringRule>, FieldError> {
    let s = expect_str("recurringRule", v)?;
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    t.parse::<RecurringRule>()
        .map(Some)
        .map_err(|msg| FieldError::body("recurringRule", msg, kinds::ENUM))
}

/// `""` (or whitespace) means null.
fn parse_opt_instant(field: &str, v: &Value) -> Result<Option<DateTime<Utc>>, FieldError> {
    let s = expect_str(field, v)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    parse_instant(s)
        .map(Some)
        .map_err(|msg| FieldError::body(field, format!("{field}: {msg}"), kinds::DATETIME))
}

fn parse_tags(v: &Value) -> Result<Tags, FieldError> {
    let arr = v.as_array().ok_or_else(|| {
        FieldError::body(
            "tags",
            format!("tags must be an array of strings, got {}", type_name(v)),
            kinds::LIST_TYPE,
        )
    })?;
    // Cheap guard before normalising: far more entries than could ever dedupe to 10.
    if arr.len() > 1000 {
        return Err(FieldError::body(
            "tags",
            format!(
                "at most 10 distinct tags are allowed (got {} entries)",
                arr.len()
            ),
            kinds::TOO_LONG,
        ));
    }
    let mut strings = Vec::with_capacity(arr.len());
    for (i, item) in arr.iter().enumerate() {
        match item.as_str() {
            Some(s) => strings.push(s.to_string()),
            None => {
                return Err(FieldError::new(
                    &["body", "tags", &i.to_string()],
                    format!(
                        "tags must be an array of strings; element {i} is {}",
                        type_name(item)
                    ),
                    kinds::STRING_TYPE,
                ))
            }
        }
    }
    Tags::parse(&strings)
}

fn parse_time_zone(v: &Value) -> Result<TimeZone, FieldError> {
    let s = expect_str("timeZone", v)?;
    if s.trim().is_empty() {
        return Ok(TimeZone::UTC);
    }
    TimeZone::parse(s)
}

fn parse_bool(field: &str, v: &Value) -> Result<bool, FieldError> {
    v.as_bool().ok_or_else(|| {
        FieldError::body(
            field,
            format!("{field} must be a boolean, got {}", type_name(v)),
            kinds::BOOL_TYPE,
        )
    })
}

/// `Some(v)` if present and not null.
fn present<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.get(key).filter(|v| !v.is_null())
}

fn end_before_due(due: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<FieldError> {
    match (due, end) {
        (Some(d), Some(e)) if e < d => Some(FieldError::body(
            "recurringEndDate",
            format!(
                "recurringEndDate ({}) must not be before dueDate ({})",
                format_instant(e),
                format_instant(d)
            ),
            kinds::VALUE_ERROR,
        )),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------

/// Parses a create body. `Err` = every field error found (loc `["body", "<camelCaseField>"]`);
/// a non-object body gives one error at `["body"]`. Unknown fields are ignored (FastAPI
/// default); `null` for an optional field means "absent".
pub fn parse_new_task(body: &Value) -> Result<NewTask, Vec<FieldError>> {
    let o = body_object(body)?;
    let mut errs = Errors(Vec::new());

    let title = match present(o, "title") {
        Some(v) => errs.take(parse_title(v)),
        None => {
            errs.0.push(FieldError::body(
                "title",
                "title is required",
                kinds::MISSING,
            ));
            None
        }
    };
    let description = present(o, "description").map(|v| errs.take(parse_description(v)));
    let priority = present(o, "priority").map(|v| errs.take(parse_enum::<Priority>("priority", v)));
    let category = present(o, "category").map(|v| errs.take(parse_enum::<Category>("category", v)));
    let due_date = present(o, "dueDate").map(|v| errs.take(parse_opt_instant("dueDate", v)));
    let recurring_rule = present(o, "recurringRule").map(|v| errs.take(parse_rule(v)));
    let recurring_end_date =
        present(o, "recurringEndDate").map(|v| errs.take(parse_opt_instant("recurringEndDate", v)));
    let reminder_at =
        present(o, "reminderAt").map(|v| errs.take(parse_opt_instant("reminderAt", v)));
    let tags = present(o, "tags").map(|v| errs.take(parse_tags(v)));
    let time_zone = present(o, "timeZone").map(|v| errs.take(parse_time_zone(v)));

    let due_date = due_date.flatten().flatten();
    let recurring_end_date = recurring_end_date.flatten().flatten();
    if let Some(e) = end_before_due(due_date, recurring_end_date) {
        errs.0.push(e);
    }
    if !errs.0.is_empty() {
        return Err(errs.0);
    }
    Ok(NewTask {
        title: title.expect("no errors implies a title"),
        description: description.flatten().flatten(),
        priority: priority.flatten().unwrap_or_default(),
        category: category.flatten().unwrap_or_default(),
        due_date,
        recurring_rule: recurring_rule.flatten().flatten(),
        recurring_end_date,
        reminder_at: reminder_at.flatten().flatten(),
        tags: tags.flatten().unwrap_or_default(),
        time_zone: time_zone.flatten().unwrap_or_default(),
    })
}

fn patch<T>(
    o: &Map<String, Value>,
    key: &str,
    errs: &mut Errors,
    f: impl FnOnce(&Value) -> Result<Option<T>, FieldError>,
) -> Patch<T> {
    match o.get(key) {
        None => Patch::Unchanged,
        Some(Value::Null) => Patch::Clear,
        Some(v) => match errs.take(f(v)) {
            Some(Some(x)) => Patch::Set(x),
            Some(None) => Patch::Clear,
            None => Patch::Unchanged,
        },
    }
}

/// Parses an update body (partial: absent = unchanged, explicit `null` = cleared).
///
/// `null` for a field that cannot be null (`title`, `priority`, `category`, `timeZone`,
/// `completed`, `status`) means "unchanged", as the seed's all-optional update model did;
/// `tags: null` clears the tags. `completed` (bool) and `status` are accepted; if both are given
/// they must agree. Unknown fields are ignored. Cross-field rules are checked by
/// [`apply_changes`] on the merged result.
pub fn parse_task_changes(body: &Value) -> Result<TaskChanges, Vec<FieldError>> {
    let o = body_object(body)?;
    let mut errs = Errors(Vec::new());
    let mut c = TaskChanges {
        title: present(o, "title").and_then(|v| errs.take(parse_title(v))),
        description: patch(o, "description", &mut errs, parse_description),
        priority: present(o, "priority").and_then(|v| errs.take(parse_enum("priority", v))),
        category: present(o, "category").and_then(|v| errs.take(parse_enum("category", v))),
        due_date: patch(o, "dueDate", &mut errs, |v| parse_opt_instant("dueDate", v)),
        recurring_rule: patch(o, "recurringRule", &mut errs, parse_rule),
        recurring_end_date: patch(o, "recurringEndDate", &mut errs, |v| {
            parse_opt_instant("recurringEndDate", v)
        }),
        reminder_at: patch(o, "reminderAt", &mut errs, |v| {
            parse_opt_instant("reminderAt", v)
        }),
        tags: match o.get("tags") {
            None => None,
            Some(Value::Null) => Some(Tags::empty()),
            Some(v) => errs.take(parse_tags(v)),
        },
        time_zone: present(o, "timeZone").and_then(|v| errs.take(parse_time_zone(v))),
        completed: present(o, "completed").and_then(|v| errs.take(parse_bool("completed", v))),
    };
    if let Some(v) = present(o, "status") {
        if let Some(st) = errs.take(parse_enum::<Status>("status", v)) {
            let from_status = st == Status::Completed;
            match c.completed {
                Some(b) if b != from_status => errs.0.push(FieldError::body(
                    "status",
                    format!(
                        "status '{}' contradicts completed {}",
                        shorten(st.as_str()),
                        b
                    ),
                    kinds::VALUE_ERROR,
                )),
                _ => c.completed = Some(from_status),
            }
        }
    }
    if errs.0.is_empty() {
        Ok(c)
    } else {
        Err(errs.0)
    }
}

/// Applies `changes` to a stored task. Returns the new state and the fields whose value actually
/// changed, as `(camelCaseName, before_json, after_json)` in [`Task::to_json`] order.
///
/// - Cross-field rules are checked on the merged result: `recurringEndDate` before `dueDate` is
///   an error at `["body","recurringEndDate"]`.
/// - Changing `reminderAt` (to a different value) resets `reminder_sent` to `false`.
/// - `completed` true/false maintains `completed_at` as [`Task::toggle`] does.
/// - If anything changed, `updated_at = now` and `version += 1`; if nothing changed, the task is
///   returned as is with an empty change list (the caller may skip the write and the event).
pub fn apply_changes(
    task: &Task,
    changes: &TaskChanges,
    now: DateTime<Utc>,
) -> Result<(Task, Vec<FieldChange>), Vec<FieldError>> {
    let mut t = task.clone();
    if let Some(v) = &changes.title {
        t.title = v.clone();
    }
    t.description = changes.description.apply(&t.description);
    if let Some(v) = changes.priority {
        t.priority = v;
    }
    if let Some(v) = changes.category {
        t.category = v;
    }
    t.due_date = changes.due_date.apply(&t.due_date);
    t.recurring_rule = changes.recurring_rule.apply(&t.recurring_rule);
    t.recurring_end_date = changes.recurring_end_date.apply(&t.recurring_end_date);
    t.reminder_at = changes.reminder_at.apply(&t.reminder_at);
    if t.reminder_at != task.reminder_at {
        t.reminder_sent = false;
    }
    if let Some(v) = &changes.tags {
        t.tags = v.clone();
    }
    if let Some(v) = changes.time_zone {
        t.time_zone = v;
    }
    if let Some(done) = changes.completed {
        t.set_status(
            if done {
                Status::Completed
            } else {
                Status::Pending
            },
            now,
        );
    }
    if let Some(e) = end_before_due(t.due_date, t.recurring_end_date) {
        return Err(vec![e]);
    }

    let (b, a) = (task.to_json(), t.to_json());
    let mut out = Vec::new();
    for field in DIFFED_FIELDS {
        if b[*field] != a[*field] {
            out.push(FieldChange {
                field,
                before: b[*field].clone(),
                after: a[*field].clone(),
            });
        }
    }
    if !out.is_empty() {
        t.touch(now);
    }
    Ok((t, out))
}

/// Fields an update can change, in `to_json` order (`updatedAt`/`version` excluded).
const DIFFED_FIELDS: &[&str] = &[
    "title",
    "description",
    "priority",
    "category",
    "status",
    "completed",
    "dueDate",
    "completedAt",
    "recurringRule",
    "recurringEndDate",
    "reminderAt",
    "reminderSent",
    "tags",
    "timeZone",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::tests::sample_task;
    use serde_json::json;

    fn errs(body: Value) -> Vec<FieldError> {
        parse_new_task(&body).unwrap_err()
    }

    fn locs(e: &[FieldError]) -> Vec<String> {
        e.iter().map(|e| e.loc.join(".")).collect()
    }

    #[test]
    fn minimal_create_gets_defaults() {
        let t = parse_new_task(&json!({"title": "  Buy milk  "})).unwrap();
        assert_eq!(t.title.as_str(), "Buy milk");
        assert_eq!(t.priority, Priority::Medium);
        assert_eq!(t.category, Category::Other);
        assert_eq!(t.description, None);
        assert_eq!(t.due_date, None);
        assert!(t.tags.is_empty());
        assert_eq!(t.time_zone, TimeZone::UTC);
        assert_eq!(t.recurring_rule, None);
    }

    #[test]
    fn full_create() {
        let t = parse_new_task(&json!({
            "title": "Pay rent", "description": " monthly ", "priority": "HIGH", "category": "Home",
            "dueDate": "2026-01-31T10:00:00+01:00", "recurringRule": "Monthly",
            "recurringEndDate": "2026-12-31T23:59:59Z", "reminderAt": "2026-01-31T08:00:00Z",
            "tags": [" Bills", "bills", "HOME"], "timeZone": "Europe/Paris", "unknownField": 1
        }))
        .unwrap();
        assert_eq!(t.description.unwrap().as_str(), "monthly");
        assert_eq!(t.priority, Priority::High);
        assert_eq!(t.category, Category::Home);
        assert_eq!(
            format_instant(t.due_date.unwrap()),
            "2026-01-31T09:00:00.000Z"
        );
        assert_eq!(t.recurring_rule, Some(RecurringRule::Monthly));
        assert_eq!(
            t.tags.as_slice(),
            &["bills".to_string(), "home".to_string()]
        );
        assert_eq!(t.time_zone.name(), "Europe/Paris");
        let task = parse_new_task(&json!({"title": "x"})).unwrap().into_task(
            Uuid::nil(),
            "u",
            parse_instant("2026-01-01T00:00:00Z").unwrap(),
        );
        assert_eq!(task.version, 1);
        assert_eq!(task.status, Status::Pending);
        assert_eq!(task.occurrence_index, 0);
    }

    #[test]
    fn empty_strings_and_nulls_mean_absent_on_create() {
        let t = parse_new_task(&json!({
            "title": "x", "description": "", "dueDate": "", "reminderAt": "", "recurringEndDate": "",
            "recurringRule": "", "priority": null, "category": null, "tags": null, "timeZone": null
        }))
        .unwrap();
        assert_eq!(t.description, None);
        assert_eq!(t.due_date, None);
        assert_eq!(t.reminder_at, None);
        assert_eq!(t.recurring_end_date, None);
        assert_eq!(t.recurring_rule, None);
        assert_eq!(t.priority, Priority::Medium);
        assert_eq!(t.category, Category::Other);
        assert!(t.tags.is_empty());
        assert_eq!(t.time_zone, TimeZone::UTC);
        assert_eq!(
            parse_new_task(&json!({"title": "x", "recurringRule": "None"}))
                .unwrap()
                .recurring_rule,
            None
        );
    }

    #[test]
    fn non_object_bodies() {
        for b in [json!([]), json!("x"), json!(5), json!(null), json!(true)] {
            let e = errs(b);
            assert_eq!(e.len(), 1);
            assert_eq!(e[0].loc, vec!["body"]);
            assert_eq!(e[0].kind, "dict_type");
        }
    }

    #[test]
    fn title_errors() {
        assert_eq!(errs(json!({}))[0].kind, "missing");
        assert_eq!(errs(json!({"title": null}))[0].kind, "missing");
        let e = errs(json!({"title": "   "}));
        assert_eq!(locs(&e), vec!["body.title"]);
        assert_eq!(
            e[0].msg,
            "title must be 1-255 characters after trimming (it is empty)"
        );
        let e = errs(json!({"title": "a".repeat(256)}));
        assert_eq!(e[0].kind, "string_too_long");
        let e = errs(json!({"title": 5}));
        assert_eq!(e[0].kind, "string_type");
        assert_eq!(e[0].msg, "title must be a string, got a number");
        assert_eq!(errs(json!({"title": ["a"]}))[0].kind, "string_type");
    }

    #[test]
    fn all_errors_are_reported_together() {
        let e = errs(json!({
            "title": "", "description": "d".repeat(1001), "priority": "urgent", "category": 3,
            "dueDate": "yesterday", "recurringRule": "hourly", "recurringEndDate": "2026-02-30T00:00:00Z",
            "reminderAt": 12, "tags": "a,b", "timeZone": "Mars/Olympus"
        }));
        assert_eq!(
            locs(&e),
            vec![
                "body.title",
                "body.description",
                "body.priority",
                "body.category",
                "body.dueDate",
                "body.recurringRule",
                "body.recurringEndDate",
                "body.reminderAt",
                "body.tags",
                "body.timeZone"
            ]
        );
        let p = e.iter().find(|e| e.loc[1] == "priority").unwrap();
        assert_eq!(
            p.msg,
            "unknown priority 'urgent'; expected one of low, medium, high"
        );
        assert_eq!(p.kind, "enum");
        let t = e.iter().find(|e| e.loc[1] == "tags").unwrap();
        assert_eq!(t.msg, "tags must be an array of strings, got a string");
        let d = e.iter().find(|e| e.loc[1] == "dueDate").unwrap();
        assert!(
            d.msg.starts_with("dueDate: invalid instant 'yesterday'"),
            "{}",
            d.msg
        );
    }

    #[test]
    fn tag_errors_on_create() {
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        let e = errs(json!({"title": "x", "tags": eleven}));
        assert_eq!(locs(&e), vec!["body.tags"]);
        let e = errs(json!({"title": "x", "tags": ["a", "b".repeat(51)]}));
        assert_eq!(locs(&e), vec!["body.tags.1"]);
        let e = errs(json!({"title": "x", "tags": ["a", 1]}));
        assert_eq!(locs(&e), vec!["body.tags.1"]);
        assert_eq!(e[0].kind, "string_type");
        let e = errs(json!({"title": "x", "tags": vec!["a"; 1001]}));
        assert_eq!(locs(&e), vec!["body.tags"]);
    }

    #[test]
    fn recurring_end_before_due_is_rejected() {
        let e = errs(
            json!({"title": "x", "dueDate": "2026-02-01T00:00:00Z", "recurringRule": "daily",
            "recurringEndDate": "2026-01-31T23:59:59Z"}),
        );
        assert_eq!(locs(&e), vec!["body.recurringEndDate"]);
        assert!(e[0].msg.contains("must not be before dueDate"));
        // equal is fine (inclusive end)
        assert!(
            parse_new_task(&json!({"title": "x", "dueDate": "2026-02-01T00:00:00Z",
            "recurringEndDate": "2026-02-01T01:00:00+01:00"}))
            .is_ok()
        );
    }

    #[test]
    fn update_parsing_absent_null_empty() {
        let c = parse_task_changes(&json!({})).unwrap();
        assert!(c.is_empty());
        let c = parse_task_changes(&json!({
            "title": null, "priority": null, "description": null, "dueDate": "", "reminderAt": null,
            "recurringRule": null, "recurringEndDate": "", "tags": null, "timeZone": null, "completed": null
        }))
        .unwrap();
        assert_eq!(c.title, None);
        assert_eq!(c.priority, None);
        assert_eq!(c.description, Patch::Clear);
        assert_eq!(c.due_date, Patch::Clear);
        assert_eq!(c.reminder_at, Patch::Clear);
        assert_eq!(c.recurring_rule, Patch::Clear);
        assert_eq!(c.recurring_end_date, Patch::Clear);
        assert_eq!(c.tags, Some(Tags::empty()));
        assert_eq!(c.time_zone, None);
        assert_eq!(c.completed, None);
        let c = parse_task_changes(&json!({"description": "", "timeZone": ""})).unwrap();
        assert_eq!(c.description, Patch::Clear);
        assert_eq!(c.time_zone, Some(TimeZone::UTC));
        let c = parse_task_changes(&json!({"status": "Completed"})).unwrap();
        assert_eq!(c.completed, Some(true));
        let c = parse_task_changes(&json!({"status": "pending", "completed": false})).unwrap();
        assert_eq!(c.completed, Some(false));
    }

    #[test]
    fn update_errors() {
        let e = parse_task_changes(
            &json!({"title": " ", "priority": "URGENT", "dueDate": "2026-13-01",
            "tags": [""], "completed": "yes", "category": "x"}),
        )
        .unwrap_err();
        assert_eq!(
            locs(&e),
            vec![
                "body.title",
                "body.priority",
                "body.category",
                "body.dueDate",
                "body.tags.0",
                "body.completed"
            ]
        );
        let e =
            parse_task_changes(&json!({"status": "completed", "completed": false})).unwrap_err();
        assert_eq!(locs(&e), vec!["body.status"]);
        let e = parse_task_changes(&json!({"status": "done"})).unwrap_err();
        assert_eq!(
            e[0].msg,
            "unknown status 'done'; expected one of pending, completed"
        );
        assert_eq!(
            parse_task_changes(&json!([1])).unwrap_err()[0].loc,
            vec!["body"]
        );
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_instant(s).unwrap()
    }

    #[test]
    fn apply_changes_merges_and_reports_diffs() {
        let task = sample_task();
        let now = at("2026-01-02T00:00:00Z");
        let c = parse_task_changes(
            &json!({"title": "Pay rent!", "priority": "high", "tags": ["Bills"],
            "description": "flat", "dueDate": null}),
        )
        .unwrap();
        let (t, ch) = apply_changes(&task, &c, now).unwrap();
        assert_eq!(t.title.as_str(), "Pay rent!");
        assert_eq!(t.due_date, None);
        assert_eq!(t.version, 2);
        assert_eq!(t.updated_at, now);
        let names: Vec<_> = ch.iter().map(|c| c.field).collect();
        // priority and tags did not actually change
        assert_eq!(names, vec!["title", "description", "dueDate"]);
        assert_eq!(ch[2].before, "2026-01-31T09:00:00.000Z");
        assert_eq!(ch[2].after, Value::Null);
        assert_eq!(ch[1].before, Value::Null);
        assert_eq!(ch[1].after, "flat");
    }

    #[test]
    fn apply_no_changes_keeps_version() {
        let task = sample_task();
        let (t, ch) =
            apply_changes(&task, &TaskChanges::default(), at("2026-03-01T00:00:00Z")).unwrap();
        assert!(ch.is_empty());
        assert_eq!(t, task);
    }

    #[test]
    fn apply_changes_checks_merged_end_date() {
        let task = sample_task(); // due 2026-01-31T09:00Z
        let c = parse_task_changes(&json!({"recurringEndDate": "2026-01-30T00:00:00Z"})).unwrap();
        let e = apply_changes(&task, &c, at("2026-01-02T00:00:00Z")).unwrap_err();
        assert_eq!(locs(&e), vec!["body.recurringEndDate"]);
        // moving the due date after an existing end date is also rejected
        let mut with_end = task.clone();
        with_end.recurring_end_date = Some(at("2026-06-30T00:00:00Z"));
        let c = parse_task_changes(&json!({"dueDate": "2026-07-01T00:00:00Z"})).unwrap();
        assert!(apply_changes(&with_end, &c, at("2026-01-02T00:00:00Z")).is_err());
        // clearing the due date removes the conflict
        let c = parse_task_changes(
            &json!({"dueDate": null, "recurringEndDate": "2026-01-30T00:00:00Z"}),
        )
        .unwrap();
        assert!(apply_changes(&task, &c, at("2026-01-02T00:00:00Z")).is_ok());
    }

    #[test]
    fn changing_reminder_resets_reminder_sent() {
        let mut task = sample_task();
        task.reminder_at = Some(at("2026-01-31T08:00:00Z"));
        task.reminder_sent = true;
        let same = parse_task_changes(&json!({"reminderAt": "2026-01-31T09:00:00+01:00"})).unwrap();
        let (t, ch) = apply_changes(&task, &same, at("2026-01-02T00:00:00Z")).unwrap();
        assert!(t.reminder_sent);
        assert!(ch.is_empty());
        let moved = parse_task_changes(&json!({"reminderAt": "2026-01-31T08:30:00Z"})).unwrap();
        let (t, ch) = apply_changes(&task, &moved, at("2026-01-02T00:00:00Z")).unwrap();
        assert!(!t.reminder_sent);
        let names: Vec<_> = ch.iter().map(|c| c.field).collect();
        assert_eq!(names, vec!["reminderAt", "reminderSent"]);
        let cleared = parse_task_changes(&json!({"reminderAt": ""})).unwrap();
        let (t, _) = apply_changes(&task, &cleared, at("2026-01-02T00:00:00Z")).unwrap();
        assert_eq!(t.reminder_at, None);
        assert!(!t.reminder_sent);
    }

    #[test]
    fn completing_via_update() {
        let task = sample_task();
        let now = at("2026-01-05T00:00:00Z");
        let c = parse_task_changes(&json!({"completed": true})).unwrap();
        let (t, ch) = apply_changes(&task, &c, now).unwrap();
        assert_eq!(t.status, Status::Completed);
        assert_eq!(t.completed_at, Some(now));
        let names: Vec<_> = ch.iter().map(|c| c.field).collect();
        assert_eq!(names, vec!["status", "completed", "completedAt"]);
        let again = apply_changes(&t, &c, now).unwrap();
        assert!(again.1.is_empty());
    }
}
