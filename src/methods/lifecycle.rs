//! `initialize` and `shutdown`.

use std::sync::Arc;

use jsonrpsee::core::{RpcResult, async_trait};

use crate::api::LifecycleApiServer;
use crate::app::App;
use crate::protocol::Params;
use crate::protocol::types::{
    Capabilities, ConfigProblem, ConfigStatus, InitializeParams, InitializeResult,
    PROTOCOL_VERSION, ServerInfo,
};
use crate::transport::MAX_FRAME_BYTES;

/// Notifications the server may send, announced in `initialize`.
const SERVER_NOTIFICATIONS: &[&str] = &["chat/delta", "vault/stateChanged"];

pub struct Lifecycle {
    app: Arc<App>,
}

impl Lifecycle {
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

#[async_trait]
impl LifecycleApiServer for Lifecycle {
    async fn initialize(
        &self,
        params: Option<Params<InitializeParams>>,
    ) -> RpcResult<InitializeResult> {
        let params = params.map(|p| p.0).unwrap_or_default();
        if let Some(client) = &params.client_info {
            tracing::info!(
                client = %client.name,
                version = client.version.as_deref().unwrap_or("?"),
                protocol = params.protocol_version.as_deref().unwrap_or("?"),
                "client connected"
            );
        }
        let app = &self.app;
        let (vault, storage_error) = match app.storage() {
            Ok(storage) => {
                let vault = storage.vault.clone();
                let status = tokio::task::spawn_blocking(move || vault.status()).await;
                match status {
                    Ok(Ok(status)) => (Some(status), None),
                    Ok(Err(error)) => (None, Some(error.to_string())),
                    Err(error) => (
                        None,
                        Some(crate::task_failure::report(&error, "vault status").to_string()),
                    ),
                }
            }
            Err(error) => (None, Some(error.message)),
        };
        Ok(InitializeResult {
            server_info: ServerInfo {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            protocol_version: PROTOCOL_VERSION,
            capabilities: Capabilities {
                methods: app.method_names(),
                notifications: SERVER_NOTIFICATIONS.to_vec(),
                max_frame_bytes: MAX_FRAME_BYTES,
            },
            paths: app.paths.clone(),
            config: ConfigStatus {
                file: app.paths.config_file.clone(),
                found: app.paths.config_file.exists(),
                error: app.config.problems.first().map(ToString::to_string),
                errors: app
                    .config
                    .problems
                    .iter()
                    .map(ConfigProblem::from)
                    .collect(),
                default_usable: app.config.default_choice().is_ok(),
            },
            vault,
            storage_error,
        })
    }

    async fn shutdown(&self) -> RpcResult<()> {
        tracing::info!("shutdown requested");
        self.app.request_shutdown();
        Ok(())
    }
}
