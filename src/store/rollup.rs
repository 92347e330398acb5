//! Rollup bucket arithmetic: which minute, hour, local-day and local-week buckets cover a time
//! range, so an availability query reads a few rows per target instead of every raw sample.

use chrono::{DateTime, Utc};
use serde::Serialize;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;
pub const WEEK_MS: i64 = 7 * DAY_MS;
/// A week bucket is `(t + WEEK_ALIGN_MS) / WEEK_MS * WEEK_MS - WEEK_ALIGN_MS`: the local
/// offset, and three days more because 1970-01-01 was a Thursday, put its start at a local
/// Monday's midnight. SQL that groups days into weeks (the migration, the seeding) uses it too.
pub const WEEK_ALIGN_MS: i64 = LOCAL_OFFSET_MS + 3 * DAY_MS;
/// Asia/Ho_Chi_Minh is UTC+7 all year (no daylight saving since 1975), so local days are fixed
/// offsets of UTC days.
pub const LOCAL_OFFSET_MS: i64 = 7 * HOUR_MS;

/// Bucket resolutions, each with its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Minute,
    Hour,
    Day,
    /// Local weeks, Monday to Sunday: a month is four or five of them instead of thirty days,
    /// which is what keeps a 30-day view of every target in the country fast.
    Week,
}

impl Resolution {
    pub fn table(self) -> &'static str {
        match self {
            Resolution::Minute => "rollup_minute",
            Resolution::Hour => "rollup_hour",
            Resolution::Day => "rollup_day",
            Resolution::Week => "rollup_week",
        }
    }

    pub fn width_ms(self) -> i64 {
        match self {
            Resolution::Minute => MINUTE_MS,
            Resolution::Hour => HOUR_MS,
            Resolution::Day => DAY_MS,
            Resolution::Week => WEEK_MS,
        }
    }

    /// Start of the bucket holding `t` (ms since the epoch).
    pub fn floor(self, t: i64) -> i64 {
        match self {
            Resolution::Day => (t + LOCAL_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - LOCAL_OFFSET_MS,
            Resolution::Week => (t + WEEK_ALIGN_MS).div_euclid(WEEK_MS) * WEEK_MS - WEEK_ALIGN_MS,
            r => t.div_euclid(r.width_ms()) * r.width_ms(),
        }
    }

    /// Start of the first bucket at or after `t`.
    pub fn ceil(self, t: i64) -> i64 {
        let f = self.floor(t);
        if f == t { f } else { f + self.width_ms() }
    }
}

/// A contiguous run of buckets of one resolution: buckets starting in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub resolution: Resolution,
    pub from: i64,
    pub to: i64,
}

/// Ranges longer than this are read at hour precision at their start.
pub const COARSE_AFTER_MS: i64 = 2 * DAY_MS;
/// "Last N days" views longer than this start at the local midnight of their first day.
pub const WHOLE_DAYS_AFTER_MS: i64 = 7 * DAY_MS;

/// Where a "last N days" view ending `to` starts: past a week, at the local midnight of its
/// first day, so a 30-day view is the last thirty local days and today, as reports count days.
/// A range starting at midnight reads its first day as one day (or week) bucket per target
/// instead of up to 23 hour rows, which over every target of the country was the larger part
/// of the read. Explicit ranges (a drill's window, a report's `from`) are read as given.
pub fn view_start(from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let (f, t) = (from.timestamp_millis(), to.timestamp_millis());
    if t - f > WHOLE_DAYS_AFTER_MS {
        DateTime::from_timestamp_millis(Resolution::Day.floor(f)).unwrap_or(from)
    } else {
        from
    }
}

/// Where a range's first bucket starts: its first minute, or its first hour past two days.
fn first_bucket(from: i64, to: i64) -> i64 {
    if to - from > COARSE_AFTER_MS {
        // Past two days a minute of edge is noise (under 0.05 % of the range) but reading
        // minute buckets for both ragged hours costs more than the rest of the query.
        Resolution::Hour.floor(from)
    } else {
        Resolution::Minute.floor(from)
    }
}

/// Covers `[from, to)` with the coarsest buckets that fit: minutes at the ragged edges, then
/// hours, days, and weeks in the middle. Every minute bucket in the range is counted exactly
/// once, from the bucket [`first_bucket`] puts the start in.
pub fn plan(from: i64, to: i64) -> Vec<Segment> {
    let mut out = Vec::new();
    let from = first_bucket(from, to);
    if to <= from {
        return out;
    }
    let (d0, d1) = (Resolution::Day.ceil(from), Resolution::Day.floor(to));
    if d0 < d1 {
        plan_hours(from, d0, &mut out);
        plan_days(d0, d1, &mut out);
        plan_hours(d1, to, &mut out);
    } else {
        plan_hours(from, to, &mut out);
    }
    out
}

/// Like [`plan`], for a range that ends at or after the newest bucket stored: nothing starts
/// at or after `to`, so the bucket of any resolution holding `to` holds exactly the buckets the
/// range covers up to `to`. Past two days the last, partial week (or day, when the range holds
/// no Monday) is then read as one bucket per target instead of up to six days, 23 hours and 59
/// minutes of rows.
pub fn plan_to_latest(from: i64, to: i64) -> Vec<Segment> {
    if to - from <= COARSE_AFTER_MS {
        return plan(from, to);
    }
    let from = first_bucket(from, to);
    let d0 = Resolution::Day.ceil(from);
    let w0 = Resolution::Week.ceil(d0);
    let mut out = Vec::new();
    plan_hours(from, d0, &mut out);
    if w0 < to {
        // Days up to the first Monday, then the weeks starting in [w0, to): the whole weeks and
        // the one holding `to`.
        push(&mut out, Resolution::Day, d0, w0);
        push(&mut out, Resolution::Week, w0, to);
    } else {
        // Days starting in [d0, to): the whole days and the one holding `to`.
        push(&mut out, Resolution::Day, d0, to);
    }
    out
}

/// Adds the segment when it holds at least one bucket.
fn push(out: &mut Vec<Segment>, resolution: Resolution, from: i64, to: i64) {
    if from < to {
        out.push(Segment {
            resolution,
            from,
            to,
        });
    }
}

/// Whole local days `[from, to)`: days up to the first Monday, weeks, the days after the last.
fn plan_days(from: i64, to: i64, out: &mut Vec<Segment>) {
    let (w0, w1) = (Resolution::Week.ceil(from), Resolution::Week.floor(to));
    if w0 < w1 {
        push(out, Resolution::Day, from, w0);
        push(out, Resolution::Week, w0, w1);
        push(out, Resolution::Day, w1, to);
    } else {
        push(out, Resolution::Day, from, to);
    }
}

fn plan_hours(from: i64, to: i64, out: &mut Vec<Segment>) {
    if to <= from {
        return;
    }
    let (h0, h1) = (Resolution::Hour.ceil(from), Resolution::Hour.floor(to));
    if h0 < h1 {
        push(out, Resolution::Minute, from, h0);
        push(out, Resolution::Hour, h0, h1);
        push(out, Resolution::Minute, h1, to);
    } else {
        push(out, Resolution::Minute, from, to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_days_start_at_midnight_in_vietnam() {
        // 2026-11-28 00:00 +07 = 2026-11-27 17:00 UTC.
        let t = 1_795_827_600_000; // 2026-11-28T01:00:00Z
        let d = Resolution::Day.floor(t);
        assert_eq!(d, t - 8 * HOUR_MS);
        assert_eq!(Resolution::Day.ceil(d), d);
        assert_eq!(Resolution::Hour.floor(t + 59 * MINUTE_MS), t);
    }

    #[test]
    fn local_weeks_start_on_monday_at_midnight_in_vietnam() {
        // Monday 2026-11-30 00:00 +07 = 2026-11-29 17:00 UTC.
        let monday = 1_795_971_600_000;
        assert_eq!(Resolution::Week.floor(monday), monday);
        assert_eq!(Resolution::Week.floor(monday - 1), monday - WEEK_MS);
        assert_eq!(
            Resolution::Week.floor(monday + 6 * DAY_MS + 23 * HOUR_MS),
            monday
        );
        assert_eq!(Resolution::Week.ceil(monday + 1), monday + WEEK_MS);
        // A week starts on a day boundary.
        assert_eq!(Resolution::Day.floor(monday), monday);
    }

    /// The minutes `segs` count, each bucket expanded to its minutes and cut at `to` (a bucket
    /// holding `to` holds no minute at or after it when nothing is stored there yet).
    fn minutes(segs: &[Segment], to: i64) -> Vec<i64> {
        let mut out = Vec::new();
        for s in segs {
            let width = s.resolution.width_ms();
            assert_eq!(s.resolution.floor(s.from), s.from, "{s:?}");
            let mut b = s.from;
            while b < s.to {
                let mut m = b;
                while m < (b + width).min(to) {
                    out.push(m);
                    m += MINUTE_MS;
                }
                b += width;
            }
        }
        out
    }

    /// Every minute from the first bucket's start (minute or hour, by length) to `to`.
    fn expected(from: i64, to: i64) -> Vec<i64> {
        let first = if to - from > COARSE_AFTER_MS {
            Resolution::Hour
        } else {
            Resolution::Minute
        };
        (0..)
            .map(|i| first.floor(from) + i * MINUTE_MS)
            .take_while(|m| *m < to)
            .collect()
    }

    const LENGTHS: [i64; 9] = [
        0,
        30 * MINUTE_MS,
        5 * HOUR_MS + 3 * MINUTE_MS,
        2 * DAY_MS,
        3 * DAY_MS + 7 * HOUR_MS,
        7 * DAY_MS + 2 * HOUR_MS,
        13 * DAY_MS + 5 * HOUR_MS,
        30 * DAY_MS,
        92 * DAY_MS + 11 * HOUR_MS,
    ];

    #[test]
    fn plan_covers_every_minute_once() {
        // Starts on every day of a week, off the minute.
        for shift in 0..7 {
            let start = 1_795_885_200_000 + shift * (DAY_MS + 3 * HOUR_MS) + 7 * MINUTE_MS + 5_000;
            for len in LENGTHS {
                let end = start + len;
                let segs = plan(start, end);
                assert_eq!(minutes(&segs, end), expected(start, end), "len {len}");
                if len >= 14 * DAY_MS {
                    assert!(segs.iter().any(|s| s.resolution == Resolution::Week));
                }
                // A month is a handful of segments, not thousands.
                assert!(segs.len() <= 6, "{segs:?}");
            }
        }
    }

    #[test]
    fn views_past_a_week_start_at_local_midnight() {
        let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        let to = 1_795_971_600_000 + 5 * HOUR_MS + 17 * MINUTE_MS;
        let week = at(to - 7 * DAY_MS);
        assert_eq!(view_start(week, at(to)), week);
        let month = view_start(at(to - 30 * DAY_MS), at(to));
        assert_eq!(
            month.timestamp_millis(),
            Resolution::Day.floor(to - 30 * DAY_MS)
        );
        // From midnight, the month plans no hour or minute rows before its first whole day.
        let segs = plan_to_latest(month.timestamp_millis(), to);
        assert!(
            segs.iter().all(|s| s.resolution >= Resolution::Day),
            "{segs:?}"
        );
    }

    #[test]
    fn a_range_ending_at_the_newest_bucket_reads_its_last_week_whole() {
        for shift in 0..7 {
            let start = 1_795_885_200_000 + shift * (DAY_MS + 5 * HOUR_MS) + 7 * MINUTE_MS + 5_000;
            for len in LENGTHS {
                let (from, to) = (start, start + len);
                let segs = plan_to_latest(from, to);
                if len <= COARSE_AFTER_MS {
                    assert_eq!(segs, plan(from, to));
                    continue;
                }
                // Exactly the minutes the exact plan counts, in fewer, coarser buckets.
                assert_eq!(minutes(&segs, to), expected(from, to), "len {len}");
                let last = segs.last().unwrap();
                assert!(last.to == to, "{segs:?}");
                assert!(segs.len() <= 3, "{segs:?}");
                if len >= 14 * DAY_MS {
                    assert_eq!(last.resolution, Resolution::Week, "{segs:?}");
                }
            }
        }
    }
}
