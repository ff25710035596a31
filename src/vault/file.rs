//! The vault file on disk: read with a size cap, replaced atomically, guarded by a lock that
//! every chinwag process on this data folder takes.
//!
//! Replacing is the usual dance (a temporary file in the same folder, fsync, rename over the
//! old one, fsync of the folder), so a crash leaves the old file or the new one, never a mix.
//! The replaced file's blocks are freed by the file system, not overwritten: SECURITY.md says
//! what that leaves behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The largest vault file read: keys and one entry per chat (about 150 bytes each) fit many
/// times over; anything larger is not ours.
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// What identifies one version of the file cheaply. Every write renames a new file into
/// place, but inode numbers are reused at once and change times tick coarsely, so a file
/// written twice in a few milliseconds can look the same to `stat`: the body's nonce, fresh
/// and random for every write, tells them apart for certain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    inode: u64,
    size: u64,
    changed_ns: i128,
    nonce: [u8; 12],
}

impl Version {
    fn of(meta: &std::fs::Metadata, bytes_at_nonce: [u8; 12]) -> Version {
        Version {
            inode: meta.ino(),
            size: meta.len(),
            changed_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            nonce: bytes_at_nonce,
        }
    }
}

/// Where the body's nonce sits, from the file's first bytes (magic, header length): after
/// the header, its checksum and its MAC. `None` for a file too short to say.
fn nonce_offset(start: &[u8]) -> Option<u64> {
    let length = start.get(16..20)?;
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
    Some(20 + u64::from(length) + 64)
}

fn nonce_in(bytes: &[u8]) -> [u8; 12] {
    nonce_offset(bytes)
        .and_then(|at| bytes.get(at as usize..at as usize + 12))
        .and_then(|nonce| nonce.try_into().ok())
        .unwrap_or([0; 12])
}

/// The vault file opened for reading, or `None` when it does not exist. A symlink, a FIFO or
/// anything else that is not a regular file is refused (non-blocking: a FIFO must not wait
/// for a writer).
fn open_regular(path: &Path) -> io::Result<Option<(File, std::fs::Metadata)>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("the vault file is not a regular file"));
    }
    Ok(Some((file, meta)))
}

/// The file's current version, or `None` when it does not exist. Two small reads.
pub fn version(path: &Path) -> io::Result<Option<Version>> {
    use std::os::unix::fs::FileExt;
    let Some((file, meta)) = open_regular(path)? else {
        return Ok(None);
    };
    let mut start = [0u8; 20];
    let mut nonce = [0u8; 12];
    if file.read_exact_at(&mut start, 0).is_ok()
        && let Some(at) = nonce_offset(&start)
    {
        // A file too short for its nonce keeps the zero nonce: reading it whole reports it.
        let _ = file.read_exact_at(&mut nonce, at);
    }
    Ok(Some(Version::of(&meta, nonce)))
}

/// The file's bytes and version, or `None` when it does not exist. A symlink is refused:
/// the vault file is ours alone.
pub fn read(path: &Path) -> io::Result<Option<(Vec<u8>, Version)>> {
    let Some((file, meta)) = open_regular(path)? else {
        return Ok(None);
    };
    if meta.len() > MAX_BYTES {
        return Err(io::Error::other("the vault file is larger than 256 MiB"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    let version = Version::of(&meta, nonce_in(&bytes));
    Ok(Some((bytes, version)))
}

/// Replace the file at `path` with `bytes`, durably. Returns the new version.
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<Version> {
    let folder = path
        .parent()
        .ok_or_else(|| io::Error::other("the vault file has no folder"))?;
    let temporary = temporary_path(path)?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        File::open(folder)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result?;
    version(path)?.ok_or_else(|| io::Error::other("the vault file vanished after writing"))
}

fn temporary_path(path: &Path) -> io::Result<PathBuf> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|error| io::Error::other(error.to_string()))?;
    let suffix: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("the vault file has no name"))?
        .to_string_lossy();
    Ok(path.with_file_name(format!(".{name}.{suffix}.tmp")))
}

/// The lock every chinwag process on one data folder takes around the vault file: shared to
/// read the vault and the records it vouches for, exclusive to change them. An advisory
/// `flock` on a file beside the vault, released when the guard drops (or the process dies).
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Wait for the lock on `path` (created if missing).
    pub fn acquire(path: &Path, exclusive: bool) -> io::Result<FileLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        if exclusive {
            file.lock()?;
        } else {
            file.lock_shared()?;
        }
        Ok(FileLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_changes_the_version_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault");
        assert!(read(&path).unwrap().is_none());
        let first = replace(&path, b"one").unwrap();
        let second = replace(&path, b"two").unwrap();
        assert_ne!(first, second);
        let (bytes, seen) = read(&path).unwrap().unwrap();
        assert_eq!((bytes.as_slice(), seen), (&b"two"[..], second));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn a_symlinked_vault_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("elsewhere"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), dir.path().join("vault")).unwrap();
        assert!(read(&dir.path().join("vault")).is_err());
    }
}
