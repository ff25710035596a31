//! The one HTTP client configuration every provider call uses: rustls with the system's
//! certificate store (plus an optional extra CA), proxies from `HTTPS_PROXY`/`NO_PROXY`, and
//! `User-Agent: chinwag/<version>` as the only header about us.

use std::sync::Once;
use std::time::Duration;

/// The User-Agent sent with every request.
pub const USER_AGENT: &str = concat!("chinwag/", env!("CARGO_PKG_VERSION"));

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up HTTPS: {0}")]
pub struct ClientError(String);

/// A client with the given connect timeout.
pub fn build(connect_timeout: Duration) -> Result<reqwest::Client, ClientError> {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(connect_timeout)
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
