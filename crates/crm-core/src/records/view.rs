//! The role view: the one place that decides which field values leave the core.
//!
//! For each record the reader's allowed level is their role's clearance on records they own and
//! the role's others' clearance on everyone else's. A field at or below that level (and, for
//! financial fields, with the view-financial right) carries its value; a field above it carries
//! at most a mask hint (`•••• 1234`, `j•••@example.com`) or is left out; a Highly Confidential
//! field shows `••••` and `revealable` to roles holding the reveal right. Values that are not
//! visible are never copied into the view, so no serialisation of it can leak them.

use std::collections::BTreeMap;

use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{OptionalExtension, params_from_iter};
use serde::Serialize;

use super::fields::{Entity, Kind, Level, MaskStyle, mask_hint};
use super::{EffectiveField, format_money};
use crate::error::Result;
use crate::policy::{Right, RoleDef, Scope};
use crate::store::Connection;
use crate::vault::Session;

/// One field as the reader may see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldView {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Classification level.
    pub level: Level,
    /// The value, when visible (text, number, bool, or a list of strings).
    pub value: Option<serde_json::Value>,
    /// A mask hint shown instead of a value above the reader's clearance.
    pub masked: Option<String>,
    /// The reader may reveal this value (with a reason).
    pub revealable: bool,
    /// For references: the referenced record's display name, when the reader may see it.
    pub display: Option<String>,
}

/// One record as the reader may see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordView {
    /// Record type.
    pub entity: Entity,
    /// Id.
    pub id: i64,
    /// Display name (from visible fields only).
    pub title: String,
    /// Owner's user name.
    pub owner: String,
    /// Whether the reader owns it.
    pub mine: bool,
    /// The team it belongs to, if any.
    pub team: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Who created it (a user name; none for records made before this was kept).
    pub created_by: Option<String>,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// Who changed it last.
    pub updated_by: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Fields, in registry order; fields that are neither visible nor hinted are absent.
    pub fields: Vec<FieldView>,
}

impl RecordView {
    /// Whether any visible value is at `level` or above.
    pub(crate) fn shows_level(&self, level: Level) -> bool {
        self.fields
            .iter()
            .any(|field| field.value.is_some() && field.level >= level)
    }

    /// A visible value by field name.
    pub fn value(&self, name: &str) -> Option<&serde_json::Value> {
        self.fields
            .iter()
            .find(|field| field.name == name)
            .and_then(|field| field.value.as_ref())
    }
}

/// A visible value as one line of text: lists joined with ", ", null as empty. Shared by the
/// CLI, CSV export and the desktop app so a value reads the same everywhere.
pub fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| item.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// The level of a record's tags: they show, filter and search where the reader sees the
/// record's Internal fields.
pub(crate) const TAGS_LEVEL: Level = Level::Internal;

/// The level the reader sees on a record, by ownership.
pub(crate) fn allowed_level(role: &RoleDef, mine: bool) -> Level {
    if mine {
        role.clearance
    } else {
        role.others_clearance.min(role.clearance)
    }
}

/// Whether the field's value is visible at `allowed`.
pub(crate) fn visible(role: &RoleDef, field: &EffectiveField, allowed: Level) -> bool {
    field.level <= allowed && (!field.financial || role.has(Right::ViewFinancial))
}

/// The highest level that filters and sorts may use with this scope: a filter over records of
/// others must not test fields the reader cannot see on them.
pub(crate) fn filter_clearance(role: &RoleDef, scope: Scope) -> Level {
    if scope == Scope::Own {
        role.clearance
    } else {
        allowed_level(role, false)
    }
}

fn sql_to_text(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(number) => Some(number.to_string()),
        ValueRef::Real(number) => Some(number.to_string()),
        ValueRef::Text(text) | ValueRef::Blob(text) => {
            Some(String::from_utf8_lossy(text).into_owned())
        }
    }
}

/// A stored value as display text (lists joined with ", ", money with two decimals).
fn display_text(kind: Kind, raw: &str) -> String {
    match kind {
        Kind::Emails | Kind::Phones => serde_json::from_str::<Vec<String>>(raw)
            .map(|list| list.join(", "))
            .unwrap_or_else(|_| raw.to_owned()),
        Kind::Money => raw
            .parse()
            .map(format_money)
            .unwrap_or_else(|_| raw.to_owned()),
        Kind::Bool => (raw == "1" || raw == "true").to_string(),
        _ => raw.to_owned(),
    }
}

fn json_value(kind: Kind, raw: &str) -> serde_json::Value {
    match kind {
        Kind::Emails | Kind::Phones => serde_json::from_str::<Vec<String>>(raw)
            .map(|list| serde_json::json!(list))
            .unwrap_or_else(|_| serde_json::json!(raw)),
        Kind::Bool => serde_json::json!(raw == "1" || raw == "true"),
        Kind::Integer | Kind::CompanyRef | Kind::ContactRef | Kind::DealRef | Kind::StageRef => raw
            .parse::<i64>()
            .map(|n| serde_json::json!(n))
            .unwrap_or_else(|_| serde_json::json!(raw)),
        Kind::Money => serde_json::json!(display_text(kind, raw)),
        _ => serde_json::json!(raw),
    }
}

fn masked_hint(field: &EffectiveField, raw: &str) -> Option<String> {
    match field.kind {
        Kind::Emails | Kind::Phones => {
            let list: Vec<String> = serde_json::from_str(raw).unwrap_or_default();
            let hints: Vec<String> = list
                .iter()
                .filter_map(|item| mask_hint(field.mask, item))
                .collect();
            (!hints.is_empty()).then(|| hints.join(", "))
        }
        _ => mask_hint(field.mask, raw),
    }
}

/// Where field values start in the row `load` selects (after id, owner, times, team, authors).
const FIRST_FIELD_COLUMN: usize = 8;

/// Loads records matching `condition` (on alias `r`) and builds their views for `role`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn load(
    session: &Session,
    role: &RoleDef,
    entity: Entity,
    fields: &[EffectiveField],
    condition: &str,
    values: &[SqlValue],
    order_by: Option<&str>,
    limit: u32,
    offset: u32,
) -> Result<Vec<RecordView>> {
    let conn = session.store().conn();
    let me = session.user().id;
    let builtin: Vec<&EffectiveField> = fields
        .iter()
        .filter(|field| field.custom_id.is_none())
        .collect();
    let columns: Vec<String> = builtin
        .iter()
        .map(|field| format!("r.{}", field.name))
        .collect();
    // Owner, team, times and who made and last changed the record are shown with every
    // record the reader may view: they say who works it, not what it holds. CROSS JOIN keeps
    // the records as the outer loop: started from `users`, SQLite would walk the owner index
    // (every record of that owner) instead of the ids or the sort index the condition names.
    let sql =
        format!(
        "SELECT r.id, r.owner_id, u.name, r.created_at, r.updated_at, tm.name, cu.name, uu.name{}{}
         FROM {} r CROSS JOIN users u ON u.id = r.owner_id
         LEFT JOIN teams tm ON tm.id = r.team_id
         LEFT JOIN users cu ON cu.id = r.created_by
         LEFT JOIN users uu ON uu.id = r.updated_by
         WHERE {condition} {} LIMIT {limit} OFFSET {offset}",
        if columns.is_empty() { "" } else { ", " },
        columns.join(", "),
        entity.table(),
        order_by.map(|order| format!("ORDER BY {order}")).unwrap_or_default(),
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query(params_from_iter(values.iter()))?;
    let mut records = Vec::new();
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let owner_id: i64 = row.get(1)?;
        let mine = owner_id == me;
        let allowed = allowed_level(role, mine);
        let mut views = Vec::with_capacity(fields.len());
        for (index, field) in builtin.iter().enumerate() {
            let raw = sql_to_text(row.get_ref(FIRST_FIELD_COLUMN + index)?);
            if let Some(view) = field_view(role, field, allowed, raw.as_deref()) {
                views.push(view);
            }
        }
        records.push(RecordView {
            entity,
            id,
            title: String::new(),
            owner: row.get(2)?,
            mine,
            team: row.get(5)?,
            created_at: row.get(3)?,
            created_by: row.get(6)?,
            updated_at: row.get(4)?,
            updated_by: row.get(7)?,
            tags: Vec::new(),
            fields: views,
        });
    }
    drop(rows);
    if records.is_empty() {
        return Ok(records);
    }
    attach_custom_and_tags(conn, role, entity, fields, &mut records)?;
    resolve_references(session, role, &mut records)?;
    for record in &mut records {
        record.title = title(entity, record);
    }
    Ok(records)
}

fn field_view(
    role: &RoleDef,
    field: &EffectiveField,
    allowed: Level,
    raw: Option<&str>,
) -> Option<FieldView> {
    let base = FieldView {
        name: field.name.clone(),
        label: field.label.clone(),
        level: field.level,
        value: None,
        masked: None,
        revealable: false,
        display: None,
    };
    if visible(role, field, allowed) {
        return Some(FieldView {
            value: raw.map(|raw| json_value(field.kind, raw)),
            ..base
        });
    }
    let raw = raw?;
    // Financial fields are simply absent for roles without the financial right: not even a hint.
    if field.financial && !role.has(Right::ViewFinancial) {
        return None;
    }
    if field.level == Level::HighlyConfidential && role.has(Right::Reveal) {
        return Some(FieldView {
            masked: Some("••••".into()),
            revealable: true,
            ..base
        });
    }
    if field.mask == MaskStyle::Absent || field.level == Level::HighlyConfidential {
        return None;
    }
    masked_hint(field, raw).map(|hint| FieldView {
        masked: Some(hint),
        ..base
    })
}

fn attach_custom_and_tags(
    conn: &Connection,
    role: &RoleDef,
    entity: Entity,
    fields: &[EffectiveField],
    records: &mut [RecordView],
) -> Result<()> {
    let ids: Vec<String> = records.iter().map(|record| record.id.to_string()).collect();
    let id_list = ids.join(", ");
    let custom: Vec<&EffectiveField> = fields
        .iter()
        .filter(|field| field.custom_id.is_some())
        .collect();
    if !custom.is_empty() {
        let mut values: BTreeMap<(i64, i64), String> = BTreeMap::new();
        let mut statement = conn.prepare(&format!(
            "SELECT record_id, field_id, value FROM custom_values WHERE entity = ?1 AND record_id IN ({id_list})"
        ))?;
        let rows = statement.query_map([entity.name()], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (record_id, field_id, value) = row?;
            values.insert((record_id, field_id), value);
        }
        for record in records.iter_mut() {
            let allowed = allowed_level(role, record.mine);
            for field in &custom {
                let field_id = field.custom_id.unwrap_or_default();
                let raw = values.get(&(record.id, field_id)).map(String::as_str);
                if let Some(view) = field_view(role, field, allowed, raw) {
                    record.fields.push(view);
                }
            }
        }
    }
    // Tags show where the reader sees the record's Internal fields (`TAGS_LEVEL`).
    let mut statement = conn.prepare(&format!(
        "SELECT t.record_id, g.name FROM record_tags t JOIN tags g ON g.id = t.tag_id
         WHERE t.entity = ?1 AND t.record_id IN ({id_list}) ORDER BY g.name"
    ))?;
    let rows = statement.query_map([entity.name()], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut tags: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for row in rows {
        let (id, name) = row?;
        tags.entry(id).or_default().push(name);
    }
    for record in records.iter_mut() {
        if allowed_level(role, record.mine) >= TAGS_LEVEL {
            record.tags = tags.remove(&record.id).unwrap_or_default();
        }
    }
    Ok(())
}

/// Names of referenced companies, contacts, deals and stages. A record's name is given only
/// when the reader may view that record (its view scope) and sees the fields that make its name
/// on it (their level against the reader's clearance for that record's owner, and the
/// view-financial right); otherwise the reference stays a bare id, which readers show as "not
/// shared with you". Stages are configuration and always named.
fn resolve_references(session: &Session, role: &RoleDef, records: &mut [RecordView]) -> Result<()> {
    let conn = session.store().conn();
    let mut companies = ReferenceNames::new(Entity::Company, &["name"]);
    let mut contacts = ReferenceNames::new(Entity::Contact, &["first_name", "last_name"]);
    let mut deals = ReferenceNames::new(Entity::Deal, &["title"]);
    let mut stage_names = conn.prepare_cached("SELECT name FROM stages WHERE id = ?1")?;
    for record in records.iter_mut() {
        for field in &mut record.fields {
            let Some(id) = field.value.as_ref().and_then(serde_json::Value::as_i64) else {
                continue;
            };
            field.display = match field.name.as_str() {
                "company_id" => companies.name(session, role, id)?,
                "contact_id" => contacts.name(session, role, id)?,
                "deal_id" => deals.name(session, role, id)?,
                "stage_id" => stage_names.query_row([id], |row| row.get(0)).ok(),
                _ => None,
            };
        }
    }
    Ok(())
}

/// Names the records of one entity that a page refers to, as the reader may see them (see
/// [`resolve_references`]); each id is looked up once per page.
struct ReferenceNames {
    entity: Entity,
    /// The fields whose visible values, joined with a space, make the name.
    name_fields: &'static [&'static str],
    /// The name fields' definitions, read when the first reference needs them.
    fields: Option<Vec<EffectiveField>>,
    names: BTreeMap<i64, Option<String>>,
}

impl ReferenceNames {
    fn new(entity: Entity, name_fields: &'static [&'static str]) -> Self {
        Self {
            entity,
            name_fields,
            fields: None,
            names: BTreeMap::new(),
        }
    }

    fn name(&mut self, session: &Session, role: &RoleDef, id: i64) -> Result<Option<String>> {
        if let Some(known) = self.names.get(&id) {
            return Ok(known.clone());
        }
        let conn = session.store().conn();
        if self.fields.is_none() {
            let all = super::effective_fields(conn, self.entity)?;
            self.fields = Some(
                self.name_fields
                    .iter()
                    .filter_map(|name| all.iter().find(|field| field.name == *name).cloned())
                    .collect(),
            );
        }
        let fields = self.fields.as_deref().unwrap_or_default();
        if fields.is_empty() {
            return Ok(None);
        }
        let scope = role.scope(self.entity, crate::policy::Action::View);
        let (scope_sql, scope_values) = session.scope_condition(scope)?;
        let columns: Vec<String> = fields
            .iter()
            .map(|field| format!("r.{}", field.name))
            .collect();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT r.owner_id, {} FROM {} r WHERE r.id = ? AND {scope_sql}",
            columns.join(", "),
            self.entity.table()
        ))?;
        let mut values = vec![SqlValue::Integer(id)];
        values.extend(scope_values);
        let me = session.user().id;
        let found = statement
            .query_row(params_from_iter(values), |row| {
                let owner: i64 = row.get(0)?;
                let allowed = allowed_level(role, owner == me);
                let mut parts = Vec::new();
                for (index, field) in fields.iter().enumerate() {
                    let part: Option<String> = row.get(index + 1)?;
                    if let Some(part) = part.filter(|part| !part.trim().is_empty())
                        && visible(role, field, allowed)
                    {
                        parts.push(part);
                    }
                }
                Ok((!parts.is_empty()).then(|| parts.join(" ")))
            })
            .optional()?
            .flatten();
        self.names.insert(id, found.clone());
        Ok(found)
    }
}

fn title(entity: Entity, record: &RecordView) -> String {
    let text = |name: &str| {
        record
            .value(name)
            .and_then(|value| value.as_str())
            .map(str::to_owned)
    };
    let name = match entity {
        Entity::Contact => {
            let parts: Vec<String> = [text("first_name"), text("last_name")]
                .into_iter()
                .flatten()
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        }
        Entity::Note => text("body").map(|body| body.chars().take(60).collect()),
        _ => text(entity.title_field()),
    };
    name.unwrap_or_else(|| format!("{} {}", entity.name(), record.id))
}

/// Every stored value of one record as display text, unfiltered: for audit old values and
/// reveals only, never returned to a caller as is.
pub(crate) fn raw_values(
    conn: &Connection,
    entity: Entity,
    id: i64,
    fields: &[EffectiveField],
) -> Result<BTreeMap<String, Option<String>>> {
    let builtin: Vec<&EffectiveField> = fields
        .iter()
        .filter(|field| field.custom_id.is_none())
        .collect();
    let columns: Vec<&str> = builtin.iter().map(|field| field.name.as_str()).collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE id = ?1",
        columns.join(", "),
        entity.table()
    );
    let mut out = BTreeMap::new();
    conn.query_row(&sql, [id], |row| {
        for (index, field) in builtin.iter().enumerate() {
            let raw = sql_to_text(row.get_ref(index)?);
            out.insert(
                field.name.clone(),
                raw.map(|raw| display_text(field.kind, &raw)),
            );
        }
        Ok(())
    })?;
    let mut statement = conn.prepare_cached(
        "SELECT f.name, v.value FROM custom_values v JOIN custom_fields f ON f.id = v.field_id
         WHERE v.entity = ?1 AND v.record_id = ?2",
    )?;
    let rows = statement.query_map(rusqlite::params![entity.name(), id], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (name, value) = row?;
        out.insert(name, Some(value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::fields::{Entity, Level};
    use super::super::{ListQuery, RecordInput};
    use crate::error::{Error, Result};
    use crate::test_support::{add_user, login, owner_vault};

    fn input(pairs: &[(&str, serde_json::Value)]) -> RecordInput {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    /// The display name each reference field of the reader's activities carries.
    fn activity_references(
        session: &mut crate::vault::Session,
    ) -> Result<Vec<(String, Option<String>)>> {
        let page = session.list(Entity::Activity, &ListQuery::default())?;
        Ok(page
            .records
            .iter()
            .flat_map(|record| record.fields.iter())
            .filter(|field| field.name.ends_with("_id") && field.value.is_some())
            .map(|field| (field.name.clone(), field.display.clone()))
            .collect())
    }

    #[test]
    fn contact_and_deal_references_are_named_only_for_readers_who_may_view_them() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        add_user(&mut owner, "rita", "Sales Representative")?;
        let anna = owner.create(
            Entity::Contact,
            &input(&[("first_name", "Anna".into()), ("last_name", "Berg".into())]),
        )?;
        let deal = owner.create(Entity::Deal, &input(&[("title", "Harbour renewal".into())]))?;
        let task = owner.create(
            Entity::Activity,
            &input(&[
                ("kind", "task".into()),
                ("subject", "Send the offer".into()),
                ("contact_id", anna.into()),
                ("deal_id", deal.into()),
            ]),
        )?;

        // The owner sees every record: both references carry their names.
        let mut seen = activity_references(&mut owner)?;
        seen.sort();
        assert_eq!(
            seen,
            [
                ("contact_id".to_owned(), Some("Anna Berg".to_owned())),
                ("deal_id".to_owned(), Some("Harbour renewal".to_owned())),
            ]
        );

        // The task goes to the rep; the contact and the deal stay the owner's, outside the
        // rep's scope: the rep sees that they exist, never their names.
        owner.reassign(Entity::Activity, task, "rita")?;
        let mut rep = login(dir.path(), "rita")?;
        let seen = activity_references(&mut rep)?;
        assert_eq!(seen.len(), 2, "the rep sees both references: {seen:?}");
        assert!(
            seen.iter().all(|(_, name)| name.is_none()),
            "no name leaves the core for records out of scope: {seen:?}"
        );
        let shown = rep.show(Entity::Activity, task)?;
        let text = serde_json::to_string(&shown).map_err(|e| Error::Invalid(e.to_string()))?;
        assert!(
            !text.contains("Berg") && !text.contains("Harbour"),
            "{text}"
        );

        // Once the contact is the rep's own, its name shows; a name field above the reader's
        // clearance on it is left out of the name.
        owner.reassign(Entity::Contact, anna, "rita")?;
        owner.classify(
            Entity::Contact,
            "first_name",
            Level::HighlyConfidential,
            &mut |_| {},
        )?;
        let mut rep = login(dir.path(), "rita")?;
        let seen = activity_references(&mut rep)?;
        assert!(
            seen.contains(&("contact_id".to_owned(), Some("Berg".to_owned()))),
            "{seen:?}"
        );
        assert!(
            seen.contains(&("deal_id".to_owned(), None)),
            "the deal is still the owner's: {seen:?}"
        );
        Ok(())
    }
}
