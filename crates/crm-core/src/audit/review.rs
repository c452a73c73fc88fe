//! Access reviews: who holds which rights, and which of them they actually use.
//!
//! For each active user: role, rights, last unlock, last activity, records viewed and exported
//! in the period, and rights not exercised for 90 days (candidates for removal under least
//! privilege). The owner signs the review off, which is itself recorded in the trail.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::error::Result;
use crate::store::Connection;

/// Days without use after which a right is reported as unused.
pub const UNUSED_AFTER_DAYS: i64 = 90;

/// A right a role holds and the audit actions that exercise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRight {
    /// Human name of the right (`export contacts`, `manage users`).
    pub name: String,
    /// Actions in the trail that count as using it.
    pub exercised_by: Vec<&'static str>,
}

/// One user's line in the review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserReview {
    /// Login name.
    pub user: String,
    /// Role.
    pub role: String,
    /// Rights the role grants.
    pub rights: Vec<String>,
    /// Last successful unlock.
    pub last_unlock: Option<String>,
    /// Last entry of any kind.
    pub last_activity: Option<String>,
    /// Distinct records viewed in the period (opened one at a time or shown on a list page).
    pub records_viewed: i64,
    /// Rows exported in the period.
    pub records_exported: i64,
    /// Rights not used in the last 90 days.
    pub unused_rights: Vec<String>,
}

/// The whole review.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessReview {
    /// Length of the period in days.
    pub period_days: i64,
    /// When it was built.
    pub generated_at: String,
    /// One line per active user.
    pub users: Vec<UserReview>,
    /// The previous sign-off (who, when), if any.
    pub last_signed_off: Option<(String, String)>,
}

/// Builds the review from the users table and the trail.
pub(crate) fn build(
    conn: &Connection,
    period_days: i64,
    now: DateTime<Utc>,
    rights_of: &dyn Fn(&str) -> Vec<HeldRight>,
) -> Result<AccessReview> {
    let since =
        (now - Duration::days(period_days)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let unused_since = (now - Duration::days(UNUSED_AFTER_DAYS))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut users_statement = conn.prepare(
        "SELECT name, role, last_unlock_at FROM users WHERE removed_at IS NULL ORDER BY name",
    )?;
    let users = users_statement
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut lines = Vec::with_capacity(users.len());
    for (user, role, last_unlock) in users {
        let last_activity: Option<String> = conn.query_row(
            "SELECT max(at) FROM audit_log WHERE user_name = ?1",
            [&user],
            |row| row.get(0),
        )?;
        // Records opened one at a time name their id; list pages name the ids they showed.
        let records_viewed: i64 = conn.query_row(
            "SELECT count(*) FROM (
                 SELECT entity, record_id AS id FROM audit_log
                 WHERE user_name = ?1 AND action = 'view' AND at >= ?2
                   AND json_type(detail, '$.ids') IS NOT 'array'
                 UNION
                 SELECT a.entity, CAST(ids.value AS TEXT) FROM audit_log a, json_each(a.detail, '$.ids') ids
                 WHERE a.user_name = ?1 AND a.action = 'view' AND a.at >= ?2
                   AND json_type(a.detail, '$.ids') = 'array'
             )",
            params![user, since],
            |row| row.get(0),
        )?;
        let records_exported: i64 = conn.query_row(
            "SELECT coalesce(sum(json_extract(detail, '$.rows')), 0)
             FROM audit_log WHERE user_name = ?1 AND action = 'export' AND at >= ?2",
            params![user, since],
            |row| row.get(0),
        )?;
        let held = rights_of(&role);
        let mut unused = Vec::new();
        for right in &held {
            let mut used = false;
            for action in &right.exercised_by {
                let found: Option<i64> = conn
                    .query_row(
                        "SELECT 1 FROM audit_log WHERE user_name = ?1 AND action = ?2 AND at >= ?3 LIMIT 1",
                        params![user, action, unused_since],
                        |row| row.get(0),
                    )
                    .optional()?;
                if found.is_some() {
                    used = true;
                    break;
                }
            }
            if !used {
                unused.push(right.name.clone());
            }
        }
        lines.push(UserReview {
            user,
            role,
            rights: held.into_iter().map(|right| right.name).collect(),
            last_unlock,
            last_activity,
            records_viewed,
            records_exported,
            unused_rights: unused,
        });
    }
    let last_signed_off = conn
        .query_row(
            "SELECT coalesce(user_name, ''), at FROM audit_log
             WHERE action = 'access_review_signed' ORDER BY seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    Ok(AccessReview {
        period_days,
        generated_at: now.to_rfc3339(),
        users: lines,
        last_signed_off,
    })
}
