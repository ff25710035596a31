//! Checks for paths that editors hand us for export, import and backup: the file must be
//! inside the user's home folder once `..` and symlinks are resolved, and an existing file is
//! replaced only when asked.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct PathRefused {
    pub path: String,
    /// A stable name for the refusal, for clients: `relative`, `notAFile`, `folder`,
    /// `outsideHome`, `symlink`, `exists`, `unreadable`.
    pub kind: &'static str,
    pub reason: String,
}

fn refuse(path: &Path, kind: &'static str, reason: impl Into<String>) -> PathRefused {
    PathRefused {
        path: path.display().to_string(),
        kind,
        reason: reason.into(),
    }
}

const OUTSIDE_HOME: &str = "only places inside your home folder are allowed";

/// Expand `~/` and require an absolute path.
fn expand(path: &str, home: &Path) -> Result<PathBuf, PathRefused> {
    let expanded = match path.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(path),
    };
    if !expanded.is_absolute() {
        let reason = "use an absolute path (or one starting with ~/)";
        return Err(refuse(&expanded, "relative", reason));
    }
    Ok(expanded)
}

fn canonical_home(home: &Path) -> Result<PathBuf, PathRefused> {
    home.canonicalize().map_err(|error| {
        let reason = format!("cannot resolve the home folder: {error}");
        refuse(home, "unreadable", reason)
    })
}

/// A path to write: its folder must exist inside `home`; the file itself must not be a symlink
/// and must not exist unless `overwrite`.
pub fn for_writing(path: &str, home: &Path, overwrite: bool) -> Result<PathBuf, PathRefused> {
    let path = expand(path, home)?;
    let Some(Component::Normal(name)) = path.components().next_back() else {
        return Err(refuse(
            &path,
            "notAFile",
            "the path must end in a file name",
        ));
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    let parent = parent.canonicalize().map_err(|error| {
        let reason = format!("its folder cannot be used: {error}");
        refuse(&path, "folder", reason)
    })?;
    if !parent.starts_with(canonical_home(home)?) {
        return Err(refuse(&path, "outsideHome", OUTSIDE_HOME));
    }
    let target = parent.join(name);
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.file_type().is_symlink() => Err(refuse(
            &path,
            "symlink",
            "it is a symbolic link; give the real path",
        )),
        Ok(meta) if !meta.is_file() => Err(refuse(
            &path,
            "notAFile",
            "it exists and is not a regular file",
        )),
        Ok(_) if !overwrite => Err(refuse(
            &path,
            "exists",
            "the file exists; pass `overwrite: true` to replace it",
        )),
        _ => Ok(target),
    }
}

/// A path to read: a regular file inside `home` once symlinks are resolved.
pub fn for_reading(path: &str, home: &Path) -> Result<PathBuf, PathRefused> {
    let path = expand(path, home)?;
    let resolved = path.canonicalize().map_err(|error| {
        let reason = format!("cannot be read: {error}");
        refuse(&path, "unreadable", reason)
    })?;
    if !resolved.starts_with(canonical_home(home)?) {
        return Err(refuse(&path, "outsideHome", OUTSIDE_HOME));
    }
    if !resolved.is_file() {
        return Err(refuse(&path, "notAFile", "not a regular file"));
    }
    Ok(resolved)
}

/// Write `bytes` to `target` atomically: a private temporary file beside it, fsynced, renamed.
pub fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("/"));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, target)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_escapes_symlinks_and_overwrites() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(home.join("exports")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let home_str = |p: &str| home.join(p).to_string_lossy().into_owned();

        assert!(for_writing(&home_str("exports/a.md"), &home, false).is_ok());
        assert!(for_writing("~/exports/a.md", &home, false).is_ok());
        assert!(
            for_writing("exports/a.md", &home, false).is_err(),
            "relative"
        );
        let escape =
            for_writing(&home_str("exports/../../outside/a.md"), &home, false).unwrap_err();
        assert!(escape.reason.contains("home folder"), "{escape}");
        std::os::unix::fs::symlink(&outside, home.join("link")).unwrap();
        assert!(
            for_writing(&home_str("link/a.md"), &home, false).is_err(),
            "symlinked folder"
        );
        std::os::unix::fs::symlink(outside.join("x"), home.join("file-link")).unwrap();
        assert!(
            for_writing(&home_str("file-link"), &home, true).is_err(),
            "symlinked file"
        );
        std::fs::write(home.join("exists.md"), "x").unwrap();
        assert!(for_writing(&home_str("exists.md"), &home, false).is_err());
        assert!(for_writing(&home_str("exists.md"), &home, true).is_ok());

        std::fs::write(outside.join("x"), "secret").unwrap();
        assert!(
            for_reading(&home_str("file-link"), &home).is_err(),
            "read through symlink out"
        );
        assert!(for_reading(&home_str("exists.md"), &home).is_ok());
    }
}
