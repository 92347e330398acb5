//! Local time for people: every time officers read is in Asia/Ho_Chi_Minh, with the zone shown.

use std::cell::Cell;

use chrono::{DateTime, Utc};
use chrono_tz::Asia::Ho_Chi_Minh;

/// The zone name shown next to times.
pub const ZONE_NAME: &str = "Asia/Ho_Chi_Minh";

/// The current time at millisecond precision, the precision the store keeps, so a time read
/// back after a restart equals the one served before it. Every part of commwatch reads the
/// time here: on a thread that follows tokio's clock ([`follow_tokio_clock`]) it is tokio's
/// (paused, in tests), otherwise the system's.
pub fn now_ms() -> DateTime<Utc> {
    let now = FOLLOW
        .with(Cell::get)
        .map_or_else(Utc::now, |(base, start)| {
            // `Instant` differences are never negative; a span too long for chrono is not one
            // a test can reach.
            base + chrono::Duration::from_std(tokio::time::Instant::now() - start)
                .unwrap_or_default()
        });
    chrono::SubsecRound::trunc_subsecs(now, 3)
}

thread_local! {
    /// Where this thread's clock stands: `(wall time at start, tokio instant at start)`.
    static FOLLOW: Cell<Option<(DateTime<Utc>, tokio::time::Instant)>> = const { Cell::new(None) };
}

/// Makes [`now_ms`] on this thread follow tokio's clock from the current wall time, until the
/// guard drops. A test on paused tokio time (`#[tokio::test(start_paused = true)]`, one thread)
/// then sees hours pass in milliseconds, consistently in timers and in timestamps: a drill of
/// two hours ends two hours after it started, by every clock the daemon reads.
pub fn follow_tokio_clock() -> FollowGuard {
    FOLLOW.with(|f| f.set(Some((Utc::now(), tokio::time::Instant::now()))));
    FollowGuard(())
}

/// Restores the system clock on drop; [`FollowGuard::jump`] steps the wall clock as a host's
/// clock can step (NTP, an operator), without moving tokio's timers.
pub struct FollowGuard(());

impl FollowGuard {
    pub fn jump(&self, by: chrono::Duration) {
        FOLLOW.with(|f| f.set(f.get().map(|(base, start)| (base + by, start))));
    }
}

impl Drop for FollowGuard {
    fn drop(&mut self) {
        FOLLOW.with(|f| f.set(None));
    }
}

/// `28/11/2026 08:30:12 (+07)`: day-first as Vietnamese readers expect.
pub fn local_datetime(t: DateTime<Utc>) -> String {
    t.with_timezone(&Ho_Chi_Minh)
        .format("%d/%m/%Y %H:%M:%S (%Z)")
        .to_string()
}

/// `08:30:12` for dense tables, where the date is implied by "today".
pub fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Ho_Chi_Minh).format("%H:%M:%S").to_string()
}

/// `08:30 28/11 (+07)`: short enough for a chat line, still unambiguous.
pub fn local_short(t: DateTime<Utc>) -> String {
    t.with_timezone(&Ho_Chi_Minh)
        .format("%H:%M %d/%m (%Z)")
        .to_string()
}

/// `28/11/2026`, the local date.
pub fn local_date(t: DateTime<Utc>) -> String {
    t.with_timezone(&Ho_Chi_Minh).format("%d/%m/%Y").to_string()
}

/// `28/11`, for chart axes.
pub fn local_day_month(t: DateTime<Utc>) -> String {
    t.with_timezone(&Ho_Chi_Minh).format("%d/%m").to_string()
}

/// ISO 8601 with the local offset, for machine-readable attributes.
pub fn local_rfc3339(t: DateTime<Utc>) -> String {
    t.with_timezone(&Ho_Chi_Minh).to_rfc3339()
}

/// "12 phút trước" style relative time, in Vietnamese.
pub fn ago_vi(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..=59 => format!("{s} giây trước"),
        60..=3_599 => format!("{} phút trước", s / 60),
        3_600..=86_399 => format!("{} giờ trước", s / 3_600),
        _ => format!("{} ngày trước", s / 86_400),
    }
}

/// A duration for people: `0.153ms`, `12.5ms`, `812ms`, `1.5s`.
pub fn fmt_secs(secs: f64) -> String {
    let ms = secs * 1e3;
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if ms >= 1000.0 {
        format!("{}s", trim(format!("{secs:.3}")))
    } else if ms >= 100.0 {
        format!("{ms:.0}ms")
    } else if ms >= 1.0 {
        format!("{}ms", trim(format!("{ms:.1}")))
    } else {
        format!("{}ms", trim(format!("{ms:.3}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn shows_vietnam_time_with_zone() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 28, 1, 30, 12)
            .single()
            .unwrap();
        assert_eq!(local_datetime(t), "28/11/2026 08:30:12 (+07)");
        assert_eq!(local_time(t), "08:30:12");
        assert_eq!(local_rfc3339(t), "2026-11-28T08:30:12+07:00");
        assert_eq!(local_date(t), "28/11/2026");
        assert_eq!(local_day_month(t), "28/11");
    }

    #[tokio::test(start_paused = true)]
    async fn a_following_clock_moves_with_tokio_and_jumps_when_told() {
        let guard = follow_tokio_clock();
        let t0 = now_ms();
        tokio::time::sleep(std::time::Duration::from_secs(3 * 3_600)).await;
        assert_eq!(now_ms() - t0, chrono::Duration::hours(3));
        guard.jump(chrono::Duration::hours(-1));
        assert_eq!(now_ms() - t0, chrono::Duration::hours(2));
        drop(guard);
        // Back on the system clock: nowhere near three paused hours ahead.
        assert!(now_ms() - t0 < chrono::Duration::minutes(10));
    }

    #[test]
    fn relative_times_read_in_vietnamese() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 28, 1, 0, 0)
            .single()
            .unwrap();
        assert_eq!(
            ago_vi(t, t + chrono::Duration::minutes(12)),
            "12 phút trước"
        );
        assert_eq!(ago_vi(t, t + chrono::Duration::seconds(5)), "5 giây trước");
        assert_eq!(ago_vi(t, t + chrono::Duration::hours(3)), "3 giờ trước");
    }
}
