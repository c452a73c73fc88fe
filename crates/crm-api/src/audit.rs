//! The audit viewer's use cases: entries with filters (values masked to the viewer's clearance by
//! crm-core), the chain verification, the periodic access review with its sign-off, and
//! unusual-activity alerts. Every command needs the view-audit right in crm-core.

use chrono::{NaiveDate, TimeZone, Utc};
use crm_core::Session;
use crm_core::audit::{AuditAction, AuditFilter};
use serde::{Deserialize, Serialize};

use crate::error::ApiResult;

/// Filters of the audit viewer; empty means any.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AuditQuery {
    /// Only this user's actions.
    pub user: Option<String>,
    /// Only this action (stored name).
    pub action: Option<String>,
    /// From this day (`YYYY-MM-DD`, UTC).
    pub since: Option<String>,
    /// Up to and including this day.
    pub until: Option<String>,
    /// At most this many entries (default 200).
    pub limit: Option<u32>,
}

/// One entry as shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AuditRow {
    /// Sequence number in the chain.
    #[cfg_attr(feature = "specta", specta(type = specta_typescript::Number))]
    pub seq: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who.
    pub user: Option<String>,
    /// Their role then.
    pub role: Option<String>,
    /// Which computer.
    pub workstation: String,
    /// What.
    pub action: String,
    /// On which record (`contact 17`).
    pub target: Option<String>,
    /// Which field.
    pub field: Option<String>,
    /// Old value (masked above the viewer's clearance).
    pub old_value: Option<String>,
    /// New value (masked above the viewer's clearance).
    pub new_value: Option<String>,
    /// The values are above the viewer's clearance and arrive masked.
    pub masked: bool,
    /// When old and new values are structured (a role definition): what differs, one line
    /// per setting (`grants.contact.view`: `own` → `all`). Empty otherwise.
    pub changes: Vec<AuditChange>,
    /// More detail as `key: value` pairs (empty values left out).
    pub details: Vec<AuditDetail>,
}

/// One `key: value` detail of an entry (a reveal's reason, a backup's id, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AuditDetail {
    /// What it is (`reason`, `backup id`).
    pub key: String,
    /// Its value as text; nested structures as compact JSON.
    pub value: String,
}

/// One setting that differs between a structured old and new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AuditChange {
    /// Which setting, as a dotted path (`grants.contact.view`).
    pub what: String,
    /// Before (`(none)` when absent).
    pub old: String,
    /// After (`(none)` when absent).
    pub new: String,
}

/// What differs between two JSON objects, leaf by leaf; `None` unless at least one side is
/// a JSON object (plain values are shown as they are).
pub fn structured_changes(old: Option<&str>, new: Option<&str>) -> Option<Vec<AuditChange>> {
    use serde_json::Value;
    fn parse(text: Option<&str>) -> Option<Value> {
        text.and_then(|text| serde_json::from_str::<Value>(text).ok())
            .filter(Value::is_object)
    }
    fn leaves(value: &Value, path: String, out: &mut std::collections::BTreeMap<String, String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    let path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    leaves(value, path, out);
                }
            }
            Value::Array(items) => {
                let text = items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map_or_else(|| item.to_string(), str::to_owned)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                out.insert(path, text);
            }
            Value::String(text) => {
                out.insert(path, text.clone());
            }
            Value::Null => {}
            other => {
                out.insert(path, other.to_string());
            }
        }
    }
    let (old, new) = (parse(old), parse(new));
    if old.is_none() && new.is_none() {
        return None;
    }
    let mut before = std::collections::BTreeMap::new();
    let mut after = std::collections::BTreeMap::new();
    if let Some(old) = &old {
        leaves(old, String::new(), &mut before);
    }
    if let Some(new) = &new {
        leaves(new, String::new(), &mut after);
    }
    let shown = |value: Option<&String>| {
        value
            .filter(|text| !text.is_empty())
            .cloned()
            .unwrap_or_else(|| "(none)".into())
    };
    let paths: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    Some(
        paths
            .into_iter()
            .filter(|path| before.get(*path) != after.get(*path))
            .map(|path| AuditChange {
                what: path.clone(),
                old: shown(before.get(path)),
                new: shown(after.get(path)),
            })
            .collect(),
    )
}

/// The entry's detail object as readable pairs: no JSON braces, nothing empty.
pub fn detail_pairs(detail: &serde_json::Value) -> Vec<AuditDetail> {
    use serde_json::Value;
    fn text(value: &Value) -> Option<String> {
        match value {
            Value::Null => None,
            Value::String(text) => Some(text.trim().to_owned()).filter(|text| !text.is_empty()),
            Value::Bool(flag) => Some(if *flag { "yes" } else { "no" }.to_owned()),
            Value::Number(number) => Some(number.to_string()),
            Value::Array(items) if items.is_empty() => None,
            Value::Array(items)
                if items
                    .iter()
                    .all(|item| !item.is_object() && !item.is_array()) =>
            {
                Some(items.iter().filter_map(text).collect::<Vec<_>>().join(", "))
            }
            Value::Object(map) if map.is_empty() => None,
            nested => Some(nested.to_string()),
        }
    }
    match detail {
        Value::Object(map) => map
            .iter()
            .filter_map(|(key, value)| {
                text(value).map(|value| AuditDetail {
                    key: key.replace('_', " "),
                    value,
                })
            })
            .collect(),
        other => text(other)
            .map(|value| AuditDetail {
                key: "detail".into(),
                value,
            })
            .into_iter()
            .collect(),
    }
}

/// The chain check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ChainCheck {
    /// Entries checked.
    #[cfg_attr(feature = "specta", specta(type = specta_typescript::Number))]
    pub entries: i64,
    /// Retention checkpoints checked (each stands for entries pruned before it).
    #[cfg_attr(feature = "specta", specta(type = specta_typescript::Number))]
    pub checkpoints: i64,
    /// The chain, its checkpoints, the head file and the backups agree.
    pub intact: bool,
    /// The first broken entry and why, if any.
    pub problem: Option<String>,
    /// Agreement with the head file beside the database.
    pub head_file: String,
    /// Agreement with the heads recorded in the backups that can be reached.
    pub backups: String,
    /// Findings that do not break the chain but need a person's attention.
    pub warnings: Vec<String>,
}

/// One user in the access review.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ReviewRow {
    /// User.
    pub user: String,
    /// Role.
    pub role: String,
    /// Special rights.
    pub rights: Vec<String>,
    /// Last unlock.
    pub last_unlock: Option<String>,
    /// Records viewed in the period.
    #[cfg_attr(feature = "specta", specta(type = specta_typescript::Number))]
    pub records_viewed: i64,
    /// Records exported in the period.
    #[cfg_attr(feature = "specta", specta(type = specta_typescript::Number))]
    pub records_exported: i64,
    /// Rights held but not used in the period (candidates to remove).
    pub unused_rights: Vec<String>,
}

/// The access review.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ReviewView {
    /// Days covered.
    #[cfg_attr(feature = "specta", specta(type = specta_typescript::Number))]
    pub period_days: i64,
    /// Per user.
    pub users: Vec<ReviewRow>,
    /// Last sign-off: who and when.
    pub last_signed_off: Option<String>,
}

/// An unusual-activity alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AlertRow {
    /// Id.
    #[cfg_attr(feature = "specta", specta(type = specta_typescript::Number))]
    pub id: i64,
    /// When raised.
    pub at: String,
    /// Whose activity.
    pub user: String,
    /// What was unusual.
    pub kind: String,
    /// The hour it concerns.
    pub hour: String,
    /// How many events.
    #[cfg_attr(feature = "specta", specta(type = specta_typescript::Number))]
    pub count: i64,
    /// The user's usual count for an hour.
    pub baseline: f64,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
}

/// An alert as the audit viewer and the unlock banner show it.
pub fn alert_row(alert: crm_core::audit::alerts::Alert) -> AlertRow {
    AlertRow {
        id: alert.id,
        at: alert.at,
        user: alert.user,
        kind: alert.kind,
        hour: alert.hour,
        count: alert.count,
        baseline: alert.baseline,
        acknowledged_by: alert.acknowledged_by,
    }
}

fn day(text: Option<String>, end: bool) -> ApiResult<Option<chrono::DateTime<Utc>>> {
    let Some(text) = text.filter(|text| !text.trim().is_empty()) else {
        return Ok(None);
    };
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| crm_core::Error::Invalid(format!("{text:?} is not a date (YYYY-MM-DD)")))?;
    let date = if end {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    Ok(date
        .and_hms_opt(0, 0, 0)
        .map(|at| Utc.from_utc_datetime(&at)))
}

/// Action names for the filter menu.
pub fn audit_actions() -> Vec<String> {
    AuditAction::names().map(str::to_owned).collect()
}

/// Entries matching the filters, newest first.
pub fn audit_entries(session: &mut Session, query: AuditQuery) -> ApiResult<Vec<AuditRow>> {
    let filter = AuditFilter {
        user: query.user.filter(|user| !user.trim().is_empty()),
        actions: match query.action.filter(|action| !action.is_empty()) {
            Some(action) => vec![AuditAction::parse(&action)?],
            None => Vec::new(),
        },
        since: day(query.since, false)?,
        until: day(query.until, true)?,
        limit: Some(query.limit.unwrap_or(200).clamp(1, 2000)),
        ..AuditFilter::default()
    };
    {
        Ok(session
            .audit_list(&filter)?
            .into_iter()
            .map(|entry| AuditRow {
                seq: entry.seq,
                at: entry.at,
                user: entry.user,
                role: entry.role,
                workstation: entry.workstation,
                action: entry.action,
                target: entry
                    .entity
                    .map(|entity| format!("{entity} {}", entry.record_id.unwrap_or_default())),
                field: entry.field,
                masked: [&entry.old_value, &entry.new_value]
                    .iter()
                    .any(|value| value.as_deref() == Some(crm_core::audit::MASKED)),
                details: detail_pairs(&entry.detail),
                changes: structured_changes(entry.old_value.as_deref(), entry.new_value.as_deref())
                    .unwrap_or_default(),
                // A structured change is shown by `changes`, never as raw JSON.
                old_value: entry
                    .old_value
                    .filter(|text| structured_changes(Some(text), None).is_none()),
                new_value: entry
                    .new_value
                    .filter(|text| structured_changes(Some(text), None).is_none()),
            })
            .collect())
    }
}

/// Checks the whole chain.
pub fn verify_audit_chain(session: &mut Session) -> ApiResult<ChainCheck> {
    {
        let report = session.audit_verify()?;
        Ok(ChainCheck {
            entries: report.entries,
            checkpoints: report.checkpoints,
            intact: report.intact,
            problem: report
                .first_bad
                .map(|bad| format!("entry {}: {}", bad.seq, bad.reason)),
            head_file: report.head_file,
            backups: report.backups,
            warnings: report.warnings,
        })
    }
}

fn review_view(review: crm_core::audit::review::AccessReview) -> ReviewView {
    ReviewView {
        period_days: review.period_days,
        users: review
            .users
            .into_iter()
            .map(|user| ReviewRow {
                user: user.user,
                role: user.role,
                rights: user.rights,
                last_unlock: user.last_unlock,
                records_viewed: user.records_viewed,
                records_exported: user.records_exported,
                unused_rights: user.unused_rights,
            })
            .collect(),
        last_signed_off: review.last_signed_off.map(|(by, at)| format!("{by}, {at}")),
    }
}

/// The access review over the last `period_days`.
pub fn access_review(session: &mut Session, period_days: u32) -> ApiResult<ReviewView> {
    Ok(review_view(session.access_review(i64::from(period_days))?))
}

/// Signs the access review off (recorded in the trail).
pub fn sign_off_access_review(session: &mut Session, period_days: u32) -> ApiResult<ReviewView> {
    {
        Ok(review_view(
            session.sign_off_access_review(i64::from(period_days))?,
        ))
    }
}

/// Unusual-activity alerts (`all`: acknowledged ones too).
pub fn audit_alerts(session: &mut Session, all: bool) -> ApiResult<Vec<AlertRow>> {
    Ok(session.alerts(all)?.into_iter().map(alert_row).collect())
}

/// An alert id (a number in TypeScript).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(transparent)]
pub struct AlertId(
    #[cfg_attr(feature = "specta", specta(type = specta_typescript::Number))] pub i64,
);

/// Acknowledges an alert (recorded in the trail).
pub fn acknowledge_alert(session: &mut Session, id: AlertId) -> ApiResult<()> {
    Ok(session.acknowledge_alert(id.0)?)
}
