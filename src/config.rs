//! `config.toml`: read once at start, validated with errors that name the key and the line.
//!
//! ```toml
//! log_level = "info"
//! default_provider = "groq"
//! default_model = "llama-3.3-70b-versatile"
//!
//! [providers.openai]             # a built-in: only base_url and default_model may change
//! base_url = "https://my-proxy.example/v1"
//!
//! [providers.local]              # a provider of our own
//! kind = "openai-compatible"     # or "ollama", "anthropic"
//! base_url = "http://127.0.0.1:8080/v1"
//! api_key_env = "LOCAL_KEY"
//! default_model = "qwen2.5-coder"
//!
//! [vault]
//! password_command = "pass show chinwag"   # run when the vault needs the password
//! auto_lock_minutes = 30
//! kdf_memory_mib = 64                      # Argon2id cost; at least 19 MiB and 2 iterations
//! kdf_iterations = 3
//!
//! [storage]
//! cache_mib = 8                            # sled's page cache
//!
//! [chat]
//! delta_window_ms = 20                     # merge deltas arriving within this window
//! idle_timeout_secs = 120                  # give up on a stream silent this long
//! connect_timeout_secs = 10
//! extra_ca_file = "/etc/ssl/corp-ca.pem"   # trusted beside the system's certificates
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;
use url::Url;

use crate::crypto::KdfParams;

/// The wire family a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// OpenAI's chat completions with SSE (OpenAI, Groq, OpenRouter, and most others).
    OpenaiCompatible,
    /// Ollama's native `/api/chat` with NDJSON.
    Ollama,
    /// Anthropic's Messages API.
    Anthropic,
}

/// One provider, built in or declared in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: Url,
    /// The environment variable that may hold the key.
    pub api_key_env: Option<String>,
    pub default_model: Option<String>,
    pub builtin: bool,
}

impl ProviderConfig {
    /// Whether the endpoint is on this machine.
    pub fn is_local(&self) -> bool {
        is_loopback(&self.base_url)
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub log_level: Option<String>,
    pub default_provider: String,
    pub default_model: Option<String>,
    /// Built-ins first, then the user's, each name once.
    pub providers: Vec<ProviderConfig>,
    pub vault: VaultConfig,
    pub storage: StorageConfig,
    pub chat: ChatConfig,
}

/// `[chat]`: streaming and connection behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatConfig {
    /// After the first delta, deltas arriving within this window are merged into one
    /// notification, so editors redraw a few dozen times a second rather than per token.
    pub delta_window: std::time::Duration,
    /// A stream silent for this long is abandoned.
    pub idle_timeout: std::time::Duration,
    pub connect_timeout: std::time::Duration,
    /// A PEM file of extra trusted certificate authorities.
    pub extra_ca_file: Option<std::path::PathBuf>,
}

/// `[vault]`: how the vault gets its password and how expensive unlocking is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultConfig {
    /// A shell command whose first output line is the password (e.g. `pass show chinwag`).
    pub password_command: Option<String>,
    /// Forget the keys after this many idle minutes.
    pub auto_lock_minutes: Option<u64>,
    /// Argon2id parameters for new or changed passwords.
    pub kdf: KdfParams,
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageConfig {
    /// sled's page cache in bytes (its own default is 1 GiB; we need a few MiB).
    pub cache_bytes: u64,
}

/// Why the config could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path} line {line}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    log_level: Option<Spanned<String>>,
    default_provider: Option<Spanned<String>>,
    default_model: Option<Spanned<String>>,
    #[serde(default)]
    providers: BTreeMap<Spanned<String>, RawProvider>,
    vault: Option<RawVault>,
    storage: Option<RawStorage>,
    chat: Option<RawChat>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChat {
    delta_window_ms: Option<Spanned<u64>>,
    idle_timeout_secs: Option<Spanned<u64>>,
    connect_timeout_secs: Option<Spanned<u64>>,
    extra_ca_file: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVault {
    password_command: Option<Spanned<String>>,
    auto_lock_minutes: Option<Spanned<u64>>,
    kdf_memory_mib: Option<Spanned<u32>>,
    kdf_iterations: Option<Spanned<u32>>,
    kdf_parallelism: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    cache_mib: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    kind: Option<Spanned<ProviderKind>>,
    base_url: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    default_model: Option<Spanned<String>>,
}

/// The providers chinwag knows without any config.
pub fn builtin_providers() -> Vec<ProviderConfig> {
    let make = |name: &str, kind, url: &str, env: Option<&str>, model: &str| ProviderConfig {
        name: name.to_string(),
        kind,
        // These literals are valid URLs; a typo here fails every test.
        base_url: Url::parse(url).unwrap_or_else(|_| unreachable!("built-in URL {url}")),
        api_key_env: env.map(str::to_string),
        default_model: Some(model.to_string()),
        builtin: true,
    };
    use ProviderKind::*;
    vec![
        make(
            "openai",
            OpenaiCompatible,
            "https://api.openai.com/v1",
            Some("OPENAI_API_KEY"),
            "gpt-4o-mini",
        ),
        make(
            "groq",
            OpenaiCompatible,
            "https://api.groq.com/openai/v1",
            Some("GROQ_API_KEY"),
            "llama-3.3-70b-versatile",
        ),
        make(
            "openrouter",
            OpenaiCompatible,
            "https://openrouter.ai/api/v1",
            Some("OPENROUTER_API_KEY"),
            "openai/gpt-4o-mini",
        ),
        make(
            "anthropic",
            Anthropic,
            "https://api.anthropic.com/v1",
            Some("ANTHROPIC_API_KEY"),
            "claude-sonnet-4-5",
        ),
        make("ollama", Ollama, "http://localhost:11434", None, "llama3.2"),
    ]
}

impl Default for Config {
    fn default() -> Self {
        Self {
            log_level: None,
            default_provider: "openai".to_string(),
            default_model: None,
            providers: builtin_providers(),
            vault: VaultConfig {
                password_command: None,
                auto_lock_minutes: None,
                kdf: KdfParams::DEFAULT,
            },
            storage: StorageConfig {
                cache_bytes: 8 * 1024 * 1024,
            },
            chat: ChatConfig {
                delta_window: std::time::Duration::from_millis(20),
                idle_timeout: std::time::Duration::from_secs(120),
                connect_timeout: std::time::Duration::from_secs(10),
                extra_ca_file: None,
            },
        }
    }
}

impl Config {
    /// Read and validate `path`. A missing file is the default config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(error) => Err(ConfigError::Read {
                path: path.to_path_buf(),
                message: error.to_string(),
            }),
        }
    }

    /// Parse and validate config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|error| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: error.to_string().trim_end().to_string(),
        })?;
        let invalid =
            |key: String, span: std::ops::Range<usize>, message: String| ConfigError::Invalid {
                path: path.to_path_buf(),
                key,
                line: line_of(text, span.start),
                message,
            };

        let mut config = Config::default();
        if let Some(level) = raw.log_level {
            tracing_subscriber::EnvFilter::try_new(level.get_ref())
                .map_err(|error| invalid("log_level".into(), level.span(), error.to_string()))?;
            config.log_level = Some(level.into_inner());
        }
        for (name, provider) in raw.providers {
            let key = format!("providers.{}", name.get_ref());
            apply_provider(&mut config, &name, provider, &key, &invalid)?;
        }
        if let Some(vault) = raw.vault {
            apply_vault(&mut config.vault, vault, &invalid)?;
        }
        if let Some(cache) = raw.storage.and_then(|storage| storage.cache_mib) {
            if !(1..=4096).contains(cache.get_ref()) {
                return Err(invalid(
                    "storage.cache_mib".into(),
                    cache.span(),
                    "between 1 and 4096".into(),
                ));
            }
            config.storage.cache_bytes = cache.get_ref() * 1024 * 1024;
        }
        if let Some(chat) = raw.chat {
            apply_chat(&mut config.chat, chat, &invalid)?;
        }
        if let Some(model) = raw.default_model {
            check_model_name(model.get_ref())
                .map_err(|m| invalid("default_model".into(), model.span(), m))?;
            config.default_model = Some(model.into_inner());
        }
        if let Some(name) = raw.default_provider {
            if config.provider(name.get_ref()).is_none() {
                let known: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
                return Err(invalid(
                    "default_provider".into(),
                    name.span(),
                    format!(
                        "no provider named {:?} (known: {})",
                        name.get_ref(),
                        known.join(", ")
                    ),
                ));
            }
            config.default_provider = name.into_inner();
        }
        Ok(config)
    }

    /// The provider with this name.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}

fn apply_chat(
    chat: &mut ChatConfig,
    raw: RawChat,
    invalid: &impl Fn(String, std::ops::Range<usize>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    use std::time::Duration;
    let bounded = |value: &Spanned<u64>, key: &str, range: std::ops::RangeInclusive<u64>| {
        if range.contains(value.get_ref()) {
            Ok(*value.get_ref())
        } else {
            Err(invalid(
                format!("chat.{key}"),
                value.span(),
                format!("between {} and {}", range.start(), range.end()),
            ))
        }
    };
    if let Some(window) = &raw.delta_window_ms {
        chat.delta_window = Duration::from_millis(bounded(window, "delta_window_ms", 0..=1000)?);
    }
    if let Some(idle) = &raw.idle_timeout_secs {
        chat.idle_timeout = Duration::from_secs(bounded(idle, "idle_timeout_secs", 1..=3600)?);
    }
    if let Some(connect) = &raw.connect_timeout_secs {
        chat.connect_timeout =
            Duration::from_secs(bounded(connect, "connect_timeout_secs", 1..=300)?);
    }
    if let Some(file) = raw.extra_ca_file {
        let path = std::path::PathBuf::from(file.get_ref());
        if !path.is_file() {
            return Err(invalid(
                "chat.extra_ca_file".into(),
                file.span(),
                format!("{} is not a readable file", path.display()),
            ));
        }
        chat.extra_ca_file = Some(path);
    }
    Ok(())
}

fn apply_vault(
    vault: &mut VaultConfig,
    raw: RawVault,
    invalid: &impl Fn(String, std::ops::Range<usize>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    if let Some(command) = raw.password_command {
        if command.get_ref().trim().is_empty() {
            return Err(invalid(
                "vault.password_command".into(),
                command.span(),
                "empty command".into(),
            ));
        }
        vault.password_command = Some(command.into_inner());
    }
    if let Some(minutes) = raw.auto_lock_minutes {
        if *minutes.get_ref() == 0 {
            return Err(invalid(
                "vault.auto_lock_minutes".into(),
                minutes.span(),
                "at least 1 (leave it out to never auto-lock)".into(),
            ));
        }
        vault.auto_lock_minutes = Some(minutes.into_inner());
    }
    let mut span = None;
    if let Some(memory) = raw.kdf_memory_mib {
        vault.kdf.memory_kib = memory.get_ref().saturating_mul(1024);
        span = Some(("vault.kdf_memory_mib", memory.span()));
    }
    if let Some(iterations) = raw.kdf_iterations {
        vault.kdf.iterations = *iterations.get_ref();
        span = span.or(Some(("vault.kdf_iterations", iterations.span())));
    }
    if let Some(lanes) = raw.kdf_parallelism {
        vault.kdf.parallelism = *lanes.get_ref();
        span = span.or(Some(("vault.kdf_parallelism", lanes.span())));
    }
    if let (Some((key, span)), Err(error)) = (span, vault.kdf.check()) {
        return Err(invalid(key.into(), span, error.to_string()));
    }
    Ok(())
}

fn apply_provider(
    config: &mut Config,
    name: &Spanned<String>,
    raw: RawProvider,
    key: &str,
    invalid: &impl Fn(String, std::ops::Range<usize>, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let name_ok = !name.get_ref().is_empty()
        && name.get_ref().len() <= 64
        && name
            .get_ref()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        return Err(invalid(
            key.to_string(),
            name.span(),
            "provider names use letters, digits, `-` and `_` (at most 64)".into(),
        ));
    }
    let base_url = match &raw.base_url {
        Some(url) => Some(
            check_base_url(url.get_ref())
                .map_err(|m| invalid(format!("{key}.base_url"), url.span(), m))?,
        ),
        None => None,
    };
    if let Some(env) = &raw.api_key_env {
        let ok = !env.get_ref().is_empty()
            && env
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(invalid(
                format!("{key}.api_key_env"),
                env.span(),
                "an environment variable name (letters, digits, `_`)".into(),
            ));
        }
    }
    if let Some(model) = &raw.default_model {
        check_model_name(model.get_ref())
            .map_err(|m| invalid(format!("{key}.default_model"), model.span(), m))?;
    }

    if let Some(existing) = config
        .providers
        .iter_mut()
        .find(|p| p.name == *name.get_ref())
    {
        if let Some(kind) = &raw.kind
            && *kind.get_ref() != existing.kind
        {
            return Err(invalid(
                format!("{key}.kind"),
                kind.span(),
                format!(
                    "the built-in provider {:?} cannot change its kind",
                    existing.name
                ),
            ));
        }
        if let Some(url) = base_url {
            existing.base_url = url;
        }
        if let Some(env) = raw.api_key_env {
            existing.api_key_env = Some(env.into_inner());
        }
        if let Some(model) = raw.default_model {
            existing.default_model = Some(model.into_inner());
        }
        return Ok(());
    }

    let Some(kind) = raw.kind else {
        return Err(invalid(
            key.to_string(),
            name.span(),
            "a new provider needs `kind` (openai-compatible, ollama or anthropic)".into(),
        ));
    };
    let Some(base_url) = base_url else {
        return Err(invalid(
            key.to_string(),
            name.span(),
            "a new provider needs `base_url`".into(),
        ));
    };
    config.providers.push(ProviderConfig {
        name: name.get_ref().clone(),
        kind: kind.into_inner(),
        base_url,
        api_key_env: raw.api_key_env.map(Spanned::into_inner),
        default_model: raw.default_model.map(Spanned::into_inner),
        builtin: false,
    });
    Ok(())
}

/// A base URL must be `https://`, or `http://` to this machine only.
pub fn check_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|error| format!("not a URL: {error}"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(format!(
                "plain http:// is only allowed to this machine (localhost, 127.0.0.1, ::1); use https:// for {}",
                url.host_str().unwrap_or("this host")
            ));
        }
        other => return Err(format!("unsupported scheme {other:?}: use https://")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials do not belong in the URL: use the key vault".into());
    }
    Ok(url)
}

/// Whether the URL names this machine. For a name (`localhost`, `*.localhost`) this is only
/// what the name promises: what it resolves to is checked when connecting
/// (`http_client::LoopbackOnly`), and such providers never go through a proxy.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            domain.eq_ignore_ascii_case("localhost")
                || domain.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Model names go into URLs and JSON bodies: no blanks or control characters, bounded length.
pub fn check_model_name(model: &str) -> Result<(), String> {
    if model.is_empty() {
        return Err("the model name is empty".into());
    }
    if model.len() > 200 {
        return Err("the model name is longer than 200 bytes".into());
    }
    if model.chars().any(|c| c.is_whitespace() || c.is_control()) {
        // Not quoted: a value in the wrong field may be a key.
        return Err("the model name contains whitespace or control characters".into());
    }
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("config.toml"))
    }

    #[test]
    fn empty_config_has_builtins() {
        let config = parse("").unwrap();
        assert_eq!(config.default_provider, "openai");
        let names: Vec<_> = config.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["openai", "groq", "openrouter", "anthropic", "ollama"]
        );
        assert!(config.provider("ollama").unwrap().is_local());
    }

    #[test]
    fn declares_and_overrides_providers() {
        let config = parse(
            "default_provider = \"local\"\n\
             [providers.local]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:8080/v1\"\n\
             [providers.openai]\nbase_url = \"https://proxy.example/v1\"\n",
        )
        .unwrap();
        assert_eq!(config.default_provider, "local");
        assert_eq!(
            config.provider("openai").unwrap().base_url.as_str(),
            "https://proxy.example/v1"
        );
        assert!(!config.provider("local").unwrap().builtin);
    }

    #[test]
    fn errors_name_key_and_line() {
        let err = parse("\n[providers.x]\nkind = \"ollama\"\nbase_url = \"http://example.com\"\n")
            .unwrap_err();
        match err {
            ConfigError::Invalid {
                key, line, message, ..
            } => {
                assert_eq!(key, "providers.x.base_url");
                assert_eq!(line, 4);
                assert!(
                    message.contains("only allowed to this machine"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        let err = parse("log_level = \"info\"\ncolour = true\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `colour`") && err.contains("line 2"),
            "{err}"
        );
        let err = parse("[providers.y]\nkind = \"telepathy\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("telepathy") && err.contains("line 2"), "{err}");
        let err = parse("default_provider = \"nope\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("default_provider"),
            "{err}"
        );
    }

    #[test]
    fn model_names_are_checked() {
        assert!(check_model_name("gpt-4o").is_ok());
        assert!(check_model_name("bad model").is_err());
        assert!(check_model_name("bad\u{7}").is_err());
        assert!(check_model_name(&"m".repeat(201)).is_err());
    }
}
