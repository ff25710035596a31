//! The HTTP clients every provider call uses: rustls with the system's certificate store (plus
//! an optional extra CA), redirects only on the configured origin, and
//! `User-Agent: chinwag/<version>` as the only header about us.
//!
//! There are two, because "local" must stay local:
//!
//! - **remote** providers (HTTPS only) use the proxies named in the environment
//!   (`HTTPS_PROXY`/`https_proxy`, else `ALL_PROXY`/`all_proxy`, minus
//!   `NO_PROXY`/`no_proxy`; reqwest reads them when the client is built);
//! - **loopback** providers (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`: the only
//!   places plain `http://` is allowed) never use a proxy, which would see the key and the
//!   prompt in clear, and their names are resolved by [`LoopbackOnly`], which refuses any
//!   answer that is not all loopback addresses. A name is checked when it is connected to,
//!   not when the config is read: an `/etc/hosts` line can point `x.localhost` anywhere.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use crate::config::ProviderConfig;

/// The User-Agent sent with every request.
pub const USER_AGENT: &str = concat!("chinwag/", env!("CARGO_PKG_VERSION"));

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up HTTPS: {0}")]
pub struct ClientError(String);

/// The two clients, one for remote providers and one for loopback ones.
#[derive(Debug, Clone)]
pub struct Clients {
    remote: reqwest::Client,
    loopback: reqwest::Client,
}

impl Clients {
    /// Both clients, trusting the certificate authorities in `extra_ca_file` (PEM) too.
    pub fn build(
        connect_timeout: Duration,
        extra_ca_file: Option<&Path>,
    ) -> Result<Clients, ClientError> {
        Ok(Clients {
            remote: build(connect_timeout, extra_ca_file, Reach::Remote)?,
            loopback: build(
                connect_timeout,
                extra_ca_file,
                Reach::Loopback(Lookup::System),
            )?,
        })
    }

    /// The client for a web page (`url` context): HTTPS through the remote client, plain
    /// HTTP only to this machine through the loopback one, nothing else.
    pub fn for_url(&self, url: &url::Url) -> Option<&reqwest::Client> {
        match url.scheme() {
            "https" if crate::config::is_loopback(url) => Some(&self.loopback),
            "https" => Some(&self.remote),
            "http" if crate::config::is_loopback(url) => Some(&self.loopback),
            _ => None,
        }
    }

    /// The client for `provider`: the loopback one when its host is on this machine.
    pub fn for_provider(&self, provider: &ProviderConfig) -> &reqwest::Client {
        if provider.is_local() {
            &self.loopback
        } else {
            &self.remote
        }
    }
}

/// Which client to build.
enum Reach {
    /// HTTPS only, proxies from the environment.
    Remote,
    /// No proxy; names must resolve to loopback addresses only.
    Loopback(Lookup),
}

fn build(
    connect_timeout: Duration,
    extra_ca_file: Option<&Path>,
    reach: Reach,
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
    builder = match reach {
        // Remote providers are https:// (the config refuses anything else); a plain http://
        // request on this client would be a bug, so it is refused outright.
        Reach::Remote => builder.https_only(true),
        Reach::Loopback(lookup) => builder.no_proxy().dns_resolver(LoopbackOnly { lookup }),
    };
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

/// A name that resolved to somewhere other than this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotLoopback {
    #[error(
        "{name} resolves to {address}, which is not this machine: local providers are only reached over loopback"
    )]
    Elsewhere { name: String, address: IpAddr },
    #[error("{name} resolves to no address")]
    Nowhere { name: String },
}

/// `addresses` if every one is a loopback address (and there is at least one).
pub fn only_loopback(
    name: &str,
    addresses: Vec<SocketAddr>,
) -> Result<Vec<SocketAddr>, NotLoopback> {
    if addresses.is_empty() {
        return Err(NotLoopback::Nowhere {
            name: name.to_string(),
        });
    }
    match addresses.iter().find(|a| !is_loopback(a.ip())) {
        Some(elsewhere) => Err(NotLoopback::Elsewhere {
            name: name.to_string(),
            address: elsewhere.ip(),
        }),
        None => Ok(addresses),
    }
}

/// Loopback, IPv4-mapped IPv6 loopback (`::ffff:127.0.0.1`) included.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Where names are looked up.
#[derive(Debug, Clone)]
enum Lookup {
    /// The system's resolver (`getaddrinfo`: `/etc/hosts`, then DNS).
    System,
    /// Fixed answers, for tests.
    #[cfg(test)]
    Fixed(Vec<IpAddr>),
}

impl Lookup {
    async fn addresses(&self, name: &str) -> io::Result<Vec<SocketAddr>> {
        match self {
            Lookup::System => Ok(tokio::net::lookup_host((name, 0)).await?.collect()),
            #[cfg(test)]
            Lookup::Fixed(ips) => Ok(ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect()),
        }
    }
}

/// The loopback client's resolver: the system's answer, used only if it is all loopback.
#[derive(Debug, Clone)]
struct LoopbackOnly {
    lookup: Lookup,
}

impl reqwest::dns::Resolve for LoopbackOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addresses = lookup.addresses(&name).await?;
            let addresses = only_loopback(&name, addresses)?;
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// rustls needs one process-wide crypto provider; we use ring (small, no C toolchain quirks).
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};

    use super::*;

    fn at(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 0)
    }

    #[test]
    fn only_all_loopback_answers_are_used() {
        let local = vec![at("127.0.0.1"), at("::1"), at("127.8.9.10")];
        assert_eq!(only_loopback("a.localhost", local.clone()), Ok(local));
        assert_eq!(
            only_loopback("a.localhost", vec![at("::ffff:127.0.0.1")]).map(|a| a.len()),
            Ok(1)
        );
        // An /etc/hosts line (or a DNS answer) placing the name elsewhere.
        assert_eq!(
            only_loopback("evil.localhost", vec![at("203.0.113.7")]),
            Err(NotLoopback::Elsewhere {
                name: "evil.localhost".into(),
                address: "203.0.113.7".parse().unwrap()
            })
        );
        // One bad address among good ones is enough to refuse.
        assert!(only_loopback("mixed.localhost", vec![at("127.0.0.1"), at("10.0.0.1")]).is_err());
        assert!(only_loopback("v6.localhost", vec![at("::1"), at("fe80::1")]).is_err());
        assert!(only_loopback("unspecified.localhost", vec![at("0.0.0.0")]).is_err());
        assert_eq!(
            only_loopback("nothing.localhost", vec![]),
            Err(NotLoopback::Nowhere {
                name: "nothing.localhost".into()
            })
        );
    }

    /// A one-shot HTTP server on 127.0.0.1 answering 200; returns its port.
    fn answer_once() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buffer = [0u8; 2048];
                let _ = stream.read(&mut buffer);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        port
    }

    fn loopback_client(answer: IpAddr) -> reqwest::Client {
        build(
            Duration::from_secs(2),
            None,
            Reach::Loopback(Lookup::Fixed(vec![answer])),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_localhost_name_resolving_elsewhere_is_refused_when_connecting() {
        let port = answer_once();
        let url = format!("http://evil.localhost:{port}/v1/models");
        // Resolved to loopback: the request is made.
        let client = loopback_client(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        // Resolved elsewhere: refused before any connection, with a reason that says so.
        for elsewhere in [
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        ] {
            let client = loopback_client(elsewhere);
            let error = client.get(&url).send().await.unwrap_err();
            let text = crate::provider::stream::describe(&error);
            assert!(text.contains("not this machine"), "{text}");
        }
    }

    #[tokio::test]
    async fn the_remote_client_refuses_plain_http() {
        let clients = Clients::build(Duration::from_secs(2), None).unwrap();
        let error = clients
            .remote
            .get("http://127.0.0.1:9/")
            .send()
            .await
            .unwrap_err();
        assert!(error.is_builder() || error.is_request(), "{error:?}");
    }
}
