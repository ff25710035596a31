//! `history/export` (Markdown for people, JSON for `history/import`) and `history/import`.

use serde::{Deserialize, Serialize};

use super::path_guard;
use super::records::{ChatRecord, DamagedChat, MessageRecord, Role};
use super::{History, HistoryError, encode};
use crate::clock::rfc3339;
use crate::store::sealed::new_id;

/// The largest file `history/import` reads.
const MAX_IMPORT_BYTES: u64 = 256 * 1024 * 1024;

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Markdown,
    Json,
}

/// `history/export` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub path: String,
    pub chats: usize,
    /// Chats left out because they failed their integrity checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<DamagedChat>,
}

/// `history/import` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub imported: usize,
    pub skipped: usize,
}

const EXPORT_FORMAT: &str = "chinwag-export";
const EXPORT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportFile {
    format: String,
    version: u32,
    chats: Vec<ExportedChat>,
}

#[derive(Serialize, Deserialize)]
struct ExportedChat {
    #[serde(flatten)]
    chat: ChatRecord,
    messages: Vec<MessageRecord>,
}

impl History {
    /// Write one chat (`chat_id`) or all chats (`None`) to `path`.
    pub fn export(
        &self,
        chat_id: Option<&str>,
        format: ExportFormat,
        path: &str,
        overwrite: bool,
    ) -> Result<ExportSummary, HistoryError> {
        let target = path_guard::for_writing(path, self.home(), overwrite)?;
        let (exported, damaged) = match chat_id {
            Some(id) => {
                let chat = self.chat(id)?;
                let messages = self.messages(id)?;
                (vec![ExportedChat { chat, messages }], Vec::new())
            }
            None => {
                let (chats, damaged) = self.everything()?;
                let exported = chats
                    .into_iter()
                    .map(|(chat, messages)| ExportedChat { chat, messages })
                    .collect::<Vec<_>>();
                (exported, damaged)
            }
        };
        let count = exported.len();
        let bytes = match format {
            ExportFormat::Json => {
                let file = ExportFile {
                    format: EXPORT_FORMAT.into(),
                    version: EXPORT_VERSION,
                    chats: exported,
                };
                serde_json::to_vec_pretty(&file).map_err(|e| HistoryError::Io(e.to_string()))?
            }
            ExportFormat::Markdown => exported
                .iter()
                .map(markdown)
                .collect::<Vec<_>>()
                .join("\n---\n\n")
                .into_bytes(),
        };
        path_guard::write_atomically(&target, &bytes).map_err(|error| {
            HistoryError::Io(format!("cannot write {}: {error}", target.display()))
        })?;
        Ok(ExportSummary {
            path: target.display().to_string(),
            chats: count,
            damaged,
        })
    }

    /// Import a JSON export. Chats whose id exists are skipped.
    pub fn import(&self, path: &str) -> Result<ImportSummary, HistoryError> {
        let source = path_guard::for_reading(path, self.home())?;
        let size = std::fs::metadata(&source)
            .map_err(|error| HistoryError::Io(error.to_string()))?
            .len();
        if size > MAX_IMPORT_BYTES {
            return Err(HistoryError::BadImport(format!(
                "the file is larger than {} MiB",
                MAX_IMPORT_BYTES >> 20
            )));
        }
        let bytes = std::fs::read(&source).map_err(|error| {
            HistoryError::Io(format!("cannot read {}: {error}", source.display()))
        })?;
        let file: ExportFile = serde_json::from_slice(&bytes)
            .map_err(|error| HistoryError::BadImport(error.to_string()))?;
        if file.format != EXPORT_FORMAT || file.version != EXPORT_VERSION {
            return Err(HistoryError::BadImport(format!(
                "format {:?} version {}, expected {EXPORT_FORMAT:?} version {EXPORT_VERSION}",
                file.format, file.version
            )));
        }
        let mut summary = ImportSummary {
            imported: 0,
            skipped: 0,
        };
        self.vault.write(|tx| {
            for ExportedChat { mut chat, messages } in file.chats {
                // Ids become database keys, which must carry no meaning: accept only ours.
                if !is_record_id(&chat.id) {
                    chat.id = new_id()?;
                }
                if tx.view().has_chat(&chat.id) {
                    summary.skipped += 1;
                    continue;
                }
                chat.message_count = messages.len() as u64;
                tx.create_chat(&chat.id, encode(&chat)?, chat.updated_at)?;
                for (seq, mut message) in messages.into_iter().enumerate() {
                    if !is_record_id(&message.id) {
                        message.id = new_id()?;
                    }
                    message.seq = seq as u64;
                    tx.put_message(&chat.id, &message.id, &encode(&message)?)?;
                }
                summary.imported += 1;
            }
            Ok::<_, HistoryError>(())
        })?;
        Ok(summary)
    }
}

/// Whether `id` looks like one of our random ids (32 lowercase hex digits).
fn is_record_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn markdown(exported: &ExportedChat) -> String {
    let chat = &exported.chat;
    let mut out = format!(
        "# {}\n\n- Provider: {} · Model: {}\n- Created: {} · Updated: {}\n\n",
        if chat.title.is_empty() {
            "Untitled chat"
        } else {
            &chat.title
        },
        chat.provider,
        chat.model,
        rfc3339(chat.created_at),
        rfc3339(chat.updated_at)
    );
    if let Some(system) = &chat.system {
        out.push_str(&format!("**System:** {system}\n\n"));
    }
    for message in &exported.messages {
        let who = match message.role {
            Role::System => "System",
            Role::User => "User",
            Role::Assistant => "Assistant",
        };
        out.push_str(&format!(
            "## {who} ({})\n\n{}\n\n",
            rfc3339(message.created_at),
            message.content.trim_end()
        ));
        if message.status != super::MessageStatus::Complete {
            out.push_str(&format!("_({:?})_\n\n", message.status).to_lowercase());
        }
    }
    out
}
