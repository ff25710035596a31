//! Where chinwag keeps its files: the XDG places, resolved once at start.
//!
//! Config lives in `$XDG_CONFIG_HOME/chinwag` (`~/.config/chinwag`), data in
//! `$XDG_DATA_HOME/chinwag` (`~/.local/share/chinwag`), logs in the data dir's `logs/`.
//! Every folder we create is 0700; the process umask is 077 so every file is 0600.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

/// The folders and files chinwag uses.
///
/// Serialized (in `initialize`) lossily: JSON strings are UTF-8 and a path need not be, so
/// bytes that are not UTF-8 show as U+FFFD. The paths themselves are used as they are.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Paths {
    /// The user's home folder: exports, imports and backups must stay inside it.
    #[serde(serialize_with = "lossy")]
    pub home_dir: PathBuf,
    #[serde(serialize_with = "lossy")]
    pub config_dir: PathBuf,
    #[serde(serialize_with = "lossy")]
    pub config_file: PathBuf,
    #[serde(serialize_with = "lossy")]
    pub data_dir: PathBuf,
    #[serde(serialize_with = "lossy")]
    pub log_dir: PathBuf,
    /// The sled database folder.
    #[serde(serialize_with = "lossy")]
    pub database_dir: PathBuf,
    /// Where the process that owns the database listens for other chinwag processes.
    #[serde(serialize_with = "lossy")]
    pub owner_socket: PathBuf,
    /// The vault file: every key, the settings and the manifest, sealed as a whole.
    #[serde(serialize_with = "lossy")]
    pub vault_file: PathBuf,
    /// The lock every chinwag process takes around the vault file.
    #[serde(serialize_with = "lossy")]
    pub vault_lock: PathBuf,
    /// Where chinwag 0.1 kept its database (vault header inside); upgraded, then removed.
    #[serde(serialize_with = "lossy")]
    pub legacy_database_dir: PathBuf,
    /// chinwag 0.1's owner socket.
    #[serde(serialize_with = "lossy")]
    pub legacy_owner_socket: PathBuf,
    /// The local key file that protects the vault when there is no password.
    #[serde(serialize_with = "lossy")]
    pub key_file: PathBuf,
}

/// Serialize a path as a string, replacing bytes that are not UTF-8 with U+FFFD (serde's
/// own `Path` serializer fails on them, which failed the whole `initialize` answer).
pub fn lossy<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

/// The home folder could not be determined.
#[derive(Debug, thiserror::Error)]
#[error("cannot find the home folder (is HOME set?)")]
pub struct NoHome;

impl Paths {
    /// Resolve the paths from the environment (`HOME`, `XDG_CONFIG_HOME`, `XDG_DATA_HOME`).
    pub fn discover() -> Result<Self, NoHome> {
        let base = directories::BaseDirs::new().ok_or(NoHome)?;
        let dirs = directories::ProjectDirs::from("", "", "chinwag").ok_or(NoHome)?;
        Ok(Self::from_dirs(
            base.home_dir().to_path_buf(),
            dirs.config_dir().to_path_buf(),
            dirs.data_dir().to_path_buf(),
        ))
    }

    /// Paths rooted at the given config and data folders.
    pub fn from_dirs(home_dir: PathBuf, config_dir: PathBuf, data_dir: PathBuf) -> Self {
        Self {
            home_dir,
            config_file: config_dir.join("config.toml"),
            key_file: config_dir.join("vault.key"),
            log_dir: data_dir.join("logs"),
            database_dir: data_dir.join("store"),
            owner_socket: data_dir.join("store.sock"),
            vault_file: data_dir.join("vault"),
            vault_lock: data_dir.join("vault.lock"),
            legacy_database_dir: data_dir.join("db"),
            legacy_owner_socket: data_dir.join("owner.sock"),
            config_dir,
            data_dir,
        }
    }

    /// Create the folders (0700), tightening the mode of ours if it was looser.
    pub fn ensure_dirs(&self) -> io::Result<()> {
        for dir in [&self.config_dir, &self.data_dir, &self.log_dir] {
            ensure_private_dir(dir)?;
        }
        Ok(())
    }
}

/// Create `dir` and its parents with mode 0700, and make `dir` itself 0700 if it exists.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let metadata = std::fs::metadata(dir)?;
    if metadata.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Make every file this process creates private to the user (0600 files, 0700 folders).
pub fn restrict_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_are_not_utf8_serialize_lossily() {
        use std::os::unix::ffi::OsStrExt;
        let home = PathBuf::from(std::ffi::OsStr::from_bytes(b"/home/h\xffme"));
        let paths = Paths::from_dirs(home.clone(), home.join("c"), home.join("d"));
        let json = serde_json::to_value(&paths).unwrap();
        assert_eq!(json["homeDir"], "/home/h\u{fffd}me");
        assert_eq!(json["ownerSocket"], "/home/h\u{fffd}me/d/store.sock");
        assert_eq!(json["vaultFile"], "/home/h\u{fffd}me/d/vault");
    }

    #[test]
    fn creates_private_folders() {
        let root = std::env::temp_dir().join(format!("chinwag-paths-{}", std::process::id()));
        let paths = Paths::from_dirs(
            root.clone(),
            root.join("cfg/chinwag"),
            root.join("data/chinwag"),
        );
        std::fs::create_dir_all(&paths.data_dir).unwrap();
        std::fs::set_permissions(&paths.data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        paths.ensure_dirs().unwrap();
        for dir in [&paths.config_dir, &paths.data_dir, &paths.log_dir] {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", dir.display());
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
