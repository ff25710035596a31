//! Project instructions: a `.chinwag.md` (or else `AGENTS.md`) at the project root joins the
//! system prompt, but only once the user has trusted that exact content: a repository someone
//! else wrote must not steer the model unseen. The vault remembers a fingerprint of the root
//! and the content; a changed file is asked about again.

use sha2::{Digest, Sha256};

use super::ContextError;
use super::files::{self, Root};

/// The names looked for, in order.
pub const NAMES: [&str; 2] = [".chinwag.md", "AGENTS.md"];

/// The instructions found at a root.
pub struct Instructions {
    /// The file's name, relative to the root.
    pub path: String,
    pub text: String,
    /// SHA-256 (hex) of the root's resolved path, a NUL, and the text.
    pub fingerprint: String,
}

/// The first of [`NAMES`] at `root`, read through the same guard as context files.
pub fn find(root: &Root, cap: u64) -> Result<Option<Instructions>, ContextError> {
    for name in NAMES {
        let full = root.path().join(name);
        if std::fs::symlink_metadata(&full).is_err() {
            continue;
        }
        let file = files::read_one(root.path(), name, cap)?;
        let mut hash = Sha256::new();
        hash.update(root.path().as_os_str().as_encoded_bytes());
        hash.update([0]);
        hash.update(file.text.as_bytes());
        let fingerprint = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        return Ok(Some(Instructions {
            path: file.path,
            text: file.text,
            fingerprint,
        }));
    }
    Ok(None)
}
