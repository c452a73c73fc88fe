//! Printing answers and errors, as text for people or JSON for scripts.
//!
//! Standard output carries only the answer (one JSON document with `--json`); progress and
//! errors go to standard error — as text lines, or with `--json` as one JSON object per line
//! (`{"progress": {"step", "done", "total"}, "message": "[3/10] …"}`), so a script can show
//! progress without parsing text.
//!
//! The renderers more than one command prints (backup reports, alerts) live here too, so no
//! command file imports another.

use crm_core::audit::alerts::Alert;
use crm_core::backup::{BackupInfo, BackupState, RunReport};
use crm_core::{Error, Result};
use serde::Serialize;

/// Where and how results are printed.
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints `value` as JSON, or the text `render` makes of it.
    pub fn show<T: Serialize>(&self, value: &T, render: impl FnOnce(&T) -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(text) => println!("{text}"),
                Err(error) => eprintln!("error: could not encode the answer: {error}"),
            }
        } else {
            let text = render(value);
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }

    /// A one-line confirmation (`{"ok": true, "message": …}` in JSON).
    pub fn done(&self, message: &str) {
        self.show(
            &serde_json::json!({ "ok": true, "message": message }),
            |_| message.to_owned(),
        );
    }

    /// Progress of long operations, on stderr so it never mixes with results: a text line,
    /// or a JSON line in JSON mode.
    pub fn progress(&self, progress: &crm_core::Progress) {
        let message = format!("[{}/{}] {}", progress.done, progress.total, progress.step);
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({ "progress": progress, "message": message })
            );
        } else {
            eprintln!("{message}");
        }
    }

    /// An error: `error: …` on stderr, or `{"error": {"code", "message"}}` in JSON mode.
    pub fn error(&self, error: &crm_core::Error) {
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({ "error": { "code": error.code(), "message": error.to_string() } })
            );
        } else {
            eprintln!("error: {error}");
        }
    }
}

/// A scheduled run, for people.
pub fn render_report(report: &RunReport) -> String {
    if report.is_empty() {
        return "nothing due".into();
    }
    let mut text = String::new();
    if !report.made.is_empty() {
        text.push_str(&render_backups(&report.made));
    }
    if !report.pruned.is_empty() {
        text.push_str(&format!("pruned {}\n", report.pruned.join(", ")));
    }
    if let Some(drill) = &report.drill
        && drill.problems.is_empty()
    {
        text.push_str(&format!(
            "restore drill of {}: restored and identical ({} tables compared)\n",
            drill.backup_id, drill.tables_compared
        ));
    }
    for failure in &report.failures {
        text.push_str(&format!("FAILED: {}\n", failure.problem));
    }
    text
}

/// Backups, one per line, and how old the newest verified one is.
pub fn render_backups(list: &[BackupInfo]) -> String {
    if list.is_empty() {
        return "no backups".into();
    }
    let mut text = String::new();
    for info in list {
        let state = match info.state {
            BackupState::Verified => "verified",
            BackupState::Failed => "FAILED",
            BackupState::Unverified => "unverified",
        };
        text.push_str(&format!(
            "{}  {}  {:>10} bytes  {}  {}\n",
            info.id,
            info.created_at,
            info.size_bytes,
            state,
            info.path.display()
        ));
        for problem in &info.problems {
            text.push_str(&format!("    {problem}\n"));
        }
    }
    let newest = list
        .iter()
        .filter(|info| info.state == BackupState::Verified)
        .filter_map(|info| chrono::DateTime::parse_from_rfc3339(&info.created_at).ok())
        .max();
    match newest {
        Some(at) => text.push_str(&format!(
            "newest verified: {} h old\n",
            (chrono::Utc::now() - at.to_utc()).num_hours()
        )),
        None => text.push_str("no verified backup\n"),
    }
    text
}

/// A run with failures ends the command with an error naming each of them.
pub fn fail_on(report: &RunReport) -> Result<()> {
    if report.succeeded() {
        Ok(())
    } else {
        Err(Error::Backup(report.failure_text()))
    }
}

/// One line per alert, for `crm alerts` and `crm status`. Alerts about the vault rather than a
/// person's activity (user `-`: the head file, backups) have no count or baseline to show.
pub fn render_alerts(alerts: &[Alert]) -> String {
    let mut text = String::new();
    for alert in alerts {
        let what = if alert.user == "-" {
            alert.kind.clone()
        } else {
            format!(
                "{}: {} {} events in the hour {}:00 (usually {:.0})",
                alert.user, alert.count, alert.kind, alert.hour, alert.baseline
            )
        };
        text.push_str(&format!(
            "#{} {} {what}{}\n",
            alert.id,
            alert.at.get(..19).unwrap_or(&alert.at),
            alert
                .acknowledged_by
                .as_ref()
                .map(|by| format!(" — acknowledged by {by}"))
                .unwrap_or_default()
        ));
    }
    text
}

/// The line every unlocking command prints (on stderr) while alerts wait for someone who
/// reads the trail: how many, and what they are about.
pub fn alert_notice(alerts: &[Alert]) -> Option<String> {
    if alerts.is_empty() {
        return None;
    }
    let mut kinds: Vec<String> = Vec::new();
    for alert in alerts {
        let kind = if alert.user == "-" {
            alert.kind.clone()
        } else {
            format!("{} by {}", alert.kind, alert.user)
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Some(format!(
        "alert: {} unacknowledged unusual-activity alert(s) ({}): see `crm alerts`",
        alerts.len(),
        kinds.join(", ")
    ))
}
