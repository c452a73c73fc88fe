//! Durable file writes: temp file, fsync, rename, fsync of the directory.
//!
//! A reader of the target path sees either the old complete file or the new complete file,
//! never a torn one, even if the process is killed or the power fails mid-write.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Replaces `path` atomically with `contents` (mode 0600 on Unix).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let context = || format!("writing {}", path.display());
    {
        let mut file = private_options()
            .truncate(true)
            .open(&temp)
            .map_err(Error::io(context()))?;
        file.write_all(contents).map_err(Error::io(context()))?;
        file.sync_all().map_err(Error::io(context()))?;
    }
    fs::rename(&temp, path).map_err(|source| {
        let _ = fs::remove_file(&temp);
        Error::Io {
            context: context(),
            source,
        }
    })?;
    sync_dir(dir)
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
