//! Deleting records without silent loss.
//!
//! A record may have linked records pointing at it: a company its contacts, deals, activities
//! and notes; a contact its deals, activities and notes; a deal its activities and notes. The
//! database is never left to remove or unlink them behind the caller's back (no cascade fires
//! here): the caller chooses with [`Dependents`] to refuse while anything is linked, to detach
//! the linked records (their reference is cleared, audited as a field change), or to delete
//! them too — together with what is linked to the deleted contacts and deals in turn, so no
//! record is left pointing at one that is gone.
//!
//! Access control covers every record touched, not only the one named: detaching needs edit
//! scope on each linked record and sight of its reference field, deleting needs delete scope on
//! each. If any is out of reach nothing changes, and the refusal counts only the linked
//! records the user may view, so it discloses nothing about the others but that they exist.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;

use super::fields::Entity;
use super::{Dependents, delete_row, remove_unused_tags, view};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{Action, RoleDef};
use crate::vault::Session;

/// The records that point at a record of `entity`: (linked entity, its reference column).
/// Every foreign key between record tables is listed here (a test checks it against the
/// schema), so deleting never leaves the database to cascade or to null a reference silently.
pub(crate) fn links(entity: Entity) -> &'static [(Entity, &'static str)] {
    match entity {
        Entity::Company => &[
            (Entity::Contact, "company_id"),
            (Entity::Deal, "company_id"),
            (Entity::Activity, "company_id"),
            (Entity::Note, "company_id"),
        ],
        Entity::Contact => &[
            (Entity::Deal, "contact_id"),
            (Entity::Activity, "contact_id"),
            (Entity::Note, "contact_id"),
        ],
        Entity::Deal => &[(Entity::Activity, "deal_id"), (Entity::Note, "deal_id")],
        Entity::Activity | Entity::Note => &[],
    }
}

/// Deletion order: records that others may point at go last, so a record is always deleted
/// after everything in the same deletion that points at it.
fn deletion_rank(entity: Entity) -> u8 {
    match entity {
        Entity::Activity | Entity::Note => 0,
        Entity::Deal => 1,
        Entity::Contact => 2,
        Entity::Company => 3,
    }
}

/// One record linked to the record being deleted.
#[derive(Debug, Clone)]
struct Linked {
    entity: Entity,
    id: i64,
    /// The column that points at the parent.
    column: &'static str,
    /// The parent it was found through (for the audit trail).
    parent: (Entity, i64),
    owner_id: i64,
    /// Within the user's view scope.
    viewable: bool,
    /// Within the scope of the action the deletion needs on it (edit to detach, delete to
    /// delete).
    reachable: bool,
}

impl Session {
    /// Deletes a record. A record with linked records (see `links`) is refused unless
    /// `dependents` says to detach them or to delete them too; either way each linked record
    /// touched must be within the user's scope, and each change is recorded in the audit trail.
    /// The record's custom field values and tags go with it.
    pub fn delete(&mut self, entity: Entity, id: i64, dependents: Dependents) -> Result<()> {
        let (role, scope) = self.require_scope(entity, Action::Delete)?;
        self.require_in_scope(entity, id, scope)?;
        let action = match dependents {
            Dependents::Detach => Action::Edit,
            Dependents::Refuse | Dependents::Delete => Action::Delete,
        };
        let direct = self.linked_to(&role, entity, id, action)?;
        if direct.is_empty() {
            return self.write(|tx, audit| {
                delete_row(tx, entity, id)?;
                remove_unused_tags(tx)?;
                audit.record(AuditEvent::new(AuditAction::Delete).target(entity.name(), id));
                Ok(())
            });
        }
        match dependents {
            Dependents::Refuse => Err(refusal(entity, id, &direct)),
            Dependents::Detach => self.detach_and_delete(&role, entity, id, &direct),
            Dependents::Delete => {
                let all = self.linked_closure(&role, entity, id, direct)?;
                if all.iter().any(|linked| !linked.reachable) {
                    return Err(out_of_reach(entity, id, "delete"));
                }
                self.delete_all(entity, id, all)
            }
        }
    }

    /// The records pointing at `entity` `id` directly, with whether the user may view them and
    /// take `action` on them.
    fn linked_to(
        &self,
        role: &RoleDef,
        entity: Entity,
        id: i64,
        action: Action,
    ) -> Result<Vec<Linked>> {
        let mut found = Vec::new();
        for (child, column) in links(entity) {
            // Scope conditions are NULL, not false, on a record without a team: coalesce.
            let (view_sql, view_values) = self.scope_condition(role.scope(*child, Action::View))?;
            let (act_sql, act_values) = self.scope_condition(role.scope(*child, action))?;
            let sql = format!(
                "SELECT r.id, r.owner_id, coalesce(({view_sql}), 0), coalesce(({act_sql}), 0)
                 FROM {} r WHERE r.{column} = ?
                 ORDER BY r.id",
                child.table()
            );
            let mut values: Vec<SqlValue> = view_values;
            values.extend(act_values);
            values.push(SqlValue::Integer(id));
            let mut statement = self.store().conn().prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(values), |row| {
                Ok(Linked {
                    entity: *child,
                    id: row.get(0)?,
                    column,
                    parent: (entity, id),
                    owner_id: row.get(1)?,
                    viewable: row.get(2)?,
                    reachable: row.get(3)?,
                })
            })?;
            for row in rows {
                found.push(row?);
            }
        }
        Ok(found)
    }

    /// Everything deleted with a record: its linked records and, transitively, theirs.
    fn linked_closure(
        &self,
        role: &RoleDef,
        entity: Entity,
        id: i64,
        direct: Vec<Linked>,
    ) -> Result<Vec<Linked>> {
        let mut seen: BTreeSet<(Entity, i64)> = BTreeSet::from([(entity, id)]);
        let mut all = Vec::new();
        let mut queue = direct;
        while let Some(linked) = queue.pop() {
            if !seen.insert((linked.entity, linked.id)) {
                continue;
            }
            queue.extend(self.linked_to(role, linked.entity, linked.id, Action::Delete)?);
            all.push(linked);
        }
        Ok(all)
    }

    /// Clears the reference of every directly linked record, then deletes the record.
    fn detach_and_delete(
        &mut self,
        role: &RoleDef,
        entity: Entity,
        id: i64,
        direct: &[Linked],
    ) -> Result<()> {
        let me = self.user().id;
        // Detaching writes the reference field: the user must be allowed to write it on that
        // record, exactly as an edit would require.
        let mut levels = BTreeMap::new();
        for linked in direct {
            let fields = self.fields(linked.entity)?;
            let field = fields
                .iter()
                .find(|field| field.name == linked.column)
                .cloned()
                .ok_or_else(|| Error::Invalid(format!("no field {}", linked.column)))?;
            let writable = view::visible(
                role,
                &field,
                view::allowed_level(role, linked.owner_id == me),
            );
            if !linked.reachable || !writable {
                return Err(out_of_reach(entity, id, "change"));
            }
            levels.insert((linked.entity, linked.column), field.level);
        }
        let now = Utc::now().to_rfc3339();
        self.write(|tx, audit| {
            for linked in direct {
                tx.execute(
                    &format!(
                        "UPDATE {} SET {} = NULL, updated_at = ?1, updated_by = ?2 WHERE id = ?3",
                        linked.entity.table(),
                        linked.column
                    ),
                    rusqlite::params![now, me, linked.id],
                )?;
                let level = levels
                    .get(&(linked.entity, linked.column))
                    .map_or(0, |level| level.as_u8());
                audit.record(
                    AuditEvent::new(AuditAction::Update)
                        .target(linked.entity.name(), linked.id)
                        .field(linked.column, level)
                        .change(Some(id.to_string()), None)
                        .detail("detached_from", format!("{}:{id}", entity.name())),
                );
            }
            delete_row(tx, entity, id)?;
            remove_unused_tags(tx)?;
            audit.record(
                AuditEvent::new(AuditAction::Delete)
                    .target(entity.name(), id)
                    .detail("detached", direct.len()),
            );
            Ok(())
        })
    }

    /// Deletes the record and every record in `linked`, those that others point at last.
    fn delete_all(&mut self, entity: Entity, id: i64, mut linked: Vec<Linked>) -> Result<()> {
        linked.sort_by_key(|record| (deletion_rank(record.entity), record.id));
        self.write(|tx, audit| {
            for record in &linked {
                delete_row(tx, record.entity, record.id)?;
                audit.record(
                    AuditEvent::new(AuditAction::Delete)
                        .target(record.entity.name(), record.id)
                        .detail(
                            "with",
                            format!("{}:{}", record.parent.0.name(), record.parent.1),
                        )
                        .detail("deleting", format!("{}:{id}", entity.name())),
                );
            }
            delete_row(tx, entity, id)?;
            remove_unused_tags(tx)?;
            audit.record(
                AuditEvent::new(AuditAction::Delete)
                    .target(entity.name(), id)
                    .detail("with_linked", linked.len()),
            );
            Ok(())
        })
    }
}

/// Why a delete with linked records is refused: the linked records the user may view, counted
/// by kind; any others only as "records you cannot see", never counted.
fn refusal(entity: Entity, id: i64, direct: &[Linked]) -> Error {
    let mut counts: BTreeMap<Entity, usize> = BTreeMap::new();
    for linked in direct.iter().filter(|linked| linked.viewable) {
        *counts.entry(linked.entity).or_default() += 1;
    }
    let mut parts: Vec<String> = counts
        .iter()
        .map(|(linked, count)| {
            let noun = if *count == 1 {
                linked.name()
            } else {
                linked.table()
            };
            format!("{count} {noun}")
        })
        .collect();
    if direct.iter().any(|linked| !linked.viewable) {
        parts.push("records you cannot see".into());
    }
    Error::Invalid(format!(
        "{} {id} still has linked records ({}): choose to detach them or to delete them too",
        entity.name(),
        join_and(&parts)
    ))
}

fn out_of_reach(entity: Entity, id: i64, verb: &str) -> Error {
    Error::Forbidden(format!(
        "{} {id} has linked records you may not {verb}; nothing was deleted",
        entity.name()
    ))
}

/// `a`, `a and b`, `a, b and c`.
fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Scope;
    use crate::records::RecordInput;
    use crate::test_support::{add_user, login, owner_vault};

    fn input(pairs: &[(&str, &str)]) -> RecordInput {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), serde_json::json!(value)))
            .collect()
    }

    fn count(session: &Session, sql: &str) -> Result<i64> {
        Ok(session
            .store()
            .conn()
            .query_row(sql, [], |row| row.get(0))?)
    }

    #[test]
    fn every_foreign_key_between_records_is_handled_by_delete() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let owner = owner_vault(dir.path())?;
        for child in Entity::ALL {
            let mut statement = owner
                .store()
                .conn()
                .prepare(&format!("PRAGMA foreign_key_list({})", child.table()))?;
            let keys: Vec<(String, String)> = statement
                .query_map([], |row| Ok((row.get(2)?, row.get(3)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (parent_table, column) in keys {
                let Ok(parent) = Entity::parse(&parent_table) else {
                    continue; // users, teams, stages: not records
                };
                assert!(
                    links(parent).contains(&(child, column.as_str())),
                    "{}.{column} → {parent_table} is not in links()",
                    child.table()
                );
            }
        }
        Ok(())
    }

    #[test]
    fn detaching_keeps_activities_and_notes_unlinked_and_audits_each() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        let company = owner.create(Entity::Company, &input(&[("name", "Acme")]))?;
        let link = company.to_string();
        let call = owner.create(
            Entity::Activity,
            &input(&[
                ("kind", "call"),
                ("subject", "Intro"),
                ("company_id", &link),
            ]),
        )?;
        let note = owner.create(
            Entity::Note,
            &input(&[("body", "Met at the fair"), ("company_id", &link)]),
        )?;
        let refused = owner.delete(Entity::Company, company, Dependents::Refuse);
        let message = refused
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(message.contains("1 activity and 1 note"), "{message}");
        owner.delete(Entity::Company, company, Dependents::Detach)?;
        for (entity, id) in [(Entity::Activity, call), (Entity::Note, note)] {
            let record = owner.show(entity, id)?;
            assert_eq!(record.value("company_id"), None, "{entity:?} detached");
        }
        owner.write(|_, _| Ok(()))?; // flush batched reads so the trail is complete
        assert_eq!(
            count(
                &owner,
                "SELECT count(*) FROM audit_log WHERE action = 'update' AND field = 'company_id'
                 AND new_value IS NULL AND detail LIKE '%detached_from%'",
            )?,
            2,
            "each detached record is audited"
        );
        Ok(())
    }

    #[test]
    fn deleting_dependents_removes_them_with_their_custom_values_and_tags() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        owner.add_custom_field(
            Entity::Activity,
            &crate::records::custom_fields::CustomFieldSpec::text("outcome_code", "Outcome code"),
        )?;
        let company = owner.create(Entity::Company, &input(&[("name", "Acme")]))?;
        let link = company.to_string();
        let contact = owner.create(
            Entity::Contact,
            &input(&[("last_name", "Berg"), ("company_id", &link)]),
        )?;
        let contact_link = contact.to_string();
        // Linked only to the contact: it goes because the contact goes.
        let call = owner.create(
            Entity::Activity,
            &input(&[
                ("kind", "call"),
                ("subject", "Intro"),
                ("contact_id", &contact_link),
                ("outcome_code", "A1"),
            ]),
        )?;
        owner.tag(Entity::Activity, call, &["hot".into()])?;
        owner.create(
            Entity::Note,
            &input(&[("body", "Likes lenses"), ("contact_id", &contact_link)]),
        )?;
        owner.delete(Entity::Company, company, Dependents::Delete)?;
        assert_eq!(
            count(
                &owner,
                "SELECT count(*) FROM audit_log WHERE action = 'delete'"
            )?,
            4,
            "company, contact, activity and note each audited"
        );
        for table in [
            "companies",
            "contacts",
            "activities",
            "notes",
            "custom_values",
            "record_tags",
            "tags",
        ] {
            assert_eq!(
                count(&owner, &format!("SELECT count(*) FROM {table}"))?,
                0,
                "{table}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_team_scoped_delete_handles_linked_records_that_belong_to_no_team() -> Result<()> {
        // Regression: the team scope condition is NULL (not false) on a record without a
        // team, which once failed the whole delete with a database error.
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        add_user(&mut owner, "mia", "Sales Manager")?;
        owner.set_user_team("mia", Some("north"))?;
        let mut mia = login(dir.path(), "mia")?;
        let company = mia.create(Entity::Company, &input(&[("name", "Acme")]))?;
        let link = company.to_string();
        owner.create(
            Entity::Contact,
            &input(&[("last_name", "Teamless"), ("company_id", &link)]),
        )?;
        let refused = mia.delete(Entity::Company, company, Dependents::Detach);
        assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
        let refused = mia.delete(Entity::Company, company, Dependents::Refuse);
        assert!(matches!(refused, Err(Error::Invalid(_))), "{refused:?}");
        Ok(())
    }

    #[test]
    fn a_delete_touching_a_linked_record_out_of_scope_changes_nothing_and_counts_nothing_hidden()
    -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        add_user(&mut owner, "rita", "Sales Representative")?;
        add_user(&mut owner, "sven", "Sales Representative")?;
        // Representatives may delete their own companies here, and attach contacts to
        // companies they can see.
        let mut rep = owner
            .list_roles()?
            .into_iter()
            .find(|summary| summary.role.name == "Sales Representative")
            .map(|summary| summary.role)
            .ok_or_else(|| Error::NotFound("template".into()))?;
        rep.grants
            .entry(Entity::Company)
            .or_default()
            .extend([(Action::Delete, Scope::Own), (Action::View, Scope::All)]);
        owner.save_role(&rep, false)?;
        let mut rita = login(dir.path(), "rita")?;
        let company = rita.create(Entity::Company, &input(&[("name", "Acme")]))?;
        let mut sven = login(dir.path(), "sven")?;
        let hidden = sven.create(
            Entity::Contact,
            &input(&[
                ("last_name", "Hidden"),
                ("company_id", &company.to_string()),
            ]),
        )?;
        for dependents in [Dependents::Refuse, Dependents::Detach, Dependents::Delete] {
            let error = rita
                .delete(Entity::Company, company, dependents)
                .err()
                .map(|error| error.to_string())
                .unwrap_or_default();
            assert!(!error.is_empty(), "{dependents:?} must be refused");
            assert!(!error.contains("1 contact"), "{dependents:?}: {error}");
        }
        assert!(owner.show(Entity::Company, company).is_ok());
        let contact = owner.show(Entity::Contact, hidden)?;
        assert_eq!(
            contact.value("company_id"),
            Some(&serde_json::json!(company)),
            "the hidden contact is untouched"
        );
        Ok(())
    }
}
