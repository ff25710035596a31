//! Checks for paths that editors hand us for export, import and backup: the file must be
//! inside the user's home folder once `..` and symlinks are resolved, and an existing file is
//! replaced only when asked.
//!
//! A checked path is only as good as the moment it was checked: between the check and the
//! write (an export reads and decrypts every chat in between) a folder on the way could be
//! swapped for a symlink to elsewhere, and a plaintext export would land outside the home
//! folder. So the folder to write in is opened once, at check time, by walking down from the
//! home folder one component at a time with `O_NOFOLLOW`, and the file is then created and
//! renamed relative to that open folder: later changes to the path cannot redirect it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

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

/// A checked place to write: the folder, held open, and the file name in it.
#[derive(Debug)]
pub struct WriteTarget {
    /// The folder, opened without following any symlink from the home folder down.
    dir: OwnedFd,
    name: OsString,
    /// The resolved path, for messages and results only: writes go through `dir`.
    path: PathBuf,
    overwrite: bool,
}

impl WriteTarget {
    /// The resolved path of the file, for people.
    pub fn display(&self) -> std::path::Display<'_> {
        self.path.display()
    }

    /// The resolved path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A path to write: its folder must exist inside `home`; the file itself must not be a symlink
/// and must not exist unless `overwrite`. The folder is opened now (see the module docs).
pub fn for_writing(path: &str, home: &Path, overwrite: bool) -> Result<WriteTarget, PathRefused> {
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
    let home = canonical_home(home)?;
    let Ok(inside) = parent.strip_prefix(&home) else {
        return Err(refuse(&path, "outsideHome", OUTSIDE_HOME));
    };
    let dir = open_folder(&home, inside).map_err(|fault| match fault {
        WalkFault::Symlink => refuse(
            &path,
            "symlink",
            "a folder on the way changed into a symbolic link; give the real path",
        ),
        WalkFault::Io(error) => refuse(
            &path,
            "folder",
            format!("its folder cannot be used: {error}"),
        ),
    })?;
    let target = WriteTarget {
        dir,
        name: name.to_os_string(),
        path: parent.join(name),
        overwrite,
    };
    match rustix::fs::statat(&target.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink => Err(refuse(
                &path,
                "symlink",
                "it is a symbolic link; give the real path",
            )),
            FileType::RegularFile if !overwrite => Err(refuse(
                &path,
                "exists",
                "the file exists; pass `overwrite: true` to replace it",
            )),
            FileType::RegularFile => Ok(target),
            _ => Err(refuse(
                &path,
                "notAFile",
                "it exists and is not a regular file",
            )),
        },
        Err(_) => Ok(target),
    }
}

/// Why the folder could not be opened.
enum WalkFault {
    /// A component is a symlink (or no longer a folder): the path changed after it was
    /// resolved.
    Symlink,
    Io(std::io::Error),
}

/// Open `home`/`inside` as a folder, one component at a time from `home`, following no
/// symlink on the way (`inside` comes from a resolved path, so it has none unless the path
/// changed since).
fn open_folder(home: &Path, inside: &Path) -> Result<OwnedFd, WalkFault> {
    let folder = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(home, folder, Mode::empty())
        .map_err(|errno| WalkFault::Io(errno.into()))?;
    for component in inside.components() {
        let Component::Normal(name) = component else {
            return Err(WalkFault::Symlink);
        };
        dir = rustix::fs::openat(&dir, name, folder | OFlags::NOFOLLOW, Mode::empty()).map_err(
            |errno| match errno {
                Errno::LOOP | Errno::NOTDIR => WalkFault::Symlink,
                other => WalkFault::Io(other.into()),
            },
        )?;
    }
    Ok(dir)
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

/// Write `bytes` to `target` atomically: a private temporary file beside it, fsynced, renamed
/// over it, all relative to the folder opened when the path was checked. Without
/// `overwrite`, a file that appeared since the check is not replaced.
pub fn write_atomically(target: &WriteTarget, bytes: &[u8]) -> std::io::Result<()> {
    let temp = temp_name(&target.name);
    let file = rustix::fs::openat(
        &target.dir,
        &temp,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let written = (|| {
        let mut file = File::from(file);
        file.write_all(bytes)?;
        file.sync_all()?;
        rename_into_place(target, &temp)?;
        rustix::fs::fsync(&target.dir)?;
        Ok(())
    })();
    if written.is_err() {
        let _ = rustix::fs::unlinkat(&target.dir, &temp, AtFlags::empty());
    }
    written
}

fn temp_name(name: &OsStr) -> OsString {
    let mut temp = OsString::from(".");
    temp.push(name);
    temp.push(format!(".{}.tmp", std::process::id()));
    temp
}

fn rename_into_place(target: &WriteTarget, temp: &OsStr) -> std::io::Result<()> {
    let (dir, name) = (&target.dir, &target.name);
    if target.overwrite {
        return Ok(rustix::fs::renameat(dir, temp, dir, name)?);
    }
    match rustix::fs::renameat_with(dir, temp, dir, name, RenameFlags::NOREPLACE) {
        // A file system without RENAME_NOREPLACE: check, then rename.
        Err(Errno::INVAL) => match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Err(Errno::EXIST.into()),
            Err(_) => Ok(rustix::fs::renameat(dir, temp, dir, name)?),
        },
        other => Ok(other?),
    }
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

    #[test]
    fn a_folder_swapped_for_a_symlink_after_the_check_is_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(home.join("exports/deep")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();

        let target = for_writing("~/exports/deep/chats.md", &home, false).unwrap();
        // The swap, while the export reads its chats.
        std::fs::rename(home.join("exports"), home.join("moved")).unwrap();
        std::os::unix::fs::symlink(&outside, home.join("exports")).unwrap();
        std::fs::create_dir_all(outside.join("deep")).unwrap();
        write_atomically(&target, b"plaintext chats").unwrap();

        assert!(
            !outside.join("deep/chats.md").exists(),
            "written outside home"
        );
        assert_eq!(
            std::fs::read(home.join("moved/deep/chats.md")).unwrap(),
            b"plaintext chats"
        );
        // A later check sees the symlink and refuses.
        let refused = for_writing("~/exports/deep/other.md", &home, false).unwrap_err();
        assert_eq!(refused.kind, "outsideHome");
    }

    #[test]
    fn the_file_name_swapped_for_a_symlink_after_the_check_is_replaced_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let home = root.path().join("home");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("victim"), "untouched").unwrap();

        let target = for_writing("~/chats.md", &home, true).unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), home.join("chats.md")).unwrap();
        write_atomically(&target, b"export").unwrap();
        assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"untouched");
        assert_eq!(std::fs::read(home.join("chats.md")).unwrap(), b"export");

        // Without overwrite, a file that appeared after the check is kept.
        let target = for_writing("~/new.md", &home, false).unwrap();
        std::fs::write(home.join("new.md"), "theirs").unwrap();
        assert!(write_atomically(&target, b"ours").is_err());
        assert_eq!(std::fs::read(home.join("new.md")).unwrap(), b"theirs");
        let leftovers = std::fs::read_dir(&home).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary file left behind");
    }
}
