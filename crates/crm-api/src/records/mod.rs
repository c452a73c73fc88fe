//! Customer records for the work screens: search, lists, detail, create, edit, delete, reveal,
//! tags and teams, the pipeline (and its stages in owner settings) and the dashboard.
//! crm-core applies the role to every call (scope, clearance, masking, audit); these use cases
//! shape the answers so that each screen needs one call.

mod types;

use crm_core::Session;
use crm_core::policy::{Action, Right, Scope};
use crm_core::records::fields::{Entity, Kind};
use crm_core::records::view::value_text;
use crm_core::records::{
    Dependents, EffectiveField, ListQuery, RecordInput, RecordView, StagePlan, format_money,
};
use serde::{Deserialize, Serialize};

pub use self::types::*;
use crate::error::{ApiResult, count};
use crate::vocab::{RecordId, RecordKind};

/// What happens to a record's dependents when it is deleted (a company's contacts and deals,
/// a contact's deals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum DependentsChoice {
    /// Refuse the delete while it has dependents.
    Refuse,
    /// Keep them, unlinked.
    Detach,
    /// Delete them too.
    Delete,
}

/// The name crm-core gives a field's value type (`text`, `emails`, `company_ref`, …).
pub fn kind_name(kind: Kind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn field_info(field: EffectiveField) -> FieldInfo {
    FieldInfo {
        kind: kind_name(field.kind),
        level: field.level.into(),
        name: field.name,
        label: field.label,
        required: field.required,
        choices: field.choices,
    }
}

fn link_entity(kind: Kind) -> Option<Entity> {
    match kind {
        Kind::CompanyRef => Some(Entity::Company),
        Kind::ContactRef => Some(Entity::Contact),
        Kind::DealRef => Some(Entity::Deal),
        _ => None,
    }
}

/// A record as the reader may see it, every value as display text. References and stages read
/// as their names, never as bare ids; a reference to a record outside the reader's scope has
/// no name for them and reads as "not shared with you".
pub fn detail(record: RecordView, fields: &[EffectiveField]) -> RecordDetail {
    let fields = record
        .fields
        .into_iter()
        .map(|field| {
            let kind = fields
                .iter()
                .find(|def| def.name == field.name)
                .map(|def| def.kind);
            let link = kind
                .and_then(link_entity)
                .zip(field.value.as_ref().and_then(serde_json::Value::as_i64))
                .zip(field.display.clone())
                .map(|((entity, id), title)| RecordLink {
                    entity: entity.into(),
                    id: RecordId(id),
                    title,
                });
            let is_reference = kind.is_some_and(|kind| {
                matches!(
                    kind,
                    Kind::CompanyRef | Kind::ContactRef | Kind::DealRef | Kind::StageRef
                )
            });
            let mut masked = field.masked;
            let value = match (&field.display, &field.value) {
                (Some(display), Some(_)) => Some(display.clone()),
                (None, Some(_)) if is_reference => {
                    masked = Some("not shared with you".into());
                    None
                }
                (_, Some(value)) => Some(value_text(value)).filter(|text| !text.is_empty()),
                (_, None) => None,
            };
            FieldValue {
                kind: kind.map(kind_name).unwrap_or_default(),
                level: field.level.into(),
                name: field.name,
                label: field.label,
                value,
                masked,
                revealable: field.revealable,
                link,
            }
        })
        .collect();
    RecordDetail {
        entity: record.entity.into(),
        id: RecordId(record.id),
        title: record.title,
        owner: record.owner,
        mine: record.mine,
        team: record.team,
        created_at: record.created_at,
        created_by: record.created_by,
        updated_at: record.updated_at,
        updated_by: record.updated_by,
        tags: record.tags,
        fields,
        may_edit: false,
        may_delete: false,
    }
}

/// Form values as crm-core takes them: blank text clears a field.
fn input(values: Vec<FieldInput>) -> RecordInput {
    values
        .into_iter()
        .map(|field| {
            let value = match field.value {
                Some(text) if !text.trim().is_empty() => serde_json::Value::String(text),
                _ => serde_json::Value::Null,
            };
            (field.name, value)
        })
        .collect()
}

/// What the signed-in role may do with records, for showing only the buttons that will work.
pub fn record_rights(session: &mut Session) -> ApiResult<RecordRights> {
    let role = session.role()?;
    let entities = Entity::ALL
        .into_iter()
        .map(|entity| {
            let allowed = |action| role.scope(entity, action) != Scope::None;
            EntityRights {
                entity: entity.into(),
                view: allowed(Action::View),
                create: allowed(Action::Create),
                edit: allowed(Action::Edit),
                delete: allowed(Action::Delete),
                import: allowed(Action::Import),
            }
        })
        .collect();
    Ok(RecordRights {
        entities,
        reveal: role.has(Right::Reveal),
    })
}

/// The fields the signed-in user may fill in on a new record of this kind.
pub fn form_fields(session: &mut Session, entity: RecordKind) -> ApiResult<Vec<FieldInfo>> {
    Ok(session
        .writable_fields(entity.into())?
        .into_iter()
        .map(field_info)
        .collect())
}

/// Search as you type over companies, contacts and deals (the 20 best matches).
pub fn search_records(session: &mut Session, text: &str) -> ApiResult<Vec<SearchResult>> {
    Ok(session
        .search(text, 20)?
        .into_iter()
        .map(|hit| SearchResult {
            entity: hit.entity.into(),
            id: RecordId(hit.id),
            title: hit.title,
            subtitle: hit.subtitle,
        })
        .collect())
}

/// One page of a list.
pub fn list_records(
    session: &mut Session,
    entity: RecordKind,
    filter: ListFilter,
) -> ApiResult<RecordPage> {
    let entity = Entity::from(entity);
    let non_empty = |text: Option<String>| text.filter(|text| !text.trim().is_empty());
    let query = ListQuery {
        owner: non_empty(filter.owner),
        stage: filter.stage.map(|id| id.0),
        tag: non_empty(filter.tag),
        updated_since: non_empty(filter.updated_since),
        company_id: filter.company.map(|id| id.0),
        contact_id: filter.contact.map(|id| id.0),
        deal_id: filter.deal.map(|id| id.0),
        done: filter.done,
        due_before: non_empty(filter.due_before),
        sort: non_empty(filter.sort),
        descending: filter.descending,
        page: Some(filter.page.max(1)),
        page_size: Some(filter.page_size.clamp(1, 500)),
        ..ListQuery::default()
    };
    let fields = session.fields(entity)?;
    let page = session.list(entity, &query)?;
    let mut records = Vec::with_capacity(page.records.len());
    for record in page.records {
        let mut record = detail(record, &fields);
        if filter.with_rights.unwrap_or(false) {
            record.may_edit = session.may(entity, record.id.0, Action::Edit)?;
            record.may_delete = session.may(entity, record.id.0, Action::Delete)?;
        }
        records.push(record);
    }
    Ok(RecordPage {
        records,
        page: page.page,
        has_more: page.has_more,
    })
}

/// One record, with whether the reader may edit and delete it.
pub fn show_record(
    session: &mut Session,
    entity: RecordKind,
    id: RecordId,
) -> ApiResult<RecordDetail> {
    let entity = Entity::from(entity);
    let fields = session.fields(entity)?;
    let mut record = detail(session.show(entity, id.0)?, &fields);
    record.may_edit = session.may(entity, id.0, Action::Edit)?;
    record.may_delete = session.may(entity, id.0, Action::Delete)?;
    Ok(record)
}

/// Creates a record owned by the signed-in user; returns its id.
pub fn create_record(
    session: &mut Session,
    entity: RecordKind,
    values: Vec<FieldInput>,
) -> ApiResult<RecordId> {
    Ok(RecordId(session.create(entity.into(), &input(values))?))
}

/// Changes the given fields of a record (a `null` or blank value clears one).
pub fn update_record(
    session: &mut Session,
    entity: RecordKind,
    id: RecordId,
    values: Vec<FieldInput>,
) -> ApiResult<()> {
    Ok(session.update(entity.into(), id.0, &input(values))?)
}

/// Deletes a record, with what happens to its dependents.
pub fn delete_record(
    session: &mut Session,
    entity: RecordKind,
    id: RecordId,
    dependents: DependentsChoice,
) -> ApiResult<()> {
    let dependents = match dependents {
        DependentsChoice::Refuse => Dependents::Refuse,
        DependentsChoice::Detach => Dependents::Detach,
        DependentsChoice::Delete => Dependents::Delete,
    };
    Ok(session.delete(entity.into(), id.0, dependents)?)
}

/// Reveals one Highly Confidential value; the reason goes to the audit trail first.
pub fn reveal_field(
    session: &mut Session,
    entity: RecordKind,
    id: RecordId,
    field: &str,
    reason: &str,
) -> ApiResult<String> {
    Ok(session.reveal(entity.into(), id.0, field, reason)?)
}

/// The pipeline's stages, in order.
pub fn pipeline_stages(session: &mut Session) -> ApiResult<Vec<StageInfo>> {
    Ok(session
        .pipeline()?
        .into_iter()
        .map(|stage| StageInfo {
            id: RecordId(stage.id),
            name: stage.name,
            probability: u32::try_from(stage.probability).unwrap_or(0),
            outcome: stage.outcome.into(),
        })
        .collect())
}

/// Replaces the pipeline's stage list in one validated step (crm-core's `set_stages`): kept
/// stages keep their deals through renames and reorders; new ones are added; stages left out
/// are removed, their deals moved to `move_deals_to` (refused while they hold deals and no
/// stage is named).
pub fn save_pipeline(
    session: &mut Session,
    stages: Vec<StageEdit>,
    move_deals_to: Option<RecordId>,
) -> ApiResult<()> {
    let plan: Vec<StagePlan> = stages
        .into_iter()
        .map(|stage| StagePlan {
            id: stage.id.map(|id| id.0),
            name: stage.name.trim().to_owned(),
            probability: i64::from(stage.probability),
            outcome: stage.outcome.into(),
        })
        .collect();
    Ok(session.set_stages(&plan, move_deals_to.map(|id| id.0))?)
}

/// Adds a tag to a record.
pub fn tag_record(
    session: &mut Session,
    entity: RecordKind,
    id: RecordId,
    tag: String,
) -> ApiResult<()> {
    Ok(session.tag(entity.into(), id.0, &[tag])?)
}

/// Removes a tag from a record.
pub fn untag_record(
    session: &mut Session,
    entity: RecordKind,
    id: RecordId,
    tag: String,
) -> ApiResult<()> {
    Ok(session.untag(entity.into(), id.0, &[tag])?)
}

/// Puts a record in a team (which must exist), or in none.
pub fn set_record_team(
    session: &mut Session,
    entity: RecordKind,
    id: RecordId,
    team: Option<&str>,
) -> ApiResult<()> {
    Ok(session.set_team(entity.into(), id.0, team)?)
}

/// Gives a record to another user.
pub fn reassign_record(
    session: &mut Session,
    entity: RecordKind,
    id: RecordId,
    user: &str,
) -> ApiResult<()> {
    Ok(session.reassign(entity.into(), id.0, user)?)
}

/// Users a record can be given to; empty for roles that cannot change owners.
pub fn assignable_users(session: &mut Session) -> ApiResult<Vec<String>> {
    empty_if_forbidden(session.assignable_users())
}

/// Teams a record can be given to; empty for roles that cannot change teams.
pub fn assignable_teams(session: &mut Session) -> ApiResult<Vec<String>> {
    empty_if_forbidden(session.assignable_teams())
}

/// A choice list the role may not use is an empty one, not an error on the screen.
fn empty_if_forbidden(names: crm_core::Result<Vec<String>>) -> ApiResult<Vec<String>> {
    match names {
        Ok(names) => Ok(names),
        Err(crm_core::Error::Forbidden(_)) => Ok(Vec::new()),
        Err(error) => Err(error.into()),
    }
}

/// Pipeline value by stage and this week's activities, within the reader's view.
pub fn dashboard(session: &mut Session) -> ApiResult<DashboardView> {
    let figures = session.dashboard(chrono::Local::now().date_naive())?;
    Ok(DashboardView {
        pipeline: figures
            .pipeline
            .into_iter()
            .map(|stage| StageBar {
                id: RecordId(stage.stage_id),
                name: stage.name,
                deals: count(stage.deals),
                value: stage.value_cents as f64 / 100.0,
                value_text: format_money(stage.value_cents),
                hidden_values: count(stage.hidden_values),
            })
            .collect(),
        currencies: figures.currencies,
        week: figures
            .week
            .into_iter()
            .map(|day| DayBar {
                day: day.day,
                due: count(day.due),
                done: count(day.done),
            })
            .collect(),
    })
}
