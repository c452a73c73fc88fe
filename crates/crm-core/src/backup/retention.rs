//! Which verified backups to keep: restic-style keep-daily / keep-weekly / keep-monthly.
//!
//! Walking from the newest backup back, the newest backup of each of the last N days (weeks,
//! months) that have a backup is kept. The newest verified backup is always kept, and nothing
//! newer than it is ever a candidate: pruning happens only behind a newer verified backup.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};

/// Maps a backup time to its day, ISO week or month.
type Bucket = fn(&DateTime<Utc>) -> (i32, u32);

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

impl Retention {
    /// Indexes (into `verified`, any order) of the backups to keep. `verified` holds the
    /// creation times of verified backups only.
    pub fn keep(&self, verified: &[DateTime<Utc>]) -> BTreeSet<usize> {
        let mut order: Vec<usize> = (0..verified.len()).collect();
        order.sort_by(|a, b| verified[*b].cmp(&verified[*a]));
        let mut keep = BTreeSet::new();
        if let Some(newest) = order.first() {
            keep.insert(*newest);
        }
        let rules: [(u32, Bucket); 3] = [
            (self.keep_daily, |at| (at.year(), at.ordinal())),
            (self.keep_weekly, |at| {
                let week = at.iso_week();
                (week.year(), week.week())
            }),
            (self.keep_monthly, |at| (at.year(), at.month())),
        ];
        for (count, bucket) in rules {
            let mut last = None;
            let mut kept = 0;
            for index in &order {
                if kept >= count {
                    break;
                }
                let this = bucket(&verified[*index]);
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
        let keep = rule.keep(&times);
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
        .keep(&times);
        assert_eq!(keep.into_iter().collect::<Vec<_>>(), vec![times.len() - 1]);
    }
}
