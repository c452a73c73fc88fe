//! The advisory lock on `vault.lock`: shared while a session is open, exclusive during a key
//! rotation (which replaces the database file under everyone's feet).

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fsutil;

#[derive(Debug)]
pub(super) struct VaultLock {
    file: File,
}

impl VaultLock {
    pub(super) fn shared(path: &Path) -> Result<Self> {
        let file = fsutil::open_private(path)?;
        // A rotation holds the lock exclusively for as long as re-encryption takes; wait.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match file.try_lock_shared() {
                Ok(()) => return Ok(Self { file }),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(Error::VaultBusy),
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(Error::io("locking the vault")(error));
                }
            }
        }
    }

    pub(super) fn upgrade(&self) -> Result<()> {
        match self.file.try_lock() {
            Ok(()) => Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::VaultBusy),
            Err(std::fs::TryLockError::Error(error)) => Err(Error::io("locking the vault")(error)),
        }
    }

    pub(super) fn downgrade(&self) {
        if let Err(error) = self.file.lock_shared() {
            tracing::warn!("could not downgrade the vault lock: {error}");
        }
    }
}
