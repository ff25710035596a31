//! Web pages for context: fetched by the backend under the providers' rules (`https://` with
//! certificate checks, plain `http://` only to this machine, redirects only on the same
//! origin), read up to a cap, and HTML reduced to text by `html2text`.

use std::time::Duration;

use futures_util::StreamExt;

use super::ContextError;
use crate::config::ContextConfig;
use crate::http_client::Clients;

/// The longest a page may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Text wraps at this width (it is read by a model, not shown in a narrow window).
const TEXT_WIDTH: usize = 100;

/// A page as text.
pub struct Page {
    pub url: String,
    pub text: String,
    /// The page was longer than `[context] max_url_bytes` and was cut.
    pub cut: bool,
}

/// Fetch `url` and reduce it to text.
pub async fn fetch(
    url: &str,
    clients: &Clients,
    config: &ContextConfig,
) -> Result<Page, ContextError> {
    let parsed = url::Url::parse(url)
        .map_err(|error| ContextError::Invalid(format!("not a URL: {error}")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // It would be sent, shown in the manifest and saved with the message.
        return Err(ContextError::Invalid(
            "a URL with a user name or password in it is not fetched".into(),
        ));
    }
    let host = parsed.host_str().unwrap_or("").to_string();
    let client = clients.for_url(&parsed).ok_or_else(|| {
        ContextError::Invalid("only https:// pages (or http:// on this machine) are fetched".into())
    })?;
    let unavailable =
        |why: String| ContextError::Unavailable(format!("cannot fetch the page at {host}: {why}"));
    let work = async {
        let response = client
            .get(parsed.clone())
            .send()
            .await
            .map_err(|error| unavailable(crate::redact::scrub(&error.to_string(), &[])))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unavailable(format!("it answered {status}")));
        }
        let html = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.contains("html"));
        let cap = config.max_url_bytes as usize;
        let mut body = Vec::new();
        let mut cut = false;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| unavailable(error.to_string()))?;
            let room = cap - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                cut = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, html, cut))
    };
    let (body, html, cut) = tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .map_err(|_| unavailable(format!("no answer within {} s", FETCH_TIMEOUT.as_secs())))??;
    if body.contains(&0) {
        return Err(unavailable("it is not text".into()));
    }
    let text = if html {
        // Parsing a megabyte of HTML takes a while: off the async threads.
        tokio::task::spawn_blocking(move || html2text::from_read(body.as_slice(), TEXT_WIDTH))
            .await
            .map_err(|error| unavailable(error.to_string()))?
            .map_err(|error| unavailable(format!("cannot read its HTML: {error}")))?
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    Ok(Page {
        url: parsed.to_string(),
        text,
        cut,
    })
}
