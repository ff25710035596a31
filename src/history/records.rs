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
}

/// A message as stored (sealed, under `chat id/message id` in the `messages` tree).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    pub id: String,
    /// Position in the chat; ties broken by time.
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
        }
    }
}

/// A message as sent to editors.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: String,
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
}

impl From<&MessageRecord> for MessageView {
    fn from(message: &MessageRecord) -> Self {
        MessageView {
            id: message.id.clone(),
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
        }
    }
}

/// `history/get`: a chat with its messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatDetail {
    #[serde(flatten)]
    pub summary: ChatSummary,
    pub system: Option<String>,
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
            seq: 0,
            role: Role::Assistant,
            content: String::new(),
            reasoning: None,
            created_at: 0,
            status: MessageStatus::Error,
            usage: None,
            error: Some("refused: gsk_0123456789abcdefghijklmnop".into()),
            finish_reason: None,
        };
        let view = MessageView::from(&message);
        assert_eq!(view.error.as_deref(), Some("refused: [redacted]"));
    }
}
