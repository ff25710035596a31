//! `chinwag doctor`: a plain-text health report for people (paths, config, vault, providers).

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::app::Storage;
use crate::config::{Config, ProviderConfig, ProviderKind};
use crate::http_client;
use crate::paths::Paths;
use crate::provider::stream::describe;
use crate::vault::Protection;

/// How long each endpoint gets to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(4);

/// Build the report. Returns it and whether everything essential is in order.
pub async fn report(paths: &Paths, config: &Config) -> (String, bool) {
    let mut out = String::new();
    let mut healthy = true;
    let _ = writeln!(out, "chinwag {}", env!("CARGO_PKG_VERSION"));

    let _ = writeln!(out, "\nPaths");
    let _ = writeln!(
        out,
        "  config file  {} ({})",
        paths.config_file.display(),
        if paths.config_file.exists() {
            "found"
        } else {
            "not found: built-in defaults in use"
        }
    );
    for (label, dir) in [
        ("config dir", &paths.config_dir),
        ("data dir", &paths.data_dir),
        ("log dir", &paths.log_dir),
    ] {
        let (line, ok) = describe_dir(dir);
        healthy &= ok;
        let _ = writeln!(out, "  {label:<11}  {} ({line})", dir.display());
    }

    let _ = writeln!(out, "\nConfig");
    for problem in &config.problems {
        healthy = false;
        let _ = writeln!(out, "  PROBLEM: {problem}");
    }
    match config.default_choice() {
        Ok((provider, _)) if config.problems.is_empty() => {
            let _ = writeln!(out, "  ok; default provider {provider}");
        }
        Ok((provider, _)) => {
            let _ = writeln!(
                out,
                "  the rest of the file is in force; default provider {provider}"
            );
        }
        Err(_) => {
            let _ = writeln!(
                out,
                "  no default provider until this is fixed: chats must name their provider"
            );
        }
    }
    for (name, problem) in &config.broken.providers {
        let _ = writeln!(
            out,
            "  provider {name} unusable until {} is fixed",
            problem.key().unwrap_or("its section")
        );
    }

    let _ = writeln!(out, "\nVault");
    let mut vault_keys: Vec<String> = Vec::new();
    if !paths.database_dir.exists() {
        let _ = writeln!(
            out,
            "  none yet: it is created the first time chinwag runs as a server"
        );
    } else {
        match Storage::open(paths, config) {
            Ok(storage) => match storage.vault.status() {
                Ok(status) => {
                    let protection = match status.protection {
                        Protection::Password => "password",
                        Protection::LocalKey => "local key file only",
                    };
                    let _ = writeln!(out, "  {} (protected by {protection})", status.state);
                    if let Some(warning) = status.warning {
                        let _ = writeln!(out, "  WARNING: {warning}");
                    }
                    match storage.vault.list_keys() {
                        Ok(keys) => vault_keys = keys.into_iter().map(|k| k.provider).collect(),
                        Err(error) => {
                            let _ = writeln!(out, "  stored keys not checked: {error}");
                        }
                    }
                }
                Err(error) => {
                    healthy = false;
                    let _ = writeln!(out, "  PROBLEM: {error}");
                }
            },
            Err(error) => {
                healthy = false;
                let _ = writeln!(out, "  PROBLEM: {error}");
            }
        }
    }

    let _ = writeln!(out, "\nProviders");
    // The same clients as chats (extra CA, no proxy and loopback-only resolution for local
    // providers), with a short connect timeout.
    let clients = http_client::Clients::build(PROBE_TIMEOUT, config.chat.extra_ca_file.as_deref());
    let clients = &clients;
    let probes = config.providers.iter().map(|provider| async move {
        let endpoint = match clients {
            Ok(clients) => probe(clients.for_provider(provider), provider).await,
            Err(error) => error.to_string(),
        };
        (provider, endpoint)
    });
    for (provider, endpoint) in futures_util::future::join_all(probes).await {
        let place = if provider.is_local() {
            "local"
        } else {
            "remote"
        };
        let _ = writeln!(
            out,
            "  {} ({}, {place}) {}",
            provider.name,
            kind_name(provider.kind),
            provider.base_url
        );
        let key = if vault_keys.contains(&provider.name) {
            "stored in the vault".to_string()
        } else {
            key_source(provider)
        };
        let _ = writeln!(out, "    key:      {key}");
        let _ = writeln!(out, "    endpoint: {endpoint}");
    }
    (out, healthy)
}

fn describe_dir(dir: &Path) -> (String, bool) {
    match std::fs::metadata(dir) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 == 0 {
                (format!("mode {mode:o}"), true)
            } else {
                (
                    format!(
                        "mode {mode:o}: PROBLEM, others can read it; chinwag tightens it to 700 at start"
                    ),
                    false,
                )
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => (
            "not created yet; chinwag creates it when it first runs".to_string(),
            true,
        ),
        Err(error) => (format!("PROBLEM: {error}"), false),
    }
}

fn key_source(provider: &ProviderConfig) -> String {
    match &provider.api_key_env {
        Some(var) if std::env::var_os(var).is_some_and(|v| !v.is_empty()) => {
            format!("found in ${var}")
        }
        Some(var) => format!("none (set ${var})"),
        None if provider.kind == ProviderKind::Ollama => "not needed".to_string(),
        None => "none".to_string(),
    }
}

/// Whether the endpoint answers HTTP at all (no key is sent).
async fn probe(client: &reqwest::Client, provider: &ProviderConfig) -> String {
    let path = match provider.kind {
        ProviderKind::OpenaiCompatible | ProviderKind::Anthropic => "models",
        ProviderKind::Ollama => "api/tags",
    };
    let url = format!(
        "{}/{path}",
        provider.base_url.as_str().trim_end_matches('/')
    );
    match tokio::time::timeout(PROBE_TIMEOUT, client.get(&url).send()).await {
        Ok(Ok(response)) => format!("answers (HTTP {})", response.status().as_u16()),
        Ok(Err(error)) if provider.kind == ProviderKind::Ollama && error.is_connect() => {
            "not running (start it with `ollama serve`)".to_string()
        }
        Ok(Err(error)) => format!("unreachable: {}", describe(&error)),
        Err(_) => format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
    }
}

fn kind_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::OpenaiCompatible => "openai-compatible",
        ProviderKind::Ollama => "ollama",
        ProviderKind::Anthropic => "anthropic",
    }
}
