//! Search across companies, contacts and deals, without a search oracle.
//!
//! One FTS5 table inside the encrypted database (so the index is encrypted too) holds, per
//! record, the searchable text split into four columns by classification level (`l0` Public …
//! `l3` Highly Confidential). A query only names the columns at or below what the reader may see
//! on that record — its clearance on their own records, its others' clearance on the rest — so
//! searching a hidden phone number finds nothing. Phones are indexed as digit strings (and
//! without a leading country or trunk prefix) so any formatting matches; all terms are
//! prefix-matched for search as you type.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Transaction, params, params_from_iter};
use serde::Serialize;

use super::fields::{Entity, Kind, Level};
use super::{EffectiveField, effective_fields, view};
use crate::audit::{Action as AuditAction, AuditEvent};
use crate::error::Result;
use crate::policy::{Action, Scope};
use crate::vault::{Progress, ProgressFn, Session};

/// Schema of the index, appended to the store's migrations.
pub(crate) const MIGRATION: &str = "
CREATE VIRTUAL TABLE search_index USING fts5 (
    l0, l1, l2, l3,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3 4'
);
";

const ID_BITS: u32 = 40;
const SEARCHED: [Entity; 3] = [Entity::Company, Entity::Contact, Entity::Deal];

fn code(entity: Entity) -> Option<i64> {
    match entity {
        Entity::Company => Some(1),
        Entity::Contact => Some(2),
        Entity::Deal => Some(3),
        _ => None,
    }
}

fn rowid(entity: Entity, id: i64) -> Option<i64> {
    code(entity).map(|code| (code << ID_BITS) | id)
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// Record type.
    pub entity: Entity,
    /// Id.
    pub id: i64,
    /// Display name.
    pub title: String,
    /// A second line (company, first visible email, stage…), from visible fields only.
    pub subtitle: Option<String>,
    /// Relevance (higher is better).
    pub score: f64,
}

/// Digit forms of a phone number that a search may start with.
pub(crate) fn phone_tokens(phone: &str) -> Vec<String> {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let mut tokens = vec![digits.clone()];
    if digits.len() >= 8 {
        for skip in 1..=3 {
            tokens.push(digits[skip..].to_owned());
        }
    }
    tokens.dedup();
    tokens
}

/// Index text of one record, by level, from its field values (display text).
pub(crate) fn index_texts<'a>(
    fields: impl Iterator<Item = (&'a EffectiveField, &'a str)>,
) -> [String; 4] {
    let mut texts: [String; 4] = Default::default();
    for (field, value) in fields {
        let is_reference = matches!(
            field.kind,
            Kind::CompanyRef | Kind::ContactRef | Kind::DealRef | Kind::StageRef
        );
        if !field.searchable || value.is_empty() || is_reference {
            continue;
        }
        let slot = &mut texts[usize::from(field.level.as_u8())];
        match field.kind {
            Kind::Phones => {
                for phone in value.split(", ") {
                    for token in phone_tokens(phone) {
                        slot.push_str(&token);
                        slot.push(' ');
                    }
                }
            }
            _ => {
                slot.push_str(value);
                slot.push(' ');
            }
        }
    }
    texts
}

/// Writes the index row of one record.
pub(crate) fn put(
    tx: &rusqlite::Connection,
    entity: Entity,
    id: i64,
    texts: &[String; 4],
) -> Result<()> {
    let Some(rowid) = rowid(entity, id) else {
        return Ok(());
    };
    // Called once per row by imports and the demo generator: cached statements, not parsed
    // SQL each time.
    tx.prepare_cached("DELETE FROM search_index WHERE rowid = ?1")?
        .execute([rowid])?;
    tx.prepare_cached(
        "INSERT INTO search_index (rowid, l0, l1, l2, l3) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![rowid, texts[0], texts[1], texts[2], texts[3]])?;
    Ok(())
}

/// Rebuilds the index row of one record from what is stored.
pub(crate) fn reindex(tx: &Transaction<'_>, entity: Entity, id: i64) -> Result<()> {
    if code(entity).is_none() {
        return Ok(());
    }
    let fields = effective_fields(tx, entity)?;
    // References are not indexed: a company's name is searched on the company itself, so a
    // search cannot probe the names of companies the reader may not view.
    let values = view::raw_values(tx, entity, id, &fields)?;
    let mut texts = index_texts(fields.iter().filter_map(|field| {
        values
            .get(&field.name)
            .and_then(|value| value.as_deref())
            .map(|value| (field, value))
    }));
    let mut tags = tx.prepare_cached(
        "SELECT g.name FROM record_tags t JOIN tags g ON g.id = t.tag_id WHERE t.entity = ?1 AND t.record_id = ?2",
    )?;
    for tag in tags.query_map(params![entity.name(), id], |row| row.get::<_, String>(0))? {
        texts[usize::from(Level::Internal.as_u8())].push_str(&tag?);
        texts[usize::from(Level::Internal.as_u8())].push(' ');
    }
    put(tx, entity, id, &texts)
}

/// Removes a record from the index.
pub(crate) fn remove(tx: &Transaction<'_>, entity: Entity, id: i64) -> Result<()> {
    if let Some(rowid) = rowid(entity, id) {
        tx.execute("DELETE FROM search_index WHERE rowid = ?1", [rowid])?;
    }
    Ok(())
}

/// Rebuilds the index of every record of an entity (after a reclassification).
pub(crate) fn reindex_all(
    tx: &Transaction<'_>,
    entity: Entity,
    progress: ProgressFn<'_>,
) -> Result<()> {
    if code(entity).is_none() {
        return Ok(());
    }
    let ids: Vec<i64> = tx
        .prepare(&format!("SELECT id FROM {}", entity.table()))?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let total = ids.len() as u64;
    for (done, id) in ids.into_iter().enumerate() {
        reindex(tx, entity, id)?;
        if done % 5_000 == 0 {
            progress(Progress {
                step: format!("re-indexing {}", entity.table()),
                done: done as u64,
                total,
            });
        }
    }
    Ok(())
}

/// Turns typed text into an FTS5 expression of prefix terms, or `None` if nothing searchable.
/// Typed text never reaches FTS5 syntax: every term is reduced to letters and digits.
pub(crate) fn query_expression(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let phone_like = !digits.is_empty()
        && trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if phone_like {
        return (digits.len() >= 3).then(|| format!("\"{digits}\"*"));
    }
    let terms: Vec<String> = trimmed
        .split(|c: char| !c.is_alphanumeric())
        .filter(|term| !term.is_empty())
        .take(8)
        .map(|term| format!("\"{}\"*", term.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

fn columns_up_to(level: Level) -> String {
    let names: Vec<&str> = ["l0", "l1", "l2", "l3"][..=usize::from(level.as_u8())].to_vec();
    format!("{{{}}}", names.join(" "))
}

impl Session {
    /// Ranked results for `text` over the companies, contacts and deals the role may view,
    /// matching only fields the role may see on each record. Recorded (batched) in the trail.
    pub fn search(&mut self, text: &str, limit: usize) -> Result<Vec<SearchHit>> {
        let Some(expression) = query_expression(text) else {
            return Ok(Vec::new());
        };
        let role = self.role()?;
        let limit = limit.clamp(1, 200);
        let me = self.user().id;
        let mut ranked: Vec<(f64, Entity, i64)> = Vec::new();
        // One or three typed characters match a large share of the index: take the newest
        // matches instead of ranking them all, so search as you type stays fast.
        let broad = text.chars().filter(|c| c.is_alphanumeric()).count() < 4;
        for entity in SEARCHED {
            let scope = role.scope(entity, Action::View);
            if scope == Scope::None {
                continue;
            }
            let code = code(entity).unwrap_or_default();
            let (scope_sql, scope_values) = self.scope_condition(scope)?;
            let own_level = view::allowed_level(&role, true);
            let others_level = view::allowed_level(&role, false);
            let passes: Vec<(Level, Option<&str>)> = if scope == Scope::Own {
                vec![(own_level, Some("r.owner_id = ?"))]
            } else if own_level == others_level {
                vec![(own_level, None)]
            } else {
                vec![
                    (own_level, Some("r.owner_id = ?")),
                    (others_level, Some("r.owner_id <> ?")),
                ]
            };
            for (level, ownership) in passes {
                let matched = format!("{} : ({expression})", columns_up_to(level));
                let candidates = self.search_candidates(code, &matched, broad)?;
                let unfiltered = ownership.is_none() && scope == Scope::All;
                let kept = if unfiltered {
                    candidates.clone()
                } else {
                    self.in_scope(entity, &candidates, ownership, &scope_sql, &scope_values)?
                };
                let exhausted = candidates.len() < CANDIDATES;
                if kept.len() >= limit || exhausted {
                    ranked.extend(
                        kept.into_iter()
                            .take(limit)
                            .map(|(id, score)| (score, entity, id)),
                    );
                    continue;
                }
                // Most candidates were outside the reader's scope: ask the index and the table
                // together (slower, but complete).
                let sql = format!(
                    "SELECT s.rowid - ({code} << {ID_BITS}), bm25(search_index) AS rank
                     FROM search_index s JOIN {table} r ON r.id = s.rowid - ({code} << {ID_BITS})
                     WHERE search_index MATCH ? AND s.rowid > ({code} << {ID_BITS}) AND s.rowid < ({next} << {ID_BITS})
                       AND {ownership} AND {scope_sql}
                     ORDER BY rank LIMIT {limit}",
                    table = entity.table(),
                    next = code + 1,
                    ownership = ownership.unwrap_or("? IS NOT NULL"),
                );
                let mut values = vec![SqlValue::Text(matched), SqlValue::Integer(me)];
                values.extend(scope_values.iter().cloned());
                let mut statement = self.store().conn().prepare_cached(&sql)?;
                let rows = statement.query_map(params_from_iter(values), |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, f64>(1)?))
                })?;
                for row in rows {
                    let (id, rank) = row?;
                    ranked.push((-rank, entity, id));
                }
            }
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.truncate(limit);
        let mut hits = Vec::with_capacity(ranked.len());
        for entity in SEARCHED {
            let ids: Vec<String> = ranked
                .iter()
                .filter(|(_, hit_entity, _)| *hit_entity == entity)
                .map(|(_, _, id)| id.to_string())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let fields = effective_fields(self.store().conn(), entity)?;
            let views = view::load(
                self,
                &role,
                entity,
                &fields,
                &format!("r.id IN ({})", ids.join(", ")),
                &[],
                None,
                ids.len() as u32,
                0,
            )?;
            for record in views {
                let score = ranked
                    .iter()
                    .find(|(_, e, id)| *e == entity && *id == record.id)
                    .map_or(0.0, |(score, _, _)| *score);
                hits.push(SearchHit {
                    entity,
                    id: record.id,
                    subtitle: subtitle(&record),
                    title: record.title,
                    score,
                });
            }
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        self.note_read(
            AuditEvent::new(AuditAction::Search)
                .field("query", Level::Confidential.as_u8())
                .change(None, Some(text.chars().take(100).collect()))
                .detail("results", hits.len()),
        )?;
        Ok(hits)
    }
}

/// How many matches the index alone hands over before the scope filter.
const CANDIDATES: usize = 400;

impl Session {
    /// Best matches of one entity from the index alone (no record is read): ranked by BM25, or
    /// newest first for broad queries. Returns (id, score) with higher scores better.
    fn search_candidates(&self, code: i64, matched: &str, broad: bool) -> Result<Vec<(i64, f64)>> {
        let order = if broad { "s.rowid DESC" } else { "rank" };
        let sql = format!(
            "SELECT s.rowid - ({code} << {ID_BITS}), bm25(search_index) AS rank FROM search_index s
             WHERE search_index MATCH ?1 AND s.rowid > ({code} << {ID_BITS}) AND s.rowid < ({next} << {ID_BITS})
             ORDER BY {order} LIMIT {CANDIDATES}",
            next = code + 1,
        );
        let mut statement = self.store().conn().prepare_cached(&sql)?;
        let rows = statement.query_map([matched], |row| {
            Ok((row.get::<_, i64>(0)?, -row.get::<_, f64>(1)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The candidates that lie in the reader's scope (and ownership pass), order kept.
    fn in_scope(
        &self,
        entity: Entity,
        candidates: &[(i64, f64)],
        ownership: Option<&str>,
        scope_sql: &str,
        scope_values: &[SqlValue],
    ) -> Result<Vec<(i64, f64)>> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = candidates.iter().map(|(id, _)| id.to_string()).collect();
        let sql = format!(
            "SELECT r.id FROM {} r WHERE r.id IN ({}) AND {} AND {scope_sql}",
            entity.table(),
            ids.join(", "),
            ownership.unwrap_or("1 = ?"),
        );
        let mut values = vec![SqlValue::Integer(if ownership.is_some() {
            self.user().id
        } else {
            1
        })];
        values.extend(scope_values.iter().cloned());
        let mut statement = self.store().conn().prepare(&sql)?;
        let allowed: std::collections::HashSet<i64> = statement
            .query_map(params_from_iter(values), |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(candidates
            .iter()
            .copied()
            .filter(|(id, _)| allowed.contains(id))
            .collect())
    }
}

fn subtitle(record: &view::RecordView) -> Option<String> {
    let display = |name: &str| {
        record
            .fields
            .iter()
            .find(|field| field.name == name)
            .and_then(|field| field.display.clone())
    };
    let first = |name: &str| {
        record.value(name).and_then(|value| match value {
            serde_json::Value::Array(items) => items
                .first()
                .and_then(|item| item.as_str())
                .map(str::to_owned),
            serde_json::Value::String(text) => Some(text.clone()),
            _ => None,
        })
    };
    match record.entity {
        Entity::Contact => display("company_id").or_else(|| first("emails")),
        Entity::Deal => display("stage_id"),
        Entity::Company => first("industry"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_becomes_prefix_terms_and_never_fts_syntax() {
        assert_eq!(
            query_expression("Acme Corp").as_deref(),
            Some("\"acme\"* \"corp\"*")
        );
        assert_eq!(
            query_expression("\"x\" OR y*").as_deref(),
            Some("\"x\"* \"or\"* \"y\"*")
        );
        assert_eq!(
            query_expression("(555) 123-45").as_deref(),
            Some("\"55512345\"*")
        );
        assert_eq!(query_expression("  "), None);
        assert_eq!(query_expression("12"), None);
    }

    #[test]
    fn phones_are_indexed_with_and_without_their_prefix() {
        let tokens = phone_tokens("+44 20 7946 0958");
        assert!(tokens.contains(&"442079460958".to_owned()));
        assert!(tokens.contains(&"2079460958".to_owned()));
    }
}
