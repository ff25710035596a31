//! Params and results of the methods, as they travel on the wire (camelCase).

use serde::{Deserialize, Serialize};

use crate::paths::Paths;

/// The protocol version this server speaks. Bumped on an incompatible change only.
pub const PROTOCOL_VERSION: &str = "1.0";

/// `initialize` params. All optional: a client may send none.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    pub client_info: Option<ClientInfo>,
    /// The protocol version the client was written for.
    pub protocol_version: Option<String>,
}

/// Who is talking to us, for the log.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ClientInfo {
    pub name: String,
    pub version: Option<String>,
}

/// `initialize` result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    pub server_info: ServerInfo,
    pub protocol_version: &'static str,
    pub capabilities: Capabilities,
    pub paths: Paths,
    pub config: ConfigStatus,
    /// The `vault/status` result; null when storage is unavailable.
    pub vault: Option<crate::vault::VaultStatus>,
    /// Why storage is unavailable (vault, history and settings calls then fail with 1301).
    pub storage_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub name: &'static str,
    pub version: &'static str,
}

/// What this server can do, so clients can adapt to older or newer servers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Every method the server answers.
    pub methods: Vec<String>,
    /// Every notification the server may send.
    pub notifications: Vec<&'static str>,
    /// The largest frame body accepted, in bytes.
    pub max_frame_bytes: usize,
}

/// Whether the config file was used, and what was wrong with it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigStatus {
    /// Lossy where not UTF-8 (see [`crate::paths::lossy`]).
    #[serde(serialize_with = "crate::paths::lossy")]
    pub file: std::path::PathBuf,
    /// Whether the file exists.
    pub found: bool,
    /// The first problem, as one line naming the key and line (null when there is none).
    pub error: Option<String>,
    /// Every problem, in file order. Each left out only its own part; what depends on a
    /// broken part answers `ConfigError` (1401).
    pub errors: Vec<ConfigProblem>,
    /// Whether the default provider and model can be chosen (false while
    /// `default_provider`/`default_model` or the whole file is broken: chats must then name
    /// their provider).
    pub default_usable: bool,
}

/// One config problem, for an editor to show.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigProblem {
    /// The dotted key (`providers.local.base_url`), null for a file that is not TOML.
    pub key: Option<String>,
    pub line: Option<usize>,
    pub message: String,
    /// The whole problem as one line (file, line, key, message).
    pub text: String,
}

impl From<&crate::config::ConfigError> for ConfigProblem {
    fn from(error: &crate::config::ConfigError) -> Self {
        Self {
            key: error.key().map(str::to_string),
            line: error.line(),
            message: error.message().to_string(),
            text: error.to_string(),
        }
    }
}

/// `$/test/sleep` params (test hooks only).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SleepParams {
    pub millis: u64,
}

/// `$/test/panicBlocking` params (test hooks only): text the panic message carries, which
/// must never reach the log.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PanicParams {
    pub canary: String,
}

// --- vault

/// `vault/unlock` params.
#[derive(Debug, Deserialize)]
pub struct UnlockParams {
    pub password: zeroize::Zeroizing<String>,
}

/// `vault/setPassword` params: `current` when a password is set; `new: null` removes it.
#[derive(Debug, Deserialize)]
pub struct SetPasswordParams {
    #[serde(default)]
    pub current: Option<zeroize::Zeroizing<String>>,
    pub new: Option<zeroize::Zeroizing<String>>,
}

/// `vault/rotateKey` params.
#[derive(Debug, Deserialize)]
pub struct RotateKeyParams {
    #[serde(default)]
    pub confirm: bool,
    #[serde(default)]
    pub password: Option<zeroize::Zeroizing<String>>,
}

/// `vault/rotateKey` result.
#[derive(Debug, Clone, Serialize)]
pub struct RotateKeyResult {
    pub records: usize,
}

/// `vault/setKey` params.
#[derive(Debug, Deserialize)]
pub struct SetKeyParams {
    pub provider: String,
    pub key: zeroize::Zeroizing<String>,
}

/// `vault/setKey` result.
#[derive(Debug, Clone, Serialize)]
pub struct SetKeyResult {
    pub provider: String,
    pub masked: String,
}

/// Params naming a provider.
#[derive(Debug, Deserialize)]
pub struct ProviderParams {
    pub provider: String,
}

/// One key in `vault/listKeys`.
#[derive(Debug, Clone, Serialize)]
pub struct ListedKey {
    pub provider: String,
    pub masked: String,
    /// `vault` or `env`.
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// `vault/listKeys` result.
#[derive(Debug, Clone, Serialize)]
pub struct ListKeysResult {
    pub keys: Vec<ListedKey>,
}

/// Params of destructive calls.
#[derive(Debug, Deserialize)]
pub struct ConfirmParams {
    #[serde(default)]
    pub confirm: bool,
}

/// `{deleted: bool}`.
#[derive(Debug, Clone, Serialize)]
pub struct DeletedResult {
    pub deleted: bool,
}

// --- history

/// `history/list` params.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    pub offset: usize,
    pub limit: Option<usize>,
    /// Which chats to list (default: conversations, not rewrites).
    #[serde(default)]
    pub kind: ListKind,
}

/// `history/list`'s `kind` filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListKind {
    #[default]
    Chat,
    Rewrite,
    All,
}

impl ListKind {
    /// The chat kind to keep, or None for all.
    pub fn filter(self) -> Option<crate::history::ChatKind> {
        match self {
            ListKind::Chat => Some(crate::history::ChatKind::Chat),
            ListKind::Rewrite => Some(crate::history::ChatKind::Rewrite),
            ListKind::All => None,
        }
    }
}

/// `history/list` result.
#[derive(Debug, Clone, Serialize)]
pub struct ListResult {
    pub total: usize,
    pub chats: Vec<crate::history::ChatSummary>,
    /// Chats of this page that failed their integrity checks (absent when none did).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<crate::history::DamagedChat>,
}

/// Params naming a chat.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatIdParams {
    pub chat_id: String,
}

/// `history/rename` params.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenameParams {
    pub chat_id: String,
    pub title: String,
}

/// `history/clear` result.
#[derive(Debug, Clone, Serialize)]
pub struct ClearResult {
    pub deleted: usize,
}

/// `history/search` params.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    pub query: String,
    pub limit: Option<usize>,
}

/// `history/search` result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub results: Vec<crate::history::SearchHit>,
    /// Chats that could not be searched because they failed their integrity checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<crate::history::DamagedChat>,
}

/// `history/export` params: `chatId` or `all: true`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportParams {
    pub chat_id: Option<String>,
    #[serde(default)]
    pub all: bool,
    pub format: crate::history::ExportFormat,
    pub path: String,
    #[serde(default)]
    pub overwrite: bool,
}

/// `history/import` params.
#[derive(Debug, Deserialize)]
pub struct PathParams {
    pub path: String,
}

/// `history/backup` params.
#[derive(Debug, Deserialize)]
pub struct BackupParams {
    pub path: String,
    #[serde(default)]
    pub overwrite: bool,
}

/// `history/restore` params.
#[derive(Debug, Deserialize)]
pub struct RestoreParams {
    pub path: String,
    #[serde(default)]
    pub confirm: bool,
    #[serde(default)]
    pub password: Option<zeroize::Zeroizing<String>>,
}

// --- chat, providers, models

/// `chat/new` params.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChatParams {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub system: Option<String>,
    pub title: Option<String>,
    /// Provider, model and system prompt from a preset (those given here win).
    pub preset: Option<String>,
}

/// `chat/configure` params. `system: null` clears the system prompt.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigureParams {
    pub chat_id: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub system: Option<Option<String>>,
    pub title: Option<String>,
}

/// Tells "absent" (outer None) from "null" (Some(None)).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `chat/send` params.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendParams {
    pub chat_id: String,
    /// Apply a preset: to the chat (provider, model, system prompt, remembered) and to this
    /// message (its instruction first).
    #[serde(default)]
    pub preset: Option<String>,
    /// The message the turn follows; absent or null: the current leaf.
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(flatten)]
    pub message: MessageParams,
    #[serde(default)]
    pub options: crate::chat::SendOptions,
}

/// A user message with its context (`chat/send`, `chat/edit`, `chat/previewContext`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageParams {
    pub content: String,
    #[serde(default)]
    pub context: crate::context::Items,
    /// The project root files and git are read in.
    #[serde(default)]
    pub root: Option<String>,
    /// Send secrets as they are, this once.
    #[serde(default)]
    pub allow_secrets: bool,
    /// Sensitive files confirmed for this send.
    #[serde(default)]
    pub allow_files: Vec<String>,
}

impl MessageParams {
    pub fn request(self) -> crate::context::Request {
        crate::context::Request {
            content: self.content,
            items: self.context.0,
            root: self.root,
            allow_secrets: self.allow_secrets,
            allow_files: self.allow_files,
        }
    }
}

/// `chat/previewContext` result.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewContextResult {
    /// Exactly the user message the model would be sent.
    pub text: String,
    pub manifest: crate::history::Manifest,
}

/// `chat/regenerate` params.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegenerateParams {
    pub chat_id: String,
    /// The project root, for its trusted instructions.
    #[serde(default)]
    pub root: Option<String>,
    /// A user turn or one of its answers; absent: the last user turn of the current branch.
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub options: crate::chat::SendOptions,
}

/// `chat/edit` params.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditParams {
    pub chat_id: String,
    /// The user turn edited.
    pub message_id: String,
    #[serde(flatten)]
    pub message: MessageParams,
    #[serde(default)]
    pub options: crate::chat::SendOptions,
}

/// `project/trust` params.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustParams {
    pub root: String,
    /// As the manifest showed it: the file must still be the one the user read.
    pub fingerprint: String,
}

/// `project/trust` result.
#[derive(Debug, Clone, Serialize)]
pub struct TrustResult {
    pub path: String,
    pub trusted: bool,
}

/// `chat/switch` params.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchParams {
    pub chat_id: String,
    pub message_id: String,
}

/// `chat/cancel` result.
#[derive(Debug, Clone, Serialize)]
pub struct CancelResult {
    pub cancelled: bool,
}

/// `chat/rewrite` params.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RewriteParams {
    /// May be empty when a preset gives one.
    #[serde(default)]
    pub instruction: String,
    pub region: crate::chat::prompt::CodeRegion,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// The instruction, provider and model from a preset (those given here win).
    #[serde(default)]
    pub preset: Option<String>,
    /// More context, as for `chat/send`.
    #[serde(default)]
    pub context: crate::context::Items,
    #[serde(default)]
    pub root: Option<String>,
    #[serde(default)]
    pub allow_secrets: bool,
    #[serde(default)]
    pub allow_files: Vec<String>,
}

/// `chat/rewrite` result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RewriteResult {
    pub chat_id: String,
    pub message_id: String,
    /// The replacement code only.
    pub text: String,
}

/// One provider in `providers/list`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    pub name: String,
    pub kind: crate::config::ProviderKind,
    pub base_url: String,
    pub local: bool,
    pub default_model: Option<String>,
    pub key_found: bool,
    /// `vault`, `env`, or null.
    pub key_source: Option<&'static str>,
    /// The same in words, as `chinwag doctor` and both editors show it.
    pub key_state: String,
}

/// `presets/list` result.
#[derive(Debug, Clone, Serialize)]
pub struct PresetsResult {
    pub presets: Vec<crate::presets::Preset>,
}

/// `providers/list` result.
#[derive(Debug, Clone, Serialize)]
pub struct ProvidersResult {
    pub default: String,
    pub providers: Vec<ProviderInfo>,
}

/// `models/list` params.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsParams {
    pub provider: String,
    #[serde(default)]
    pub refresh: bool,
}

/// One model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub id: String,
}

/// `models/list` result.
#[derive(Debug, Clone, Serialize)]
pub struct ModelsResult {
    pub provider: String,
    pub models: Vec<ModelInfo>,
    pub cached: bool,
}
