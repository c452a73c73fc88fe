//! Erasing a person's data on request (GDPR art. 17 and similar).
//!
//! The contact's personal fields are cleared, its notes deleted and the notes of its activities
//! cleared; the record itself stays (deals and history keep their shape) under the name
//! "Erased person". Each erasure is recorded in the audit trail (without the erased values) and
//! in `erasures.log` beside the database — contact ids and times only — so that a restore from
//! an older backup can apply it again. The log is also copied, sealed, into every backup
//! destination (`crate::backup::erasure_log`), since the file beside the database is lost with
//! the vault; a restore re-applies the newer erasures from there. That publishing step belongs
//! to the backup module, which sits above this one, so the public `Session::erase_contact`
//! that joins the two is in `crate::erasure`.

use std::io::Write;
use std::path::Path;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::fields::Entity;
use super::search;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::Right;
use crate::vault::Session;

/// The file beside the database that lists erasures.
pub const ERASURE_LOG: &str = "erasures.log";

/// One erasure, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    /// The contact.
    pub contact_id: i64,
    /// When (RFC 3339).
    pub at: String,
}

const PERSONAL: &str =
    "first_name = NULL, last_name = 'Erased person', job_title = NULL, emails = NULL,
     phones = NULL, address = NULL, birthday = NULL, notes = NULL, consent = NULL,
     bank_account = NULL, email_key = NULL, do_not_contact = 1";

fn erase_rows(tx: &rusqlite::Transaction<'_>, contact_id: i64, by: i64) -> Result<bool> {
    let changed = tx.execute(
        &format!("UPDATE contacts SET {PERSONAL}, updated_at = ?1, updated_by = ?2 WHERE id = ?3"),
        rusqlite::params![Utc::now().to_rfc3339(), by, contact_id],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    tx.execute(
        "DELETE FROM custom_values WHERE entity = 'contact' AND record_id = ?1",
        [contact_id],
    )?;
    // The notes go whole, with their own custom values and tags.
    let notes: Vec<i64> = tx
        .prepare("SELECT id FROM notes WHERE contact_id = ?1")?
        .query_map([contact_id], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for note in notes {
        super::delete_row(tx, Entity::Note, note)?;
    }
    super::remove_unused_tags(tx)?;
    tx.execute(
        "UPDATE activities SET notes = NULL WHERE contact_id = ?1",
        [contact_id],
    )?;
    search::reindex(tx, Entity::Contact, contact_id)?;
    Ok(true)
}

pub(crate) fn append_log(dir: &Path, erasure: &Erasure) -> Result<()> {
    let path = dir.join(ERASURE_LOG);
    let mut line =
        serde_json::to_string(erasure).map_err(|error| Error::Invalid(error.to_string()))?;
    line.push('\n');
    let mut file = crate::fsutil::append_private(&path)?;
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(Error::io(format!("writing {}", path.display())))
}

/// Reads an erasure log (missing means none).
pub fn read_log(dir: &Path) -> Result<Vec<Erasure>> {
    let path = dir.join(ERASURE_LOG);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(Error::io(format!("reading {}", path.display()))(error)),
    }
}

impl Session {
    /// Erases a contact's personal data in this vault and logs it beside the database (the
    /// public `erase_contact`, in `crate::erasure`, also publishes the log to the backups).
    /// Needs the erase-personal-data right and a reason.
    pub(crate) fn erase_contact_here(&mut self, contact_id: i64, reason: &str) -> Result<()> {
        self.require_right(Right::ErasePersonalData)?;
        if reason.trim().chars().count() < 5 {
            return Err(Error::Invalid(
                "give a reason for the erasure (at least 5 characters)".into(),
            ));
        }
        let me = self.user().id;
        let erased = self.write(|tx, audit| {
            if !erase_rows(tx, contact_id, me)? {
                return Err(Error::NotFound(format!("contact {contact_id}")));
            }
            audit.record(
                AuditEvent::new(AuditAction::Erase)
                    .target("contact", contact_id)
                    .detail("reason", reason.trim()),
            );
            Ok(Erasure {
                contact_id,
                at: Utc::now().to_rfc3339(),
            })
        })?;
        append_log(&self.paths().dir, &erased)
    }

    /// Applies erasures logged in another vault directory (the one a backup was restored
    /// from) to this vault; returns how many contacts were erased again. Needs the restore right.
    pub fn reapply_erasures(&mut self, from_dir: &Path) -> Result<usize> {
        self.require_right(Right::Restore)?;
        let log = read_log(from_dir)?;
        let own_dir = self.paths().dir.clone();
        let applied = self.erase_again(&log)?;
        if own_dir != from_dir {
            for erasure in &applied {
                append_log(&own_dir, erasure)?;
            }
        }
        Ok(applied.len())
    }

    /// Erases the logged contacts again (after a restore); returns those erased again.
    pub(crate) fn erase_again(&mut self, log: &[Erasure]) -> Result<Vec<Erasure>> {
        let me = self.user().id;
        let mut applied = Vec::new();
        for erasure in log {
            let done = self.write(|tx, audit| {
                let done = erase_rows(tx, erasure.contact_id, me)?;
                if done {
                    audit.record(
                        AuditEvent::new(AuditAction::Erase)
                            .target("contact", erasure.contact_id)
                            .detail("reapplied_from", &erasure.at),
                    );
                }
                Ok(done)
            })?;
            if done {
                applied.push(erasure.clone());
            }
        }
        Ok(applied)
    }
}
