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

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{CryptoError, DataKey};
use crate::settings::Settings;

/// The body format this code writes (and the only one it reads).
pub const FORMAT: u32 = 2;

/// The sealed body of the vault file.
///
/// Encoded as `[u32 BE length][JSON of the small parts][chat table]`: the chat table is
/// binary, fixed-width per chat, because it holds one entry per chat (tens of thousands for
/// some users) and is read at every start and written twice at every change.
#[derive(Clone)]
pub struct Body {
    pub format: u32,
    /// Bumped at every write: a body older than one already seen is a rollback.
    pub epoch: u64,
    /// The database this vault belongs to (the same id sits in its `meta` tree).
    pub store_id: String,
    /// API keys by provider.
    pub keys: BTreeMap<String, Zeroizing<String>>,
    pub settings: Settings,
    /// Every chat, by id.
    pub chats: BTreeMap<String, ChatEntry>,
    /// Chats deleted whose records may still be in the database (`*`: every record), until
    /// the removal is known to be done. Their keys are gone already; this only says where a
    /// start after a crash must clean up, so that it need not scan the whole database.
    pub purge: Vec<String>,
    /// Project instructions the user trusted: SHA-256 (hex) of the project root and the
    /// file's exact content.
    pub trusted: BTreeSet<String>,
}

/// The small parts of the body, as JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    format: u32,
    epoch: u64,
    store_id: String,
    #[serde(default)]
    keys: BTreeMap<String, Zeroizing<String>>,
    #[serde(default)]
    settings: Settings,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    purge: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    trusted: BTreeSet<String>,
}

/// One chat's key and manifest entry.
#[derive(Clone)]
pub struct ChatEntry {
    /// The chat's data key; its records name `generation`.
    pub key: Zeroizing<[u8; 32]>,
    pub generation: u32,
    /// A rotation's next key (generation + 1), present only while a rotation is under way
    /// or was interrupted: records may be sealed under either.
    pub next_key: Option<Zeroizing<[u8; 32]>>,
    /// Digest of the sealed chat record the database must hold (none before its first write).
    pub digest: Option<[u8; 16]>,
    /// The digest of a record being written: set before the database write and folded into
    /// `digest` after it, so a crash between the two is not mistaken for tampering.
    pub pending: Option<[u8; 16]>,
    /// For listing newest first without opening every record.
    pub updated_at: i64,
    /// A small label the history keeps with each chat (its kind), so that a listing can
    /// filter without opening every record. Means nothing to the vault.
    pub tag: u8,
}

impl ChatEntry {
    /// A new chat's entry with a fresh key.
    pub fn new(updated_at: i64) -> Result<ChatEntry, CryptoError> {
        Ok(ChatEntry {
            key: DataKey::generate(1)?.raw(),
            generation: 1,
            next_key: None,
            digest: None,
            pending: None,
            updated_at,
            tag: 0,
        })
    }

    /// The key that seals new records.
    pub fn sealing_key(&self) -> Result<DataKey, CryptoError> {
        Ok(match &self.next_key {
            Some(next) => DataKey::from_raw(self.generation + 1, next),
            None => DataKey::from_raw(self.generation, &self.key),
        })
    }

    /// The key of `generation`, if this entry holds it.
    pub fn key_of(&self, generation: u32) -> Result<Option<DataKey>, CryptoError> {
        if generation == self.generation {
            return Ok(Some(DataKey::from_raw(generation, &self.key)));
        }
        Ok(match &self.next_key {
            Some(next) if generation == self.generation + 1 => {
                Some(DataKey::from_raw(generation, next))
            }
            _ => None,
        })
    }

    /// Whether `digest` is the record this entry vouches for (or the one being written).
    pub fn accepts(&self, digest: &[u8; 16]) -> bool {
        self.digest.as_ref() == Some(digest) || self.pending.as_ref() == Some(digest)
    }

    /// Fold a finished write into the entry.
    pub fn settle(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.digest = Some(pending);
        }
    }
}

/// Flags of a chat table entry.
const HAS_NEXT: u8 = 1;
const HAS_DIGEST: u8 = 2;
const HAS_PENDING: u8 = 4;

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
            trusted: BTreeSet::new(),
        }
    }

    /// Serialise into a buffer that is wiped on drop, sized up front so that growing it never
    /// leaves a copy of the keys in freed memory.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let head = Zeroizing::new(
            serde_json::to_vec(&Head {
                format: self.format,
                epoch: self.epoch,
                store_id: self.store_id.clone(),
                keys: self.keys.clone(),
                settings: self.settings,
                purge: self.purge.clone(),
                trusted: self.trusted.clone(),
            })
            .map_err(|_| CryptoError::Integrity("the vault body cannot be written"))?,
        );
        let head_len = u32::try_from(head.len())
            .map_err(|_| CryptoError::Integrity("the vault body is too large"))?;
        let count = u32::try_from(self.chats.len())
            .map_err(|_| CryptoError::Integrity("the vault body is too large"))?;
        let mut out = Zeroizing::new(Vec::with_capacity(8 + head.len() + self.chats.len() * 160));
        out.extend_from_slice(&head_len.to_be_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(&count.to_be_bytes());
        for (id, entry) in &self.chats {
            let id_len = u8::try_from(id.len())
                .map_err(|_| CryptoError::Integrity("a chat id is too long"))?;
            out.push(id_len);
            out.extend_from_slice(id.as_bytes());
            let mut flags = 0;
            if entry.next_key.is_some() {
                flags |= HAS_NEXT;
            }
            if entry.digest.is_some() {
                flags |= HAS_DIGEST;
            }
            if entry.pending.is_some() {
                flags |= HAS_PENDING;
            }
            out.push(flags);
            out.push(entry.tag);
            out.extend_from_slice(&entry.generation.to_be_bytes());
            out.extend_from_slice(&entry.updated_at.to_be_bytes());
            out.extend_from_slice(entry.key.as_slice());
            if let Some(next) = &entry.next_key {
                out.extend_from_slice(next.as_slice());
            }
            if let Some(digest) = &entry.digest {
                out.extend_from_slice(digest);
            }
            if let Some(pending) = &entry.pending {
                out.extend_from_slice(pending);
            }
        }
        Ok(out)
    }

    /// Parse a decrypted body.
    pub fn decode(bytes: &[u8]) -> Result<Body, CryptoError> {
        const BAD: CryptoError = CryptoError::Integrity("the vault body is unreadable");
        let mut reader = Reader(bytes);
        let head_len = u32::from_be_bytes(reader.array()?) as usize;
        let head: Head = serde_json::from_slice(reader.take(head_len)?).map_err(|_| BAD)?;
        if head.format != FORMAT {
            return Err(CryptoError::Integrity(
                "the vault body has an unknown format",
            ));
        }
        let count = u32::from_be_bytes(reader.array()?) as usize;
        let mut chats = BTreeMap::new();
        for _ in 0..count {
            let id_len = usize::from(reader.array::<1>()?[0]);
            let id = std::str::from_utf8(reader.take(id_len)?)
                .map_err(|_| BAD)?
                .to_string();
            let flags = reader.array::<1>()?[0];
            let tag = reader.array::<1>()?[0];
            let generation = u32::from_be_bytes(reader.array()?);
            let updated_at = i64::from_be_bytes(reader.array()?);
            let key = Zeroizing::new(reader.array::<32>()?);
            let next_key = match flags & HAS_NEXT {
                0 => None,
                _ => Some(Zeroizing::new(reader.array::<32>()?)),
            };
            let digest = match flags & HAS_DIGEST {
                0 => None,
                _ => Some(reader.array::<16>()?),
            };
            let pending = match flags & HAS_PENDING {
                0 => None,
                _ => Some(reader.array::<16>()?),
            };
            let entry = ChatEntry {
                key,
                generation,
                next_key,
                digest,
                pending,
                updated_at,
                tag,
            };
            if chats.insert(id, entry).is_some() {
                return Err(BAD);
            }
        }
        if !reader.0.is_empty() {
            return Err(BAD);
        }
        Ok(Body {
            format: head.format,
            epoch: head.epoch,
            store_id: head.store_id,
            keys: head.keys,
            settings: head.settings,
            chats,
            purge: head.purge,
            trusted: head.trusted,
        })
    }
}

/// Reads fixed-width fields off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], CryptoError> {
        let (head, rest) = self
            .0
            .split_at_checked(count)
            .ok_or(CryptoError::Integrity("the vault body is truncated"))?;
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CryptoError> {
        self.take(N)?
            .try_into()
            .map_err(|_| CryptoError::Integrity("the vault body is truncated"))
    }
}

/// A record digest as kept in chat envelopes (message digests).
pub fn encode_digest(digest: &[u8; 16]) -> String {
    B64.encode(digest)
}

/// Every key a decrypted body holds (each chat's key and next key). Nothing in chinwag calls
/// this: it exists for the tests that carve the data folder with every key they can find.
#[doc(hidden)]
pub fn chat_keys_for_carving(bytes: &[u8]) -> Result<Vec<Zeroizing<[u8; 32]>>, CryptoError> {
    let body = Body::decode(bytes)?;
    let mut keys = Vec::new();
    for entry in body.chats.values() {
        keys.push(entry.key.clone());
        if let Some(next) = &entry.next_key {
            keys.push(next.clone());
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_round_trips_and_any_cut_is_refused() {
        let mut body = Body::new("store".into(), Settings::default());
        body.epoch = 7;
        body.keys
            .insert("openai".into(), Zeroizing::new("sk-test".into()));
        let mut entry = ChatEntry::new(42).unwrap();
        entry.pending = Some([3; 16]);
        entry.next_key = Some(Zeroizing::new([9; 32]));
        body.chats.insert("a".repeat(32), entry);
        body.chats
            .insert("b".repeat(32), ChatEntry::new(43).unwrap());
        body.purge.push("*".into());
        let bytes = body.encode().unwrap();
        let again = Body::decode(&bytes).unwrap();
        assert_eq!(again.encode().unwrap(), bytes);
        assert_eq!(again.chats.len(), 2);
        for cut in 0..bytes.len() {
            assert!(Body::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
