//! Files for context, read by the backend inside the project root the client names.
//!
//! A path is relative to the root; `..` that would leave it, absolute paths and symlinks that
//! lead out are refused, as exports refuse places outside the home folder. Each file is opened
//! without following a final symlink and checked again, through the descriptor, to be inside
//! the root: a folder swapped for a symlink between the check and the read cannot redirect it.
//! Sensitive files (`.env*`, keys) and files git ignores are sent only when the user confirms
//! them for that send; binary files never.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Component, Path, PathBuf};

use super::{ContextError, git};
use crate::config::ContextConfig;
use crate::history::path_guard::PathRefused;

/// The project root, resolved.
pub struct Root {
    path: PathBuf,
}

impl Root {
    /// `root` must be an absolute path to a folder.
    pub fn open(root: &str) -> Result<Root, ContextError> {
        let given = PathBuf::from(root);
        if !given.is_absolute() {
            return Err(refuse(
                root,
                "relative",
                "the project root must be an absolute path",
            )
            .into());
        }
        let path = given.canonicalize().map_err(|error| {
            refuse(
                root,
                "unreadable",
                format!("cannot open the project root: {error}"),
            )
        })?;
        if !path.is_dir() {
            return Err(refuse(root, "notAFolder", "the project root is not a folder").into());
        }
        Ok(Root { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A file's text, with its path relative to the root.
pub struct FileText {
    pub path: String,
    pub text: String,
}

/// A file a glob matched and left out.
pub struct Refusal {
    pub path: String,
    pub reason: &'static str,
}

fn refuse(path: &str, kind: &'static str, reason: impl Into<String>) -> PathRefused {
    PathRefused {
        path: path.to_string(),
        kind,
        reason: reason.into(),
    }
}

/// Whether `path` holds glob characters.
fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// `path` relative to the root, with `.` and `..` worked out, or a refusal if it is absolute
/// or climbs out.
fn relative(path: &str) -> Result<Vec<String>, PathRefused> {
    let outside = || {
        refuse(
            path,
            "outsideRoot",
            "only files inside the project root are read",
        )
    };
    let mut parts: Vec<String> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop().ok_or_else(outside)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    if parts.is_empty() {
        return Err(refuse(
            path,
            "notAFile",
            "name a file, or a glob such as src/**/*.rs",
        ));
    }
    Ok(parts)
}

/// Names that hold secrets more often than not.
pub fn is_sensitive(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with(".env")
        || name.ends_with(".pem")
        || name.ends_with(".key")
        || name.starts_with("id_rsa")
        || name.starts_with("id_ed25519")
}

/// Which of the single files named (not globs) git ignores, asked of git once for all of them:
/// one process per file would cost more than reading megabytes.
pub async fn ignored_among(
    root: &Root,
    paths: &[&str],
    config: &ContextConfig,
) -> Result<HashSet<String>, ContextError> {
    let mut single = Vec::new();
    for path in paths.iter().filter(|p| !is_glob(p)) {
        single.push(relative(path)?.join("/"));
    }
    Ok(git::ignored(root.path(), &single, config)
        .await?
        .into_iter()
        .collect())
}

/// Read the file or the files of a glob. A single file that cannot be sent is an error (the
/// sensitive and ignored ones say how to confirm them); a glob leaves such files out and
/// lists them. `ignored` is what [`ignored_among`] found.
pub async fn read(
    root: &Root,
    pattern: &str,
    allow: &[String],
    ignored: &HashSet<String>,
    config: &ContextConfig,
) -> Result<(Vec<FileText>, Vec<Refusal>), ContextError> {
    let parts = relative(pattern)?;
    let allowed = |path: &str| {
        allow
            .iter()
            .any(|a| relative(a).is_ok_and(|p| p.join("/") == path))
    };
    if !is_glob(pattern) {
        let path = parts.join("/");
        if !allowed(&path) {
            if is_sensitive(&path) {
                return Err(ContextError::Refused {
                    why: "this file often holds secrets: confirm it to send it this once".into(),
                    path,
                    reason: "sensitive",
                });
            }
            if ignored.contains(&path) {
                return Err(ContextError::Refused {
                    why: "git ignores this file: confirm it to send it this once".into(),
                    path,
                    reason: "gitIgnored",
                });
            }
        }
        let root_path = root.path().to_path_buf();
        let cap = config.max_file_bytes;
        let text = tokio::task::spawn_blocking(move || read_one(&root_path, &path, cap))
            .await
            .map_err(|error| ContextError::Unavailable(error.to_string()))??;
        return Ok((vec![text], Vec::new()));
    }

    // A glob: over what git shows (tracked, and untracked but not ignored), else the folder.
    let candidates = match git::visible_files(root.path(), config).await? {
        Some(files) => files,
        None => {
            let root_path = root.path().to_path_buf();
            tokio::task::spawn_blocking(move || walk(&root_path))
                .await
                .map_err(|error| ContextError::Unavailable(error.to_string()))??
        }
    };
    let pattern_parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let matched: Vec<String> = candidates
        .into_iter()
        .filter(|path| glob_match(&pattern_parts, &path.split('/').collect::<Vec<_>>()))
        .collect();
    if matched.len() > config.max_files {
        return Err(ContextError::Invalid(format!(
            "{pattern} matches {} files, more than {} (`[context] max_files`)",
            matched.len(),
            config.max_files
        )));
    }
    let root_path = root.path().to_path_buf();
    let cap = config.max_file_bytes;
    let allowed: Vec<bool> = matched.iter().map(|p| allowed(p)).collect();
    tokio::task::spawn_blocking(move || {
        let mut found = Vec::new();
        let mut refused = Vec::new();
        for (path, allowed) in matched.into_iter().zip(allowed) {
            if is_sensitive(&path) && !allowed {
                refused.push(Refusal {
                    path,
                    reason: "sensitive",
                });
                continue;
            }
            match read_one(&root_path, &path, cap) {
                Ok(text) => found.push(text),
                Err(ContextError::Refused { path, reason, .. }) => {
                    refused.push(Refusal { path, reason })
                }
                // A symlink out of the root, a file gone meanwhile: left out too.
                Err(ContextError::Path(_)) => refused.push(Refusal {
                    path,
                    reason: "outsideRoot",
                }),
                Err(other) => return Err(other),
            }
        }
        Ok((found, refused))
    })
    .await
    .map_err(|error| ContextError::Unavailable(error.to_string()))?
}

/// Read one file (relative to `root`), refusing escapes, binaries and files over `cap`.
pub fn read_one(root: &Path, path: &str, cap: u64) -> Result<FileText, ContextError> {
    let full = root.join(path);
    let real = full
        .canonicalize()
        .map_err(|error| refuse(path, "unreadable", format!("cannot read it: {error}")))?;
    if !real.starts_with(root) {
        return Err(refuse(path, "symlink", "a symlink leads out of the project root").into());
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&real)
        .map_err(|error| refuse(path, "unreadable", format!("cannot read it: {error}")))?;
    let meta = file
        .metadata()
        .map_err(|error| refuse(path, "unreadable", error.to_string()))?;
    if !meta.is_file() {
        return Err(refuse(path, "notAFile", "not a regular file").into());
    }
    // Where the open file really is, whatever happened to the path since it was resolved.
    let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|error| refuse(path, "unreadable", error.to_string()))?;
    if !opened.starts_with(root) {
        return Err(refuse(path, "symlink", "a symlink leads out of the project root").into());
    }
    if meta.len() > cap {
        return Err(too_large(path, cap));
    }
    let mut bytes = Vec::new();
    (&mut file)
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| refuse(path, "unreadable", format!("cannot read it: {error}")))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(path, cap));
    }
    if bytes.contains(&0) {
        return Err(binary(path));
    }
    let text = String::from_utf8(bytes).map_err(|_| binary(path))?;
    Ok(FileText {
        path: path.to_string(),
        text,
    })
}

fn too_large(path: &str, cap: u64) -> ContextError {
    ContextError::Refused {
        path: path.to_string(),
        reason: "tooLarge",
        why: format!("larger than {cap} bytes (`[context] max_file_bytes`)"),
    }
}

fn binary(path: &str) -> ContextError {
    ContextError::Refused {
        path: path.to_string(),
        reason: "binary",
        why: "a binary file (not UTF-8 text) cannot be sent".into(),
    }
}

/// The most entries a glob outside git walks.
const MAX_WALK: usize = 100_000;

/// Every file under `root` outside git: never into `.git` or hidden folders, never through
/// symlinked folders.
fn walk(root: &Path) -> Result<Vec<String>, ContextError> {
    let mut files = Vec::new();
    let mut folders = vec![String::new()];
    let mut seen = 0;
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_WALK {
                return Err(ContextError::Invalid(format!(
                    "the project root holds more than {MAX_WALK} entries: name a narrower glob"
                )));
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if folder.is_empty() {
                name.clone()
            } else {
                format!("{folder}/{name}")
            };
            match entry.file_type() {
                Ok(kind) if kind.is_dir() && !name.starts_with('.') => folders.push(path),
                Ok(kind) if kind.is_file() || kind.is_symlink() => files.push(path),
                // Hidden folders (`.git` among them) are not walked.
                _ => {}
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `path` (split at `/`) matches the glob `pattern` (split at `/`): `**` is any
/// number of folders, `*` any run of characters within a name, `?` one character. A name
/// starting with `.` is matched only by a pattern part starting with `.`.
pub fn glob_match(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(&"**"), _) => {
            glob_match(&pattern[1..], path)
                || (!path.is_empty()
                    && !path[0].starts_with('.')
                    && glob_match(pattern, &path[1..]))
        }
        (Some(_), None) => false,
        (Some(part), Some(name)) => {
            (!name.starts_with('.') || part.starts_with('.'))
                && name_match(part.as_bytes(), name.as_bytes())
                && glob_match(&pattern[1..], &path[1..])
        }
    }
}

fn name_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            name_match(&pattern[1..], name) || (!name.is_empty() && name_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => name_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => name_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The fence language for a file name.
pub fn language_of(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match extension {
        "rs" => "rust",
        "py" => "python",
        "js" | "mjs" | "cjs" => "javascript",
        "ts" => "typescript",
        "tsx" => "tsx",
        "jsx" => "jsx",
        "go" => "go",
        "c" | "h" => "c",
        "cc" | "cpp" | "hpp" | "cxx" => "cpp",
        "java" => "java",
        "kt" => "kotlin",
        "rb" => "ruby",
        "lua" => "lua",
        "el" => "elisp",
        "sh" | "bash" => "sh",
        "toml" => "toml",
        "yaml" | "yml" => "yaml",
        "json" => "json",
        "md" => "markdown",
        "html" => "html",
        "css" => "css",
        "sql" => "sql",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        glob_match(
            &pattern.split('/').collect::<Vec<_>>(),
            &path.split('/').collect::<Vec<_>>(),
        )
    }

    #[test]
    fn globs() {
        assert!(m("src/**/*.rs", "src/main.rs"));
        assert!(m("src/**/*.rs", "src/a/b/c.rs"));
        assert!(!m("src/**/*.rs", "tests/a.rs"));
        assert!(m("*.toml", "Cargo.toml"));
        assert!(!m("*.toml", "a/Cargo.toml"));
        assert!(m("**/*.md", "docs/x.md"));
        assert!(!m("**/*", ".env"), "hidden names need a dot in the pattern");
        assert!(m(".env*", ".env.local"));
        assert!(m("src/?.rs", "src/a.rs"));
    }

    #[test]
    fn paths_stay_inside() {
        assert!(relative("../x").is_err());
        assert!(relative("/etc/passwd").is_err());
        assert!(relative("a/../../x").is_err());
        assert_eq!(relative("a/./b/../c").unwrap(), ["a", "c"]);
    }

    #[test]
    fn sensitive_names() {
        for name in [
            ".env",
            "app/.env.production",
            "server.pem",
            "tls.key",
            "id_rsa.pub",
            "id_ed25519",
        ] {
            assert!(is_sensitive(name), "{name}");
        }
        assert!(!is_sensitive("src/env.rs"));
        assert!(!is_sensitive("keys.rs"));
    }
}
