//! The ChatKit server protocol as `openai-chatkit` 1.6.5 defines it (`chatkit/types.py`,
//! `ChatKitServer.process`): the requests a ChatKit client sends, and the JSON of the threads,
//! items, pages and stream events this server answers with.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use todo_domain::error::FieldError;

use crate::history::HistoryItem;
use crate::message;

/// `DEFAULT_PAGE_SIZE` of the Python server: a page without `limit`, and the items a thread
/// is shown with.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;
pub const MAX_TITLE_CHARS: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageParams {
    pub limit: u32,
    pub order: Order,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feedback {
    Positive,
    Negative,
}

impl Feedback {
    pub fn as_str(self) -> &'static str {
        match self {
            Feedback::Positive => "positive",
            Feedback::Negative => "negative",
        }
    }
}

/// A user message as ChatKit sends it, validated: its text for the model and its parts as
/// they are shown back.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInput {
    pub item: HistoryItem,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    ThreadsCreate {
        input: UserInput,
    },
    AddUserMessage {
        thread_id: String,
        input: UserInput,
    },
    RetryAfterItem {
        thread_id: String,
        item_id: String,
    },
    GetById {
        thread_id: String,
    },
    List(PageParams),
    Update {
        thread_id: String,
        title: String,
    },
    Delete {
        thread_id: String,
    },
    ItemsList {
        thread_id: String,
        page: PageParams,
    },
    ItemsFeedback {
        thread_id: String,
        item_ids: Vec<String>,
        kind: Feedback,
    },
}

/// Why a body is not a request this server serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// Not a well-formed request (`422`, FastAPI-shaped).
    Invalid(Vec<FieldError>),
    /// A request of the protocol this server does not serve (attachments, client tool output,
    /// structured input, custom actions, transcription).
    Unsupported { kind: String, streaming: bool },
}

impl From<Vec<FieldError>> for Refusal {
    fn from(errors: Vec<FieldError>) -> Self {
        Refusal::Invalid(errors)
    }
}

impl Request {
    /// Whether the protocol answers this request with a `text/event-stream`.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Request::ThreadsCreate { .. }
                | Request::AddUserMessage { .. }
                | Request::RetryAfterItem { .. }
        )
    }
}

/// Streaming request types of the protocol that this server does not serve.
const UNSUPPORTED_STREAMING: &[&str] = &[
    "threads.add_client_tool_output",
    "threads.add_structured_input",
    "threads.custom_action",
];
const UNSUPPORTED_NON_STREAMING: &[&str] = &[
    "attachments.create",
    "attachments.delete",
    "input.transcribe",
    "threads.sync_custom_action",
];

fn invalid(loc: &[&str], msg: impl Into<String>) -> Vec<FieldError> {
    let mut full = vec!["body"];
    full.extend_from_slice(loc);
    vec![FieldError::new(&full, msg, "value_error")]
}

fn params<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, Vec<FieldError>> {
    let params = value.get("params").cloned().unwrap_or(Value::Null);
    if !params.is_object() {
        return Err(invalid(&["params"], "params must be an object"));
    }
    serde_json::from_value(params).map_err(|e| invalid(&["params"], e.to_string()))
}

#[derive(Deserialize)]
struct ThreadIdParams {
    thread_id: String,
}

#[derive(Deserialize)]
struct CreateParams {
    input: InputParams,
}

#[derive(Deserialize)]
struct AddMessageParams {
    thread_id: String,
    input: InputParams,
}

#[derive(Deserialize)]
struct InputParams {
    content: Vec<Value>,
    #[serde(default)]
    attachments: Vec<String>,
    #[serde(default)]
    quoted_text: Option<String>,
    #[serde(default)]
    inference_options: Option<Value>,
}

#[derive(Deserialize)]
struct RetryParams {
    thread_id: String,
    item_id: String,
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    order: Order,
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
struct ItemsListParams {
    thread_id: String,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    order: Order,
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
struct UpdateParams {
    thread_id: String,
    title: String,
}

#[derive(Deserialize)]
struct FeedbackParams {
    thread_id: String,
    item_ids: Vec<String>,
    kind: Feedback,
}

fn page(
    limit: Option<i64>,
    order: Order,
    after: Option<String>,
) -> Result<PageParams, Vec<FieldError>> {
    let limit = match limit {
        None => DEFAULT_PAGE_SIZE,
        Some(l) if (1..=i64::from(MAX_PAGE_SIZE)).contains(&l) => l as u32,
        Some(_) => {
            return Err(invalid(
                &["params", "limit"],
                format!("limit must be an integer from 1 to {MAX_PAGE_SIZE}"),
            ))
        }
    };
    Ok(PageParams {
        limit,
        order,
        after: after.filter(|a| !a.is_empty()),
    })
}

/// The user's text: the `input_text` parts and the text of `input_tag` parts, one per line;
/// a quoted text goes first, quoted. 1-4,000 characters.
fn user_input(input: InputParams) -> Result<UserInput, Vec<FieldError>> {
    if !input.attachments.is_empty() {
        return Err(invalid(
            &["params", "input", "attachments"],
            "attachments are not supported by this assistant",
        ));
    }
    let mut lines = Vec::new();
    for (i, part) in input.content.iter().enumerate() {
        let index = i.to_string();
        let loc = ["params", "input", "content", index.as_str()];
        let kind = part.get("type").and_then(Value::as_str).unwrap_or_default();
        let text = part.get("text").and_then(Value::as_str);
        match (kind, text) {
            ("input_text" | "input_tag", Some(text)) => lines.push(text.to_string()),
            ("input_text" | "input_tag", None) => {
                return Err(invalid(&loc, "a content part needs a text"))
            }
            _ => {
                return Err(invalid(
                    &loc,
                    format!("content part type '{kind}' is not input_text or input_tag"),
                ))
            }
        }
    }
    let mut text = lines.join("\n");
    if let Some(quoted) = input
        .quoted_text
        .as_deref()
        .filter(|q| !q.trim().is_empty())
    {
        let quoted: Vec<String> = quoted.lines().map(|l| format!("> {l}")).collect();
        text = format!("{}\n\n{text}", quoted.join("\n"));
    }
    let text =
        message::check(&text).map_err(|msg| invalid(&["params", "input", "content"], msg))?;
    Ok(UserInput {
        text: text.clone(),
        item: HistoryItem::UserMessage {
            text,
            parts: Some(Value::Array(input.content)),
            quoted_text: input.quoted_text,
            inference_options: input.inference_options,
        },
    })
}

/// Parses a request body.
pub fn parse_request(body: &Value) -> Result<Request, Refusal> {
    let Some(kind) = body.get("type").and_then(Value::as_str) else {
        return Err(invalid(&["type"], "a ChatKit request needs a string type").into());
    };
    Ok(match kind {
        "threads.create" => {
            let p: CreateParams = params(body)?;
            Request::ThreadsCreate {
                input: user_input(p.input)?,
            }
        }
        "threads.add_user_message" => {
            let p: AddMessageParams = params(body)?;
            Request::AddUserMessage {
                thread_id: p.thread_id,
                input: user_input(p.input)?,
            }
        }
        "threads.retry_after_item" => {
            let p: RetryParams = params(body)?;
            Request::RetryAfterItem {
                thread_id: p.thread_id,
                item_id: p.item_id,
            }
        }
        "threads.get_by_id" => Request::GetById {
            thread_id: params::<ThreadIdParams>(body)?.thread_id,
        },
        "threads.list" => {
            let p: ListParams = params(body)?;
            Request::List(page(p.limit, p.order, p.after)?)
        }
        "threads.update" => {
            let p: UpdateParams = params(body)?;
            let title = p.title.trim().to_string();
            if title.chars().count() > MAX_TITLE_CHARS {
                return Err(invalid(
                    &["params", "title"],
                    format!("title must be at most {MAX_TITLE_CHARS} characters"),
                )
                .into());
            }
            Request::Update {
                thread_id: p.thread_id,
                title,
            }
        }
        "threads.delete" => Request::Delete {
            thread_id: params::<ThreadIdParams>(body)?.thread_id,
        },
        "items.list" => {
            let p: ItemsListParams = params(body)?;
            Request::ItemsList {
                thread_id: p.thread_id,
                page: page(p.limit, p.order, p.after)?,
            }
        }
        "items.feedback" => {
            let p: FeedbackParams = params(body)?;
            if p.item_ids.is_empty() || p.item_ids.len() > 100 {
                return Err(invalid(&["params", "item_ids"], "give 1-100 item ids").into());
            }
            Request::ItemsFeedback {
                thread_id: p.thread_id,
                item_ids: p.item_ids,
                kind: p.kind,
            }
        }
        other if UNSUPPORTED_STREAMING.contains(&other) => {
            return Err(Refusal::Unsupported {
                kind: other.to_string(),
                streaming: true,
            })
        }
        other if UNSUPPORTED_NON_STREAMING.contains(&other) => {
            return Err(Refusal::Unsupported {
                kind: other.to_string(),
                streaming: false,
            })
        }
        other => {
            return Err(invalid(
                &["type"],
                format!("unknown ChatKit request type '{}'", message::shorten(other)),
            )
            .into())
        }
    })
}

/// RFC 3339 in UTC with milliseconds, as every instant of the API.
pub fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A thread as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadRecord {
    pub id: String,
    pub title: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A thread item as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    pub id: String,
    pub thread_id: String,
    pub created_at: DateTime<Utc>,
    pub content: HistoryItem,
}

/// A page of records and whether more follow; `after` is the last record's id.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

/// The item as a ChatKit `ThreadItem`; `None` for what the client never sees (tool steps).
pub fn item_json(item: &ItemRecord) -> Option<Value> {
    let base = |kind: &str| {
        json!({
            "type": kind,
            "id": item.id,
            "thread_id": item.thread_id,
            "created_at": instant(item.created_at),
        })
    };
    match &item.content {
        HistoryItem::UserMessage {
            text,
            parts,
            quoted_text,
            inference_options,
        } => {
            let mut value = base("user_message");
            value["content"] = parts
                .clone()
                .unwrap_or_else(|| json!([{"type": "input_text", "text": text}]));
            value["attachments"] = json!([]);
            if let Some(quoted) = quoted_text {
                value["quoted_text"] = json!(quoted);
            }
            value["inference_options"] = inference_options
                .clone()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            Some(value)
        }
        HistoryItem::AssistantMessage { text } => {
            let mut value = base("assistant_message");
            value["content"] = json!([output_text(text)]);
            Some(value)
        }
        HistoryItem::ToolStep { .. } => None,
    }
}

pub fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

/// A `Page`: `after` is the last item's id (absent on an empty page, as the Python server
/// leaves out `None`s).
pub fn page_json(page: &Page<Value>) -> Value {
    let mut value = json!({"data": page.data, "has_more": page.has_more});
    if let Some(after) = page.data.last().and_then(|v| v.get("id")) {
        value["after"] = after.clone();
    }
    value
}

/// A `Thread` (metadata and a page of its items; an empty page where the protocol sends none).
pub fn thread_json(thread: &ThreadRecord, items: Option<&Page<ItemRecord>>) -> Value {
    let items = match items {
        Some(page) => page_json(&Page {
            data: page.data.iter().filter_map(item_json).collect(),
            has_more: page.has_more,
        }),
        None => json!({"data": [], "has_more": false}),
    };
    let mut value = json!({
        "id": thread.id,
        "created_at": instant(thread.created_at),
        "status": {"type": "active"},
        "metadata": {},
        "items": items,
    });
    if let Some(title) = &thread.title {
        value["title"] = json!(title);
    }
    value
}

/// The title a new thread gets: its first message, on one line, cut at a word near 60
/// characters.
pub fn title_for(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= 60 {
        return line;
    }
    let cut: String = line.chars().take(60).collect();
    let cut = match cut.rfind(' ') {
        Some(space) if space > 30 => cut[..space].to_string(),
        _ => cut,
    };
    format!("{cut}…")
}

/// ThreadStreamEvents.
pub mod event {
    use super::*;

    pub fn thread_created(thread: &ThreadRecord) -> Value {
        json!({"type": "thread.created", "thread": thread_json(thread, None)})
    }

    pub fn item_added(item: Value) -> Value {
        json!({"type": "thread.item.added", "item": item})
    }

    pub fn item_done(item: Value) -> Value {
        json!({"type": "thread.item.done", "item": item})
    }

    pub fn item_removed(item_id: &str) -> Value {
        json!({"type": "thread.item.removed", "item_id": item_id})
    }

    pub fn stream_options(allow_cancel: bool) -> Value {
        json!({"type": "stream_options", "stream_options": {"allow_cancel": allow_cancel}})
    }

    pub fn content_part_added(item_id: &str) -> Value {
        json!({"type": "thread.item.updated", "item_id": item_id, "update": {
            "type": "assistant_message.content_part.added",
            "content_index": 0,
            "content": output_text(""),
        }})
    }

    pub fn text_delta(item_id: &str, delta: &str) -> Value {
        json!({"type": "thread.item.updated", "item_id": item_id, "update": {
            "type": "assistant_message.content_part.text_delta",
            "content_index": 0,
            "delta": delta,
        }})
    }

    pub fn content_part_done(item_id: &str, text: &str) -> Value {
        json!({"type": "thread.item.updated", "item_id": item_id, "update": {
            "type": "assistant_message.content_part.done",
            "content_index": 0,
            "content": output_text(text),
        }})
    }

    pub fn progress(text: &str) -> Value {
        json!({"type": "progress_update", "text": text})
    }

    /// An `ErrorEvent` with a message for the user (`code: "custom"`).
    pub fn error(message: &str, allow_retry: bool) -> Value {
        json!({"type": "error", "code": "custom", "message": message, "allow_retry": allow_retry})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(text: &str) -> Value {
        json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
    }

    #[test]
    fn requests_parse_as_the_chatkit_client_sends_them() {
        let create = parse_request(
            &json!({"type": "threads.create", "params": {"input": input("hi")}, "metadata": {}}),
        )
        .unwrap();
        assert!(create.is_streaming());
        match create {
            Request::ThreadsCreate { input } => assert_eq!(input.text, "hi"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_request(&json!({"type": "threads.list", "params": {}})).unwrap(),
            Request::List(PageParams {
                limit: 20,
                order: Order::Desc,
                after: None
            })
        );
        assert_eq!(
            parse_request(&json!({"type": "items.list", "params": {"thread_id": "t", "limit": 5, "order": "asc", "after": "i"}})).unwrap(),
            Request::ItemsList { thread_id: "t".into(), page: PageParams { limit: 5, order: Order::Asc, after: Some("i".into()) } }
        );
        assert!(
            !parse_request(&json!({"type": "threads.delete", "params": {"thread_id": "t"}}))
                .unwrap()
                .is_streaming()
        );
        assert_eq!(
            parse_request(&json!({"type": "threads.custom_action", "params": {}})).unwrap_err(),
            Refusal::Unsupported {
                kind: "threads.custom_action".into(),
                streaming: true
            }
        );
        assert_eq!(
            parse_request(&json!({"type": "attachments.create", "params": {}})).unwrap_err(),
            Refusal::Unsupported {
                kind: "attachments.create".into(),
                streaming: false
            }
        );
    }

    #[test]
    fn bad_requests_name_the_field() {
        let loc = |body: Value| match parse_request(&body) {
            Err(Refusal::Invalid(errors)) => errors[0].loc.join("."),
            other => panic!("{other:?}"),
        };
        assert_eq!(loc(json!({"params": {}})), "body.type");
        assert_eq!(
            loc(json!({"type": "threads.nope", "params": {}})),
            "body.type"
        );
        assert_eq!(
            loc(json!({"type": "threads.get_by_id", "params": {}})),
            "body.params"
        );
        assert_eq!(loc(json!({"type": "threads.get_by_id"})), "body.params");
        assert_eq!(
            loc(json!({"type": "threads.list", "params": {"limit": 0}})),
            "body.params.limit"
        );
        assert_eq!(
            loc(json!({"type": "threads.create", "params": {"input": input(&"x".repeat(4001))}})),
            "body.params.input.content"
        );
        assert_eq!(
            loc(json!({"type": "threads.create", "params": {"input": input("  ")}})),
            "body.params.input.content"
        );
        assert_eq!(
            loc(
                json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "a"}], "attachments": ["atc_1"], "inference_options": {}}}})
            ),
            "body.params.input.attachments"
        );
        assert_eq!(
            loc(
                json!({"type": "threads.create", "params": {"input": {"content": [{"type": "image"}], "attachments": [], "inference_options": {}}}})
            ),
            "body.params.input.content.0"
        );
        assert_eq!(
            loc(
                json!({"type": "threads.update", "params": {"thread_id": "t", "title": "x".repeat(256)}})
            ),
            "body.params.title"
        );
    }

    #[test]
    fn quoted_text_is_given_to_the_model_quoted() {
        let Request::ThreadsCreate { input } = parse_request(&json!({"type": "threads.create", "params": {"input": {
            "content": [{"type": "input_text", "text": "delete this"}], "attachments": [], "quoted_text": "Buy milk\nBuy eggs", "inference_options": {}
        }}})).unwrap() else { panic!() };
        assert_eq!(input.text, "> Buy milk\n> Buy eggs\n\ndelete this");
    }

    #[test]
    fn items_and_threads_have_the_protocols_shape() {
        let created_at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let user = ItemRecord {
            id: "i1".into(),
            thread_id: "t".into(),
            created_at,
            content: HistoryItem::user("hi"),
        };
        let json = item_json(&user).unwrap();
        assert_eq!(json["type"], "user_message");
        assert_eq!(
            json["content"][0],
            json!({"type": "input_text", "text": "hi"})
        );
        assert_eq!(json["created_at"], "2027-01-15T08:00:00.000Z");
        let step = ItemRecord {
            content: HistoryItem::ToolStep {
                text: None,
                calls: vec![],
            },
            ..user.clone()
        };
        assert!(item_json(&step).is_none());
        let thread = ThreadRecord {
            id: "t".into(),
            title: None,
            created_at,
        };
        let page = Page {
            data: vec![user, step],
            has_more: true,
        };
        let value = thread_json(&thread, Some(&page));
        assert_eq!(value["items"]["data"].as_array().unwrap().len(), 1);
        assert_eq!(value["items"]["after"], "i1");
        assert!(value.get("title").is_none());
    }

    #[test]
    fn titles_are_one_short_line() {
        assert_eq!(title_for("Buy  milk\nand eggs"), "Buy milk and eggs");
        let long = title_for(&"word ".repeat(30));
        assert!(long.chars().count() <= 61 && long.ends_with('…'), "{long}");
    }
}
