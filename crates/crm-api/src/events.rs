//! What a backend tells its front end without being asked: progress of long work, the vault
//! locking itself, a scheduled backup's outcome.
//!
//! The backend calls an [`EventSink`]; the desktop's sink turns each call into a Tauri event,
//! a remote transport would stream them, and tests collect them ([`Recorded`]).

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Progress of a long operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Progress {
    /// Which operation (`remove_user`, `rotate_key`, `import`, `backup`, `restore`,
    /// `classify`, `scheduled_backup`).
    pub operation: String,
    /// What is happening now.
    pub step: String,
    /// Steps done.
    pub done: u32,
    /// Steps in all.
    pub total: u32,
}

/// Why the vault locked without the front end asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Locked {
    /// `idle` (auto-lock) or `explicit`.
    pub reason: String,
}

/// A scheduled backup finished (or failed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ScheduledBackup {
    /// Verified backups made (one per destination).
    pub made: u32,
    /// Why the run failed, if it did.
    pub problem: Option<String>,
}

/// Where a backend's unasked-for news goes. Calls come from worker threads.
pub trait EventSink: Send + Sync {
    /// A long operation advanced.
    fn progress(&self, progress: Progress);
    /// The vault locked itself.
    fn locked(&self, locked: Locked);
    /// A scheduled backup finished.
    fn scheduled_backup(&self, outcome: ScheduledBackup);
}

/// Drops every event (a CLI run that shows no progress).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn progress(&self, _: Progress) {}
    fn locked(&self, _: Locked) {}
    fn scheduled_backup(&self, _: ScheduledBackup) {}
}

/// Keeps every event, in order (tests, and front ends that poll).
#[derive(Debug, Default)]
pub struct Recorded {
    events: Mutex<Vec<Event>>,
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// See [`EventSink::progress`].
    Progress(Progress),
    /// See [`EventSink::locked`].
    Locked(Locked),
    /// See [`EventSink::scheduled_backup`].
    ScheduledBackup(ScheduledBackup),
}

impl Recorded {
    /// The events so far, taken out.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.events
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl EventSink for Recorded {
    fn progress(&self, progress: Progress) {
        self.lock().push(Event::Progress(progress));
    }
    fn locked(&self, locked: Locked) {
        self.lock().push(Event::Locked(locked));
    }
    fn scheduled_backup(&self, outcome: ScheduledBackup) {
        self.lock().push(Event::ScheduledBackup(outcome));
    }
}

/// A crm-core progress callback that reports `operation`'s steps to `sink`.
pub fn progress_to<'a>(
    sink: &'a dyn EventSink,
    operation: &'a str,
) -> impl FnMut(crm_core::Progress) + 'a {
    move |progress: crm_core::Progress| {
        sink.progress(Progress {
            operation: operation.to_owned(),
            step: progress.step,
            done: crate::error::count(progress.done),
            total: crate::error::count(progress.total),
        });
    }
}
