//! Chat: one turn is the user's message saved, the provider's answer streamed back as deltas,
//! and the answer saved, whole or partial. Several chats may stream at once; one chat streams
//! one answer at a time.
//!
//! Cancellation comes two ways: `chat/cancel` trips the chat's token (the loop notices, saves
//! the partial answer and answers -32800), and `$/cancelRequest` drops the whole future (the
//! [`PartialAnswer`] guard then saves what had arrived). Either way the provider connection is
//! dropped at once.

pub mod prompt;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use crate::clock::now_millis;
use crate::config::{
    ChatConfig, Config, ConfigError, ProviderConfig, ProviderKind, check_model_name,
};
use crate::context::instructions::{self, Instructions};
use crate::context::{self, Assembled, ContextError, Guard};
use crate::history::{
    ChatRecord, ChatSummary, History, HistoryError, InstructionsEntry, MakeCurrent, Manifest,
    ManifestPart, MessageRecord, MessageStatus, Role, Tree, Usage, no_such_message,
};
use crate::http_client::Clients;
use crate::presets::Preset;
use crate::provider::stream::{self, StreamLimits};
use crate::provider::{self, ChatRequest, ProviderError, StreamItem, WireMessage, WireRole};
use crate::redact;
use crate::store::sealed::new_id;
use crate::vault::{Vault, VaultError};

/// How long a model list is reused.
const MODELS_TTL: Duration = Duration::from_secs(600);

/// One `chat/delta` notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delta {
    pub chat_id: String,
    pub message_id: String,
    pub delta: String,
    /// `text` or `reasoning`.
    pub kind: &'static str,
}

/// Per-request generation options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendOptions {
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

pub use crate::history::Timings;

/// What a turn does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// `chat/send`: a new user message after `parent` (`None`: the current leaf), with the
    /// manifest of its context.
    Send {
        content: String,
        parent: Option<String>,
        manifest: Option<Manifest>,
        /// Trusted project instructions, joining the system prompt for this turn.
        project: Option<String>,
    },
    /// `chat/edit`: a new version of a user message, as its sibling, then its answer.
    Edit {
        message_id: String,
        content: String,
        manifest: Option<Manifest>,
        project: Option<String>,
    },
    /// `chat/regenerate`: a new answer to a user turn (named by itself or by one of its
    /// answers; `None`: the last of the current branch), from another provider or model if
    /// given.
    Regenerate {
        message_id: Option<String>,
        provider: Option<String>,
        model: Option<String>,
        project: Option<String>,
    },
}

/// What a turn sends and saves, worked out before anything goes out.
struct Plan {
    provider: String,
    model: String,
    /// The chat's preset's, when the request gives none.
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    messages: Vec<WireMessage>,
    /// The user message to save first (none when regenerating).
    user: Option<MessageRecord>,
    /// The user turn the answer follows.
    question: String,
    /// Whether the answer becomes the current leaf.
    current: MakeCurrent,
}

/// Where a turn's answer is, for the error data of a turn that began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnIds {
    pub chat_id: String,
    pub message_id: String,
    pub user_message_id: String,
}

/// `chat/send` result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResult {
    pub chat_id: String,
    pub message_id: String,
    /// The user turn this answers (the answer's parent).
    pub user_message_id: String,
    /// Who answered.
    pub provider: String,
    pub model: String,
    pub content: String,
    pub reasoning: Option<String>,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    pub timings: Timings,
}

/// `chat/new` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewChat {
    pub chat_id: String,
    pub provider: String,
    pub model: String,
}

/// Why a chat call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Provider(ProviderError),
    /// The provider failed after the turn began; the partial answer was kept.
    #[error("{error}")]
    Failed {
        /// Boxed: it is the largest variant by far.
        error: Box<ProviderError>,
        ids: TurnIds,
    },
    #[error("the answer was cancelled")]
    Cancelled(TurnIds),
    #[error("no provider named {0:?}")]
    NoSuchProvider(String),
    #[error("no preset named {0:?}")]
    NoSuchPreset(String),
    #[error("chat {0} is already streaming an answer; cancel it first")]
    Busy(String),
    #[error("{0}")]
    InvalidInput(String),
    /// The part of the config this call depends on is broken.
    #[error("{0}")]
    Config(ConfigError),
    /// The context could not be gathered.
    #[error(transparent)]
    Context(ContextError),
}

impl From<VaultError> for ChatError {
    fn from(error: VaultError) -> Self {
        ChatError::History(HistoryError::Vault(error))
    }
}

/// The chat service.
pub struct ChatService {
    config: Config,
    history: Arc<History>,
    vault: Arc<Vault>,
    /// One client for remote providers, one for loopback ones (see [`Clients`]).
    clients: Clients,
    /// The chats streaming now, with the token that stops each.
    active: Mutex<HashMap<String, CancellationToken>>,
    models: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl ChatService {
    /// The service with an HTTP client built from the config (timeouts, extra CA).
    pub fn open(config: &Config, history: Arc<History>) -> Result<ChatService, String> {
        let clients = Clients::build(
            config.chat.connect_timeout,
            config.chat.extra_ca_file.as_deref(),
        )
        .map_err(|error| error.to_string())?;
        Ok(ChatService::new(config.clone(), history, clients))
    }

    pub fn new(config: Config, history: Arc<History>, clients: Clients) -> Self {
        let vault = history.vault().clone();
        Self {
            config,
            history,
            vault,
            clients,
            active: Mutex::new(HashMap::new()),
            models: Mutex::new(HashMap::new()),
        }
    }

    fn chat_config(&self) -> &ChatConfig {
        &self.config.chat
    }

    /// The provider named, unless its part of the config is broken (then a config error,
    /// never the built-in it would otherwise fall back on).
    fn provider(&self, name: &str) -> Result<&ProviderConfig, ChatError> {
        self.config
            .usable_provider(name)
            .map_err(ChatError::Config)?
            // The name may be a key sent in the wrong field: it is quoted only if it cannot be.
            .ok_or_else(|| ChatError::NoSuchProvider(redact::name_for_message(name).to_string()))
    }

    /// Where a key for `provider` would come from: `vault`, `env`, or none.
    pub fn key_source(&self, provider: &ProviderConfig) -> Option<&'static str> {
        if matches!(self.vault.key_for(&provider.name), Ok(Some(_))) {
            return Some("vault");
        }
        env_key(provider).map(|_| "env")
    }

    /// The preset named.
    pub fn preset(&self, name: &str) -> Result<&Preset, ChatError> {
        self.config
            .presets
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ChatError::NoSuchPreset(redact::name_for_message(name).to_string()))
    }

    /// Every preset, built-ins first.
    pub fn presets(&self) -> &[Preset] {
        &self.config.presets
    }

    /// Start a chat (blocking: call off the async threads), with a preset's provider, model
    /// and system prompt where none is given.
    pub fn new_chat(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
        system: Option<String>,
        title: Option<&str>,
        preset: Option<&str>,
    ) -> Result<NewChat, ChatError> {
        let preset = preset.map(|name| self.preset(name)).transpose()?;
        let provider = provider.or(preset.and_then(|p| p.provider.as_deref()));
        let model = model.or(preset.and_then(|p| p.model.as_deref()));
        let system = system.or_else(|| preset.and_then(|p| p.system.clone()));
        let provider = match provider {
            Some(name) => self.provider(name)?,
            // No silent fallback: with `default_provider`/`default_model` broken, the user's
            // intended default is unknown.
            None => self.provider(self.config.default_choice().map_err(ChatError::Config)?.0)?,
        };
        let model = self.model_for(provider, model)?;
        let mut chat = self
            .history
            .create_chat(&provider.name, &model, system, title)?;
        if let Some(preset) = preset {
            chat = self.history.update_chat(&chat.id, |chat| {
                chat.preset = Some(preset.name.clone());
                Ok::<_, ChatError>(())
            })?;
        }
        Ok(NewChat {
            chat_id: chat.id,
            provider: chat.provider,
            model: chat.model,
        })
    }

    /// Apply a preset to a chat (blocking): its provider, model and system prompt where it
    /// sets them, and the chat remembers it.
    pub fn apply_preset(&self, chat_id: &str, name: &str) -> Result<&Preset, ChatError> {
        let preset = self.preset(name)?;
        self.history.update_chat(chat_id, |chat| {
            if let Some(name) = &preset.provider {
                let provider = self.provider(name)?;
                chat.provider = provider.name.clone();
                if preset.model.is_none() {
                    chat.model = self.model_for(provider, None)?;
                }
            }
            if let Some(model) = &preset.model {
                chat.model = model.clone();
            }
            if preset.system.is_some() {
                chat.system = preset.system.clone();
            }
            chat.preset = Some(preset.name.clone());
            Ok::<_, ChatError>(())
        })?;
        Ok(preset)
    }

    /// Mark a chat as a rewrite, so `history/list` shows it apart (blocking).
    pub fn mark_rewrite(&self, chat_id: &str) -> Result<(), ChatError> {
        self.history.update_chat(chat_id, |chat| {
            chat.kind = crate::history::ChatKind::Rewrite;
            Ok::<_, ChatError>(())
        })?;
        Ok(())
    }

    fn model_for(
        &self,
        provider: &ProviderConfig,
        model: Option<&str>,
    ) -> Result<String, ChatError> {
        // The default provider's model was meant to come from a broken `default_model`:
        // which one the user wanted is unknown, so none is picked for them.
        if model.is_none()
            && provider.name == self.config.default_provider
            && let Some(error) = &self.config.broken.defaults
            && error.key() != Some("default_provider")
        {
            return Err(ChatError::Config(error.clone()));
        }
        let model = model
            .map(str::to_string)
            .or_else(|| {
                (provider.name == self.config.default_provider)
                    .then(|| self.config.default_model.clone())
                    .flatten()
            })
            .or_else(|| provider.default_model.clone())
            .ok_or_else(|| {
                ChatError::InvalidInput(format!(
                    "no model given and {} has no default",
                    provider.name
                ))
            })?;
        check_model_name(&model).map_err(ChatError::InvalidInput)?;
        Ok(model)
    }

    /// Change a chat's provider, model, system prompt or title (blocking).
    pub fn configure(
        &self,
        chat_id: &str,
        provider: Option<&str>,
        model: Option<&str>,
        system: Option<Option<String>>,
        title: Option<&str>,
    ) -> Result<ChatSummary, ChatError> {
        let chat = self.history.update_chat(chat_id, |chat| {
            if let Some(name) = provider {
                let provider = self.provider(name)?;
                chat.provider = provider.name.clone();
                if model.is_none() {
                    chat.model = self.model_for(provider, None)?;
                }
            }
            if let Some(model) = model {
                check_model_name(model).map_err(ChatError::InvalidInput)?;
                chat.model = model.to_string();
            }
            if let Some(system) = system {
                chat.system = system;
            }
            chat.updated_at = now_millis().max(chat.updated_at);
            Ok::<_, ChatError>(())
        })?;
        match title {
            Some(title) => Ok(self.history.rename(chat_id, title)?),
            None => Ok(ChatSummary::from(&chat)),
        }
    }

    /// Stop the answer streaming in `chat_id`. Returns whether one was streaming.
    pub fn cancel(&self, chat_id: &str) -> bool {
        match lock(&self.active).get(chat_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// The provider's models, cached for a while.
    pub async fn models(
        &self,
        provider_name: &str,
        refresh: bool,
    ) -> Result<(Vec<String>, bool), ChatError> {
        if !refresh
            && let Some((fetched, models)) = lock(&self.models).get(provider_name)
            && fetched.elapsed() < MODELS_TTL
        {
            return Ok((models.clone(), true));
        }
        let provider = self.provider(provider_name)?.clone();
        let key = self.key_lookup(&provider).await?;
        let family = provider::family(provider.kind);
        let timeout = self.chat_config().idle_timeout.min(Duration::from_secs(30));
        let models = stream::list_models(
            self.clients.for_provider(&provider),
            family,
            &provider,
            key.as_ref(),
            timeout,
        )
        .await
        .map_err(ChatError::Provider)?;
        lock(&self.models).insert(provider_name.to_string(), (Instant::now(), models.clone()));
        Ok((models, false))
    }

    /// The key for `provider`: the vault's, else its environment variable. `Ok(None)` when
    /// none is found and none is needed (local servers).
    async fn key_lookup(
        &self,
        provider: &ProviderConfig,
    ) -> Result<Option<Zeroizing<String>>, ChatError> {
        let vault = self.vault.clone();
        let name = provider.name.clone();
        if let Some(key) = blocking(move || vault.key_for(&name).map_err(ChatError::from)).await? {
            return Ok(Some(key));
        }
        if let Some(key) = env_key(provider) {
            return Ok(Some(key));
        }
        if !provider.is_local() && provider.kind != ProviderKind::Ollama {
            return Err(ChatError::Provider(ProviderError::KeyMissing {
                provider: provider.name.clone(),
                env: provider.api_key_env.clone(),
            }));
        }
        Ok(None)
    }

    /// One turn: save the user's message (if the turn has one), stream the answer as deltas,
    /// save the answer beside the earlier ones.
    pub async fn turn(
        self: &Arc<Self>,
        chat_id: &str,
        turn: Turn,
        options: SendOptions,
        deltas: mpsc::Sender<Delta>,
    ) -> Result<SendResult, ChatError> {
        let started = Instant::now();
        if let Turn::Send { content, .. } | Turn::Edit { content, .. } = &turn
            && content.trim().is_empty()
        {
            return Err(ChatError::InvalidInput("the message is empty".into()));
        }
        let token = CancellationToken::new();
        {
            let mut active = lock(&self.active);
            if active.contains_key(chat_id) {
                return Err(ChatError::Busy(chat_id.to_string()));
            }
            active.insert(chat_id.to_string(), token.clone());
        }
        let _active = ActiveGuard {
            service: self.clone(),
            chat_id: chat_id.to_string(),
        };

        // Everything that can fail before a byte goes out: vault, chat, message, provider,
        // key, model.
        let history = self.history.clone();
        let id = chat_id.to_string();
        let service = self.clone();
        let plan = blocking(move || {
            let (chat, messages) = history.chat_with_messages(&id)?;
            service.plan(&chat, &messages, turn)
        })
        .await?;
        let provider = self.provider(&plan.provider)?.clone();
        check_model_name(&plan.model)
            .map_err(|m| ChatError::Provider(ProviderError::BadModel(m)))?;
        let key = self.key_lookup(&provider).await?;

        let request = ChatRequest {
            model: plan.model.clone(),
            messages: plan.messages,
            temperature: options.temperature.or(plan.temperature),
            max_tokens: options.max_tokens.or(plan.max_tokens),
        };
        // Saved while the request goes out: the first token must not wait for a disk flush.
        let user_saved = plan.user.map(|user| {
            let history = self.history.clone();
            let id = chat_id.to_string();
            tokio::spawn(blocking(move || {
                history
                    .append(&id, user, MakeCurrent::Always)
                    .map_err(ChatError::from)
            }))
        });

        let message_id = new_id().map_err(|e| ChatError::from(VaultError::from(e)))?;
        let mut answer = PartialAnswer {
            history: self.history.clone(),
            chat_id: chat_id.to_string(),
            message_id: message_id.clone(),
            parent_id: plan.question.clone(),
            provider: provider.name.clone(),
            model: plan.model.clone(),
            current: plan.current,
            content: String::new(),
            reasoning: String::new(),
            usage: None,
            finish: None,
            started,
            first_token: None,
            pieces: 0,
            created_at: now_millis(),
            saved: false,
        };
        let outcome = self
            .stream_answer(
                &provider,
                key.as_ref(),
                &request,
                &token,
                &deltas,
                &mut answer,
            )
            .await;
        // The user's turn is on disk before the answer is.
        if let Some(user_saved) = user_saved {
            match user_saved.await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => return Err(error),
                Err(error) => {
                    return Err(ChatError::InvalidInput(format!("internal error: {error}")));
                }
            }
        }
        let ids = TurnIds {
            chat_id: chat_id.to_string(),
            message_id,
            user_message_id: plan.question,
        };
        match outcome {
            Ok(()) => {
                let record = answer.save(MessageStatus::Complete, None).await?;
                Ok(SendResult {
                    chat_id: ids.chat_id,
                    message_id: record.id,
                    user_message_id: ids.user_message_id,
                    provider: answer.provider.clone(),
                    model: answer.model.clone(),
                    content: record.content,
                    reasoning: record.reasoning,
                    finish_reason: record.finish_reason,
                    usage: record.usage,
                    timings: record.timings.unwrap_or_else(|| answer.timings()),
                })
            }
            Err(StreamEnd::Cancelled) => {
                answer.save(MessageStatus::Cancelled, None).await?;
                Err(ChatError::Cancelled(ids))
            }
            Err(StreamEnd::Failed(error)) => {
                answer
                    .save(MessageStatus::Error, Some(error.to_string()))
                    .await?;
                Err(ChatError::Failed {
                    error: Box::new(error),
                    ids,
                })
            }
        }
    }

    /// The user's message as it will be sent: its context gathered, and the secret guard run
    /// over all of it with the keys the vault and the environment hold.
    pub async fn assemble(&self, request: context::Request) -> Result<Assembled, ChatError> {
        let guard = self.guard().await?;
        let root = request.root.clone();
        let guarding = self.config.context.guard && !request.allow_secrets;
        let mut assembled = context::assemble(request, &self.config.context, &self.clients, &guard)
            .await
            .map_err(ChatError::Context)?;
        if let Some(root) = root {
            let found = self.project_instructions(&root).await?;
            if let Some((found, trusted)) = found {
                let (text, redactions) = if guarding {
                    guard.redact(&found.text)
                } else {
                    (found.text.clone(), Vec::new())
                };
                assembled.manifest.instructions = Some(InstructionsEntry {
                    path: found.path.clone(),
                    included: trusted,
                    fingerprint: found.fingerprint,
                    part: ManifestPart {
                        bytes: text.len() as u64,
                        tokens: context::estimate_tokens(text.len()),
                        redactions,
                    },
                });
                if trusted {
                    assembled.instructions = Some(project_prompt(&found.path, &text));
                }
            }
        }
        Ok(assembled)
    }

    /// The secret guard, knowing the keys the vault and the environment hold.
    async fn guard(&self) -> Result<Guard, ChatError> {
        let vault = self.vault.clone();
        let names: Vec<String> = self
            .config
            .providers
            .iter()
            .map(|p| p.name.clone())
            .collect();
        // A locked vault hides its keys; their shapes are still caught.
        let mut known = blocking(move || {
            Ok(names
                .iter()
                .filter_map(|name| vault.key_for(name).ok().flatten())
                .collect::<Vec<_>>())
        })
        .await?;
        known.extend(self.config.providers.iter().filter_map(env_key));
        Ok(Guard::new(known))
    }

    /// The project's instructions file at `root`, if any, and whether the user trusted this
    /// exact content.
    pub async fn project_instructions(
        &self,
        root: &str,
    ) -> Result<Option<(Instructions, bool)>, ChatError> {
        let vault = self.vault.clone();
        let root = root.to_string();
        let cap = self.config.context.max_file_bytes;
        blocking(move || {
            let root = context::Root::open(&root).map_err(ChatError::Context)?;
            let Some(found) = instructions::find(&root, cap).map_err(ChatError::Context)? else {
                return Ok(None);
            };
            let trusted = vault.is_trusted(&found.fingerprint)?;
            Ok(Some((found, trusted)))
        })
        .await
    }

    /// The text trusted instructions add to the system prompt, for a turn that names a root
    /// (`chat/regenerate`); none when there are none or they are not trusted.
    pub async fn trusted_instructions(&self, root: &str) -> Result<Option<String>, ChatError> {
        Ok(match self.project_instructions(root).await? {
            Some((found, true)) => {
                let text = if self.config.context.guard {
                    self.guard().await?.redact(&found.text).0
                } else {
                    found.text
                };
                Some(project_prompt(&found.path, &text))
            }
            _ => None,
        })
    }

    /// Trust the instructions at `root`, if they are still the ones with `fingerprint` (what
    /// the user was shown). Returns the file's name.
    pub async fn trust_instructions(
        &self,
        root: &str,
        fingerprint: &str,
    ) -> Result<String, ChatError> {
        let Some((found, _)) = self.project_instructions(root).await? else {
            return Err(ChatError::InvalidInput(format!(
                "the project root has no {} or {}",
                instructions::NAMES[0],
                instructions::NAMES[1]
            )));
        };
        if found.fingerprint != fingerprint {
            return Err(ChatError::InvalidInput(format!(
                "{} changed since it was shown: show it again before trusting it",
                found.path
            )));
        }
        let vault = self.vault.clone();
        let fingerprint = fingerprint.to_string();
        blocking(move || vault.trust(&fingerprint).map_err(ChatError::from)).await?;
        Ok(found.path)
    }

    /// What a turn sends and saves, from the chat as it is now (blocking).
    fn plan(
        &self,
        chat: &ChatRecord,
        messages: &[MessageRecord],
        turn: Turn,
    ) -> Result<Plan, ChatError> {
        let tree = Tree::new(messages);
        let find = |id: &str| tree.find(id).ok_or_else(|| no_such_message(id));
        let mut sent_manifest = None;
        let instructions;
        let (parent, content, question, provider, model) = match turn {
            Turn::Send {
                content,
                parent,
                manifest,
                project,
            } => {
                instructions = project;
                let parent = match parent {
                    Some(id) => Some(find(&id)?),
                    None => tree.leaf(chat.leaf_id.as_deref()),
                };
                sent_manifest = manifest;
                (parent, content, None, None, None)
            }
            Turn::Edit {
                message_id,
                content,
                manifest,
                project,
            } => {
                instructions = project;
                sent_manifest = manifest;
                let edited = find(&message_id)?;
                if tree.message(edited).role != Role::User {
                    return Err(ChatError::InvalidInput(
                        "only a user turn can be edited".into(),
                    ));
                }
                (tree.parent(edited), content, None, None, None)
            }
            Turn::Regenerate {
                message_id,
                provider,
                model,
                project,
            } => {
                instructions = project;
                let question = match message_id {
                    Some(id) => {
                        let at = find(&id)?;
                        match tree.message(at).role {
                            Role::User => Some(at),
                            Role::Assistant => tree
                                .parent(at)
                                .filter(|&p| tree.message(p).role == Role::User),
                            Role::System => None,
                        }
                        .ok_or_else(|| {
                            ChatError::InvalidInput(
                                "this message has no user turn to answer".into(),
                            )
                        })?
                    }
                    None => tree
                        .last_user_turn(&tree.branch(chat.leaf_id.as_deref()))
                        .ok_or_else(|| {
                            ChatError::InvalidInput("the chat has no question to answer".into())
                        })?,
                };
                let asked = tree.message(question);
                (
                    tree.parent(question),
                    asked.content.clone(),
                    Some(asked.id.clone()),
                    provider,
                    model,
                )
            }
        };
        let (provider, model) = match (provider, model) {
            (None, None) => (chat.provider.clone(), chat.model.clone()),
            (None, Some(model)) => (chat.provider.clone(), model),
            (Some(name), model) => {
                let provider = self.provider(&name)?;
                let model = self.model_for(provider, model.as_deref())?;
                (provider.name.clone(), model)
            }
        };
        check_model_name(&model).map_err(ChatError::InvalidInput)?;
        let path = parent.map(|at| tree.path_to(at)).unwrap_or_default();
        let messages = conversation(
            chat,
            instructions.as_deref(),
            &tree.context(&path),
            &content,
        );
        let parent_id = parent.map(|at| tree.message(at).id.clone());
        let preset = chat
            .preset
            .as_deref()
            .and_then(|name| self.config.presets.iter().find(|p| p.name == name));
        let temperature = preset.and_then(|p| p.temperature);
        let max_tokens = preset.and_then(|p| p.max_tokens);
        Ok(match question {
            // A new answer to an earlier question: it becomes current unless the user moved
            // to another branch while it streamed.
            Some(question) => Plan {
                provider,
                model,
                temperature,
                max_tokens,
                messages,
                current: MakeCurrent::IfLeafIn(vec![chat.leaf_id.clone(), Some(question.clone())]),
                question,
                user: None,
            },
            None => {
                let mut user = MessageRecord::new(Role::User, content, now_millis());
                user.id = new_id().map_err(|e| ChatError::from(VaultError::from(e)))?;
                user.root = parent_id.is_none();
                user.parent_id = parent_id;
                user.context = sent_manifest;
                Plan {
                    provider,
                    model,
                    temperature,
                    max_tokens,
                    messages,
                    current: MakeCurrent::IfLeafIn(vec![Some(user.id.clone())]),
                    question: user.id.clone(),
                    user: Some(user),
                }
            }
        })
    }

    async fn stream_answer(
        &self,
        provider: &ProviderConfig,
        key: Option<&Zeroizing<String>>,
        request: &ChatRequest,
        token: &CancellationToken,
        deltas: &mpsc::Sender<Delta>,
        answer: &mut PartialAnswer,
    ) -> Result<(), StreamEnd> {
        let started = answer.started;
        let limits = StreamLimits {
            idle_timeout: self.chat_config().idle_timeout,
            ..StreamLimits::default()
        };
        let family = provider::family(provider.kind);
        let open = stream::open(
            self.clients.for_provider(provider),
            family,
            provider,
            key,
            request,
            limits,
        );
        let mut stream = tokio::select! {
            biased;
            _ = token.cancelled() => return Err(StreamEnd::Cancelled),
            opened = open => opened.map_err(StreamEnd::Failed)?,
        };
        let window = self.chat_config().delta_window;
        let mut items = Vec::new();
        let mut pending = Pending::default();
        let mut flush_at: Option<tokio::time::Instant> = None;
        loop {
            let timer = async {
                match flush_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = token.cancelled() => {
                    pending.flush(answer, deltas).await;
                    return Err(StreamEnd::Cancelled);
                }
                _ = timer => {
                    pending.flush(answer, deltas).await;
                    flush_at = None;
                }
                more = stream.next_items(&mut items) => {
                    let more = match more {
                        Ok(more) => more,
                        Err(error) => {
                            // What was decoded in the same read as the fault arrived before
                            // it: relay it and keep it in the saved answer.
                            for item in items.drain(..) {
                                pending.take(item, answer);
                            }
                            pending.flush(answer, deltas).await;
                            return Err(StreamEnd::Failed(error));
                        }
                    };
                    for item in items.drain(..) {
                        pending.take(item, answer);
                        if pending.is_empty() {
                            continue;
                        }
                        if answer.first_token.is_none() {
                            // The first delta goes out the moment it arrives.
                            answer.first_token = Some(started.elapsed());
                            pending.flush(answer, deltas).await;
                        } else if window.is_zero() {
                            // No merging: one notification per provider delta.
                            pending.flush(answer, deltas).await;
                        } else if flush_at.is_none() {
                            flush_at = Some(tokio::time::Instant::now() + window);
                        }
                    }
                    if !more {
                        pending.flush(answer, deltas).await;
                        return Ok(());
                    }
                }
            }
        }
    }
}

enum StreamEnd {
    Cancelled,
    Failed(ProviderError),
}

/// Deltas received but not yet sent.
#[derive(Default)]
struct Pending {
    text: String,
    reasoning: String,
}

impl Pending {
    /// Take one decoded item: text to send, or the answer's usage and finish reason.
    fn take(&mut self, item: StreamItem, answer: &mut PartialAnswer) {
        match item {
            StreamItem::Text(text) => self.text.push_str(&text),
            StreamItem::Reasoning(text) => self.reasoning.push_str(&text),
            StreamItem::Usage(usage) => answer.usage = Some(usage),
            StreamItem::Finish(reason) => answer.finish = Some(reason),
            StreamItem::Done => {}
        }
    }

    fn is_empty(&self) -> bool {
        self.text.is_empty() && self.reasoning.is_empty()
    }

    async fn flush(&mut self, answer: &mut PartialAnswer, deltas: &mpsc::Sender<Delta>) {
        for (kind, buffer) in [("reasoning", &mut self.reasoning), ("text", &mut self.text)] {
            if buffer.is_empty() {
                continue;
            }
            let text = std::mem::take(buffer);
            answer.pieces += 1;
            match kind {
                "text" => answer.content.push_str(&text),
                _ => answer.reasoning.push_str(&text),
            }
            // The editor may have gone; the answer is still saved.
            let _ = deltas
                .send(Delta {
                    chat_id: answer.chat_id.clone(),
                    message_id: answer.message_id.clone(),
                    delta: text,
                    kind,
                })
                .await;
        }
    }
}

/// The answer as it arrives. If the future streaming it is dropped (the request was
/// cancelled), what had arrived is saved as `cancelled`.
struct PartialAnswer {
    history: Arc<History>,
    chat_id: String,
    message_id: String,
    /// The user turn it answers.
    parent_id: String,
    provider: String,
    model: String,
    current: MakeCurrent,
    content: String,
    reasoning: String,
    usage: Option<Usage>,
    finish: Option<String>,
    started: Instant,
    first_token: Option<Duration>,
    pieces: u64,
    created_at: i64,
    saved: bool,
}

impl PartialAnswer {
    fn timings(&self) -> Timings {
        timings(
            self.first_token,
            self.started.elapsed(),
            self.usage,
            self.pieces,
        )
    }

    fn record(&self, status: MessageStatus, error: Option<String>) -> MessageRecord {
        MessageRecord {
            id: self.message_id.clone(),
            parent_id: Some(self.parent_id.clone()),
            reasoning: (!self.reasoning.is_empty()).then(|| self.reasoning.clone()),
            status,
            usage: self.usage,
            error,
            finish_reason: self.finish.clone(),
            provider: Some(self.provider.clone()),
            model: Some(self.model.clone()),
            timings: Some(self.timings()),
            ..MessageRecord::new(Role::Assistant, self.content.clone(), self.created_at)
        }
    }

    async fn save(
        &mut self,
        status: MessageStatus,
        error: Option<String>,
    ) -> Result<MessageRecord, ChatError> {
        self.saved = true;
        let record = self.record(status, error);
        let history = self.history.clone();
        let chat_id = self.chat_id.clone();
        let current = self.current.clone();
        blocking(move || {
            history
                .append(&chat_id, record, current)
                .map_err(ChatError::from)
        })
        .await
    }
}

impl Drop for PartialAnswer {
    fn drop(&mut self) {
        if self.saved {
            return;
        }
        // Dropped mid-stream: save synchronously, a few milliseconds, so nothing is lost even
        // when the process is winding down.
        let record = self.record(MessageStatus::Cancelled, None);
        if let Err(error) = self
            .history
            .append(&self.chat_id, record, self.current.clone())
        {
            tracing::warn!(%error, "could not save a cancelled answer");
        }
    }
}

/// Removes a chat from the streaming set however the turn ends.
struct ActiveGuard {
    service: Arc<ChatService>,
    chat_id: String,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        lock(&self.service.active).remove(&self.chat_id);
    }
}

/// The key in the provider's environment variable, if set and non-empty.
fn env_key(provider: &ProviderConfig) -> Option<Zeroizing<String>> {
    let value = std::env::var(provider.api_key_env.as_ref()?).ok()?;
    (!value.is_empty()).then(|| Zeroizing::new(value))
}

/// The conversation as the provider sees it: system prompt, earlier turns, the new message.
/// Trusted project instructions follow the chat's system prompt.
fn conversation(
    chat: &ChatRecord,
    instructions: Option<&str>,
    earlier: &[&MessageRecord],
    content: &str,
) -> Vec<WireMessage> {
    let mut messages = Vec::with_capacity(earlier.len() + 2);
    let system: Vec<&str> = [chat.system.as_deref(), instructions]
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .collect();
    if !system.is_empty() {
        messages.push(WireMessage {
            role: WireRole::System,
            content: system.join("\n\n"),
        });
    }
    for message in earlier {
        let role = match message.role {
            Role::System => WireRole::System,
            Role::User => WireRole::User,
            Role::Assistant => WireRole::Assistant,
        };
        messages.push(WireMessage {
            role,
            content: message.content.clone(),
        });
    }
    messages.push(WireMessage {
        role: WireRole::User,
        content: content.to_string(),
    });
    messages
}

/// How trusted project instructions read in the system prompt.
fn project_prompt(path: &str, text: &str) -> String {
    format!("Project instructions (from {path}):\n{}", text.trim_end())
}

fn timings(
    first_token: Option<Duration>,
    total: Duration,
    usage: Option<Usage>,
    pieces: u64,
) -> Timings {
    let tokens = usage
        .map(|u| u.completion_tokens)
        .filter(|&t| t > 0)
        .unwrap_or(pieces);
    // The rate after the first token: the tokens that followed it over the time they took.
    let tokens_per_second = first_token.and_then(|first| {
        let streaming = total.saturating_sub(first).as_secs_f64();
        let following = tokens.saturating_sub(1);
        (streaming > 0.0 && following > 0)
            .then(|| (following as f64 / streaming * 10.0).round() / 10.0)
    });
    Timings {
        first_token_ms: first_token.map(|d| d.as_millis() as u64),
        total_ms: total.as_millis() as u64,
        tokens_per_second,
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ChatError> + Send + 'static,
) -> Result<T, ChatError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        let text = crate::task_failure::report(&error, "a chat's blocking work");
        ChatError::InvalidInput(text.to_string())
    })?
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_counts_the_tokens_after_the_first() {
        let usage = |n| {
            Some(Usage {
                prompt_tokens: 1,
                completion_tokens: n,
            })
        };
        let first = Some(Duration::from_millis(100));
        let t = timings(first, Duration::from_millis(1100), usage(11), 3);
        assert_eq!(
            (t.first_token_ms, t.total_ms, t.tokens_per_second),
            (Some(100), 1100, Some(10.0))
        );
        assert_eq!(
            timings(first, Duration::from_millis(150), usage(1), 1).tokens_per_second,
            None
        );
        assert_eq!(
            timings(None, Duration::from_millis(150), None, 0).tokens_per_second,
            None
        );
        // Without usage, the number of deltas stands in for tokens.
        assert_eq!(
            timings(first, Duration::from_millis(600), None, 6).tokens_per_second,
            Some(10.0)
        );
    }
}
