//! `crm security …`: the security checkup, its score history and confirming the recovery
//! identity; `crm policy …`: the vault-wide security policy (password strength, auto-lock).

use std::path::PathBuf;

use clap::Subcommand;
use crm_core::checkup::{Rating, ScoreEntry, SecurityReport};
use crm_core::{RecoveryIdentity, Result};
use serde::Serialize;

use crate::Cli;
use crate::credentials::unlock;
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum SecurityCommand {
    /// Rate this vault against the security baseline: a score out of 100 and every check,
    /// each failing one with its risk, why it matters and the one action that fixes it
    /// (Owner and administrators; kept in the score history, alerted when the score drops)
    Check,
    /// Past checkup scores, newest first
    History {
        /// At most this many runs
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show that the recovery identity printed at setup is still at hand (only its public
    /// key is compared with the vault's; the checkup reports an identity never confirmed)
    ConfirmRecovery {
        /// The recovery identity file (AGE-SECRET-KEY-1…)
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the security policy: minimum password strength and auto-lock period
    Show,
    /// Set the minimum strength of every new password (zxcvbn score 0–4; the baseline is 3)
    Password {
        /// The minimum score: 3 resists about 10^10 guesses, 4 more
        #[arg(long, value_name = "N")]
        min_score: u8,
    },
    /// Set how long the desktop app may stay idle before it locks itself
    AutoLock {
        /// Minutes (1 to 240; the baseline is at most 15)
        #[arg(long, value_name = "N")]
        minutes: u32,
    },
}

pub fn security(cli: &Cli, command: &SecurityCommand, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    match command {
        SecurityCommand::Check => {
            let report = session.security_checkup()?;
            out.show(&report, render_report);
        }
        SecurityCommand::History { limit } => {
            let history = session.security_score_history(*limit)?;
            out.show(&history, |history| render_history(history));
        }
        SecurityCommand::ConfirmRecovery { identity } => {
            let identity = RecoveryIdentity::from_file(identity)?;
            session.confirm_recovery_identity(&identity)?;
            out.done("the recovery identity matches this vault; keep it offline");
        }
    }
    Ok(())
}

/// The security policy as `crm policy show` prints it.
#[derive(Debug, Serialize)]
struct Policy {
    password_min_score: u8,
    auto_lock_minutes: u32,
}

pub fn policy(cli: &Cli, command: &PolicyCommand, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    match command {
        PolicyCommand::Show => {}
        PolicyCommand::Password { min_score } => session.set_password_min_score(*min_score)?,
        PolicyCommand::AutoLock { minutes } => session.set_auto_lock_minutes(*minutes)?,
    }
    let policy = Policy {
        password_min_score: session.password_rule()?.min_score,
        auto_lock_minutes: session.auto_lock_minutes()?,
    };
    out.show(&policy, |policy| {
        format!(
            "new passwords need strength {} of 4 ({})\nthe app locks after {} idle minutes\n",
            policy.password_min_score,
            crm_core::password::label(policy.password_min_score),
            policy.auto_lock_minutes
        )
    });
    Ok(())
}

fn render_report(report: &SecurityReport) -> String {
    let mut text = format!("security score: {}/100", report.score);
    if let Some(previous) = report.previous_score {
        text.push_str(&format!(" (previous {previous})"));
    }
    text.push_str(&match report.findings {
        0 => "; every check meets the standard\n".to_owned(),
        1 => "; 1 finding\n".to_owned(),
        findings => format!("; {findings} findings\n"),
    });
    let mut passing = Vec::new();
    for check in &report.checks {
        let label = match check.rating {
            Rating::HighRisk => "HIGH RISK",
            Rating::MediumRisk => "MEDIUM RISK",
            Rating::MeetsStandard => {
                passing.push(check.title.as_str());
                continue;
            }
        };
        text.push_str(&format!("\n{label}: {}\n", check.title));
        for subject in &check.subjects {
            text.push_str(&format!("  - {subject}\n"));
        }
        text.push_str(&format!("  why: {}\n  fix: {}\n", check.why, check.fix));
    }
    if !passing.is_empty() {
        text.push_str("\nmeets standard:\n");
        for title in passing {
            text.push_str(&format!("  - {title}\n"));
        }
    }
    text
}

fn render_history(history: &[ScoreEntry]) -> String {
    if history.is_empty() {
        return "no checkup has run yet: `crm security check`".to_owned();
    }
    let mut text = String::new();
    for entry in history {
        let failing: Vec<String> = entry
            .failing
            .iter()
            .map(|id| {
                serde_json::to_value(id)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect();
        text.push_str(&format!(
            "{}  {:>3}/100  by {}{}\n",
            entry.at.get(..19).unwrap_or(&entry.at),
            entry.score,
            entry.checked_by,
            if failing.is_empty() {
                String::new()
            } else {
                format!("  failing: {}", failing.join(", "))
            }
        ));
    }
    text
}
