//! Protocol types: JSON-RPC envelopes, error codes, and the params and results of every
//! method. Nothing here does I/O; `docs/protocol.md` is the human-readable twin of this module.

pub mod cancellable;
pub mod envelope;
pub mod errors;
pub mod params;
pub mod types;

pub use errors::{AppError, ErrorCode};
pub use params::Params;
