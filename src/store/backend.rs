//! The storage interface: a few named trees of byte keys and byte values.

/// The trees (named key spaces) chinwag stores in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Tree {
    /// Vault header, settings, counters (small, mostly plain).
    Meta = 0,
    /// API keys, encrypted, under random ids.
    Keys = 1,
    /// Chat records (title, provider, model, message order), encrypted, under random ids.
    Chats = 2,
    /// Messages, encrypted, under `chat id || message id`.
    Messages = 3,
}

impl Tree {
    /// Every tree.
    pub const ALL: [Tree; 4] = [Tree::Meta, Tree::Keys, Tree::Chats, Tree::Messages];

    /// The tree's name in the database (also bound into each record's associated data).
    pub fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Keys => "keys",
            Tree::Chats => "chats",
            Tree::Messages => "messages",
        }
    }

    /// The tree with this wire number.
    pub fn from_u8(number: u8) -> Option<Tree> {
        Tree::ALL.get(usize::from(number)).copied()
    }
}

/// One change in an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Insert {
        tree: Tree,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Remove {
        tree: Tree,
        key: Vec<u8>,
    },
}

/// Why a storage call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error (disk full, read-only, corrupt).
    #[error("database error: {0}")]
    Database(String),
    /// The database is owned by another chinwag and it could not be reached or replaced.
    #[error("the database is in use by another chinwag that does not answer: {0}")]
    Unavailable(String),
}

/// Key/value pairs, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Entries of several trees: a whole-store snapshot (backups).
pub type TreeEntries = Vec<(Tree, Vec<u8>, Vec<u8>)>;

/// A store of trees. Every write is atomic and durable (flushed to disk) before it returns,
/// because an editor may be killed at any moment after it was told "saved".
pub trait Backend: Send + Sync {
    /// The value under `key`.
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every entry whose key starts with `prefix`, in key order.
    fn scan(&self, tree: Tree, prefix: &[u8]) -> Result<Entries, StoreError>;

    /// Apply all ops atomically, then flush.
    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError>;

    /// Remove everything in these trees, then flush.
    fn clear(&self, trees: &[Tree]) -> Result<(), StoreError>;
}
