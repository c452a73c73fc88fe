//! Record lists: filters, sorting and paging, each page cut to the reader's scope and view.

use chrono::Utc;
use rusqlite::types::Value as SqlValue;
use serde::{Deserialize, Serialize};

use super::*;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::Action;
use crate::vault::Session;

/// Filters, sorting and paging for lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListQuery {
    /// Only records owned by this user name.
    pub owner: Option<String>,
    /// Only deals in this stage id.
    pub stage: Option<i64>,
    /// Only records with this tag.
    pub tag: Option<String>,
    /// Only records updated at or after this time (RFC 3339 or date).
    pub updated_since: Option<String>,
    /// Field equals value (built-in or custom), e.g. `industry = Retail`.
    #[serde(default)]
    pub filters: Vec<(String, String)>,
    /// Only activities: open tasks due up to this time.
    pub due_before: Option<String>,
    /// Only activities: done or not.
    pub done: Option<bool>,
    /// Related to this company id.
    pub company_id: Option<i64>,
    /// Related to this contact id.
    pub contact_id: Option<i64>,
    /// Related to this deal id.
    pub deal_id: Option<i64>,
    /// Sort field (a visible built-in field, or `updated_at` / `created_at`).
    pub sort: Option<String>,
    /// Sort descending.
    #[serde(default)]
    pub descending: bool,
    /// Page number from 1.
    pub page: Option<u32>,
    /// Rows per page (default 50, at most 500).
    pub page_size: Option<u32>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The records on this page.
    pub records: Vec<RecordView>,
    /// Page number.
    pub page: u32,
    /// Rows per page.
    pub page_size: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

impl Session {
    /// A page of records with filters and sorting. Filtering or sorting on a field the role
    /// cannot see is refused (it would be an oracle for the hidden value).
    pub fn list(&mut self, entity: Entity, query: &ListQuery) -> Result<Page> {
        let (role, scope) = self.require_scope(entity, Action::View)?;
        let fields = self.fields(entity)?;
        let (scope_sql, scope_values) = self.scope_condition(scope)?;
        let mut conditions = vec![scope_sql];
        let mut values: Vec<SqlValue> = scope_values;
        let filter_level = view::filter_clearance(&role, scope);
        let visible = |name: &str| -> Result<&EffectiveField> {
            let field = fields
                .iter()
                .find(|field| field.name == name)
                .ok_or_else(|| Error::Invalid(format!("unknown field {name:?}")))?;
            if field.level > filter_level || (field.financial && !role.has(Right::ViewFinancial)) {
                return Err(Error::Forbidden(format!(
                    "you cannot filter or sort on {}: it is above your clearance",
                    field.label
                )));
            }
            Ok(field)
        };
        if let Some(owner) = &query.owner {
            conditions.push(
                "r.owner_id = (SELECT id FROM users WHERE name = ? AND removed_at IS NULL)".into(),
            );
            values.push(SqlValue::Text(owner.clone()));
        }
        if let Some(stage) = query.stage {
            if entity != Entity::Deal {
                return Err(Error::Invalid("only deals have a stage".into()));
            }
            visible("stage_id")?;
            conditions.push("r.stage_id = ?".into());
            values.push(SqlValue::Integer(stage));
        }
        for (column, value) in [
            ("company_id", query.company_id),
            ("contact_id", query.contact_id),
            ("deal_id", query.deal_id),
        ] {
            if let Some(value) = value {
                visible(column)?;
                conditions.push(format!("r.{column} = ?"));
                values.push(SqlValue::Integer(value));
            }
        }
        if let Some(tag) = &query.tag {
            if filter_level < view::TAGS_LEVEL {
                return Err(Error::Forbidden(
                    "you cannot filter on tags: they are above your clearance".into(),
                ));
            }
            conditions.push(
                "EXISTS (SELECT 1 FROM record_tags t JOIN tags g ON g.id = t.tag_id
                 WHERE t.entity = ? AND t.record_id = r.id AND g.name = ? COLLATE NOCASE)"
                    .into(),
            );
            values.push(SqlValue::Text(entity.name().into()));
            values.push(SqlValue::Text(tag.clone()));
        }
        // Record times are shown with every record the reader may view, whatever the levels
        // of its fields, so filtering on them tells nothing a list would not.
        if let Some(since) = &query.updated_since {
            conditions.push("r.updated_at >= ?".into());
            values.push(SqlValue::Text(normalise_time(since)?));
        }
        if (query.done.is_some() || query.due_before.is_some()) && entity != Entity::Activity {
            return Err(Error::Invalid(
                "only activities have a due time and a done flag".into(),
            ));
        }
        if entity == Entity::Activity {
            if let Some(done) = query.done {
                visible("done")?;
                conditions.push("coalesce(r.done, 0) = ?".into());
                values.push(SqlValue::Integer(i64::from(done)));
            }
            if let Some(before) = &query.due_before {
                visible("due_at")?;
                conditions.push("r.due_at IS NOT NULL AND r.due_at <= ?".into());
                values.push(SqlValue::Text(as_stored_due_time(&normalise_time(before)?)));
            }
        }
        for (name, value) in &query.filters {
            let field = visible(name)?;
            let stored = parse_value(field, &serde_json::Value::String(value.clone()))?;
            match field.custom_id {
                Some(field_id) => {
                    conditions.push(format!(
                        "EXISTS (SELECT 1 FROM custom_values v WHERE v.entity = '{}' AND v.record_id = r.id AND v.field_id = {field_id} AND v.value = ?)",
                        entity.name()
                    ));
                    values.push(SqlValue::Text(stored.text.unwrap_or_default()));
                }
                None if field.kind == Kind::Phones => {
                    let (condition, bound) = phone_filter(&field.name, value)?;
                    conditions.push(condition);
                    values.extend(bound.map(SqlValue::Text));
                }
                None if field.kind == Kind::Emails => {
                    conditions.push(format!("r.{} LIKE ?", field.name));
                    values.push(SqlValue::Text(format!(
                        "%{}%",
                        value.replace(['%', '_'], "")
                    )));
                }
                None if matches!(field.kind, Kind::Text | Kind::LongText) => {
                    conditions.push(format!("r.{} = ? COLLATE NOCASE", field.name));
                    values.push(stored.sql);
                }
                None => {
                    conditions.push(format!("r.{} = ?", field.name));
                    values.push(stored.sql);
                }
            }
        }
        let order = match query.sort.as_deref() {
            None | Some("updated_at") => "r.updated_at".to_owned(),
            Some("created_at") => "r.created_at".to_owned(),
            Some(name) => {
                let field = visible(name)?;
                // Text sorts ignore case (and use the NOCASE indexes); dates and numbers sort as
                // stored, so their indexes apply too. Custom values are stored as text: numbers
                // and amounts sort by their value, the rest as text.
                let column = match field.custom_id {
                    Some(field_id) => format!(
                        "(SELECT v.value FROM custom_values v WHERE v.entity = '{}' AND v.record_id = r.id AND v.field_id = {field_id})",
                        entity.name()
                    ),
                    None => format!("r.{}", field.name),
                };
                match (field.kind, field.custom_id) {
                    (Kind::Number | Kind::Money, Some(_)) => format!("CAST({column} AS REAL)"),
                    (Kind::Text | Kind::LongText | Kind::Choice, _) => {
                        format!("{column} COLLATE NOCASE")
                    }
                    _ => column,
                }
            }
        };
        let direction = if query.descending || query.sort.is_none() {
            "DESC"
        } else {
            "ASC"
        };
        let page_size = query.page_size.unwrap_or(50).clamp(1, 500);
        let page = query.page.unwrap_or(1).max(1);
        let order_by = format!("{order} {direction}, r.id {direction}");
        let mut records = view::load(
            self,
            &role,
            entity,
            &fields,
            &conditions.join(" AND "),
            &values,
            Some(&order_by),
            page_size + 1,
            (page - 1) * page_size,
        )?;
        let has_more = records.len() > page_size as usize;
        records.truncate(page_size as usize);
        let confidential: Vec<i64> = records
            .iter()
            .filter(|record| record.shows_level(Level::Confidential))
            .map(|record| record.id)
            .collect();
        if !confidential.is_empty() {
            self.note_read(
                AuditEvent::new(AuditAction::View)
                    .target(entity.name(), "list")
                    .detail("ids", &confidential),
            )?;
        }
        Ok(Page {
            records,
            page,
            page_size,
            has_more,
        })
    }
}

/// A list filter on a phone field, matching numbers written in any format, as search does:
/// digits only, extensions (`x12`) ignored, and a national trunk `0` or an international
/// country code on either side does not prevent a match. A stored number matches when its
/// digits end with the filter's (leading zeros aside), or when the filter's digits end with the
/// stored number's (leading zeros aside, at least seven digits) — so `+44 20 7946 0018`,
/// `020 7946 0018` and `7946 0018` find each other. Returns the condition (on alias `r`, with
/// two `?`) and its two values.
pub(crate) fn phone_filter(column: &str, value: &str) -> Result<(String, [String; 2])> {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0');
    if significant.len() < 3 {
        return Err(Error::Invalid(
            "a phone filter needs at least three digits".into(),
        ));
    }
    // The number part of a stored item, without its extension, reduced to digits and without
    // leading zeros: phones hold only digits and ` +-()./` before any `x` (see `parse_value`).
    let number = "CASE WHEN instr(p.value, 'x') > 0 THEN substr(p.value, 1, instr(p.value, 'x') - 1) ELSE p.value END";
    let mut stored = number.to_owned();
    for symbol in [" ", "+", "-", "(", ")", ".", "/"] {
        stored = format!("replace({stored}, '{symbol}', '')");
    }
    let stored = format!("ltrim({stored}, '0')");
    let condition = format!(
        "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(r.{column}) THEN r.{column} ELSE '[]' END) p
         WHERE {stored} LIKE '%' || ? OR (length({stored}) >= 7 AND ? LIKE '%' || {stored}))"
    );
    Ok((condition, [significant.to_owned(), digits]))
}

pub(crate) fn normalise_time(text: &str) -> Result<String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc).to_rfc3339());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|date| {
            date.and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .to_rfc3339()
        })
        .map_err(|_| {
            Error::Invalid(format!(
                "{text:?} is not a date (YYYY-MM-DD) or time (RFC 3339)"
            ))
        })
}

/// `due_at` is stored as `2026-11-24T09:00:00Z` (see `parse_value`), and compared as text: a
/// bound must be written the same way, or a task due exactly at the bound (`…+00:00` sorts
/// before `…Z`) would be left out.
pub(crate) fn as_stored_due_time(normalised: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(normalised)
        .map(|at| {
            at.with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|_| normalised.to_owned())
}
