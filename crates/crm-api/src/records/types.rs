//! The wire types of the record use cases: what a front end sends and receives for search,
//! lists, a record's detail, forms, the pipeline and the dashboard. Every value is already
//! display text, decided by crm-core for the reader (masked, absent or revealable).

use serde::{Deserialize, Serialize};

use crate::vocab::{Level, RecordId, RecordKind, StageOutcome};

/// What the signed-in role may do with one kind of record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct EntityRights {
    /// The kind of record.
    pub entity: RecordKind,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RecordRights {
    /// Per kind of record.
    pub entities: Vec<EntityRights>,
    /// May reveal Highly Confidential values (with a reason).
    pub reveal: bool,
}

/// A field definition for forms.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FieldInfo {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Value type (`text`, `long_text`, `emails`, `phones`, `date`, `money`, `choice`,
    /// `company_ref`, …).
    pub kind: String,
    /// Classification level.
    pub level: Level,
    /// Required on create.
    pub required: bool,
    /// Allowed values for choices.
    pub choices: Vec<String>,
}

/// One field of a record as the reader may see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FieldValue {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Value type (see [`FieldInfo::kind`]).
    pub kind: String,
    /// Classification level.
    pub level: Level,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RecordLink {
    /// Record type.
    pub entity: RecordKind,
    /// Id.
    pub id: RecordId,
    /// Display name.
    pub title: String,
}

/// One record as the reader may see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RecordDetail {
    /// Record type.
    pub entity: RecordKind,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RecordPage {
    /// Records on this page.
    pub records: Vec<RecordDetail>,
    /// Page number from 1.
    pub page: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

/// Filters and sorting for a list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SearchResult {
    /// Record type.
    pub entity: RecordKind,
    /// Id.
    pub id: RecordId,
    /// Display name.
    pub title: String,
    /// Second line (company, email, stage…).
    pub subtitle: Option<String>,
}

/// A pipeline stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StageInfo {
    /// Id.
    pub id: RecordId,
    /// Name.
    pub name: String,
    /// Default probability (%).
    pub probability: u32,
    /// How its deals have ended, if they have.
    pub outcome: StageOutcome,
}

/// One stage of the pipeline as the settings page saves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StageEdit {
    /// The stage it keeps (its deals stay in it); `null` for a new stage.
    pub id: Option<RecordId>,
    /// Name.
    pub name: String,
    /// Default probability (%), 0–100.
    pub probability: u32,
    /// How its deals have ended, if they have.
    pub outcome: StageOutcome,
}

/// A field value typed into a form: `None` clears the field on edit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FieldInput {
    /// Field name.
    pub name: String,
    /// Text as typed (parsed by the field's type in crm-core).
    pub value: Option<String>,
}

/// One stage's bar on the dashboard.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DayBar {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Activities due.
    pub due: u32,
    /// Of those, done.
    pub done: u32,
}

/// The dashboard's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DashboardView {
    /// Pipeline by stage, in order.
    pub pipeline: Vec<StageBar>,
    /// Currencies in the totals (more than one: mixed).
    pub currencies: Vec<String>,
    /// Monday to Sunday of this week.
    pub week: Vec<DayBar>,
}
