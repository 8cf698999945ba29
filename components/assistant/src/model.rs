//! One call to the model: `POST {llm_base_url}/chat/completions` through Spin's outbound HTTP,
//! streamed (`stream: true`) unless `llm_stream` is off. A server that ignores `stream` and
//! answers one JSON completion is read as such. The whole call, from connecting to the last
//! byte, runs under the deadline of `llm_timeout_seconds`.

use futures::StreamExt as _;
use spin_sdk::http::{IncomingResponse, Method, Request};
use todo_chat::sse::SseDecoder;
use todo_chat::wire::{self, Completion, Message, StreamAccumulator, ToolSpec, WireError};

use crate::agent::Progress;
use crate::deadline::Deadline;
use crate::settings::LlmSettings;

/// The most the component reads of one answer.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    /// No connection, or it broke (including a host not in `allowed_outbound_hosts`).
    Unreachable(String),
    /// No complete answer within `llm_timeout_seconds`.
    TimedOut(u64),
    /// The endpoint answered with an error status.
    Status { status: u16, message: String },
    /// The answer could not be read as a completion.
    Malformed(String),
}

impl ModelError {
    /// A short code for clients (`/api/chat`'s `error.code`).
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Unreachable(_) => "model_unreachable",
            ModelError::TimedOut(_) => "model_timeout",
            ModelError::Status { .. } => "model_error",
            ModelError::Malformed(_) => "model_malformed_answer",
        }
    }

    /// What the user is told.
    pub fn user_message(&self) -> String {
        match self {
            ModelError::Unreachable(_) => {
                "I could not reach the AI model, so I could not finish. Please try again in a moment.".into()
            }
            ModelError::TimedOut(seconds) => format!(
                "The AI model did not answer within {seconds} seconds, so I stopped. Please try again."
            ),
            ModelError::Status { status, .. } => format!(
                "The AI model answered with an error (HTTP {status}), so I could not finish. Please try again later."
            ),
            ModelError::Malformed(_) => {
                "The AI model sent an answer I could not read, so I stopped. Please try again.".into()
            }
        }
    }

    /// What the log gets (never shown to users: it may quote the endpoint).
    pub fn cause(&self) -> String {
        match self {
            ModelError::Unreachable(cause) | ModelError::Malformed(cause) => cause.clone(),
            ModelError::TimedOut(seconds) => format!("no answer within {seconds} s"),
            ModelError::Status { status, message } => format!("HTTP {status}: {message}"),
        }
    }
}

impl From<WireError> for ModelError {
    fn from(error: WireError) -> Self {
        match error {
            WireError::Malformed(cause) => ModelError::Malformed(cause),
            WireError::Api(message) => ModelError::Status {
                status: 200,
                message,
            },
        }
    }
}

/// Calls the model with `messages` and `tools`; text goes to `progress` as it arrives.
pub async fn complete<P: Progress>(
    settings: &LlmSettings,
    messages: &[Message],
    tools: &[ToolSpec],
    progress: &mut P,
) -> Result<Completion, ModelError> {
    let deadline = Deadline::after(settings.timeout);
    let seconds = settings.timeout.as_secs();
    deadline
        .run(call(settings, messages, tools, progress))
        .await
        .unwrap_or(Err(ModelError::TimedOut(seconds)))
}

async fn call<P: Progress>(
    settings: &LlmSettings,
    messages: &[Message],
    tools: &[ToolSpec],
    progress: &mut P,
) -> Result<Completion, ModelError> {
    let body = wire::request_body(&settings.model, messages, tools, settings.stream);
    let mut builder = Request::builder();
    builder
        .method(Method::Post)
        .uri(settings.completions_url())
        .header("content-type", "application/json")
        .header(
            "accept",
            if settings.stream {
                "text/event-stream, application/json"
            } else {
                "application/json"
            },
        );
    if let Some(key) = &settings.api_key {
        builder.header("authorization", format!("Bearer {key}"));
    }
    let body = serde_json::to_vec(&body).unwrap_or_default();
    // A known length rather than a chunked body: some servers (and proxies) refuse chunked
    // requests.
    builder.header("content-length", body.len().to_string());
    let request = builder.body(body).build();
    let response: IncomingResponse = spin_sdk::http::send(request)
        .await
        .map_err(|e| ModelError::Unreachable(e.to_string()))?;
    let status = response.status();
    let content_type = response
        .headers()
        .entries()
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| String::from_utf8_lossy(&value).to_ascii_lowercase())
        .unwrap_or_default();
    let mut chunks = response.take_body_stream();
    if !(200..300).contains(&status) {
        let body = read_all(&mut chunks).await.unwrap_or_default();
        let message = serde_json::from_slice(&body)
            .ok()
            .and_then(|v| wire::error_message(&v))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect());
        return Err(ModelError::Status { status, message });
    }
    if !content_type.starts_with("text/event-stream") {
        let body = read_all(&mut chunks).await?;
        let completion = wire::parse_completion(&body)?;
        if !completion.text.is_empty() {
            progress.text(&completion.text).await;
        }
        return Ok(completion);
    }
    let mut decoder = SseDecoder::default();
    let mut accumulator = StreamAccumulator::default();
    let mut read = 0usize;
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| ModelError::Unreachable(format!("reading the stream: {e:?}")))?;
        read += chunk.len();
        if read > MAX_ANSWER_BYTES {
            return Err(ModelError::Malformed(
                "the answer is larger than 4 MiB".into(),
            ));
        }
        for data in decoder.push(&chunk) {
            let text = accumulator.push(&data)?;
            if !text.is_empty() {
                progress.text(&text).await;
            }
        }
    }
    if let Some(data) = decoder.finish() {
        let text = accumulator.push(&data)?;
        if !text.is_empty() {
            progress.text(&text).await;
        }
    }
    Ok(accumulator.finish()?)
}

async fn read_all<S, E>(chunks: &mut S) -> Result<Vec<u8>, ModelError>
where
    S: futures::Stream<Item = Result<Vec<u8>, E>> + Unpin,
    E: std::fmt::Debug,
{
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| ModelError::Unreachable(format!("reading the answer: {e:?}")))?;
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ModelError::Malformed(
                "the answer is larger than 4 MiB".into(),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
