//! Encrypted records: every value chinwag stores goes through here, sealed with the vault's
//! current data key and bound to its tree and record key (see `crate::crypto::record`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend::{Backend, Op, StoreError, Tree};
use crate::crypto::{CryptoError, KeyRing, record};

/// Why a sealed record could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Decrypted fine but is not what we wrote (a bug, or a record from a newer version).
    #[error("a stored record has an unexpected shape: {0}")]
    Shape(String),
}

/// Reads and writes records through one key ring.
pub struct Sealed<'a> {
    backend: &'a dyn Backend,
    ring: &'a KeyRing,
}

impl<'a> Sealed<'a> {
    pub fn new(backend: &'a dyn Backend, ring: &'a KeyRing) -> Self {
        Self { backend, ring }
    }

    /// The record under `key`, decrypted.
    pub fn get<T: DeserializeOwned>(
        &self,
        tree: Tree,
        key: &[u8],
    ) -> Result<Option<T>, SealedError> {
        match self.backend.get(tree, key)? {
            Some(sealed) => self.decode(tree, key, &sealed).map(Some),
            None => Ok(None),
        }
    }

    /// Every record whose key starts with `prefix`, decrypted, in key order.
    pub fn scan<T: DeserializeOwned>(
        &self,
        tree: Tree,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, SealedError> {
        self.backend
            .scan(tree, prefix)?
            .into_iter()
            .map(|(key, sealed)| {
                let value = self.decode(tree, &key, &sealed)?;
                Ok((key, value))
            })
            .collect()
    }

    /// An insert of `value`, sealed, to apply in a batch.
    pub fn insert<T: Serialize>(
        &self,
        tree: Tree,
        key: &[u8],
        value: &T,
    ) -> Result<Op, SealedError> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(value).map_err(|error| SealedError::Shape(error.to_string()))?,
        );
        let sealed = record::seal(self.ring.current(), tree.name(), key, &plain)?;
        Ok(Op::Insert {
            tree,
            key: key.to_vec(),
            value: sealed,
        })
    }

    /// Re-seal a stored value under the current key (for key rotation), without parsing it.
    pub fn reseal(&self, tree: Tree, key: &[u8], sealed: &[u8]) -> Result<Op, SealedError> {
        let plain = record::open(self.ring, tree.name(), key, sealed)?;
        let value = record::seal(self.ring.current(), tree.name(), key, &plain)?;
        Ok(Op::Insert {
            tree,
            key: key.to_vec(),
            value,
        })
    }

    fn decode<T: DeserializeOwned>(
        &self,
        tree: Tree,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<T, SealedError> {
        let plain = record::open(self.ring, tree.name(), key, sealed)?;
        serde_json::from_slice(&plain).map_err(|error| SealedError::Shape(error.to_string()))
    }
}

/// A new random record id: 16 random bytes as 32 lowercase hex digits. Ids carry no meaning.
pub fn new_id() -> Result<String, SealedError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| CryptoError::Random(error.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
