//! The shell's state: which vault, and whether it is locked or unlocked.
//!
//! The session lives behind one mutex as `Locked | Unlocked(Session)`. Locking (explicit or
//! after the idle period) takes the session out and hands it to crm-core's `lock`/`auto_lock`,
//! which records the event and drops it: the data key is zeroized and the connection closed.
//!
//! A long operation (backup, import, key rotation, reclassification) holds the session for its
//! whole run. Commands never wait on it from Tauri's main thread: they run on a worker
//! ([`AppState::session`]), wait a moment for a short command ahead of them, and answer `busy`
//! (naming the operation) when a long one holds the session. While a long operation runs it
//! counts as activity, so auto-lock cannot fire during it or right after it.
//!
//! `AppState` is a cheap handle (an `Arc` inside): a command clones it into the worker.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use crm_core::{RecoveryIdentity, Session};

use crate::error::{CommandError, CommandResult};

/// The idle period before the vault's own policy is known (it is read at each unlock).
pub const DEFAULT_AUTO_LOCK: Duration =
    Duration::from_secs(crm_core::settings::DEFAULT_AUTO_LOCK_MINUTES as u64 * 60);

/// How long a command waits for the session before answering `busy`. Short commands finish
/// well within it; a long operation does not, and the user gets a clear answer instead of a
/// silent wait.
pub const SESSION_WAIT: Duration = Duration::from_millis(1500);

/// Locked or unlocked.
#[derive(Debug, Default)]
pub enum Lock {
    /// No session: only the first-run and unlock screens work.
    #[default]
    Locked,
    /// A user's open session.
    Unlocked(Box<Session>),
}

/// Everything the commands share (see the module docs).
#[derive(Debug, Clone)]
pub struct AppState {
    /// The vault directory this window works on.
    pub vault_dir: PathBuf,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// An idle period fixed by the environment (tests, kiosks), overriding the vault's policy.
    auto_lock_override: Option<Duration>,
    /// The vault's auto-lock policy, as read at the last unlock or change.
    auto_lock_policy: Mutex<Duration>,
    lock: Mutex<Lock>,
    last_activity: Mutex<Instant>,
    /// The recovery identity of a vault created or restored in this run, until the owner
    /// confirms it is saved (then dropped; it is never written anywhere the owner did not
    /// choose).
    recovery: Mutex<Option<RecoveryIdentity>>,
    /// The long operation running now, by its user-facing name ("a backup").
    running: Mutex<Option<String>>,
    /// Wakes the backup scheduler (after an unlock or a changed plan).
    scheduler: Mutex<Sender<()>>,
    scheduler_wakeups: Mutex<Option<Receiver<()>>>,
}

impl AppState {
    /// State for the vault in `vault_dir`, locked.
    pub fn new(vault_dir: PathBuf, auto_lock_override: Option<Duration>) -> Self {
        let (wake, wakeups) = std::sync::mpsc::channel();
        Self {
            vault_dir,
            shared: Arc::new(Shared {
                auto_lock_override,
                auto_lock_policy: Mutex::new(DEFAULT_AUTO_LOCK),
                lock: Mutex::new(Lock::Locked),
                last_activity: Mutex::new(Instant::now()),
                recovery: Mutex::new(None),
                running: Mutex::new(None),
                scheduler: Mutex::new(wake),
                scheduler_wakeups: Mutex::new(Some(wakeups)),
            }),
        }
    }

    /// The lock state, waiting as long as it takes (only off the main thread: a long operation
    /// may hold it). A poisoned mutex (a command panicked) is still usable: the session itself
    /// stays consistent because crm-core writes in transactions.
    pub fn lock_state(&self) -> MutexGuard<'_, Lock> {
        relock(&self.shared.lock)
    }

    /// The lock state if it is free within [`SESSION_WAIT`]; `busy` otherwise.
    fn lock_state_soon(&self) -> CommandResult<MutexGuard<'_, Lock>> {
        let deadline = Instant::now() + SESSION_WAIT;
        loop {
            match self.shared.lock.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(TryLockError::Poisoned(poison)) => return Ok(poison.into_inner()),
                Err(TryLockError::WouldBlock) if Instant::now() >= deadline => {
                    return Err(self.busy_error());
                }
                Err(TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// `busy`, naming the long operation that holds the session.
    pub fn busy_error(&self) -> CommandError {
        match self.running_operation() {
            Some(operation) => CommandError::busy_with(&operation),
            None => CommandError::busy(),
        }
    }

    /// Runs `work` with the open session on this thread, or fails with `locked`, or with
    /// `busy` when a long operation holds the session. Counts as activity.
    pub fn with_session<T>(
        &self,
        work: impl FnOnce(&mut Session) -> CommandResult<T>,
    ) -> CommandResult<T> {
        self.with_session_untouched(|session| {
            self.touch();
            work(session)
        })
    }

    /// As [`with_session`](Self::with_session), without counting as activity: for the app's
    /// own background checks, which must not hold auto-lock off.
    pub fn with_session_untouched<T>(
        &self,
        work: impl FnOnce(&mut Session) -> CommandResult<T>,
    ) -> CommandResult<T> {
        let mut guard = self.lock_state_soon()?;
        match &mut *guard {
            Lock::Locked => Err(CommandError::locked()),
            Lock::Unlocked(session) => work(session),
        }
    }

    /// Runs `work` with the open session on a worker thread, so the window never waits on
    /// the session (see [`with_session`](Self::with_session) for the outcomes).
    pub async fn session<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Session) -> CommandResult<T> + Send + 'static,
    ) -> CommandResult<T> {
        let state = self.clone();
        crate::commands::blocking(move || state.with_session(work)).await
    }

    /// Idle period before auto-lock: the environment's override, else the vault's policy.
    pub fn auto_lock_after(&self) -> Duration {
        self.shared
            .auto_lock_override
            .unwrap_or_else(|| *relock(&self.shared.auto_lock_policy))
    }

    /// Applies the vault's auto-lock policy (minutes).
    pub fn set_auto_lock_policy(&self, minutes: u32) {
        *relock(&self.shared.auto_lock_policy) = Duration::from_secs(u64::from(minutes) * 60);
    }

    /// Installs a freshly opened session (replacing and locking any previous one), applies
    /// the vault's auto-lock policy and wakes the backup scheduler (a missed run catches up).
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
        self.wake_scheduler();
    }

    /// Locks now (waiting for a running long operation to finish first). Returns whether a
    /// session was open.
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
        *relock(&self.shared.last_activity) = Instant::now();
    }

    /// How long since the last activity.
    pub fn idle_for(&self) -> Duration {
        relock(&self.shared.last_activity).elapsed()
    }

    /// Locks if unlocked and idle for longer than the auto-lock period. A running long
    /// operation is activity: it refreshes the timer instead, so the full period remains when
    /// it ends. Returns whether it locked.
    pub fn auto_lock_if_idle(&self) -> bool {
        if self.running_operation().is_some() {
            self.touch();
            return false;
        }
        if self.idle_for() < self.auto_lock_after() {
            return false;
        }
        self.lock_now(true)
    }

    /// The recovery identity slot (see the field's docs).
    pub fn recovery(&self) -> MutexGuard<'_, Option<RecoveryIdentity>> {
        relock(&self.shared.recovery)
    }

    /// Marks a long operation as running, by its user-facing name (`"a backup"`); `busy` if
    /// one already is. The guard clears the mark when dropped, also on error or panic.
    pub fn start_long_operation(&self, name: &str) -> CommandResult<BusyGuard> {
        let mut running = relock(&self.shared.running);
        if let Some(current) = running.as_deref() {
            return Err(CommandError::busy_with(current));
        }
        *running = Some(name.to_owned());
        self.touch();
        Ok(BusyGuard(self.clone()))
    }

    /// The long operation running now, if any.
    pub fn running_operation(&self) -> Option<String> {
        relock(&self.shared.running).clone()
    }

    /// Asks the backup scheduler to check now.
    pub fn wake_scheduler(&self) {
        // A closed channel means the scheduler is not running (tests that never start it).
        let _ = relock(&self.shared.scheduler).send(());
    }

    /// The scheduler's end of the wake-up channel (taken once, when it starts).
    pub(crate) fn take_scheduler_wakeups(&self) -> Option<Receiver<()>> {
        relock(&self.shared.scheduler_wakeups).take()
    }
}

fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Clears the "long operation running" mark on drop (and counts the end as activity).
#[derive(Debug)]
pub struct BusyGuard(AppState);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        *relock(&self.0.shared.running) = None;
        self.0.touch();
    }
}
