//! A thread's stored items as the model sees them, within a budget: the newest items that fit
//! in both a number of messages and a number of characters; the oldest are dropped first, and a
//! tool step (the assistant's tool calls and their results) is kept or dropped whole, since a
//! tool result without the call it answers is refused by Chat Completions.

use serde::{Deserialize, Serialize};

use crate::wire::{Message, ToolCall};

/// One stored thread item, in the form the model needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HistoryItem {
    /// `text` is what the model reads; the rest is what a ChatKit client sent, kept to show
    /// the message back as it was written.
    UserMessage {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parts: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quoted_text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inference_options: Option<serde_json::Value>,
    },
    AssistantMessage {
        text: String,
    },
    /// One model step that called tools: what the model said with the calls, and each call
    /// with the text fed back to the model as its result.
    ToolStep {
        #[serde(default)]
        text: Option<String>,
        calls: Vec<ToolExchange>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolExchange {
    pub call: ToolCall,
    pub output: String,
}

impl HistoryItem {
    /// A plain user message (as `/api/chat` receives it).
    pub fn user(text: &str) -> HistoryItem {
        HistoryItem::UserMessage {
            text: text.to_string(),
            parts: None,
            quoted_text: None,
            inference_options: None,
        }
    }

    pub fn messages(&self) -> Vec<Message> {
        match self {
            HistoryItem::UserMessage { text, .. } => vec![Message::User {
                content: text.clone(),
            }],
            HistoryItem::AssistantMessage { text } => vec![Message::Assistant {
                content: Some(text.clone()),
                tool_calls: Vec::new(),
            }],
            HistoryItem::ToolStep { text, calls } => {
                let mut messages = vec![Message::Assistant {
                    content: text.clone().filter(|t| !t.is_empty()),
                    tool_calls: calls.iter().map(|c| c.call.clone()).collect(),
                }];
                messages.extend(calls.iter().map(|c| Message::Tool {
                    tool_call_id: c.call.id.clone(),
                    content: c.output.clone(),
                }));
                messages
            }
        }
    }
}

/// How much history goes to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub max_messages: usize,
    pub max_chars: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_messages: 40,
            max_chars: 24_000,
        }
    }
}

/// The messages of the newest `items` (given oldest first) that fit in `budget`.
pub fn within_budget(items: &[HistoryItem], budget: Budget) -> Vec<Message> {
    let mut kept: Vec<Vec<Message>> = Vec::new();
    let (mut messages, mut chars) = (0usize, 0usize);
    for item in items.iter().rev() {
        let unit = item.messages();
        let unit_chars: usize = unit.iter().map(Message::text_len).sum();
        if messages + unit.len() > budget.max_messages || chars + unit_chars > budget.max_chars {
            break;
        }
        messages += unit.len();
        chars += unit_chars;
        kept.push(unit);
    }
    // A history that starts with the assistant's answer to a dropped question reads oddly to
    // a model; start at a user message when there is one.
    while kept
        .last()
        .is_some_and(|unit| !matches!(unit.first(), Some(Message::User { .. })))
    {
        kept.pop();
    }
    kept.into_iter().rev().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::FunctionCall;
    use proptest::prelude::*;

    fn step(id: &str, output: &str) -> HistoryItem {
        HistoryItem::ToolStep {
            text: None,
            calls: vec![ToolExchange {
                call: ToolCall {
                    id: id.into(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: "list_tasks".into(),
                        arguments: "{}".into(),
                    },
                },
                output: output.into(),
            }],
        }
    }

    fn user(text: &str) -> HistoryItem {
        HistoryItem::user(text)
    }

    fn assistant(text: &str) -> HistoryItem {
        HistoryItem::AssistantMessage { text: text.into() }
    }

    #[test]
    fn everything_fits_in_a_large_budget() {
        let items = vec![user("a"), step("c1", "[]"), assistant("none")];
        let messages = within_budget(&items, Budget::default());
        assert_eq!(messages.len(), 4);
        assert!(matches!(&messages[2], Message::Tool { tool_call_id, .. } if tool_call_id == "c1"));
    }

    #[test]
    fn the_oldest_turns_go_first_and_tool_steps_stay_whole() {
        let items = vec![
            user("first"),
            assistant("one"),
            user("second"),
            step("c1", "[...]"),
            assistant("two"),
        ];
        // Room for 4 messages: the step (2 messages) and the answer fit, "second" too; the
        // first turn does not.
        let messages = within_budget(
            &items,
            Budget {
                max_messages: 4,
                max_chars: 1000,
            },
        );
        assert_eq!(messages.len(), 4);
        assert_eq!(
            messages[0],
            Message::User {
                content: "second".into()
            }
        );
        // Room for 3: the step and the answer, but then the history would start with the
        // assistant: it starts at no user message, so nothing of that turn is kept.
        let messages = within_budget(
            &items,
            Budget {
                max_messages: 3,
                max_chars: 1000,
            },
        );
        assert!(messages.is_empty(), "{messages:?}");
    }

    proptest! {
        #[test]
        fn the_budget_always_holds_and_no_tool_result_is_orphaned(
            texts in proptest::collection::vec(("[a-z]{0,50}", 0u8..3), 0..40),
            max_messages in 0usize..30,
            max_chars in 0usize..600,
        ) {
            let items: Vec<HistoryItem> = texts.iter().enumerate().map(|(i, (t, kind))| match kind {
                0 => user(t),
                1 => assistant(t),
                _ => step(&format!("c{i}"), t),
            }).collect();
            let budget = Budget { max_messages, max_chars };
            let messages = within_budget(&items, budget);
            prop_assert!(messages.len() <= max_messages);
            prop_assert!(messages.iter().map(Message::text_len).sum::<usize>() <= max_chars);
            if let Some(first) = messages.first() {
                let starts_with_user = matches!(first, Message::User { .. });
                prop_assert!(starts_with_user);
            }
            for (i, message) in messages.iter().enumerate() {
                if let Message::Tool { tool_call_id, .. } = message {
                    let answered = messages[..i].iter().any(|m| matches!(m,
                        Message::Assistant { tool_calls, .. } if tool_calls.iter().any(|c| &c.id == tool_call_id)));
                    prop_assert!(answered);
                }
            }
            // The newest items are the ones kept: the last message is the last item's.
            if let (Some(last), Some(item)) = (messages.last(), items.last()) {
                let item_messages = item.messages();
                prop_assert_eq!(Some(last), item_messages.last());
            }
        }
    }
}
