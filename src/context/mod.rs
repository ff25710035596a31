//! Context beyond the selection: what an editor attaches to a message (regions, whole buffers,
//! files, diagnostics, the git diff, a web page), turned into prompt text the same way for every
//! editor, with the secret guard run over all of it before anything leaves, and a manifest of
//! exactly what was sent.
//!
//! Files are read and git is run by the backend, inside the project root the client names;
//! web pages are fetched under the providers' TLS rules. Each has its own module; this one
//! holds the items, their rendering and the assembly of one turn.

mod files;
mod git;
pub mod guard;
pub mod instructions;
mod web;

use serde::Deserialize;

pub use files::Root;
pub use guard::Guard;

use crate::config::ContextConfig;
use crate::history::path_guard::PathRefused;
use crate::history::{Manifest, ManifestItem, ManifestPart, RefusedItem};
use crate::http_client::Clients;

/// A region of code the user selected (also `chat/rewrite`'s region).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeRegion {
    pub path: Option<String>,
    pub language: Option<String>,
    pub start_line: Option<u64>,
    pub end_line: Option<u64>,
    pub text: String,
}

/// A whole editor buffer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BufferItem {
    pub path: Option<String>,
    pub language: Option<String>,
    pub text: String,
}

/// One diagnostic with its code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Diagnostic {
    pub line: u64,
    pub end_line: Option<u64>,
    pub severity: Option<String>,
    pub message: String,
    pub source: Option<String>,
    /// The line(s) of code it is about.
    pub text: Option<String>,
}

/// An editor's diagnostics for one buffer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiagnosticsItem {
    pub path: Option<String>,
    pub language: Option<String>,
    pub items: Vec<Diagnostic>,
}

/// One context item, by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ContextItem {
    Region(CodeRegion),
    Buffer(BufferItem),
    #[serde(rename_all = "camelCase")]
    File {
        path: String,
    },
    Diagnostics(DiagnosticsItem),
    #[serde(rename_all = "camelCase")]
    GitDiff {
        #[serde(default)]
        staged: bool,
    },
    Url {
        url: String,
    },
}

/// Context items as sent: an item without `kind` is a `region`, what clients sent before
/// there were other kinds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Items(pub Vec<ContextItem>);

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let values = Vec::<serde_json::Value>::deserialize(deserializer)?;
        let mut items = Vec::with_capacity(values.len());
        for (index, mut value) in values.into_iter().enumerate() {
            if let Some(fields) = value.as_object_mut() {
                fields
                    .entry("kind")
                    .or_insert_with(|| serde_json::Value::from("region"));
            }
            // Through the params reader, so the error names the field and never quotes a value.
            let item = crate::protocol::params::from_value_at(value, &format!("[{index}]"))
                .map_err(|error| D::Error::custom(error.to_string()))?;
            items.push(item);
        }
        Ok(Items(items))
    }
}

/// What a turn asks to send.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub content: String,
    pub items: Vec<ContextItem>,
    /// The project root files and git are read in.
    pub root: Option<String>,
    /// Send secrets as they are, this once.
    pub allow_secrets: bool,
    /// Sensitive files confirmed for this send (paths as given, relative to the root).
    pub allow_files: Vec<String>,
}

/// The user message as it will be sent, and its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembled {
    pub text: String,
    pub manifest: Manifest,
    /// Trusted project instructions, for the system prompt (filled in by the chat service,
    /// which knows what the user trusted).
    pub instructions: Option<String>,
}

impl Assembled {
    /// The manifest worth saving: none for a plain message the guard left alone.
    pub fn saved_manifest(&self) -> Option<Manifest> {
        let plain = self.manifest.items.is_empty()
            && self.manifest.refused.is_empty()
            && self.manifest.message.redactions.is_empty()
            && self.manifest.instructions.is_none()
            && !self.manifest.allow_secrets;
        (!plain).then(|| self.manifest.clone())
    }
}

/// Why a turn's context could not be gathered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    Path(#[from] PathRefused),
    /// A file the user must confirm for this send (or one that cannot be sent at all).
    #[error("{path}: {why}")]
    Refused {
        path: String,
        /// `sensitive`, `gitIgnored`, `binary`, `tooLarge`.
        reason: &'static str,
        why: String,
    },
    /// git or a web page could not be had.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Invalid(String),
}

/// The token estimate the manifest shows: a quarter of the bytes, rounded up.
pub fn estimate_tokens(bytes: usize) -> u64 {
    bytes.div_ceil(4) as u64
}

/// Gather every item, run the guard, and build the message and its manifest.
pub async fn assemble(
    request: Request,
    config: &ContextConfig,
    clients: &Clients,
    guard: &Guard,
) -> Result<Assembled, ContextError> {
    let root = match &request.root {
        Some(root) => Some(files::Root::open(root)?),
        None => None,
    };
    let needs_root = |what: &str| {
        ContextError::Invalid(format!(
            "a {what} item needs the project root (`root`) to read from"
        ))
    };
    let guarding = config.guard && !request.allow_secrets;
    let mut manifest = Manifest {
        allow_secrets: request.allow_secrets,
        allow_files: request.allow_files.clone(),
        ..Manifest::default()
    };
    let (content, redactions) = if guarding {
        guard.redact(&request.content)
    } else {
        (request.content.clone(), Vec::new())
    };
    manifest.message = ManifestPart {
        bytes: content.len() as u64,
        tokens: estimate_tokens(content.len()),
        redactions,
    };
    let mut text = content.trim_end().to_string();
    let mut context_bytes: u64 = 0;
    let file_paths: Vec<&str> = request
        .items
        .iter()
        .filter_map(|item| match item {
            ContextItem::File { path } => Some(path.as_str()),
            _ => None,
        })
        .collect();
    let ignored = match (&root, file_paths.is_empty()) {
        (Some(root), false) => files::ignored_among(root, &file_paths, config).await?,
        _ => Default::default(),
    };
    for (index, item) in request.items.iter().enumerate() {
        let pieces: Vec<Piece> = match item {
            ContextItem::Region(region) => vec![Piece::region(region)],
            ContextItem::Buffer(buffer) => vec![Piece::buffer(buffer)],
            ContextItem::Diagnostics(diagnostics) => vec![Piece::diagnostics(diagnostics)],
            ContextItem::File { path } => {
                let root = root.as_ref().ok_or_else(|| needs_root("file"))?;
                let (found, refused) =
                    files::read(root, path, &request.allow_files, &ignored, config).await?;
                manifest
                    .refused
                    .extend(refused.into_iter().map(|r| RefusedItem {
                        kind: "file".into(),
                        path: r.path,
                        reason: r.reason.into(),
                    }));
                found.into_iter().map(Piece::file).collect()
            }
            ContextItem::GitDiff { staged } => {
                let root = root.as_ref().ok_or_else(|| needs_root("gitDiff"))?;
                vec![Piece::git_diff(
                    git::diff(root.path(), *staged, config).await?,
                    *staged,
                )]
            }
            ContextItem::Url { url } => {
                vec![Piece::page(web::fetch(url, clients, config).await?)]
            }
        };
        for piece in pieces {
            let (body, redactions) = if guarding {
                guard.redact(&piece.body)
            } else {
                (piece.body.clone(), Vec::new())
            };
            context_bytes += body.len() as u64;
            if context_bytes > config.max_turn_bytes {
                return Err(ContextError::Invalid(format!(
                    "context[{index}] ({}): the context of one message is over {} bytes (`[context] max_turn_bytes`)",
                    piece.label, config.max_turn_bytes
                )));
            }
            text.push_str("\n\n");
            text.push_str(&piece.render(&body));
            manifest.items.push(ManifestItem {
                kind: piece.kind.into(),
                label: piece.label,
                part: ManifestPart {
                    bytes: body.len() as u64,
                    tokens: estimate_tokens(body.len()),
                    redactions,
                },
            });
        }
    }
    manifest.total_bytes = text.len() as u64;
    manifest.total_tokens = estimate_tokens(text.len());
    Ok(Assembled {
        text,
        manifest,
        instructions: None,
    })
}

/// One block of context before the guard: its heading, its text and how to fence it.
struct Piece {
    kind: &'static str,
    label: String,
    heading: String,
    language: String,
    body: String,
}

impl Piece {
    fn region(region: &CodeRegion) -> Piece {
        let mut heading = match &region.path {
            Some(path) if !path.is_empty() => format!("`{path}`"),
            _ => "Selected code".to_string(),
        };
        match (region.start_line, region.end_line) {
            (Some(start), Some(end)) if end > start => {
                heading.push_str(&format!(" lines {start}-{end}"))
            }
            (Some(start), _) => heading.push_str(&format!(" line {start}")),
            _ => {}
        }
        Piece {
            kind: "region",
            label: heading.trim_matches('`').replace("` ", " "),
            heading,
            language: region.language.clone().unwrap_or_default(),
            body: region.text.clone(),
        }
    }

    fn buffer(buffer: &BufferItem) -> Piece {
        let name = buffer
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "an unnamed buffer".into());
        Piece {
            kind: "buffer",
            heading: format!("`{name}` (the whole buffer)"),
            label: name,
            language: buffer.language.clone().unwrap_or_default(),
            body: buffer.text.clone(),
        }
    }

    fn diagnostics(diagnostics: &DiagnosticsItem) -> Piece {
        let name = diagnostics
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "the buffer".into());
        let mut body = String::new();
        for d in &diagnostics.items {
            let lines = match d.end_line {
                Some(end) if end > d.line => format!("lines {}-{end}", d.line),
                _ => format!("line {}", d.line),
            };
            let severity = d.severity.as_deref().unwrap_or("note");
            let source = d
                .source
                .as_deref()
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default();
            body.push_str(&format!(
                "{lines}: {severity}{source}: {}\n",
                d.message.trim()
            ));
            if let Some(code) = d.text.as_deref().filter(|t| !t.trim().is_empty()) {
                for line in code.trim_end().lines() {
                    body.push_str(&format!("    | {line}\n"));
                }
            }
        }
        Piece {
            kind: "diagnostics",
            heading: format!("Diagnostics for `{name}`"),
            label: format!("diagnostics: {name}"),
            language: "text".into(),
            body,
        }
    }

    fn file(file: files::FileText) -> Piece {
        Piece {
            kind: "file",
            heading: format!("`{}`", file.path),
            language: files::language_of(&file.path).to_string(),
            label: file.path,
            body: file.text,
        }
    }

    fn git_diff(diff: git::Diff, staged: bool) -> Piece {
        let what = if staged {
            "git diff --cached"
        } else {
            "git diff"
        };
        let cut = if diff.cut {
            " (cut at the size cap)"
        } else {
            ""
        };
        let empty = if diff.text.is_empty() {
            " (no changes)"
        } else {
            ""
        };
        Piece {
            kind: "gitDiff",
            heading: format!("`{what}`{cut}{empty}"),
            label: format!("{what}{cut}"),
            language: "diff".into(),
            body: diff.text,
        }
    }

    fn page(page: web::Page) -> Piece {
        let cut = if page.cut {
            " (cut at the size cap)"
        } else {
            ""
        };
        Piece {
            kind: "url",
            heading: format!("The page {}{cut}", page.url),
            label: page.url,
            language: "text".into(),
            body: page.text,
        }
    }

    /// The block as it goes into the message, with `body` (the guarded text).
    fn render(&self, body: &str) -> String {
        let fence = fence_for(body);
        let body = body.strip_suffix('\n').unwrap_or(body);
        format!(
            "{}:\n{fence}{}\n{body}\n{fence}",
            self.heading, self.language
        )
    }
}

/// A fence longer than any run of backticks in `text`, so the text cannot close it.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// One region as a labelled, fenced block (`chat/rewrite` uses it too).
pub fn format_region(region: &CodeRegion) -> String {
    let piece = Piece::region(region);
    piece.render(&piece.body)
}
