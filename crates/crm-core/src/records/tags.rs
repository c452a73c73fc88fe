//! Tags on records: add, remove, and list the tags in use.
//!
//! Tags are Internal (`view::TAGS_LEVEL`): a reader sees a record's tags where they see its
//! Internal fields, tagging and untagging need edit scope on the record and sight of its tags,
//! and the tag list counts only records the reader may view with their tags visible — so a tag
//! used only on records out of reach is not listed at all.
//!
//! Tags match without regard to case (filter, untag), but each spelling is its own row. A new
//! tag takes the spelling of the same tag on a record the tagger may see the tags of, and
//! otherwise exactly the tagger's: a spelling used only out of their sight is never handed
//! back, so tagging cannot tell them that a hidden record carries a tag ([`link_tag`]).

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, params_from_iter};
use serde::Serialize;

use super::fields::Entity;
use super::{remove_unused_tags, search, view};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{Action, RoleDef};
use crate::store::Connection;
use crate::vault::Session;

const MAX_TAG_CHARS: usize = 40;

/// Where a reader sees the tags of records of one entity: a condition over `record_tags t`
/// joined to the entity's table as `r`, with its values (scope, and clearance on own and
/// others' records).
pub(crate) struct TagSight {
    entity: Entity,
    condition: String,
    values: Vec<SqlValue>,
}

/// Another spelling of `tag` that the reader of `sight` sees on some record, oldest first.
fn visible_spelling(conn: &Connection, sight: &TagSight, tag: &str) -> Result<Option<String>> {
    let sql = format!(
        "SELECT g.name FROM tags g WHERE g.name = ? COLLATE NOCASE AND EXISTS (
             SELECT 1 FROM record_tags t JOIN {} r ON r.id = t.record_id
             WHERE t.tag_id = g.id AND t.entity = ? AND {})
         ORDER BY g.id LIMIT 1",
        sight.entity.table(),
        sight.condition
    );
    let mut values = vec![
        SqlValue::Text(tag.into()),
        SqlValue::Text(sight.entity.name().into()),
    ];
    values.extend(sight.values.iter().cloned());
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(values), |row| row.get(0))
        .optional()?)
}

/// Files `tag` on record `id` as the reader of `sight` may: under their exact spelling if it
/// exists, else a spelling of it they can already see on another record, else as they typed
/// it. Returns the spelling used and whether the record did not carry it yet.
pub(crate) fn link_tag(
    conn: &Connection,
    sight: &TagSight,
    id: i64,
    tag: &str,
) -> Result<(String, bool)> {
    // The tagger's own spelling, where it exists, tells them nothing: no search needed (and an
    // import of many rows with one tag stays one lookup per row).
    let exact: Option<i64> = conn
        .prepare_cached("SELECT id FROM tags WHERE name = ?1")?
        .query_row([tag], |row| row.get(0))
        .optional()?;
    let spelling = match exact {
        Some(_) => tag.to_owned(),
        None => visible_spelling(conn, sight, tag)?.unwrap_or_else(|| tag.to_owned()),
    };
    conn.prepare_cached("INSERT OR IGNORE INTO tags (name) VALUES (?1)")?
        .execute([&spelling])?;
    let added = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO record_tags (entity, record_id, tag_id)
             SELECT ?1, ?2, id FROM tags WHERE name = ?3",
        )?
        .execute(rusqlite::params![sight.entity.name(), id, spelling])?;
    Ok((spelling, added > 0))
}

/// A tag with how many records the reader may see carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagCount {
    /// The tag.
    pub name: String,
    /// Records of the entity, visible to the reader, that carry it.
    pub records: u64,
}

fn checked_tag(tag: &str) -> Result<&str> {
    let tag = tag.trim();
    if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
        return Err(Error::Invalid(format!(
            "a tag is 1 to {MAX_TAG_CHARS} characters"
        )));
    }
    Ok(tag)
}

impl Session {
    /// Where this user sees the tags of `entity` records: their view scope, and tags show on
    /// their own records at their clearance, on the others' at their others' clearance.
    pub(crate) fn tag_sight(&self, entity: Entity) -> Result<TagSight> {
        let role = self.role()?;
        let (scope_sql, mut values) = self.scope_condition(role.scope(entity, Action::View))?;
        let ownership = match (
            view::allowed_level(&role, true) >= view::TAGS_LEVEL,
            view::allowed_level(&role, false) >= view::TAGS_LEVEL,
        ) {
            (true, true) => "1 = 1",
            (true, false) => {
                values.push(SqlValue::Integer(self.user().id));
                "r.owner_id = ?"
            }
            (false, _) => "0 = 1",
        };
        Ok(TagSight {
            entity,
            condition: format!("{scope_sql} AND {ownership}"),
            values,
        })
    }

    /// The role, refusing unless the user may edit this record and see its tags.
    fn require_tag_edit(&self, entity: Entity, id: i64) -> Result<RoleDef> {
        let (role, scope) = self.require_scope(entity, Action::Edit)?;
        self.require_in_scope(entity, id, scope)?;
        let owner: i64 = self.store().conn().query_row(
            &format!("SELECT owner_id FROM {} WHERE id = ?1", entity.table()),
            [id],
            |row| row.get(0),
        )?;
        if view::allowed_level(&role, owner == self.user().id) < view::TAGS_LEVEL {
            return Err(Error::Forbidden(
                "the tags of this record are above your clearance".into(),
            ));
        }
        Ok(role)
    }

    /// Adds tags to a record (needs edit scope on it).
    pub fn tag(&mut self, entity: Entity, id: i64, tags: &[String]) -> Result<()> {
        self.require_tag_edit(entity, id)?;
        let tags = tags
            .iter()
            .map(|tag| checked_tag(tag))
            .collect::<Result<Vec<_>>>()?;
        let sight = self.tag_sight(entity)?;
        self.write(|tx, audit| {
            for tag in tags {
                let (spelling, added) = link_tag(tx, &sight, id, tag)?;
                if added {
                    audit.record(
                        AuditEvent::new(AuditAction::Update)
                            .target(entity.name(), id)
                            .field("tags", view::TAGS_LEVEL.as_u8())
                            .change(None, Some(spelling)),
                    );
                }
            }
            search::reindex(tx, entity, id)
        })
    }

    /// Removes tags from a record (needs edit scope on it). A tag the record does not carry
    /// is refused, and then nothing is removed.
    pub fn untag(&mut self, entity: Entity, id: i64, tags: &[String]) -> Result<()> {
        self.require_tag_edit(entity, id)?;
        let tags = tags
            .iter()
            .map(|tag| checked_tag(tag))
            .collect::<Result<Vec<_>>>()?;
        self.write(|tx, audit| {
            for tag in tags {
                let removed = tx.execute(
                    "DELETE FROM record_tags WHERE entity = ?1 AND record_id = ?2
                     AND tag_id IN (SELECT id FROM tags WHERE name = ?3 COLLATE NOCASE)",
                    rusqlite::params![entity.name(), id, tag],
                )?;
                if removed == 0 {
                    return Err(Error::NotFound(format!(
                        "tag {tag:?} on {} {id}",
                        entity.name()
                    )));
                }
                audit.record(
                    AuditEvent::new(AuditAction::Update)
                        .target(entity.name(), id)
                        .field("tags", view::TAGS_LEVEL.as_u8())
                        .change(Some(tag.to_owned()), None),
                );
            }
            remove_unused_tags(tx)?;
            search::reindex(tx, entity, id)
        })
    }

    /// The tags on records of `entity` that the reader may view with their tags visible, most
    /// used first.
    pub fn tags(&self, entity: Entity) -> Result<Vec<TagCount>> {
        self.require_scope(entity, Action::View)?;
        let sight = self.tag_sight(entity)?;
        let mut values: Vec<SqlValue> = vec![SqlValue::Text(entity.name().into())];
        values.extend(sight.values);
        let sql = format!(
            "SELECT g.name, count(*) FROM record_tags t
             JOIN tags g ON g.id = t.tag_id
             JOIN {} r ON r.id = t.record_id
             WHERE t.entity = ? AND {}
             GROUP BY g.id ORDER BY count(*) DESC, g.name COLLATE NOCASE",
            entity.table(),
            sight.condition
        );
        let mut statement = self.store().conn().prepare(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            Ok(TagCount {
                name: row.get(0)?,
                records: row.get::<_, i64>(1)?.try_into().unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Scope;
    use crate::records::{ListQuery, RecordInput};
    use crate::test_support::{add_user, login, owner_vault};

    fn contact(session: &mut Session, name: &str) -> Result<i64> {
        let input: RecordInput = [("last_name".to_owned(), serde_json::json!(name))]
            .into_iter()
            .collect();
        session.create(Entity::Contact, &input)
    }

    fn tagged(session: &mut Session, tag: &str) -> Result<Vec<i64>> {
        Ok(session
            .list(
                Entity::Contact,
                &ListQuery {
                    tag: Some(tag.into()),
                    ..ListQuery::default()
                },
            )?
            .records
            .iter()
            .map(|record| record.id)
            .collect())
    }

    #[test]
    fn tags_are_added_found_listed_and_removed() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        let berg = contact(&mut owner, "Berg")?;
        let lund = contact(&mut owner, "Lund")?;
        owner.tag(Entity::Contact, berg, &["expo".into(), "vip".into()])?;
        owner.tag(Entity::Contact, lund, &["VIP".into()])?;
        assert_eq!(tagged(&mut owner, "vip")?.len(), 2);
        let hits = owner.search("exp", 10)?;
        assert!(hits.iter().any(|hit| hit.id == berg), "tags are searchable");
        assert_eq!(
            owner.tags(Entity::Contact)?,
            [
                TagCount {
                    name: "vip".into(),
                    records: 2
                },
                TagCount {
                    name: "expo".into(),
                    records: 1
                }
            ]
        );
        owner.untag(Entity::Contact, berg, &["Expo".into()])?;
        assert!(tagged(&mut owner, "expo")?.is_empty());
        assert!(owner.search("exp", 10)?.iter().all(|hit| hit.id != berg));
        assert!(matches!(
            owner.untag(Entity::Contact, berg, &["never".into()]),
            Err(Error::NotFound(_))
        ));
        let names: Vec<String> = owner
            .tags(Entity::Contact)?
            .into_iter()
            .map(|tag| tag.name)
            .collect();
        assert_eq!(names, ["vip"], "an unused tag is gone");
        Ok(())
    }

    /// Issue 19, item 9: tagging an own record with a tag used only on records out of sight
    /// returned that tag's stored spelling, so a tagger could probe which tags hidden records
    /// carry by typing them in another case.
    #[test]
    fn tagging_never_reveals_the_spelling_of_a_tag_used_only_out_of_sight() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        add_user(&mut owner, "rita", "Sales Representative")?;
        let secret = contact(&mut owner, "Berg")?;
        owner.tag(Entity::Contact, secret, &["Takeover-Target".into()])?;
        let mut rita = login(dir.path(), "rita")?;
        let mine = contact(&mut rita, "Lund")?;
        rita.tag(Entity::Contact, mine, &["takeover-target".into()])?;
        assert_eq!(
            rita.show(Entity::Contact, mine)?.tags,
            ["takeover-target"],
            "the tagger's own spelling, not the hidden record's"
        );
        // A spelling the tagger can see is the one a new tagging takes.
        let other = contact(&mut rita, "Holm")?;
        rita.tag(Entity::Contact, other, &["TAKEOVER-TARGET".into()])?;
        assert_eq!(rita.show(Entity::Contact, other)?.tags, ["takeover-target"]);
        assert_eq!(
            rita.tags(Entity::Contact)?,
            [TagCount {
                name: "takeover-target".into(),
                records: 2
            }]
        );
        // Matching stays blind to case: the owner finds all three, the tagger untags hers.
        assert_eq!(tagged(&mut owner, "TAKEOVER-target")?.len(), 3);
        rita.untag(Entity::Contact, other, &["Takeover-TARGET".into()])?;
        assert!(rita.show(Entity::Contact, other)?.tags.is_empty());
        assert_eq!(
            owner.show(Entity::Contact, secret)?.tags,
            ["Takeover-Target"],
            "the hidden record keeps its tag"
        );
        Ok(())
    }

    #[test]
    fn the_tag_list_and_tag_filter_follow_scope_and_clearance() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        add_user(&mut owner, "rita", "Sales Representative")?;
        let secret = contact(&mut owner, "Berg")?;
        owner.tag(Entity::Contact, secret, &["takeover-target".into()])?;
        let mut rita = login(dir.path(), "rita")?;
        let mine = contact(&mut rita, "Lund")?;
        rita.tag(Entity::Contact, mine, &["warm".into()])?;
        let names: Vec<String> = rita
            .tags(Entity::Contact)?
            .into_iter()
            .map(|tag| tag.name)
            .collect();
        assert_eq!(
            names,
            ["warm"],
            "a tag used only out of scope is not listed"
        );
        assert!(matches!(
            rita.untag(Entity::Contact, secret, &["takeover-target".into()]),
            Err(Error::NotFound(_))
        ));
        // A role that sees only Public fields of records cannot filter by tag.
        let mut rep = owner
            .list_roles()?
            .into_iter()
            .find(|summary| summary.role.name == "Sales Representative")
            .map(|summary| summary.role)
            .ok_or_else(|| Error::NotFound("template".into()))?;
        rep.grants
            .entry(Entity::Contact)
            .or_default()
            .insert(Action::View, Scope::All);
        rep.others_clearance = crate::records::fields::Level::Public;
        owner.save_role(&rep, false)?;
        assert!(matches!(
            tagged(&mut rita, "takeover-target"),
            Err(Error::Forbidden(_))
        ));
        Ok(())
    }
}
