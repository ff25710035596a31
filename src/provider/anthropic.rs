//! Anthropic's Messages API with SSE: `message_start`, `content_block_delta` (text and
//! thinking), `message_delta` (stop reason, cumulative `output_tokens`), `message_stop`,
//! `ping`, `error`; unknown event types are ignored, as Anthropic asks.

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::decoder::{FramedDecoder, UnitError, UnitHandler, json};
use super::openai::ids;
use super::sse::{SseEvent, SseParser};
use super::{ChatRequest, Family, KeyStyle, StreamDecoder, StreamItem, WireRole, endpoint};
use crate::config::ProviderConfig;
use crate::history::Usage;

/// The API version we speak.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Anthropic requires `max_tokens`; this is used when the user sets none.
const DEFAULT_MAX_TOKENS: u32 = 8192;

pub struct Anthropic;

fn with_key(
    builder: reqwest::RequestBuilder,
    provider: &ProviderConfig,
    key: Option<&Zeroizing<String>>,
) -> reqwest::RequestBuilder {
    let builder = builder.header("anthropic-version", ANTHROPIC_VERSION);
    super::with_key(builder, provider, key, KeyStyle::Header("x-api-key"))
}

impl Family for Anthropic {
    fn chat_request(
        &self,
        client: &reqwest::Client,
        provider: &ProviderConfig,
        key: Option<&Zeroizing<String>>,
        request: &ChatRequest,
    ) -> reqwest::RequestBuilder {
        let system: Vec<&str> = request
            .messages
            .iter()
            .filter(|m| m.role == WireRole::System)
            .map(|m| m.content.as_str())
            .collect();
        let messages: Vec<_> = request
            .messages
            .iter()
            .filter(|m| m.role != WireRole::System)
            .collect();
        let mut body = json!({
            "model": request.model,
            "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            "messages": messages,
            "stream": true,
        });
        if !system.is_empty() {
            body["system"] = json!(system.join("\n\n"));
        }
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        with_key(client.post(endpoint(provider, "messages")), provider, key)
            .header("Accept", "text/event-stream")
            .json(&body)
    }

    fn decoder(&self, provider: &str) -> Box<dyn StreamDecoder> {
        FramedDecoder::boxed(provider, SseParser::new(), AnthropicHandler::default())
    }

    fn models_request(
        &self,
        client: &reqwest::Client,
        provider: &ProviderConfig,
        key: Option<&Zeroizing<String>>,
    ) -> reqwest::RequestBuilder {
        with_key(client.get(endpoint(provider, "models")), provider, key)
    }

    fn parse_models(&self, body: &Value) -> Vec<String> {
        ids(body.get("data"), "id")
    }
}

/// Reads Messages API events; `message_stop` ends the stream.
#[derive(Default)]
struct AnthropicHandler {
    usage: Usage,
    stopped: bool,
}

impl UnitHandler<SseEvent> for AnthropicHandler {
    fn handle(&mut self, event: SseEvent, out: &mut Vec<StreamItem>) -> Result<(), UnitError> {
        let data = json(&event.data)?;
        let kind = event
            .event
            .as_deref()
            .or_else(|| data.get("type").and_then(Value::as_str))
            .unwrap_or("");
        match kind {
            "message_start" => {
                let usage = data.pointer("/message/usage");
                let count = |name: &str| usage.and_then(|u| u.get(name)).and_then(Value::as_u64);
                self.usage.prompt_tokens = count("input_tokens").unwrap_or(0);
                self.usage.completion_tokens = count("output_tokens").unwrap_or(0);
            }
            "content_block_delta" => {
                let delta = data.get("delta");
                let text = |name: &str| delta.and_then(|d| d.get(name)).and_then(Value::as_str);
                match delta.and_then(|d| d.get("type")).and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(text) = text("text").filter(|t| !t.is_empty()) {
                            out.push(StreamItem::Text(text.to_string()));
                        }
                    }
                    Some("thinking_delta") => {
                        if let Some(text) = text("thinking").filter(|t| !t.is_empty()) {
                            out.push(StreamItem::Reasoning(text.to_string()));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    out.push(StreamItem::Finish(reason.to_string()));
                }
                // output_tokens is cumulative: the latest value is the total.
                if let Some(output) = data.pointer("/usage/output_tokens").and_then(Value::as_u64) {
                    self.usage.completion_tokens = output;
                }
                if let Some(input) = data.pointer("/usage/input_tokens").and_then(Value::as_u64) {
                    self.usage.prompt_tokens = input;
                }
                out.push(StreamItem::Usage(self.usage));
            }
            "message_stop" => {
                self.stopped = true;
                out.push(StreamItem::Done);
            }
            "error" => {
                let message = data
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown error");
                return Err(UnitError::Stream(message.to_string()));
            }
            _ => {} // ping, content_block_start/stop and future event types
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderError;
    use crate::provider::decoder::decode_in_chunks;

    #[test]
    fn decodes_the_event_sequence_at_any_split() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n",
            "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"mull\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi ✓\"}}\n\n",
            "event: brand_new_event\ndata: {\"type\":\"brand_new_event\"}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
        for chunk in 1..30 {
            let out = decode_in_chunks(Anthropic.decoder("anthropic"), stream, chunk).unwrap();
            assert_eq!(
                out,
                vec![
                    StreamItem::Reasoning("mull".into()),
                    StreamItem::Text("Hi ✓".into()),
                    StreamItem::Finish("end_turn".into()),
                    StreamItem::Usage(Usage {
                        prompt_tokens: 12,
                        completion_tokens: 7
                    }),
                    StreamItem::Done,
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn error_events_fail_the_stream() {
        let mut decoder = Anthropic.decoder("anthropic");
        let mut out = Vec::new();
        let error = decoder.feed(b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n", &mut out);
        assert!(
            matches!(error, Err(ProviderError::Stream { message, .. }) if message == "Overloaded")
        );
    }
}
