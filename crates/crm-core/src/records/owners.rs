//! Who a record belongs to: reassigning it to another user, moving it between teams, and the
//! users and teams it may be given to.

use chrono::Utc;
use rusqlite::params;

use super::*;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{Action, Scope};
use crate::vault::Session;

impl Session {
    /// Who owns a record and in which team it is may be changed only with edit scope on it
    /// wider than `own`: who may edit only their own records cannot give them away, take
    /// others' or move them between teams.
    pub(crate) fn require_edit_beyond_own(
        &self,
        entity: Entity,
        id: i64,
        what: &str,
    ) -> Result<()> {
        let (role, scope) = self.require_scope(entity, Action::Edit)?;
        self.require_in_scope(entity, id, scope)?;
        if scope == Scope::Own {
            return Err(Error::Forbidden(format!(
                "the {} role edits only its own {}: it cannot change their {what}",
                role.name,
                entity.table()
            )));
        }
        Ok(())
    }

    /// Gives a record to another user (a manager hands a lead to a sales rep). Needs edit
    /// scope on the record wider than `own`: who may only edit their own records cannot give
    /// them away or take others'. The record moves to the new owner's team; audited.
    pub fn reassign(&mut self, entity: Entity, id: i64, new_owner: &str) -> Result<()> {
        self.require_edit_beyond_own(entity, id, "owner")?;
        use rusqlite::OptionalExtension;
        let conn = self.store().conn();
        let (owner_id, team_id): (i64, Option<i64>) = conn
            .query_row(
                "SELECT id, team_id FROM users WHERE name = ?1 AND removed_at IS NULL",
                [new_owner],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("user {new_owner:?}")))?;
        let before: String = conn.query_row(
            &format!(
                "SELECT u.name FROM {} r JOIN users u ON u.id = r.owner_id WHERE r.id = ?1",
                entity.table()
            ),
            [id],
            |row| row.get(0),
        )?;
        let user_id = self.user().id;
        self.write(|tx, audit| {
            tx.execute(
                &format!(
                    "UPDATE {} SET owner_id = ?1, team_id = ?2, updated_at = ?3, updated_by = ?4 WHERE id = ?5",
                    entity.table()
                ),
                params![owner_id, team_id, Utc::now().to_rfc3339(), user_id, id],
            )?;
            audit.record(
                AuditEvent::new(AuditAction::Update)
                    .target(entity.name(), id)
                    .field("owner", Level::Public.as_u8())
                    .change(Some(before), Some(new_owner.to_owned())),
            );
            Ok(())
        })
    }

    /// Puts a record in a team, or in none (`None`). Like [`Session::reassign`], this needs
    /// edit scope on the record wider than `own`; the team must exist (teams are made by
    /// putting users in them). Audited as a `team` update.
    pub fn set_team(&mut self, entity: Entity, id: i64, team: Option<&str>) -> Result<()> {
        self.require_edit_beyond_own(entity, id, "team")?;
        use rusqlite::OptionalExtension;
        let conn = self.store().conn();
        let team = team.map(str::trim).filter(|team| !team.is_empty());
        let team_id: Option<i64> = match team {
            Some(name) => Some(
                conn.query_row("SELECT id FROM teams WHERE name = ?1", [name], |row| {
                    row.get(0)
                })
                .optional()?
                .ok_or_else(|| Error::NotFound(format!("team {name:?}")))?,
            ),
            None => None,
        };
        let before: Option<String> = conn.query_row(
            &format!(
                "SELECT t.name FROM {} r LEFT JOIN teams t ON t.id = r.team_id WHERE r.id = ?1",
                entity.table()
            ),
            [id],
            |row| row.get(0),
        )?;
        let user_id = self.user().id;
        self.write(|tx, audit| {
            tx.execute(
                &format!(
                    "UPDATE {} SET team_id = ?1, updated_at = ?2, updated_by = ?3 WHERE id = ?4",
                    entity.table()
                ),
                params![team_id, Utc::now().to_rfc3339(), user_id, id],
            )?;
            audit.record(
                AuditEvent::new(AuditAction::Update)
                    .target(entity.name(), id)
                    .field("team", Level::Public.as_u8())
                    .change(before, team.map(str::to_owned)),
            );
            Ok(())
        })
    }

    /// The names of active users, for choosing a record's new owner. Only for roles that may
    /// reassign something (edit scope wider than `own` on any kind of record).
    pub fn assignable_users(&self) -> Result<Vec<String>> {
        self.require_reassigning("change the owner of records")?;
        self.names("SELECT name FROM users WHERE removed_at IS NULL ORDER BY name")
    }

    /// The names of the vault's teams (made by giving users a team), for choosing a record's
    /// team. Only for the roles [`Self::assignable_users`] serves.
    pub fn assignable_teams(&self) -> Result<Vec<String>> {
        self.require_reassigning("change the team of records")?;
        self.names("SELECT name FROM teams ORDER BY name")
    }

    pub(crate) fn require_reassigning(&self, what: &str) -> Result<()> {
        let role = self.role()?;
        let may_reassign = Entity::ALL
            .into_iter()
            .any(|entity| matches!(role.scope(entity, Action::Edit), Scope::Team | Scope::All));
        if may_reassign {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "the {} role cannot {what}",
                role.name
            )))
        }
    }

    pub(crate) fn names(&self, sql: &str) -> Result<Vec<String>> {
        let mut statement = self.store().conn().prepare(sql)?;
        let names = statement
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }
}
