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
//!
//! [context]
//! guard = true                             # hold back key-shaped text before it leaves
//! max_file_bytes = 262144                  # per file (and per git diff)
//! max_files = 200                          # per glob
//! max_turn_bytes = 4194304                 # all the context of one message
//! max_url_bytes = 1048576                  # read of one web page
//! git_timeout_secs = 10
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;
use url::Url;

use crate::crypto::KdfParams;
use crate::redact;
use toml::de::DeValue;

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
    /// Send the key in this header, as is, instead of the family's own (`Authorization:
    /// Bearer`, `x-api-key`): Azure OpenAI and similar gateways want `api-key`.
    pub key_header: Option<String>,
    /// Query parameters added to every request (Azure's `api-version`).
    pub query: Vec<(String, String)>,
}

impl ProviderConfig {
    /// Whether the endpoint is on this machine.
    pub fn is_local(&self) -> bool {
        is_loopback(&self.base_url)
    }

    /// Where this provider's key comes from, in the words `chinwag doctor` and both editors
    /// show: `from vault`, `from $VAR`, `none needed` (local servers and Ollama without one),
    /// or what to do when one is missing.
    pub fn key_state(&self, in_vault: bool, env_set: bool) -> String {
        if in_vault {
            return "from vault".to_string();
        }
        if let (true, Some(var)) = (env_set, &self.api_key_env) {
            return format!("from ${var}");
        }
        if self.is_local() || self.kind == ProviderKind::Ollama {
            return "none needed".to_string();
        }
        match &self.api_key_env {
            Some(var) => format!("MISSING: store one for {} or set ${var}", self.name),
            None => format!("MISSING: store one for {}", self.name),
        }
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
    pub context: ContextConfig,
    /// Built-ins first (replaced by a `[presets.NAME]` of the same name), then the user's.
    pub presets: Vec<crate::presets::Preset>,
    /// Every part of the file that could not be used, each naming its key and line, in file
    /// order. Everything else in the file is in force.
    pub problems: Vec<ConfigError>,
    /// The broken parts other settings depend on.
    pub broken: Broken,
}

/// Broken parts that calls depend on. A call that needs one answers `ConfigError` instead of
/// falling back on a built-in default: a chat meant for a local model must never go to a
/// remote provider because of a typo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Broken {
    /// The file could not be read or is not TOML: nothing in it can be relied on.
    pub file: Option<ConfigError>,
    /// `default_provider` or `default_model` is invalid.
    pub defaults: Option<ConfigError>,
    /// Providers whose section has an error (the first one), by name.
    pub providers: BTreeMap<String, ConfigError>,
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

/// `[context]`: what a message may carry beyond the selection, and the secret guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextConfig {
    /// Hold back key-shaped text from every message and context item.
    pub guard: bool,
    pub max_file_bytes: u64,
    pub max_files: usize,
    pub max_turn_bytes: u64,
    pub max_url_bytes: u64,
    pub git_timeout: std::time::Duration,
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            guard: true,
            max_file_bytes: 256 * 1024,
            max_files: 200,
            max_turn_bytes: 4 * 1024 * 1024,
            max_url_bytes: 1024 * 1024,
            git_timeout: std::time::Duration::from_secs(10),
        }
    }
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

/// Why (part of) the config could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        /// The `[table]` the broken line is in (`providers.local`), None at the top level.
        section: Option<String>,
        message: String,
    },
    #[error("{path} line {line}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        line: usize,
        message: String,
    },
}

impl ConfigError {
    /// The dotted key at fault, when one is known.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Syntax { section, .. } => section.as_deref(),
            ConfigError::Read { .. } => None,
        }
    }

    /// The line at fault (1-based), when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid { line, .. } => Some(*line),
            ConfigError::Syntax { line, .. } => *line,
            ConfigError::Read { .. } => None,
        }
    }

    /// What is wrong, without the path and line.
    pub fn message(&self) -> &str {
        match self {
            ConfigError::Read { message, .. }
            | ConfigError::Syntax { message, .. }
            | ConfigError::Invalid { message, .. } => message,
        }
    }
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
struct RawPreset {
    provider: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    system: Option<String>,
    temperature: Option<Spanned<f64>>,
    max_tokens: Option<Spanned<u64>>,
    instruction: Option<String>,
    staged_diff: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    guard: Option<bool>,
    max_file_bytes: Option<Spanned<u64>>,
    max_files: Option<Spanned<u64>>,
    max_turn_bytes: Option<Spanned<u64>>,
    max_url_bytes: Option<Spanned<u64>>,
    git_timeout_secs: Option<Spanned<u64>>,
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
    key_header: Option<Spanned<String>>,
    query: Option<Spanned<BTreeMap<String, String>>>,
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
        key_header: None,
        query: Vec::new(),
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
        // Google's OpenAI-compatible endpoint, with a Bearer key like OpenAI's.
        make(
            "gemini",
            OpenaiCompatible,
            "https://generativelanguage.googleapis.com/v1beta/openai/",
            Some("GEMINI_API_KEY"),
            "gemini-2.5-flash",
        ),
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
            context: ContextConfig::default(),
            presets: crate::presets::builtin_presets(),
            problems: Vec::new(),
            broken: Broken::default(),
        }
    }
}

impl Config {
    /// Read and validate `path`. A missing file is the default config; an unreadable one is
    /// the defaults with the whole file marked broken.
    pub fn load(path: &Path) -> Config {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(error) => Config::with_broken_file(ConfigError::Read {
                path: path.to_path_buf(),
                message: error.to_string(),
            }),
        }
    }

    fn with_broken_file(error: ConfigError) -> Config {
        let mut config = Config::default();
        config.problems.push(error.clone());
        config.broken.file = Some(error);
        config
    }

    /// Parse and validate config text; `path` is only used in messages. Each problem is
    /// recorded in `problems` and only its own part is left out: the rest of the file is in
    /// force (see [`Broken`] for what then refuses to run).
    pub fn parse(text: &str, path: &Path) -> Config {
        // Recovering: a line that is not TOML breaks the table it is in, not the file.
        let (table, syntax_errors) = toml::de::DeTable::parse_recoverable(text);
        let mut reader = Reader {
            text,
            path,
            problems: Vec::new(),
        };
        let mut config = Config::default();
        let mut syntax_broken = Broken::default();
        for error in syntax_errors {
            let line = error.span().map(|span| line_of(text, span.start));
            let section = line.and_then(|line| section_at(text, line)).or_else(|| {
                // A dotted key at the top level (`providers.openai.base_url = ...`) belongs
                // to that provider.
                let start = text.lines().nth(line? - 1)?.trim_start();
                start
                    .starts_with("providers.")
                    .then(|| start.split(['=', ' ']).next().unwrap_or(start).to_string())
            });
            let problem = ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                section: section.clone(),
                message: error.message().trim_end().to_string(),
            };
            reader.problems.push(problem.clone());
            // What the broken line may have held is unknown: the part it is in is broken.
            let path: Vec<&str> = section.as_deref().map(table_path).unwrap_or_default();
            match (line, path.as_slice()) {
                (None, _) | (_, ["providers"]) => {
                    syntax_broken.file.get_or_insert(problem);
                }
                (_, []) => {
                    syntax_broken.defaults.get_or_insert(problem);
                }
                (_, ["providers", name, ..]) => {
                    syntax_broken
                        .providers
                        .entry(name.to_string())
                        .or_insert(problem);
                }
                _ => {}
            }
        }
        let mut defaults: Vec<(String, Spanned<DeValue>)> = Vec::new();
        for (key, value) in table.into_inner() {
            let name = key.get_ref().to_string();
            match name.as_str() {
                "log_level" => {
                    if let Some(level) = reader.typed::<String>(value, "log_level") {
                        match tracing_subscriber::EnvFilter::try_new(level.get_ref()) {
                            Ok(_) => config.log_level = Some(level.into_inner()),
                            Err(error) => {
                                reader.invalid("log_level", level.span(), error.to_string())
                            }
                        }
                    }
                }
                "default_provider" | "default_model" => defaults.push((name, value)),
                "providers" => reader.providers(&mut config, value),
                "presets" => reader.presets(&mut config, value),
                "vault" => {
                    if let Some(vault) = reader.section::<RawVault>(value, "vault") {
                        apply_vault(&mut config.vault, vault, &mut reader);
                    }
                }
                "storage" => {
                    let raw = reader.section::<RawStorage>(value, "storage");
                    if let Some(cache) = raw.and_then(|storage| storage.cache_mib) {
                        if (1..=4096).contains(cache.get_ref()) {
                            config.storage.cache_bytes = cache.get_ref() * 1024 * 1024;
                        } else {
                            reader.invalid(
                                "storage.cache_mib",
                                cache.span(),
                                "between 1 and 4096".into(),
                            );
                        }
                    }
                }
                "chat" => {
                    if let Some(chat) = reader.section::<RawChat>(value, "chat") {
                        apply_chat(&mut config.chat, chat, &mut reader);
                    }
                }
                "context" => {
                    if let Some(context) = reader.section::<RawContext>(value, "context") {
                        apply_context(&mut config.context, context, &mut reader);
                    }
                }
                _ => reader.invalid(
                    &name,
                    key.span(),
                    "unknown key (ignored); known: log_level, default_provider, \
                     default_model, [providers.NAME], [presets.NAME], [vault], [storage], [chat], \
                     [context]"
                        .into(),
                ),
            }
        }
        // After the providers: `default_provider` may name one declared below it.
        for (name, value) in defaults {
            let before = reader.problems.len();
            let Some(text) = reader.typed::<String>(value, &name) else {
                if config.broken.defaults.is_none() {
                    config.broken.defaults = reader.problems.get(before).cloned();
                }
                continue;
            };
            let problem = if name == "default_model" {
                check_model_name(text.get_ref()).err()
            } else if config.provider(text.get_ref()).is_none()
                && !config.broken.providers.contains_key(text.get_ref())
            {
                let known: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
                Some(format!(
                    "no provider named {:?} (known: {})",
                    redact::name_for_message(text.get_ref()),
                    known.join(", ")
                ))
            } else {
                None
            };
            match problem {
                Some(message) => {
                    reader.invalid(&name, text.span(), message);
                    if config.broken.defaults.is_none() {
                        config.broken.defaults = reader.problems.last().cloned();
                    }
                }
                None if name == "default_model" => config.default_model = Some(text.into_inner()),
                None => config.default_provider = text.into_inner(),
            }
        }
        reader.problems.sort_by_key(|problem| problem.line());
        config.problems = reader.problems;
        config.broken.file = syntax_broken.file;
        if config.broken.defaults.is_none() {
            config.broken.defaults = syntax_broken.defaults;
        }
        for (name, problem) in syntax_broken.providers {
            config.broken.providers.entry(name).or_insert(problem);
        }
        config
    }

    /// The provider with this name.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The provider with this name, unless the config part it depends on is broken.
    pub fn usable_provider(&self, name: &str) -> Result<Option<&ProviderConfig>, ConfigError> {
        if let Some(error) = &self.broken.file {
            return Err(error.clone());
        }
        if let Some(error) = self.broken.providers.get(name) {
            return Err(error.clone());
        }
        Ok(self.provider(name))
    }

    /// The provider (and model, if the config names one) to use when a call names none;
    /// an error when the part of the config that chooses them is broken.
    pub fn default_choice(&self) -> Result<(&str, Option<&str>), ConfigError> {
        if let Some(error) = self.broken.file.as_ref().or(self.broken.defaults.as_ref()) {
            return Err(error.clone());
        }
        Ok((&self.default_provider, self.default_model.as_deref()))
    }
}

/// Reads the parts of the file, collecting problems.
struct Reader<'a> {
    text: &'a str,
    path: &'a Path,
    problems: Vec<ConfigError>,
}

impl Reader<'_> {
    /// `value` if it lies in `range`, else reported under `key` (its default is kept).
    fn bounded(
        &mut self,
        key: &str,
        value: &Spanned<u64>,
        range: std::ops::RangeInclusive<u64>,
    ) -> Option<u64> {
        if range.contains(value.get_ref()) {
            return Some(*value.get_ref());
        }
        let message = format!("between {} and {}", range.start(), range.end());
        self.invalid(key, value.span(), message);
        None
    }

    fn invalid(&mut self, key: &str, span: std::ops::Range<usize>, message: String) {
        self.problems.push(ConfigError::Invalid {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            line: line_of(self.text, span.start),
            message,
        });
    }

    /// One value of type `T`, or a problem recorded.
    fn typed<'i, T: Deserialize<'i>>(
        &mut self,
        value: Spanned<DeValue<'i>>,
        key: &str,
    ) -> Option<Spanned<T>> {
        let span = value.span();
        match Spanned::<T>::deserialize(toml::de::ValueDeserializer::from(value)) {
            Ok(typed) => Some(typed),
            Err(error) => {
                let at = error.span().unwrap_or(span);
                self.invalid(key, at, error.message().trim_end().to_string());
                None
            }
        }
    }

    /// A table section read as `T`: each entry an error points at (an unknown key, a value
    /// of the wrong type) is reported and left out, and the rest is read. None when the
    /// section is not a table or an error cannot be placed on one entry.
    fn section<'i, T: Deserialize<'i>>(
        &mut self,
        value: Spanned<DeValue<'i>>,
        prefix: &str,
    ) -> Option<T> {
        let span = value.span();
        let DeValue::Table(mut table) = value.into_inner() else {
            self.invalid(prefix, span, "expected a table".into());
            return None;
        };
        loop {
            let attempt = Spanned::new(span.clone(), DeValue::Table(table.clone()));
            let error = match T::deserialize(toml::de::ValueDeserializer::from(attempt)) {
                Ok(typed) => return Some(typed),
                Err(error) => error,
            };
            let message = error.message().trim_end().to_string();
            let at = error.span().unwrap_or(span.clone());
            let culprit = table
                .iter()
                .find(|(key, value)| {
                    [key.span(), value.span()].iter().any(|entry| {
                        entry.start <= at.start && at.start < entry.end.max(entry.start + 1)
                    })
                })
                .map(|(key, _)| (key.get_ref().to_string(), key.span()));
            match culprit {
                Some((name, key_span)) => {
                    self.invalid(&format!("{prefix}.{name}"), key_span.clone(), message);
                    table = table
                        .into_iter()
                        .filter(|(key, _)| key.span() != key_span)
                        .collect();
                }
                None => {
                    self.invalid(prefix, at, message);
                    return None;
                }
            }
        }
    }

    /// `[providers.NAME]` sections. A provider with any problem is left out and marked
    /// broken: a built-in whose override is broken must not run on its built-in URL.
    fn providers(&mut self, config: &mut Config, value: Spanned<DeValue>) {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            self.invalid("providers", span, "expected a table of providers".into());
            return;
        };
        for (name, section) in table {
            let key = format!("providers.{}", name.get_ref());
            let name = Spanned::new(name.span(), name.get_ref().to_string());
            let before = self.problems.len();
            let raw = self.section::<RawProvider>(section, &key);
            if let Some(raw) = raw.filter(|_| self.problems.len() == before) {
                apply_provider(config, &name, raw, &key, self);
            }
            if let Some(problem) = self.problems.get(before) {
                config
                    .broken
                    .providers
                    .insert(name.into_inner(), problem.clone());
            }
        }
    }
}

impl Reader<'_> {
    fn presets(&mut self, config: &mut Config, value: Spanned<DeValue>) {
        let span = value.span();
        let DeValue::Table(table) = value.into_inner() else {
            self.invalid("presets", span, "expected a table of presets".into());
            return;
        };
        for (name, section) in table {
            let key = format!("presets.{}", name.get_ref());
            let name = Spanned::new(name.span(), name.get_ref().to_string());
            let before = self.problems.len();
            let raw = self.section::<RawPreset>(section, &key);
            if let Some(raw) = raw.filter(|_| self.problems.len() == before) {
                apply_preset(config, &name, raw, &key, self);
            }
        }
    }
}

/// A provider or preset name: letters, digits, `-` and `_`, at most 64.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// One `[presets.NAME]`: a bad one is reported and left out (a built-in of that name stays).
fn apply_preset(
    config: &mut Config,
    name: &Spanned<String>,
    raw: RawPreset,
    key: &str,
    reader: &mut Reader,
) {
    if !is_plain_name(name.get_ref()) {
        return reader.invalid(
            key,
            name.span(),
            "preset names use letters, digits, `-` and `_` (at most 64)".into(),
        );
    }
    if let Some(model) = &raw.model
        && let Err(problem) = check_model_name(model.get_ref())
    {
        return reader.invalid(&format!("{key}.model"), model.span(), problem);
    }
    if let Some(provider) = &raw.provider
        && provider.get_ref().trim().is_empty()
    {
        return reader.invalid(
            &format!("{key}.provider"),
            provider.span(),
            "empty provider name".into(),
        );
    }
    let temperature = match &raw.temperature {
        Some(t) if (0.0..=2.0).contains(t.get_ref()) => Some(*t.get_ref() as f32),
        Some(t) => {
            return reader.invalid(
                &format!("{key}.temperature"),
                t.span(),
                "between 0 and 2".into(),
            );
        }
        None => None,
    };
    let max_tokens = match &raw.max_tokens {
        Some(n) if (1..=1_000_000).contains(n.get_ref()) => Some(*n.get_ref() as u32),
        Some(n) => {
            return reader.invalid(
                &format!("{key}.max_tokens"),
                n.span(),
                "between 1 and 1000000".into(),
            );
        }
        None => None,
    };
    let builtin = config
        .presets
        .iter()
        .position(|p| p.name == *name.get_ref() && p.builtin);
    let base = builtin.map(|at| config.presets.remove(at));
    let preset = crate::presets::Preset {
        name: name.get_ref().clone(),
        provider: raw.provider.map(Spanned::into_inner),
        model: raw.model.map(Spanned::into_inner),
        system: raw
            .system
            .or_else(|| base.as_ref().and_then(|b| b.system.clone())),
        temperature: temperature.or_else(|| base.as_ref().and_then(|b| b.temperature)),
        max_tokens,
        instruction: raw
            .instruction
            .or_else(|| base.as_ref().and_then(|b| b.instruction.clone())),
        staged_diff: raw
            .staged_diff
            .unwrap_or_else(|| base.as_ref().is_some_and(|b| b.staged_diff)),
        builtin: false,
    };
    config.presets.retain(|p| p.name != preset.name);
    match builtin {
        Some(at) => config.presets.insert(at, preset),
        None => config.presets.push(preset),
    }
}

/// `[chat]`: each bad value is reported and its default kept.
fn apply_chat(chat: &mut ChatConfig, raw: RawChat, reader: &mut Reader) {
    use std::time::Duration;
    let mut bounded = |value: &Spanned<u64>, key: &str, range| {
        reader.bounded(&format!("chat.{key}"), value, range)
    };
    if let Some(window) = raw.delta_window_ms.as_ref()
        && let Some(ms) = bounded(window, "delta_window_ms", 0..=1000)
    {
        chat.delta_window = Duration::from_millis(ms);
    }
    if let Some(idle) = raw.idle_timeout_secs.as_ref()
        && let Some(secs) = bounded(idle, "idle_timeout_secs", 1..=3600)
    {
        chat.idle_timeout = Duration::from_secs(secs);
    }
    if let Some(connect) = raw.connect_timeout_secs.as_ref()
        && let Some(secs) = bounded(connect, "connect_timeout_secs", 1..=300)
    {
        chat.connect_timeout = Duration::from_secs(secs);
    }
    if let Some(file) = raw.extra_ca_file {
        let path = std::path::PathBuf::from(file.get_ref());
        if path.is_file() {
            chat.extra_ca_file = Some(path);
        } else {
            reader.invalid(
                "chat.extra_ca_file",
                file.span(),
                format!("{} is not a readable file", path.display()),
            );
        }
    }
}

/// `[context]`: each bad value is reported and its default kept.
fn apply_context(context: &mut ContextConfig, raw: RawContext, reader: &mut Reader) {
    let mut bounded = |value: &Spanned<u64>, key: &str, range| {
        reader.bounded(&format!("context.{key}"), value, range)
    };
    if let Some(guard) = raw.guard {
        context.guard = guard;
    }
    const MIB: u64 = 1024 * 1024;
    if let Some(v) = raw.max_file_bytes.as_ref()
        && let Some(n) = bounded(v, "max_file_bytes", 1..=64 * MIB)
    {
        context.max_file_bytes = n;
    }
    if let Some(v) = raw.max_files.as_ref()
        && let Some(n) = bounded(v, "max_files", 1..=10_000)
    {
        context.max_files = n as usize;
    }
    if let Some(v) = raw.max_turn_bytes.as_ref()
        && let Some(n) = bounded(v, "max_turn_bytes", 1..=15 * MIB)
    {
        context.max_turn_bytes = n;
    }
    if let Some(v) = raw.max_url_bytes.as_ref()
        && let Some(n) = bounded(v, "max_url_bytes", 1..=64 * MIB)
    {
        context.max_url_bytes = n;
    }
    if let Some(v) = raw.git_timeout_secs.as_ref()
        && let Some(n) = bounded(v, "git_timeout_secs", 1..=300)
    {
        context.git_timeout = std::time::Duration::from_secs(n);
    }
}

/// `[vault]`: each bad value is reported and its default kept (the three KDF costs as one).
fn apply_vault(vault: &mut VaultConfig, raw: RawVault, reader: &mut Reader) {
    if let Some(command) = raw.password_command {
        if command.get_ref().trim().is_empty() {
            reader.invalid(
                "vault.password_command",
                command.span(),
                "empty command".into(),
            );
        } else {
            vault.password_command = Some(command.into_inner());
        }
    }
    if let Some(minutes) = raw.auto_lock_minutes {
        if *minutes.get_ref() == 0 {
            reader.invalid(
                "vault.auto_lock_minutes",
                minutes.span(),
                "at least 1 (leave it out to never auto-lock)".into(),
            );
        } else {
            vault.auto_lock_minutes = Some(minutes.into_inner());
        }
    }
    let mut kdf = vault.kdf;
    let mut span = None;
    if let Some(memory) = raw.kdf_memory_mib {
        kdf.memory_kib = memory.get_ref().saturating_mul(1024);
        span = Some(("vault.kdf_memory_mib", memory.span()));
    }
    if let Some(iterations) = raw.kdf_iterations {
        kdf.iterations = *iterations.get_ref();
        span = span.or(Some(("vault.kdf_iterations", iterations.span())));
    }
    if let Some(lanes) = raw.kdf_parallelism {
        kdf.parallelism = *lanes.get_ref();
        span = span.or(Some(("vault.kdf_parallelism", lanes.span())));
    }
    match (span, kdf.check()) {
        (Some((key, span)), Err(error)) => reader.invalid(key, span, error.to_string()),
        _ => vault.kdf = kdf,
    }
}

/// One `[providers.NAME]` section; a problem is reported and the provider left unchanged
/// (the caller marks it broken).
fn apply_provider(
    config: &mut Config,
    name: &Spanned<String>,
    raw: RawProvider,
    key: &str,
    reader: &mut Reader,
) {
    if !is_plain_name(name.get_ref()) {
        return reader.invalid(
            key,
            name.span(),
            "provider names use letters, digits, `-` and `_` (at most 64)".into(),
        );
    }
    let base_url = match &raw.base_url {
        Some(url) => match check_base_url(url.get_ref()) {
            Ok(url) => Some(url),
            Err(message) => return reader.invalid(&format!("{key}.base_url"), url.span(), message),
        },
        None => None,
    };
    if let Some(env) = &raw.api_key_env {
        let ok = !env.get_ref().is_empty()
            && env
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return reader.invalid(
                &format!("{key}.api_key_env"),
                env.span(),
                "an environment variable name (letters, digits, `_`)".into(),
            );
        }
    }
    if let Some(model) = &raw.default_model
        && let Err(message) = check_model_name(model.get_ref())
    {
        return reader.invalid(&format!("{key}.default_model"), model.span(), message);
    }
    if let Some(header) = &raw.key_header
        && let Err(message) = check_header_name(header.get_ref())
    {
        return reader.invalid(&format!("{key}.key_header"), header.span(), message);
    }
    let query: Vec<(String, String)> = raw
        .query
        .as_ref()
        .map(|query| query.get_ref().clone().into_iter().collect())
        .unwrap_or_default();
    if let Some(spanned) = &raw.query
        && let Some((name, _)) = query
            .iter()
            .find(|(name, value)| name.is_empty() || name.len() > 64 || value.len() > 256)
    {
        let message = if name.is_empty() {
            "a query parameter name is empty".to_string()
        } else {
            "query parameter names are at most 64 bytes and values at most 256".to_string()
        };
        return reader.invalid(&format!("{key}.query"), spanned.span(), message);
    }
    let key_header = raw.key_header.map(Spanned::into_inner);

    if let Some(existing) = config
        .providers
        .iter_mut()
        .find(|p| p.name == *name.get_ref())
    {
        if let Some(kind) = &raw.kind
            && *kind.get_ref() != existing.kind
        {
            let message = format!(
                "the built-in provider {:?} cannot change its kind",
                existing.name
            );
            return reader.invalid(&format!("{key}.kind"), kind.span(), message);
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
        if key_header.is_some() {
            existing.key_header = key_header;
        }
        if raw.query.is_some() {
            existing.query = query;
        }
        return;
    }

    let Some(kind) = raw.kind else {
        return reader.invalid(
            key,
            name.span(),
            "a new provider needs `kind` (openai-compatible, ollama or anthropic)".into(),
        );
    };
    let Some(base_url) = base_url else {
        return reader.invalid(key, name.span(), "a new provider needs `base_url`".into());
    };
    config.providers.push(ProviderConfig {
        name: name.get_ref().clone(),
        kind: kind.into_inner(),
        base_url,
        api_key_env: raw.api_key_env.map(Spanned::into_inner),
        default_model: raw.default_model.map(Spanned::into_inner),
        builtin: false,
        key_header,
        query,
    });
}

/// A header name for the key: an HTTP token, and not one that carries something else.
fn check_header_name(name: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !token {
        return Err("a header name (letters, digits, `-`, `_`; at most 64)".into());
    }
    let reserved = [
        "host",
        "content-type",
        "content-length",
        "transfer-encoding",
        "connection",
        "user-agent",
        "accept",
        "cookie",
    ];
    if reserved.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!("`{name}` cannot carry the key"));
    }
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

/// The `[table]` or `[[array]]` header in force at `line` (1-based), None at the top level.
fn section_at(text: &str, line: usize) -> Option<String> {
    text.lines()
        .take(line)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(str::trim_start)
        .find(|candidate| candidate.starts_with('['))
        .map(|header| {
            let inner = header.trim_start_matches('[');
            let inner = inner.split(']').next().unwrap_or(inner);
            inner.trim().to_string()
        })
}

/// `providers."my local"` as `["providers", "my local"]` (quotes dropped).
fn table_path(section: &str) -> Vec<&str> {
    section
        .split('.')
        .map(|part| part.trim().trim_matches('"').trim_matches('\''))
        .collect()
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

    fn parse(text: &str) -> Config {
        Config::parse(text, Path::new("config.toml"))
    }

    fn problem(config: &Config, key: &str) -> ConfigError {
        config
            .problems
            .iter()
            .find(|p| p.key() == Some(key))
            .unwrap_or_else(|| panic!("no problem for {key}: {:?}", config.problems))
            .clone()
    }

    #[test]
    fn empty_config_has_builtins() {
        let config = parse("");
        assert!(config.problems.is_empty());
        assert_eq!(config.default_provider, "openai");
        let names: Vec<_> = config.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "openai",
                "groq",
                "openrouter",
                "anthropic",
                "ollama",
                "gemini"
            ]
        );
        assert!(config.provider("ollama").unwrap().is_local());
        let gemini = config.provider("gemini").unwrap();
        assert_eq!(
            gemini.base_url.as_str(),
            "https://generativelanguage.googleapis.com/v1beta/openai/"
        );
        assert_eq!(gemini.api_key_env.as_deref(), Some("GEMINI_API_KEY"));
    }

    #[test]
    fn declares_and_overrides_providers() {
        let config = parse(
            "default_provider = \"local\"\n\
             [providers.local]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:8080/v1\"\n\
             [providers.openai]\nbase_url = \"https://proxy.example/v1\"\n\
             [providers.azure]\nkind = \"openai-compatible\"\nbase_url = \"https://x.openai.azure.com/openai/v1\"\n\
             key_header = \"api-key\"\nquery = { \"api-version\" = \"2024-10-21\" }\n",
        );
        assert!(config.problems.is_empty(), "{:?}", config.problems);
        assert_eq!(config.default_provider, "local");
        assert_eq!(
            config.provider("openai").unwrap().base_url.as_str(),
            "https://proxy.example/v1"
        );
        assert!(!config.provider("local").unwrap().builtin);
        let azure = config.provider("azure").unwrap();
        assert_eq!(azure.key_header.as_deref(), Some("api-key"));
        assert_eq!(
            azure.query,
            vec![("api-version".to_string(), "2024-10-21".to_string())]
        );
    }

    #[test]
    fn errors_name_key_and_line() {
        let config =
            parse("\n[providers.x]\nkind = \"ollama\"\nbase_url = \"http://example.com\"\n");
        match problem(&config, "providers.x.base_url") {
            ConfigError::Invalid { line, message, .. } => {
                assert_eq!(line, 4);
                assert!(
                    message.contains("only allowed to this machine"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
        let config = parse("log_level = \"info\"\ncolour = true\n");
        let err = problem(&config, "colour").to_string();
        assert!(
            err.contains("unknown key") && err.contains("line 2"),
            "{err}"
        );
        let config = parse("[providers.y]\nkind = \"telepathy\"\n");
        let err = problem(&config, "providers.y.kind").to_string();
        assert!(err.contains("telepathy") && err.contains("line 2"), "{err}");
        let config = parse("default_provider = \"nope\"\n");
        let err = problem(&config, "default_provider").to_string();
        assert!(
            err.contains("line 1") && err.contains("default_provider"),
            "{err}"
        );
    }

    #[test]
    fn one_bad_line_leaves_the_rest_in_force() {
        let config = parse(
            "default_provider = \"local\"\ndefualt_model = \"x\"\n\
             [providers.local]\nkind = \"ollama\"\nbase_url = \"http://127.0.0.1:11434\"\n\
             [chat]\nidle_timeout_secs = 0\nconnect_timeout_secs = 7\nbogus = 1\n\
             [vault]\nauto_lock_minutes = \"soon\"\npassword_command = \"pass chinwag\"\n",
        );
        let keys: Vec<_> = config.problems.iter().map(|p| p.key().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "defualt_model",
                "chat.idle_timeout_secs",
                "chat.bogus",
                "vault.auto_lock_minutes"
            ]
        );
        assert_eq!(problem(&config, "defualt_model").line(), Some(2));
        assert_eq!(config.default_choice().unwrap().0, "local");
        assert_eq!(config.chat.connect_timeout.as_secs(), 7);
        assert_eq!(config.chat.idle_timeout.as_secs(), 120);
        assert_eq!(
            config.vault.password_command.as_deref(),
            Some("pass chinwag")
        );
    }

    #[test]
    fn broken_defaults_and_providers_refuse_instead_of_falling_back() {
        let config = parse("default_provider = \"ollama\"\ndefault_model = \"a b\"\n");
        let error = config.default_choice().unwrap_err();
        assert_eq!(error.key(), Some("default_model"));
        // A provider whose override is broken is not used on its built-in URL.
        let config = parse(
            "default_provider = \"openai\"\n[providers.openai]\nbase_url = \"http://proxy.example\"\n",
        );
        let error = config
            .default_choice()
            .map(|_| ())
            .and_then(|()| config.usable_provider("openai").map(|_| ()));
        assert_eq!(error.unwrap_err().key(), Some("providers.openai.base_url"));
        assert!(config.usable_provider("groq").unwrap().is_some());
        // A provider named by default_provider but broken: the default is refused too.
        let config = parse("default_provider = \"local\"\n[providers.local]\nkind = \"ollama\"\n");
        assert!(config.default_choice().is_ok());
        assert_eq!(
            config.usable_provider("local").unwrap_err().key(),
            Some("providers.local")
        );
        // A line that is not TOML breaks the table it is in, and only that.
        let config = parse(
            "default_provider = \"local\"\n\
             [providers.local]\nkind = \"ollama\"\nbase_url = \"http://127.0.0.1:1\n\
             [providers.other]\nkind = \"ollama\"\nbase_url = \"http://127.0.0.1:2\"\n\
             [chat]\nconnect_timeout_secs = 7\n",
        );
        assert_eq!(config.problems[0].line(), Some(4), "{:?}", config.problems);
        assert_eq!(
            config.usable_provider("local").unwrap_err().key(),
            Some("providers.local")
        );
        assert!(config.usable_provider("other").unwrap().is_some());
        assert_eq!(config.chat.connect_timeout.as_secs(), 7);
        let config = parse("providers.openai.base_url = \"https://proxy.example\n");
        assert!(config.usable_provider("openai").is_err());
        let config = parse("default_provider = \n[chat]\nconnect_timeout_secs = 7\n");
        assert!(config.default_choice().is_err());
        assert_eq!(config.problems[0].line(), Some(1));
        assert!(config.usable_provider("ollama").unwrap().is_some());
    }

    #[test]
    fn model_names_are_checked() {
        assert!(check_model_name("gpt-4o").is_ok());
        assert!(check_model_name("bad model").is_err());
        assert!(check_model_name("bad\u{7}").is_err());
        assert!(check_model_name(&"m".repeat(201)).is_err());
    }
}
