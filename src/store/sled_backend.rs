//! [`Backend`] on a sled database owned by this process.

use std::io::ErrorKind;
use std::path::Path;
use std::sync::OnceLock;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::backend::{Backend, Op, StoreError, Tree};

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the database's lock.
    #[error("the database is locked by another process")]
    Locked,
    #[error("cannot open the database: {0}")]
    Other(String),
}

/// A sled database with chinwag's trees.
pub struct SledBackend {
    db: sled::Db,
    trees: [sled::Tree; 4],
    /// Why storage failed, once it has. sled keeps a failed change in memory and refuses every
    /// later write (even some reads, which may restructure nodes), so from then on every call
    /// answers this one clear error: no read shows a change that was never saved, and the user
    /// learns to restart once the cause (a full disk, say) is fixed.
    failure: OnceLock<String>,
}

impl SledBackend {
    /// Open (or create) the database in `dir`, with a page cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, OpenError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            // Every write is flushed explicitly; the background flusher only adds wakeups.
            .flush_every_ms(None)
            .open()
            .map_err(|error| match error {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    OpenError::Locked
                }
                other => OpenError::Other(describe(&other)),
            })?;
        let open_tree = |tree: Tree| {
            db.open_tree(tree.name())
                .map_err(|error| OpenError::Other(describe(&error)))
        };
        let trees = [
            open_tree(Tree::Meta)?,
            open_tree(Tree::Keys)?,
            open_tree(Tree::Chats)?,
            open_tree(Tree::Messages)?,
        ];
        Ok(Self {
            db,
            trees,
            failure: OnceLock::new(),
        })
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree as usize]
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(database)
    }

    /// Refuse every call once storage has failed.
    fn usable(&self) -> Result<(), StoreError> {
        match self.failure.get() {
            None => Ok(()),
            Some(why) => Err(StoreError::Database(format!(
                "storage stopped after a failure ({why}); everything saved before that is \
                 safe: restart chinwag once this is fixed"
            ))),
        }
    }

    /// Remember a failure (the first cause wins) and say what to do about it. Reads count too:
    /// sled may split or merge nodes while it looks a key up, which writes.
    fn failed(&self, error: StoreError) -> StoreError {
        let StoreError::Database(why) = error else {
            return error;
        };
        let why = self.failure.get_or_init(|| why).clone();
        StoreError::Database(format!(
            "{why}; nothing saved before is lost: restart chinwag once this is fixed"
        ))
    }
}

fn database(error: sled::Error) -> StoreError {
    StoreError::Database(describe(&error))
}

/// The error in words a user can act on: the common causes by name, the rest as sled says.
fn describe(error: &sled::Error) -> String {
    match error {
        sled::Error::Io(io) => describe_io(io),
        other => other.to_string(),
    }
}

/// An I/O error in the data folder in words a user can act on (the vault file uses it too).
pub fn describe_io(io: &std::io::Error) -> String {
    match io.kind() {
        ErrorKind::StorageFull => "the disk is full (no space left on device)".into(),
        ErrorKind::ReadOnlyFilesystem => "the data folder is on a read-only file system".into(),
        ErrorKind::PermissionDenied => "permission denied in the data folder".into(),
        ErrorKind::QuotaExceeded => "the disk quota is exceeded".into(),
        _ => format!("I/O error: {io}"),
    }
}

impl Backend for SledBackend {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.usable()?;
        self.tree(tree)
            .get(key)
            .map(|value| value.map(|v| v.to_vec()))
            .map_err(|error| self.failed(database(error)))
    }

    fn scan(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.usable()?;
        self.tree(tree)
            .scan_prefix(prefix)
            .map(|entry| {
                entry
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|error| self.failed(database(error)))
            })
            .collect()
    }

    fn apply(&self, ops: Vec<Op>) -> Result<(), StoreError> {
        self.usable()?;
        let [meta, keys, chats, messages] = &self.trees;
        let result: Result<(), TransactionError<()>> =
            (meta, keys, chats, messages).transaction(|(meta, keys, chats, messages)| {
                for op in &ops {
                    let (tree, key) = match op {
                        Op::Insert { tree, key, .. } | Op::Remove { tree, key } => (*tree, key),
                    };
                    let target = match tree {
                        Tree::Meta => meta,
                        Tree::Keys => keys,
                        Tree::Chats => chats,
                        Tree::Messages => messages,
                    };
                    match op {
                        Op::Insert { value, .. } => {
                            target.insert(key.as_slice(), value.as_slice())?;
                        }
                        Op::Remove { .. } => {
                            target.remove(key.as_slice())?;
                        }
                    }
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            });
        result
            .map_err(|error| match error {
                TransactionError::Storage(error) => database(error),
                TransactionError::Abort(()) => StoreError::Database("transaction aborted".into()),
            })
            .and_then(|()| self.flush())
            .map_err(|error| self.failed(error))
    }

    fn clear(&self, trees: &[Tree]) -> Result<(), StoreError> {
        self.usable()?;
        trees
            .iter()
            .try_for_each(|tree| self.tree(*tree).clear().map(|_| ()).map_err(database))
            .and_then(|()| self.flush())
            .map_err(|error| self.failed(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_second_open_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledBackend::open(dir.path(), 1 << 20).unwrap();
        store
            .apply(vec![
                Op::Insert {
                    tree: Tree::Chats,
                    key: b"a1".to_vec(),
                    value: b"x".to_vec(),
                },
                Op::Insert {
                    tree: Tree::Messages,
                    key: b"a1m".to_vec(),
                    value: b"y".to_vec(),
                },
            ])
            .unwrap();
        assert_eq!(store.get(Tree::Chats, b"a1").unwrap(), Some(b"x".to_vec()));
        assert_eq!(store.scan(Tree::Messages, b"a1").unwrap().len(), 1);
        assert!(matches!(
            SledBackend::open(dir.path(), 1 << 20),
            Err(OpenError::Locked)
        ));
        store.clear(&[Tree::Messages]).unwrap();
        assert!(store.scan(Tree::Messages, b"").unwrap().is_empty());
        assert_eq!(store.get(Tree::Chats, b"a1").unwrap(), Some(b"x".to_vec()));
    }
}
