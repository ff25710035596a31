//! The local key file: 32 random bytes in the config dir that protect the vault when there is
//! no password (and act as a second factor when there is one).
//!
//! It is created with `create_new` (never overwriting one that exists), written to a temporary
//! file, fsynced, renamed into place and the folder fsynced, so a crash leaves either no key
//! file or a whole one.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use zeroize::Zeroizing;

/// The key file's bytes.
pub type KeyFileBytes = Zeroizing<[u8; 32]>;

/// Read the key file; `Ok(None)` if there is none.
pub fn read(path: &Path) -> io::Result<Option<KeyFileBytes>> {
    let mut file = match OpenOptions::new()
        .read(true)
        // Non-blocking: a FIFO put in its place must be refused, not wait for a writer.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the key file is not a regular file",
        ));
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    file.read_exact(bytes.as_mut())?;
    let mut extra = [0u8; 1];
    if file.read(&mut extra)? != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the key file is longer than 32 bytes",
        ));
    }
    Ok(Some(bytes))
}

/// Create a new random key file at `path`. Fails with `AlreadyExists` if one is there.
pub fn create(path: &Path) -> io::Result<KeyFileBytes> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|error| io::Error::other(error.to_string()))?;
    let dir = path.parent().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "key file path has no folder")
    })?;
    let temp = dir.join(format!(".vault.key.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        file.write_all(bytes.as_ref())?;
        file.sync_all()?;
    }
    // A hard link fails if the target exists: `create_new` semantics for the final name.
    let linked = std::fs::hard_link(&temp, path);
    let _ = std::fs::remove_file(&temp);
    linked?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        assert!(read(&path).unwrap().is_none());
        let created = create(&path).unwrap();
        assert_eq!(read(&path).unwrap().unwrap(), created);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            create(&path).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(
            read(&path).unwrap().unwrap(),
            created,
            "a second create must not overwrite"
        );
        std::fs::write(&path, [1u8; 31]).unwrap();
        assert!(read(&path).is_err());
    }
}
