//! `settings/*`.

use std::sync::Arc;

use jsonrpsee::core::{RpcResult, async_trait};

use super::blocking;
use crate::api::SettingsApiServer;
use crate::app::App;
use crate::protocol::{AppError, ErrorCode, Params};
use crate::settings::{Settings, SettingsPatch};
use crate::store::StoreError;

pub struct SettingsMethods {
    app: Arc<App>,
}

impl SettingsMethods {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        AppError::new(ErrorCode::StorageError, error.to_string())
    }
}

#[async_trait]
impl SettingsApiServer for SettingsMethods {
    async fn get(&self) -> RpcResult<Settings> {
        let vault = self.app.storage()?.vault.clone();
        blocking::run(move || vault.settings()).await
    }

    async fn set(&self, params: Params<SettingsPatch>) -> RpcResult<Settings> {
        let vault = self.app.storage()?.vault.clone();
        blocking::run(move || vault.update_settings(params.0)).await
    }
}
