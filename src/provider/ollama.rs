//! Ollama's native `/api/chat` with NDJSON: `message.content` (and `message.thinking`) per
//! line, a last line with `done: true`, `done_reason`, `prompt_eval_count` and `eval_count`,
//! and a bare `{"error": ...}` line mid-stream even with status 200.

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::ndjson::NdjsonParser;
use super::openai::ids;
use super::{ChatRequest, Family, ProviderError, StreamDecoder, StreamItem, endpoint};
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
        match key {
            // A key is only sent if the user stored one (Ollama behind an authenticating proxy).
            Some(key) => builder.bearer_auth(key.as_str()),
            None => builder,
        }
    }

    fn decoder(&self, provider: &str) -> Box<dyn StreamDecoder> {
        Box::new(OllamaDecoder {
            provider: provider.to_string(),
            lines: NdjsonParser::new(),
            pending: Vec::new(),
            done: false,
        })
    }

    fn models_request(
        &self,
        client: &reqwest::Client,
        provider: &ProviderConfig,
        _key: Option<&Zeroizing<String>>,
    ) -> reqwest::RequestBuilder {
        client.get(endpoint(provider, "api/tags"))
    }

    fn parse_models(&self, body: &Value) -> Vec<String> {
        ids(body.get("models"), "name")
    }

    fn needs_key(&self) -> bool {
        false
    }
}

struct OllamaDecoder {
    provider: String,
    lines: NdjsonParser,
    pending: Vec<String>,
    done: bool,
}

impl OllamaDecoder {
    fn drain(&mut self, out: &mut Vec<StreamItem>) -> Result<(), ProviderError> {
        for line in std::mem::take(&mut self.pending) {
            let value: Value =
                serde_json::from_str(&line).map_err(|error| ProviderError::Protocol {
                    provider: self.provider.clone(),
                    detail: format!("a stream line is not JSON: {error}"),
                })?;
            if let Some(error) = value.get("error") {
                let message = error
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| error.to_string());
                return Err(ProviderError::Stream {
                    provider: self.provider.clone(),
                    message,
                });
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
        }
        Ok(())
    }
}

impl StreamDecoder for OllamaDecoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamItem>) -> Result<(), ProviderError> {
        self.lines
            .feed(chunk, &mut self.pending)
            .map_err(|error| ProviderError::Protocol {
                provider: self.provider.clone(),
                detail: error.to_string(),
            })?;
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamItem>) -> Result<(), ProviderError> {
        self.lines.finish(&mut self.pending);
        self.drain(out)?;
        if !self.done {
            return Err(ProviderError::Truncated {
                provider: self.provider.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(stream: &str, chunk: usize) -> Result<Vec<StreamItem>, ProviderError> {
        let mut decoder = Ollama.decoder("ollama");
        let mut out = Vec::new();
        for piece in stream.as_bytes().chunks(chunk) {
            decoder.feed(piece, &mut out)?;
        }
        decoder.finish(&mut out)?;
        Ok(out)
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
