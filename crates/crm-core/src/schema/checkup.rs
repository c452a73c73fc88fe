//! The security checkup's tables: its score history, and each user's password score.

/// Tables of the checkup: the score history; and each user's password score at set time
/// (`password::record_score`), the only trace of a password the checkup reads.
pub(crate) const MIGRATION: &str = "
CREATE TABLE security_scores (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    checked_by TEXT NOT NULL,
    score      INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
    failing    TEXT NOT NULL -- JSON array of the failing checks' ids
) STRICT;
ALTER TABLE users ADD COLUMN password_score INTEGER;
ALTER TABLE users ADD COLUMN password_scored_at TEXT;
";
