//! The whole API in one place: one `#[rpc(server)]` trait per method family.
//!
//! Each method takes one params object (`Params<T>`, which names bad fields) and returns a
//! typed result; `src/methods/` implements them and `docs/protocol.md` documents them.
//! Client notifications (`$/cancelRequest`, `exit`) are handled by the router, not here.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use crate::protocol::Params;
use crate::protocol::types::{InitializeParams, InitializeResult, SleepParams};

/// `initialize` and `shutdown`.
#[rpc(server)]
pub trait Lifecycle {
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

/// Hooks for the integration tests, registered only when `CHINWAG_TEST_HOOKS=1`.
#[rpc(server, namespace = "$/test", namespace_separator = "/")]
pub trait TestHooks {
    /// Answer after `millis` milliseconds (a long request to cancel).
    #[method(name = "sleep")]
    async fn sleep(&self, params: Params<SleepParams>) -> RpcResult<u64>;

    /// Panic inside the handler, to prove a panic never reaches the editor.
    #[method(name = "panic")]
    async fn panic(&self) -> RpcResult<()>;
}
