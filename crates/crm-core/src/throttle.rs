//! Failed-unlock bookkeeping kept outside the encrypted database.
//!
//! Failures happen before anything is unlocked, so they cannot go into the encrypted audit
//! trail at once. They are kept in `unlock-failures.json` (user names, times and workstation
//! only; no customer data, no secret) and folded into the trail at the next successful unlock.
//! After [`FREE_ATTEMPTS`] failures for one user, each further attempt must wait a doubling
//! delay. This slows a casual guesser at the keyboard; the real barrier against an attacker
//! holding a copy of the files is the Argon2id cost of every guess.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil;

/// Failures allowed before delays start.
pub const FREE_ATTEMPTS: u32 = 5;
const MAX_DELAY_SECS: u64 = 15 * 60;
const MAX_KEPT_EVENTS: usize = 10_000;

/// One failed attempt, waiting to be written to the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedUnlock {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The user name that was tried.
    pub user: String,
    /// The machine it was tried on.
    pub workstation: String,
    /// Stable error code of the failure (`wrong_credentials`, `key_file_required`, …).
    pub reason: String,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct UserFailures {
    consecutive: u32,
    last_at: Option<DateTime<Utc>>,
}

/// The failure log of one vault.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct FailureLog {
    #[serde(default)]
    users: BTreeMap<String, UserFailures>,
    #[serde(default)]
    pending_events: Vec<FailedUnlock>,
    #[serde(skip)]
    path: PathBuf,
}

impl FailureLog {
    /// Loads the log; a missing or unreadable log starts empty (it holds no committed data).
    pub fn load(path: &Path) -> Self {
        let mut log: FailureLog = std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        log.path = path.to_owned();
        log
    }

    /// Seconds the user must still wait before the next attempt, if any.
    pub fn wait_for(&self, user: &str, now: DateTime<Utc>) -> Option<u64> {
        let record = self.users.get(user)?;
        if record.consecutive < FREE_ATTEMPTS {
            return None;
        }
        let exponent = (record.consecutive - FREE_ATTEMPTS).min(20);
        let delay = (1u64 << exponent).min(MAX_DELAY_SECS);
        let last = record.last_at?;
        let elapsed = (now - last).num_seconds().max(0) as u64;
        (elapsed < delay).then(|| delay - elapsed)
    }

    /// Refuses the attempt if the user is in a delay period.
    pub fn check(&self, user: &str) -> Result<()> {
        match self.wait_for(user, Utc::now()) {
            Some(retry_after_secs) => Err(Error::Throttled { retry_after_secs }),
            None => Ok(()),
        }
    }

    /// Consecutive failures recorded for a user.
    pub fn consecutive_failures(&self, user: &str) -> u32 {
        self.users.get(user).map_or(0, |record| record.consecutive)
    }

    /// Records a failure and saves the log.
    pub fn record_failure(&mut self, user: &str, reason: &str) -> Result<()> {
        let now = Utc::now();
        let record = self.users.entry(user.to_owned()).or_default();
        record.consecutive = record.consecutive.saturating_add(1);
        record.last_at = Some(now);
        self.pending_events.push(FailedUnlock {
            at: now,
            user: user.to_owned(),
            workstation: workstation(),
            reason: reason.to_owned(),
        });
        if self.pending_events.len() > MAX_KEPT_EVENTS {
            let excess = self.pending_events.len() - MAX_KEPT_EVENTS;
            self.pending_events.drain(..excess);
        }
        self.save()
    }

    /// Clears the user's counter after a successful unlock and hands over every pending
    /// failure event (all users) for the audit trail.
    pub fn record_success(&mut self, user: &str) -> Result<Vec<FailedUnlock>> {
        self.users.remove(user);
        let events = std::mem::take(&mut self.pending_events);
        self.save()?;
        Ok(events)
    }

    /// Failures waiting to be written to the audit trail.
    pub fn pending_events(&self) -> &[FailedUnlock] {
        &self.pending_events
    }

    /// Clears one user's counter (after an administrator reset their password).
    pub fn clear_user(&mut self, user: &str) -> Result<()> {
        if self.users.remove(user).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|error| Error::Invalid(format!("failure log: {error}")))?;
        fsutil::write_atomic(&self.path, &bytes)
    }
}

/// This machine's name, recorded with unlocks and audit entries.
pub fn workstation() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn delays_start_after_five_failures_and_double() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut log = FailureLog::load(&dir.path().join("failures.json"));
        for _ in 0..FREE_ATTEMPTS - 1 {
            log.record_failure("ann", "wrong_credentials")?;
        }
        assert_eq!(log.wait_for("ann", Utc::now()), None);
        log.record_failure("ann", "wrong_credentials")?;
        let now = Utc::now();
        assert_eq!(log.wait_for("ann", now), Some(1));
        log.record_failure("ann", "wrong_credentials")?;
        assert_eq!(log.wait_for("ann", Utc::now()), Some(2));
        assert_eq!(log.wait_for("ann", Utc::now() + Duration::seconds(5)), None);
        assert_eq!(log.wait_for("bob", now), None, "other users are not slowed");
        let reloaded = FailureLog::load(&dir.path().join("failures.json"));
        assert_eq!(reloaded.consecutive_failures("ann"), FREE_ATTEMPTS + 1);
        Ok(())
    }

    #[test]
    fn success_resets_the_counter_and_hands_over_events() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut log = FailureLog::load(&dir.path().join("failures.json"));
        log.record_failure("ann", "wrong_credentials")?;
        log.record_failure("bob", "key_file_required")?;
        let events = log.record_success("ann")?;
        assert_eq!(events.len(), 2);
        assert_eq!(log.consecutive_failures("ann"), 0);
        assert_eq!(log.consecutive_failures("bob"), 1);
        Ok(())
    }
}
