//! Answering: a whole response, or a `text/event-stream` whose head goes out at once and whose
//! events are written as they happen (ChatKit's streamed requests).

use std::pin::Pin;

use futures::{Sink, SinkExt as _};
use serde_json::Value;
use spin_sdk::http::{Fields, OutgoingResponse, Response, ResponseOutparam};
use todo_chat::sse;
use wasi::io::streams::StreamError;

/// The response slot and the headers every response carries (`x-request-id`, CORS).
pub struct Responder {
    out: ResponseOutparam,
    head: Vec<(String, String)>,
}

fn fields(pairs: &[(String, String)]) -> Fields {
    let list: Vec<(String, Vec<u8>)> = pairs
        .iter()
        .map(|(n, v)| (n.clone(), v.as_bytes().to_vec()))
        .collect();
    Fields::from_list(&list).unwrap_or_else(|e| {
        eprintln!("assistant: invalid response headers: {e:?}");
        Fields::new()
    })
}

impl Responder {
    pub fn new(out: ResponseOutparam, head: Vec<(String, String)>) -> Responder {
        Responder { out, head }
    }

    pub async fn send(self, response: Response) {
        let mut pairs: Vec<(String, String)> = response
            .headers()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        pairs.extend(self.head);
        let outgoing = OutgoingResponse::new(fields(&pairs));
        let _ = outgoing.set_status_code(*response.status());
        if let Err(e) = self.out.set_with_body(outgoing, response.into_body()).await {
            eprintln!("assistant: writing a response failed: {e:?}");
        }
    }

    /// Sends a `200 text/event-stream` head; events follow through the returned stream.
    pub fn stream(self) -> EventStream {
        let mut pairs = self.head;
        pairs.extend([
            ("content-type".to_string(), "text/event-stream".to_string()),
            ("cache-control".to_string(), "no-cache".to_string()),
            ("x-accel-buffering".to_string(), "no".to_string()),
        ]);
        let response = OutgoingResponse::new(fields(&pairs));
        let _ = response.set_status_code(200);
        let body = response.take_body();
        self.out.set(response);
        EventStream {
            body: Box::pin(body),
            open: true,
        }
    }
}

/// The events of a streamed answer. Once a write fails (the client went away), it stays closed
/// and writes nothing more.
pub struct EventStream {
    body: Pin<Box<dyn Sink<Vec<u8>, Error = StreamError>>>,
    open: bool,
}

impl EventStream {
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
