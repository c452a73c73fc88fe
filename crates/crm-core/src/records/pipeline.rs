//! The sales pipeline: stages the owner configures — names, order, a default probability and
//! an explicit outcome (open, won or lost; never guessed from a name).
//!
//! Every change goes through one validated step ([`Session::set_stages`]): the granular calls
//! (add, rename, edit, remove) build the new stage list from the current one and hand it over.
//! A kept stage keeps its id, so renaming or reordering never moves a deal. A stage is removed
//! only when no deal sits in it, or when the caller names a stage to move those deals to; the
//! move needs edit scope on each deal (and sight of its stage), like any edit, and each moved
//! deal is audited. Configuring stages needs the manage-roles right (the owner's settings).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::fields::Entity;
use super::view;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{Action, Right};
use crate::vault::Session;

/// The longest stage name.
const MAX_NAME_CHARS: usize = 40;

/// How a deal in a stage has ended, if it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still being worked.
    Open,
    /// Closed and won.
    Won,
    /// Closed and lost.
    Lost,
}

impl Outcome {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Open => "open",
            Outcome::Won => "won",
            Outcome::Lost => "lost",
        }
    }

    /// Parses `open`, `won` or `lost`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Outcome::Open),
            "won" => Ok(Outcome::Won),
            "lost" => Ok(Outcome::Lost),
            _ => Err(Error::Invalid(format!(
                "unknown outcome {text:?}; use open, won or lost"
            ))),
        }
    }
}

/// A stage of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// Id (kept through renames and reorders).
    pub id: i64,
    /// Name.
    pub name: String,
    /// Order, from 1.
    pub position: i64,
    /// Default probability of a deal in this stage, in percent.
    pub probability: i64,
    /// Whether deals here are open, won or lost.
    pub outcome: Outcome,
}

/// One stage of a new stage list: an existing stage (by id) with its new settings, or a new
/// one (`id: None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagePlan {
    /// The existing stage this entry keeps, or `None` for a new stage.
    pub id: Option<i64>,
    /// Name.
    pub name: String,
    /// Default probability in percent (0–100).
    pub probability: i64,
    /// Outcome.
    pub outcome: Outcome,
}

impl From<&Stage> for StagePlan {
    fn from(stage: &Stage) -> Self {
        Self {
            id: Some(stage.id),
            name: stage.name.clone(),
            probability: stage.probability,
            outcome: stage.outcome,
        }
    }
}

/// A stage list written as text: `NAME[:PROBABILITY[:OUTCOME]]`, comma-separated, in order,
/// e.g. `Lead:10, Qualified:30, Won:100:won, Lost:0:lost`. A name that matches a current
/// stage (ignoring case) keeps that stage — its id, its deals, and its probability and outcome
/// unless given; a new name is a new stage (probability 0, open, unless given).
pub fn plan_from_text(current: &[Stage], text: &str) -> Result<Vec<StagePlan>> {
    text.split(',')
        .map(|entry| {
            let mut parts = entry.split(':').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let existing = current
                .iter()
                .find(|stage| stage.name.eq_ignore_ascii_case(name));
            let mut plan = match existing {
                Some(stage) => StagePlan::from(stage),
                None => StagePlan {
                    id: None,
                    name: name.to_owned(),
                    probability: 0,
                    outcome: Outcome::Open,
                },
            };
            plan.name = name.to_owned();
            if let Some(probability) = parts.next().filter(|part| !part.is_empty()) {
                plan.probability = parse_probability(probability)?;
            }
            if let Some(outcome) = parts.next().filter(|part| !part.is_empty()) {
                plan.outcome = Outcome::parse(outcome)?;
            }
            if parts.next().is_some() {
                return Err(Error::Invalid(format!(
                    "{entry:?}: write a stage as NAME[:PROBABILITY[:OUTCOME]]"
                )));
            }
            Ok(plan)
        })
        .collect()
}

fn parse_probability(text: &str) -> Result<i64> {
    text.trim_end_matches('%')
        .parse()
        .ok()
        .filter(|value| (0..=100).contains(value))
        .ok_or_else(|| {
            Error::Invalid(format!(
                "{text:?}: a probability is a whole number from 0 to 100"
            ))
        })
}

/// Checks a stage list on its own: names, probabilities, and that deals have somewhere open to
/// start.
fn validate(current: &[Stage], plan: &[StagePlan]) -> Result<()> {
    if plan.len() < 2 {
        return Err(Error::Invalid(
            "a pipeline needs at least two stages".into(),
        ));
    }
    let mut names = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for stage in plan {
        let name = stage.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name != stage.name {
            return Err(Error::Invalid(format!(
                "{:?}: a stage name is 1 to {MAX_NAME_CHARS} characters without leading or trailing spaces",
                stage.name
            )));
        }
        if !names.insert(name.to_lowercase()) {
            return Err(Error::Invalid(format!("two stages are named {name:?}")));
        }
        if !(0..=100).contains(&stage.probability) {
            return Err(Error::Invalid(format!(
                "{name}: a probability is a whole number from 0 to 100"
            )));
        }
        if let Some(id) = stage.id {
            if !current.iter().any(|existing| existing.id == id) {
                return Err(Error::NotFound(format!("stage {id}")));
            }
            if !ids.insert(id) {
                return Err(Error::Invalid(format!("stage {id} is listed twice")));
            }
        }
    }
    if !plan.iter().any(|stage| stage.outcome == Outcome::Open) {
        return Err(Error::Invalid(
            "a pipeline needs at least one open stage for deals to start in".into(),
        ));
    }
    Ok(())
}

impl Session {
    /// The pipeline's stages in order. Stages are configuration, not customer data: anyone
    /// signed in may read them.
    pub fn pipeline(&self) -> Result<Vec<Stage>> {
        let mut statement = self.store().conn().prepare_cached(
            "SELECT id, name, position, probability, outcome FROM stages
             WHERE pipeline_id = 1 ORDER BY position, id",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                Stage {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    position: row.get(2)?,
                    probability: row.get(3)?,
                    outcome: Outcome::Open,
                },
                row.get::<_, String>(4)?,
            ))
        })?;
        let mut stages = Vec::new();
        for row in rows {
            let (mut stage, outcome) = row?;
            stage.outcome = Outcome::parse(&outcome)?;
            stages.push(stage);
        }
        Ok(stages)
    }

    /// A stage by id or by name (ignoring case).
    pub fn find_stage(&self, text: &str) -> Result<Stage> {
        let text = text.trim();
        let stages = self.pipeline()?;
        let by_id = text.parse::<i64>().ok();
        stages
            .iter()
            .find(|stage| Some(stage.id) == by_id)
            .or_else(|| {
                stages
                    .iter()
                    .find(|stage| stage.name.eq_ignore_ascii_case(text))
            })
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = stages.iter().map(|stage| stage.name.as_str()).collect();
                Error::Invalid(format!(
                    "no stage {text:?}; the stages are: {}",
                    names.join(", ")
                ))
            })
    }

    /// Adds a stage at `position` (from 1; default last); returns its id.
    pub fn add_stage(
        &mut self,
        name: &str,
        probability: i64,
        outcome: Outcome,
        position: Option<usize>,
    ) -> Result<i64> {
        let mut plan: Vec<StagePlan> = self.pipeline()?.iter().map(StagePlan::from).collect();
        let at = clamp_position(position, plan.len() + 1);
        plan.insert(
            at,
            StagePlan {
                id: None,
                name: name.trim().to_owned(),
                probability,
                outcome,
            },
        );
        self.set_stages(&plan, None)?;
        self.find_stage(name).map(|stage| stage.id)
    }

    /// Renames a stage; its deals stay in it.
    pub fn rename_stage(&mut self, id: i64, name: &str) -> Result<()> {
        self.change_stage(id, |stage| stage.name = name.trim().to_owned())
    }

    /// Changes a stage's default probability, outcome and/or position (from 1).
    pub fn edit_stage(
        &mut self,
        id: i64,
        probability: Option<i64>,
        outcome: Option<Outcome>,
        position: Option<usize>,
    ) -> Result<()> {
        let mut plan: Vec<StagePlan> = self.pipeline()?.iter().map(StagePlan::from).collect();
        let index = plan
            .iter()
            .position(|stage| stage.id == Some(id))
            .ok_or_else(|| Error::NotFound(format!("stage {id}")))?;
        let mut stage = plan.remove(index);
        if let Some(probability) = probability {
            stage.probability = probability;
        }
        if let Some(outcome) = outcome {
            stage.outcome = outcome;
        }
        let at = match position {
            Some(position) => clamp_position(Some(position), plan.len() + 1),
            None => index,
        };
        plan.insert(at, stage);
        self.set_stages(&plan, None)
    }

    /// Removes a stage. Deals in it are refused unless `move_deals_to` names another stage
    /// to move them to.
    pub fn remove_stage(&mut self, id: i64, move_deals_to: Option<i64>) -> Result<()> {
        let current = self.pipeline()?;
        if !current.iter().any(|stage| stage.id == id) {
            return Err(Error::NotFound(format!("stage {id}")));
        }
        let plan: Vec<StagePlan> = current
            .iter()
            .filter(|stage| stage.id != id)
            .map(StagePlan::from)
            .collect();
        self.set_stages(&plan, move_deals_to)
    }

    fn change_stage(&mut self, id: i64, change: impl FnOnce(&mut StagePlan)) -> Result<()> {
        let mut plan: Vec<StagePlan> = self.pipeline()?.iter().map(StagePlan::from).collect();
        let stage = plan
            .iter_mut()
            .find(|stage| stage.id == Some(id))
            .ok_or_else(|| Error::NotFound(format!("stage {id}")))?;
        change(stage);
        self.set_stages(&plan, None)
    }

    /// Replaces the pipeline's stage list (owner or role manager). Entries with an id keep
    /// that stage and its deals; entries without one are new; current stages left out are
    /// removed — refused while deals sit in them, unless `move_deals_to` names a kept stage to
    /// move those deals to. Each change is audited.
    pub fn set_stages(&mut self, plan: &[StagePlan], move_deals_to: Option<i64>) -> Result<()> {
        let role = self.require_right(Right::ManageRoles)?;
        let current = self.pipeline()?;
        validate(&current, plan)?;
        let kept: BTreeSet<i64> = plan.iter().filter_map(|stage| stage.id).collect();
        let removed: Vec<&Stage> = current
            .iter()
            .filter(|stage| !kept.contains(&stage.id))
            .collect();
        let conn = self.store().conn();
        let mut occupied = Vec::new();
        for stage in &removed {
            let holds: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM deals WHERE stage_id = ?1)",
                [stage.id],
                |row| row.get(0),
            )?;
            if holds {
                occupied.push(*stage);
            }
        }
        let target = match (occupied.is_empty(), move_deals_to) {
            (true, _) => None,
            (false, None) => {
                let names: Vec<String> = occupied
                    .iter()
                    .map(|stage| format!("{:?}", stage.name))
                    .collect();
                return Err(Error::Invalid(format!(
                    "deals are still in {}: move them first, or choose a stage to move them to",
                    names.join(", ")
                )));
            }
            (false, Some(target)) => {
                if !kept.contains(&target) {
                    return Err(Error::Invalid(format!(
                        "deals can only move to a stage that stays (stage {target} does not)"
                    )));
                }
                Some(target)
            }
        };
        let moved = match target {
            Some(_) => self.deals_to_move(&role, &occupied)?,
            None => Vec::new(),
        };
        let me = self.user().id;
        let now = Utc::now().to_rfc3339();
        let stage_level = self
            .fields(Entity::Deal)?
            .into_iter()
            .find(|field| field.name == "stage_id")
            .map_or(0, |field| field.level.as_u8());
        self.write(|tx, audit| {
            if let Some(target) = target {
                for (deal, from) in &moved {
                    tx.execute(
                        "UPDATE deals SET stage_id = ?1, updated_at = ?2, updated_by = ?3 WHERE id = ?4",
                        params![target, now, me, deal],
                    )?;
                    audit.record(
                        AuditEvent::new(AuditAction::Update)
                            .target(Entity::Deal.name(), deal)
                            .field("stage_id", stage_level)
                            .change(Some(from.to_string()), Some(target.to_string()))
                            .detail("reason", "stage removed"),
                    );
                }
            }
            for stage in &removed {
                tx.execute("DELETE FROM stages WHERE id = ?1", [stage.id])?;
                audit.record(
                    AuditEvent::new(AuditAction::PolicyChanged)
                        .target("stage", stage.id)
                        .field("stage", 0)
                        .change(Some(stage.name.clone()), None),
                );
            }
            // Kept stages first take names no one can type, so swapping two names never trips
            // the unique constraint half-way.
            for id in &kept {
                tx.execute(
                    "UPDATE stages SET name = char(1) || id WHERE id = ?1",
                    [id],
                )?;
            }
            let by_id: BTreeMap<i64, &Stage> =
                current.iter().map(|stage| (stage.id, stage)).collect();
            for (index, stage) in plan.iter().enumerate() {
                let position = index as i64 + 1;
                match stage.id.and_then(|id| by_id.get(&id)) {
                    Some(old) => {
                        tx.execute(
                            "UPDATE stages SET name = ?1, position = ?2, probability = ?3, outcome = ?4
                             WHERE id = ?5",
                            params![stage.name, position, stage.probability, stage.outcome.name(), old.id],
                        )?;
                        for (property, before, after) in [
                            ("name", old.name.clone(), stage.name.clone()),
                            ("probability", old.probability.to_string(), stage.probability.to_string()),
                            ("outcome", old.outcome.name().to_owned(), stage.outcome.name().to_owned()),
                        ] {
                            if before != after {
                                audit.record(
                                    AuditEvent::new(AuditAction::PolicyChanged)
                                        .target("stage", old.id)
                                        .field(property, 0)
                                        .change(Some(before), Some(after)),
                                );
                            }
                        }
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO stages (pipeline_id, name, position, probability, outcome)
                             VALUES (1, ?1, ?2, ?3, ?4)",
                            params![stage.name, position, stage.probability, stage.outcome.name()],
                        )?;
                        audit.record(
                            AuditEvent::new(AuditAction::PolicyChanged)
                                .target("stage", tx.last_insert_rowid())
                                .field("stage", 0)
                                .change(None, Some(stage.name.clone()))
                                .detail("probability", stage.probability)
                                .detail("outcome", stage.outcome.name()),
                        );
                    }
                }
            }
            let before: Vec<&str> = current.iter().map(|stage| stage.name.as_str()).collect();
            let after: Vec<&str> = plan.iter().map(|stage| stage.name.as_str()).collect();
            if before != after {
                audit.record(
                    AuditEvent::new(AuditAction::PolicyChanged)
                        .target("pipeline", 1)
                        .field("stages", 0)
                        .change(Some(before.join(" > ")), Some(after.join(" > "))),
                );
            }
            Ok(())
        })
    }

    /// The deals in `stages` with their stage, refusing unless the user may change the stage
    /// of every one of them (edit scope on the deal and sight of its stage field).
    fn deals_to_move(
        &self,
        role: &crate::policy::RoleDef,
        stages: &[&Stage],
    ) -> Result<Vec<(i64, i64)>> {
        let me = self.user().id;
        let stage_field = self
            .fields(Entity::Deal)?
            .into_iter()
            .find(|field| field.name == "stage_id")
            .ok_or_else(|| Error::Invalid("deals have no stage field".into()))?;
        let (scope_sql, scope_values) =
            self.scope_condition(role.scope(Entity::Deal, Action::Edit))?;
        let mut moved = Vec::new();
        for stage in stages {
            let mut values = scope_values.clone();
            values.push(stage.id.into());
            let mut statement = self.store().conn().prepare(&format!(
                "SELECT r.id, r.owner_id, coalesce(({scope_sql}), 0) FROM deals r WHERE r.stage_id = ? ORDER BY r.id"
            ))?;
            let rows = statement.query_map(rusqlite::params_from_iter(values), |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, bool>(2)?,
                ))
            })?;
            for row in rows {
                let (deal, owner, in_scope) = row?;
                let sees_stage =
                    view::visible(role, &stage_field, view::allowed_level(role, owner == me));
                if !in_scope || !sees_stage {
                    return Err(Error::Forbidden(format!(
                        "some deals in {:?} are not yours to move; nothing was changed",
                        stage.name
                    )));
                }
                moved.push((deal, stage.id));
            }
        }
        Ok(moved)
    }
}

/// A 1-based position as an index into a list of `len` slots (out of range: the end).
fn clamp_position(position: Option<usize>, len: usize) -> usize {
    match position {
        Some(position) if position >= 1 => (position - 1).min(len - 1),
        _ => len - 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::RecordInput;
    use crate::test_support::{add_user, login, owner_vault};

    fn deal(session: &mut Session, title: &str, stage: i64) -> Result<i64> {
        let input: RecordInput = [
            ("title".to_owned(), serde_json::json!(title)),
            ("stage_id".to_owned(), serde_json::json!(stage.to_string())),
        ]
        .into_iter()
        .collect();
        session.create(Entity::Deal, &input)
    }

    fn names(session: &Session) -> Result<Vec<String>> {
        Ok(session
            .pipeline()?
            .into_iter()
            .map(|stage| stage.name)
            .collect())
    }

    #[test]
    fn renaming_and_reordering_keep_deals_in_their_stage() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        let proposal = owner.find_stage("proposal")?;
        let id = deal(&mut owner, "Lenses", proposal.id)?;
        owner.rename_stage(proposal.id, "Offer sent")?;
        owner.edit_stage(proposal.id, Some(60), None, Some(1))?;
        let stage = owner.find_stage("Offer sent")?;
        assert_eq!(
            (stage.id, stage.position, stage.probability),
            (proposal.id, 1, 60)
        );
        let shown = owner.show(Entity::Deal, id)?;
        assert_eq!(
            shown.value("stage_id"),
            Some(&serde_json::json!(proposal.id))
        );
        // Two names swapped in one step.
        let mut plan: Vec<StagePlan> = owner.pipeline()?.iter().map(StagePlan::from).collect();
        let (first, second) = (plan[1].name.clone(), plan[2].name.clone());
        plan[1].name = second.clone();
        plan[2].name = first.clone();
        owner.set_stages(&plan, None)?;
        assert_eq!(names(&owner)?[1..3], [second, first]);
        Ok(())
    }

    #[test]
    fn outcomes_are_set_explicitly_never_guessed_from_names() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        let current = owner.pipeline()?;
        let plan = plan_from_text(&current, "Lead, Won, Signed:100:won, Lost")?;
        let won = plan
            .iter()
            .find(|stage| stage.name == "Won")
            .map(|stage| stage.outcome);
        assert_eq!(
            won,
            Some(Outcome::Won),
            "the existing Won stage keeps its outcome"
        );
        let signed = plan.iter().find(|stage| stage.name == "Signed");
        assert_eq!(signed.map(|stage| stage.outcome), Some(Outcome::Won));
        owner.set_stages(&plan, None)?;
        let fresh = owner.add_stage("Lost to competitor", 0, Outcome::Open, None)?;
        assert_eq!(owner.find_stage(&fresh.to_string())?.outcome, Outcome::Open);
        owner.edit_stage(fresh, None, Some(Outcome::Lost), None)?;
        assert_eq!(
            owner.find_stage("lost to competitor")?.outcome,
            Outcome::Lost
        );
        Ok(())
    }

    #[test]
    fn a_stage_with_deals_is_removed_only_by_moving_them() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        let lead = owner.find_stage("Lead")?.id;
        let qualified = owner.find_stage("Qualified")?.id;
        let id = deal(&mut owner, "Lenses", lead)?;
        let refused = owner.remove_stage(lead, None);
        assert!(matches!(refused, Err(Error::Invalid(_))), "{refused:?}");
        assert!(owner.find_stage("Lead").is_ok());
        owner.remove_stage(lead, Some(qualified))?;
        let shown = owner.show(Entity::Deal, id)?;
        assert_eq!(shown.value("stage_id"), Some(&serde_json::json!(qualified)));
        assert!(owner.find_stage("Lead").is_err());
        // An empty stage goes at once.
        let proposal = owner.find_stage("Proposal")?.id;
        owner.remove_stage(proposal, None)?;
        Ok(())
    }

    #[test]
    fn bad_stage_lists_are_refused_and_change_nothing() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        let before = owner.pipeline()?;
        for text in [
            "Only",
            "Lead, lead",
            "Lead, ",
            "Lead:101, Won:100:won",
            "Won:100:won, Lost:0:lost",
            "Lead:x, Won",
            "Lead:10:maybe, Won",
        ] {
            let outcome =
                plan_from_text(&before, text).and_then(|plan| owner.set_stages(&plan, None));
            assert!(
                matches!(outcome, Err(Error::Invalid(_))),
                "{text}: {outcome:?}"
            );
        }
        assert_eq!(owner.pipeline()?, before);
        Ok(())
    }

    #[test]
    fn moving_deals_out_of_a_removed_stage_needs_edit_scope_on_each() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        add_user(&mut owner, "rita", "Sales Representative")?;
        add_user(&mut owner, "adam", "Administrator")?;
        let lead = owner.find_stage("Lead")?.id;
        let qualified = owner.find_stage("Qualified")?.id;
        let mut rita = login(dir.path(), "rita")?;
        deal(&mut rita, "Rita's deal", lead)?;
        // A role manager whose deal scope is only their own cannot move others' deals.
        let mut narrow = owner
            .list_roles()?
            .into_iter()
            .find(|summary| summary.role.name == "Administrator")
            .map(|summary| summary.role)
            .ok_or_else(|| Error::NotFound("template".into()))?;
        narrow
            .grants
            .entry(Entity::Deal)
            .or_default()
            .insert(Action::Edit, crate::policy::Scope::Own);
        owner.save_role(&narrow, false)?;
        let mut adam = login(dir.path(), "adam")?;
        let refused = adam.remove_stage(lead, Some(qualified));
        assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
        assert!(owner.find_stage("Lead").is_ok());
        assert!(matches!(
            rita.remove_stage(lead, Some(qualified)),
            Err(Error::Forbidden(_))
        ));
        Ok(())
    }
}
