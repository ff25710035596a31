//! Chat history: every conversation, encrypted, in the `chats` and `messages` trees.
//!
//! Record keys are random ids (`chats`: chat id; `messages`: `chat id/message id`), so nothing
//! readable about a conversation sits on disk. Listing and searching decrypt as they go; there
//! is no plaintext index. Methods block: call them from `spawn_blocking`.

mod backup;
mod export;
pub mod path_guard;
pub mod records;

use std::path::PathBuf;
use std::sync::Arc;

pub use backup::{BackupSummary, RestoreSummary};
pub use export::{ExportFormat, ExportSummary, ImportSummary};
pub use records::{
    ChatDetail, ChatRecord, ChatSummary, MessageRecord, MessageStatus, MessageView, Role,
    SearchHit, Usage,
};

use crate::clock::now_millis;
use crate::crypto::KeyRing;
use crate::store::sealed::{Sealed, new_id};
use crate::store::{Op, StoreError, Tree};
use crate::vault::{Vault, VaultError};
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

/// The key of a message record.
fn message_key(chat_id: &str, message_id: &str) -> Vec<u8> {
    format!("{chat_id}/{message_id}").into_bytes()
}

fn message_prefix(chat_id: &str) -> Vec<u8> {
    format!("{chat_id}/").into_bytes()
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

impl History {
    pub fn new(vault: Arc<Vault>, home: PathBuf) -> Self {
        Self { vault, home }
    }

    fn with_ring<T>(
        &self,
        work: impl FnOnce(&Sealed<'_>, &KeyRing) -> Result<T, HistoryError>,
    ) -> Result<T, HistoryError> {
        let ring = self.vault.ring()?;
        let sealed = Sealed::new(self.vault.backend().as_ref(), &ring);
        work(&sealed, &ring)
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
        self.with_ring(|sealed, _| {
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
            };
            let op = sealed.insert(Tree::Chats, chat.id.as_bytes(), &chat)?;
            self.vault.commit(vec![op])?;
            Ok(chat)
        })
    }

    /// The stored chat record.
    pub fn chat(&self, chat_id: &str) -> Result<ChatRecord, HistoryError> {
        self.with_ring(|sealed, _| {
            sealed
                .get::<ChatRecord>(Tree::Chats, chat_id.as_bytes())?
                .ok_or_else(|| no_such_chat(chat_id))
        })
    }

    /// Replace the chat record (provider, model, system, title changes).
    pub fn update_chat(&self, chat: &ChatRecord) -> Result<(), HistoryError> {
        self.with_ring(|sealed, _| {
            let op = sealed.insert(Tree::Chats, chat.id.as_bytes(), chat)?;
            self.vault.commit(vec![op])?;
            Ok(())
        })
    }

    /// Save a message and bump the chat, in one durable write. The first user message names
    /// an untitled chat. Returns the stored message.
    pub fn append(
        &self,
        chat_id: &str,
        mut message: MessageRecord,
    ) -> Result<MessageRecord, HistoryError> {
        self.with_ring(|sealed, _| {
            let mut chat = sealed
                .get::<ChatRecord>(Tree::Chats, chat_id.as_bytes())?
                .ok_or_else(|| no_such_chat(chat_id))?;
            if message.id.is_empty() {
                message.id = new_id()?;
            }
            message.seq = chat.message_count;
            chat.message_count += 1;
            chat.updated_at = now_millis().max(chat.updated_at);
            if chat.title.is_empty() && message.role == Role::User {
                chat.title = title_from(&message.content);
            }
            let ops = vec![
                sealed.insert(Tree::Messages, &message_key(chat_id, &message.id), &message)?,
                sealed.insert(Tree::Chats, chat.id.as_bytes(), &chat)?,
            ];
            self.vault.commit(ops)?;
            Ok(message)
        })
    }

    /// Chats, newest first: `(total, page)`.
    pub fn list(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<ChatSummary>), HistoryError> {
        let mut chats = self.chat_records()?;
        let total = chats.len();
        let end = offset.saturating_add(limit).min(total);
        if offset >= end {
            return Ok((total, Vec::new()));
        }
        // Only the requested page needs a full order.
        chats.select_nth_unstable_by(end - 1, newest_first);
        chats.truncate(end);
        chats.sort_by(newest_first);
        Ok((
            total,
            chats[offset..].iter().map(ChatSummary::from).collect(),
        ))
    }

    /// Every chat record, newest first.
    pub fn chats_newest_first(&self) -> Result<Vec<ChatRecord>, HistoryError> {
        let mut chats = self.chat_records()?;
        chats.sort_by(newest_first);
        Ok(chats)
    }

    fn chat_records(&self) -> Result<Vec<ChatRecord>, HistoryError> {
        self.with_ring(|sealed, _| {
            Ok(sealed
                .scan::<ChatRecord>(Tree::Chats, b"")?
                .into_iter()
                .map(|(_, chat)| chat)
                .collect())
        })
    }

    /// The messages of a chat, in order.
    pub fn messages(&self, chat_id: &str) -> Result<Vec<MessageRecord>, HistoryError> {
        self.with_ring(|sealed, _| {
            let mut messages: Vec<MessageRecord> = sealed
                .scan::<MessageRecord>(Tree::Messages, &message_prefix(chat_id))?
                .into_iter()
                .map(|(_, message)| message)
                .collect();
            // Time first: a turn's answer may be written before its question finished saving.
            messages.sort_by_key(|m| (m.created_at, m.seq));
            Ok(messages)
        })
    }

    /// A chat with its messages.
    pub fn get(&self, chat_id: &str) -> Result<ChatDetail, HistoryError> {
        let chat = self.chat(chat_id)?;
        let messages = self.messages(chat_id)?;
        Ok(ChatDetail {
            summary: ChatSummary::from(&chat),
            system: chat.system.clone(),
            messages: messages.iter().map(MessageView::from).collect(),
        })
    }

    /// Give a chat a new title.
    pub fn rename(&self, chat_id: &str, title: &str) -> Result<ChatSummary, HistoryError> {
        let title = clean_title(title)?;
        let mut chat = self.chat(chat_id)?;
        chat.title = title;
        chat.updated_at = now_millis().max(chat.updated_at);
        self.update_chat(&chat)?;
        Ok(ChatSummary::from(&chat))
    }

    /// Delete a chat and its messages. Needs no unlock (nothing is decrypted).
    pub fn delete(&self, chat_id: &str) -> Result<bool, HistoryError> {
        let backend = self.vault.backend();
        if backend.get(Tree::Chats, chat_id.as_bytes())?.is_none() {
            return Ok(false);
        }
        let mut ops: Vec<Op> = backend
            .scan(Tree::Messages, &message_prefix(chat_id))?
            .into_iter()
            .map(|(key, _)| Op::Remove {
                tree: Tree::Messages,
                key,
            })
            .collect();
        ops.push(Op::Remove {
            tree: Tree::Chats,
            key: chat_id.as_bytes().to_vec(),
        });
        backend.apply(ops)?;
        Ok(true)
    }

    /// Delete every chat. Needs no unlock. Returns how many there were.
    pub fn clear(&self) -> Result<usize, HistoryError> {
        let backend = self.vault.backend();
        let count = backend.scan(Tree::Chats, b"")?.len();
        backend.clear(&[Tree::Chats, Tree::Messages])?;
        Ok(count)
    }

    /// Case-insensitive search over titles and contents; one hit per chat, newest first.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, HistoryError> {
        let needle = query.trim().to_lowercase();
        if needle.is_empty() {
            return Err(HistoryError::InvalidInput(
                "the search text is empty".into(),
            ));
        }
        self.with_ring(|sealed, _| {
            let chats = sealed.scan::<ChatRecord>(Tree::Chats, b"")?;
            let mut hits: Vec<(i64, SearchHit)> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for (_, chat) in &chats {
                if let Some(snippet) = snippet(&chat.title, &needle) {
                    seen.insert(chat.id.clone());
                    hits.push((chat.updated_at, hit(chat, None, snippet)));
                }
            }
            let by_id: std::collections::HashMap<&str, &ChatRecord> = chats
                .iter()
                .map(|(_, chat)| (chat.id.as_str(), chat))
                .collect();
            for (key, message) in sealed.scan::<MessageRecord>(Tree::Messages, b"")? {
                let chat_id = String::from_utf8_lossy(&key);
                let chat_id = chat_id.split('/').next().unwrap_or("");
                if seen.contains(chat_id) {
                    continue;
                }
                let Some(chat) = by_id.get(chat_id) else {
                    continue;
                };
                if let Some(snippet) = snippet(&message.content, &needle) {
                    seen.insert(chat_id.to_string());
                    hits.push((
                        chat.updated_at,
                        hit(chat, Some(message.id.clone()), snippet),
                    ));
                }
            }
            hits.sort_by_key(|hit| std::cmp::Reverse(hit.0));
            Ok(hits.into_iter().take(limit).map(|(_, hit)| hit).collect())
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
