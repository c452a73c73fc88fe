//! The audit trail as the session offers it: listing, verifying, incident reports, access
//! reviews, alerts and retention. Reading any of it needs the view-audit right; values are
//! masked to the reader's clearance like everything else.

use chrono::{DateTime, Duration, Utc};
use rusqlite::OptionalExtension;

use super::alerts::{self, Alert};
use super::review::{self, AccessReview, HeldRight};
use super::{Action, AuditEntry, AuditEvent, AuditFilter, HeadFile, VerifyReport};
use crate::error::{Error, Result};
use crate::policy::{self, Right, RoleDef};
use crate::vault::Session;

const RETENTION_KEY: &str = "audit_retention_days";

/// Retention pruning and alert scanning, run right after every unlock.
pub(crate) fn after_unlock(session: &mut Session) -> Result<()> {
    if let Some(days) = session.audit_retention_days()? {
        session.prune_audit_before(Utc::now() - Duration::days(i64::from(days)))?;
    }
    alerts::scan(session.store().conn(), Utc::now())?;
    Ok(())
}

impl Session {
    fn require_view_audit(&self) -> Result<RoleDef> {
        self.require_right(Right::ViewAudit)
    }

    fn require_owner(&self, what: &str) -> Result<()> {
        if policy::is_owner_role(&self.user().role) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("only an Owner can {what}")))
        }
    }

    /// Entries matching `filter`, newest first, values masked to your clearance.
    pub fn audit_list(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let role = self.require_view_audit()?;
        super::list(self.store().conn(), filter, role.clearance.as_u8())
    }

    /// Who viewed, revealed, changed or exported one record in a period: the report a breach
    /// notification needs.
    pub fn audit_who(
        &self,
        entity: &str,
        record_id: &str,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<AuditEntry>> {
        self.audit_list(&AuditFilter {
            actions: vec![
                Action::View,
                Action::Reveal,
                Action::Export,
                Action::Update,
                Action::Delete,
                Action::Erase,
            ],
            entity: Some(entity.to_owned()),
            record_id: Some(record_id.to_owned()),
            since,
            until,
            limit: Some(10_000),
            ..AuditFilter::default()
        })
    }

    /// Recomputes the whole chain and compares it with `audit-head.json`.
    pub fn audit_verify(&mut self) -> Result<VerifyReport> {
        self.require_view_audit()?;
        self.write(|_, _| Ok(()))?; // flush batched reads first, so the head file is current
        let head_file = HeadFile::read(&self.paths().audit_head)?;
        let (store, key) = self.store_and_audit_key();
        super::verify(store.conn(), key, head_file.as_ref())
    }

    /// The current chain head (for backup manifests).
    pub fn audit_head(&mut self) -> Result<super::ChainHead> {
        self.write(|_, _| Ok(()))?;
        super::head(self.store().conn())
    }

    /// The access review over the last `period_days`.
    pub fn access_review(&self, period_days: i64) -> Result<AccessReview> {
        self.require_view_audit()?;
        if !(1..=3650).contains(&period_days) {
            return Err(Error::Invalid(
                "the review period must be 1 to 3650 days".into(),
            ));
        }
        let roles = policy::list(self.store().conn())?;
        let rights_of = |name: &str| {
            let role = roles
                .iter()
                .find(|role| role.name == name)
                .cloned()
                .unwrap_or_else(|| RoleDef::nothing(name));
            rights_held(&role)
        };
        review::build(self.store().conn(), period_days, Utc::now(), &rights_of)
    }

    /// Signs off the access review: records who reviewed what, and a digest of it.
    pub fn sign_off_access_review(&mut self, period_days: i64) -> Result<AccessReview> {
        self.require_owner("sign off an access review")?;
        let review = self.access_review(period_days)?;
        let digest = {
            use sha2::{Digest, Sha256};
            let bytes = serde_json::to_vec(&review.users).unwrap_or_default();
            hex::encode(Sha256::digest(bytes))
        };
        self.record(
            AuditEvent::new(Action::AccessReviewSigned)
                .detail("period_days", period_days)
                .detail("users", review.users.len())
                .detail("digest", digest),
        )?;
        Ok(review)
    }

    /// Unusual-activity alerts (unacknowledged only, unless `all`), after a fresh scan.
    pub fn alerts(&self, all: bool) -> Result<Vec<Alert>> {
        self.require_view_audit()?;
        alerts::scan(self.store().conn(), Utc::now())?;
        alerts::list(self.store().conn(), all)
    }

    /// Acknowledges an alert (recorded).
    pub fn acknowledge_alert(&mut self, id: i64) -> Result<()> {
        self.require_view_audit()?;
        let by = self.user().name.clone();
        self.write(|tx, audit| {
            if !alerts::acknowledge(tx, id, &by)? {
                return Err(Error::NotFound(format!("unacknowledged alert {id}")));
            }
            audit.record(AuditEvent::new(Action::AlertAcknowledged).target("alert", id));
            Ok(())
        })
    }

    /// The retention period in days, or `None` to keep everything (the default).
    pub fn audit_retention_days(&self) -> Result<Option<u32>> {
        let stored: Option<String> = self
            .store()
            .conn()
            .query_row(
                "SELECT value FROM vault_meta WHERE key = ?1",
                [RETENTION_KEY],
                |row| row.get(0),
            )
            .optional()?;
        Ok(stored.and_then(|days| days.parse().ok()))
    }

    /// Sets (or with `None` clears) the retention period. Owner only; recorded.
    pub fn set_audit_retention_days(&mut self, days: Option<u32>) -> Result<()> {
        self.require_owner("change audit retention")?;
        if days.is_some_and(|days| days < 30) {
            return Err(Error::Invalid(
                "keep the audit trail for at least 30 days".into(),
            ));
        }
        let old = self.audit_retention_days()?;
        self.write(|tx, audit| {
            match days {
                Some(days) => tx.execute(
                    "INSERT INTO vault_meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    rusqlite::params![RETENTION_KEY, days.to_string()],
                )?,
                None => tx.execute("DELETE FROM vault_meta WHERE key = ?1", [RETENTION_KEY])?,
            };
            audit.record(
                AuditEvent::new(Action::PolicyChanged)
                    .field("audit_retention_days", 0)
                    .change(old.map(|d| d.to_string()), days.map(|d| d.to_string())),
            );
            Ok(())
        })
    }

    /// Prunes entries older than `before` behind a verifiable checkpoint; returns how many.
    pub(crate) fn prune_audit_before(&mut self, before: DateTime<Utc>) -> Result<i64> {
        let by = self.user().name.clone();
        let (store, key) = self.store_and_audit_key();
        let tx = store.transaction()?;
        let pruned = super::prune(&tx, key, before, &by)?;
        tx.commit()?;
        if pruned > 0 {
            self.record(AuditEvent::new(Action::AuditPruned).detail("entries", pruned))?;
        }
        Ok(pruned)
    }
}

/// Rights a role holds, with the trail actions that exercise them, for the access review.
fn rights_held(role: &RoleDef) -> Vec<HeldRight> {
    use crate::policy::{Action as Do, Scope};
    use crate::records::fields::Entity;
    let mut held = Vec::new();
    for right in &role.rights {
        let exercised_by: &[&'static str] = match right {
            Right::ManageUsers => &[
                "user_added",
                "user_removed",
                "password_reset",
                "role_assigned",
            ],
            Right::ManageRoles => &["role_changed", "classification_changed"],
            Right::ViewAudit => &["access_review_signed", "alert_acknowledged"],
            Right::RunBackups => &["backup", "backup_verified"],
            Right::ManageBackupSettings => &["policy_changed"],
            Right::Restore => &["restore"],
            Right::ErasePersonalData => &["erase"],
            Right::Reveal => &["reveal"],
            Right::ViewFinancial => &["view"],
        };
        held.push(HeldRight {
            name: right.name().replace('_', " "),
            exercised_by: exercised_by.to_vec(),
        });
    }
    for entity in Entity::ALL {
        for action in Do::ALL {
            let scope = role.scope(entity, action);
            if scope == Scope::None {
                continue;
            }
            let exercised_by: &[&'static str] = match action {
                Do::View => &["view", "search"],
                Do::Create => &["create"],
                Do::Edit => &["update"],
                Do::Delete => &["delete"],
                Do::Import => &["import"],
                Do::Export => &["export"],
            };
            held.push(HeldRight {
                name: format!("{} {} ({})", action.name(), entity.table(), scope.name()),
                exercised_by: exercised_by.to_vec(),
            });
        }
    }
    held
}
