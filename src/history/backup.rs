//! `history/backup` and `history/restore`: an encrypted single-file copy of the whole store
//! (the vault file with keys, settings and chat keys; every record). Everything stays sealed
//! exactly as stored, so a backup is as safe as the data folder and opens with the same
//! password or key file; restoring checks every record against the backup's own manifest.
//!
//! File layout: the magic line, `[vault file len u32 BE][vault file]`, then entries
//! `[tree u8][key len u32 BE][key][value len u32 BE][value]` until the end.

use serde::Serialize;

use super::path_guard;
use super::{History, HistoryError};
use crate::store::{Tree, TreeEntries};

const MAGIC: &[u8] = b"CHINWAG-BACKUP-2\n";

/// The largest backup `history/restore` reads.
const MAX_BACKUP_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// `history/backup` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupSummary {
    pub path: String,
    pub bytes: u64,
    /// Chats left out because they failed their integrity checks (absent when none did).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub damaged: Vec<super::DamagedChat>,
}

/// `history/restore` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreSummary {
    pub chats: usize,
}

impl History {
    /// Write a backup to `path`. The vault must be unlocked.
    pub fn backup(&self, path: &str, overwrite: bool) -> Result<BackupSummary, HistoryError> {
        let (vault_file, entries, damage) = self.vault.snapshot()?;
        let target = path_guard::for_writing(path, self.home(), overwrite)?;
        let mut bytes = MAGIC.to_vec();
        push_part(&mut bytes, &vault_file)?;
        for (tree, key, value) in entries {
            bytes.push(tree as u8);
            push_part(&mut bytes, &key)?;
            push_part(&mut bytes, &value)?;
        }
        path_guard::write_atomically(&target, &bytes).map_err(|error| {
            HistoryError::Io(format!("cannot write {}: {error}", target.display()))
        })?;
        Ok(BackupSummary {
            path: target.display().to_string(),
            bytes: bytes.len() as u64,
            damaged: damage.into_iter().map(super::damaged_chat).collect(),
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
        let (vault_file, entries) = parse(&bytes)?;
        let chats = self.vault.restore(&vault_file, entries, password)?;
        Ok(RestoreSummary { chats })
    }
}

fn push_part(out: &mut Vec<u8>, part: &[u8]) -> Result<(), HistoryError> {
    let len = u32::try_from(part.len())
        .map_err(|_| HistoryError::Io("a record is larger than 4 GiB".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(part);
    Ok(())
}

fn take_part<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], HistoryError> {
    let truncated = || HistoryError::BadBackup("truncated".into());
    let (len, tail) = rest.split_at_checked(4).ok_or_else(truncated)?;
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    let (data, tail) = tail.split_at_checked(len).ok_or_else(truncated)?;
    *rest = tail;
    Ok(data)
}

fn parse(bytes: &[u8]) -> Result<(Vec<u8>, TreeEntries), HistoryError> {
    let mut rest = bytes.strip_prefix(MAGIC).ok_or_else(|| {
        HistoryError::BadBackup("missing the backup header (or a backup of chinwag 0.1)".into())
    })?;
    let vault_file = take_part(&mut rest)?.to_vec();
    let mut entries = Vec::new();
    while let Some((&tree, tail)) = rest.split_first() {
        let tree = Tree::from_u8(tree)
            .filter(|tree| *tree != Tree::Keys)
            .ok_or_else(|| HistoryError::BadBackup(format!("unknown tree {tree}")))?;
        rest = tail;
        let key = take_part(&mut rest)?.to_vec();
        let value = take_part(&mut rest)?.to_vec();
        entries.push((tree, key, value));
    }
    Ok((vault_file, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_foreign_files_are_refused() {
        assert!(parse(b"not a backup").is_err());
        let mut good = MAGIC.to_vec();
        push_part(&mut good, b"vault").unwrap();
        good.push(2);
        push_part(&mut good, b"abc").unwrap();
        push_part(&mut good, b"x").unwrap();
        assert_eq!(
            parse(&good).unwrap(),
            (
                b"vault".to_vec(),
                vec![(Tree::Chats, b"abc".to_vec(), b"x".to_vec())]
            )
        );
        for cut in MAGIC.len()..good.len() {
            if cut == MAGIC.len() + 4 + 5 {
                continue; // a backup with no records is whole
            }
            assert!(parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        let tree_at = MAGIC.len() + 4 + 5;
        good[tree_at] = 9;
        assert!(parse(&good).is_err());
    }
}
