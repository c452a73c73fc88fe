//! The customer base: companies, contacts, deals, activities and notes, with tags, pipelines
//! and custom fields — always read and written through a [`Session`], which applies the role.
//!
//! API overview (all on [`Session`]):
//!
//! | call | what |
//! |---|---|
//! | `create(entity, input)` / `update(entity, id, input)` | write, field by field, audited old → new |
//! | `delete(entity, id, dependents)` | delete, deciding what happens to linked records ([`delete`]) |
//! | `show(entity, id)` | one [`RecordView`], fields masked or absent per the role |
//! | `list(entity, &ListQuery)` | a [`Page`] of views with filters, sorting and paging |
//! | `search(text, limit)` | ranked [`search::SearchHit`]s over companies, contacts and deals |
//! | `reveal(entity, id, field, reason)` | one Highly Confidential value, audited |
//! | `reassign(entity, id, user)` / `set_team(entity, id, team)` | a record's owner and team |
//! | `tag` / `untag` / `tags(entity)` | tags ([`tags`]) |
//! | `fields(entity)` / `classify` / custom fields | the field list with levels ([`custom_fields`]) |
//! | `pipeline()` / `set_stages` / `add_stage` / … | configurable stages ([`pipeline`]); a deal moves with `update` of `stage_id` |
//! | `dashboard(today)` | pipeline totals and the week ([`summary`]) |
//! | `import_csv` / `import_vcard` / `export` | files, through the same view |
//!
//! Every field is described once in [`fields`]; the role view in [`view`] is the only place that
//! decides what leaves the core. Files by job: `write` (create, update and the one
//! `RecordWriter` the importer uses too), `values` (parsing each kind of value), `list`
//! (lists and paging), `owners` (reassigning and teams); this file holds the field list, the
//! scope checks every use case starts with, `show`, `reveal` and `classify`.

pub mod custom_fields;
pub mod delete;
#[cfg(feature = "bench")]
pub mod demo;
pub mod erase;
pub mod export;
pub mod fields;
pub mod import;
mod list;
mod owners;
pub mod pipeline;
pub mod search;
pub mod summary;
pub mod tags;
mod values;
pub mod vcard;
pub mod view;
mod write;

use std::collections::BTreeMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{Action, Right, RoleDef, Scope};
use crate::vault::Session;
use fields::{Entity, FieldDef, Kind, Level, MaskStyle};
pub use list::{ListQuery, Page};
pub use pipeline::{Outcome, Stage, StagePlan};
pub use values::{format_money, parse_money};
pub use view::{FieldView, RecordView};

pub(crate) use values::{Prepared, Stored, parse_value};
pub(crate) use write::set_custom;

/// A field as it currently applies: the built-in definition with the owner's classification,
/// or a custom field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveField {
    /// Name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Type.
    pub kind: Kind,
    /// Current classification.
    pub level: Level,
    /// Financial data.
    pub financial: bool,
    /// In the search index.
    pub searchable: bool,
    /// Masking style.
    pub mask: MaskStyle,
    /// Required on create.
    pub required: bool,
    /// Allowed values for choices.
    pub choices: Vec<String>,
    /// The custom field's id, for custom fields.
    pub custom_id: Option<i64>,
}

impl EffectiveField {
    fn from_builtin(def: &FieldDef, level: Level) -> Self {
        Self {
            name: def.name.into(),
            label: def.label.into(),
            kind: def.kind,
            level,
            financial: def.financial,
            searchable: def.searchable,
            mask: def.mask,
            required: def.required,
            choices: def
                .choices
                .iter()
                .map(|choice| (*choice).to_owned())
                .collect(),
            custom_id: None,
        }
    }
}

/// The current field list of an entity (built-in with classification overrides, then custom).
pub(crate) fn effective_fields(
    conn: &crate::store::Connection,
    entity: Entity,
) -> Result<Vec<EffectiveField>> {
    let mut overrides = BTreeMap::new();
    {
        let mut statement =
            conn.prepare_cached("SELECT field, level FROM field_levels WHERE entity = ?1")?;
        let rows = statement.query_map([entity.name()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, u8>(1)?))
        })?;
        for row in rows {
            let (field, level) = row?;
            overrides.insert(field, Level::from_u8(level)?);
        }
    }
    let mut list: Vec<EffectiveField> = entity
        .fields()
        .iter()
        .map(|def| {
            EffectiveField::from_builtin(def, overrides.get(def.name).copied().unwrap_or(def.level))
        })
        .collect();
    let mut statement = conn.prepare_cached(
        "SELECT id, name, label, kind, choices, level, financial FROM custom_fields
         WHERE entity = ?1 ORDER BY id",
    )?;
    let rows = statement.query_map([entity.name()], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, u8>(5)?,
            row.get::<_, bool>(6)?,
        ))
    })?;
    for row in rows {
        let (id, name, label, kind, choices, level, financial) = row?;
        list.push(EffectiveField {
            name,
            label,
            kind: custom_fields::parse_kind(&kind)?,
            level: Level::from_u8(level)?,
            financial,
            searchable: false,
            mask: MaskStyle::Absent,
            required: false,
            choices: serde_json::from_str(&choices).unwrap_or_default(),
            custom_id: Some(id),
        });
    }
    Ok(list)
}

/// Field values for a create or update: field name → value (text is parsed by the field's type;
/// `null` clears a field).
pub type RecordInput = BTreeMap<String, serde_json::Value>;

/// What to do with a record's linked records when it is deleted: a company's contacts, deals,
/// activities and notes; a contact's deals, activities and notes; a deal's activities and notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dependents {
    /// Refuse if there are any (the default: nothing is removed silently).
    Refuse,
    /// Keep them, unlinked.
    Detach,
    /// Delete them too, with what is linked to the deleted contacts and deals in turn.
    Delete,
}

impl Session {
    /// The role, refusing if `action` on `entity` has no scope at all.
    pub(crate) fn require_scope(&self, entity: Entity, action: Action) -> Result<(RoleDef, Scope)> {
        let role = self.role()?;
        let scope = role.scope(entity, action);
        if scope == Scope::None {
            return Err(Error::Forbidden(format!(
                "the {} role cannot {} {}",
                role.name,
                action.name(),
                entity.table()
            )));
        }
        Ok((role, scope))
    }

    /// SQL condition (on alias `r`) limiting rows to `scope`, with its parameters.
    pub(crate) fn scope_condition(&self, scope: Scope) -> Result<(String, Vec<SqlValue>)> {
        let me = SqlValue::Integer(self.user().id);
        Ok(match scope {
            Scope::All => ("1 = 1".into(), Vec::new()),
            Scope::Own => ("r.owner_id = ?".into(), vec![me]),
            Scope::Team => match self.team_id()? {
                Some(team) => (
                    "(r.team_id = ? OR r.owner_id = ?)".into(),
                    vec![SqlValue::Integer(team), me],
                ),
                None => ("r.owner_id = ?".into(), vec![me]),
            },
            Scope::None => ("0 = 1".into(), Vec::new()),
        })
    }

    pub(crate) fn team_id(&self) -> Result<Option<i64>> {
        Ok(self.store().conn().query_row(
            "SELECT team_id FROM users WHERE id = ?1",
            [self.user().id],
            |row| row.get(0),
        )?)
    }

    /// The effective fields of an entity, for forms and the settings screen.
    pub fn fields(&self, entity: Entity) -> Result<Vec<EffectiveField>> {
        effective_fields(self.store().conn(), entity)
    }

    /// Whether the signed-in user may take `action` on this record (for showing only the
    /// buttons that will work; the action itself checks again).
    pub fn may(&self, entity: Entity, id: i64, action: Action) -> Result<bool> {
        let scope = self.role()?.scope(entity, action);
        if scope == Scope::None {
            return Ok(false);
        }
        self.record_in_scope(entity, id, scope)
    }

    fn record_in_scope(&self, entity: Entity, id: i64, scope: Scope) -> Result<bool> {
        let (condition, params) = self.scope_condition(scope)?;
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} r WHERE r.id = ? AND {condition})",
            entity.table()
        );
        let mut values: Vec<SqlValue> = vec![SqlValue::Integer(id)];
        values.extend(params);
        Ok(self
            .store()
            .conn()
            .query_row(&sql, params_from_iter(values), |row| row.get(0))?)
    }

    /// Refuses (as "not found", so nothing leaks) if the record is outside the scope.
    fn require_in_scope(&self, entity: Entity, id: i64, scope: Scope) -> Result<()> {
        if self.record_in_scope(entity, id, scope)? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("{} {id}", entity.name())))
        }
    }

    /// One record, as the role may see it. Viewing a record with visible Confidential fields is
    /// recorded in the audit trail.
    pub fn show(&mut self, entity: Entity, id: i64) -> Result<RecordView> {
        let (role, scope) = self.require_scope(entity, Action::View)?;
        self.require_in_scope(entity, id, scope)?;
        let fields = self.fields(entity)?;
        let views = view::load(
            self,
            &role,
            entity,
            &fields,
            &format!("r.id = {id}"),
            &[],
            None,
            1,
            0,
        )?;
        let record = views
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("{} {id}", entity.name())))?;
        if record.shows_level(Level::Confidential) {
            self.note_read(AuditEvent::new(AuditAction::View).target(entity.name(), id))?;
        }
        Ok(record)
    }

    /// Reveals one Highly Confidential value: needs the reveal right, the record in view scope,
    /// a reason, and a field classified Highly Confidential (anything lower is shown or hidden
    /// by clearance alone, never revealed). The reveal is written to the audit trail before the
    /// value is returned.
    pub fn reveal(
        &mut self,
        entity: Entity,
        id: i64,
        field_name: &str,
        reason: &str,
    ) -> Result<String> {
        let role = self.require_right(Right::Reveal)?;
        let (_, scope) = self.require_scope(entity, Action::View)?;
        self.require_in_scope(entity, id, scope)?;
        if reason.trim().chars().count() < 5 {
            return Err(Error::Invalid(
                "give a reason for revealing this value (at least 5 characters)".into(),
            ));
        }
        let fields = self.fields(entity)?;
        let field = fields
            .iter()
            .find(|field| field.name == field_name)
            .ok_or_else(|| Error::Invalid(format!("unknown field {field_name:?}")))?;
        if field.level != Level::HighlyConfidential {
            return Err(Error::Invalid(format!(
                "only Highly Confidential values are revealed; {} is {}",
                field.label,
                field.level.label()
            )));
        }
        if field.financial && !role.has(Right::ViewFinancial) {
            return Err(Error::Forbidden(
                "financial fields need the view-financial right".into(),
            ));
        }
        let values = view::raw_values(self.store().conn(), entity, id, &fields)?;
        let value = values
            .get(field_name)
            .cloned()
            .flatten()
            .unwrap_or_default();
        self.record(
            AuditEvent::new(AuditAction::Reveal)
                .target(entity.name(), id)
                .field(field_name, field.level.as_u8())
                .detail("reason", reason.trim()),
        )?;
        Ok(value)
    }

    /// Reclassifies a field (owner or role manager who can see the field as it is now, and
    /// only up to their own clearance); the search index of that entity is rebuilt so search
    /// follows the new level at once.
    pub fn classify(
        &mut self,
        entity: Entity,
        field_name: &str,
        level: Level,
        progress: crate::vault::ProgressFn<'_>,
    ) -> Result<()> {
        let role = self.require_right(Right::ManageRoles)?;
        if level > role.clearance {
            return Err(Error::Forbidden(
                "you cannot classify a field above your own clearance".into(),
            ));
        }
        let fields = self.fields(entity)?;
        let field = fields
            .iter()
            .find(|field| field.name == field_name)
            .ok_or_else(|| Error::Invalid(format!("unknown field {field_name:?}")))?
            .clone();
        // Lowering a field you cannot see would be a way to read it.
        custom_fields::require_visible_to_editor(&role, &field)?;
        self.write(|tx, audit| {
            match field.custom_id {
                Some(id) => {
                    tx.execute(
                        "UPDATE custom_fields SET level = ?1 WHERE id = ?2",
                        params![level.as_u8(), id],
                    )?;
                }
                None => {
                    tx.execute(
                        "INSERT INTO field_levels (entity, field, level) VALUES (?1, ?2, ?3)
                         ON CONFLICT (entity, field) DO UPDATE SET level = excluded.level",
                        params![entity.name(), field_name, level.as_u8()],
                    )?;
                }
            }
            if field.searchable {
                search::reindex_all(tx, entity, progress)?;
            }
            audit.record(
                AuditEvent::new(AuditAction::ClassificationChanged)
                    .target("field", format!("{}.{field_name}", entity.name()))
                    .change(Some(field.level.label().into()), Some(level.label().into())),
            );
            Ok(())
        })
    }
}

/// Deletes one record row with its custom values, tag links and search entry. Callers make
/// sure nothing points at it any more (see [`delete`]).
fn delete_row(tx: &rusqlite::Transaction<'_>, entity: Entity, id: i64) -> Result<()> {
    tx.execute(
        "DELETE FROM custom_values WHERE entity = ?1 AND record_id = ?2",
        params![entity.name(), id],
    )?;
    tx.execute(
        "DELETE FROM record_tags WHERE entity = ?1 AND record_id = ?2",
        params![entity.name(), id],
    )?;
    search::remove(tx, entity, id)?;
    tx.execute(
        &format!("DELETE FROM {} WHERE id = ?1", entity.table()),
        [id],
    )?;
    Ok(())
}

/// Deletes tags no record carries any more, so a deleted record's tag names do not linger.
fn remove_unused_tags(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    tx.execute(
        "DELETE FROM tags WHERE NOT EXISTS (SELECT 1 FROM record_tags t WHERE t.tag_id = tags.id)",
        [],
    )?;
    Ok(())
}

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod ownership_tests;
