//! Chat history: every conversation, encrypted, in the `chats` and `messages` trees.
//!
//! Record keys are random ids (`chats`: chat id; `messages`: `chat id/message id`), so nothing
//! readable about a conversation sits on disk. Each chat is sealed under its own key, kept in
//! the vault file with the digest of its record ([`crate::vault`]), so deleting a chat is final
//! and a record that was removed, rolled back or spliced in is reported (1003), never skipped in
//! silence. Methods block: call them from `spawn_blocking`.

mod backup;
mod export;
pub mod path_guard;
pub mod records;
pub mod tree;

use std::path::PathBuf;
use std::sync::Arc;

use zeroize::Zeroizing;

pub use backup::{BackupSummary, RestoreSummary};
pub use export::{ExportFormat, ExportSummary, ImportSummary};
pub use records::{
    ChatDetail, ChatKind, ChatRecord, ChatSummary, DamagedChat, InstructionsEntry, Manifest,
    ManifestItem, ManifestPart, MessageRecord, MessageStatus, MessageView, Redaction, RefusedItem,
    Role, SearchHit, Timings, Usage,
};
pub use tree::Tree;

use crate::clock::now_millis;
use crate::store::StoreError;
use crate::store::sealed::new_id;
use crate::vault::{Damage, Vault, VaultError};
use path_guard::PathRefused;

/// The longest title kept.
pub(crate) const MAX_TITLE_CHARS: usize = 200;

/// Why a history call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("no chat with id {0}")]
    NoSuchChat(String),
    #[error("no message with id {0} in this chat")]
    NoSuchMessage(String),
    #[error(transparent)]
    Path(#[from] PathRefused),
    #[error("{0}")]
    Io(String),
    #[error("not a chinwag export: {0}")]
    BadImport(String),
    /// A value in an export that chinwag could not use; nothing of the file was imported.
    #[error("not a chinwag export: {field}: {problem}")]
    BadImportValue {
        /// Where, as `chats[3].messages[0].createdAt`.
        field: String,
        /// The chat's id, when it is one of ours.
        chat_id: Option<String>,
        problem: String,
    },
    #[error("not a chinwag backup: {0}")]
    BadBackup(String),
    #[error("this needs `confirm: true`: it cannot be undone")]
    ConfirmationRequired,
    #[error("{0}")]
    InvalidInput(String),
}

impl From<crate::store::sealed::SealedError> for HistoryError {
    fn from(error: crate::store::sealed::SealedError) -> Self {
        HistoryError::Vault(error.into())
    }
}

impl From<StoreError> for HistoryError {
    fn from(error: StoreError) -> Self {
        HistoryError::Vault(error.into())
    }
}

/// The history service.
pub struct History {
    vault: Arc<Vault>,
    /// Exports, imports and backups must stay inside this folder.
    home: PathBuf,
}

/// A chat record with its messages in order.
pub type ChatWithMessages = (ChatRecord, Vec<MessageRecord>);

/// Whether a message saved by [`History::append`] becomes the chat's current leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MakeCurrent {
    /// Always: the user's own new turn.
    Always,
    /// Only while the chat's leaf (as stored, `None` for a chat saved before trees) is one of
    /// these: an answer does not pull the chat away from a branch the user switched to while
    /// it streamed.
    IfLeafIn(Vec<Option<String>>),
}

/// One page of `history/list`.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub total: usize,
    pub chats: Vec<ChatSummary>,
    /// Chats on this page that failed their checks: listed apart, never dropped in silence.
    pub damaged: Vec<DamagedChat>,
}

/// A title from the first words of a prompt.
pub fn title_from(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let mut title: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        title.push('…');
    }
    if title.is_empty() {
        "New chat".to_string()
    } else {
        title
    }
}

/// Quoted only if the id cannot be a secret sent in the wrong field.
fn no_such_chat(chat_id: &str) -> HistoryError {
    HistoryError::NoSuchChat(crate::redact::name_for_message(chat_id).to_string())
}

/// Quoted only if the id cannot be a secret sent in the wrong field.
pub fn no_such_message(message_id: &str) -> HistoryError {
    HistoryError::NoSuchMessage(crate::redact::name_for_message(message_id).to_string())
}

fn clean_title(title: &str) -> Result<String, HistoryError> {
    let title: String = title
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let title = title.trim();
    if title.is_empty() {
        return Err(HistoryError::InvalidInput("the title is empty".into()));
    }
    Ok(title.chars().take(MAX_TITLE_CHARS).collect())
}

/// A record as stored: JSON, in a buffer wiped on drop.
fn encode<T: serde::Serialize>(value: &T) -> Result<Zeroizing<Vec<u8>>, HistoryError> {
    serde_json::to_vec(value)
        .map(Zeroizing::new)
        .map_err(|error| HistoryError::Vault(VaultError::Shape(error.to_string())))
}

fn decode<T: serde::de::DeserializeOwned>(chat_id: &str, bytes: &[u8]) -> Result<T, HistoryError> {
    serde_json::from_slice(bytes).map_err(|_| {
        HistoryError::Vault(VaultError::Damaged(format!(
            "chat {chat_id}: a record has an unexpected shape"
        )))
    })
}

fn damaged_chat(damage: Damage) -> DamagedChat {
    DamagedChat {
        id: damage.chat_id,
        reason: damage.reason,
    }
}

/// The messages of a chat in order: time first (a turn's answer may be written before its
/// question finished saving), then position.
fn sorted_messages(
    chat_id: &str,
    stored: crate::vault::Messages,
) -> Result<Vec<MessageRecord>, HistoryError> {
    let mut messages = stored
        .iter()
        .map(|(_, bytes)| decode::<MessageRecord>(chat_id, bytes))
        .collect::<Result<Vec<_>, _>>()?;
    messages.sort_by_key(|m| (m.created_at, m.seq));
    Ok(messages)
}

impl History {
    pub fn new(vault: Arc<Vault>, home: PathBuf) -> Self {
        Self { vault, home }
    }

    /// Start a chat.
    pub fn create_chat(
        &self,
        provider: &str,
        model: &str,
        system: Option<String>,
        title: Option<&str>,
    ) -> Result<ChatRecord, HistoryError> {
        let title = match title {
            Some(title) => clean_title(title)?,
            None => String::new(),
        };
        let now = now_millis();
        let chat = ChatRecord {
            id: new_id()?,
            title,
            provider: provider.to_string(),
            model: model.to_string(),
            system,
            created_at: now,
            updated_at: now,
            message_count: 0,
            kind: ChatKind::Chat,
            leaf_id: None,
            preset: None,
        };
        let record = encode(&chat)?;
        self.vault.write(|tx| {
            tx.create_chat(&chat.id, record, now)?;
            tx.set_tag(&chat.id, chat.kind.tag());
            Ok::<_, HistoryError>(())
        })?;
        Ok(chat)
    }

    /// The stored chat record.
    pub fn chat(&self, chat_id: &str) -> Result<ChatRecord, HistoryError> {
        self.vault.read(|view| {
            let bytes = view.chat(chat_id)?.ok_or_else(|| no_such_chat(chat_id))?;
            decode(chat_id, &bytes)
        })
    }

    /// Change the chat record (provider, model, system, kind) with `change`, read and written
    /// in one transaction, so a change made meanwhile in another editor (a rename) is never
    /// overwritten with an older copy. Returns the record as written.
    pub fn update_chat<E>(
        &self,
        chat_id: &str,
        change: impl FnOnce(&mut ChatRecord) -> Result<(), E>,
    ) -> Result<ChatRecord, E>
    where
        E: From<HistoryError> + From<VaultError>,
    {
        self.vault.write(|tx| {
            let bytes = tx
                .chat(chat_id)?
                .ok_or_else(|| E::from(no_such_chat(chat_id)))?;
            let mut chat: ChatRecord = decode(chat_id, &bytes)?;
            change(&mut chat)?;
            tx.put_chat(chat_id, encode(&chat)?, chat.updated_at)?;
            tx.set_tag(chat_id, chat.kind.tag());
            Ok(chat)
        })
    }

    /// Save a message and bump the chat, in one durable write; the message becomes the
    /// current leaf as `current` says. The first user message names an untitled chat.
    /// Returns the stored message.
    pub fn append(
        &self,
        chat_id: &str,
        mut message: MessageRecord,
        current: MakeCurrent,
    ) -> Result<MessageRecord, HistoryError> {
        if message.id.is_empty() {
            message.id = new_id()?;
        }
        self.vault.write(|tx| {
            let bytes = tx.chat(chat_id)?.ok_or_else(|| no_such_chat(chat_id))?;
            let mut chat: ChatRecord = decode(chat_id, &bytes)?;
            message.seq = chat.message_count;
            chat.message_count += 1;
            let becomes_current = match &current {
                MakeCurrent::Always => true,
                MakeCurrent::IfLeafIn(leaves) => leaves.contains(&chat.leaf_id),
            };
            if becomes_current {
                chat.leaf_id = Some(message.id.clone());
            }
            chat.updated_at = now_millis().max(chat.updated_at);
            if chat.title.is_empty() && message.role == Role::User {
                chat.title = title_from(&message.content);
            }
            tx.put_message(chat_id, &message.id, &encode(&message)?)?;
            tx.put_chat(chat_id, encode(&chat)?, chat.updated_at)?;
            Ok(message)
        })
    }

    /// Chats, newest first: one page, of one kind or (`None`) of every kind. Only the page's
    /// records are opened (the vault keeps each chat's last change and kind), so a page costs
    /// the same with ten chats or ten thousand.
    pub fn list(
        &self,
        kind: Option<ChatKind>,
        offset: usize,
        limit: usize,
    ) -> Result<Listing, HistoryError> {
        self.vault.read(|view| {
            let ids = view.chat_ids_newest_first(kind.map(ChatKind::tag));
            let total = ids.len();
            let mut listing = Listing {
                total,
                chats: Vec::new(),
                damaged: Vec::new(),
            };
            for id in ids.iter().skip(offset).take(limit) {
                match view.chat(id) {
                    Ok(Some(bytes)) => match decode::<ChatRecord>(id, &bytes) {
                        Ok(chat) => listing.chats.push(ChatSummary::from(&chat)),
                        Err(HistoryError::Vault(VaultError::Damaged(reason))) => {
                            listing.damaged.push(DamagedChat {
                                id: id.clone(),
                                reason,
                            })
                        }
                        Err(other) => return Err(other),
                    },
                    Ok(None) => {}
                    Err(VaultError::Damaged(reason)) => listing.damaged.push(DamagedChat {
                        id: id.clone(),
                        reason,
                    }),
                    Err(other) => return Err(other.into()),
                }
            }
            Ok(listing)
        })
    }

    /// Every chat that opens, newest first, with its messages, and those that do not.
    pub fn everything(&self) -> Result<(Vec<ChatWithMessages>, Vec<DamagedChat>), HistoryError> {
        self.vault.read(|view| {
            let (opened, damage) = view.all_chats()?;
            let mut damaged: Vec<DamagedChat> = damage.into_iter().map(damaged_chat).collect();
            let mut chats = Vec::with_capacity(opened.len());
            for chat in opened {
                let decoded = decode::<ChatRecord>(&chat.id, &chat.record)
                    .and_then(|record| Ok((record, sorted_messages(&chat.id, chat.messages)?)));
                match decoded {
                    Ok(pair) => chats.push(pair),
                    Err(HistoryError::Vault(VaultError::Damaged(reason))) => {
                        damaged.push(DamagedChat {
                            id: chat.id,
                            reason,
                        })
                    }
                    Err(other) => return Err(other),
                }
            }
            chats.sort_by(|a, b| newest_first(&a.0, &b.0));
            Ok((chats, damaged))
        })
    }

    /// The messages of a chat, in order.
    pub fn messages(&self, chat_id: &str) -> Result<Vec<MessageRecord>, HistoryError> {
        self.vault.read(|view| {
            let stored = view
                .messages(chat_id)?
                .ok_or_else(|| no_such_chat(chat_id))?;
            sorted_messages(chat_id, stored)
        })
    }

    /// A chat record with all its messages, read at one moment.
    pub fn chat_with_messages(&self, chat_id: &str) -> Result<ChatWithMessages, HistoryError> {
        self.vault.read(|view| {
            let bytes = view.chat(chat_id)?.ok_or_else(|| no_such_chat(chat_id))?;
            let chat: ChatRecord = decode(chat_id, &bytes)?;
            let stored = view
                .messages(chat_id)?
                .ok_or_else(|| no_such_chat(chat_id))?;
            Ok((chat, sorted_messages(chat_id, stored)?))
        })
    }

    /// A chat with its current branch.
    pub fn get(&self, chat_id: &str) -> Result<ChatDetail, HistoryError> {
        let (chat, messages) = self.chat_with_messages(chat_id)?;
        Ok(detail(&chat, &messages))
    }

    /// Make the branch through `message_id` current: its leaf becomes the newest message at or
    /// below it, where that branch was last continued. Returns the chat as `get` does.
    pub fn switch(&self, chat_id: &str, message_id: &str) -> Result<ChatDetail, HistoryError> {
        self.vault.write(|tx| {
            let bytes = tx.chat(chat_id)?.ok_or_else(|| no_such_chat(chat_id))?;
            let mut chat: ChatRecord = decode(chat_id, &bytes)?;
            let stored = tx
                .view()
                .messages(chat_id)?
                .ok_or_else(|| no_such_chat(chat_id))?;
            let messages = sorted_messages(chat_id, stored)?;
            let tree = Tree::new(&messages);
            let at = tree
                .find(message_id)
                .ok_or_else(|| no_such_message(message_id))?;
            let leaf = tree.message(tree.newest_below(at)).id.clone();
            if chat.leaf_id.as_deref() != Some(leaf.as_str()) {
                chat.leaf_id = Some(leaf);
                // Other editors showing the chat notice the change by its time.
                chat.updated_at = now_millis().max(chat.updated_at + 1);
                tx.put_chat(chat_id, encode(&chat)?, chat.updated_at)?;
            }
            Ok(detail(&chat, &messages))
        })
    }

    /// Give a chat a new title.
    pub fn rename(&self, chat_id: &str, title: &str) -> Result<ChatSummary, HistoryError> {
        let title = clean_title(title)?;
        self.vault.write(|tx| {
            let bytes = tx.chat(chat_id)?.ok_or_else(|| no_such_chat(chat_id))?;
            let mut chat: ChatRecord = decode(chat_id, &bytes)?;
            chat.title = title;
            chat.updated_at = now_millis().max(chat.updated_at);
            tx.put_chat(chat_id, encode(&chat)?, chat.updated_at)?;
            Ok(ChatSummary::from(&chat))
        })
    }

    /// Delete a chat and its messages. Its key leaves the vault file first, so no copy of its
    /// records (sled keeps old ones for a while) can be decrypted afterwards.
    pub fn delete(&self, chat_id: &str) -> Result<bool, HistoryError> {
        self.vault
            .write(|tx| Ok::<_, HistoryError>(tx.remove_chat(chat_id)?))
    }

    /// Delete every chat (every chat key leaves the vault file in one atomic replace; the
    /// records are removed after). Returns how many there were.
    pub fn clear(&self) -> Result<usize, HistoryError> {
        self.vault
            .write(|tx| Ok::<_, HistoryError>(tx.clear_chats()))
    }

    /// Case-insensitive search over titles and contents; one hit per chat, newest first.
    /// Chats that fail their checks are reported apart.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<(Vec<SearchHit>, Vec<DamagedChat>), HistoryError> {
        let needle = query.trim().to_lowercase();
        if needle.is_empty() {
            return Err(HistoryError::InvalidInput(
                "the search text is empty".into(),
            ));
        }
        self.vault.read(|view| {
            let (opened, damage) = view.all_chats()?;
            let mut damaged: Vec<DamagedChat> = damage.into_iter().map(damaged_chat).collect();
            let mut hits: Vec<(i64, SearchHit)> = Vec::new();
            for chat in opened {
                let record = match decode::<ChatRecord>(&chat.id, &chat.record) {
                    Ok(record) => record,
                    Err(HistoryError::Vault(VaultError::Damaged(reason))) => {
                        damaged.push(DamagedChat {
                            id: chat.id.clone(),
                            reason,
                        });
                        continue;
                    }
                    Err(other) => return Err(other),
                };
                if let Some(snippet) = snippet(&record.title, &needle) {
                    hits.push((record.updated_at, hit(&record, None, snippet)));
                    continue;
                }
                let mut messages = Vec::with_capacity(chat.messages.len());
                for (_, bytes) in &chat.messages {
                    match decode::<MessageRecord>(&chat.id, bytes) {
                        Ok(message) => messages.push(message),
                        Err(HistoryError::Vault(VaultError::Damaged(reason))) => {
                            damaged.push(DamagedChat {
                                id: chat.id.clone(),
                                reason,
                            });
                            messages.clear();
                            break;
                        }
                        Err(other) => return Err(other),
                    }
                }
                messages.sort_by_key(|m| (m.created_at, m.seq));
                for message in messages {
                    if let Some(snippet) = snippet(&message.content, &needle) {
                        hits.push((
                            record.updated_at,
                            hit(&record, Some(message.id.clone()), snippet),
                        ));
                        break;
                    }
                }
            }
            hits.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.chat_id.cmp(&b.1.chat_id)));
            Ok((
                hits.into_iter().take(limit).map(|(_, hit)| hit).collect(),
                damaged,
            ))
        })
    }

    /// The folder paths must stay inside.
    pub fn home(&self) -> &std::path::Path {
        &self.home
    }

    /// The vault this history is sealed with.
    pub fn vault(&self) -> &Arc<Vault> {
        &self.vault
    }
}

/// A chat as `history/get` shows it: its current branch, each message with its siblings.
fn detail(chat: &ChatRecord, messages: &[MessageRecord]) -> ChatDetail {
    let tree = Tree::new(messages);
    let branch = tree.branch(chat.leaf_id.as_deref());
    ChatDetail {
        summary: ChatSummary::from(chat),
        system: chat.system.clone(),
        leaf_id: branch.last().map(|&at| tree.message(at).id.clone()),
        messages: branch.iter().map(|&at| tree.view(at)).collect(),
    }
}

fn newest_first(a: &ChatRecord, b: &ChatRecord) -> std::cmp::Ordering {
    b.updated_at
        .cmp(&a.updated_at)
        .then_with(|| a.id.cmp(&b.id))
}

fn hit(chat: &ChatRecord, message_id: Option<String>, snippet: String) -> SearchHit {
    SearchHit {
        chat_id: chat.id.clone(),
        title: chat.title.clone(),
        message_id,
        snippet,
        updated_at: crate::clock::rfc3339(chat.updated_at),
    }
}

/// About 40 characters either side of the first match, or None if `needle` (lowercase) is not
/// in `text`.
fn snippet(text: &str, needle: &str) -> Option<String> {
    let lower: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    let needle: Vec<char> = needle.chars().collect();
    // Lowercasing can change lengths (rarely); map back through char positions of `lower`.
    let at = lower
        .windows(needle.len())
        .position(|w| w == needle.as_slice())?;
    let chars: Vec<char> = text.chars().collect();
    let ratio = chars.len() as f64 / lower.len().max(1) as f64;
    let at = ((at as f64) * ratio) as usize;
    let start = at.saturating_sub(40);
    let end = (at + needle.len() + 40).min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(
        chars[start..end]
            .iter()
            .map(|&c| if c == '\n' { ' ' } else { c }),
    );
    if end < chars.len() {
        out.push('…');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_case_insensitive_and_bounded() {
        let text = format!(
            "{} The Lifetime of a closure {}",
            "a".repeat(100),
            "b".repeat(100)
        );
        let s = snippet(&text, "lifetime").unwrap();
        assert!(
            s.contains("Lifetime") && s.starts_with('…') && s.ends_with('…'),
            "{s}"
        );
        assert!(snippet("nothing here", "lifetime").is_none());
        assert!(snippet("ÄÖÜ straße", "straße").is_some());
    }

    #[test]
    fn titles_come_from_the_first_line() {
        assert_eq!(title_from("\n  How do I sort?\nmore"), "How do I sort?");
        assert_eq!(title_from(""), "New chat");
        assert!(title_from(&"x".repeat(100)).ends_with('…'));
    }
}
