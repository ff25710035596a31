//! `history/export` (Markdown for people, JSON for `history/import`) and `history/import`.

use serde::{Deserialize, Serialize};

use super::path_guard;
use super::records::{ChatRecord, DamagedChat, MessageRecord, Role};
use super::tree::Tree;
use super::{History, HistoryError, MAX_TITLE_CHARS, encode};
use crate::clock::{self, rfc3339};
use crate::config::check_model_name;
use crate::protocol::params::{ValueError, from_value, from_value_at};
use crate::store::sealed::new_id;

/// Chats imported per transaction.
const IMPORT_CHUNK: usize = 500;

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
/// Version 2 keeps the whole tree (`parentId` on every message, `leafId` on the chat);
/// version 1 files (one line of messages) are still read.
const EXPORT_VERSION: u32 = 2;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportFile {
    format: &'static str,
    version: u32,
    chats: Vec<serde_json::Value>,
}

struct ExportedChat {
    chat: ChatRecord,
    messages: Vec<MessageRecord>,
}

impl ExportedChat {
    /// The chat with its tree spelled out: every message's parent, and the current leaf, even
    /// for chats saved before trees (whose messages name none).
    fn new(mut chat: ChatRecord, mut messages: Vec<MessageRecord>) -> Self {
        let tree = Tree::new(&messages);
        let parents: Vec<Option<String>> = (0..tree.len())
            .map(|at| tree.parent(at).map(|p| tree.message(p).id.clone()))
            .collect();
        chat.leaf_id = tree
            .leaf(chat.leaf_id.as_deref())
            .map(|at| tree.message(at).id.clone());
        for (message, parent) in messages.iter_mut().zip(parents) {
            message.root = parent.is_none();
            message.parent_id = parent;
        }
        ExportedChat { chat, messages }
    }

    /// As written in a JSON export: `parentId` on every message, null at the top.
    fn to_json(&self) -> Result<serde_json::Value, HistoryError> {
        let shape = |e: serde_json::Error| HistoryError::Io(e.to_string());
        let mut chat = serde_json::to_value(&self.chat).map_err(shape)?;
        let mut messages = Vec::with_capacity(self.messages.len());
        for message in &self.messages {
            let mut value = serde_json::to_value(message).map_err(shape)?;
            if let Some(fields) = value.as_object_mut() {
                fields.remove("root");
                fields.insert("parentId".into(), serde_json::json!(message.parent_id));
            }
            messages.push(value);
        }
        chat["messages"] = serde_json::Value::Array(messages);
        Ok(chat)
    }
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
                let (chat, messages) = self.chat_with_messages(id)?;
                (vec![ExportedChat::new(chat, messages)], Vec::new())
            }
            None => {
                let (chats, damaged) = self.everything()?;
                let exported = chats
                    .into_iter()
                    .map(|(chat, messages)| ExportedChat::new(chat, messages))
                    .collect::<Vec<_>>();
                (exported, damaged)
            }
        };
        let mut exported = exported;
        for chat in &mut exported {
            // As in `history/get`: errors saved by earlier versions may hold a key.
            for message in &mut chat.messages {
                if let Some(error) = &mut message.error {
                    *error = crate::redact::scrub(error, &[]);
                }
            }
        }
        let count = exported.len();
        let bytes = match format {
            ExportFormat::Json => {
                let file = ExportFile {
                    format: EXPORT_FORMAT,
                    version: EXPORT_VERSION,
                    chats: exported
                        .iter()
                        .map(ExportedChat::to_json)
                        .collect::<Result<_, _>>()?,
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
        let chats = read_import(&bytes)?;
        let mut summary = ImportSummary {
            imported: 0,
            skipped: 0,
        };
        // In chunks: each is one vault transaction and one database batch. A chunk is all or
        // nothing; a huge import in one batch would leave sled a log it replays at every start.
        let mut chats = chats.into_iter().peekable();
        while chats.peek().is_some() {
            let chunk: Vec<ExportedChat> = chats.by_ref().take(IMPORT_CHUNK).collect();
            self.import_chunk(chunk, &mut summary)?;
        }
        Ok(summary)
    }

    fn import_chunk(
        &self,
        chats: Vec<ExportedChat>,
        summary: &mut ImportSummary,
    ) -> Result<(), HistoryError> {
        self.vault.write(|tx| {
            for ExportedChat { mut chat, messages } in chats {
                // Ids become database keys, which must carry no meaning: accept only ours.
                if !is_record_id(&chat.id) {
                    chat.id = new_id()?;
                }
                if tx.view().has_chat(&chat.id) {
                    summary.skipped += 1;
                    continue;
                }
                chat.message_count = messages.len() as u64;
                // Message ids that are not ours get new ones, and the links follow them.
                let mut renamed = std::collections::HashMap::new();
                let mut messages = messages;
                for message in &mut messages {
                    if !is_record_id(&message.id) {
                        let id = new_id()?;
                        renamed.insert(std::mem::replace(&mut message.id, id.clone()), id);
                    }
                }
                let follow = |id: &mut Option<String>| {
                    if let Some(new) = id.as_ref().and_then(|old| renamed.get(old)) {
                        *id = Some(new.clone());
                    }
                };
                follow(&mut chat.leaf_id);
                tx.create_chat(&chat.id, encode(&chat)?, chat.updated_at)?;
                tx.set_tag(&chat.id, chat.kind.tag());
                for (seq, mut message) in messages.into_iter().enumerate() {
                    follow(&mut message.parent_id);
                    message.seq = seq as u64;
                    tx.put_message(&chat.id, &message.id, &encode(&message)?)?;
                }
                summary.imported += 1;
            }
            Ok::<_, HistoryError>(())
        })
    }
}

/// The chats of an export, each checked: nothing is imported from a file holding a value
/// that a later read could not handle, and the error names the chat and the field. Errors
/// never quote a value (the file is plain text that may hold anything).
fn read_import(bytes: &[u8]) -> Result<Vec<ExportedChat>, HistoryError> {
    /// The envelope; chats stay JSON until each is read on its own, so that error paths
    /// reach into them (serde loses the path inside the flattened chat fields).
    #[derive(Deserialize)]
    struct Envelope {
        format: String,
        version: u32,
        chats: Vec<serde_json::Value>,
    }

    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| HistoryError::BadImport(format!("not JSON: {error}")))?;
    let envelope: Envelope = from_value(value).map_err(bad_value)?;
    if envelope.format != EXPORT_FORMAT || !(1..=EXPORT_VERSION).contains(&envelope.version) {
        return Err(HistoryError::BadImport(format!(
            "expected format {EXPORT_FORMAT:?} version 1 to {EXPORT_VERSION}"
        )));
    }
    let tree = envelope.version >= 2;
    let mut chats = Vec::with_capacity(envelope.chats.len());
    for (index, mut value) in envelope.chats.into_iter().enumerate() {
        let at = format!("chats[{index}]");
        let messages = value
            .as_object_mut()
            .and_then(|chat| chat.remove("messages"));
        let chat: ChatRecord = from_value_at(value, &at).map_err(bad_value)?;
        let Some(messages) = messages else {
            return Err(HistoryError::BadImportValue {
                field: at,
                chat_id: None,
                problem: "missing field `messages`".into(),
            });
        };
        let mut messages = messages;
        let mut roots = Vec::new();
        if let Some(list) = messages.as_array_mut() {
            for message in list {
                let Some(fields) = message.as_object_mut() else {
                    continue;
                };
                // `root` is how records say "no parent"; exports say it with a null parentId.
                fields.remove("root");
                roots.push(tree && fields.get("parentId").is_none_or(|p| p.is_null()));
            }
        }
        let mut messages: Vec<MessageRecord> =
            from_value_at(messages, &format!("{at}.messages")).map_err(bad_value)?;
        for (message, root) in messages.iter_mut().zip(roots) {
            message.root = root;
        }
        let mut chat = chat;
        if !tree {
            // Version 1 had no tree: one line of messages, ending at the newest.
            chat.leaf_id = None;
            for message in &mut messages {
                message.parent_id = None;
            }
        }
        check_imported(&at, &chat, &messages)?;
        if tree {
            check_tree(&at, &chat, &messages)?;
        }
        chats.push(ExportedChat { chat, messages });
    }
    Ok(chats)
}

fn bad_value(error: ValueError) -> HistoryError {
    if error.path.is_empty() {
        return HistoryError::BadImport(error.problem.to_string());
    }
    HistoryError::BadImportValue {
        field: error.path,
        chat_id: None,
        problem: error.problem.to_string(),
    }
}

/// The longest text field imported (the frame limit: nothing longer can have been sent).
const MAX_TEXT_BYTES: usize = 16 * 1024 * 1024;

/// The longest provider name or finish reason imported.
const MAX_NAME_BYTES: usize = 200;

/// The largest token count imported: editors' JSON readers (Lua, Emacs Lisp floats) are exact
/// only up to 2^53.
const MAX_TOKENS: u64 = (1 << 53) - 1;

/// Refuse values the read paths cannot show: times outside what RFC 3339 can write (before
/// 1970 or after year 9999), texts longer than anything chinwag writes, token counts editors
/// cannot read exactly, model names chat requests would refuse.
fn check_imported(
    at: &str,
    chat: &ChatRecord,
    messages: &[MessageRecord],
) -> Result<(), HistoryError> {
    let refuse = |field: String, problem: String| HistoryError::BadImportValue {
        field,
        chat_id: is_record_id(&chat.id).then(|| chat.id.clone()),
        problem,
    };
    let time = |field: String, millis: i64| {
        if clock::in_range(millis) {
            Ok(())
        } else {
            Err(refuse(
                field,
                format!(
                    "the time is out of range (Unix milliseconds from {} to {}, 1970 to the end of year 9999)",
                    clock::MIN_MILLIS,
                    clock::MAX_MILLIS
                ),
            ))
        }
    };
    let text = |field: String, value: &str, max: usize| {
        if value.len() <= max {
            Ok(())
        } else {
            Err(refuse(field, format!("longer than {max} bytes")))
        }
    };
    time(format!("{at}.createdAt"), chat.created_at)?;
    time(format!("{at}.updatedAt"), chat.updated_at)?;
    if chat.title.chars().count() > MAX_TITLE_CHARS {
        return Err(refuse(
            format!("{at}.title"),
            format!("longer than {MAX_TITLE_CHARS} characters"),
        ));
    }
    text(format!("{at}.provider"), &chat.provider, MAX_NAME_BYTES)?;
    if let Some(preset) = &chat.preset {
        text(format!("{at}.preset"), preset, MAX_NAME_BYTES)?;
    }
    check_model_name(&chat.model).map_err(|problem| refuse(format!("{at}.model"), problem))?;
    if let Some(system) = &chat.system {
        text(format!("{at}.system"), system, MAX_TEXT_BYTES)?;
    }
    for (index, message) in messages.iter().enumerate() {
        let at = format!("{at}.messages[{index}]");
        time(format!("{at}.createdAt"), message.created_at)?;
        text(format!("{at}.content"), &message.content, MAX_TEXT_BYTES)?;
        for (field, value) in [("reasoning", &message.reasoning), ("error", &message.error)] {
            if let Some(value) = value {
                text(format!("{at}.{field}"), value, MAX_TEXT_BYTES)?;
            }
        }
        if let Some(reason) = &message.finish_reason {
            text(format!("{at}.finishReason"), reason, MAX_NAME_BYTES)?;
        }
        if let Some(provider) = &message.provider {
            text(format!("{at}.provider"), provider, MAX_NAME_BYTES)?;
        }
        if let Some(model) = &message.model {
            check_model_name(model).map_err(|problem| refuse(format!("{at}.model"), problem))?;
        }
        if let Some(usage) = &message.usage {
            for (field, count) in [
                ("promptTokens", usage.prompt_tokens),
                ("completionTokens", usage.completion_tokens),
            ] {
                if count > MAX_TOKENS {
                    return Err(refuse(
                        format!("{at}.usage.{field}"),
                        format!("larger than {MAX_TOKENS}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Refuse links that name no message of the chat, a message id used twice, and parents that
/// loop: a tree that would not read back as it was written.
fn check_tree(at: &str, chat: &ChatRecord, messages: &[MessageRecord]) -> Result<(), HistoryError> {
    let refuse = |field: String, problem: &str| HistoryError::BadImportValue {
        field,
        chat_id: is_record_id(&chat.id).then(|| chat.id.clone()),
        problem: problem.into(),
    };
    let mut index = std::collections::HashMap::new();
    for (i, message) in messages.iter().enumerate() {
        if index.insert(message.id.as_str(), i).is_some() {
            return Err(refuse(
                format!("{at}.messages[{i}].id"),
                "another message of the chat has the same id",
            ));
        }
    }
    if let Some(leaf) = &chat.leaf_id
        && !index.contains_key(leaf.as_str())
    {
        return Err(refuse(
            format!("{at}.leafId"),
            "names no message of the chat",
        ));
    }
    let mut parent = vec![None; messages.len()];
    for (i, message) in messages.iter().enumerate() {
        if let Some(id) = &message.parent_id {
            match index.get(id.as_str()) {
                Some(&p) => parent[i] = Some(p),
                None => {
                    return Err(refuse(
                        format!("{at}.messages[{i}].parentId"),
                        "names no message of the chat",
                    ));
                }
            }
        }
    }
    if let Some(&looped) = super::tree::break_loops(&mut parent).first() {
        return Err(refuse(
            format!("{at}.messages[{looped}].parentId"),
            "the parents loop back to this message",
        ));
    }
    Ok(())
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
    // The current branch; where others leave it, a line says so.
    let tree = Tree::new(&exported.messages);
    for at in tree.branch(chat.leaf_id.as_deref()) {
        let message = tree.message(at);
        let who = match message.role {
            Role::System => "System".to_string(),
            Role::User => "User".to_string(),
            Role::Assistant => match (&message.provider, &message.model) {
                (Some(provider), Some(model)) => format!("Assistant ({provider}/{model})"),
                _ => "Assistant".to_string(),
            },
        };
        out.push_str(&format!("## {who} ({})\n\n", rfc3339(message.created_at)));
        let siblings = tree.siblings(at);
        if siblings.len() > 1 {
            let position = siblings.iter().position(|&s| s == at).unwrap_or(0) + 1;
            let what = match message.role {
                Role::Assistant => "answer",
                _ => "version",
            };
            out.push_str(&format!(
                "*{what} {position} of {}; the others are in chinwag and in the JSON export*\n\n",
                siblings.len()
            ));
        }
        out.push_str(&format!("{}\n\n", message.content.trim_end()));
        if message.status != super::MessageStatus::Complete {
            out.push_str(&format!("_({:?})_\n\n", message.status).to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file(chat: serde_json::Value) -> Vec<u8> {
        json!({"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "chats": [chat]})
            .to_string()
            .into_bytes()
    }

    fn chat() -> serde_json::Value {
        json!({"id": "", "title": "t", "provider": "p", "model": "m", "system": null,
               "createdAt": 0, "updatedAt": clock::MAX_MILLIS, "messageCount": 1,
               "messages": [{"id": "", "seq": 0, "role": "user", "content": "c",
                             "createdAt": 1, "status": "complete",
                             "usage": {"promptTokens": MAX_TOKENS, "completionTokens": 0}}]})
    }

    /// A change to the sample chat.
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;

    fn refused(edit: impl FnOnce(&mut serde_json::Value)) -> (String, String) {
        let mut chat = chat();
        edit(&mut chat);
        match read_import(&file(chat)) {
            Err(HistoryError::BadImportValue { field, problem, .. }) => (field, problem),
            other => panic!("expected a refusal, got {:?}", other.map(|c| c.len())),
        }
    }

    #[test]
    fn values_at_the_limits_are_imported() {
        assert_eq!(read_import(&file(chat())).unwrap().len(), 1);
    }

    #[test]
    fn values_reads_cannot_show_are_refused_by_field() {
        let cases: Vec<(&str, Edit)> = vec![
            (
                "chats[0].createdAt",
                Box::new(|c| c["createdAt"] = json!(-1)),
            ),
            (
                "chats[0].updatedAt",
                Box::new(|c| c["updatedAt"] = json!(clock::MAX_MILLIS + 1)),
            ),
            (
                "chats[0].messages[0].createdAt",
                Box::new(|c| c["messages"][0]["createdAt"] = json!(i64::MAX)),
            ),
            (
                "chats[0].messageCount",
                Box::new(|c| c["messageCount"] = json!(-3)),
            ),
            (
                "chats[0].messages[0].seq",
                Box::new(|c| c["messages"][0]["seq"] = json!(-1)),
            ),
            (
                "chats[0].messages[0].usage.promptTokens",
                Box::new(|c| c["messages"][0]["usage"]["promptTokens"] = json!(MAX_TOKENS + 1)),
            ),
            (
                "chats[0].title",
                Box::new(|c| c["title"] = json!("x".repeat(201))),
            ),
            (
                "chats[0].model",
                Box::new(|c| c["model"] = json!("two words")),
            ),
            (
                "chats[0].messages[0].model",
                Box::new(|c| c["messages"][0]["model"] = json!("two words")),
            ),
            (
                "chats[0].messages[0].provider",
                Box::new(|c| c["messages"][0]["provider"] = json!("p".repeat(MAX_NAME_BYTES + 1))),
            ),
            (
                "chats[0].provider",
                Box::new(|c| c["provider"] = json!("p".repeat(MAX_NAME_BYTES + 1))),
            ),
            (
                "chats[0].messages[0].role",
                Box::new(|c| c["messages"][0]["role"] = json!("sk-proj-SECRETSECRET0123456789")),
            ),
            (
                "chats[0]",
                Box::new(|c| {
                    c.as_object_mut().unwrap().remove("messages");
                }),
            ),
        ];
        for (field, edit) in cases {
            let (found, problem) = refused(edit);
            assert_eq!(found, field, "{problem}");
            assert!(!problem.contains("SECRET"), "{problem}");
        }
    }

    #[test]
    fn a_refused_chat_is_named_by_its_id_when_it_is_ours() {
        let mut chat = chat();
        chat["id"] = json!("0123456789abcdef0123456789abcdef");
        chat["createdAt"] = json!(-5);
        match read_import(&file(chat)) {
            Err(HistoryError::BadImportValue { chat_id, .. }) => {
                assert_eq!(chat_id.as_deref(), Some("0123456789abcdef0123456789abcdef"))
            }
            other => panic!("{:?}", other.map(|c| c.len())),
        }
    }
}
