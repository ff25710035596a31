//! Storage: the only module that touches the database. It stores bytes that are already
//! encrypted (see `crate::crypto`); it knows nothing of what they mean.
//!
//! One sled database lives in the data dir. sled allows one process per database, so when a
//! second chinwag starts (Neovim and Emacs open at once) it reaches the owner's database over
//! a Unix socket and takes over when the owner exits: see [`shared`].

pub mod backend;
pub mod sealed;
pub mod shared;
pub mod sled_backend;

pub use backend::{Backend, Entries, Op, StoreError, Tree, TreeEntries};
