//! `POST /api/chatkit`: the ChatKit server protocol, answered as `ChatKitServer.process` of
//! `openai-chatkit` 1.6.5 answers it. Streaming requests (`threads.create`,
//! `threads.add_user_message`, `threads.retry_after_item`) answer `text/event-stream` of
//! ThreadStreamEvents once the request is known to be good (a bad one gets its 4xx first);
//! the others answer JSON. Requests of the protocol this server does not serve get the
//! protocol's error event (streaming ones) or a `400` (the others).

use serde_json::{json, Value};
use spin_sdk::http::{IncomingRequest, Response};
use spin_support::db::Db;
use spin_support::http::{json_response, read_json_body, ApiError};
use spin_support::log::note;
use todo_chat::chatkit::{
    self, event, item_json, page_json, thread_json, ItemRecord, Page, PageParams, Refusal, Request,
    ThreadRecord,
};
use todo_chat::history::HistoryItem;
use todo_domain::error::FieldError;
use todo_domain::task::TimeZone;
use todo_tasks::Caller;

use crate::agent::{self, Progress, Turn};
use crate::respond::{EventStream, Responder};
use crate::settings::LlmSettings;
use crate::store::{self, StoreError};

pub async fn handle(incoming: IncomingRequest, caller: Caller<'_>, responder: Responder<'_>) {
    match prepare(incoming, caller).await {
        Err(error) => responder.send(Err(error)).await,
        Ok(Prepared::Whole(response)) => responder.send(Ok(response)).await,
        Ok(Prepared::Unsupported(kind)) => {
            let mut stream = responder.stream();
            stream
                .send(&event::error(
                    &format!("{kind} is not supported by this assistant"),
                    false,
                ))
                .await;
        }
        Ok(Prepared::Respond(respond)) => respond.run(responder.stream()).await,
    }
}

enum Prepared<'a> {
    Whole(Response),
    /// A streaming request type this server does not serve.
    Unsupported(String),
    Respond(Box<Respond<'a>>),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ThreadNotFound | StoreError::ItemNotFound => {
                ApiError::NotFound(error.to_string())
            }
            StoreError::Invalid(msg) => ApiError::Validation(vec![FieldError::new(
                &["body", "params", "after"],
                msg,
                "value_error",
            )]),
            StoreError::Db(db) => db.into(),
        }
    }
}

fn requested_zone(body: &Value) -> Result<Option<TimeZone>, ApiError> {
    match body.pointer("/metadata/time_zone") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) if name.trim().is_empty() => Ok(None),
        Some(Value::String(name)) => TimeZone::parse(name).map(Some).map_err(|mut e| {
            e.loc = vec!["body".into(), "metadata".into(), "time_zone".into()];
            ApiError::Validation(vec![e])
        }),
        Some(_) => Err(ApiError::Validation(vec![FieldError::new(
            &["body", "metadata", "time_zone"],
            "time_zone must be an IANA time zone name",
            "string_type",
        )])),
    }
}

fn ok_json(value: &Value) -> Result<Prepared<'static>, ApiError> {
    Ok(Prepared::Whole(json_response(200, value)))
}

async fn prepare<'a>(
    incoming: IncomingRequest,
    caller: Caller<'a>,
) -> Result<Prepared<'a>, ApiError> {
    let body = read_json_body(incoming).await?;
    let request = match chatkit::parse_request(&body) {
        Ok(request) => request,
        Err(Refusal::Invalid(errors)) => return Err(ApiError::Validation(errors)),
        Err(Refusal::Unsupported {
            kind,
            streaming: true,
        }) => return Ok(Prepared::Unsupported(kind)),
        Err(Refusal::Unsupported {
            kind,
            streaming: false,
        }) => {
            return Err(ApiError::BadRequest(format!(
                "{kind} is not supported by this assistant"
            )))
        }
    };
    let user = caller.user_id;
    let zone = requested_zone(&body)?;
    let settings = if request.is_streaming() {
        match LlmSettings::from_variables() {
            Ok(settings) => Some(settings),
            Err(not_configured) => return Err(crate::not_configured(not_configured)),
        }
    } else {
        None
    };
    let db = Db::open()?;
    let begin = |settings: Option<LlmSettings>, db: Db, start: Start, history, message: String| {
        let settings = settings.expect("streaming requests have settings");
        let zone = agent::user_zone(&db, user, zone);
        Ok(Prepared::Respond(Box::new(Respond {
            settings,
            db,
            caller,
            zone,
            start,
            history,
            message,
        })))
    };
    match request {
        Request::ThreadsCreate { input } => {
            let title = chatkit::title_for(&input.text);
            let (thread, item) = store::create_thread(&db, user, &title, &input.item)?;
            begin(
                settings,
                db,
                Start::Created(thread, item),
                Vec::new(),
                input.text,
            )
        }
        Request::AddUserMessage { thread_id, input } => {
            let thread = store::thread(&db, user, &thread_id)?;
            let history = store::history(&db, user, &thread.id)?;
            let item = store::add_item(&db, user, &thread.id, &input.item)?;
            begin(
                settings,
                db,
                Start::Added(thread, item),
                history,
                input.text,
            )
        }
        Request::RetryAfterItem { thread_id, item_id } => {
            let thread = store::thread(&db, user, &thread_id)?;
            let (item, history) = store::rewind_to(&db, user, &thread.id, &item_id)?;
            let HistoryItem::UserMessage { text, .. } = &item.content else {
                return Err(ApiError::NotFound("Item not found".into()));
            };
            let text = text.clone();
            begin(settings, db, Start::Retried(thread), history, text)
        }
        Request::GetById { thread_id } => {
            let thread = store::thread(&db, user, &thread_id)?;
            let first = PageParams {
                limit: chatkit::DEFAULT_PAGE_SIZE,
                order: chatkit::Order::Asc,
                after: None,
            };
            let items = store::items(&db, user, &thread.id, &first)?;
            ok_json(&thread_json(&thread, Some(&items)))
        }
        Request::List(page) => {
            let threads = store::threads(&db, user, &page)?;
            ok_json(&page_json(&Page {
                data: threads.data.iter().map(|t| thread_json(t, None)).collect(),
                has_more: threads.has_more,
            }))
        }
        Request::Update { thread_id, title } => {
            let thread = store::set_title(&db, user, &thread_id, &title)?;
            ok_json(&thread_json(&thread, None))
        }
        Request::Delete { thread_id } => {
            store::delete_thread(&db, user, &thread_id)?;
            ok_json(&json!({}))
        }
        Request::ItemsList { thread_id, page } => {
            let items = store::items(&db, user, &thread_id, &page)?;
            ok_json(&page_json(&Page {
                data: items.data.iter().filter_map(item_json).collect(),
                has_more: items.has_more,
            }))
        }
        Request::ItemsFeedback {
            thread_id,
            item_ids,
            kind,
        } => {
            store::set_feedback(&db, user, &thread_id, &item_ids, kind.as_str())?;
            ok_json(&json!({}))
        }
    }
}

/// How a streamed answer begins.
enum Start {
    /// `threads.create`: the new thread and its first message.
    Created(ThreadRecord, ItemRecord),
    /// `threads.add_user_message`: the message added.
    Added(ThreadRecord, ItemRecord),
    /// `threads.retry_after_item`: the items after the message are gone.
    Retried(ThreadRecord),
}

/// Everything a streamed answer needs, checked before its head goes out.
struct Respond<'a> {
    settings: LlmSettings,
    db: Db,
    caller: Caller<'a>,
    zone: TimeZone,
    start: Start,
    history: Vec<HistoryItem>,
    message: String,
}

impl Respond<'_> {
    async fn run(self, mut stream: EventStream<'_>) {
        let thread = match &self.start {
            Start::Created(thread, item) => {
                stream.send(&event::thread_created(thread)).await;
                if let Some(item) = item_json(item) {
                    stream.send(&event::item_done(item)).await;
                }
                thread
            }
            Start::Added(thread, item) => {
                if let Some(item) = item_json(item) {
                    stream.send(&event::item_done(item)).await;
                }
                thread
            }
            Start::Retried(thread) => thread,
        };
        stream.send(&event::stream_options(true)).await;
        let mut progress = ChatKitProgress {
            stream: &mut stream,
            thread_id: &thread.id,
            item_id: store::new_item_id(),
            started: false,
            sent: String::new(),
        };
        let turn = Turn {
            settings: &self.settings,
            db: &self.db,
            caller: self.caller,
            thread_id: &thread.id,
            zone: self.zone,
            history: &self.history,
            message: &self.message,
        };
        let result = agent::run(turn, &mut progress).await;
        // The assistant's message: its answer, or on a failure the answer so far and what
        // changed (the failure itself is the error event below).
        let text = result.answer_with(None);
        if !text.is_empty() {
            let stored = store::add_item_with_id(
                &self.db,
                self.caller.user_id,
                &thread.id,
                &progress.item_id,
                &HistoryItem::AssistantMessage { text: text.clone() },
            );
            let item = match stored {
                Ok(record) => item_json(&record),
                Err(e) => {
                    note(format!("storing the answer failed: {e}"));
                    None
                }
            };
            progress.finish(&text, item).await;
        }
        if let Some(failure) = result.failure() {
            stream.send(&event::error(&failure, true)).await;
        }
    }
}

/// The ChatKit stream as the agent loop's progress: the assistant message item is added when
/// its first text arrives, and each text delta is sent as it comes; a tool about to run is a
/// `progress_update`.
struct ChatKitProgress<'s, 'r> {
    stream: &'s mut EventStream<'r>,
    thread_id: &'s str,
    item_id: String,
    started: bool,
    /// The text sent so far.
    sent: String,
}

impl ChatKitProgress<'_, '_> {
    fn assistant_item(&self, text: Option<&str>) -> Value {
        json!({
            "type": "assistant_message",
            "id": self.item_id,
            "thread_id": self.thread_id,
            "created_at": chatkit::instant(spin_support::now()),
            "content": text.map(|t| vec![chatkit::output_text(t)]).unwrap_or_default(),
        })
    }

    async fn start(&mut self) {
        if !self.started {
            self.started = true;
            let item = self.assistant_item(None);
            self.stream.send(&event::item_added(item)).await;
            self.stream
                .send(&event::content_part_added(&self.item_id))
                .await;
        }
    }

    /// Completes the assistant message with `text` (what was streamed plus, after a failure,
    /// the list of changes) and its stored form.
    async fn finish(&mut self, text: &str, stored: Option<Value>) {
        self.start().await;
        if let Some(rest) = text.strip_prefix(self.sent.as_str()) {
            if !rest.is_empty() {
                self.stream
                    .send(&event::text_delta(&self.item_id, rest))
                    .await;
            }
        }
        self.stream
            .send(&event::content_part_done(&self.item_id, text))
            .await;
        let item = stored.unwrap_or_else(|| self.assistant_item(Some(text)));
        self.stream.send(&event::item_done(item)).await;
    }
}

fn tool_progress(name: &str) -> String {
    match name {
        "create_task" => "Creating the task…".into(),
        "list_tasks" => "Looking at your tasks…".into(),
        "get_task" => "Reading the task…".into(),
        "update_task" => "Updating the task…".into(),
        "delete_task" => "Deleting the task…".into(),
        "toggle_complete" => "Updating the task's status…".into(),
        "get_stats" => "Counting your tasks…".into(),
        other => format!("Running {other}…"),
    }
}

impl Progress for ChatKitProgress<'_, '_> {
    async fn text(&mut self, delta: &str) {
        self.start().await;
        self.sent.push_str(delta);
        self.stream
            .send(&event::text_delta(&self.item_id, delta))
            .await;
    }

    async fn tool_started(&mut self, name: &str) {
        self.stream
            .send(&event::progress(&tool_progress(name)))
            .await;
    }

    fn cancelled(&self) -> bool {
        !self.stream.is_open()
    }
}
