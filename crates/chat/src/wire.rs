//! The Chat Completions wire format (`POST {base}/chat/completions`), as the `openai` package's
//! types define it: the request the assistant sends, and the answer it reads, whole
//! (`chat.completion`) or streamed (`chat.completion.chunk` events, then `[DONE]`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    System {
        content: String,
    },
    User {
        content: String,
    },
    /// `content` is `null` when the model only called tools.
    Assistant {
        content: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        tool_call_id: String,
        content: String,
    },
}

impl Message {
    /// Characters of text this message carries (content, tool names and arguments), which is
    /// what the history budget counts.
    pub fn text_len(&self) -> usize {
        match self {
            Message::System { content } | Message::User { content } => content.chars().count(),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                content.as_deref().map_or(0, |c| c.chars().count())
                    + tool_calls
                        .iter()
                        .map(|c| c.function.name.len() + c.function.arguments.chars().count())
                        .sum::<usize>()
            }
            Message::Tool { content, .. } => content.chars().count(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function_kind")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function_kind() -> String {
    "function".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the model wrote it (it may be malformed).
    #[serde(default)]
    pub arguments: String,
}

/// A tool the model may call: `{"type":"function","function":{name, description, parameters}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// The request body. `tool_choice` is only sent with tools (some servers refuse it alone).
pub fn request_body(model: &str, messages: &[Message], tools: &[ToolSpec], stream: bool) -> Value {
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": stream,
    });
    if !tools.is_empty() {
        body["tools"] = tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    }
                })
            })
            .collect();
        body["tool_choice"] = json!("auto");
    }
    body
}

/// What one model call produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WireError {
    /// Not JSON, or JSON without the fields every completion has.
    #[error("the model's answer is malformed: {0}")]
    Malformed(String),
    /// The endpoint answered an `{"error": {...}}` object.
    #[error("the model endpoint reported an error: {0}")]
    Api(String),
}

#[derive(Deserialize)]
struct CompletionBody {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCall>>,
}

/// The message of an `{"error": {"message": ...}}` body, if it is one.
pub fn error_message(value: &Value) -> Option<String> {
    let error = value.get("error")?;
    Some(
        error
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| error.to_string()),
    )
}

/// Parses a whole (non-streamed) `chat.completion`.
pub fn parse_completion(body: &[u8]) -> Result<Completion, WireError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| WireError::Malformed(e.to_string()))?;
    if let Some(message) = error_message(&value) {
        return Err(WireError::Api(message));
    }
    let parsed: CompletionBody =
        serde_json::from_value(value).map_err(|e| WireError::Malformed(e.to_string()))?;
    let choice = parsed
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| WireError::Malformed("no choices".into()))?;
    Ok(Completion {
        text: choice.message.content.unwrap_or_default(),
        tool_calls: choice.message.tool_calls.unwrap_or_default(),
        finish_reason: choice.finish_reason,
    })
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// Rebuilds a completion from the `data:` payloads of a streamed answer: text deltas are
/// handed back as they arrive; tool calls are assembled by `index` (id and name arrive first,
/// the arguments in pieces).
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    completion: Completion,
    done: bool,
    chunks: usize,
}

impl StreamAccumulator {
    /// Takes one event's data. Returns the text it added (possibly empty).
    pub fn push(&mut self, data: &str) -> Result<String, WireError> {
        let data = data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(String::new());
        }
        let value: Value =
            serde_json::from_str(data).map_err(|e| WireError::Malformed(e.to_string()))?;
        if let Some(message) = error_message(&value) {
            return Err(WireError::Api(message));
        }
        let chunk: Chunk =
            serde_json::from_value(value).map_err(|e| WireError::Malformed(e.to_string()))?;
        self.chunks += 1;
        let mut added = String::new();
        for choice in chunk.choices {
            if let Some(reason) = choice.finish_reason {
                self.completion.finish_reason = Some(reason);
            }
            let Some(delta) = choice.delta else { continue };
            if let Some(text) = delta.content {
                added.push_str(&text);
            }
            for (position, call) in delta.tool_calls.unwrap_or_default().into_iter().enumerate() {
                self.merge_tool_call(call, position)?;
            }
        }
        self.completion.text.push_str(&added);
        Ok(added)
    }

    fn merge_tool_call(&mut self, delta: ToolCallDelta, position: usize) -> Result<(), WireError> {
        let index = delta.index.unwrap_or(position);
        if index > self.completion.tool_calls.len() {
            return Err(WireError::Malformed(format!(
                "tool call index {index} skips an index"
            )));
        }
        if index == self.completion.tool_calls.len() {
            self.completion.tool_calls.push(ToolCall {
                id: String::new(),
                kind: function_kind(),
                function: FunctionCall {
                    name: String::new(),
                    arguments: String::new(),
                },
            });
        }
        let call = &mut self.completion.tool_calls[index];
        if let Some(id) = delta.id.filter(|id| !id.is_empty()) {
            call.id = id;
        }
        if let Some(function) = delta.function {
            if let Some(name) = function.name {
                call.function.name.push_str(&name);
            }
            if let Some(arguments) = function.arguments {
                call.function.arguments.push_str(&arguments);
            }
        }
        Ok(())
    }

    /// The completion, once the stream ended. A stream that ended before `[DONE]` and before
    /// any finish reason was cut off.
    pub fn finish(self) -> Result<Completion, WireError> {
        if !self.done && self.completion.finish_reason.is_none() {
            return Err(WireError::Malformed(if self.chunks == 0 {
                "the stream ended without any chunk".into()
            } else {
                "the stream ended before it finished".into()
            }));
        }
        for (i, call) in self.completion.tool_calls.iter().enumerate() {
            if call.id.is_empty() || call.function.name.is_empty() {
                return Err(WireError::Malformed(format!(
                    "tool call {i} has no id or no name"
                )));
            }
        }
        Ok(self.completion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_serialize_as_chat_completions_expects() {
        let messages = vec![
            Message::System {
                content: "s".into(),
            },
            Message::Assistant {
                content: None,
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: "get_stats".into(),
                        arguments: "{}".into(),
                    },
                }],
            },
            Message::Tool {
                tool_call_id: "call_1".into(),
                content: "{\"total\":1}".into(),
            },
        ];
        let value = serde_json::to_value(&messages).unwrap();
        assert_eq!(value[0], json!({"role": "system", "content": "s"}));
        assert_eq!(
            value[1],
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_stats", "arguments": "{}"}}
            ]})
        );
        assert_eq!(value[2]["role"], "tool");
        let tools = [ToolSpec {
            name: "get_stats".into(),
            description: "d".into(),
            parameters: json!({"type": "object"}),
        }];
        let body = request_body("m", &messages, &tools, true);
        assert_eq!(body["tools"][0]["function"]["name"], "get_stats");
        assert_eq!(body["tool_choice"], "auto");
        assert_eq!(body["stream"], true);
        assert!(request_body("m", &messages, &[], false)
            .get("tool_choice")
            .is_none());
    }

    #[test]
    fn whole_completions_parse_text_tool_calls_and_errors() {
        let body = br#"{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"create_task","arguments":"{\"title\":\"x\"}"}}]}}]}"#;
        let completion = parse_completion(body).unwrap();
        assert_eq!(completion.text, "");
        assert_eq!(completion.tool_calls[0].function.name, "create_task");
        assert_eq!(completion.finish_reason.as_deref(), Some("tool_calls"));
        assert!(matches!(
            parse_completion(b"{not json"),
            Err(WireError::Malformed(_))
        ));
        assert!(matches!(
            parse_completion(br#"{"choices":[]}"#),
            Err(WireError::Malformed(_))
        ));
        assert_eq!(
            parse_completion(br#"{"error":{"message":"bad key"}}"#),
            Err(WireError::Api("bad key".into()))
        );
    }

    #[test]
    fn streamed_chunks_accumulate_text_and_tool_calls() {
        let mut acc = StreamAccumulator::default();
        assert_eq!(
            acc.push(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#)
                .unwrap(),
            "Hel"
        );
        assert_eq!(
            acc.push(r#"{"choices":[{"index":0,"delta":{"content":"lo"}}]}"#)
                .unwrap(),
            "lo"
        );
        acc.push(r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"list_tasks","arguments":""}}]}}]}"#).unwrap();
        acc.push(r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"status\":"}}]}}]}"#).unwrap();
        acc.push(r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"pending\"}"}}]},"finish_reason":"tool_calls"}]}"#).unwrap();
        acc.push("[DONE]").unwrap();
        let completion = acc.finish().unwrap();
        assert_eq!(completion.text, "Hello");
        assert_eq!(completion.tool_calls.len(), 1);
        assert_eq!(completion.tool_calls[0].id, "call_9");
        assert_eq!(
            completion.tool_calls[0].function.arguments,
            "{\"status\":\"pending\"}"
        );
    }

    #[test]
    fn cut_off_or_malformed_streams_are_errors() {
        let mut acc = StreamAccumulator::default();
        acc.push(r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#)
            .unwrap();
        assert!(matches!(acc.finish(), Err(WireError::Malformed(_))));
        assert!(matches!(
            StreamAccumulator::default().push("{oops"),
            Err(WireError::Malformed(_))
        ));
        assert_eq!(
            StreamAccumulator::default().push(r#"{"error":{"message":"overloaded"}}"#),
            Err(WireError::Api("overloaded".into()))
        );
        let mut skipping = StreamAccumulator::default();
        assert!(skipping
            .push(r#"{"choices":[{"delta":{"tool_calls":[{"index":2,"id":"c","function":{"name":"x"}}]}}]}"#)
            .is_err());
    }
}
