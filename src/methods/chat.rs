//! `chat/*`, `providers/list` and `models/list`.

use std::sync::Arc;

use jsonrpsee::core::{RpcResult, async_trait};
use serde_json::json;
use tokio::sync::mpsc;

use super::blocking;
use crate::api::{ChatApiServer, ProvidersApiServer};
use crate::app::App;
use crate::chat::{ChatError, ChatService, Delta, NewChat, SendOptions, SendResult, Turn, prompt};
use crate::config::ConfigError;
use crate::context::{ContextError, ContextItem};
use crate::history::ChatDetail;
use crate::history::ChatSummary;
use crate::protocol::types::*;
use crate::protocol::{AppError, ErrorCode, Params};
use crate::provider::ProviderError;

/// How many deltas may wait for the editor before the stream waits too.
const DELTA_QUEUE: usize = 256;

pub struct ChatMethods {
    app: Arc<App>,
}

impl ChatMethods {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    fn chat(&self) -> Result<Arc<ChatService>, AppError> {
        self.app.chat()
    }

    /// Run one streaming turn, forwarding its deltas as `chat/delta` notifications in order.
    async fn stream_turn(
        &self,
        chat_id: &str,
        turn: Turn,
        options: SendOptions,
    ) -> Result<SendResult, AppError> {
        let chat = self.chat()?;
        let (tx, mut rx) = mpsc::channel::<Delta>(DELTA_QUEUE);
        let outgoing = self.app.outgoing.clone();
        let forward = async move {
            while let Some(delta) = rx.recv().await {
                outgoing.notify("chat/delta", &delta).await;
            }
        };
        let (result, ()) = tokio::join!(chat.turn(chat_id, turn, options, tx), forward);
        result.map_err(AppError::from)
    }
}

impl From<ProviderError> for AppError {
    fn from(error: ProviderError) -> Self {
        let message = error.to_string();
        match error {
            ProviderError::Http {
                provider,
                status,
                retry_after,
                key_sent,
                ..
            } => {
                let mut data =
                    json!({"provider": provider, "status": status, "retryAfter": retry_after});
                // A refused key, or a local server that was sent none: a key is what to set.
                if matches!(status, 401 | 403) || !key_sent {
                    data["action"] = json!("setKey");
                }
                AppError::new(ErrorCode::ProviderError, message).with_data(data)
            }
            ProviderError::Unreachable {
                provider,
                reason,
                local_url,
                ..
            } => {
                let mut data = json!({"provider": provider, "reason": reason});
                if let Some(url) = local_url {
                    data["action"] = json!("startLocalServer");
                    data["url"] = json!(url);
                }
                AppError::new(ErrorCode::ProviderUnreachable, message).with_data(data)
            }
            ProviderError::Stream { provider, .. } => {
                AppError::new(ErrorCode::ProviderError, message)
                    .with_data(json!({"provider": provider, "status": null, "kind": "stream"}))
            }
            ProviderError::Truncated { provider } => {
                AppError::new(ErrorCode::ProviderError, message)
                    .with_data(json!({"provider": provider, "status": null, "kind": "truncated"}))
            }
            ProviderError::Protocol { provider, .. } => {
                AppError::new(ErrorCode::ProviderError, message)
                    .with_data(json!({"provider": provider, "status": null, "kind": "protocol"}))
            }
            ProviderError::KeyMissing { provider, env } => {
                AppError::new(ErrorCode::KeyMissing, message)
                    .with_data(json!({"provider": provider, "env": env, "action": "setKey"}))
            }
            ProviderError::BadModel(_) => AppError::new(ErrorCode::InvalidParams, message),
        }
    }
}

impl From<ContextError> for AppError {
    fn from(error: ContextError) -> Self {
        let message = error.to_string();
        match error {
            ContextError::Path(refused) => AppError::new(ErrorCode::PathRefused, message)
                .with_data(
                    json!({"path": refused.path, "kind": refused.kind, "reason": refused.reason}),
                ),
            ContextError::Refused { path, reason, .. } => {
                let mut data = json!({"path": path, "reason": reason});
                if matches!(reason, "sensitive" | "gitIgnored") {
                    data["action"] = json!("confirmFile");
                }
                AppError::new(ErrorCode::ContextRefused, message).with_data(data)
            }
            ContextError::Unavailable(_) => AppError::new(ErrorCode::ContextUnavailable, message),
            ContextError::Invalid(_) => AppError::new(ErrorCode::InvalidParams, message),
        }
    }
}

impl From<&ConfigError> for AppError {
    fn from(error: &ConfigError) -> Self {
        AppError::new(
            ErrorCode::ConfigError,
            format!("{error}; fix the config file and restart chinwag"),
        )
        .with_data(json!({"key": error.key(), "line": error.line(), "action": "fixConfig"}))
    }
}

impl From<ChatError> for AppError {
    fn from(error: ChatError) -> Self {
        let message = error.to_string();
        match error {
            ChatError::History(error) => error.into(),
            ChatError::Provider(error) => error.into(),
            ChatError::Failed { error, ids } => {
                let mut app_error = AppError::from(*error);
                if let Some(serde_json::Value::Object(data)) = &mut app_error.data {
                    data.insert("chatId".into(), json!(ids.chat_id));
                    data.insert("messageId".into(), json!(ids.message_id));
                    data.insert("userMessageId".into(), json!(ids.user_message_id));
                }
                app_error
            }
            ChatError::Cancelled(ids) => AppError::new(ErrorCode::RequestCancelled, message)
                .with_data(json!({
                    "chatId": ids.chat_id,
                    "messageId": ids.message_id,
                    "userMessageId": ids.user_message_id,
                })),
            ChatError::NoSuchProvider(name) => AppError::new(ErrorCode::NotFound, message)
                .with_data(json!({"what": "provider", "id": name})),
            ChatError::NoSuchPreset(name) => AppError::new(ErrorCode::NotFound, message)
                .with_data(json!({"what": "preset", "id": name})),
            ChatError::Busy(_) => AppError::new(ErrorCode::InvalidRequest, message),
            ChatError::InvalidInput(_) => AppError::new(ErrorCode::InvalidParams, message),
            ChatError::Config(error) => AppError::from(&error),
            ChatError::Context(error) => error.into(),
        }
    }
}

#[async_trait]
impl ChatApiServer for ChatMethods {
    async fn new_chat(&self, params: Option<Params<NewChatParams>>) -> RpcResult<NewChat> {
        let p = params.map(|p| p.0).unwrap_or_default();
        let chat = self.chat()?;
        blocking::run(move || {
            chat.new_chat(
                p.provider.as_deref(),
                p.model.as_deref(),
                p.system,
                p.title.as_deref(),
                p.preset.as_deref(),
            )
        })
        .await
    }

    async fn configure(&self, params: Params<ConfigureParams>) -> RpcResult<ChatSummary> {
        let p = params.0;
        let chat = self.chat()?;
        blocking::run(move || {
            chat.configure(
                &p.chat_id,
                p.provider.as_deref(),
                p.model.as_deref(),
                p.system,
                p.title.as_deref(),
            )
        })
        .await
    }

    async fn send(&self, params: Params<SendParams>) -> RpcResult<SendResult> {
        let p = params.0;
        let chat = self.chat()?;
        let mut request = p.message.request();
        if let Some(name) = p.preset {
            let service = chat.clone();
            let chat_id = p.chat_id.clone();
            let preset =
                blocking::run(move || service.apply_preset(&chat_id, &name).cloned()).await?;
            request.content = preset.message(&request.content);
            let has_diff = request
                .items
                .iter()
                .any(|item| matches!(item, ContextItem::GitDiff { .. }));
            if preset.staged_diff && request.root.is_some() && !has_diff {
                request.items.push(ContextItem::GitDiff { staged: true });
            }
        }
        let assembled = chat.assemble(request).await.map_err(AppError::from)?;
        let manifest = assembled.saved_manifest();
        let turn = Turn::Send {
            content: assembled.text,
            parent: p.parent_id,
            manifest,
            project: assembled.instructions,
        };
        Ok(self.stream_turn(&p.chat_id, turn, p.options).await?)
    }

    async fn regenerate(&self, params: Params<RegenerateParams>) -> RpcResult<SendResult> {
        let p = params.0;
        let project = match &p.root {
            Some(root) => self
                .chat()?
                .trusted_instructions(root)
                .await
                .map_err(AppError::from)?,
            None => None,
        };
        let turn = Turn::Regenerate {
            message_id: p.message_id,
            provider: p.provider,
            model: p.model,
            project,
        };
        Ok(self.stream_turn(&p.chat_id, turn, p.options).await?)
    }

    async fn edit(&self, params: Params<EditParams>) -> RpcResult<SendResult> {
        let p = params.0;
        let assembled = self
            .chat()?
            .assemble(p.message.request())
            .await
            .map_err(AppError::from)?;
        let manifest = assembled.saved_manifest();
        let turn = Turn::Edit {
            message_id: p.message_id,
            content: assembled.text,
            manifest,
            project: assembled.instructions,
        };
        Ok(self.stream_turn(&p.chat_id, turn, p.options).await?)
    }

    async fn preview_context(
        &self,
        params: Params<MessageParams>,
    ) -> RpcResult<PreviewContextResult> {
        let assembled = self
            .chat()?
            .assemble(params.0.request())
            .await
            .map_err(AppError::from)?;
        Ok(PreviewContextResult {
            text: assembled.text,
            manifest: assembled.manifest,
        })
    }

    async fn switch(&self, params: Params<SwitchParams>) -> RpcResult<ChatDetail> {
        let p = params.0;
        let history = self.app.storage()?.history.clone();
        blocking::run(move || history.switch(&p.chat_id, &p.message_id)).await
    }

    async fn cancel(&self, params: Params<ChatIdParams>) -> RpcResult<CancelResult> {
        let cancelled = self.chat()?.cancel(&params.0.chat_id);
        Ok(CancelResult { cancelled })
    }

    async fn rewrite(&self, params: Params<RewriteParams>) -> RpcResult<RewriteResult> {
        let mut p = params.0;
        let chat = self.chat()?;
        if p.instruction.trim().is_empty()
            && let Some(name) = &p.preset
        {
            let preset = chat.preset(name).map_err(AppError::from)?;
            p.instruction = preset.instruction.clone().unwrap_or_default();
        }
        if p.instruction.trim().is_empty() {
            return Err(AppError::new(ErrorCode::InvalidParams, "the instruction is empty").into());
        }
        let title: String = format!("Rewrite: {}", p.instruction.trim())
            .chars()
            .take(80)
            .collect();
        let new = blocking::run(move || {
            let new = chat.new_chat(
                p.provider.as_deref(),
                p.model.as_deref(),
                None,
                Some(&title),
                p.preset.as_deref(),
            )?;
            chat.mark_rewrite(&new.chat_id)?;
            Ok::<_, ChatError>(new)
        })
        .await?;
        // The region and any other context go through the same assembly (and guard) as a
        // chat message.
        let request = crate::context::Request {
            content: prompt::rewrite_request(&p.instruction, &p.region),
            items: p.context.0,
            root: p.root,
            allow_secrets: p.allow_secrets,
            allow_files: p.allow_files,
        };
        let assembled = self
            .chat()?
            .assemble(request)
            .await
            .map_err(AppError::from)?;
        let manifest = assembled.saved_manifest();
        let turn = Turn::Send {
            content: assembled.text,
            parent: None,
            manifest,
            project: assembled.instructions,
        };
        let answer = self
            .stream_turn(&new.chat_id, turn, SendOptions::default())
            .await?;
        Ok(RewriteResult {
            chat_id: answer.chat_id,
            message_id: answer.message_id,
            text: prompt::extract_code(&answer.content),
        })
    }
}

pub struct ProvidersMethods {
    app: Arc<App>,
}

impl ProvidersMethods {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

#[async_trait]
impl ProvidersApiServer for ProvidersMethods {
    async fn providers(&self) -> RpcResult<ProvidersResult> {
        let chat = self.app.chat()?;
        let config = self.app.config.clone();
        blocking::run(move || {
            let providers = config
                .providers
                .iter()
                .map(|provider| {
                    let key_source = chat.key_source(provider);
                    ProviderInfo {
                        name: provider.name.clone(),
                        kind: provider.kind,
                        base_url: provider.base_url.to_string(),
                        local: provider.is_local(),
                        default_model: provider.default_model.clone(),
                        key_found: key_source.is_some(),
                        key_state: provider
                            .key_state(key_source == Some("vault"), key_source == Some("env")),
                        key_source,
                    }
                })
                .collect();
            Ok::<_, AppError>(ProvidersResult {
                default: config.default_provider.clone(),
                providers,
            })
        })
        .await
    }

    async fn trust(&self, params: Params<TrustParams>) -> RpcResult<TrustResult> {
        let p = params.0;
        let path = self
            .app
            .chat()?
            .trust_instructions(&p.root, &p.fingerprint)
            .await
            .map_err(AppError::from)?;
        Ok(TrustResult {
            path,
            trusted: true,
        })
    }

    async fn presets(&self) -> RpcResult<PresetsResult> {
        Ok(PresetsResult {
            presets: self.app.chat()?.presets().to_vec(),
        })
    }

    async fn models(&self, params: Params<ModelsParams>) -> RpcResult<ModelsResult> {
        let p = params.0;
        let chat = self.app.chat()?;
        let (models, cached) = chat
            .models(&p.provider, p.refresh)
            .await
            .map_err(AppError::from)?;
        Ok(ModelsResult {
            provider: p.provider,
            models: models.into_iter().map(|id| ModelInfo { id }).collect(),
            cached,
        })
    }
}
