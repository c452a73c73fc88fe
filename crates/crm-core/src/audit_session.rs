//! The audit trail as the session offers it: listing, verifying, incident reports, access
//! reviews, alerts and retention. Reading any of it needs the view-audit right; old and new
//! values are masked to the reader's current view of each field, by the same rule that masks
//! records.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

use crate::audit::alerts::{self, Alert};
use crate::audit::anchors::{BackupAnchor, HeadFileState};
use crate::audit::review::{self, AccessReview, HeldRight};
use crate::audit::{
    self, AuditAction, AuditEntry, AuditEvent, AuditFilter, ValueTarget, VerifyReport,
};
use crate::backup::Manifest;
use crate::error::{Error, Result};
use crate::policy::{self, Right, RoleDef};
use crate::records::fields::Entity;
use crate::records::{EffectiveField, view};
use crate::vault::Session;

/// Decides, entry by entry, whether the reader may see a listed old or new value: the field's
/// current level and financial flag against the reader's role, through the records' own rule
/// (`view::visible` at `view::allowed_level` for the record's owner). Values of things that are
/// not record fields (policy, roles, search text) keep the level they were written with and
/// are read at the reader's clearance on others' records.
struct ValueVisibility<'s> {
    session: &'s Session,
    role: &'s RoleDef,
    fields: HashMap<Entity, Vec<EffectiveField>>,
    mine: HashMap<(Entity, i64), bool>,
}

impl<'s> ValueVisibility<'s> {
    fn new(session: &'s Session, role: &'s RoleDef) -> Self {
        Self {
            session,
            role,
            fields: HashMap::new(),
            mine: HashMap::new(),
        }
    }

    fn may_see(&mut self, target: ValueTarget<'_>) -> Result<bool> {
        let Some(entity) = target.entity.and_then(|name| Entity::parse(name).ok()) else {
            // Nobody's record (a search text, a policy value): the stricter of the two
            // clearances, as for records owned by someone else.
            let allowed = view::allowed_level(self.role, false);
            return Ok(target.level_then <= allowed.as_u8());
        };
        let mine = match target.record_id.and_then(|id| id.parse::<i64>().ok()) {
            Some(id) => self.owned_by_reader(entity, id)?,
            None => false,
        };
        let allowed = view::allowed_level(self.role, mine);
        if !self.fields.contains_key(&entity) {
            self.fields.insert(entity, self.session.fields(entity)?);
        }
        let field = target.field.and_then(|name| {
            self.fields
                .get(&entity)
                .and_then(|fields| fields.iter().find(|field| field.name == name))
        });
        Ok(match field {
            Some(field) => view::visible(self.role, field, allowed),
            // Not a field of the record (its owner, its tags) or a custom field since removed.
            None => target.level_then <= allowed.as_u8(),
        })
    }

    /// Whether the reader owns the record now (a deleted record is nobody's).
    fn owned_by_reader(&mut self, entity: Entity, id: i64) -> Result<bool> {
        if let Some(mine) = self.mine.get(&(entity, id)) {
            return Ok(*mine);
        }
        let owner: Option<i64> = self
            .session
            .store()
            .conn()
            .query_row(
                &format!("SELECT owner_id FROM {} WHERE id = ?1", entity.table()),
                [id],
                |row| row.get(0),
            )
            .optional()?;
        let mine = owner == Some(self.session.user().id);
        self.mine.insert((entity, id), mine);
        Ok(mine)
    }
}

impl Session {
    fn require_view_audit(&self) -> Result<RoleDef> {
        self.require_right(Right::ViewAudit)
    }

    /// Refuses unless the user holds the Owner role now (re-read, as every check is: a session
    /// demoted while open loses owner powers at once).
    fn require_owner(&self, what: &str) -> Result<()> {
        if policy::is_owner_role(&self.role()?.name) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("only an Owner can {what}")))
        }
    }

    /// Entries matching `filter`, newest first. Old and new values show only where you may
    /// see that field now (its current level and financial flag, as on the record itself).
    pub fn audit_list(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let role = self.require_view_audit()?;
        let mut visibility = ValueVisibility::new(self, &role);
        audit::list(self.store().conn(), filter, &mut |target| {
            visibility.may_see(target)
        })
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
                AuditAction::View,
                AuditAction::Reveal,
                AuditAction::Export,
                AuditAction::Update,
                AuditAction::Delete,
                AuditAction::Erase,
            ],
            entity: Some(entity.to_owned()),
            record_id: Some(record_id.to_owned()),
            since,
            until,
            limit: Some(10_000),
            ..AuditFilter::default()
        })
    }

    /// Recomputes the checkpoints and the whole chain, and compares the trail with its anchors
    /// outside the database: `audit-head.json` and the heads recorded in every reachable backup
    /// of this vault (configured destinations and folders backed up to before), so an older
    /// database put back is found even when the head file was removed with it.
    pub fn audit_verify(&mut self) -> Result<VerifyReport> {
        self.require_view_audit()?;
        self.write(|_, _| Ok(()))?; // flush batched reads first, so the head file is current
        let head_file = HeadFileState::read(&self.paths().audit_head);
        let (backups, unreachable) = self.reachable_backup_anchors()?;
        let vault_id = self.vault_id().to_string();
        let head_was_missing = self.audit_head_was_missing();
        let (store, key) = self.store_and_audit_key();
        let mut report = audit::verify(store.conn(), key, &vault_id, &head_file, &backups)?;
        if head_was_missing {
            report.warnings.insert(
                0,
                "audit-head.json was missing when this session unlocked (an alert was raised and \
                 it was written again): an older database put back can then be detected only \
                 through the backups compared"
                    .to_owned(),
            );
        }
        report.warnings.extend(unreachable);
        Ok(report)
    }

    /// The chain heads recorded by every backup found in the folders this vault backs up to,
    /// and a note for each folder or manifest that could not be read (naming it only to a
    /// reader with a backup right: where the backups lie is theirs to know, not every
    /// auditor's).
    fn reachable_backup_anchors(&self) -> Result<(Vec<BackupAnchor>, Vec<String>)> {
        let named = self.require_backup_reader().is_ok();
        let mut anchors = Vec::new();
        let mut notes = Vec::new();
        for destination in self.known_backup_destinations()? {
            let backups = match self.backups_in(Some(&destination)) {
                Ok(backups) => backups,
                Err(error) => {
                    notes.push(if named {
                        format!(
                            "backups in {} were not compared: {error}",
                            destination.display()
                        )
                    } else {
                        "the backups in one destination could not be read and were not compared"
                            .to_owned()
                    });
                    continue;
                }
            };
            for backup in backups {
                match Manifest::read(&backup.path) {
                    Ok(manifest) => anchors.extend(manifest.audit_anchor()),
                    Err(error) if named => notes.push(format!("backup not compared: {error}")),
                    Err(_) => notes.push("a backup's manifest is unreadable: not compared".into()),
                }
            }
        }
        Ok((anchors, notes))
    }

    /// The current chain head (for backup manifests).
    pub fn audit_head(&mut self) -> Result<audit::ChainHead> {
        self.write(|_, _| Ok(()))?;
        audit::head(self.store().conn())
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
            AuditEvent::new(AuditAction::AccessReviewSigned)
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

    /// The alerts to put in front of this user at unlock: every unacknowledged alert for a
    /// role holding the view-audit right (the Owner, an Auditor), nothing for anyone else.
    /// Unlock has just scanned for new ones; this only reads. The CLI prints them after
    /// unlocking and in `crm status`; the desktop shows them after its unlock screen.
    pub fn alerts_to_show(&self) -> Result<Vec<Alert>> {
        if !self.role()?.has(Right::ViewAudit) {
            return Ok(Vec::new());
        }
        alerts::list(self.store().conn(), false)
    }

    /// Acknowledges an alert (recorded).
    pub fn acknowledge_alert(&mut self, id: i64) -> Result<()> {
        self.require_view_audit()?;
        let by = self.user().name.clone();
        self.write(|tx, audit| {
            if !alerts::acknowledge(tx, id, &by)? {
                return Err(Error::NotFound(format!("unacknowledged alert {id}")));
            }
            audit.record(AuditEvent::new(AuditAction::AlertAcknowledged).target("alert", id));
            Ok(())
        })
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
                    rusqlite::params![crate::vault::AUDIT_RETENTION_KEY, days.to_string()],
                )?,
                None => tx.execute(
                    "DELETE FROM vault_meta WHERE key = ?1",
                    [crate::vault::AUDIT_RETENTION_KEY],
                )?,
            };
            audit.record(
                AuditEvent::new(AuditAction::PolicyChanged)
                    .field("audit_retention_days", 0)
                    .change(old.map(|d| d.to_string()), days.map(|d| d.to_string())),
            );
            Ok(())
        })
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
