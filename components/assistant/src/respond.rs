//! Answering: a whole response, or a `text/event-stream` whose head goes out at once and whose
//! events are written as they happen (ChatKit's streamed requests). Either way the request's
//! one log line is written when the answer is complete.

use futures::SinkExt as _;
use serde_json::{json, Value};
use spin_sdk::http::{Response, ResponseOutparam};
use spin_support::http::{send_whole, start_event_stream, ApiError, BodySink, Cors};
use spin_support::request::Context;
use todo_chat::sse;

/// The response slot, and the request whose headers and log line every answer carries.
pub struct Responder<'r> {
    out: ResponseOutparam,
    context: &'r Context,
    cors: &'r Cors,
}

impl<'r> Responder<'r> {
    pub fn new(out: ResponseOutparam, context: &'r Context, cors: &'r Cors) -> Responder<'r> {
        Responder { out, context, cors }
    }

    /// Sends `outcome` (an error mapped to its response) and writes the log line.
    pub async fn send(self, outcome: Result<Response, ApiError>) {
        let response = self.context.finish(outcome, Some(self.cors));
        send_whole(self.out, response).await
    }

    /// Sends a `200 text/event-stream` head; events follow through the returned stream, which
    /// writes the log line when it is dropped.
    pub fn stream(self) -> EventStream<'r> {
        let headers = self.context.stream_headers(Some(self.cors));
        EventStream {
            body: start_event_stream(self.out, headers),
            open: true,
            context: self.context,
        }
    }
}

/// The events of a streamed answer. Once a write fails (the client went away), it stays closed
/// and writes nothing more.
pub struct EventStream<'r> {
    body: BodySink,
    open: bool,
    context: &'r Context,
}

impl EventStream<'_> {
    pub async fn send(&mut self, event: &Value) {
        if !self.open {
            return;
        }
        if self.body.send(sse::data_frame(event)).await.is_err() {
            self.open = false;
        }
    }

    pub fn is_open(&self) -> bool {
        self.open
    }
}

impl Drop for EventStream<'_> {
    fn drop(&mut self) {
        let end = if self.open { "done" } else { "client-gone" };
        self.context.log_field("streamEnd", json!(end));
        self.context.write_log(200, None);
    }
}
