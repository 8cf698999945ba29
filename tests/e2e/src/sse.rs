//! A Server-Sent Events client for the tests: a streaming reqwest body and a small
//! `text/event-stream` parser. By default it behaves like a browser page that only sets
//! `EventSource.onmessage` (the seed's frontend): frames with an `event:` name are dropped
//! unseen, as a browser would.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::TestApp;

/// One dispatched SSE item.
#[derive(Debug, Clone)]
pub enum Item {
    Event {
        id: String,
        event: String,
        data: Value,
    },
    Comment(String),
    Retry(u64),
    /// A named event an `onmessage`-only client never sees (its `event:` name).
    Unheard(String),
    /// The response body ended (cleanly or not).
    End,
}

/// An open SSE response, parsed by a background task.
pub struct Sse {
    pub headers: reqwest::header::HeaderMap,
    rx: mpsc::UnboundedReceiver<Item>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sse {
    fn drop(&mut self) {
        // Dropping the body closes the connection: the client goes away.
        self.task.abort();
    }
}

/// Which events the client dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listening {
    /// `EventSource.onmessage` only: events of type `message` (no `event:` line, or
    /// `event: message`); named events are dropped, as a browser does when nobody listens.
    OnMessage,
    /// A listener for every event type (`addEventListener(<topic>, ...)`).
    EveryType,
}

/// Parses `text/event-stream` blocks (`\n`, `\r\n` or `\r` line ends) into items.
struct Parser {
    listening: Listening,
    buffer: String,
    id: Option<String>,
    event: Option<String>,
    data: Vec<String>,
}

impl Parser {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<Item>) {
        self.buffer.push_str(&String::from_utf8_lossy(chunk));
        while let Some(pos) = self.buffer.find(['\n', '\r']) {
            let line = self.buffer[..pos].to_string();
            let mut skip = 1;
            if self.buffer[pos..].starts_with("\r\n") {
                skip = 2;
            }
            self.buffer.drain(..pos + skip);
            self.line(&line, out);
        }
    }

    fn new(listening: Listening) -> Parser {
        Parser {
            listening,
            buffer: String::new(),
            id: None,
            event: None,
            data: Vec::new(),
        }
    }

    fn line(&mut self, line: &str, out: &mut Vec<Item>) {
        if line.is_empty() {
            if !self.data.is_empty() {
                let data = self.data.join("\n");
                let event = self.event.take().unwrap_or_else(|| "message".into());
                if event == "message" || self.listening == Listening::EveryType {
                    out.push(Item::Event {
                        id: self.id.clone().unwrap_or_default(),
                        event,
                        data: serde_json::from_str(&data)
                            .unwrap_or_else(|e| panic!("data is not JSON ({e}): {data:?}")),
                    });
                } else {
                    out.push(Item::Unheard(event));
                }
                self.data.clear();
            }
            self.event = None;
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            out.push(Item::Comment(comment.trim().to_string()));
            return;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.id = Some(value.to_string()),
            "event" => self.event = Some(value.to_string()),
            "data" => self.data.push(value.to_string()),
            "retry" => out.push(Item::Retry(value.parse().expect("numeric retry"))),
            other => panic!("unexpected SSE field {other:?} in line {line:?}"),
        }
    }
}

/// A client for long-lived responses: no overall request timeout.
pub fn sse_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

impl Sse {
    /// Opens `/api/sse/{user}` with `request`'s extras as an `onmessage`-only client, asserts
    /// `200`, and waits for the `retry:` hint (the response head and first chunk: from then on
    /// the start position is fixed, so anything published afterwards must arrive).
    pub async fn open(request: reqwest::RequestBuilder) -> Sse {
        Sse::try_open(request)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The same as a client listening to every event type.
    pub async fn open_listening_to_every_type(request: reqwest::RequestBuilder) -> Sse {
        Sse::try_open_as(request, Listening::EveryType)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn try_open(request: reqwest::RequestBuilder) -> Result<Sse, String> {
        Sse::try_open_as(request, Listening::OnMessage).await
    }

    pub async fn try_open_as(
        request: reqwest::RequestBuilder,
        listening: Listening,
    ) -> Result<Sse, String> {
        let response = request
            .send()
            .await
            .map_err(|e| format!("SSE request failed: {e}"))?;
        let status = response.status();
        let headers = response.headers().clone();
        if status != 200 {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("SSE request answered {status}: {body}"));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut body = response.bytes_stream();
            let mut parser = Parser::new(listening);
            while let Some(chunk) = body.next().await {
                let Ok(chunk) = chunk else { break };
                let mut items = Vec::new();
                parser.feed(&chunk, &mut items);
                for item in items {
                    if tx.send(item).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(Item::End);
        });
        let mut sse = Sse { headers, rx, task };
        match sse.next_item(Duration::from_secs(60)).await {
            Some(Item::Retry(3000)) => Ok(sse),
            other => Err(format!("expected the retry hint first, got {other:?}")),
        }
    }

    /// The next item already received, without waiting.
    pub fn try_next_item(&mut self) -> Option<Item> {
        self.rx.try_recv().ok()
    }

    pub async fn next_item(&mut self, timeout: Duration) -> Option<Item> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next event (comments skipped); panics on timeout or end of stream.
    pub async fn next_event(&mut self, timeout: Duration) -> (String, String, Value) {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_item(left).await {
                Some(Item::Event { id, event, data }) => return (id, event, data),
                Some(Item::Comment(_)) | Some(Item::Retry(_)) => continue,
                Some(Item::Unheard(name)) => {
                    panic!("a frame named {name:?}: onmessage never sees it")
                }
                Some(Item::End) => panic!("the stream ended while an event was expected"),
                None => panic!("no event within {timeout:?}"),
            }
        }
    }

    pub async fn events(&mut self, n: usize, timeout: Duration) -> Vec<(String, String, Value)> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_item(left).await {
                Some(Item::Event { id, event, data }) => out.push((id, event, data)),
                Some(Item::Comment(_)) | Some(Item::Retry(_)) => continue,
                Some(Item::Unheard(name)) => {
                    panic!("a frame named {name:?}: onmessage never sees it")
                }
                Some(Item::End) => panic!(
                    "the stream ended after {} of {n} events: {out:?}",
                    out.len()
                ),
                None => panic!(
                    "only {} of {n} events within {timeout:?}: {out:?}",
                    out.len()
                ),
            }
        }
        out
    }

    /// Asserts that no event arrives within `quiet`.
    pub async fn assert_quiet(&mut self, quiet: Duration) {
        let deadline = Instant::now() + quiet;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.next_item(left).await {
                Some(Item::Event { id, event, data }) => {
                    panic!("unexpected event {id} {event}: {data}")
                }
                Some(Item::Unheard(name)) => panic!("unexpected frame named {name:?}"),
                Some(Item::End) => panic!("the stream ended"),
                Some(_) => continue,
                None => return,
            }
        }
    }
}

pub fn sse_request(app: &TestApp, client: &reqwest::Client, user: &str) -> reqwest::RequestBuilder {
    client
        .get(app.url(&format!("/api/sse/{user}")))
        .bearer_auth(app.token(user))
}

pub async fn open_stream(app: &TestApp, client: &reqwest::Client, user: &str) -> Sse {
    Sse::open(sse_request(app, client, user)).await
}
