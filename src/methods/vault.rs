//! `vault/*`.

use std::sync::Arc;

use jsonrpsee::core::{RpcResult, async_trait};
use serde_json::json;

use super::blocking;
use crate::api::VaultApiServer;
use crate::app::App;
use crate::crypto::CryptoError;
use crate::protocol::types::*;
use crate::protocol::{AppError, ErrorCode, Params};
use crate::store::StoreError;
use crate::vault::{VaultError, VaultStatus, mask};

pub struct VaultMethods {
    app: Arc<App>,
}

impl VaultMethods {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    fn vault(&self) -> Result<Arc<crate::vault::Vault>, AppError> {
        Ok(self.app.storage()?.vault.clone())
    }

    fn known_provider(&self, provider: &str) -> Result<(), AppError> {
        // A provider whose config section is broken still gets its key: the user may be
        // fixing both at once.
        let config = &self.app.config;
        if config.provider(provider).is_some() || config.broken.providers.contains_key(provider) {
            return Ok(());
        }
        // An editor that swaps `provider` and `key` must not hear its key read back.
        let provider = crate::redact::name_for_message(provider);
        let known: Vec<&str> = self
            .app
            .config
            .providers
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        Err(AppError::new(
            ErrorCode::NotFound,
            format!(
                "no provider named {provider:?} (known: {})",
                known.join(", ")
            ),
        )
        .with_data(json!({"what": "provider", "id": provider})))
    }
}

impl From<VaultError> for AppError {
    fn from(error: VaultError) -> Self {
        let message = error.to_string();
        match error {
            VaultError::Locked => AppError::new(ErrorCode::VaultLocked, message)
                .with_data(json!({"state": "locked", "action": "unlock"})),
            VaultError::WrongPassword => AppError::new(ErrorCode::WrongPassword, message),
            VaultError::CurrentPasswordNeeded => AppError::new(ErrorCode::WrongPassword, message)
                .with_data(json!({"action": "setPassword"})),
            // A damaged store: the user can restore a backup or start afresh.
            VaultError::Crypto(CryptoError::Integrity(what)) => {
                AppError::new(ErrorCode::IntegrityError, message)
                    .with_data(json!({"what": what, "action": "restoreOrReset"}))
            }
            VaultError::Damaged(what) => AppError::new(ErrorCode::IntegrityError, message)
                .with_data(json!({"what": what, "action": "restoreOrReset"})),
            VaultError::Crypto(_) | VaultError::KeyFile { .. } | VaultError::Shape(_) => {
                AppError::new(ErrorCode::IntegrityError, message)
                    .with_data(json!({"action": "restoreOrReset"}))
            }
            VaultError::InvalidKey {
                provider, expected, ..
            } => AppError::new(ErrorCode::InvalidKeyFormat, message)
                .with_data(json!({"provider": provider, "expected": expected})),
            VaultError::WeakPassword => AppError::new(ErrorCode::InvalidParams, message),
            VaultError::ConfirmationRequired => {
                AppError::new(ErrorCode::ConfirmationRequired, message)
            }
            VaultError::NoSuchKey(provider) => AppError::new(ErrorCode::NotFound, message)
                .with_data(json!({"what": "key", "id": provider})),
            VaultError::PasswordCommand(_) => AppError::new(ErrorCode::VaultLocked, message)
                .with_data(json!({"state": "locked", "action": "unlock"})),
            VaultError::Store(StoreError::Database(_) | StoreError::Unavailable(_)) => {
                AppError::new(ErrorCode::StorageError, message)
            }
        }
    }
}

#[async_trait]
impl VaultApiServer for VaultMethods {
    async fn status(&self) -> RpcResult<VaultStatus> {
        let vault = self.vault()?;
        blocking::run(move || vault.status()).await
    }

    async fn unlock(&self, params: Params<UnlockParams>) -> RpcResult<VaultStatus> {
        let vault = self.vault()?;
        blocking::run(move || vault.unlock(&params.0.password)).await
    }

    async fn lock(&self) -> RpcResult<VaultStatus> {
        let vault = self.vault()?;
        blocking::run(move || vault.lock()).await
    }

    async fn set_password(&self, params: Params<SetPasswordParams>) -> RpcResult<VaultStatus> {
        let vault = self.vault()?;
        let SetPasswordParams { current, new } = params.0;
        blocking::run(move || {
            vault.set_password(
                current.as_deref().map(|s| s.as_str()),
                new.as_deref().map(|s| s.as_str()),
            )
        })
        .await
    }

    async fn rotate_key(&self, params: Params<RotateKeyParams>) -> RpcResult<RotateKeyResult> {
        if !params.0.confirm {
            return Err(AppError::from(VaultError::ConfirmationRequired).into());
        }
        let vault = self.vault()?;
        let password = params.0.password;
        blocking::run(move || {
            vault
                .rotate(password.as_deref().map(|s| s.as_str()))
                .map(|records| RotateKeyResult { records })
        })
        .await
    }

    async fn set_key(&self, params: Params<SetKeyParams>) -> RpcResult<SetKeyResult> {
        let SetKeyParams { provider, key } = params.0;
        self.known_provider(&provider)?;
        let vault = self.vault()?;
        blocking::run(move || {
            vault
                .set_key(&provider, &key)
                .map(|masked| SetKeyResult { provider, masked })
        })
        .await
    }

    async fn list_keys(&self) -> RpcResult<ListKeysResult> {
        let vault = self.vault()?;
        let stored = blocking::run(move || vault.list_keys()).await?;
        let mut keys: Vec<ListedKey> = stored
            .into_iter()
            .map(|key| ListedKey {
                provider: key.provider,
                masked: key.masked,
                source: "vault",
                env: None,
            })
            .collect();
        for provider in &self.app.config.providers {
            let Some(var) = &provider.api_key_env else {
                continue;
            };
            if keys.iter().any(|k| k.provider == provider.name) {
                continue;
            }
            if let Ok(value) = std::env::var(var)
                && !value.is_empty()
            {
                keys.push(ListedKey {
                    provider: provider.name.clone(),
                    masked: mask(&value),
                    source: "env",
                    env: Some(var.clone()),
                });
            }
        }
        Ok(ListKeysResult { keys })
    }

    async fn delete_key(&self, params: Params<ProviderParams>) -> RpcResult<DeletedResult> {
        let vault = self.vault()?;
        let provider = params.0.provider;
        blocking::run(move || {
            vault
                .delete_key(&provider)
                .map(|deleted| DeletedResult { deleted })
        })
        .await
    }

    async fn reset(&self, params: Params<ConfirmParams>) -> RpcResult<VaultStatus> {
        if !params.0.confirm {
            return Err(AppError::from(VaultError::ConfirmationRequired).into());
        }
        let vault = self.vault()?;
        blocking::run(move || vault.reset()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(error: VaultError) -> (i32, serde_json::Value) {
        let error = AppError::from(error);
        let action = error
            .data
            .as_ref()
            .and_then(|data| data.get("action").cloned())
            .unwrap_or_default();
        (error.code.code(), action)
    }

    #[test]
    fn vault_errors_say_what_the_user_can_do() {
        assert_eq!(action(VaultError::Locked), (1001, json!("unlock")));
        assert_eq!(
            action(VaultError::PasswordCommand("failed".into())),
            (1001, json!("unlock"))
        );
        assert_eq!(
            action(VaultError::CurrentPasswordNeeded),
            (1002, json!("setPassword"))
        );
        assert_eq!(
            action(VaultError::Damaged("the vault file".into())),
            (1003, json!("restoreOrReset"))
        );
        assert_eq!(
            action(VaultError::Shape("a record".into())),
            (1003, json!("restoreOrReset"))
        );
        // Nothing to do but try again: no action.
        assert_eq!(action(VaultError::WrongPassword), (1002, json!(null)));
    }
}
