//! The one HTTP client configuration every provider call uses: rustls with the system's
//! certificate store (plus an optional extra CA), proxies from `HTTPS_PROXY`/`NO_PROXY`, and
//! `User-Agent: chinwag/<version>` as the only header about us.

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

/// The User-Agent sent with every request.
pub const USER_AGENT: &str = concat!("chinwag/", env!("CARGO_PKG_VERSION"));

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up HTTPS: {0}")]
pub struct ClientError(String);

/// A client that also trusts the certificate authorities in `extra_ca_file` (PEM).
pub fn build_with_ca(
    connect_timeout: Duration,
    extra_ca_file: Option<&Path>,
) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(connect_timeout)
        // Redirects stay on the origin the user configured: reqwest strips `Authorization`
        // when a redirect changes host, but not the other headers keys travel in
        // (`x-api-key`, `api-key`), and plain http:// (refused for non-loopback hosts when the
        // config is read) must not come back through a redirect either.
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_none_or(|first| first.origin() == attempt.url().origin());
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if !same_origin {
                attempt.error("refusing a redirect to another host")
            } else {
                attempt.follow()
            }
        }));
    if let Some(path) = extra_ca_file {
        let pem = std::fs::read(path)
            .map_err(|error| ClientError(format!("cannot read {}: {error}", path.display())))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|error| ClientError(format!("{}: {error}", path.display())))?;
        builder = builder.tls_certs_merge(certificates);
    }
    builder
        .build()
        .map_err(|error| ClientError(error.to_string()))
}

/// rustls needs one process-wide crypto provider; we use ring (small, no C toolchain quirks).
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
