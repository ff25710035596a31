//! What a chat and a message are, as stored (inside sealed records) and as sent to editors.

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// Whether a message is whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Complete,
    Cancelled,
    Error,
}

/// Token counts reported by the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// How long an answer took, as `chat/send` reported it and as saved with the answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// From the request to the first token (null if none came).
    pub first_token_ms: Option<u64>,
    pub total_ms: u64,
    /// Completion tokens per second after the first token (null for one token or none).
    pub tokens_per_second: Option<f64>,
}

/// One thing the secret guard held back from a message or a context item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Redaction {
    /// `vault-key`, `openai-key`, `anthropic-key`, `groq-key`, `openrouter-key`,
    /// `gemini-key`, `aws-access-key`, `github-token`, `private-key` or `assignment`.
    pub kind: String,
    /// The line it starts on, counting from 1 within the text scanned.
    pub line: usize,
}

/// Size and redactions of one part of a turn.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestPart {
    pub bytes: u64,
    /// An estimate: a quarter of the bytes, rounded up.
    pub tokens: u64,
    pub redactions: Vec<Redaction>,
}

/// One context item as it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestItem {
    pub kind: String,
    /// What it was: a file's path, `git diff`, a URL.
    pub label: String,
    #[serde(flatten)]
    pub part: ManifestPart,
}

/// Something asked for and left out (a glob's sensitive, ignored, binary or large files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedItem {
    pub kind: String,
    pub path: String,
    /// `sensitive`, `gitIgnored`, `binary` or `tooLarge`.
    pub reason: String,
}

/// The project's instructions file, and whether it went with the turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstructionsEntry {
    /// `.chinwag.md` or `AGENTS.md`.
    pub path: String,
    /// Joined the system prompt: the user trusted this exact content. When false, the client
    /// shows the file and asks (`project/trust` with this fingerprint).
    pub included: bool,
    pub fingerprint: String,
    #[serde(flatten)]
    pub part: ManifestPart,
}

/// What a turn sent beyond the user's words, saved with the user's message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub items: Vec<ManifestItem>,
    pub refused: Vec<RefusedItem>,
    /// The user's own words.
    pub message: ManifestPart,
    pub total_bytes: u64,
    pub total_tokens: u64,
    /// The user sent secrets as they were, this once.
    pub allow_secrets: bool,
    /// Sensitive files the user confirmed for this send.
    pub allow_files: Vec<String>,
    /// The project's instructions, when the root has some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<InstructionsEntry>,
}

/// What a chat is for: a conversation, or a `chat/rewrite` request kept for the record but
/// listed apart so it does not crowd the user's conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    #[default]
    Chat,
    Rewrite,
}

impl ChatKind {
    /// The label the vault keeps with each chat so that listings filter without decrypting.
    pub fn tag(self) -> u8 {
        match self {
            ChatKind::Chat => 0,
            ChatKind::Rewrite => 1,
        }
    }

    /// Chats are stored without the field (as before it existed), so their records and
    /// exports do not change.
    pub fn is_chat(&self) -> bool {
        *self == ChatKind::Chat
    }
}

/// A chat as stored (sealed, under its random id in the `chats` tree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRecord {
    pub id: String,
    pub title: String,
    pub provider: String,
    pub model: String,
    pub system: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub message_count: u64,
    /// Absent in records written before rewrites were listed apart: those are chats.
    #[serde(default, skip_serializing_if = "ChatKind::is_chat")]
    pub kind: ChatKind,
    /// The current branch ends here. Absent in chats saved before conversations were trees,
    /// and until a chat's first message: the newest message is the leaf then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_id: Option<String>,
    /// The preset the chat last used, restored when it is reopened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

/// A message as stored (sealed, under `chat id/message id` in the `messages` tree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    pub id: String,
    /// The message this one follows, if any (see [`super::tree`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// A message without a parent that starts a branch at the top of the chat. Messages saved
    /// before conversations were trees have neither: each follows the one written before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub root: bool,
    /// Position in the chat (the order messages were written); ties broken by time.
    pub seq: u64,
    pub role: Role,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    pub created_at: i64,
    pub status: MessageStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Who wrote an answer; absent for user turns and answers saved before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
    /// What a user turn sent beyond its words (context items, redactions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Manifest>,
}

impl MessageRecord {
    /// A message with nothing but its role, text and time; the rest is filled in by whoever
    /// writes it.
    pub fn new(role: Role, content: String, created_at: i64) -> Self {
        MessageRecord {
            id: String::new(),
            parent_id: None,
            root: false,
            seq: 0,
            role,
            content,
            reasoning: None,
            created_at,
            status: MessageStatus::Complete,
            usage: None,
            error: None,
            finish_reason: None,
            provider: None,
            model: None,
            timings: None,
            context: None,
        }
    }
}

/// A chat that failed its integrity checks, listed apart (`history/list`, `history/search`,
/// `history/export`) so that a bad record never hides the rest nor goes unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DamagedChat {
    pub id: String,
    pub reason: String,
}

/// A chat as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatSummary {
    pub id: String,
    pub title: String,
    pub provider: String,
    pub model: String,
    pub created_at: String,
    pub updated_at: String,
    pub message_count: u64,
    pub kind: ChatKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

impl From<&ChatRecord> for ChatSummary {
    fn from(chat: &ChatRecord) -> Self {
        ChatSummary {
            id: chat.id.clone(),
            title: chat.title.clone(),
            provider: chat.provider.clone(),
            model: chat.model.clone(),
            created_at: rfc3339(chat.created_at),
            updated_at: rfc3339(chat.updated_at),
            message_count: chat.message_count,
            kind: chat.kind,
            preset: chat.preset.clone(),
        }
    }
}

/// A message as sent to editors.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
    /// Null at the top of the chat.
    pub parent_id: Option<String>,
    /// The messages with the same parent, this one included, in the order they were written.
    pub siblings: Vec<String>,
    pub role: Role,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    pub created_at: String,
    pub status: MessageStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Manifest>,
}

impl MessageView {
    /// The message as shown, with its place in the tree.
    pub fn new(message: &MessageRecord, parent_id: Option<String>, siblings: Vec<String>) -> Self {
        MessageView {
            id: message.id.clone(),
            parent_id,
            siblings,
            role: message.role,
            content: message.content.clone(),
            reasoning: message.reasoning.clone(),
            created_at: rfc3339(message.created_at),
            status: message.status,
            usage: message.usage,
            // Scrubbed again when shown: answers saved by versions that did not scrub
            // provider errors may hold a key-shaped string.
            error: message
                .error
                .as_deref()
                .map(|e| crate::redact::scrub(e, &[])),
            provider: message.provider.clone(),
            model: message.model.clone(),
            finish_reason: message.finish_reason.clone(),
            timings: message.timings,
            context: message.context.clone(),
        }
    }
}

/// `history/get`: a chat with its current branch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatDetail {
    #[serde(flatten)]
    pub summary: ChatSummary,
    pub system: Option<String>,
    /// The current leaf; null for a chat with no message.
    pub leaf_id: Option<String>,
    /// The current branch, from the top to the leaf.
    pub messages: Vec<MessageView>,
}

/// One `history/search` hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub chat_id: String,
    pub title: String,
    pub message_id: Option<String>,
    pub snippet: String,
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_error_holding_a_key_is_shown_scrubbed() {
        let message = MessageRecord {
            id: "m".into(),
            status: MessageStatus::Error,
            error: Some("refused: gsk_0123456789abcdefghijklmnop".into()),
            ..MessageRecord::new(Role::Assistant, String::new(), 0)
        };
        let view = MessageView::new(&message, None, vec!["m".into()]);
        assert_eq!(view.error.as_deref(), Some("refused: [redacted]"));
    }
}
