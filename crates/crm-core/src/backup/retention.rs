//! Which verified backups to keep: restic-style keep-daily / keep-weekly / keep-monthly.
//!
//! Walking from the newest backup back, the newest backup of each of the last N days (weeks,
//! months) that have a backup is kept. Days, ISO weeks and months are those of the local
//! calendar (a backup at 00:30 local time belongs to that local day, whatever UTC says). The
//! newest verified backup is always kept, and nothing newer than it is ever a candidate:
//! pruning happens only behind a newer verified backup.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Local, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// How many daily, weekly and monthly backups to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Newest backup of each of the last N days that have one.
    pub keep_daily: u32,
    /// Newest backup of each of the last N ISO weeks that have one.
    pub keep_weekly: u32,
    /// Newest backup of each of the last N months that have one.
    pub keep_monthly: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_daily: 7,
            keep_weekly: 4,
            keep_monthly: 12,
        }
    }
}

/// Picks a backup's day, ISO week or month out of its [`Buckets`].
type Bucket = fn(&Buckets) -> (i32, u32);

/// The local day, ISO week and month of each backup time.
struct Buckets {
    day: (i32, u32),
    week: (i32, u32),
    month: (i32, u32),
}

impl Retention {
    /// Indexes (into `verified`, any order) of the backups to keep, by the local calendar of
    /// this computer. `verified` holds the creation times of verified backups only.
    pub fn keep(&self, verified: &[DateTime<Utc>]) -> BTreeSet<usize> {
        self.keep_in(verified, &Local)
    }

    /// [`Retention::keep`] by the calendar of `zone`.
    pub fn keep_in<Tz: TimeZone>(&self, verified: &[DateTime<Utc>], zone: &Tz) -> BTreeSet<usize> {
        let buckets: Vec<Buckets> = verified
            .iter()
            .map(|at| {
                let local = at.with_timezone(zone);
                let week = local.iso_week();
                Buckets {
                    day: (local.year(), local.ordinal()),
                    week: (week.year(), week.week()),
                    month: (local.year(), local.month()),
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..verified.len()).collect();
        order.sort_by(|a, b| verified[*b].cmp(&verified[*a]));
        let mut keep = BTreeSet::new();
        if let Some(newest) = order.first() {
            keep.insert(*newest);
        }
        let rules: [(u32, Bucket); 3] = [
            (self.keep_daily, |buckets| buckets.day),
            (self.keep_weekly, |buckets| buckets.week),
            (self.keep_monthly, |buckets| buckets.month),
        ];
        for (count, bucket) in rules {
            let mut last = None;
            let mut kept = 0;
            for index in &order {
                if kept >= count {
                    break;
                }
                let this = bucket(&buckets[*index]);
                if last != Some(this) {
                    keep.insert(*index);
                    last = Some(this);
                    kept += 1;
                }
            }
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn hourly_for_days(days: i64) -> Vec<DateTime<Utc>> {
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        (0..days * 24)
            .map(|hour| start + Duration::hours(hour))
            .collect()
    }

    #[test]
    fn keeps_the_newest_of_each_day_week_and_month() {
        let times = hourly_for_days(90);
        let rule = Retention {
            keep_daily: 7,
            keep_weekly: 4,
            keep_monthly: 3,
        };
        let keep = rule.keep_in(&times, &Utc);
        // 7 daily; weeks and months overlap with them partly: at most 7 + 4 + 3.
        assert!(keep.len() >= 7 && keep.len() <= 14, "{}", keep.len());
        assert!(keep.contains(&(times.len() - 1)), "the newest is kept");
        // The newest of each of the last 7 days is kept (23:00 of each day).
        for day in 1..=7 {
            assert!(keep.contains(&(times.len() - 1 - (day - 1) * 24)));
        }
    }

    #[test]
    fn keeping_nothing_still_keeps_the_newest_verified_backup() {
        let times = hourly_for_days(3);
        let keep = Retention {
            keep_daily: 0,
            keep_weekly: 0,
            keep_monthly: 0,
        }
        .keep_in(&times, &Utc);
        assert_eq!(keep.into_iter().collect::<Vec<_>>(), vec![times.len() - 1]);
    }

    #[test]
    fn days_are_counted_by_the_local_calendar() {
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|at| at.with_timezone(&Utc))
                .unwrap_or_default()
        };
        // 22:30 and 23:30 UTC on 1 March are 00:30 and 01:30 on 2 March at +02:00.
        let times = vec![
            at("2026-03-01T12:00:00Z"),
            at("2026-03-01T22:30:00Z"),
            at("2026-03-01T23:30:00Z"),
        ];
        let one_a_day = Retention {
            keep_daily: 2,
            keep_weekly: 0,
            keep_monthly: 0,
        };
        // By UTC all three share a day: only the newest is kept.
        assert_eq!(one_a_day.keep_in(&times, &Utc).len(), 1);
        // At +02:00 the first is 1 March, the others 2 March: the newest of each is kept.
        let plus_two = chrono::FixedOffset::east_opt(7200).expect("offset");
        assert_eq!(
            one_a_day
                .keep_in(&times, &plus_two)
                .into_iter()
                .collect::<Vec<_>>(),
            vec![0, 2]
        );
    }
}
