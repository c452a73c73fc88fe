//! The session host: which vault, and whether it is locked or unlocked, for a backend that
//! keeps the session in this process ([`LocalBackend`](super::LocalBackend)).
//!
//! The session lives behind one mutex as `Locked | Unlocked(Session)`. Locking (explicit or
//! after the idle period) takes the session out and hands it to crm-core's `lock`/`auto_lock`,
//! which records the event and drops it: the data key is zeroized and the connection closed.
//!
//! A long operation (import, key rotation, reclassification, a backup's full re-verification)
//! holds the session for its whole run. Callers run on worker threads, never on a window's
//! event loop: they wait a moment for a short call ahead of them ([`SESSION_WAIT`]) and get
//! `busy` (naming the operation) when a long one holds the session. While a long operation
//! runs it counts as activity, so auto-lock cannot fire during it or right after it.
//!
//! Backups do not hold the session ([`SessionHost::start_backup`]): crm-core prepares a job
//! with its own connection in a moment, the job runs for minutes with the session free
//! (search, lists and edits go on), and the session that started it records it at the end
//! ([`BackupRun::finish`]). One backup runs at a time, and no key rotation starts meanwhile.
//! Locking during a backup locks at once for the user: the session leaves their reach
//! ("parked") and is locked as soon as it has recorded its backup, so the finished backup is
//! not thrown away. The backup job's own connection holds the data key for that time anyway.
//!
//! `SessionHost` is a cheap handle (an `Arc` inside): workers clone it.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use crm_core::backup::{FinishedJob, RunFailure, RunReport};
use crm_core::{RecoveryIdentity, Session};

use crate::error::{ApiError, ApiResult};

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
pub struct SessionHost {
    /// The vault directory this host works on.
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
    /// Numbers the sessions installed, so a backup job is recorded by the session that
    /// started it. Changed only while holding `lock`.
    session_number: Mutex<u64>,
    /// The backup job running now, if any.
    backup: Mutex<Option<RunningBackup>>,
    /// A session locked while its backup job ran: out of the user's reach, kept only to
    /// record that job, then locked.
    parked: Mutex<Option<Parked>>,
    /// Wakes the backup scheduler (after an unlock or a changed plan).
    scheduler: Mutex<Sender<()>>,
    scheduler_wakeups: Mutex<Option<Receiver<()>>>,
}

impl SessionHost {
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
                session_number: Mutex::new(0),
                backup: Mutex::new(None),
                parked: Mutex::new(None),
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
    fn lock_state_soon(&self) -> ApiResult<MutexGuard<'_, Lock>> {
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
    pub fn busy_error(&self) -> ApiError {
        match self.running_operation().or_else(|| self.running_backup()) {
            Some(operation) => ApiError::busy_with(&operation),
            None => ApiError::busy(),
        }
    }

    /// Runs `work` with the open session on this thread, or fails with `locked`, or with
    /// `busy` when a long operation holds the session. Counts as activity.
    pub fn with_session<T>(&self, work: impl FnOnce(&mut Session) -> ApiResult<T>) -> ApiResult<T> {
        self.with_session_untouched(|session| {
            self.touch();
            work(session)
        })
    }

    /// As [`with_session`](Self::with_session), without counting as activity: for the app's
    /// own background checks, which must not hold auto-lock off.
    pub fn with_session_untouched<T>(
        &self,
        work: impl FnOnce(&mut Session) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut guard = self.lock_state_soon()?;
        match &mut *guard {
            Lock::Locked => Err(ApiError::locked()),
            Lock::Unlocked(session) => work(session),
        }
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
        let retired = {
            let mut guard = self.lock_state();
            let previous = std::mem::replace(&mut *guard, Lock::Unlocked(session.into()));
            let number = {
                let mut number = relock(&self.shared.session_number);
                *number += 1;
                *number - 1
            };
            match previous {
                Lock::Locked => None,
                Lock::Unlocked(old) => self.park_if_backing_up(old, number, false),
            }
        };
        if let Some(old) = retired {
            old.lock();
        }
        self.touch();
        self.wake_scheduler();
    }

    /// Locks now. The user loses the session at once; a running long operation holding it
    /// is let finish first, and a session whose backup job is running is locked as soon as it
    /// has recorded it (see the module docs). Returns whether a session was open.
    pub fn lock_now(&self, idle: bool) -> bool {
        let retired = {
            let mut guard = self.lock_state();
            match std::mem::take(&mut *guard) {
                Lock::Locked => return false,
                Lock::Unlocked(session) => {
                    let number = *relock(&self.shared.session_number);
                    self.park_if_backing_up(session, number, idle)
                }
            }
        };
        if let Some(session) = retired {
            if idle {
                session.auto_lock();
            } else {
                session.lock();
            }
        }
        true
    }

    /// A session leaving the user (`number`): parked when its backup job is running (it is
    /// locked after recording the job), else handed back to be locked now. Called holding the
    /// lock state, so a job finishing meanwhile sees either the session or the parked one.
    fn park_if_backing_up(
        &self,
        session: Box<Session>,
        number: u64,
        idle: bool,
    ) -> Option<Box<Session>> {
        let backing_up = relock(&self.shared.backup)
            .as_ref()
            .is_some_and(|backup| backup.session == number);
        if !backing_up {
            return Some(session);
        }
        let mut parked = relock(&self.shared.parked);
        let previous = parked.replace(Parked {
            session: number,
            idle,
            inner: session,
        });
        // Only one backup runs at a time, so nothing else is parked; lock whatever was.
        previous.map(|old| old.inner)
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
    pub fn start_long_operation(&self, name: &str) -> ApiResult<BusyGuard> {
        let mut running = relock(&self.shared.running);
        if let Some(current) = running.as_deref() {
            return Err(ApiError::busy_with(current));
        }
        *running = Some(name.to_owned());
        self.touch();
        Ok(BusyGuard(self.clone()))
    }

    /// The long operation running now, if any.
    pub fn running_operation(&self) -> Option<String> {
        relock(&self.shared.running).clone()
    }

    /// The backup job running now, by its user-facing name (`"a scheduled backup"`).
    pub fn running_backup(&self) -> Option<String> {
        relock(&self.shared.backup)
            .as_ref()
            .map(|backup| backup.name.clone())
    }

    /// `busy` while a backup job runs (for work that must not overlap one, such as a key
    /// rotation, which needs the vault alone).
    pub fn refuse_during_backup(&self) -> ApiResult<()> {
        match self.running_backup() {
            Some(name) => Err(ApiError::busy_with(&name)),
            None => Ok(()),
        }
    }

    /// Starts a backup job with the open session: `start` asks crm-core for one (which checks
    /// rights and the schedule); `None` means nothing to do. The job is marked running for
    /// this session, and `busy` is answered while another backup runs. `touch`: counts as user
    /// activity (a click on "Back up now"), not for the scheduler's own checks.
    pub fn start_backup<J>(
        &self,
        name: &str,
        touch: bool,
        start: impl FnOnce(&mut Session) -> ApiResult<Option<J>>,
    ) -> ApiResult<Option<(BackupRun, J)>> {
        let mut guard = self.lock_state_soon()?;
        let Lock::Unlocked(session) = &mut *guard else {
            return Err(ApiError::locked());
        };
        let mut backup = relock(&self.shared.backup);
        if let Some(running) = backup.as_ref() {
            return Err(ApiError::busy_with(&running.name));
        }
        if touch {
            self.touch();
        }
        let Some(job) = start(session)? else {
            return Ok(None);
        };
        let number = *relock(&self.shared.session_number);
        *backup = Some(RunningBackup {
            name: name.to_owned(),
            session: number,
        });
        Ok(Some((
            BackupRun {
                state: self.clone(),
                session: number,
                done: false,
            },
            job,
        )))
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

/// A backup job running off the session.
#[derive(Debug)]
struct RunningBackup {
    /// User-facing name (`"a backup"`, `"a scheduled backup"`).
    name: String,
    /// The session that started it.
    session: u64,
}

/// A session that left the user while its backup job ran.
#[derive(Debug)]
struct Parked {
    session: u64,
    /// Locked for idleness (recorded as an auto-lock).
    idle: bool,
    inner: Box<Session>,
}

/// A running backup job's place in the app: [`finish`](Self::finish) records the finished
/// job with the session that started it. Dropped unfinished (the job failed to run, a panic),
/// it clears the mark and locks a session parked for it.
#[derive(Debug)]
pub struct BackupRun {
    state: SessionHost,
    session: u64,
    done: bool,
}

impl BackupRun {
    /// Records the finished job (installs its backups, prunes, records the runs and alerts)
    /// with the session that started it: the open one, or the one parked because the user
    /// locked meanwhile, which is then locked. Never fails: problems are in the report.
    pub fn finish(mut self, finished: FinishedJob) -> RunReport {
        self.done = true;
        let state = self.state.clone();
        let mut guard = state.lock_state();
        let current = *relock(&state.shared.session_number) == self.session;
        if let (true, Lock::Unlocked(session)) = (current, &mut *guard) {
            let report = session.finish_backup_job(finished);
            *relock(&state.shared.backup) = None;
            return report;
        }
        let parked = relock(&state.shared.parked).take_if(|parked| parked.session == self.session);
        *relock(&state.shared.backup) = None;
        drop(guard);
        match parked {
            Some(mut parked) => {
                let report = parked.inner.finish_backup_job(finished);
                if parked.idle {
                    parked.inner.auto_lock();
                } else {
                    parked.inner.lock();
                }
                report
            }
            // Cannot happen (a session leaving while its job runs is parked); the job's
            // unfinished backups are removed as it drops.
            None => RunReport {
                failures: vec![RunFailure {
                    path: None,
                    problem: "the vault was locked before the backup could be recorded; it runs again at the next unlock".into(),
                }],
                ..RunReport::default()
            },
        }
    }
}

impl Drop for BackupRun {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let _guard = self.state.lock_state();
        *relock(&self.state.shared.backup) = None;
        let parked =
            relock(&self.state.shared.parked).take_if(|parked| parked.session == self.session);
        drop(_guard);
        if let Some(parked) = parked {
            if parked.idle {
                parked.inner.auto_lock();
            } else {
                parked.inner.lock();
            }
        }
    }
}

/// Clears the "long operation running" mark on drop (and counts the end as activity).
#[derive(Debug)]
pub struct BusyGuard(SessionHost);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        *relock(&self.0.shared.running) = None;
        self.0.touch();
    }
}
