//! OpenAI-compatible chat completions with SSE: OpenAI, Groq, OpenRouter, and most local and
//! hosted servers (DeepSeek, Mistral, xAI, Gemini's compatible endpoint, LM Studio, llama.cpp,
//! vLLM, LiteLLM).
//!
//! Quirks handled: `: comment` keep-alives, the final usage chunk with empty `choices`
//! (`stream_options.include_usage`), Groq's `x_groq.usage`, reasoning deltas (`reasoning` or
//! `reasoning_content`), and an `error` object in the middle of the stream.

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::decoder::{FramedDecoder, UnitError, UnitHandler, json};
use super::sse::{SseEvent, SseParser};
use super::{ChatRequest, Family, KeyStyle, StreamDecoder, StreamItem, endpoint, with_key};
use crate::config::ProviderConfig;
use crate::history::Usage;

pub struct OpenAi;

impl Family for OpenAi {
    fn chat_request(
        &self,
        client: &reqwest::Client,
        provider: &ProviderConfig,
        key: Option<&Zeroizing<String>>,
        request: &ChatRequest,
    ) -> reqwest::RequestBuilder {
        let mut body = json!({
            "model": request.model,
            "messages": request.messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(max_tokens) = request.max_tokens {
            body["max_tokens"] = json!(max_tokens);
        }
        let builder = client
            .post(endpoint(provider, "chat/completions"))
            .header("Accept", "text/event-stream")
            .json(&body);
        with_key(builder, provider, key, KeyStyle::Bearer)
    }

    fn decoder(&self, provider: &str) -> Box<dyn StreamDecoder> {
        FramedDecoder::boxed(provider, SseParser::new(), OpenAiHandler::default())
    }

    fn models_request(
        &self,
        client: &reqwest::Client,
        provider: &ProviderConfig,
        key: Option<&Zeroizing<String>>,
    ) -> reqwest::RequestBuilder {
        with_key(
            client.get(endpoint(provider, "models")),
            provider,
            key,
            KeyStyle::Bearer,
        )
    }

    fn parse_models(&self, body: &Value) -> Vec<String> {
        ids(body.get("data"), "id")
    }
}

/// The `key` field of every object in a JSON array.
pub(super) fn ids(list: Option<&Value>, key: &str) -> Vec<String> {
    let mut ids: Vec<String> = list
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.get(key).and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Reads OpenAI chat-completion chunks; `[DONE]` (or a finish reason) ends the stream.
#[derive(Default)]
struct OpenAiHandler {
    finished: bool,
}

impl UnitHandler<SseEvent> for OpenAiHandler {
    fn handle(&mut self, event: SseEvent, out: &mut Vec<StreamItem>) -> Result<(), UnitError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.finished = true;
            out.push(StreamItem::Done);
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk = json(data)?;
        if let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) {
            let delta = choice.get("delta");
            let field = |name: &str| delta.and_then(|d| d.get(name)).and_then(Value::as_str);
            if let Some(reasoning) = field("reasoning_content").or_else(|| field("reasoning"))
                && !reasoning.is_empty()
            {
                out.push(StreamItem::Reasoning(reasoning.to_string()));
            }
            if let Some(text) = field("content")
                && !text.is_empty()
            {
                out.push(StreamItem::Text(text.to_string()));
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finished = true;
                out.push(StreamItem::Finish(reason.to_string()));
            }
        }
        let usage = chunk
            .get("usage")
            .filter(|u| !u.is_null())
            .or_else(|| chunk.get("x_groq").and_then(|x| x.get("usage")));
        if let Some(usage) = usage {
            let count = |name: &str| usage.get(name).and_then(Value::as_u64).unwrap_or(0);
            out.push(StreamItem::Usage(Usage {
                prompt_tokens: count("prompt_tokens"),
                completion_tokens: count("completion_tokens"),
            }));
        }
        // Checked last: a chunk carrying text and an error keeps its text.
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| error.to_string());
            return Err(UnitError::Stream(message));
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::provider::ProviderError;
    use crate::provider::decoder::decode_in_chunks;

    fn decode(stream: &str, chunk: usize) -> Result<Vec<StreamItem>, ProviderError> {
        decode_in_chunks(OpenAi.decoder("groq"), stream, chunk)
    }

    #[test]
    fn decodes_text_reasoning_usage_and_done_at_any_split() {
        let stream = concat!(
            ": OPENROUTER PROCESSING\n\n",
            "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n",
            "data: {\"choices\":[{\"delta\":{\"reasoning_content\":\"hm\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Grüß \"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"dich\"},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n"
        );
        let expected = vec![
            StreamItem::Reasoning("hm".into()),
            StreamItem::Text("Grüß ".into()),
            StreamItem::Text("dich".into()),
            StreamItem::Finish("stop".into()),
            StreamItem::Usage(Usage {
                prompt_tokens: 5,
                completion_tokens: 2,
            }),
            StreamItem::Done,
        ];
        for chunk in 1..40 {
            assert_eq!(decode(stream, chunk).unwrap(), expected, "chunk {chunk}");
        }
    }

    #[test]
    fn groq_usage_and_mid_stream_errors() {
        let groq = "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":9}}}\n\ndata: [DONE]\n\n";
        assert!(decode(groq, 7).unwrap().contains(&StreamItem::Usage(Usage {
            prompt_tokens: 1,
            completion_tokens: 9
        })));
        let error = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n";
        assert!(
            matches!(decode(error, 5), Err(ProviderError::Stream { message, .. }) if message == "overloaded")
        );
    }

    #[test]
    fn items_before_an_error_in_the_same_chunk_stay_in_out() {
        let stream = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"one \"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"two\"}}],\"error\":{\"message\":\"x\"}}\n\n",
        );
        let mut decoder = OpenAi.decoder("groq");
        let mut out = Vec::new();
        let error = decoder.feed(stream.as_bytes(), &mut out).unwrap_err();
        assert!(matches!(error, ProviderError::Stream { .. }), "{error:?}");
        assert_eq!(
            out,
            vec![
                StreamItem::Text("one ".into()),
                StreamItem::Text("two".into())
            ]
        );
        // An overlong line after a complete event: the event is still decoded.
        let mut decoder = OpenAi.decoder("groq");
        let mut out = Vec::new();
        let mut long =
            b"data: {\"choices\":[{\"delta\":{\"content\":\"kept\"}}]}\n\ndata: ".to_vec();
        long.resize(long.len() + 9 * 1024 * 1024, b'x');
        assert!(decoder.feed(&long, &mut out).is_err());
        assert_eq!(out, vec![StreamItem::Text("kept".into())]);
    }

    #[test]
    fn a_stream_without_its_terminator_is_truncated() {
        let cut = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n";
        assert!(matches!(
            decode(cut, 3),
            Err(ProviderError::Truncated { .. })
        ));
    }
}
