//! Providers: one trait for "stream a chat", one file per wire family (`openai` for every
//! OpenAI-compatible endpoint, `anthropic`, `ollama`), the shared stream parsers (`sse`,
//! `ndjson`) and the HTTP driving that all of them share (`stream`).
//!
//! A family knows how to build its request and how to decode its stream into [`StreamItem`]s;
//! it knows nothing of JSON-RPC, history or editors.

pub mod anthropic;
pub mod decoder;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod sse;
pub mod stream;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::config::{ProviderConfig, ProviderKind};
use crate::history::Usage;

/// Who said a message, as providers name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WireRole {
    System,
    User,
    Assistant,
}

/// One message of the conversation sent to the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WireMessage {
    pub role: WireRole,
    pub content: String,
}

/// What to ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    /// The whole conversation, system prompt first when there is one.
    pub messages: Vec<WireMessage>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// One piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    Text(String),
    Reasoning(String),
    /// Token counts so far (providers report them at the end, some cumulatively).
    Usage(Usage),
    /// Why the model stopped (`stop`, `length`, ...).
    Finish(String),
    /// The stream's own terminator (`[DONE]`, `message_stop`, `done: true`).
    Done,
}

/// Why a provider call failed. Messages name the provider and status, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} answered HTTP {status}: {message}")]
    Http {
        provider: String,
        status: u16,
        message: String,
        retry_after: Option<u64>,
        /// Whether the request carried a key (a local server sent none may want one).
        key_sent: bool,
    },
    #[error("cannot reach {provider}: {detail}")]
    Unreachable {
        provider: String,
        /// `refused`, `dns`, `tls`, `timeout`, `idle` or `other`.
        reason: &'static str,
        detail: String,
        /// The server's URL when it is a local one that refused: the user can start it.
        local_url: Option<String>,
    },
    #[error("{provider} reported an error mid-stream: {message}")]
    Stream { provider: String, message: String },
    #[error("{provider}'s stream ended before it was complete")]
    Truncated { provider: String },
    #[error("{provider} sent something unexpected: {detail}")]
    Protocol { provider: String, detail: String },
    #[error(
        "no API key for {provider}: store one for {provider}{}",
        env.as_ref().map(|var| format!(" or set ${var}")).unwrap_or_default()
    )]
    KeyMissing {
        provider: String,
        /// The environment variable that would be read.
        env: Option<String>,
    },
    #[error("invalid model name: {0}")]
    BadModel(String),
}

impl ProviderError {
    /// This error with the key in use, and anything shaped like a key, scrubbed from the
    /// text that came from the provider: some providers echo the key they were sent in their
    /// 401 bodies, and this text goes to the editor, the log, the saved answer and exports.
    pub fn scrubbed(self, key: Option<&str>) -> Self {
        let secrets: Vec<&str> = key.into_iter().collect();
        let clean = |text: String| crate::redact::scrub(&text, &secrets);
        match self {
            ProviderError::Http {
                provider,
                status,
                message,
                retry_after,
                key_sent,
            } => ProviderError::Http {
                provider,
                status,
                message: clean(message),
                retry_after,
                key_sent,
            },
            ProviderError::Unreachable {
                provider,
                reason,
                detail,
                local_url,
            } => ProviderError::Unreachable {
                provider,
                reason,
                detail: clean(detail),
                local_url,
            },
            ProviderError::Stream { provider, message } => ProviderError::Stream {
                provider,
                message: clean(message),
            },
            ProviderError::Protocol { provider, detail } => ProviderError::Protocol {
                provider,
                detail: clean(detail),
            },
            other @ (ProviderError::Truncated { .. }
            | ProviderError::KeyMissing { .. }
            | ProviderError::BadModel(_)) => other,
        }
    }
}

/// Decodes one family's stream.
///
/// On an error, `out` still holds every item decoded before the fault (in the same chunk
/// too): the caller relays and saves them, since they are part of the answer the user saw
/// coming.
pub trait StreamDecoder: Send {
    /// Feed a chunk of the body; items decoded so far are pushed to `out`.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamItem>) -> Result<(), ProviderError>;
    /// The body ended; push what is left.
    fn finish(&mut self, out: &mut Vec<StreamItem>) -> Result<(), ProviderError>;
}

/// One wire family.
pub trait Family: Send + Sync {
    /// The streaming chat request.
    fn chat_request(
        &self,
        client: &reqwest::Client,
        provider: &ProviderConfig,
        key: Option<&Zeroizing<String>>,
        request: &ChatRequest,
    ) -> reqwest::RequestBuilder;

    /// A fresh decoder for one response body.
    fn decoder(&self, provider: &str) -> Box<dyn StreamDecoder>;

    /// The request listing the provider's models.
    fn models_request(
        &self,
        client: &reqwest::Client,
        provider: &ProviderConfig,
        key: Option<&Zeroizing<String>>,
    ) -> reqwest::RequestBuilder;

    /// Model ids from the models listing.
    fn parse_models(&self, body: &serde_json::Value) -> Vec<String>;
}

/// The family a provider speaks.
pub fn family(kind: ProviderKind) -> &'static dyn Family {
    match kind {
        ProviderKind::OpenaiCompatible => &openai::OpenAi,
        ProviderKind::Anthropic => &anthropic::Anthropic,
        ProviderKind::Ollama => &ollama::Ollama,
    }
}

/// `base_url` joined with `path`, with exactly one slash between, and the provider's own
/// query parameters (Azure's `api-version`) on every request.
pub fn endpoint(provider: &ProviderConfig, path: &str) -> String {
    let joined = format!(
        "{}/{}",
        provider.base_url.as_str().trim_end_matches('/'),
        path
    );
    if provider.query.is_empty() {
        return joined;
    }
    match url::Url::parse(&joined) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(&provider.query);
            url.into()
        }
        // Not reached: `base_url` is a valid URL and `path` a plain relative path.
        Err(_) => joined,
    }
}

/// How a family sends the key when the provider names no header of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStyle {
    /// `Authorization: Bearer <key>` (OpenAI-compatible, Ollama behind a proxy).
    Bearer,
    /// The key as is in this header (Anthropic's `x-api-key`).
    Header(&'static str),
}

/// The request with the key, if there is one: in the provider's `key_header` as is (Azure's
/// `api-key`), else as the family sends it. The value is marked sensitive so it is never
/// shown in debug output.
pub fn with_key(
    builder: reqwest::RequestBuilder,
    provider: &ProviderConfig,
    key: Option<&Zeroizing<String>>,
    style: KeyStyle,
) -> reqwest::RequestBuilder {
    let Some(key) = key else {
        return builder;
    };
    let header = match (&provider.key_header, style) {
        (Some(header), _) => header.as_str(),
        (None, KeyStyle::Bearer) => return builder.bearer_auth(key.as_str()),
        (None, KeyStyle::Header(name)) => name,
    };
    match reqwest::header::HeaderValue::from_str(key.as_str()) {
        Ok(mut value) => {
            value.set_sensitive(true);
            builder.header(header, value)
        }
        // A key with control characters: reqwest refuses the request without quoting it.
        Err(_) => builder.header(header, key.as_str()),
    }
}

/// The error message inside a provider's JSON error body, if it has one.
pub fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let error = value.get("error")?;
    match error {
        serde_json::Value::String(message) => Some(message.clone()),
        other => other
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubbing_reaches_every_text_from_the_provider() {
        let key = "custom-KEY-0123456789";
        let echo =
            format!("bad key {key}; also sk-proj-abcdefghijklmnop0123 and Bearer abcdefghij");
        let provider = || "p".to_string();
        let errors = [
            ProviderError::Http {
                provider: provider(),
                status: 401,
                message: echo.clone(),
                retry_after: None,
                key_sent: true,
            },
            ProviderError::Unreachable {
                provider: provider(),
                reason: "other",
                detail: echo.clone(),
                local_url: None,
            },
            ProviderError::Stream {
                provider: provider(),
                message: echo.clone(),
            },
            ProviderError::Protocol {
                provider: provider(),
                detail: echo.clone(),
            },
        ];
        for error in errors {
            let text = error.scrubbed(Some(key)).to_string();
            assert!(!text.contains("KEY-0123"), "{text}");
            assert!(!text.contains("abcdefghij"), "{text}");
            assert!(text.contains("bad key [redacted]"), "{text}");
        }
        // Nothing from the provider in these: they pass unchanged.
        let truncated = ProviderError::Truncated {
            provider: provider(),
        };
        assert_eq!(truncated.clone().scrubbed(Some(key)), truncated);
    }
}
