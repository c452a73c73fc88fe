//! Search across companies, contacts and deals, without a search oracle.
//!
//! One FTS5 table per kind of record, inside the encrypted database (so the index is encrypted
//! too), holds per record the searchable text split into four columns by classification level (`l0` Public …
//! `l3` Highly Confidential). A query only names the columns at or below what the reader may see
//! on that record — its clearance on their own records, its others' clearance on the rest — so
//! searching a hidden phone number finds nothing. Phones are indexed as digit strings (and
//! without a leading country or trunk prefix) so any formatting matches; all terms are
//! prefix-matched for search as you type.
//!
//! A fifth column, `reach`, holds who a record belongs to as tokens (`o17` owner, `t3` team), so
//! the reader's scope is part of the full-text query: the index alone hands over matches the
//! reader may see, and no record row is read until the final page of hits.
//!
//! Ranking is by relevance tier, then recency: the exact phrase typed, then the phrase as typed
//! so far, then every word anywhere (see `query_tiers`). Each tier is one query that stops at
//! the newest matches it needs, so a keystroke costs about the same at a thousand contacts as
//! at a million; BM25 would count every record holding each typed prefix first.

use rusqlite::{Transaction, params};
use serde::Serialize;

use super::fields::{Entity, Kind, Level};
use super::{EffectiveField, effective_fields, view};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::Result;
use crate::policy::{Action, Scope};
use crate::vault::{Progress, ProgressFn, Session};

const SEARCHED: [Entity; 3] = [Entity::Company, Entity::Contact, Entity::Deal];

/// The index table of a kind of record, if it is searched.
fn index_table(entity: Entity) -> Option<&'static str> {
    match entity {
        Entity::Company => Some("search_companies"),
        Entity::Contact => Some("search_contacts"),
        Entity::Deal => Some("search_deals"),
        _ => None,
    }
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

/// The `reach` tokens of a record: its owner and its team.
fn reach(owner: i64, team: Option<i64>) -> String {
    match team {
        Some(team) => format!("o{owner} t{team}"),
        None => format!("o{owner}"),
    }
}

/// Writes the index row of one record (already stored: its owner and team are read from it, so
/// every path that writes a record indexes its reach the same way).
pub(crate) fn put(
    tx: &crate::store::Connection,
    entity: Entity,
    id: i64,
    texts: &[String; 4],
) -> Result<()> {
    let Some(table) = index_table(entity) else {
        return Ok(());
    };
    // Called once per row by imports and the demo generator: cached statements, not parsed
    // SQL each time.
    let (owner, team): (i64, Option<i64>) = tx
        .prepare_cached(&format!(
            "SELECT owner_id, team_id FROM {} WHERE id = ?1",
            entity.table()
        ))?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    tx.prepare_cached(&format!("DELETE FROM {table} WHERE rowid = ?1"))?
        .execute([id])?;
    tx.prepare_cached(&format!(
        "INSERT INTO {table} (rowid, l0, l1, l2, l3, reach) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))?
    .execute(params![
        id,
        texts[0],
        texts[1],
        texts[2],
        texts[3],
        reach(owner, team)
    ])?;
    Ok(())
}

/// Rebuilds the index row of one record from what is stored.
pub(crate) fn reindex(tx: &Transaction<'_>, entity: Entity, id: i64) -> Result<()> {
    if index_table(entity).is_none() {
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
    if let Some(table) = index_table(entity) {
        tx.execute(&format!("DELETE FROM {table} WHERE rowid = ?1"), [id])?;
    }
    Ok(())
}

/// Rebuilds the index of every record of an entity (after a reclassification).
pub(crate) fn reindex_all(
    tx: &Transaction<'_>,
    entity: Entity,
    progress: ProgressFn<'_>,
) -> Result<()> {
    if index_table(entity).is_none() {
        return Ok(());
    }
    // Ascending ids: FTS5 keeps its pending terms in memory while rowids ascend.
    let ids: Vec<i64> = tx
        .prepare(&format!("SELECT id FROM {} ORDER BY id", entity.table()))?
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

/// Turns typed text into FTS5 expressions, most relevant first, or nothing if nothing is
/// searchable. Typed text never reaches FTS5 syntax: every term is reduced to letters and
/// digits.
///
/// For `jane do`: the exact phrase (`"jane do"`: a Jane Do), then the phrase as typed so far
/// (`"jane do"*`: Jane Doe, Jane Dowling), then every word anywhere (`"jane"* "do"*`: a
/// Jane at dover.example). One word gives the exact word, then the word as a prefix; a phone
/// number its digits as a prefix.
pub(crate) fn query_tiers(text: &str) -> Vec<String> {
    let trimmed = text.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let phone_like = !digits.is_empty()
        && trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if phone_like {
        return if digits.len() >= 3 {
            vec![format!("\"{digits}\"*")]
        } else {
            Vec::new()
        };
    }
    let terms: Vec<String> = trimmed
        .split(|c: char| !c.is_alphanumeric())
        .filter(|term| !term.is_empty())
        .take(8)
        .map(str::to_lowercase)
        .collect();
    if terms.is_empty() {
        return Vec::new();
    }
    let phrase = terms.join(" ");
    let mut tiers = vec![format!("\"{phrase}\""), format!("\"{phrase}\"*")];
    if terms.len() > 1 {
        let each: Vec<String> = terms.iter().map(|term| format!("\"{term}\"*")).collect();
        tiers.push(each.join(" "));
    }
    tiers
}

fn columns_up_to(level: Level) -> String {
    let names: Vec<&str> = ["l0", "l1", "l2", "l3"][..=usize::from(level.as_u8())].to_vec();
    format!("{{{}}}", names.join(" "))
}

/// Who is asking, as the index sees it.
struct Reader {
    user: i64,
    team: Option<i64>,
    /// Highest level the reader may see on their own records.
    own_level: Level,
    /// Highest level the reader may see on other people's records.
    others_level: Level,
}

/// The full-text queries that find `expression` in what `reader` may see of one entity under
/// `scope`: one query when the reader sees every record in scope at the same level, or one for
/// their own records and one for the others' when the levels differ. Each query names only the
/// columns up to the level that applies, and the records in scope through their `reach` tokens.
fn scoped_queries(expression: &str, scope: Scope, reader: &Reader) -> Vec<String> {
    let own_reach = format!("reach : \"o{}\"", reader.user);
    let others_reach = match (scope, reader.team) {
        (Scope::None, _) => return Vec::new(),
        (Scope::Own, _) | (Scope::Team, None) => None,
        (Scope::Team, Some(team)) => Some(format!("reach : \"t{team}\"")),
        (Scope::All, _) => Some(String::new()),
    };
    let matched = |level: Level| format!("{} : ({expression})", columns_up_to(level));
    let own = format!("({}) AND {own_reach}", matched(reader.own_level));
    let Some(others_reach) = others_reach else {
        return vec![own];
    };
    if reader.own_level == reader.others_level {
        let all = if others_reach.is_empty() {
            matched(reader.own_level)
        } else {
            format!(
                "({}) AND ({others_reach} OR {own_reach})",
                matched(reader.own_level)
            )
        };
        return vec![all];
    }
    let others_matched = if others_reach.is_empty() {
        format!("({})", matched(reader.others_level))
    } else {
        format!("(({}) AND {others_reach})", matched(reader.others_level))
    };
    vec![own, format!("{others_matched} NOT {own_reach}")]
}

impl Session {
    /// Ranked results for `text` over the companies, contacts and deals the role may view,
    /// matching only fields the role may see on each record. Recorded (batched) in the trail.
    pub fn search(&mut self, text: &str, limit: usize) -> Result<Vec<SearchHit>> {
        let tiers = query_tiers(text);
        if tiers.is_empty() {
            return Ok(Vec::new());
        }
        let role = self.role()?;
        let limit = limit.clamp(1, 200);
        let reader = Reader {
            user: self.user().id,
            team: self.team_id()?,
            own_level: view::allowed_level(&role, true),
            others_level: view::allowed_level(&role, false),
        };
        let mut ranked: Vec<(f64, Entity, i64)> = Vec::new();
        for entity in SEARCHED {
            let Some(table) = index_table(entity) else {
                continue;
            };
            let scope = role.scope(entity, Action::View);
            let mut found: Vec<i64> = Vec::new();
            // Tier by tier, most relevant first, until this kind of record has `limit` hits;
            // within a tier the newest first. A hit scores by its tier, then its place, so the
            // best of each kind of record interleave.
            for (tier, expression) in tiers.iter().enumerate() {
                if found.len() >= limit {
                    break;
                }
                let tier_score = ((tiers.len() - tier) * TIER_WEIGHT) as f64;
                for query in scoped_queries(expression, scope, &reader) {
                    // The newest `limit` of this tier: those already found in a better tier
                    // leave at least the number still wanted.
                    let mut place = 0.0;
                    for id in self.index_matches(table, &query, limit)? {
                        if found.contains(&id) || found.len() >= limit {
                            continue;
                        }
                        found.push(id);
                        ranked.push((tier_score - place, entity, id));
                        place += 1.0;
                    }
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
            // The scope condition again: the index's reach is a copy, the table is the truth.
            let (scope_sql, scope_values) =
                self.scope_condition(role.scope(entity, Action::View))?;
            let views = view::load(
                self,
                &role,
                entity,
                &fields,
                &format!("r.id IN ({}) AND {scope_sql}", ids.join(", ")),
                &scope_values,
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

    /// The newest `limit` matches of one entity's full-text query, from the index alone (no
    /// record is read, and no rank is computed: BM25 would first count every record holding
    /// each typed prefix, which grows with the vault).
    fn index_matches(&self, table: &str, query: &str, limit: usize) -> Result<Vec<i64>> {
        let sql = format!(
            "SELECT rowid FROM {table} WHERE {table} MATCH ?1 ORDER BY rowid DESC LIMIT {limit}"
        );
        let mut statement = self.store().conn().prepare_cached(&sql)?;
        let ids = statement
            .query_map([query], |row| row.get::<_, i64>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ids)
    }
}

/// Score between relevance tiers: more than any place within one.
const TIER_WEIGHT: usize = 1_000;

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
    fn typed_text_becomes_relevance_tiers_and_never_fts_syntax() {
        assert_eq!(
            query_tiers("Acme Corp"),
            [r#""acme corp""#, r#""acme corp"*"#, r#""acme"* "corp"*"#]
        );
        assert_eq!(query_tiers("Hugo"), [r#""hugo""#, r#""hugo"*"#]);
        assert_eq!(
            query_tiers("\"x\" OR y*"),
            [r#""x or y""#, r#""x or y"*"#, r#""x"* "or"* "y"*"#]
        );
        assert_eq!(query_tiers("(555) 123-45"), [r#""55512345"*"#]);
        assert!(query_tiers("  ").is_empty());
        assert!(query_tiers("12").is_empty());
    }

    #[test]
    fn phones_are_indexed_with_and_without_their_prefix() {
        let tokens = phone_tokens("+44 20 7946 0958");
        assert!(tokens.contains(&"442079460958".to_owned()));
        assert!(tokens.contains(&"2079460958".to_owned()));
    }
}
