//! `chinwag doctor`: a plain-text health report for people (paths, config, vault, providers).

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::app::Storage;
use crate::config::{Config, ProviderConfig, ProviderKind};
use crate::http_client;
use crate::paths::Paths;
use crate::provider::ProviderError;
use crate::provider::stream;
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
    let mut vault_keys: Vec<(String, Zeroizing<String>)> = Vec::new();
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
                    let keys = storage.vault.list_keys().and_then(|keys| {
                        keys.into_iter()
                            .filter_map(|k| match storage.vault.key_for(&k.provider) {
                                Ok(Some(key)) => Some(Ok((k.provider, key))),
                                Ok(None) => None,
                                Err(error) => Some(Err(error)),
                            })
                            .collect::<Result<Vec<_>, _>>()
                    });
                    match keys {
                        Ok(keys) => vault_keys = keys,
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
    let probes = config.providers.iter().map(|provider| {
        let (key, source) = key_state(provider, &vault_keys);
        async move {
            let endpoint = match clients {
                Ok(clients) => probe(clients.for_provider(provider), provider, key.as_ref()).await,
                Err(error) => error.to_string(),
            };
            (provider, source, endpoint)
        }
    });
    for (provider, source, endpoint) in futures_util::future::join_all(probes).await {
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
        if let Some(problem) = config.broken.providers.get(&provider.name) {
            healthy = false;
            let _ = writeln!(out, "    config:   PROBLEM: {problem}");
        }
        let _ = writeln!(out, "    key:      {source}");
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

/// The key a chat would use for `provider` (the vault's, else its environment variable) and
/// where it comes from, in the words the editors use too: `from vault`, `from $VAR`,
/// `none needed` (local servers and Ollama without one), or what to do when one is missing.
fn key_state(
    provider: &ProviderConfig,
    vault_keys: &[(String, Zeroizing<String>)],
) -> (Option<Zeroizing<String>>, String) {
    if let Some((_, key)) = vault_keys.iter().find(|(name, _)| *name == provider.name) {
        return (Some(key.clone()), provider.key_state(true, false));
    }
    if let Some(var) = &provider.api_key_env
        && let Some(value) = std::env::var(var).ok().filter(|v| !v.is_empty())
    {
        return (Some(Zeroizing::new(value)), provider.key_state(false, true));
    }
    (None, provider.key_state(false, false))
}

/// Ask for the model list the way a chat would (with the key, the provider's header and
/// query): a server that wants a key answers an error without one (LiteLLM: 500), and that is
/// a problem, not "answers".
async fn probe(
    client: &reqwest::Client,
    provider: &ProviderConfig,
    key: Option<&Zeroizing<String>>,
) -> String {
    let family = crate::provider::family(provider.kind);
    let models = stream::list_models(client, family, provider, key, PROBE_TIMEOUT);
    match tokio::time::timeout(PROBE_TIMEOUT, models).await {
        Ok(Ok(models)) => format!("ok ({} models)", models.len()),
        Ok(Err(ProviderError::Unreachable { reason, detail, .. })) => {
            if provider.kind == ProviderKind::Ollama && reason == "refused" {
                "not running (start it with `ollama serve`)".to_string()
            } else {
                format!("unreachable: {detail}")
            }
        }
        // A remote provider asked without a key refuses: expected, the key line says why.
        Ok(Err(ProviderError::Http { status, .. }))
            if key.is_none() && !provider.is_local() && matches!(status, 401 | 403) =>
        {
            format!("answers (HTTP {status} without a key)")
        }
        Ok(Err(ProviderError::Http {
            status, message, ..
        })) => format!("PROBLEM: HTTP {status}: {message}"),
        Ok(Err(error)) => format!("PROBLEM: {error}"),
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
