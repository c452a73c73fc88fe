//! Writing records: creating and updating one record, checked field by field against the
//! writer's role.

use chrono::Utc;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};

use super::*;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{Action, RoleDef, Scope};
use crate::vault::Session;

impl Session {
    /// The fields this user may fill in on a record of their own (a create form): at or below
    /// their clearance, financial ones only with the view-financial right. `create` refuses
    /// the others, so a form built from this never offers a field that would be refused.
    pub fn writable_fields(&self, entity: Entity) -> Result<Vec<EffectiveField>> {
        let role = self.role()?;
        Ok(self
            .fields(entity)?
            .into_iter()
            .filter(|field| view::visible(&role, field, role.clearance))
            .collect())
    }

    /// Creates a record owned by the signed-in user; returns its id.
    pub fn create(&mut self, entity: Entity, input: &RecordInput) -> Result<i64> {
        let (role, _) = self.require_scope(entity, Action::Create)?;
        let fields = self.fields(entity)?;
        let (builtin, custom) = self.prepare_input(&role, role.clearance, &fields, input, true)?;
        let user_id = self.user().id;
        let team = self.team_id()?;
        let now = Utc::now().to_rfc3339();
        let columns: Vec<&str> = builtin
            .iter()
            .map(|(field, _)| field.name.as_str())
            .collect();
        let writer = RecordWriter::new(entity, &columns, entity == Entity::Contact, Nulls::Clear);
        let stamp = Stamp { user_id, team, now };
        let id = self.write(|tx, audit| {
            let values = builtin
                .iter()
                .map(|(_, stored)| stored.sql.clone())
                .collect();
            let id = writer.insert(tx, values, emails_key(&builtin), &stamp)?;
            for (field, stored) in &custom {
                set_custom(tx, entity, id, field, stored)?;
            }
            search::reindex(tx, entity, id)?;
            let mut event = AuditEvent::new(AuditAction::Create).target(entity.name(), id);
            for (field, stored) in builtin.iter().chain(custom.iter()) {
                audit.record(
                    AuditEvent::new(AuditAction::Update)
                        .target(entity.name(), id)
                        .field(&field.name, field.level.as_u8())
                        .change(None, stored.text.clone()),
                );
            }
            event = event.detail("fields", builtin.len() + custom.len());
            audit.record(event);
            Ok(id)
        })?;
        Ok(id)
    }

    /// Changes fields of a record; each changed field is audited old → new.
    pub fn update(&mut self, entity: Entity, id: i64, input: &RecordInput) -> Result<()> {
        let (role, scope) = self.require_scope(entity, Action::Edit)?;
        self.require_in_scope(entity, id, scope)?;
        let fields = self.fields(entity)?;
        let owner: i64 = self.store().conn().query_row(
            &format!("SELECT owner_id FROM {} WHERE id = ?1", entity.table()),
            [id],
            |row| row.get(0),
        )?;
        let allowed = view::allowed_level(&role, owner == self.user().id);
        let (builtin, custom) = self.prepare_input(&role, allowed, &fields, input, false)?;
        let old = view::raw_values(self.store().conn(), entity, id, &fields)?;
        let user_id = self.user().id;
        let columns: Vec<&str> = builtin
            .iter()
            .map(|(field, _)| field.name.as_str())
            .collect();
        // A contact's email key follows its emails; an update that leaves them leaves it.
        let with_key = entity == Entity::Contact && columns.contains(&"emails");
        let writer = RecordWriter::new(entity, &columns, with_key, Nulls::Clear);
        let stamp = Stamp {
            user_id,
            team: None,
            now: Utc::now().to_rfc3339(),
        };
        self.write(|tx, audit| {
            let values = builtin
                .iter()
                .map(|(_, stored)| stored.sql.clone())
                .collect();
            writer.update(tx, id, values, emails_key(&builtin), &stamp)?;
            for (field, stored) in &custom {
                set_custom(tx, entity, id, field, stored)?;
            }
            search::reindex(tx, entity, id)?;
            for (field, stored) in builtin.iter().chain(custom.iter()) {
                let before = old.get(&field.name).cloned().flatten();
                if before != stored.text {
                    audit.record(
                        AuditEvent::new(AuditAction::Update)
                            .target(entity.name(), id)
                            .field(&field.name, field.level.as_u8())
                            .change(before, stored.text.clone()),
                    );
                }
            }
            Ok(())
        })
    }

    /// Validates and converts input; refuses fields the role may not see (writing a field you
    /// cannot read would let you probe it).
    pub(crate) fn prepare_input<'f>(
        &self,
        role: &RoleDef,
        allowed: Level,
        fields: &'f [EffectiveField],
        input: &RecordInput,
        creating: bool,
    ) -> Result<(Prepared<'f>, Prepared<'f>)> {
        let mut builtin = Vec::new();
        let mut custom = Vec::new();
        for name in input.keys() {
            if !fields.iter().any(|field| field.name == *name) {
                let known: Vec<&str> = fields.iter().map(|field| field.name.as_str()).collect();
                return Err(Error::Invalid(format!(
                    "unknown field {name:?}; fields: {}",
                    known.join(", ")
                )));
            }
        }
        for field in fields {
            let value = match input.get(&field.name) {
                Some(value) => value,
                None if creating && field.required => {
                    return Err(Error::Invalid(format!("{} is required", field.label)));
                }
                None => continue,
            };
            if !view::visible(role, field, allowed) {
                return Err(Error::Forbidden(format!(
                    "the {} field is above your clearance",
                    field.label
                )));
            }
            let stored = parse_value(field, value)?;
            if let SqlValue::Integer(target) = stored.sql
                && matches!(
                    field.kind,
                    Kind::CompanyRef | Kind::ContactRef | Kind::DealRef | Kind::StageRef
                )
            {
                self.check_reference(role, field, target)?;
            }
            if field.custom_id.is_some() {
                custom.push((field, stored));
            } else {
                builtin.push((field, stored));
            }
        }
        Ok((builtin, custom))
    }

    /// Checks that a referenced record exists and is visible to this user.
    pub(crate) fn check_reference(
        &self,
        role: &RoleDef,
        field: &EffectiveField,
        id: i64,
    ) -> Result<()> {
        let target = match field.kind {
            Kind::CompanyRef => Entity::Company,
            Kind::ContactRef => Entity::Contact,
            Kind::DealRef => Entity::Deal,
            Kind::StageRef => {
                let exists: bool = self.store().conn().query_row(
                    "SELECT EXISTS (SELECT 1 FROM stages WHERE id = ?1)",
                    [id],
                    |row| row.get(0),
                )?;
                return if exists {
                    Ok(())
                } else {
                    Err(Error::Invalid(format!("{}: no stage {id}", field.label)))
                };
            }
            _ => return Ok(()),
        };
        let scope = role.scope(target, Action::View);
        if scope != Scope::None && self.record_in_scope(target, id, scope)? {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "{}: no {} {id} that you can see",
                field.label,
                target.name()
            )))
        }
    }
}

/// The email key of a contact written with these fields (`None` without emails).
fn emails_key(builtin: &[(&EffectiveField, Stored)]) -> Option<String> {
    email_key(
        builtin
            .iter()
            .find(|(field, _)| field.name == "emails")
            .and_then(|(_, stored)| stored.text.as_deref()),
    )
}

/// A contact's dedupe key: its first email in lower case. `emails` is the display text
/// (`a@x, b@y`).
pub(crate) fn email_key(emails: Option<&str>) -> Option<String> {
    emails
        .and_then(|list| list.split(", ").next())
        .map(str::to_lowercase)
}

/// Who writes a record, and when: stamped on every row created or changed.
#[derive(Debug, Clone)]
pub(crate) struct Stamp {
    /// The writing user: owner and creator of what they create, last editor of what they
    /// change.
    pub(crate) user_id: i64,
    /// The team a created record belongs to (unused on update).
    pub(crate) team: Option<i64>,
    /// The time (RFC 3339).
    pub(crate) now: String,
}

/// What an update does with a column whose new value is NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nulls {
    /// Clears it (an edit that empties a field).
    Clear,
    /// Keeps the stored value (an import row with that cell empty).
    Keep,
}

/// The one writer of record rows, used by `create`/`update` and by the importer alike: the
/// given built-in columns, the owner, team and time stamps, and a contact's email key. The SQL
/// is built once per column set and prepared through the connection's statement cache, so an
/// import prepares it once for all its rows.
#[derive(Debug)]
pub(crate) struct RecordWriter {
    insert_sql: String,
    update_sql: String,
    /// Whether the email key is written after the columns.
    email_key: bool,
}

impl RecordWriter {
    /// A writer of `columns` (built-in fields) of `entity`; `email_key` adds the contact's
    /// email key after them.
    pub(crate) fn new(entity: Entity, columns: &[&str], email_key: bool, nulls: Nulls) -> Self {
        let mut insert_columns: Vec<&str> = columns.to_vec();
        insert_columns.extend([
            "owner_id",
            "team_id",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
        ]);
        let mut set_columns: Vec<&str> = columns.to_vec();
        if email_key {
            insert_columns.push("email_key");
            set_columns.push("email_key");
        }
        let insert_sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            entity.table(),
            insert_columns.join(", "),
            vec!["?"; insert_columns.len()].join(", ")
        );
        let mut sets = vec!["updated_at = ?".to_owned(), "updated_by = ?".to_owned()];
        sets.extend(set_columns.iter().map(|name| match nulls {
            Nulls::Clear => format!("{name} = ?"),
            Nulls::Keep => format!("{name} = coalesce(?, {name})"),
        }));
        let update_sql = format!(
            "UPDATE {} SET {} WHERE id = ?",
            entity.table(),
            sets.join(", ")
        );
        Self {
            insert_sql,
            update_sql,
            email_key,
        }
    }

    /// Inserts a record with `values` (one per column, in order) owned by the stamp's user;
    /// returns its id. `email_key` is used only by a writer made with one.
    pub(crate) fn insert(
        &self,
        tx: &rusqlite::Transaction<'_>,
        mut values: Vec<SqlValue>,
        email_key: Option<String>,
        stamp: &Stamp,
    ) -> Result<i64> {
        values.extend([
            SqlValue::Integer(stamp.user_id),
            stamp.team.map_or(SqlValue::Null, SqlValue::Integer),
            SqlValue::Text(stamp.now.clone()),
            SqlValue::Integer(stamp.user_id),
            SqlValue::Text(stamp.now.clone()),
            SqlValue::Integer(stamp.user_id),
        ]);
        if self.email_key {
            values.push(email_key.map_or(SqlValue::Null, SqlValue::Text));
        }
        tx.prepare_cached(&self.insert_sql)?
            .execute(params_from_iter(values))?;
        Ok(tx.last_insert_rowid())
    }

    /// Writes `values` (one per column, in order) over record `id`, stamped as changed now.
    pub(crate) fn update(
        &self,
        tx: &rusqlite::Transaction<'_>,
        id: i64,
        values: Vec<SqlValue>,
        email_key: Option<String>,
        stamp: &Stamp,
    ) -> Result<()> {
        let mut all = vec![
            SqlValue::Text(stamp.now.clone()),
            SqlValue::Integer(stamp.user_id),
        ];
        all.extend(values);
        if self.email_key {
            all.push(email_key.map_or(SqlValue::Null, SqlValue::Text));
        }
        all.push(SqlValue::Integer(id));
        tx.prepare_cached(&self.update_sql)?
            .execute(params_from_iter(all))?;
        Ok(())
    }
}

pub(crate) fn set_custom(
    tx: &rusqlite::Transaction<'_>,
    entity: Entity,
    id: i64,
    field: &EffectiveField,
    stored: &Stored,
) -> Result<()> {
    let Some(field_id) = field.custom_id else {
        return Ok(());
    };
    match &stored.text {
        Some(text) => tx.execute(
            "INSERT INTO custom_values (entity, record_id, field_id, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (entity, record_id, field_id) DO UPDATE SET value = excluded.value",
            params![entity.name(), id, field_id, text],
        )?,
        None => tx.execute(
            "DELETE FROM custom_values WHERE entity = ?1 AND record_id = ?2 AND field_id = ?3",
            params![entity.name(), id, field_id],
        )?,
    };
    Ok(())
}
