//! Unusual-activity alerts.
//!
//! For each user and each watched action, the amount in any 60 minutes (a sliding window, so a
//! burst from 10:50 to 11:10 is not split in two) is compared with that user's own baseline:
//! the median of their non-empty clock hours over the previous 14 days. An alert fires when
//! the 60 minutes are above both an absolute floor and a multiple of the baseline (a sales rep
//! viewing 400 contacts in an hour against a usual 20). Views are counted in
//! records, not entries: one list page that showed 50 Confidential contacts counts 50.
//! Searches, exports and reveals count events. Failed unlocks alert on any burst of five in an
//! hour, whoever was targeted. Alerts are stored once per user, action and the hour the busiest
//! 60 minutes ended in, shown at
//! unlock to users holding the view-audit right (`Session::alerts_to_show`) and listed by
//! `crm alerts`.

use chrono::{DateTime, Duration, Utc};
use rusqlite::params;
use serde::Serialize;

use super::RECORDS_NAMED_SQL;
use crate::error::Result;
use crate::store::Connection;

/// A watched action with its thresholds.
struct Watch {
    action: &'static str,
    /// What one entry adds to the hour, as SQL over `audit_log` (`1`: the entry itself).
    measure: &'static str,
    floor: i64,
    multiple: f64,
}

/// One entry counts one.
const EVENTS: &str = "1";

const WATCHED: &[Watch] = &[
    Watch {
        action: "view",
        measure: RECORDS_NAMED_SQL,
        floor: 100,
        multiple: 5.0,
    },
    Watch {
        action: "search",
        measure: EVENTS,
        floor: 300,
        multiple: 5.0,
    },
    Watch {
        action: "export",
        measure: EVENTS,
        floor: 3,
        multiple: 3.0,
    },
    Watch {
        action: "reveal",
        measure: EVENTS,
        floor: 10,
        multiple: 5.0,
    },
    Watch {
        action: "unlock_failed",
        measure: EVENTS,
        floor: 5,
        multiple: 0.0,
    },
];

const BASELINE_DAYS: i64 = 14;

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Id, for acknowledging.
    pub id: i64,
    /// When it was raised.
    pub at: String,
    /// Whose activity.
    pub user: String,
    /// Which action spiked.
    pub kind: String,
    /// The hour (UTC, `YYYY-MM-DDTHH`) in which the busiest 60 minutes ended.
    pub hour: String,
    /// Events in those 60 minutes (records, for views).
    pub count: i64,
    /// The user's usual hourly count.
    pub baseline: f64,
    /// Who acknowledged it, if anyone.
    pub acknowledged_by: Option<String>,
}

fn hour_of(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H").to_string()
}

/// Looks at the last 24 hours and stores any new alerts (an open alert of the same user, kind
/// and hour gets the hour's latest count); returns how many were new.
pub(crate) fn scan(conn: &Connection, now: DateTime<Utc>) -> Result<usize> {
    let window_start = hour_of(now - Duration::hours(24));
    let history_start = hour_of(now - Duration::days(BASELINE_DAYS + 1));
    let mut raised = 0;
    for watch in WATCHED {
        // For every entry, the amount in the 60 minutes up to it; per user and hour, the most.
        let mut statement = conn.prepare_cached(&format!(
            "SELECT user, substr(ended, 1, 13) AS hour, max(amount) AS most FROM (
                 SELECT coalesce(user_name, '') AS user, at AS ended,
                        sum({}) OVER (
                            PARTITION BY coalesce(user_name, '')
                            ORDER BY unixepoch(at, 'subsec')
                            RANGE BETWEEN 3599.999 PRECEDING AND CURRENT ROW
                        ) AS amount
                 FROM audit_log WHERE action = ?1 AND at >= ?2)
             GROUP BY user, hour HAVING most >= ?3",
            watch.measure
        ))?;
        let candidates = statement
            .query_map(params![watch.action, window_start, watch.floor], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for (user, hour, count) in candidates {
            let baseline = baseline(conn, watch, &user, &history_start, &hour)?;
            if count as f64 > watch.multiple * baseline {
                let new = conn.execute(
                    "INSERT OR IGNORE INTO audit_alerts (at, user_name, kind, hour, count, baseline)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![now.to_rfc3339(), user, watch.action, hour, count, baseline],
                )?;
                if new == 0 {
                    // Alerted earlier in the hour: keep an open alert's count up to date, so
                    // whoever reads it sees how far the spike went.
                    conn.execute(
                        "UPDATE audit_alerts SET count = ?4
                         WHERE user_name = ?1 AND kind = ?2 AND hour = ?3 AND count < ?4
                           AND acknowledged_at IS NULL",
                        params![user, watch.action, hour, count],
                    )?;
                }
                raised += new;
            }
        }
    }
    Ok(raised)
}

/// Median of the user's non-empty hourly amounts before `hour`, within the baseline window.
fn baseline(
    conn: &Connection,
    watch: &Watch,
    user: &str,
    since_hour: &str,
    hour: &str,
) -> Result<f64> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT sum({}) FROM audit_log
         WHERE action = ?1 AND coalesce(user_name, '') = ?2 AND at >= ?3 AND at < ?4
         GROUP BY substr(at, 1, 13)",
        watch.measure
    ))?;
    let mut counts = statement
        .query_map(params![watch.action, user, since_hour, hour], |row| {
            row.get::<_, i64>(0)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if counts.is_empty() {
        return Ok(0.0);
    }
    counts.sort_unstable();
    let middle = counts.len() / 2;
    Ok(if counts.len() % 2 == 0 {
        (counts[middle - 1] + counts[middle]) as f64 / 2.0
    } else {
        counts[middle] as f64
    })
}

/// Raises an alert that is not about a rate (e.g. the trail not matching its head file).
pub(crate) fn raise(conn: &Connection, user: &str, kind: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO audit_alerts (at, user_name, kind, hour, count, baseline)
         VALUES (?1, ?2, ?3, ?4, 1, 0)",
        params![now.to_rfc3339(), user, kind, hour_of(now)],
    )?;
    Ok(())
}

/// Stored alerts, newest first; only unacknowledged ones unless `all`.
pub(crate) fn list(conn: &Connection, all: bool) -> Result<Vec<Alert>> {
    let mut statement = conn.prepare(
        "SELECT id, at, user_name, kind, hour, count, baseline, acknowledged_by
         FROM audit_alerts WHERE ?1 OR acknowledged_at IS NULL ORDER BY id DESC",
    )?;
    let alerts = statement
        .query_map([all], |row| {
            Ok(Alert {
                id: row.get(0)?,
                at: row.get(1)?,
                user: row.get(2)?,
                kind: row.get(3)?,
                hour: row.get(4)?,
                count: row.get(5)?,
                baseline: row.get(6)?,
                acknowledged_by: row.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(alerts)
}

/// Marks an alert acknowledged; false if no such unacknowledged alert.
pub(crate) fn acknowledge(conn: &Connection, id: i64, by: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE audit_alerts SET acknowledged_by = ?1, acknowledged_at = ?2
         WHERE id = ?3 AND acknowledged_at IS NULL",
        params![by, Utc::now().to_rfc3339(), id],
    )? == 1)
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "the alert scan is checked on a bare in-memory trail"
)]
mod tests {
    use super::*;
    use crate::audit::{Actor, AuditAction, AuditEvent, AuditKey, append};
    use crate::schema::audit::MIGRATION;
    use chrono::Timelike;

    fn trail() -> Result<(Connection, AuditKey)> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch("CREATE TABLE vault_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")?;
        conn.execute_batch(MIGRATION)?;
        let key = AuditKey::load_or_create(&conn)?;
        Ok((conn, key))
    }

    /// Two weeks of a rep's normal working hours: about 20 views an hour, 9:00 to 17:00.
    fn normal_traffic(
        conn: &Connection,
        key: &AuditKey,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let actor = Actor {
            user: Some(user),
            role: Some("Sales Representative"),
            workstation: "pc1",
        };
        for day in 1..=14 {
            let start = (now - Duration::days(day))
                .date_naive()
                .and_hms_opt(9, 0, 0)
                .map(|t| t.and_utc());
            let Some(start) = start else { continue };
            for hour in 0..8 {
                for view in 0..(15 + (day + hour) % 10) {
                    let at = start + Duration::hours(hour) + Duration::seconds(view * 97);
                    append(
                        conn,
                        key,
                        actor,
                        at,
                        &AuditEvent::new(AuditAction::View).target("contact", view),
                    )?;
                }
            }
        }
        Ok(())
    }

    #[test]
    fn a_burst_of_views_far_above_the_users_baseline_raises_one_alert() -> Result<()> {
        let (conn, key) = trail()?;
        let now = Utc::now();
        normal_traffic(&conn, &key, "sam", now)?;
        let actor = Actor {
            user: Some("sam"),
            role: Some("Sales Representative"),
            workstation: "pc1",
        };
        let burst_start = now - Duration::minutes(50);
        for view in 0..400 {
            let at = burst_start + Duration::seconds(view * 6);
            append(
                &conn,
                &key,
                actor,
                at.min(now),
                &AuditEvent::new(AuditAction::View).target("contact", view),
            )?;
        }
        assert!(scan(&conn, now)? >= 1);
        let alerts = list(&conn, false)?;
        assert!(
            alerts
                .iter()
                .any(|alert| alert.user == "sam" && alert.kind == "view" && alert.count >= 200)
        );
        assert_eq!(scan(&conn, now)?, 0, "the same hour is not alerted twice");
        Ok(())
    }

    #[test]
    fn normal_traffic_raises_no_alert() -> Result<()> {
        let (conn, key) = trail()?;
        let now = Utc::now();
        normal_traffic(&conn, &key, "sam", now)?;
        normal_traffic(&conn, &key, "rita", now)?;
        // Today's hour looks like any other.
        let actor = Actor {
            user: Some("sam"),
            role: Some("Sales Representative"),
            workstation: "pc1",
        };
        for view in 0..22 {
            append(
                &conn,
                &key,
                actor,
                now - Duration::minutes(view),
                &AuditEvent::new(AuditAction::View),
            )?;
        }
        assert_eq!(scan(&conn, now)?, 0);
        assert!(list(&conn, true)?.is_empty());
        Ok(())
    }

    fn rep(user: &str) -> Actor<'_> {
        Actor {
            user: Some(user),
            role: Some("Sales Representative"),
            workstation: "pc1",
        }
    }

    /// One list page as `Session::list` records it: one entry naming the Confidential records
    /// it showed.
    fn list_page(
        conn: &Connection,
        key: &AuditKey,
        user: &str,
        at: DateTime<Utc>,
        first_id: i64,
        records: i64,
    ) -> Result<()> {
        let ids: Vec<i64> = (first_id..first_id + records).collect();
        append(
            conn,
            key,
            rep(user),
            at,
            &AuditEvent::new(AuditAction::View)
                .target("contact", "list")
                .detail("ids", &ids),
        )?;
        Ok(())
    }

    /// Two weeks of a rep's working hours spent in lists: each hour one page of 15 to 24
    /// Confidential contacts and one contact opened (about 20 records an hour).
    fn normal_list_traffic(
        conn: &Connection,
        key: &AuditKey,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        for day in 1..=14 {
            let Some(start) = (now - Duration::days(day))
                .date_naive()
                .and_hms_opt(9, 0, 0)
                .map(|t| t.and_utc())
            else {
                continue;
            };
            for hour in 0..8 {
                let at = start + Duration::hours(hour);
                list_page(conn, key, user, at, 1, 14 + (day + hour) % 10)?;
                append(
                    conn,
                    key,
                    rep(user),
                    at + Duration::minutes(20),
                    &AuditEvent::new(AuditAction::View).target("contact", 7),
                )?;
            }
        }
        Ok(())
    }

    fn this_hour() -> DateTime<Utc> {
        Utc::now()
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or_else(Utc::now)
    }

    /// The example: a rep who usually sees about 20 contacts an hour pages through
    /// 400 in one hour, 50 to a page. Eight entries, 400 records: the alert counts records.
    #[test]
    fn a_rep_paging_through_400_contacts_in_an_hour_raises_a_view_alert() -> Result<()> {
        let (conn, key) = trail()?;
        let hour_start = this_hour();
        let now = hour_start + Duration::minutes(30);
        normal_list_traffic(&conn, &key, "sam", now)?;
        for page in 0..8 {
            list_page(
                &conn,
                &key,
                "sam",
                hour_start + Duration::minutes(page * 3),
                1 + page * 50,
                50,
            )?;
        }
        assert_eq!(scan(&conn, now)?, 1);
        let alerts = list(&conn, false)?;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(
            (alerts[0].user.as_str(), alerts[0].kind.as_str()),
            ("sam", "view")
        );
        assert_eq!(alerts[0].count, 400);
        // The rep goes on paging: no second alert, but the open one shows how far it went.
        list_page(
            &conn,
            &key,
            "sam",
            hour_start + Duration::minutes(25),
            401,
            50,
        )?;
        assert_eq!(scan(&conn, now)?, 0);
        assert_eq!(list(&conn, false)?[0].count, 450);
        assert!(
            (15.0..=25.0).contains(&alerts[0].baseline),
            "the baseline is about 20 records an hour: {}",
            alerts[0].baseline
        );
        Ok(())
    }

    #[test]
    fn ordinary_paging_through_lists_raises_no_alert() -> Result<()> {
        let (conn, key) = trail()?;
        let hour_start = this_hour();
        let now = hour_start + Duration::minutes(30);
        normal_list_traffic(&conn, &key, "sam", now)?;
        normal_list_traffic(&conn, &key, "rita", now)?;
        // This hour: two pages, a little busier than usual but nothing like a spike.
        list_page(&conn, &key, "sam", hour_start, 1, 25)?;
        list_page(
            &conn,
            &key,
            "sam",
            hour_start + Duration::minutes(5),
            26,
            25,
        )?;
        assert_eq!(scan(&conn, now)?, 0);
        assert!(list(&conn, true)?.is_empty());
        Ok(())
    }

    #[test]
    fn a_burst_of_failed_unlocks_raises_an_alert() -> Result<()> {
        let (conn, key) = trail()?;
        // All six inside one clock hour, whatever the time the test runs.
        let hour_start = Utc::now()
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .unwrap_or_else(Utc::now);
        let now = hour_start + Duration::minutes(10);
        let actor = Actor {
            user: Some("olivia"),
            role: None,
            workstation: "front-desk",
        };
        for attempt in 0..6 {
            append(
                &conn,
                &key,
                actor,
                hour_start + Duration::minutes(attempt),
                &AuditEvent::new(AuditAction::UnlockFailed),
            )?;
        }
        assert_eq!(scan(&conn, now)?, 1);
        let alerts = list(&conn, false)?;
        assert_eq!(alerts[0].kind, "unlock_failed");
        assert!(acknowledge(&conn, alerts[0].id, "olivia")?);
        assert!(list(&conn, false)?.is_empty());
        Ok(())
    }

    /// A burst across the turn of the hour is one burst: three failures at 10:57, 10:58 and
    /// 10:59 and three at 11:00 to 11:02 are six in an hour, though no clock hour holds five.
    #[test]
    fn a_burst_across_the_turn_of_the_hour_raises_an_alert() -> Result<()> {
        let (conn, key) = trail()?;
        let turn = this_hour();
        let actor = Actor {
            user: Some("olivia"),
            role: None,
            workstation: "front-desk",
        };
        for minute in -3..3 {
            append(
                &conn,
                &key,
                actor,
                turn + Duration::minutes(minute),
                &AuditEvent::new(AuditAction::UnlockFailed),
            )?;
        }
        assert_eq!(scan(&conn, turn + Duration::minutes(5))?, 1);
        let alerts = list(&conn, false)?;
        assert_eq!(
            (alerts[0].kind.as_str(), alerts[0].count),
            ("unlock_failed", 6)
        );
        Ok(())
    }
}
