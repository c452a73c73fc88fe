//! The security checkup for the owner's screen: this vault's configuration and state rated
//! against a baseline (a score out of 100, each check high risk / medium risk / meets
//! standard, with why it matters and the one action that fixes it) and the score's history.
//! crm-core rates, keeps the history, records the run and raises an alert when the score
//! drops; it also decides who may run it (manage users and view audit).

use crm_core::Session;
use crm_core::checkup::{CheckResult, Rating, Risk, ScoreEntry, SecurityReport};
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, count};

/// How much a failing check weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CheckRisk {
    /// Failing exposes customer data or loses it for good.
    High,
    /// Failing weakens a defence or delays finding out.
    Medium,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CheckRating {
    /// A high-risk check fails.
    HighRisk,
    /// A medium-risk check fails.
    MediumRisk,
    /// The check passes.
    MeetsStandard,
}

/// One check as the screen shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CheckRow {
    /// Its stable id (`privileged_key_files`, …).
    pub id: String,
    /// Its class.
    pub risk: CheckRisk,
    /// Its outcome.
    pub rating: CheckRating,
    /// Its weight in the score.
    pub weight: u32,
    /// The standard, in a line.
    pub title: String,
    /// Why it matters.
    pub why: String,
    /// The one action that fixes it.
    pub fix: String,
    /// What fails it (users, roles, files, destinations); empty when it passes.
    pub subjects: Vec<String>,
}

/// One past run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ScorePoint {
    /// When it ran (RFC 3339).
    pub at: String,
    /// Who ran it.
    pub checked_by: String,
    /// Its score.
    pub score: u32,
}

/// A checkup and the runs before it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SecurityCheckup {
    /// 0 to 100.
    pub score: u32,
    /// The previous run's score, if any.
    pub previous_score: Option<u32>,
    /// When it ran (RFC 3339).
    pub checked_at: String,
    /// How many checks fail.
    pub findings: u32,
    /// Every check, failing ones first.
    pub checks: Vec<CheckRow>,
    /// The latest runs, newest first (this one included).
    pub history: Vec<ScorePoint>,
}

fn row(check: CheckResult) -> CheckRow {
    CheckRow {
        id: serde_json::to_value(check.id)
            .ok()
            .and_then(|id| id.as_str().map(str::to_owned))
            .unwrap_or_default(),
        risk: match check.risk {
            Risk::High => CheckRisk::High,
            Risk::Medium => CheckRisk::Medium,
        },
        rating: match check.rating {
            Rating::HighRisk => CheckRating::HighRisk,
            Rating::MediumRisk => CheckRating::MediumRisk,
            Rating::MeetsStandard => CheckRating::MeetsStandard,
        },
        weight: check.weight,
        title: check.title,
        why: check.why,
        fix: check.fix,
        subjects: check.subjects,
    }
}

fn point(entry: ScoreEntry) -> ScorePoint {
    ScorePoint {
        at: entry.at,
        checked_by: entry.checked_by,
        score: entry.score,
    }
}

/// Runs the checkup now (kept in the history, audited, alerting on a drop) with the last
/// runs beside it.
pub fn security_checkup(session: &mut Session) -> ApiResult<SecurityCheckup> {
    let report: SecurityReport = session.security_checkup()?;
    let history = session
        .security_score_history(12)?
        .into_iter()
        .map(point)
        .collect();
    Ok(SecurityCheckup {
        score: report.score,
        previous_score: report.previous_score,
        checked_at: report.checked_at,
        findings: count(report.findings),
        checks: report.checks.into_iter().map(row).collect(),
        history,
    })
}
