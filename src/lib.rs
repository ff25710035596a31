//! chinwag: a JSON-RPC 2.0 server on stdin/stdout that editors start as a child process to
//! chat with language models, keep API keys encrypted and keep an encrypted history.
//!
//! The path of one request: [`transport`] delimits frames, [`server`] routes them and runs
//! each request as a task, [`methods`] implements the API that [`api`] declares, and the
//! services below them do the work. `docs/protocol.md` is the contract with the editors.

// System calls go through rustix and std; no unsafe code of our own.
#![forbid(unsafe_code)]
// Anything from outside is handled, never unwrapped; stdout belongs to the protocol writer.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::dbg_macro
)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod app;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod context;
pub mod crypto;
pub mod doctor;
pub mod history;
pub mod http_client;
pub mod logging;
pub mod methods;
pub mod one_shot;
pub mod paths;
pub mod presets;
pub mod protocol;
pub mod provider;
pub mod redact;
pub mod server;
pub mod settings;
pub mod store;
pub mod task_failure;
pub mod transport;
pub mod tty_password;
pub mod vault;
