//! Rollup bucket arithmetic: which minute, hour and local-day buckets cover a time range, so an
//! availability query reads a few hundred rollup rows instead of every raw sample.

use serde::Serialize;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;
/// Asia/Ho_Chi_Minh is UTC+7 all year (no daylight saving since 1975), so local days are fixed
/// offsets of UTC days.
pub const LOCAL_OFFSET_MS: i64 = 7 * HOUR_MS;

/// Bucket resolutions, each with its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Minute,
    Hour,
    Day,
}

impl Resolution {
    pub fn table(self) -> &'static str {
        match self {
            Resolution::Minute => "rollup_minute",
            Resolution::Hour => "rollup_hour",
            Resolution::Day => "rollup_day",
        }
    }

    pub fn width_ms(self) -> i64 {
        match self {
            Resolution::Minute => MINUTE_MS,
            Resolution::Hour => HOUR_MS,
            Resolution::Day => DAY_MS,
        }
    }

    /// Start of the bucket holding `t` (ms since the epoch).
    pub fn floor(self, t: i64) -> i64 {
        match self {
            Resolution::Day => (t + LOCAL_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - LOCAL_OFFSET_MS,
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

/// Covers `[from, to)` with the coarsest buckets that fit: minutes at the ragged edges, hours
/// inside, days in the middle. Every minute bucket in the range is counted exactly once (from
/// the start of the first hour when the range is longer than two days).
pub fn plan(from: i64, to: i64) -> Vec<Segment> {
    let mut out = Vec::new();
    // Past two days a minute of edge is noise (under 0.05 % of the range) but reading minute
    // buckets for both ragged hours costs more than the rest of the query: start on the hour.
    let from = if to - from > COARSE_AFTER_MS {
        Resolution::Hour.floor(from)
    } else {
        Resolution::Minute.floor(from)
    };
    if to <= from {
        return out;
    }
    let (d0, d1) = (Resolution::Day.ceil(from), Resolution::Day.floor(to));
    if d0 < d1 {
        plan_hours(from, d0, &mut out);
        out.push(Segment {
            resolution: Resolution::Day,
            from: d0,
            to: d1,
        });
        plan_hours(d1, to, &mut out);
    } else {
        plan_hours(from, to, &mut out);
    }
    out
}

/// Like [`plan`], for a range that ends at or after the newest bucket stored: nothing starts
/// at or after `to`, so the bucket of any resolution holding `to` holds exactly the buckets the
/// range covers up to `to`. Past two days the last, partial day is then read as its day bucket
/// (one row per target instead of up to 23 hours and 59 minutes of rows).
pub fn plan_to_latest(from: i64, to: i64) -> Vec<Segment> {
    if to - from <= COARSE_AFTER_MS {
        return plan(from, to);
    }
    let from = Resolution::Hour.floor(from);
    let d0 = Resolution::Day.ceil(from);
    let mut out = Vec::new();
    plan_hours(from, d0, &mut out);
    // Days starting in [d0, to): the whole days and the one holding `to`.
    out.push(Segment {
        resolution: Resolution::Day,
        from: d0,
        to,
    });
    out
}

fn plan_hours(from: i64, to: i64, out: &mut Vec<Segment>) {
    if to <= from {
        return;
    }
    let (h0, h1) = (Resolution::Hour.ceil(from), Resolution::Hour.floor(to));
    let mut push = |resolution, a: i64, b: i64| {
        if a < b {
            out.push(Segment {
                resolution,
                from: a,
                to: b,
            });
        }
    };
    if h0 < h1 {
        push(Resolution::Minute, from, h0);
        push(Resolution::Hour, h0, h1);
        push(Resolution::Minute, h1, to);
    } else {
        push(Resolution::Minute, from, to);
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
    fn plan_covers_every_minute_once() {
        let start = 1_795_885_200_000 + 7 * MINUTE_MS + 5_000;
        for len in [
            0,
            30 * MINUTE_MS,
            5 * HOUR_MS + 3 * MINUTE_MS,
            3 * DAY_MS + 7 * HOUR_MS,
            30 * DAY_MS,
        ] {
            let end = start + len;
            let segs = plan(start, end);
            let mut covered = Vec::new();
            for s in &segs {
                assert_eq!(Resolution::Minute.floor(s.from), s.from);
                let mut m = s.from;
                while m < s.to {
                    covered.push(m);
                    m += MINUTE_MS;
                }
            }
            let mut expected = Vec::new();
            let first = if len > COARSE_AFTER_MS {
                Resolution::Hour
            } else {
                Resolution::Minute
            };
            let mut m = first.floor(start);
            while m < end {
                expected.push(m);
                m += MINUTE_MS;
            }
            assert_eq!(covered, expected, "len {len}");
            if len >= 3 * DAY_MS {
                assert!(segs.iter().any(|s| s.resolution == Resolution::Day));
                // A month is a handful of segments, not thousands.
                assert!(segs.len() <= 5, "{segs:?}");
            }
        }
    }

    #[test]
    fn a_range_ending_at_the_newest_bucket_reads_its_last_day_whole() {
        let start = 1_795_885_200_000 + 7 * MINUTE_MS + 5_000;
        for len in [30 * MINUTE_MS, 2 * DAY_MS] {
            assert_eq!(plan_to_latest(start, start + len), plan(start, start + len));
        }
        for (len, shift) in [
            (3 * DAY_MS + 7 * HOUR_MS + 3 * MINUTE_MS, 0),
            (30 * DAY_MS, 0),
            (30 * DAY_MS, 5 * HOUR_MS + 11 * MINUTE_MS),
        ] {
            let (from, to) = (start + shift, start + shift + len);
            let segs = plan_to_latest(from, to);
            let last = segs.last().unwrap();
            assert_eq!(last.resolution, Resolution::Day);
            assert_eq!(last.to, to);
            // The day holding `to` is read, and so every minute of the exact plan's tail.
            assert!(Resolution::Day.floor(to) >= last.from);
            let exact = plan(from, to);
            let day_end = exact
                .iter()
                .find(|s| s.resolution == Resolution::Day)
                .unwrap()
                .to;
            assert!(
                exact
                    .iter()
                    .all(|s| s.from < day_end || s.from >= Resolution::Day.floor(to))
            );
            // Same start: the hours before the first whole day, if any.
            let before: Vec<Segment> = exact
                .iter()
                .take_while(|s| s.resolution != Resolution::Day)
                .copied()
                .collect();
            assert_eq!(&segs[..segs.len() - 1], &before[..]);
            assert!(segs.len() <= 2, "{segs:?}");
        }
    }
}
