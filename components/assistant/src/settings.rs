//! The model's configuration, from Spin variables. A missing or invalid one is a `503` whose
//! `detail` names the variable, so an operator knows what to set.

use std::time::Duration;

use spin_support::config;
use todo_chat::history::Budget;

#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// The Chat Completions base URL, without a trailing slash (`{base}/chat/completions`).
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    /// Each model call (connect, first byte, whole answer) must finish within this.
    pub timeout: Duration,
    /// Model calls per user message.
    pub max_steps: u32,
    pub stream: bool,
    pub history: Budget,
}

/// Why the assistant cannot talk to a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotConfigured(pub String);

fn number(name: &str, default: u64, min: u64, max: u64) -> Result<u64, NotConfigured> {
    match config::optional(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(NotConfigured(format!(
                "The assistant is misconfigured: the variable {name} must be an integer from {min} to {max} (it is '{raw}')"
            ))),
        },
    }
}

fn missing(name: &str, what: &str) -> NotConfigured {
    NotConfigured(format!(
        "The assistant is not configured: set the variable {name} ({what}; SPIN_VARIABLE_{})",
        name.to_uppercase()
    ))
}

impl LlmSettings {
    pub fn from_variables() -> Result<LlmSettings, NotConfigured> {
        let base_url = config::optional("llm_base_url")
            .ok_or_else(|| missing("llm_base_url", "the Chat Completions base URL"))?
            .trim_end_matches('/')
            .to_string();
        let model = config::optional("llm_model")
            .ok_or_else(|| missing("llm_model", "the model's name"))?;
        let origin = config::optional("llm_origin").ok_or_else(|| {
            missing(
                "llm_origin",
                "the scheme://host[:port] of llm_base_url, for allowed_outbound_hosts",
            )
        })?;
        if !within_origin(&base_url, &origin) {
            return Err(NotConfigured(format!(
                "The assistant is misconfigured: llm_base_url ({base_url}) is not on llm_origin ({origin}), the only model host the component may call; set llm_origin to its scheme://host[:port]"
            )));
        }
        Ok(LlmSettings {
            base_url,
            model,
            api_key: config::optional("llm_api_key"),
            timeout: Duration::from_secs(number("llm_timeout_seconds", 60, 1, 600)?),
            max_steps: number("llm_max_steps", 8, 1, 50)? as u32,
            stream: !matches!(
                config::optional("llm_stream").as_deref(),
                Some("false" | "0" | "no" | "off")
            ),
            history: Budget {
                max_messages: number("llm_history_messages", 40, 2, 1000)? as usize,
                max_chars: number("llm_history_chars", 24_000, 1000, 1_000_000)? as usize,
            },
        })
    }

    pub fn completions_url(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }
}

/// Whether `url` is on `origin` (`scheme://host[:port]`, as `allowed_outbound_hosts` has it).
fn within_origin(url: &str, origin: &str) -> bool {
    let origin = origin.trim_end_matches('/');
    url.strip_prefix(origin)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_must_be_on_the_allowed_origin() {
        assert!(within_origin(
            "https://api.openai.com/v1",
            "https://api.openai.com"
        ));
        assert!(within_origin(
            "http://127.0.0.1:11434/v1",
            "http://127.0.0.1:11434/"
        ));
        assert!(within_origin("https://api.z.ai", "https://api.z.ai"));
        assert!(!within_origin(
            "https://api.openai.com.evil.example/v1",
            "https://api.openai.com"
        ));
        assert!(!within_origin(
            "http://127.0.0.1:11435/v1",
            "http://127.0.0.1:1143"
        ));
        assert!(!within_origin("https://api.z.ai/v1", "http://api.z.ai"));
    }
}
