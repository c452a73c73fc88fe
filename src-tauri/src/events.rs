//! The backend's unasked-for news as Tauri events for the window: `progress-event`,
//! `locked-event`, `scheduled-backup-event` (typed in the generated bindings).

use std::sync::OnceLock;

use crm_api::events::{EventSink, Locked, Progress, ScheduledBackup};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Runtime};
use tauri_specta::Event;

/// Progress of a long operation.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, Event)]
#[serde(transparent)]
pub struct ProgressEvent(pub Progress);

/// The vault locked itself.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, Event)]
#[serde(transparent)]
pub struct LockedEvent(pub Locked);

/// A scheduled backup finished or failed.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, Event)]
#[serde(transparent)]
pub struct ScheduledBackupEvent(pub ScheduledBackup);

/// Sends the backend's events to the window, once the app exists (events before that have
/// no window to reach and are dropped).
#[derive(Debug)]
pub struct WindowEvents<R: Runtime> {
    app: OnceLock<AppHandle<R>>,
}

impl<R: Runtime> Default for WindowEvents<R> {
    fn default() -> Self {
        Self {
            app: OnceLock::new(),
        }
    }
}

impl<R: Runtime> WindowEvents<R> {
    /// The app to emit to (set once, when it is ready).
    pub fn attach(&self, app: AppHandle<R>) {
        let _ = self.app.set(app);
    }

    fn emit(&self, event: impl Event + Serialize + Clone) {
        if let Some(app) = self.app.get()
            && let Err(error) = event.emit(app)
        {
            tracing::warn!("could not send an event to the window: {error}");
        }
    }
}

impl<R: Runtime> EventSink for WindowEvents<R> {
    fn progress(&self, progress: Progress) {
        self.emit(ProgressEvent(progress));
    }
    fn locked(&self, locked: Locked) {
        self.emit(LockedEvent(locked));
    }
    fn scheduled_backup(&self, outcome: ScheduledBackup) {
        self.emit(ScheduledBackupEvent(outcome));
    }
}
