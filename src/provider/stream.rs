//! Driving one provider call over HTTP: send, map HTTP faults to [`ProviderError`]s, honour
//! `Retry-After` on 429 a bounded number of times before anything streamed, then read the body
//! chunk by chunk with an idle timeout and decode it. Dropping a [`ProviderStream`] drops the
//! connection at once (that is how a cancel reaches the provider).

use std::time::Duration;

use zeroize::Zeroizing;

use super::{ChatRequest, Family, ProviderError, StreamDecoder, StreamItem, error_message};
use crate::config::{ProviderConfig, ProviderKind};
use crate::redact;

/// How patient a call is.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// A stream silent for this long is abandoned.
    pub idle_timeout: Duration,
    /// How many times a 429 is retried before giving up.
    pub max_retries: u32,
    /// The longest `Retry-After` we wait for; longer ones are reported instead.
    pub max_retry_wait: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(120),
            max_retries: 2,
            max_retry_wait: Duration::from_secs(20),
        }
    }
}

/// The largest error body read from a failed response.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// An open response body being decoded.
pub struct ProviderStream {
    provider: String,
    /// The key the request carried, to scrub from errors the stream reports.
    key: Option<Zeroizing<String>>,
    response: reqwest::Response,
    decoder: Box<dyn StreamDecoder>,
    idle_timeout: Duration,
    ended: bool,
}

impl ProviderStream {
    /// Wait for the next chunk and decode it into `out`. Returns false once the stream has
    /// ended properly; errors on silence, a broken connection, or a stream that ends without
    /// its terminator.
    pub async fn next_items(&mut self, out: &mut Vec<StreamItem>) -> Result<bool, ProviderError> {
        let result = self.next_items_raw(out).await;
        result.map_err(|error| error.scrubbed(self.key.as_ref().map(|k| k.as_str())))
    }

    async fn next_items_raw(&mut self, out: &mut Vec<StreamItem>) -> Result<bool, ProviderError> {
        if self.ended {
            return Ok(false);
        }
        let chunk = tokio::time::timeout(self.idle_timeout, self.response.chunk())
            .await
            .map_err(|_| ProviderError::Unreachable {
                provider: self.provider.clone(),
                reason: "idle",
                detail: format!(
                    "the stream went silent for {} s",
                    self.idle_timeout.as_secs()
                ),
                local_url: None,
            })?;
        match chunk {
            Ok(Some(bytes)) => {
                self.decoder.feed(&bytes, out)?;
                Ok(true)
            }
            Ok(None) => {
                self.ended = true;
                self.decoder.finish(out)?;
                Ok(false)
            }
            Err(error) => {
                let secrets: Vec<&str> = self.key.iter().map(|k| k.as_str()).collect();
                let error = redact::scrub(&describe(&error), &secrets);
                tracing::warn!(provider = %self.provider, %error, "stream broke");
                Err(ProviderError::Truncated {
                    provider: self.provider.clone(),
                })
            }
        }
    }
}

/// Send the chat request and return the stream once the provider answered 2xx. Errors are
/// scrubbed of the key (see [`ProviderError::scrubbed`]).
pub async fn open(
    client: &reqwest::Client,
    family: &dyn Family,
    provider: &ProviderConfig,
    key: Option<&Zeroizing<String>>,
    request: &ChatRequest,
    limits: StreamLimits,
) -> Result<ProviderStream, ProviderError> {
    open_raw(client, family, provider, key, request, limits)
        .await
        .map_err(|error| error.scrubbed(key.map(|k| k.as_str())))
}

async fn open_raw(
    client: &reqwest::Client,
    family: &dyn Family,
    provider: &ProviderConfig,
    key: Option<&Zeroizing<String>>,
    request: &ChatRequest,
    limits: StreamLimits,
) -> Result<ProviderStream, ProviderError> {
    let mut attempt = 0;
    loop {
        let response = family
            .chat_request(client, provider, key, request)
            .send()
            .await
            .map_err(|error| unreachable(provider, &error))?;
        let status = response.status();
        if status.is_success() {
            return Ok(ProviderStream {
                provider: provider.name.clone(),
                key: key.cloned(),
                response,
                decoder: family.decoder(&provider.name),
                idle_timeout: limits.idle_timeout,
                ended: false,
            });
        }
        let retry_after = retry_after(&response);
        let body = read_error_body(response, key).await;
        if status.as_u16() == 429
            && attempt < limits.max_retries
            && let Some(wait) = retry_after
            && Duration::from_secs(wait) <= limits.max_retry_wait
        {
            attempt += 1;
            tracing::info!(provider = %provider.name, wait, attempt, "rate limited; retrying");
            tokio::time::sleep(Duration::from_secs(wait)).await;
            continue;
        }
        return Err(http_error(
            provider,
            status.as_u16(),
            &body,
            Some(&request.model),
            retry_after,
            key.is_some(),
        ));
    }
}

/// GET the provider's model list. Errors are scrubbed of the key.
pub async fn list_models(
    client: &reqwest::Client,
    family: &dyn Family,
    provider: &ProviderConfig,
    key: Option<&Zeroizing<String>>,
    timeout: Duration,
) -> Result<Vec<String>, ProviderError> {
    list_models_raw(client, family, provider, key, timeout)
        .await
        .map_err(|error| error.scrubbed(key.map(|k| k.as_str())))
}

async fn list_models_raw(
    client: &reqwest::Client,
    family: &dyn Family,
    provider: &ProviderConfig,
    key: Option<&Zeroizing<String>>,
    timeout: Duration,
) -> Result<Vec<String>, ProviderError> {
    let send = family
        .models_request(client, provider, key)
        .timeout(timeout)
        .send();
    let response = send.await.map_err(|error| unreachable(provider, &error))?;
    let status = response.status();
    if !status.is_success() {
        let body = read_error_body(response, key).await;
        return Err(http_error(
            provider,
            status.as_u16(),
            &body,
            None,
            None,
            key.is_some(),
        ));
    }
    let body: serde_json::Value =
        response
            .json()
            .await
            .map_err(|error| ProviderError::Protocol {
                provider: provider.name.clone(),
                detail: format!("the model list is not JSON: {}", describe(&error)),
            })?;
    Ok(family.parse_models(&body))
}

fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|seconds| seconds.max(0.0).ceil() as u64)
}

/// The start of an error body, scrubbed of the key before it is cut short (a key cut in two
/// would no longer match).
async fn read_error_body(
    mut response: reqwest::Response,
    key: Option<&Zeroizing<String>>,
) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY {
        match tokio::time::timeout(Duration::from_secs(5), response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let secrets: Vec<&str> = key.iter().map(|k| k.as_str()).collect();
    let mut text = redact::scrub(&String::from_utf8_lossy(&body), &secrets);
    if text.len() > MAX_ERROR_BODY {
        let mut cut = MAX_ERROR_BODY;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

fn http_error(
    provider: &ProviderConfig,
    status: u16,
    body: &str,
    model: Option<&str>,
    retry_after: Option<u64>,
    key_sent: bool,
) -> ProviderError {
    let detail = error_message(body).unwrap_or_else(|| {
        let text: String = body.chars().take(300).collect();
        if text.trim().is_empty() {
            "no details".to_string()
        } else {
            text
        }
    });
    let mut message = match status {
        401 | 403 if key_sent => format!(
            "the API key was refused ({detail}); store a new key for {}",
            provider.name
        ),
        401 | 403 => format!("the request was refused ({detail})"),
        404 => match model {
            Some(model) => format!("model {model:?} or the endpoint was not found ({detail})"),
            None => format!("not found ({detail})"),
        },
        429 => match retry_after {
            Some(seconds) => format!("rate limited; retry after {seconds} s ({detail})"),
            None => format!("rate limited ({detail})"),
        },
        500..=599 => format!("the provider had a server error ({detail})"),
        _ => detail,
    };
    if !key_sent && provider.is_local() {
        // Local servers mostly need no key, but LiteLLM and other gateways do, and answer
        // anything from 401 to 500 without one.
        message.push_str(&format!(
            "; no key was sent: if this server needs one, store it for {}{}",
            provider.name,
            provider
                .api_key_env
                .as_ref()
                .map(|var| format!(" or set ${var}"))
                .unwrap_or_default()
        ));
    }
    ProviderError::Http {
        provider: provider.name.clone(),
        status,
        message,
        retry_after,
        key_sent,
    }
}

fn unreachable(provider: &ProviderConfig, error: &reqwest::Error) -> ProviderError {
    let detail = describe(error);
    let lower = detail.to_lowercase();
    let reason = if error.is_timeout() {
        "timeout"
    } else if lower.contains("refused") {
        "refused"
    } else if lower.contains("lookup") || lower.contains("resolve") || lower.contains("dns") {
        "dns"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        "tls"
    } else {
        "other"
    };
    let detail = if provider.kind == ProviderKind::Ollama && reason == "refused" {
        format!(
            "Ollama is not running at {} (start it with `ollama serve`)",
            provider.base_url
        )
    } else if provider.is_local() && reason == "refused" {
        format!(
            "nothing is listening at {}: start the local server ({detail})",
            provider.base_url
        )
    } else {
        detail
    };
    ProviderError::Unreachable {
        provider: provider.name.clone(),
        reason,
        detail,
        local_url: (provider.is_local() && reason == "refused")
            .then(|| provider.base_url.to_string()),
    }
}

/// reqwest's Display hides the cause; walk the chain for something a person can act on.
pub fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_connect() {
        "cannot connect".to_string()
    } else if error.is_timeout() {
        "timed out".to_string()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    let mut last = None;
    while let Some(cause) = source {
        last = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(last) = last {
        text.push_str(": ");
        text.push_str(&last);
    }
    text
}
