//! Audit retention, applied right after every unlock: entries older than the owner's retention
//! period are pruned behind a chained checkpoint, and the alert scan runs. It lives beside the
//! session (not with the rest of the session-facing audit code, which sits above records and
//! backups) because unlocking runs it.

use chrono::{DateTime, Duration, Utc};
use rusqlite::OptionalExtension;

use super::Session;
use crate::audit::checkpoint::{self, Pruned};
use crate::audit::{AuditAction, AuditEvent, alerts, anchors};
use crate::error::Result;

/// Where the retention period is kept (`vault_meta`); set by the session-facing audit module.
pub(crate) const AUDIT_RETENTION_KEY: &str = "audit_retention_days";

/// Retention pruning and alert scanning, run right after every unlock.
pub(super) fn after_unlock(session: &mut Session) -> Result<()> {
    if let Some(days) = session.audit_retention_days()? {
        session.prune_audit_before(Utc::now() - Duration::days(i64::from(days)))?;
    }
    alerts::scan(session.store().conn(), Utc::now())?;
    Ok(())
}

impl Session {
    /// The retention period in days, or `None` to keep everything (the default).
    pub fn audit_retention_days(&self) -> Result<Option<u32>> {
        let stored: Option<String> = self
            .store()
            .conn()
            .query_row(
                "SELECT value FROM vault_meta WHERE key = ?1",
                [AUDIT_RETENTION_KEY],
                |row| row.get(0),
            )
            .optional()?;
        Ok(stored.and_then(|days| days.parse().ok()))
    }

    /// Prunes entries older than `before` behind a chained checkpoint, recording the pruning
    /// in the same transaction; returns how many entries went. A range that does not verify is
    /// left in place as evidence, with a warning and an alert.
    pub(crate) fn prune_audit_before(&mut self, before: DateTime<Utc>) -> Result<i64> {
        let by = self.user().name.clone();
        let outcome = self.write_with_audit_key(|tx, key, audit| {
            let outcome = checkpoint::prune(tx, key, before, &by)?;
            if let Pruned::Entries(entries) = outcome {
                audit.record(AuditEvent::new(AuditAction::AuditPruned).detail("entries", entries));
            }
            Ok(outcome)
        })?;
        match outcome {
            Pruned::Entries(entries) => Ok(entries),
            Pruned::Nothing => Ok(0),
            Pruned::RefusedBroken(bad) => {
                alerts::raise(
                    self.store().conn(),
                    "-",
                    anchors::PRUNE_REFUSED_ALERT,
                    Utc::now(),
                )?;
                self.warn(format!(
                    "audit retention did not prune: entry {} does not verify ({}); run `crm audit \
                     verify`",
                    bad.seq, bad.reason
                ));
                Ok(0)
            }
        }
    }
}
