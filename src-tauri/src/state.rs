//! The shell's state: which vault, and whether it is locked or unlocked.
//!
//! The session lives behind one mutex as `Locked | Unlocked(Session)`. Locking (explicit or
//! after the idle period) takes the session out and hands it to crm-core's `lock`/`auto_lock`,
//! which records the event and drops it: the data key is zeroized and the connection closed.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crm_core::{RecoveryIdentity, Session};

use crate::error::{CommandError, CommandResult};

/// The idle period before the vault's own policy is known (it is read at each unlock).
pub const DEFAULT_AUTO_LOCK: Duration =
    Duration::from_secs(crm_core::settings::DEFAULT_AUTO_LOCK_MINUTES as u64 * 60);

/// Locked or unlocked.
#[derive(Debug, Default)]
pub enum Lock {
    /// No session: only the first-run and unlock screens work.
    #[default]
    Locked,
    /// A user's open session.
    Unlocked(Box<Session>),
}

/// Everything the commands share.
#[derive(Debug)]
pub struct AppState {
    /// The vault directory this window works on.
    pub vault_dir: PathBuf,
    /// An idle period fixed by the environment (tests, kiosks), overriding the vault's policy.
    auto_lock_override: Option<Duration>,
    /// The vault's auto-lock policy, as read at the last unlock or change.
    auto_lock_policy: Mutex<Duration>,
    lock: Mutex<Lock>,
    last_activity: Mutex<Instant>,
    /// The recovery identity of a vault created in this run, until the owner confirms it
    /// is saved (then dropped; it is never written anywhere the owner did not choose).
    recovery: Mutex<Option<RecoveryIdentity>>,
    busy: AtomicBool,
}

impl AppState {
    /// State for the vault in `vault_dir`, locked.
    pub fn new(vault_dir: PathBuf, auto_lock_override: Option<Duration>) -> Self {
        Self {
            vault_dir,
            auto_lock_override,
            auto_lock_policy: Mutex::new(DEFAULT_AUTO_LOCK),
            lock: Mutex::new(Lock::Locked),
            last_activity: Mutex::new(Instant::now()),
            recovery: Mutex::new(None),
            busy: AtomicBool::new(false),
        }
    }

    /// The lock state. A poisoned mutex (a command panicked) is still usable: the session
    /// itself stays consistent because crm-core writes in transactions.
    pub fn lock_state(&self) -> MutexGuard<'_, Lock> {
        self.lock
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Runs `work` with the open session, or fails with `locked`. Counts as activity.
    pub fn with_session<T>(
        &self,
        work: impl FnOnce(&mut Session) -> CommandResult<T>,
    ) -> CommandResult<T> {
        let mut guard = self.lock_state();
        match &mut *guard {
            Lock::Locked => Err(CommandError::locked()),
            Lock::Unlocked(session) => {
                self.touch();
                work(session)
            }
        }
    }

    /// Idle period before auto-lock: the environment's override, else the vault's policy.
    pub fn auto_lock_after(&self) -> Duration {
        self.auto_lock_override.unwrap_or_else(|| {
            *self
                .auto_lock_policy
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
        })
    }

    /// Applies the vault's auto-lock policy (minutes).
    pub fn set_auto_lock_policy(&self, minutes: u32) {
        *self
            .auto_lock_policy
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) =
            Duration::from_secs(u64::from(minutes) * 60);
    }

    /// Installs a freshly opened session (replacing and locking any previous one) and applies
    /// the vault's auto-lock policy.
    pub fn set_session(&self, session: Session) {
        match session.auto_lock_minutes() {
            Ok(minutes) => self.set_auto_lock_policy(minutes),
            Err(error) => tracing::warn!("could not read the auto-lock policy: {error}"),
        }
        let previous = std::mem::replace(&mut *self.lock_state(), Lock::Unlocked(session.into()));
        if let Lock::Unlocked(old) = previous {
            old.lock();
        }
        self.touch();
    }

    /// Locks now. Returns whether a session was open.
    pub fn lock_now(&self, idle: bool) -> bool {
        let previous = std::mem::take(&mut *self.lock_state());
        match previous {
            Lock::Locked => false,
            Lock::Unlocked(session) => {
                if idle {
                    session.auto_lock();
                } else {
                    session.lock();
                }
                true
            }
        }
    }

    /// Records user activity (resets the idle timer).
    pub fn touch(&self) {
        *self
            .last_activity
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Instant::now();
    }

    /// How long since the last activity.
    pub fn idle_for(&self) -> Duration {
        self.last_activity
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .elapsed()
    }

    /// Locks if unlocked and idle for longer than the auto-lock period. Returns whether it
    /// locked.
    pub fn auto_lock_if_idle(&self) -> bool {
        if self.idle_for() < self.auto_lock_after() {
            return false;
        }
        self.lock_now(true)
    }

    /// The recovery identity slot (see the field's docs).
    pub fn recovery(&self) -> MutexGuard<'_, Option<RecoveryIdentity>> {
        self.recovery
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Marks a long operation as running; `None` if one already is. The guard clears the
    /// mark when dropped, also on error or panic.
    pub fn start_long_operation(&self) -> Option<BusyGuard<'_>> {
        self.busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| BusyGuard(&self.busy))
    }
}

/// Clears the "long operation running" mark on drop.
#[derive(Debug)]
pub struct BusyGuard<'a>(&'a AtomicBool);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
