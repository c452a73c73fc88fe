//! The security checkup: this vault's configuration and state rated against a baseline.
//!
//! Modelled on Salesforce's Security Health Check: every check is one setting or state with a
//! risk class (high or medium). A check that fails is rated at its class ("high risk",
//! "medium risk"); one that passes "meets standard". Each says why it matters and the one
//! action that fixes it, and names what fails (users, roles, files, destinations).
//!
//! **Score**: `100 × (weight of checks that meet the standard) / (weight of every check)`,
//! rounded down, with a high-risk check weighing [`HIGH_WEIGHT`] and a medium-risk one
//! [`MEDIUM_WEIGHT`]. A vault that meets every standard scores 100; any failing check costs at
//! least a few points, a high-risk one twice what a medium one costs. The checks and their
//! classes are listed in `docs/security.md`.
//!
//! Every run is kept in the vault's score history (`security_scores`: time, who, score and the
//! failing checks, nothing else) and recorded in the audit trail. A score below the previous
//! run's raises a `security_score_dropped` alert (its count is the new score, its baseline the
//! previous one), shown at unlock to readers of the trail like every alert.
//!
//! **Who**: the checkup names users with weak passwords, sign-ins without a key file and
//! leavers not removed; it re-verifies the audit trail. So it needs both the manage-users and
//! the view-audit right (the Owner and Administrator templates hold both; see
//! docs/decisions.md).
//!
//! **Extension point**: the checks of this module look at the vault itself, so they hold in
//! both modes. The office server will add its own (TOTP required for admin roles, the network
//! allowlist, certificate expiry, unattended unseal) as [`CheckId`] variants with their
//! [`CheckId::spec`], rated by the server from its configuration and handed to
//! [`Session::security_checkup_with`]: they are then weighted, scored, kept and alerted on
//! exactly like these.

mod checks;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditAction, AuditEvent, alerts};
use crate::error::{Error, Result};
use crate::policy::Right;
use crate::secret::RecoveryIdentity;
use crate::vault::Session;

/// Weight of a high-risk check in the score.
pub const HIGH_WEIGHT: u32 = 10;
/// Weight of a medium-risk check in the score.
pub const MEDIUM_WEIGHT: u32 = 5;

/// Alert kind raised when a run scores below the one before.
pub const SCORE_DROPPED_ALERT: &str = "security_score_dropped";

/// `vault_meta` key of the last recovery identity confirmation (recipient, when, by whom).
const RECOVERY_CONFIRMED_KEY: &str = "recovery_identity_confirmed";

/// How bad it is when a check fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Failing exposes customer data or loses it for good.
    High,
    /// Failing weakens a defence or delays finding out.
    Medium,
}

impl Risk {
    /// The check's weight in the score.
    pub fn weight(self) -> u32 {
        match self {
            Risk::High => HIGH_WEIGHT,
            Risk::Medium => MEDIUM_WEIGHT,
        }
    }
}

/// A check's outcome, as Security Health Check words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// A high-risk check fails.
    HighRisk,
    /// A medium-risk check fails.
    MediumRisk,
    /// The check passes.
    MeetsStandard,
}

/// Every check, by a stable id (the JSON names are for monitoring: never rename one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckId {
    /// The Owner and administrators sign in with a key file.
    PrivilegedKeyFiles,
    /// Every password reached the baseline score when it was set.
    WeakPasswords,
    /// The owner's minimum password score is at least the baseline.
    PasswordPolicy,
    /// Roles hold export or reveal rights only if their users use them.
    UnusedExportReveal,
    /// Users who no longer sign in are removed.
    InactiveUsers,
    /// A verified backup is no older than the schedule allows.
    BackupCurrent,
    /// A second destination, off the vault's own disk.
    SecondDestination,
    /// A restore drill passed in the last 90 days.
    RestoreDrill,
    /// The audit trail verifies, with its head file, without warnings.
    AuditTrail,
    /// Only the vault's owner account can read or change the vault folder and files.
    FilePermissions,
    /// The app locks itself after at most 15 idle minutes.
    AutoLock,
    /// Someone proved they hold the recovery identity.
    RecoveryConfirmed,
}

/// What a check is: its class, its title, why it matters, the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSpec {
    /// Its class.
    pub risk: Risk,
    /// The standard, in a line.
    pub title: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// The one action that fixes a failure.
    pub fix: &'static str,
}

impl CheckId {
    /// The check's class, title, reason and fix.
    pub fn spec(self) -> CheckSpec {
        checks::spec(self)
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Which check.
    pub id: CheckId,
    /// Its class (what failing costs).
    pub risk: Risk,
    /// Its outcome.
    pub rating: Rating,
    /// Its weight in the score.
    pub weight: u32,
    /// The standard, in a line.
    pub title: String,
    /// Why it matters.
    pub why: String,
    /// The one action that fixes it.
    pub fix: String,
    /// What fails it (users, roles, files, destinations, findings); empty when it passes.
    pub subjects: Vec<String>,
}

impl CheckResult {
    /// Rates `id`: it meets the standard when nothing fails it.
    pub fn rate(id: CheckId, subjects: Vec<String>) -> Self {
        let spec = id.spec();
        Self {
            id,
            risk: spec.risk,
            rating: match (subjects.is_empty(), spec.risk) {
                (true, _) => Rating::MeetsStandard,
                (false, Risk::High) => Rating::HighRisk,
                (false, Risk::Medium) => Rating::MediumRisk,
            },
            weight: spec.risk.weight(),
            title: spec.title.to_owned(),
            why: spec.why.to_owned(),
            fix: spec.fix.to_owned(),
            subjects,
        }
    }

    /// Whether it meets the standard.
    pub fn passes(&self) -> bool {
        self.rating == Rating::MeetsStandard
    }
}

/// A checkup: the score and every check, failing ones first (high risk before medium).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityReport {
    /// 0 to 100 (see the module doc for the weights).
    pub score: u32,
    /// The previous run's score, if any.
    pub previous_score: Option<u32>,
    /// When it ran (RFC 3339).
    pub checked_at: String,
    /// How many checks fail.
    pub findings: usize,
    /// Every check.
    pub checks: Vec<CheckResult>,
}

/// One past run in the score history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreEntry {
    /// When it ran (RFC 3339).
    pub at: String,
    /// Who ran it.
    pub checked_by: String,
    /// Its score.
    pub score: u32,
    /// The checks that failed.
    pub failing: Vec<CheckId>,
}

/// The score of a set of results (see the module doc).
pub fn score(checks: &[CheckResult]) -> u32 {
    let total: u32 = checks.iter().map(|check| check.weight).sum();
    if total == 0 {
        return 100;
    }
    let met: u32 = checks
        .iter()
        .filter(|check| check.passes())
        .map(|check| check.weight)
        .sum();
    met * 100 / total
}

impl Session {
    /// Runs the checkup on this vault: rates every check, keeps the score in the history,
    /// records the run in the audit trail and raises an alert if the score dropped. Needs the
    /// manage-users and view-audit rights.
    pub fn security_checkup(&mut self) -> Result<SecurityReport> {
        self.security_checkup_with(Vec::new())
    }

    /// The checkup with checks rated elsewhere added (the office server's own: see the
    /// module doc). They count in the score, the history and the alert like the vault's.
    pub fn security_checkup_with(
        &mut self,
        deployment: Vec<CheckResult>,
    ) -> Result<SecurityReport> {
        self.require_checkup_rights()?;
        let now = Utc::now();
        let mut results = checks::run(self, now)?;
        results.extend(deployment);
        // Failing first, high before medium; passing checks keep their order.
        results.sort_by_key(|check| match check.rating {
            Rating::HighRisk => 0,
            Rating::MediumRisk => 1,
            Rating::MeetsStandard => 2,
        });
        let score = score(&results);
        let failing: Vec<CheckId> = results
            .iter()
            .filter(|check| !check.passes())
            .map(|check| check.id)
            .collect();
        let failing_json =
            serde_json::to_string(&failing).map_err(|error| Error::Invalid(error.to_string()))?;
        let by = self.user().name.clone();
        let previous = self.write(|tx, audit| {
            let previous: Option<u32> = tx
                .query_row(
                    "SELECT score FROM security_scores ORDER BY id DESC LIMIT 1",
                    [],
                    |row| row.get(0),
                )
                .optional()?;
            tx.execute(
                "INSERT INTO security_scores (at, checked_by, score, failing)
                 VALUES (?1, ?2, ?3, ?4)",
                params![now.to_rfc3339(), by, score, failing_json],
            )?;
            if previous.is_some_and(|previous| score < previous) {
                alerts::raise_measured(
                    tx,
                    "-",
                    SCORE_DROPPED_ALERT,
                    now,
                    i64::from(score),
                    previous.map_or(0.0, f64::from),
                )?;
            }
            audit.record(
                AuditEvent::new(AuditAction::SecurityCheck)
                    .detail("score", score)
                    .detail("previous_score", previous)
                    .detail("failing", &failing),
            );
            Ok(previous)
        })?;
        Ok(SecurityReport {
            score,
            previous_score: previous,
            checked_at: now.to_rfc3339(),
            findings: failing.len(),
            checks: results,
        })
    }

    /// The score history, newest first (at most `limit` runs). Needs the rights the checkup
    /// needs.
    pub fn security_score_history(&self, limit: usize) -> Result<Vec<ScoreEntry>> {
        self.require_checkup_rights()?;
        let mut statement = self.store().conn().prepare(
            "SELECT at, checked_by, score, failing FROM security_scores
             ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, u32>(2)?,
                row.get::<_, String>(3)?,
            ))
        })?;
        let mut entries = Vec::new();
        for row in rows {
            let (at, checked_by, score, failing) = row?;
            let failing = serde_json::from_str(&failing)
                .map_err(|error| Error::damaged_by("security score history", error))?;
            entries.push(ScoreEntry {
                at,
                checked_by,
                score,
                failing,
            });
        }
        Ok(entries)
    }

    /// The checkup names users and re-verifies the trail: it needs both rights.
    /// Whether this session's role may run the checkup (front ends show its screen only then).
    pub fn may_run_security_checkup(&self) -> Result<bool> {
        let role = self.role()?;
        Ok(role.has(Right::ManageUsers) && role.has(Right::ViewAudit))
    }

    fn require_checkup_rights(&self) -> Result<()> {
        if self.may_run_security_checkup()? {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "the security checkup needs the manage-users and view-audit rights (the Owner and Administrator roles hold both)".into(),
            ))
        }
    }

    /// Confirms that someone holds the recovery identity: `identity` must be the one the
    /// vault's recovery slot and backups are sealed to. Kept (which recipient, when, by whom)
    /// so the checkup can tell, and recorded in the trail. Anyone signed in may do it: holding
    /// the identity is the proof.
    pub fn confirm_recovery_identity(&mut self, identity: &RecoveryIdentity) -> Result<()> {
        let recipient = self.recovery_recipient().to_owned();
        if identity.recipient() != recipient {
            return Err(Error::Invalid(
                "this is not this vault's recovery identity (its public key differs from the one the recovery slot is sealed to)".into(),
            ));
        }
        let confirmation = serde_json::json!({
            "recipient": recipient,
            "at": Utc::now().to_rfc3339(),
            "by": self.user().name,
        })
        .to_string();
        self.write(|tx, audit| {
            tx.execute(
                "INSERT INTO vault_meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![RECOVERY_CONFIRMED_KEY, confirmation],
            )?;
            audit.record(
                AuditEvent::new(AuditAction::RecoveryConfirmed).detail("recipient", &recipient),
            );
            Ok(())
        })
    }

    /// When the current recovery identity was last confirmed, if ever (a confirmation of an
    /// identity the vault no longer uses does not count).
    pub(crate) fn recovery_confirmed_at(&self) -> Result<Option<DateTime<Utc>>> {
        let stored: Option<String> = self
            .store()
            .conn()
            .query_row(
                "SELECT value FROM vault_meta WHERE key = ?1",
                [RECOVERY_CONFIRMED_KEY],
                |row| row.get(0),
            )
            .optional()?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let value: serde_json::Value = serde_json::from_str(&stored)
            .map_err(|error| Error::damaged_by(RECOVERY_CONFIRMED_KEY, error))?;
        if value["recipient"].as_str() != Some(self.recovery_recipient()) {
            return Ok(None);
        }
        Ok(value["at"]
            .as_str()
            .and_then(crate::backup::job::parse_time))
    }
}

#[cfg(test)]
mod tests;
