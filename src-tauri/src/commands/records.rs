//! Customer records for the work screens: search, lists, detail, create, edit, delete, reveal,
//! tags and teams, the pipeline (and its stages in owner settings) and the signed-in user's
//! tasks. crm-core applies the role to every call
//! (scope, clearance, masking, audit); these adapters only convert to the UI's shapes, where
//! every value is already display text.

use crm_core::policy::{Action, Right, Scope};
use crm_core::records::fields::{Entity, Kind};
use crm_core::records::view::value_text;
use crm_core::records::{
    Dependents, EffectiveField, ListQuery, Outcome, RecordInput, RecordView, StagePlan,
    format_money,
};
use serde::{Deserialize, Serialize};
use specta_typescript::Number;
use tauri::State;

use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// A record id (a number in TypeScript; ids stay far below 2^53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(transparent)]
pub struct RecordId(#[specta(type = Number)] pub i64);

/// What the signed-in role may do with one kind of record.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct EntityRights {
    /// `company`, `contact`, `deal`, `activity`, `note`.
    pub entity: String,
    /// May view some records of this kind.
    pub view: bool,
    /// May create them.
    pub create: bool,
    /// May edit some of them.
    pub edit: bool,
    /// May delete some of them.
    pub delete: bool,
    /// May import them from files.
    pub import: bool,
}

/// The role's record rights, for showing only the buttons that will work.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RecordRights {
    /// Per kind of record.
    pub entities: Vec<EntityRights>,
    /// May reveal Highly Confidential values (with a reason).
    pub reveal: bool,
}

/// A field definition for forms.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct FieldInfo {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Value type (`text`, `long_text`, `emails`, `phones`, `date`, `money`, `choice`,
    /// `company_ref`, …).
    pub kind: String,
    /// Classification level label.
    pub level: String,
    /// Required on create.
    pub required: bool,
    /// Allowed values for choices.
    pub choices: Vec<String>,
}

/// One field of a record as the reader may see it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct FieldValue {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Value type (see [`FieldInfo::kind`]).
    pub kind: String,
    /// Classification level label.
    pub level: String,
    /// The value as display text, when visible.
    pub value: Option<String>,
    /// The mask hint shown instead of a value above the reader's clearance.
    pub masked: Option<String>,
    /// The reader may reveal it (with a reason).
    pub revealable: bool,
    /// For references: the referenced record's id and name, when visible.
    pub link: Option<RecordLink>,
}

/// A reference to another record.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RecordLink {
    /// Record type.
    pub entity: String,
    /// Id.
    pub id: RecordId,
    /// Display name.
    pub title: String,
}

/// One record as the reader may see it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RecordDetail {
    /// Record type.
    pub entity: String,
    /// Id.
    pub id: RecordId,
    /// Display name.
    pub title: String,
    /// Owner's user name.
    pub owner: String,
    /// The reader owns it.
    pub mine: bool,
    /// The team it belongs to, if any.
    pub team: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Who created it (none for records made before this was kept).
    pub created_by: Option<String>,
    /// Last changed (RFC 3339).
    pub updated_at: String,
    /// Who changed it last.
    pub updated_by: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Fields present for this reader (hidden ones are absent).
    pub fields: Vec<FieldValue>,
    /// The reader may edit it (set on a single record, and in lists asked `with_rights`).
    pub may_edit: bool,
    /// The reader may delete it (set on a single record, and in lists asked `with_rights`).
    pub may_delete: bool,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RecordPage {
    /// Records on this page.
    pub records: Vec<RecordDetail>,
    /// Page number from 1.
    pub page: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

/// Filters and sorting for a list.
#[derive(Debug, Clone, Default, Deserialize, specta::Type)]
pub struct ListFilter {
    /// Only records of this user name.
    pub owner: Option<String>,
    /// Only deals in this stage.
    pub stage: Option<RecordId>,
    /// Only records with this tag.
    pub tag: Option<String>,
    /// Only records changed on or after this date (`YYYY-MM-DD`).
    pub updated_since: Option<String>,
    /// Related to this company.
    pub company: Option<RecordId>,
    /// Related to this contact.
    pub contact: Option<RecordId>,
    /// Related to this deal.
    pub deal: Option<RecordId>,
    /// Activities: done or open.
    pub done: Option<bool>,
    /// Activities: only those due up to this time (RFC 3339; tasks without a due time are
    /// left out).
    pub due_before: Option<String>,
    /// Tell for each record whether the reader may edit and delete it (one check per row:
    /// for short lists with row actions, such as "my tasks").
    pub with_rights: Option<bool>,
    /// Sort field.
    pub sort: Option<String>,
    /// Newest / largest first.
    pub descending: bool,
    /// Page number from 1.
    pub page: u32,
    /// Rows per page (at most 500).
    pub page_size: u32,
}

/// One search result.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct SearchResult {
    /// Record type.
    pub entity: String,
    /// Id.
    pub id: RecordId,
    /// Display name.
    pub title: String,
    /// Second line (company, email, stage…).
    pub subtitle: Option<String>,
}

/// A pipeline stage.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct StageInfo {
    /// Id.
    pub id: RecordId,
    /// Name.
    pub name: String,
    /// Default probability (%).
    pub probability: u32,
    /// `open`, `won` or `lost`.
    pub outcome: String,
}

/// One stage of the pipeline as the settings page saves it.
#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct StageEdit {
    /// The stage it keeps (its deals stay in it); `null` for a new stage.
    pub id: Option<RecordId>,
    /// Name.
    pub name: String,
    /// Default probability (%), 0–100.
    pub probability: u32,
    /// `open`, `won` or `lost`.
    pub outcome: String,
}

/// A field value typed into a form: `None` clears the field on edit.
#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct FieldInput {
    /// Field name.
    pub name: String,
    /// Text as typed (parsed by the field's type in crm-core).
    pub value: Option<String>,
}

fn entity(name: &str) -> CommandResult<Entity> {
    Ok(Entity::parse(name)?)
}

pub(crate) fn kind_name(kind: Kind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn field_info(field: EffectiveField) -> FieldInfo {
    FieldInfo {
        kind: kind_name(field.kind),
        level: field.level.label().into(),
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

fn detail(record: RecordView, fields: &[EffectiveField]) -> RecordDetail {
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
                    entity: entity.name().into(),
                    id: RecordId(id),
                    title,
                });
            // References and stages read as their names, never as bare ids; a reference to a
            // record outside the reader's scope has no name for them and shows as not shared.
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
                level: field.level.label().into(),
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
        entity: record.entity.name().into(),
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

/// What the signed-in role may do with records.
#[tauri::command]
#[specta::specta]
pub async fn record_rights(state: State<'_, AppState>) -> CommandResult<RecordRights> {
    state
        .session(move |session| {
            let role = session.role()?;
            let entities = [
                Entity::Company,
                Entity::Contact,
                Entity::Deal,
                Entity::Activity,
                Entity::Note,
            ]
            .into_iter()
            .map(|entity| {
                let allowed = |action| role.scope(entity, action) != Scope::None;
                EntityRights {
                    entity: entity.name().into(),
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
        })
        .await
}

/// The fields the signed-in user may fill in on a new record of this kind.
#[tauri::command]
#[specta::specta]
pub async fn form_fields(
    state: State<'_, AppState>,
    entity: String,
) -> CommandResult<Vec<FieldInfo>> {
    let entity = self::entity(&entity)?;
    state
        .session(move |session| {
            Ok(session
                .writable_fields(entity)?
                .into_iter()
                .map(field_info)
                .collect())
        })
        .await
}

/// Search as you type over companies, contacts and deals.
#[tauri::command]
#[specta::specta]
pub async fn search_records(
    state: State<'_, AppState>,
    text: String,
) -> CommandResult<Vec<SearchResult>> {
    state
        .session(move |session| {
            Ok(session
                .search(&text, 20)?
                .into_iter()
                .map(|hit| SearchResult {
                    entity: hit.entity.name().into(),
                    id: RecordId(hit.id),
                    title: hit.title,
                    subtitle: hit.subtitle,
                })
                .collect())
        })
        .await
}

/// One page of a list.
#[tauri::command]
#[specta::specta]
pub async fn list_records(
    state: State<'_, AppState>,
    entity: String,
    filter: ListFilter,
) -> CommandResult<RecordPage> {
    let entity = self::entity(&entity)?;
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
    let with_rights = filter.with_rights.unwrap_or(false);
    state
        .session(move |session| {
            let fields = session.fields(entity)?;
            let page = session.list(entity, &query)?;
            let mut records = Vec::with_capacity(page.records.len());
            for record in page.records {
                let mut record = detail(record, &fields);
                if with_rights {
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
        })
        .await
}

/// One record.
#[tauri::command]
#[specta::specta]
pub async fn show_record(
    state: State<'_, AppState>,
    entity: String,
    id: RecordId,
) -> CommandResult<RecordDetail> {
    let entity = self::entity(&entity)?;
    state
        .session(move |session| {
            let fields = session.fields(entity)?;
            let mut record = detail(session.show(entity, id.0)?, &fields);
            record.may_edit = session.may(entity, id.0, Action::Edit)?;
            record.may_delete = session.may(entity, id.0, Action::Delete)?;
            Ok(record)
        })
        .await
}

/// Creates a record owned by the signed-in user; returns its id.
#[tauri::command]
#[specta::specta]
pub async fn create_record(
    state: State<'_, AppState>,
    entity: String,
    values: Vec<FieldInput>,
) -> CommandResult<RecordId> {
    let entity = self::entity(&entity)?;
    let input = input(values);
    state
        .session(move |session| Ok(RecordId(session.create(entity, &input)?)))
        .await
}

/// Changes the given fields of a record (a `null` value clears one).
#[tauri::command]
#[specta::specta]
pub async fn update_record(
    state: State<'_, AppState>,
    entity: String,
    id: RecordId,
    values: Vec<FieldInput>,
) -> CommandResult<()> {
    let entity = self::entity(&entity)?;
    let input = input(values);
    state
        .session(move |session| Ok(session.update(entity, id.0, &input)?))
        .await
}

/// Deletes a record. `dependents` (`refuse`, `detach`, `delete`) says what happens to a
/// company's contacts and deals or a contact's deals.
#[tauri::command]
#[specta::specta]
pub async fn delete_record(
    state: State<'_, AppState>,
    entity: String,
    id: RecordId,
    dependents: String,
) -> CommandResult<()> {
    let entity = self::entity(&entity)?;
    let dependents = match dependents.as_str() {
        "refuse" => Dependents::Refuse,
        "detach" => Dependents::Detach,
        "delete" => Dependents::Delete,
        other => {
            return Err(CommandError::new(
                "invalid",
                format!("unknown choice {other:?} for related records"),
            ));
        }
    };
    state
        .session(move |session| Ok(session.delete(entity, id.0, dependents)?))
        .await
}

/// Reveals one Highly Confidential value; the reason goes to the audit trail first.
#[tauri::command]
#[specta::specta]
pub async fn reveal_field(
    state: State<'_, AppState>,
    entity: String,
    id: RecordId,
    field: String,
    reason: String,
) -> CommandResult<String> {
    let entity = self::entity(&entity)?;
    state
        .session(move |session| Ok(session.reveal(entity, id.0, &field, &reason)?))
        .await
}

/// The pipeline's stages, in order.
#[tauri::command]
#[specta::specta]
pub async fn pipeline_stages(state: State<'_, AppState>) -> CommandResult<Vec<StageInfo>> {
    state
        .session(move |session| {
            Ok(session
                .pipeline()?
                .into_iter()
                .map(|stage| StageInfo {
                    id: RecordId(stage.id),
                    name: stage.name,
                    probability: u32::try_from(stage.probability).unwrap_or(0),
                    outcome: stage.outcome.name().into(),
                })
                .collect())
        })
        .await
}

/// Replaces the pipeline's stage list in one validated step (crm-core's `set_stages`): kept
/// stages keep their deals through renames and reorders; new ones are added; stages left out
/// are removed, their deals moved to `move_deals_to` (refused while they hold deals and no
/// stage is named).
#[tauri::command]
#[specta::specta]
pub async fn save_pipeline(
    state: State<'_, AppState>,
    stages: Vec<StageEdit>,
    move_deals_to: Option<RecordId>,
) -> CommandResult<()> {
    let plan = stages
        .into_iter()
        .map(|stage| {
            Ok(StagePlan {
                id: stage.id.map(|id| id.0),
                name: stage.name.trim().to_owned(),
                probability: i64::from(stage.probability),
                outcome: Outcome::parse(&stage.outcome)?,
            })
        })
        .collect::<CommandResult<Vec<_>>>()?;
    state
        .session(move |session| Ok(session.set_stages(&plan, move_deals_to.map(|id| id.0))?))
        .await
}

/// Adds a tag to a record.
#[tauri::command]
#[specta::specta]
pub async fn tag_record(
    state: State<'_, AppState>,
    entity: String,
    id: RecordId,
    tag: String,
) -> CommandResult<()> {
    let entity = self::entity(&entity)?;
    state
        .session(move |session| Ok(session.tag(entity, id.0, &[tag])?))
        .await
}

/// Removes a tag from a record.
#[tauri::command]
#[specta::specta]
pub async fn untag_record(
    state: State<'_, AppState>,
    entity: String,
    id: RecordId,
    tag: String,
) -> CommandResult<()> {
    let entity = self::entity(&entity)?;
    state
        .session(move |session| Ok(session.untag(entity, id.0, &[tag])?))
        .await
}

/// Puts a record in a team (which must exist), or in none (`null`).
#[tauri::command]
#[specta::specta]
pub async fn set_record_team(
    state: State<'_, AppState>,
    entity: String,
    id: RecordId,
    team: Option<String>,
) -> CommandResult<()> {
    let entity = self::entity(&entity)?;
    state
        .session(move |session| Ok(session.set_team(entity, id.0, team.as_deref())?))
        .await
}

/// One stage's bar on the dashboard.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct StageBar {
    /// Stage id.
    pub id: RecordId,
    /// Stage name.
    pub name: String,
    /// Deals the reader may see in this stage.
    pub deals: u32,
    /// Sum of the values the reader may see, in major units (for the bar's length).
    pub value: f64,
    /// The same sum as display text (`12500.00`; the UI groups thousands).
    pub value_text: String,
    /// Deals counted whose value is above the reader's clearance.
    pub hidden_values: u32,
}

/// One day's bar of the signed-in user's week.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct DayBar {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Activities due.
    pub due: u32,
    /// Of those, done.
    pub done: u32,
}

/// The dashboard's figures.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct DashboardView {
    /// Pipeline by stage, in order.
    pub pipeline: Vec<StageBar>,
    /// Currencies in the totals (more than one: mixed).
    pub currencies: Vec<String>,
    /// Monday to Sunday of this week.
    pub week: Vec<DayBar>,
}

/// Pipeline value by stage and this week's activities, within the reader's view.
#[tauri::command]
#[specta::specta]
pub async fn dashboard(state: State<'_, AppState>) -> CommandResult<DashboardView> {
    let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    state
        .session(move |session| {
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
        })
        .await
}

/// Users a record can be given to; empty for roles that cannot change owners.
#[tauri::command]
#[specta::specta]
pub async fn assignable_users(state: State<'_, AppState>) -> CommandResult<Vec<String>> {
    state
        .session(move |session| empty_if_forbidden(session.assignable_users()))
        .await
}

/// Teams a record can be given to; empty for roles that cannot change teams.
#[tauri::command]
#[specta::specta]
pub async fn assignable_teams(state: State<'_, AppState>) -> CommandResult<Vec<String>> {
    state
        .session(move |session| empty_if_forbidden(session.assignable_teams()))
        .await
}

/// A choice list the role may not use is an empty one, not an error on the screen.
fn empty_if_forbidden(names: crm_core::Result<Vec<String>>) -> CommandResult<Vec<String>> {
    match names {
        Ok(names) => Ok(names),
        Err(crm_core::Error::Forbidden(_)) => Ok(Vec::new()),
        Err(error) => Err(error.into()),
    }
}

/// Gives a record to another user.
#[tauri::command]
#[specta::specta]
pub async fn reassign_record(
    state: State<'_, AppState>,
    entity: String,
    id: RecordId,
    user: String,
) -> CommandResult<()> {
    let entity = self::entity(&entity)?;
    state
        .session(move |session| Ok(session.reassign(entity, id.0, &user)?))
        .await
}
