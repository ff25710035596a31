//! What the vault file's sealed body holds: the API keys, the settings, and for every chat its
//! own key and the digest of its current record (the manifest).
//!
//! Every chat has its own random key, kept only here. Deleting a chat (or clearing history,
//! or a rotation) removes its key from the body, and the body is replaced as a whole: the
//! chat's records, wherever sled's log still holds old copies of them, can no longer be
//! decrypted by anyone (crypto-shredding).
//!
//! The digest of each chat's sealed record, and inside that record the digests of its
//! messages, let reads notice a deleted, rolled-back or spliced record: the database cannot
//! change without the body, which is authenticated, disagreeing with it.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{CryptoError, DataKey};
use crate::settings::Settings;

/// The body format this code writes (and the only one it reads).
pub const FORMAT: u32 = 2;

/// The sealed body of the vault file.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    pub format: u32,
    /// Bumped at every write: a body older than one already seen is a rollback.
    pub epoch: u64,
    /// The database this vault belongs to (the same id sits in its `meta` tree).
    pub store_id: String,
    /// API keys by provider.
    #[serde(default)]
    pub keys: BTreeMap<String, Zeroizing<String>>,
    #[serde(default)]
    pub settings: Settings,
    /// Every chat, by id.
    #[serde(default)]
    pub chats: BTreeMap<String, ChatEntry>,
    /// Chats deleted whose records may still be in the database (`*`: every record), until
    /// the removal is known to be done. Their keys are gone already; this only says where a
    /// start after a crash must clean up, so that it need not scan the whole database.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purge: Vec<String>,
}

/// One chat's key and manifest entry.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatEntry {
    /// The chat's data key (base64); its records name `generation`.
    pub key: Zeroizing<String>,
    pub generation: u32,
    /// A rotation's next key (generation + 1), present only while a rotation is under way
    /// or was interrupted: records may be sealed under either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<Zeroizing<String>>,
    /// Digest (base64) of the sealed chat record the database must hold.
    pub digest: String,
    /// The digest of a record being written: set before the database write and folded into
    /// `digest` after it, so a crash between the two is not mistaken for tampering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// For listing newest first without opening every record.
    pub updated_at: i64,
}

impl ChatEntry {
    /// A new chat's entry with a fresh key.
    pub fn new(updated_at: i64) -> Result<ChatEntry, CryptoError> {
        Ok(ChatEntry {
            key: DataKey::generate(1)?.to_stored(),
            generation: 1,
            next_key: None,
            digest: String::new(),
            pending: None,
            updated_at,
        })
    }

    /// The key that seals new records.
    pub fn sealing_key(&self) -> Result<DataKey, CryptoError> {
        match &self.next_key {
            Some(next) => DataKey::from_stored(self.generation + 1, next),
            None => DataKey::from_stored(self.generation, &self.key),
        }
    }

    /// The key of `generation`, if this entry holds it.
    pub fn key_of(&self, generation: u32) -> Result<Option<DataKey>, CryptoError> {
        if generation == self.generation {
            return DataKey::from_stored(generation, &self.key).map(Some);
        }
        match &self.next_key {
            Some(next) if generation == self.generation + 1 => {
                DataKey::from_stored(generation, next).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Whether `digest` is the record this entry vouches for (or the one being written).
    pub fn accepts(&self, digest: &[u8; 16]) -> bool {
        let digest = encode_digest(digest);
        self.digest == digest || self.pending.as_deref() == Some(digest.as_str())
    }

    /// Fold a finished write into the entry.
    pub fn settle(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.digest = pending;
        }
    }
}

impl Body {
    /// An empty body for a new store.
    pub fn new(store_id: String, settings: Settings) -> Body {
        Body {
            format: FORMAT,
            epoch: 0,
            store_id,
            keys: BTreeMap::new(),
            settings,
            chats: BTreeMap::new(),
            purge: Vec::new(),
        }
    }

    /// Serialise into a buffer that is wiped on drop, sized up front so that growing it never
    /// leaves a copy of the keys in freed memory.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let estimate = 4096 + self.keys.len() * 256 + self.chats.len() * 320;
        let mut out = Zeroizing::new(Vec::with_capacity(estimate * 2));
        serde_json::to_writer(&mut *out, self)
            .map_err(|_| CryptoError::Integrity("the vault body cannot be written"))?;
        Ok(out)
    }

    /// Parse a decrypted body.
    pub fn decode(bytes: &[u8]) -> Result<Body, CryptoError> {
        let body: Body = serde_json::from_slice(bytes)
            .map_err(|_| CryptoError::Integrity("the vault body is unreadable"))?;
        if body.format != FORMAT {
            return Err(CryptoError::Integrity(
                "the vault body has an unknown format",
            ));
        }
        Ok(body)
    }
}

/// A record digest as kept in the body and in chat envelopes.
pub fn encode_digest(digest: &[u8; 16]) -> String {
    B64.encode(digest)
}
