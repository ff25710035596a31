//! The whole API in one place: one `#[rpc(server)]` trait per method family.
//!
//! Each method takes one params object (`Params<T>`, which names bad fields) and returns a
//! typed result; `src/methods/` implements them and `docs/protocol.md` documents them.
//! Client notifications (`$/cancelRequest`, `exit`) are handled by the router, not here.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use crate::chat::{NewChat, SendResult};
use crate::history::{
    BackupSummary, ChatDetail, ChatSummary, ExportSummary, ImportSummary, RestoreSummary,
};
use crate::protocol::Params;
use crate::protocol::types::*;
use crate::settings::{Settings, SettingsPatch};
use crate::vault::VaultStatus;

/// `initialize` and `shutdown`.
#[rpc(server)]
pub trait LifecycleApi {
    /// Say hello: server and protocol versions, capabilities, paths, config state.
    #[method(name = "initialize")]
    async fn initialize(
        &self,
        params: Option<Params<InitializeParams>>,
    ) -> RpcResult<InitializeResult>;

    /// Stop taking requests; `exit` follows.
    #[method(name = "shutdown")]
    async fn shutdown(&self) -> RpcResult<()>;
}

/// `vault/*`: the encrypted key vault.
#[rpc(server, namespace = "vault", namespace_separator = "/")]
pub trait VaultApi {
    #[method(name = "status")]
    async fn status(&self) -> RpcResult<VaultStatus>;

    #[method(name = "unlock")]
    async fn unlock(&self, params: Params<UnlockParams>) -> RpcResult<VaultStatus>;

    #[method(name = "lock")]
    async fn lock(&self) -> RpcResult<VaultStatus>;

    #[method(name = "setPassword")]
    async fn set_password(&self, params: Params<SetPasswordParams>) -> RpcResult<VaultStatus>;

    #[method(name = "rotateKey")]
    async fn rotate_key(&self, params: Params<RotateKeyParams>) -> RpcResult<RotateKeyResult>;

    #[method(name = "setKey")]
    async fn set_key(&self, params: Params<SetKeyParams>) -> RpcResult<SetKeyResult>;

    #[method(name = "listKeys")]
    async fn list_keys(&self) -> RpcResult<ListKeysResult>;

    #[method(name = "deleteKey")]
    async fn delete_key(&self, params: Params<ProviderParams>) -> RpcResult<DeletedResult>;

    #[method(name = "reset")]
    async fn reset(&self, params: Params<ConfirmParams>) -> RpcResult<VaultStatus>;
}

/// `history/*`: saved chats.
#[rpc(server, namespace = "history", namespace_separator = "/")]
pub trait HistoryApi {
    #[method(name = "list")]
    async fn list(&self, params: Option<Params<ListParams>>) -> RpcResult<ListResult>;

    #[method(name = "get")]
    async fn get(&self, params: Params<ChatIdParams>) -> RpcResult<ChatDetail>;

    #[method(name = "rename")]
    async fn rename(&self, params: Params<RenameParams>) -> RpcResult<ChatSummary>;

    #[method(name = "delete")]
    async fn delete(&self, params: Params<ChatIdParams>) -> RpcResult<DeletedResult>;

    #[method(name = "clear")]
    async fn clear(&self, params: Params<ConfirmParams>) -> RpcResult<ClearResult>;

    #[method(name = "search")]
    async fn search(&self, params: Params<SearchParams>) -> RpcResult<SearchResult>;

    #[method(name = "export")]
    async fn export(&self, params: Params<ExportParams>) -> RpcResult<ExportSummary>;

    #[method(name = "import")]
    async fn import(&self, params: Params<PathParams>) -> RpcResult<ImportSummary>;

    #[method(name = "backup")]
    async fn backup(&self, params: Params<BackupParams>) -> RpcResult<BackupSummary>;

    #[method(name = "restore")]
    async fn restore(&self, params: Params<RestoreParams>) -> RpcResult<RestoreSummary>;
}

/// `settings/*`: persisted privacy settings.
#[rpc(server, namespace = "settings", namespace_separator = "/")]
pub trait SettingsApi {
    #[method(name = "get")]
    async fn get(&self) -> RpcResult<Settings>;

    #[method(name = "set")]
    async fn set(&self, params: Params<SettingsPatch>) -> RpcResult<Settings>;
}

/// `chat/*`: conversations with a model.
#[rpc(server, namespace = "chat", namespace_separator = "/")]
pub trait ChatApi {
    #[method(name = "new")]
    async fn new_chat(&self, params: Option<Params<NewChatParams>>) -> RpcResult<NewChat>;

    #[method(name = "configure")]
    async fn configure(&self, params: Params<ConfigureParams>) -> RpcResult<ChatSummary>;

    /// Streams `chat/delta` notifications, then resolves with the whole answer.
    #[method(name = "send")]
    async fn send(&self, params: Params<SendParams>) -> RpcResult<SendResult>;

    /// A new answer to a user turn, beside the earlier ones; streams like `send`.
    #[method(name = "regenerate")]
    async fn regenerate(&self, params: Params<RegenerateParams>) -> RpcResult<SendResult>;

    /// A new version of a user turn, beside it, then its answer; streams like `send`.
    #[method(name = "edit")]
    async fn edit(&self, params: Params<EditParams>) -> RpcResult<SendResult>;

    /// What a message would send, context and redactions included; sends nothing.
    #[method(name = "previewContext")]
    async fn preview_context(
        &self,
        params: Params<MessageParams>,
    ) -> RpcResult<PreviewContextResult>;

    /// Make the branch through a message current.
    #[method(name = "switch")]
    async fn switch(&self, params: Params<SwitchParams>) -> RpcResult<ChatDetail>;

    #[method(name = "cancel")]
    async fn cancel(&self, params: Params<ChatIdParams>) -> RpcResult<CancelResult>;

    #[method(name = "rewrite")]
    async fn rewrite(&self, params: Params<RewriteParams>) -> RpcResult<RewriteResult>;
}

/// `providers/list` and `models/list`.
#[rpc(server)]
pub trait ProvidersApi {
    #[method(name = "providers/list")]
    async fn providers(&self) -> RpcResult<ProvidersResult>;

    #[method(name = "models/list")]
    async fn models(&self, params: Params<ModelsParams>) -> RpcResult<ModelsResult>;

    /// Trust a project's instructions file (exactly the content the user was shown).
    #[method(name = "project/trust")]
    async fn trust(&self, params: Params<TrustParams>) -> RpcResult<TrustResult>;

    /// The presets: built-ins and the config's `[presets.NAME]`.
    #[method(name = "presets/list")]
    async fn presets(&self) -> RpcResult<PresetsResult>;
}

/// Hooks for the integration tests, registered only when `CHINWAG_TEST_HOOKS=1`.
#[rpc(server, namespace = "$/test", namespace_separator = "/")]
pub trait TestHooksApi {
    /// Answer after `millis` milliseconds (a long request to cancel).
    #[method(name = "sleep")]
    async fn sleep(&self, params: Params<SleepParams>) -> RpcResult<u64>;

    /// Panic inside the handler, to prove a panic never reaches the editor.
    #[method(name = "panic")]
    async fn panic(&self) -> RpcResult<()>;

    /// Panic on the blocking pool with `canary` in the message, to prove it is not logged.
    #[method(name = "panicBlocking")]
    async fn panic_blocking(&self, params: Params<PanicParams>) -> RpcResult<()>;
}
