//! `POST /api/chat`: `{"message", "thread_id"?, "time_zone"?}` -> `{"thread_id", "response",
//! "agent", "tool_calls", "timestamp"}` (the seed's `{response, agent, timestamp}`, extended),
//! plus `error` when the model failed or ran out of steps (the answer then says so).

use serde_json::json;
use spin_sdk::http::IncomingRequest;
use spin_sdk::http::Response;
use spin_support::db::Db;
use spin_support::http::{json_response, read_json_body, ApiError};
use spin_support::log::note;
use todo_chat::chatkit::{instant, title_for};
use todo_chat::history::HistoryItem;
use todo_chat::message::parse_chat_request;
use todo_tasks::Caller;

use crate::agent::{self, Silent, Turn};
use crate::settings::LlmSettings;
use crate::store;

pub async fn handle(incoming: IncomingRequest, caller: Caller<'_>) -> Result<Response, ApiError> {
    let body = read_json_body(incoming).await?;
    let request = parse_chat_request(&body).map_err(ApiError::Validation)?;
    let settings = match LlmSettings::from_variables() {
        Ok(settings) => settings,
        Err(not_configured) => return Err(crate::not_configured(not_configured)),
    };
    let db = Db::open()?;
    let user = caller.user_id;
    let message = HistoryItem::user(&request.message);
    let (thread_id, history) = match &request.thread_id {
        Some(thread_id) => {
            let history = store::history(&db, user, thread_id)?;
            store::add_item(&db, user, thread_id, &message)?;
            (thread_id.clone(), history)
        }
        None => {
            let (thread, _) =
                store::create_thread(&db, user, &title_for(&request.message), &message)?;
            (thread.id, Vec::new())
        }
    };
    let zone = agent::user_zone(&db, user, request.time_zone);
    let turn = Turn {
        settings: &settings,
        db: &db,
        caller,
        thread_id: &thread_id,
        zone,
        history: &history,
        message: &request.message,
    };
    let result = agent::run(turn, &mut Silent).await;
    if !result.text.is_empty() {
        let answer = HistoryItem::AssistantMessage {
            text: result.text.clone(),
        };
        if let Err(e) = store::add_item(&db, user, &thread_id, &answer) {
            note(format!("storing the answer failed: {e}"));
        }
    }
    let mut body = json!({
        "thread_id": thread_id,
        "response": result.text,
        "agent": result.agent.name(),
        "tool_calls": result.tool_calls.iter().map(agent::ToolRecord::to_json).collect::<Vec<_>>(),
        "timestamp": instant(spin_support::now()),
        "time_zone": zone.name(),
    });
    if let Some(error) = result.error() {
        body["error"] = error;
    }
    Ok(json_response(200, &body))
}
