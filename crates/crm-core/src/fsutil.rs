//! Durable file writes: temp file, fsync, rename, fsync of the directory.
//!
//! A reader of the target path sees either the old complete file or the new complete file,
//! never a torn one, even if the process is killed or the power fails mid-write.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Replaces `path` atomically with `contents` (mode 0600 on Unix).
///
/// The temporary file beside the target has a name of its own (process id and 64 random bits),
/// so two writers of the same file, in this process or another, never write into each other's
/// temporary file; it is removed again if anything fails before the rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    replace_with(path, |file| {
        file.write_all(contents)
            .map_err(Error::io(format!("writing {}", path.display())))
    })
}

/// Replaces `path` atomically with what `write` writes into a new owner-only (0600) temporary
/// file beside it, then syncs and renames it over `path`. The result is a new file, 0600 whatever
/// `path` was; a symbolic link at `path` is replaced, never followed. If `write` fails, `path`
/// is left as it was and the temporary file is removed.
pub fn replace_with<T>(path: &Path, write: impl FnOnce(&mut File) -> Result<T>) -> Result<T> {
    let dir = parent_dir(path);
    let temp = temp_path_beside(path);
    let context = || format!("writing {}", path.display());
    let mut file = private_options()
        .create_new(true)
        .open(&temp)
        .map_err(Error::io(context()))?;
    let written = write(&mut file).and_then(|value| {
        file.sync_all().map_err(Error::io(context()))?;
        drop(file);
        fs::rename(&temp, path).map_err(Error::io(context()))?;
        Ok(value)
    });
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    let value = written?;
    sync_dir(dir)?;
    Ok(value)
}

/// `.NAME.tmp-PID-RANDOM` in the target's directory (the same file system, so the rename is
/// atomic).
fn temp_path_beside(path: &Path) -> std::path::PathBuf {
    use rand::RngCore;
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = rand::rngs::OsRng.next_u64();
    parent_dir(path).join(format!(
        ".{file_name}.tmp-{}-{unique:016x}",
        std::process::id()
    ))
}

/// Creates a new file with `contents`, refusing to overwrite an existing one.
pub fn write_new_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    let context = || format!("creating {}", path.display());
    let mut file = private_options()
        .create_new(true)
        .open(path)
        .map_err(Error::io(context()))?;
    file.write_all(contents).map_err(Error::io(context()))?;
    file.sync_all().map_err(Error::io(context()))?;
    sync_dir(parent_dir(path))
}

/// Makes a rename or creation inside `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|handle| handle.sync_all())
            .map_err(Error::io(format!("syncing directory {}", dir.display())))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates a directory (and parents) readable only by its owner.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(Error::io(format!("restricting {}", dir.display())))?;
    }
    Ok(())
}

/// Opens `path` for writing without truncating it (a lock file, an append-only log): created
/// owner-only (0600), and an existing file is set to 0600 as well, so neither the umask nor a
/// file an older version left world-readable decides who may read it.
pub fn open_private(path: &Path) -> Result<File> {
    open_owner_only(path, false)
}

/// [`open_private`] for appending: every write goes to the end, even with several writers.
pub fn append_private(path: &Path) -> Result<File> {
    open_owner_only(path, true)
}

fn open_owner_only(path: &Path, append: bool) -> Result<File> {
    let context = || format!("opening {}", path.display());
    let file = private_options()
        .truncate(false)
        .append(append)
        .open(path)
        .map_err(Error::io(context()))?;
    owner_only(&file).map_err(Error::io(context()))?;
    Ok(file)
}

/// Sets `path` to owner-only (0600) if it exists (a database SQLite created, or its `-wal` and
/// `-shm`, which SQLite creates with the database file's mode).
pub fn restrict_if_present(path: &Path) -> Result<()> {
    match File::open(path) {
        Ok(file) => owner_only(&file).map_err(Error::io(format!("restricting {}", path.display()))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::io(format!("opening {}", path.display()))(error)),
    }
}

/// Mode 0600 on an open file that anyone but its owner may read or write, set outright rather
/// than through the umask.
fn owner_only(file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.permissions().mode() & 0o077 != 0 {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(Error::io("listing"))? {
            let name = entry
                .map_err(Error::io("listing"))?
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name.contains(".tmp-") {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Regression: the temporary name was `.NAME.tmp-PID`, shared by every thread of a
    /// process, so two writers of one file could interleave into a torn file.
    #[test]
    fn concurrent_writers_of_one_file_never_tear_it_or_leave_temp_files() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let target = dir.path().join("keyslots.json");
        let contents: Vec<Vec<u8>> = (0..8u8).map(|writer| vec![writer; 256 * 1024]).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = contents
                .iter()
                .map(|bytes| {
                    let target = &target;
                    scope.spawn(move || (0..4).try_for_each(|_| write_atomic(target, bytes)))
                })
                .collect();
            handles.into_iter().try_for_each(|handle| {
                handle
                    .join()
                    .map_err(|_| Error::Invalid("a writer thread panicked".into()))?
            })
        })?;
        let written = fs::read(&target).map_err(Error::io("reading"))?;
        assert!(
            contents.contains(&written),
            "the file is exactly one writer's contents"
        );
        assert_eq!(leftovers(dir.path())?, Vec::<String>::new());
        Ok(())
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file_behind() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        // A non-empty directory where the file should go: the final rename fails.
        let target = dir.path().join("occupied");
        fs::create_dir(&target).map_err(Error::io("mkdir"))?;
        fs::write(target.join("inside"), b"x").map_err(Error::io("write"))?;
        assert!(write_atomic(&target, b"new contents").is_err());
        assert_eq!(leftovers(dir.path())?, Vec::<String>::new());
        Ok(())
    }
}
