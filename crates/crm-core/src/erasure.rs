//! Erasing a person's data on request, across the vault and its backups.
//!
//! The records module erases the contact and logs it beside the database
//! ([`crate::records::erase`]); the backup module then copies the sealed log to every backup
//! destination, so a restore from an older backup erases the person again. This use case joins
//! the two, and so sits above both.

use crate::error::Result;
use crate::vault::Session;

impl Session {
    /// Erases a contact's personal data (GDPR art. 17 and similar). Needs the
    /// erase-personal-data right and a reason of at least 5 characters. The erasure is recorded
    /// in the audit trail (without the erased values), in `erasures.log` beside the database,
    /// and in the sealed erasure log of every backup destination.
    pub fn erase_contact(&mut self, contact_id: i64, reason: &str) -> Result<()> {
        self.erase_contact_here(contact_id, reason)?;
        // A destination that cannot take the log is alerted on, never an error: the erasure
        // is done, and the next backup to it writes the log again.
        self.publish_erasure_log();
        Ok(())
    }
}
