//! Chat records as the vault vouches for them: sealed under each chat's own key, checked
//! against the manifest in the vault body.
//!
//! A chat record is stored as an *envelope*: `[u32 BE length][digests JSON][record]`, sealed
//! whole under the chat's key. The digests name every message of the chat and the digest of
//! its sealed bytes; the body holds the digest of the sealed envelope. So the database can
//! lose, regain or swap no record without a read noticing. History sees only plaintext
//! records and messages; the envelope and the digests are this module's business.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::VaultError;
use super::body::{Body, ChatEntry, encode_digest};
use crate::crypto::{CryptoError, DataKey, record, record_digest};
use crate::store::{Backend, Op, Tree};

/// Message digests of one chat, by message id.
type Digests = BTreeMap<String, String>;

/// A chat's messages, opened: (message id, plaintext).
pub type Messages = Vec<(String, Zeroizing<Vec<u8>>)>;

/// Stored records of each chat (key, sealed value), grouped by chat id.
pub(super) type ByChat = BTreeMap<String, crate::store::Entries>;

/// The key of a message record.
pub fn message_key(chat_id: &str, message_id: &str) -> Vec<u8> {
    format!("{chat_id}/{message_id}").into_bytes()
}

fn message_prefix(chat_id: &str) -> Vec<u8> {
    format!("{chat_id}/").into_bytes()
}

fn damaged(chat_id: &str, what: &str) -> VaultError {
    VaultError::Damaged(format!("chat {chat_id}: {what}"))
}

/// One chat opened whole: its record and its messages (by id), all verified.
pub struct OpenedChat {
    pub id: String,
    pub record: Zeroizing<Vec<u8>>,
    pub messages: Messages,
}

/// A chat that failed its checks, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub chat_id: String,
    pub reason: String,
}

/// A consistent read of the vault body and the records it vouches for.
pub struct View<'a> {
    pub(super) body: &'a Body,
    pub(super) backend: &'a dyn Backend,
}

impl View<'_> {
    /// Chat ids, most recently updated first (ties by id); with a `tag`, only chats that
    /// carry it.
    pub fn chat_ids_newest_first(&self, tag: Option<u8>) -> Vec<String> {
        let mut ids: Vec<(&String, i64)> = self
            .body
            .chats
            .iter()
            .filter(|(_, entry)| tag.is_none_or(|tag| entry.tag == tag))
            .map(|(id, entry)| (id, entry.updated_at))
            .collect();
        ids.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ids.into_iter().map(|(id, _)| id.clone()).collect()
    }

    /// How many chats there are.
    pub fn chat_count(&self) -> usize {
        self.body.chats.len()
    }

    /// Whether the chat exists.
    pub fn has_chat(&self, chat_id: &str) -> bool {
        self.body.chats.contains_key(chat_id)
    }

    /// The chat's record, or `None` if there is no such chat.
    pub fn chat(&self, chat_id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        let Some(entry) = self.body.chats.get(chat_id) else {
            return Ok(None);
        };
        let (record, _) = self.envelope(chat_id, entry)?;
        Ok(Some(record))
    }

    /// The chat's messages (id, plaintext), every one checked against the chat's digests.
    /// `None` if there is no such chat.
    pub fn messages(&self, chat_id: &str) -> Result<Option<Messages>, VaultError> {
        let Some(entry) = self.body.chats.get(chat_id) else {
            return Ok(None);
        };
        let (_, digests) = self.envelope(chat_id, entry)?;
        let stored = self
            .backend
            .scan(Tree::Messages, &message_prefix(chat_id))?;
        open_messages(chat_id, entry, &digests, stored).map(Some)
    }

    /// Every chat opened whole, with one scan of each tree; chats that fail their checks are
    /// reported apart instead of failing the rest.
    pub fn all_chats(&self) -> Result<(Vec<OpenedChat>, Vec<Damage>), VaultError> {
        let mut records: BTreeMap<String, Vec<u8>> = self
            .backend
            .scan(Tree::Chats, b"")?
            .into_iter()
            .filter_map(|(key, value)| String::from_utf8(key).ok().map(|key| (key, value)))
            .collect();
        let mut messages = ByChat::new();
        for (key, value) in self.backend.scan(Tree::Messages, b"")? {
            let chat_id = key
                .iter()
                .position(|&byte| byte == b'/')
                .map(|at| String::from_utf8_lossy(&key[..at]).into_owned())
                .unwrap_or_default();
            messages.entry(chat_id).or_default().push((key, value));
        }
        let mut opened = Vec::with_capacity(self.body.chats.len());
        let mut broken = Vec::new();
        for (chat_id, entry) in &self.body.chats {
            let result = match records.remove(chat_id) {
                None => Err(damaged(chat_id, "its record is missing")),
                Some(sealed) => {
                    open_envelope(chat_id, entry, &sealed).and_then(|(record, digests)| {
                        let stored = messages.remove(chat_id).unwrap_or_default();
                        open_messages(chat_id, entry, &digests, stored).map(|messages| OpenedChat {
                            id: chat_id.clone(),
                            record,
                            messages,
                        })
                    })
                }
            };
            match result {
                Ok(chat) => opened.push(chat),
                Err(VaultError::Damaged(reason)) => broken.push(Damage {
                    chat_id: chat_id.clone(),
                    reason,
                }),
                Err(other) => return Err(other),
            }
        }
        Ok((opened, broken))
    }

    fn envelope(
        &self,
        chat_id: &str,
        entry: &ChatEntry,
    ) -> Result<(Zeroizing<Vec<u8>>, Digests), VaultError> {
        let sealed = self
            .backend
            .get(Tree::Chats, chat_id.as_bytes())?
            .ok_or_else(|| damaged(chat_id, "its record is missing"))?;
        open_envelope(chat_id, entry, &sealed)
    }
}

/// A chat's keys, decoded once for all its records.
struct ChatKeys {
    current: DataKey,
    next: Option<DataKey>,
}

impl ChatKeys {
    fn of(entry: &ChatEntry) -> Result<ChatKeys, VaultError> {
        let next = match &entry.next_key {
            Some(_) => entry.key_of(entry.generation + 1)?,
            None => None,
        };
        let current = entry
            .key_of(entry.generation)?
            .ok_or(VaultError::Damaged("a chat entry without its key".into()))?;
        Ok(ChatKeys { current, next })
    }

    fn open(
        &self,
        chat_id: &str,
        tree: Tree,
        key: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let generation = record::generation_of(sealed)
            .ok_or_else(|| damaged(chat_id, "a record is not one of ours"))?;
        let data_key = if generation == self.current.generation() {
            &self.current
        } else {
            self.next
                .as_ref()
                .filter(|next| next.generation() == generation)
                .ok_or_else(|| {
                    damaged(
                        chat_id,
                        "a record is sealed under a key the vault does not hold",
                    )
                })?
        };
        record::open_under(data_key, tree.name(), key, sealed).map_err(|error| match error {
            CryptoError::Integrity(_) => damaged(chat_id, "a record failed its integrity check"),
            other => VaultError::from(other),
        })
    }
}

fn open_envelope(
    chat_id: &str,
    entry: &ChatEntry,
    sealed: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, Digests), VaultError> {
    if !entry.accepts(&record_digest(sealed)) {
        return Err(damaged(
            chat_id,
            "its record is not the one the vault holds (altered, rolled back or replaced)",
        ));
    }
    let plain = ChatKeys::of(entry)?.open(chat_id, Tree::Chats, chat_id.as_bytes(), sealed)?;
    let bad = || damaged(chat_id, "its record is unreadable");
    let (length, rest) = plain.split_at_checked(4).ok_or_else(bad)?;
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
    let (digests, record) = rest.split_at_checked(length).ok_or_else(bad)?;
    let digests: Digests = serde_json::from_slice(digests).map_err(|_| bad())?;
    Ok((Zeroizing::new(record.to_vec()), digests))
}

fn open_messages(
    chat_id: &str,
    entry: &ChatEntry,
    digests: &Digests,
    stored: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<Messages, VaultError> {
    let prefix_len = chat_id.len() + 1;
    let keys = ChatKeys::of(entry)?;
    let mut out = Vec::with_capacity(stored.len());
    for (key, sealed) in stored {
        let message_id = String::from_utf8_lossy(&key[prefix_len.min(key.len())..]).into_owned();
        match digests.get(&message_id) {
            Some(digest) if *digest == encode_digest(&record_digest(&sealed)) => {}
            Some(_) => {
                return Err(damaged(
                    chat_id,
                    &format!(
                        "message {message_id} is not the one the vault holds (altered or rolled back)"
                    ),
                ));
            }
            None => {
                return Err(damaged(
                    chat_id,
                    &format!("message {message_id} does not belong to it (spliced in)"),
                ));
            }
        }
        let plain = keys.open(chat_id, Tree::Messages, &key, &sealed)?;
        out.push((message_id, plain));
    }
    if out.len() != digests.len() {
        let missing = digests
            .keys()
            .find(|id| !out.iter().any(|(seen, _)| seen == *id))
            .cloned()
            .unwrap_or_default();
        return Err(damaged(chat_id, &format!("message {missing} is missing")));
    }
    Ok(out)
}

/// A chat changed in a transaction, sealed when the transaction commits.
struct Staged {
    record: Zeroizing<Vec<u8>>,
    digests: Digests,
}

/// Changes to the vault body and the records, committed together by `Vault::write`.
pub struct Tx<'a> {
    pub(super) body: Body,
    pub(super) backend: &'a dyn Backend,
    pub(super) ops: Vec<Op>,
    pub(super) body_changed: bool,
    /// Remove every chat record after the body is written (history/clear).
    pub(super) clear_records: bool,
    staged: BTreeMap<String, Staged>,
}

impl<'a> Tx<'a> {
    pub(super) fn new(body: Body, backend: &'a dyn Backend) -> Self {
        Tx {
            body,
            backend,
            ops: Vec::new(),
            body_changed: false,
            clear_records: false,
            staged: BTreeMap::new(),
        }
    }

    /// Settle what a crash (or a failed database write) left half done, before anything else
    /// is written: a pending digest whose record is in the database is settled, one whose
    /// record never arrived is dropped, and a chat created by a write that never reached the
    /// database is removed (it was never acknowledged). A record matching neither digest is
    /// left for reads to report.
    pub(super) fn reconcile(&mut self) -> Result<(), VaultError> {
        let unsettled: Vec<String> = self
            .body
            .chats
            .iter()
            .filter(|(_, entry)| entry.pending.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        for chat_id in unsettled {
            let stored = self
                .backend
                .get(Tree::Chats, chat_id.as_bytes())?
                .map(|sealed| record_digest(&sealed));
            let Some(entry) = self.body.chats.get_mut(&chat_id) else {
                continue;
            };
            match stored {
                Some(digest) if entry.pending == Some(digest) => entry.settle(),
                Some(digest) if entry.digest == Some(digest) => entry.pending = None,
                None if entry.digest.is_none() => {
                    self.body.chats.remove(&chat_id);
                    if !self.body.purge.iter().any(|id| id == &chat_id || id == "*") {
                        self.body.purge.push(chat_id);
                    }
                }
                _ => continue,
            }
            self.body_changed = true;
        }
        Ok(())
    }

    /// Remove the records of chats deleted by a write a crash cut short (the vault file lists
    /// them in `purge`), so that this write may forget the list. Returns how many.
    pub(super) fn sweep_purged(&mut self) -> Result<usize, VaultError> {
        if self.body.purge.is_empty() {
            return Ok(0);
        }
        let prefixes: Vec<Vec<u8>> = if self.body.purge.iter().any(|id| id == "*") {
            vec![Vec::new()]
        } else {
            self.body
                .purge
                .iter()
                .map(|id| id.as_bytes().to_vec())
                .collect()
        };
        let mut count = 0;
        for prefix in prefixes {
            for tree in [Tree::Chats, Tree::Messages] {
                for (key, _) in self.backend.scan(tree, &prefix)? {
                    let chat_id = key.split(|&byte| byte == b'/').next().unwrap_or(&[]);
                    let known = std::str::from_utf8(chat_id)
                        .map(|id| self.body.chats.contains_key(id))
                        .unwrap_or(false);
                    if !known {
                        self.ops.push(Op::Remove { tree, key });
                        count += 1;
                    }
                }
            }
        }
        self.body_changed = true;
        Ok(count)
    }

    /// Read through this transaction's body (chats it created or removed count) and the
    /// records as committed (not the ones it staged).
    pub fn view(&self) -> View<'_> {
        View {
            body: &self.body,
            backend: self.backend,
        }
    }

    /// The chat's record as this transaction sees it, or `None` if there is no such chat.
    pub fn chat(&mut self, chat_id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError> {
        if !self.body.chats.contains_key(chat_id) {
            return Ok(None);
        }
        self.stage(chat_id)?;
        Ok(self
            .staged
            .get(chat_id)
            .map(|staged| Zeroizing::new(staged.record.to_vec())))
    }

    /// Start a chat (a fresh key) whose record is `record`.
    pub fn create_chat(
        &mut self,
        chat_id: &str,
        record: Zeroizing<Vec<u8>>,
        updated_at: i64,
    ) -> Result<(), VaultError> {
        if self.body.chats.contains_key(chat_id) {
            return Err(VaultError::Shape(format!("chat {chat_id} exists already")));
        }
        self.body
            .chats
            .insert(chat_id.to_string(), ChatEntry::new(updated_at)?);
        self.staged.insert(
            chat_id.to_string(),
            Staged {
                record,
                digests: Digests::new(),
            },
        );
        self.body_changed = true;
        Ok(())
    }

    /// Replace the chat's record.
    pub fn put_chat(
        &mut self,
        chat_id: &str,
        record: Zeroizing<Vec<u8>>,
        updated_at: i64,
    ) -> Result<(), VaultError> {
        self.stage(chat_id)?;
        if let Some(staged) = self.staged.get_mut(chat_id) {
            staged.record = record;
        }
        if let Some(entry) = self.body.chats.get_mut(chat_id) {
            entry.updated_at = updated_at;
        }
        self.body_changed = true;
        Ok(())
    }

    /// Write (or replace) one message of the chat.
    pub fn put_message(
        &mut self,
        chat_id: &str,
        message_id: &str,
        plain: &[u8],
    ) -> Result<(), VaultError> {
        self.stage(chat_id)?;
        let entry = self
            .body
            .chats
            .get(chat_id)
            .ok_or_else(|| damaged(chat_id, "no such chat"))?;
        let key = message_key(chat_id, message_id);
        let sealed = record::seal(&entry.sealing_key()?, Tree::Messages.name(), &key, plain)?;
        if let Some(staged) = self.staged.get_mut(chat_id) {
            staged.digests.insert(
                message_id.to_string(),
                encode_digest(&record_digest(&sealed)),
            );
        }
        self.ops.push(Op::Insert {
            tree: Tree::Messages,
            key,
            value: sealed,
        });
        self.body_changed = true;
        Ok(())
    }

    /// Label the chat (see `ChatEntry::tag`).
    pub fn set_tag(&mut self, chat_id: &str, tag: u8) {
        if let Some(entry) = self.body.chats.get_mut(chat_id)
            && entry.tag != tag
        {
            entry.tag = tag;
            self.body_changed = true;
        }
    }

    /// Delete the chat: its key leaves the body, so its records (and every old copy of them
    /// in the database's log) can no longer be read; the records are removed too.
    pub fn remove_chat(&mut self, chat_id: &str) -> Result<bool, VaultError> {
        if self.body.chats.remove(chat_id).is_none() {
            return Ok(false);
        }
        self.staged.remove(chat_id);
        self.ops.retain(
            |op| !matches!(op, Op::Insert { key, .. } if key.starts_with(&message_prefix(chat_id))),
        );
        for (key, _) in self
            .backend
            .scan(Tree::Messages, &message_prefix(chat_id))?
        {
            self.ops.push(Op::Remove {
                tree: Tree::Messages,
                key,
            });
        }
        self.ops.push(Op::Remove {
            tree: Tree::Chats,
            key: chat_id.as_bytes().to_vec(),
        });
        if !self.body.purge.iter().any(|id| id == chat_id || id == "*") {
            self.body.purge.push(chat_id.to_string());
        }
        self.body_changed = true;
        Ok(true)
    }

    /// Delete every chat (crypto-shredded at once, records removed after). Returns how many.
    pub fn clear_chats(&mut self) -> usize {
        let count = self.body.chats.len();
        self.body.chats.clear();
        self.body.purge = vec!["*".to_string()];
        self.staged.clear();
        self.ops.clear();
        self.clear_records = true;
        self.body_changed = true;
        count
    }

    fn stage(&mut self, chat_id: &str) -> Result<(), VaultError> {
        if self.staged.contains_key(chat_id) {
            return Ok(());
        }
        let entry = self
            .body
            .chats
            .get(chat_id)
            .ok_or_else(|| damaged(chat_id, "no such chat"))?;
        let (record, digests) = self.view().envelope(chat_id, entry)?;
        self.staged
            .insert(chat_id.to_string(), Staged { record, digests });
        Ok(())
    }

    /// Seal every staged chat into its envelope, recording the new digests as pending.
    pub(super) fn seal_staged(&mut self) -> Result<Vec<String>, VaultError> {
        let mut pending = Vec::new();
        for (chat_id, staged) in std::mem::take(&mut self.staged) {
            let Some(entry) = self.body.chats.get_mut(&chat_id) else {
                continue;
            };
            let envelope = encode_envelope(&staged.digests, &staged.record)?;
            let sealed = record::seal(
                &entry.sealing_key()?,
                Tree::Chats.name(),
                chat_id.as_bytes(),
                &envelope,
            )?;
            entry.pending = Some(record_digest(&sealed));
            self.ops.push(Op::Insert {
                tree: Tree::Chats,
                key: chat_id.as_bytes().to_vec(),
                value: sealed,
            });
            pending.push(chat_id);
        }
        Ok(pending)
    }
}

/// `[u32 BE length][digests JSON][record]`, in a buffer wiped on drop.
pub(super) fn encode_envelope(
    digests: &Digests,
    record: &[u8],
) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    let digests =
        serde_json::to_vec(digests).map_err(|error| VaultError::Shape(error.to_string()))?;
    let length = u32::try_from(digests.len())
        .map_err(|_| VaultError::Shape("too many messages in one chat".into()))?;
    let mut out = Zeroizing::new(Vec::with_capacity(4 + digests.len() + record.len()));
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&digests);
    out.extend_from_slice(record);
    Ok(out)
}

/// Re-seal one chat's records under `entry`'s sealing key (a rotation), returning the ops and
/// the new envelope digest. Every record must open first.
pub(super) fn reseal_chat(
    backend: &dyn Backend,
    chat_id: &str,
    entry: &ChatEntry,
) -> Result<(Vec<Op>, [u8; 16]), VaultError> {
    let view_body_entry = entry;
    let sealed_record = backend
        .get(Tree::Chats, chat_id.as_bytes())?
        .ok_or_else(|| damaged(chat_id, "its record is missing"))?;
    let (record, digests) = open_envelope(chat_id, view_body_entry, &sealed_record)?;
    let stored = backend.scan(Tree::Messages, &message_prefix(chat_id))?;
    let messages = open_messages(chat_id, entry, &digests, stored)?;
    let key = entry.sealing_key()?;
    let mut ops = Vec::with_capacity(messages.len() + 1);
    let mut new_digests = Digests::new();
    for (message_id, plain) in messages {
        let record_key = message_key(chat_id, &message_id);
        let sealed = record::seal(&key, Tree::Messages.name(), &record_key, &plain)?;
        new_digests.insert(message_id, encode_digest(&record_digest(&sealed)));
        ops.push(Op::Insert {
            tree: Tree::Messages,
            key: record_key,
            value: sealed,
        });
    }
    let envelope = encode_envelope(&new_digests, &record)?;
    let sealed = record::seal(&key, Tree::Chats.name(), chat_id.as_bytes(), &envelope)?;
    let digest = record_digest(&sealed);
    ops.push(Op::Insert {
        tree: Tree::Chats,
        key: chat_id.as_bytes().to_vec(),
        value: sealed,
    });
    Ok((ops, digest))
}
