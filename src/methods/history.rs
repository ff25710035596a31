//! `history/*`.

use std::sync::Arc;

use jsonrpsee::core::{RpcResult, async_trait};
use serde_json::json;

use super::blocking;
use crate::api::HistoryApiServer;
use crate::app::App;
use crate::history::{
    BackupSummary, ChatDetail, ChatSummary, ExportSummary, History, HistoryError, ImportSummary,
    RestoreSummary,
};
use crate::protocol::types::*;
use crate::protocol::{AppError, ErrorCode, Params};

/// The default and the largest page of `history/list` and `history/search`.
const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;

pub struct HistoryMethods {
    app: Arc<App>,
}

impl HistoryMethods {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    fn history(&self) -> Result<Arc<History>, AppError> {
        Ok(self.app.storage()?.history.clone())
    }
}

impl From<HistoryError> for AppError {
    fn from(error: HistoryError) -> Self {
        let message = error.to_string();
        match error {
            HistoryError::Vault(error) => error.into(),
            HistoryError::NoSuchChat(id) => AppError::new(ErrorCode::NotFound, message)
                .with_data(json!({"what": "chat", "id": id})),
            HistoryError::NoSuchMessage(id) => AppError::new(ErrorCode::NotFound, message)
                .with_data(json!({"what": "message", "id": id})),
            HistoryError::Path(refused) => AppError::new(ErrorCode::PathRefused, message)
                .with_data(
                    json!({"path": refused.path, "kind": refused.kind, "reason": refused.reason}),
                ),
            HistoryError::Io(_) => AppError::new(ErrorCode::StorageError, message),
            HistoryError::BadImportValue { field, chat_id, .. } => {
                AppError::new(ErrorCode::InvalidParams, message)
                    .with_data(json!({"field": field, "chatId": chat_id}))
            }
            HistoryError::BadImport(_)
            | HistoryError::BadBackup(_)
            | HistoryError::InvalidInput(_) => AppError::new(ErrorCode::InvalidParams, message),
            HistoryError::ConfirmationRequired => {
                AppError::new(ErrorCode::ConfirmationRequired, message)
            }
        }
    }
}

fn page(limit: Option<usize>) -> usize {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

#[async_trait]
impl HistoryApiServer for HistoryMethods {
    async fn list(&self, params: Option<Params<ListParams>>) -> RpcResult<ListResult> {
        let params = params.map(|p| p.0).unwrap_or_default();
        let history = self.history()?;
        blocking::run(move || {
            history
                .list(params.kind.filter(), params.offset, page(params.limit))
                .map(|listing| ListResult {
                    total: listing.total,
                    chats: listing.chats,
                    damaged: listing.damaged,
                })
        })
        .await
    }

    async fn get(&self, params: Params<ChatIdParams>) -> RpcResult<ChatDetail> {
        let history = self.history()?;
        blocking::run(move || history.get(&params.0.chat_id)).await
    }

    async fn rename(&self, params: Params<RenameParams>) -> RpcResult<ChatSummary> {
        let history = self.history()?;
        blocking::run(move || history.rename(&params.0.chat_id, &params.0.title)).await
    }

    async fn delete(&self, params: Params<ChatIdParams>) -> RpcResult<DeletedResult> {
        let history = self.history()?;
        blocking::run(move || {
            history
                .delete(&params.0.chat_id)
                .map(|deleted| DeletedResult { deleted })
        })
        .await
    }

    async fn clear(&self, params: Params<ConfirmParams>) -> RpcResult<ClearResult> {
        if !params.0.confirm {
            return Err(AppError::from(HistoryError::ConfirmationRequired).into());
        }
        let history = self.history()?;
        blocking::run(move || history.clear().map(|deleted| ClearResult { deleted })).await
    }

    async fn search(&self, params: Params<SearchParams>) -> RpcResult<SearchResult> {
        let history = self.history()?;
        let SearchParams { query, limit } = params.0;
        blocking::run(move || {
            history
                .search(&query, page(limit))
                .map(|(results, damaged)| SearchResult { results, damaged })
        })
        .await
    }

    async fn export(&self, params: Params<ExportParams>) -> RpcResult<ExportSummary> {
        let params = params.0;
        let chat_id = match (params.chat_id, params.all) {
            (Some(id), false) => Some(id),
            (None, true) => None,
            _ => {
                return Err(AppError::new(
                    ErrorCode::InvalidParams,
                    "give either `chatId` or `all: true`",
                )
                .into());
            }
        };
        let history = self.history()?;
        blocking::run(move || {
            history.export(
                chat_id.as_deref(),
                params.format,
                &params.path,
                params.overwrite,
            )
        })
        .await
    }

    async fn import(&self, params: Params<PathParams>) -> RpcResult<ImportSummary> {
        let history = self.history()?;
        blocking::run(move || history.import(&params.0.path)).await
    }

    async fn backup(&self, params: Params<BackupParams>) -> RpcResult<BackupSummary> {
        let history = self.history()?;
        blocking::run(move || history.backup(&params.0.path, params.0.overwrite)).await
    }

    async fn restore(&self, params: Params<RestoreParams>) -> RpcResult<RestoreSummary> {
        let RestoreParams {
            path,
            confirm,
            password,
        } = params.0;
        if !confirm {
            return Err(AppError::from(HistoryError::ConfirmationRequired).into());
        }
        let history = self.history()?;
        blocking::run(move || history.restore(&path, password.as_deref().map(|s| s.as_str()))).await
    }
}
