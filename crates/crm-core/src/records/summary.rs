//! Figures for the dashboard: the pipeline by stage and the signed-in user's week.
//!
//! Totals obey the same rules as lists: only deals in the reader's view scope are counted,
//! a deal counts towards a stage only where the reader may see its stage, and its value is
//! summed only where the reader may see the value (the others are counted as hidden, so a
//! total never discloses what a record view would mask).

use chrono::{Datelike, Duration, NaiveDate};
use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use serde::Serialize;

use super::effective_fields;
use super::fields::Entity;
use super::view::{allowed_level, visible};
use crate::error::Result;
use crate::policy::{Action, RoleDef, Scope};
use crate::vault::Session;

/// Deals of one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageTotal {
    /// Stage id.
    pub stage_id: i64,
    /// Stage name.
    pub name: String,
    /// Deals in this stage that the reader may see.
    pub deals: u64,
    /// Sum of the values the reader may see, in minor units (cents).
    pub value_cents: i64,
    /// Deals counted whose value the reader may not see (not in `value_cents`).
    pub hidden_values: u64,
}

/// The signed-in user's activities due on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayActivities {
    /// The day (`YYYY-MM-DD`).
    pub day: String,
    /// Activities due that day.
    pub due: u64,
    /// Of those, done.
    pub done: u64,
}

/// What the dashboard draws.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dashboard {
    /// Every stage in pipeline order (empty if the role cannot view deals).
    pub pipeline: Vec<StageTotal>,
    /// The currencies of the summed values (more than one: the totals mix currencies).
    pub currencies: Vec<String>,
    /// Monday to Sunday of the week holding `today`.
    pub week: Vec<DayActivities>,
}

/// SQL that is true where a field is visible on record `r`: on the reader's own records at
/// their clearance, on the others' at their others' clearance.
fn visible_sql(role: &RoleDef, name: &str, fields: &[super::EffectiveField]) -> String {
    let Some(field) = fields.iter().find(|field| field.name == name) else {
        return "0".into();
    };
    match (
        visible(role, field, allowed_level(role, true)),
        visible(role, field, allowed_level(role, false)),
    ) {
        (true, true) => "1".into(),
        (true, false) => "r.owner_id = ?1".into(),
        (false, _) => "0".into(),
    }
}

impl Session {
    /// The dashboard's figures for the week holding `today`.
    pub fn dashboard(&self, today: NaiveDate) -> Result<Dashboard> {
        let role = self.role()?;
        let me = self.user().id;
        let conn = self.store().conn();
        let mut pipeline = Vec::new();
        let mut currencies = Vec::new();
        let deal_scope = role.scope(Entity::Deal, Action::View);
        if deal_scope != Scope::None {
            let fields = effective_fields(conn, Entity::Deal)?;
            let stage_visible = visible_sql(&role, "stage_id", &fields);
            let value_visible = visible_sql(&role, "value", &fields);
            let (scope_sql, scope_values) = self.scope_condition(deal_scope)?;
            // `?1` is the reader's id (always bound, so also named where no rule needs it); the
            // scope's own placeholders follow it.
            let mut values = vec![SqlValue::Integer(me)];
            values.extend(scope_values);
            let numbered = number_placeholders(&scope_sql, 2);
            let sql = format!(
                "SELECT s.id, s.name,
                        count(r.id),
                        coalesce(sum(CASE WHEN {value_visible} THEN r.value END), 0),
                        coalesce(sum(CASE WHEN r.id IS NULL OR {value_visible} THEN 0 ELSE 1 END), 0)
                 FROM stages s
                 LEFT JOIN deals r ON r.stage_id = s.id AND {stage_visible} AND {numbered} AND ?1 IS NOT NULL
                 GROUP BY s.id ORDER BY s.position"
            );
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(params_from_iter(values.iter()), |row| {
                Ok(StageTotal {
                    stage_id: row.get(0)?,
                    name: row.get(1)?,
                    deals: row.get::<_, i64>(2)?.try_into().unwrap_or(0),
                    value_cents: row.get(3)?,
                    hidden_values: row.get::<_, i64>(4)?.try_into().unwrap_or(0),
                })
            })?;
            for row in rows {
                pipeline.push(row?);
            }
            let currency_visible = visible_sql(&role, "currency", &fields);
            let sql = format!(
                "SELECT DISTINCT r.currency FROM deals r
                 WHERE r.currency IS NOT NULL AND r.value IS NOT NULL
                   AND {value_visible} AND {currency_visible} AND {numbered} AND ?1 IS NOT NULL
                 ORDER BY 1 LIMIT 10"
            );
            let mut statement = conn.prepare_cached(&sql)?;
            let rows = statement.query_map(params_from_iter(values.iter()), |row| row.get(0))?;
            for row in rows {
                currencies.push(row?);
            }
        }
        let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
        let mut week: Vec<DayActivities> = (0..7)
            .map(|offset| DayActivities {
                day: (monday + Duration::days(offset)).to_string(),
                due: 0,
                done: 0,
            })
            .collect();
        if role.scope(Entity::Activity, Action::View) != Scope::None {
            let fields = effective_fields(conn, Entity::Activity)?;
            let own_level = allowed_level(&role, true);
            let shows = |name: &str| {
                fields
                    .iter()
                    .find(|field| field.name == name)
                    .is_some_and(|field| visible(&role, field, own_level))
            };
            if shows("due_at") {
                let done = if shows("done") {
                    "coalesce(r.done, 0)"
                } else {
                    "0"
                };
                let sql = format!(
                    "SELECT substr(r.due_at, 1, 10), count(*), sum({done}) FROM activities r
                     WHERE r.owner_id = ?1 AND r.due_at >= ?2 AND r.due_at < ?3
                     GROUP BY 1"
                );
                let next_monday = monday + Duration::days(7);
                let mut statement = conn.prepare_cached(&sql)?;
                let rows = statement.query_map(
                    rusqlite::params![me, monday.to_string(), next_monday.to_string()],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, i64>(2)?,
                        ))
                    },
                )?;
                for row in rows {
                    let (day, due, done) = row?;
                    if let Some(slot) = week.iter_mut().find(|slot| slot.day == day) {
                        slot.due = due.try_into().unwrap_or(0);
                        slot.done = done.try_into().unwrap_or(0);
                    }
                }
            }
        }
        Ok(Dashboard {
            pipeline,
            currencies,
            week,
        })
    }
}

/// Rewrites the anonymous `?` placeholders of a scope condition as `?N`, `?N+1`, … so they
/// can follow the numbered `?1` (the reader's id) in one statement.
fn number_placeholders(sql: &str, first: usize) -> String {
    let mut next = first;
    let mut out = String::with_capacity(sql.len() + 8);
    for c in sql.chars() {
        if c == '?' {
            out.push_str(&format!("?{next}"));
            next += 1;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::RecordInput;
    use crate::records::fields::Level;
    use crate::test_support::{add_user, login, owner_vault};

    fn deal(session: &mut Session, title: &str, value: &str, stage: i64) -> Result<i64> {
        let input: RecordInput = [
            ("title", serde_json::json!(title)),
            ("value", serde_json::json!(value)),
            ("currency", serde_json::json!("EUR")),
            ("stage_id", serde_json::json!(stage.to_string())),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        session.create(Entity::Deal, &input)
    }

    #[test]
    fn totals_count_only_deals_in_scope_and_values_the_reader_may_see() -> Result<()> {
        let dir = tempfile::tempdir().map_err(crate::error::Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        add_user(&mut owner, "rita", "Sales Representative")?;
        let first = owner.pipeline()?[0].id;
        deal(&mut owner, "Owner deal", "1000.00", first)?;
        let mut rep = login(dir.path(), "rita")?;
        deal(&mut rep, "Rep deal", "250.50", first)?;
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");

        let seen = owner.dashboard(today)?;
        assert_eq!(seen.pipeline[0].deals, 2);
        assert_eq!(seen.pipeline[0].value_cents, 125_050);
        assert_eq!(seen.currencies, ["EUR"]);
        assert_eq!(seen.week.len(), 7);
        assert_eq!(seen.week[0].day, "2026-11-23");

        // A Sales Representative views their own deals only.
        let seen = rep.dashboard(today)?;
        assert_eq!(seen.pipeline[0].deals, 1);
        assert_eq!(seen.pipeline[0].value_cents, 25_050);

        // Values classified above the rep's clearance are counted as hidden, never summed.
        owner.classify(
            Entity::Deal,
            "value",
            Level::HighlyConfidential,
            &mut |_| {},
        )?;
        let seen = rep.dashboard(today)?;
        assert_eq!(seen.pipeline[0].deals, 1);
        assert_eq!(seen.pipeline[0].value_cents, 0);
        assert_eq!(seen.pipeline[0].hidden_values, 1);
        assert!(seen.currencies.is_empty());
        Ok(())
    }
}
