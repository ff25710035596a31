//! Ollama's native `/api/chat` with NDJSON: `message.content` (and `message.thinking`) per
//! line, a last line with `done: true`, `done_reason`, `prompt_eval_count` and `eval_count`,
//! and a bare `{"error": ...}` line mid-stream even with status 200.

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::decoder::{FramedDecoder, UnitError, UnitHandler, json};
use super::ndjson::NdjsonParser;
use super::openai::ids;
use super::{ChatRequest, Family, KeyStyle, StreamDecoder, StreamItem, endpoint, with_key};
use crate::config::ProviderConfig;
use crate::history::Usage;

pub struct Ollama;

impl Family for Ollama {
    fn chat_request(
        &self,
        client: &reqwest::Client,
        provider: &ProviderConfig,
        key: Option<&Zeroizing<String>>,
        request: &ChatRequest,
    ) -> reqwest::RequestBuilder {
        let mut options = serde_json::Map::new();
        if let Some(temperature) = request.temperature {
            options.insert("temperature".into(), json!(temperature));
        }
        if let Some(max_tokens) = request.max_tokens {
            options.insert("num_predict".into(), json!(max_tokens));
        }
        let mut body =
            json!({"model": request.model, "messages": request.messages, "stream": true});
        if !options.is_empty() {
            body["options"] = Value::Object(options);
        }
        let builder = client.post(endpoint(provider, "api/chat")).json(&body);
        // A key is only sent if the user stored or named one (Ollama behind an
        // authenticating proxy).
        with_key(builder, provider, key, KeyStyle::Bearer)
    }

    fn decoder(&self, provider: &str) -> Box<dyn StreamDecoder> {
        FramedDecoder::boxed(provider, NdjsonParser::new(), OllamaHandler::default())
    }

    fn models_request(
        &self,
        client: &reqwest::Client,
        provider: &ProviderConfig,
        key: Option<&Zeroizing<String>>,
    ) -> reqwest::RequestBuilder {
        with_key(
            client.get(endpoint(provider, "api/tags")),
            provider,
            key,
            KeyStyle::Bearer,
        )
    }

    fn parse_models(&self, body: &Value) -> Vec<String> {
        ids(body.get("models"), "name")
    }
}

/// Reads `/api/chat` lines; `done: true` ends the stream.
#[derive(Default)]
struct OllamaHandler {
    done: bool,
}

impl UnitHandler<String> for OllamaHandler {
    fn handle(&mut self, line: String, out: &mut Vec<StreamItem>) -> Result<(), UnitError> {
        let value = json(&line)?;
        if let Some(error) = value.get("error") {
            let message = error
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| error.to_string());
            return Err(UnitError::Stream(message));
        }
        let field = |name: &str| {
            value
                .pointer(&format!("/message/{name}"))
                .and_then(Value::as_str)
        };
        if let Some(thinking) = field("thinking").filter(|t| !t.is_empty()) {
            out.push(StreamItem::Reasoning(thinking.to_string()));
        }
        if let Some(text) = field("content").filter(|t| !t.is_empty()) {
            out.push(StreamItem::Text(text.to_string()));
        }
        if value.get("done").and_then(Value::as_bool) == Some(true) {
            let reason = value
                .get("done_reason")
                .and_then(Value::as_str)
                .unwrap_or("stop");
            out.push(StreamItem::Finish(reason.to_string()));
            let count = |name: &str| value.get(name).and_then(Value::as_u64).unwrap_or(0);
            out.push(StreamItem::Usage(Usage {
                prompt_tokens: count("prompt_eval_count"),
                completion_tokens: count("eval_count"),
            }));
            out.push(StreamItem::Done);
            self.done = true;
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderError;
    use crate::provider::decoder::decode_in_chunks;

    fn decode(stream: &str, chunk: usize) -> Result<Vec<StreamItem>, ProviderError> {
        decode_in_chunks(Ollama.decoder("ollama"), stream, chunk)
    }

    #[test]
    fn decodes_lines_and_the_done_record() {
        let stream = "{\"message\":{\"role\":\"assistant\",\"content\":\"Hé\"},\"done\":false}\n{\"message\":{\"content\":\"llo\"},\"done\":false}\n{\"message\":{\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":26,\"eval_count\":3}\n";
        for chunk in 1..20 {
            assert_eq!(
                decode(stream, chunk).unwrap(),
                vec![
                    StreamItem::Text("Hé".into()),
                    StreamItem::Text("llo".into()),
                    StreamItem::Finish("stop".into()),
                    StreamItem::Usage(Usage {
                        prompt_tokens: 26,
                        completion_tokens: 3
                    }),
                    StreamItem::Done
                ]
            );
        }
    }

    #[test]
    fn a_bare_error_line_fails_and_a_cut_stream_is_truncated() {
        let error =
            "{\"message\":{\"content\":\"a\"},\"done\":false}\n{\"error\":\"model crashed\"}\n";
        assert!(
            matches!(decode(error, 4), Err(ProviderError::Stream { message, .. }) if message == "model crashed")
        );
        assert!(matches!(
            decode("{\"message\":{\"content\":\"a\"}}\n", 4),
            Err(ProviderError::Truncated { .. })
        ));
    }
}
