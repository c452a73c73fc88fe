//! The commands the UI may call, one module per domain. Each is a thin adapter: parse the
//! arguments, call crm-core with the open session, map the result to a serialisable view.

pub mod audit;
pub mod backup;
pub mod records;
pub mod settings;
pub mod transfer;
pub mod users;
pub mod vault;

use std::path::PathBuf;

use crm_core::KeyFileDigest;

use crate::error::{CommandError, CommandResult};

/// Reads a key file the user chose in the file dialog (or none).
pub(crate) fn key_file_digest(path: Option<String>) -> CommandResult<Option<KeyFileDigest>> {
    match path.filter(|p| !p.trim().is_empty()) {
        None => Ok(None),
        Some(path) => Ok(Some(KeyFileDigest::from_file(&PathBuf::from(path))?)),
    }
}

/// Runs blocking work (Argon2, re-encryption) off the main thread so the window stays live.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> CommandResult<T> + Send + 'static,
) -> CommandResult<T> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|error| {
            CommandError::new("internal", format!("background task failed: {error}"))
        })?
}
