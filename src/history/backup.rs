//! `history/backup` and `history/restore`: an encrypted single-file copy of the whole store
//! (vault header, keys, chats, messages, settings). Records stay sealed exactly as stored, so a
//! backup is as safe as the database and opens with the same password or key file.
//!
//! File layout: the magic line, then entries `[tree u8][key len u32 BE][key][value len u32
//! BE][value]` until the end.

use serde::Serialize;

use super::path_guard;
use super::{History, HistoryError};
use crate::store::{Tree, TreeEntries};

const MAGIC: &[u8] = b"CHINWAG-BACKUP-1\n";

/// The largest backup `history/restore` reads.
const MAX_BACKUP_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// `history/backup` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    pub path: String,
    pub bytes: u64,
}

/// `history/restore` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreSummary {
    pub chats: usize,
}

impl History {
    /// Write a backup to `path`. The vault must be unlocked.
    pub fn backup(&self, path: &str, overwrite: bool) -> Result<BackupSummary, HistoryError> {
        self.vault.ring()?;
        let target = path_guard::for_writing(path, self.home(), overwrite)?;
        let mut bytes = MAGIC.to_vec();
        for tree in Tree::ALL {
            for (key, value) in self.vault.backend().scan(tree, b"")? {
                bytes.push(tree as u8);
                for part in [&key, &value] {
                    let len = u32::try_from(part.len())
                        .map_err(|_| HistoryError::Io("a record is larger than 4 GiB".into()))?;
                    bytes.extend_from_slice(&len.to_be_bytes());
                    bytes.extend_from_slice(part);
                }
            }
        }
        path_guard::write_atomically(&target, &bytes).map_err(|error| {
            HistoryError::Io(format!("cannot write {}: {error}", target.display()))
        })?;
        Ok(BackupSummary {
            path: target.display().to_string(),
            bytes: bytes.len() as u64,
        })
    }

    /// Replace everything with the backup at `path`. The backup must open with `password`
    /// (when it is password-protected) or the local key file; otherwise nothing changes.
    pub fn restore(
        &self,
        path: &str,
        password: Option<&str>,
    ) -> Result<RestoreSummary, HistoryError> {
        let source = path_guard::for_reading(path, self.home())?;
        let size = std::fs::metadata(&source)
            .map_err(|error| HistoryError::Io(error.to_string()))?
            .len();
        if size > MAX_BACKUP_BYTES {
            return Err(HistoryError::BadBackup("larger than 4 GiB".into()));
        }
        let bytes = std::fs::read(&source).map_err(|error| {
            HistoryError::Io(format!("cannot read {}: {error}", source.display()))
        })?;
        let entries = parse(&bytes)?;
        let chats = entries
            .iter()
            .filter(|(tree, _, _)| *tree == Tree::Chats)
            .count();
        self.vault.replace_all(entries, password)?;
        Ok(RestoreSummary { chats })
    }
}

fn parse(bytes: &[u8]) -> Result<TreeEntries, HistoryError> {
    let mut rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| HistoryError::BadBackup("missing the backup header".into()))?;
    let truncated = || HistoryError::BadBackup("truncated".into());
    let mut entries = Vec::new();
    while let Some((&tree, tail)) = rest.split_first() {
        let tree = Tree::from_u8(tree)
            .ok_or_else(|| HistoryError::BadBackup(format!("unknown tree {tree}")))?;
        let mut parts = [Vec::new(), Vec::new()];
        rest = tail;
        for part in &mut parts {
            let (len, tail) = rest.split_at_checked(4).ok_or_else(truncated)?;
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let (data, tail) = tail.split_at_checked(len).ok_or_else(truncated)?;
            *part = data.to_vec();
            rest = tail;
        }
        let [key, value] = parts;
        entries.push((tree, key, value));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_foreign_files_are_refused() {
        assert!(parse(b"not a backup").is_err());
        let mut good = MAGIC.to_vec();
        good.push(2);
        good.extend_from_slice(&3u32.to_be_bytes());
        good.extend_from_slice(b"abc");
        good.extend_from_slice(&1u32.to_be_bytes());
        good.push(b'x');
        assert_eq!(
            parse(&good).unwrap(),
            vec![(Tree::Chats, b"abc".to_vec(), b"x".to_vec())]
        );
        for cut in MAGIC.len() + 1..good.len() {
            assert!(parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        good[MAGIC.len()] = 9;
        assert!(parse(&good).is_err());
    }
}
