//! Tests of the validated alerting form: when maintenance windows are in force.

use super::*;

#[test]
fn weekly_windows_recur_in_local_time() {
    let w = MaintenanceWindow {
        name: "VNPT".into(),
        matchers: Matchers::default(),
        start: NaiveDateTime::parse_from_str("2026-11-01T01:00", "%Y-%m-%dT%H:%M").unwrap(),
        duration: Duration::from_secs(7_200),
        repeat: Some(Repeat::Weekly),
        timezone: chrono_tz::Asia::Ho_Chi_Minh,
    };
    // 2026-11-29 is a Sunday, as is 2026-11-01: 01:30 local = 18:30 UTC the day before.
    let inside = Utc
        .with_ymd_and_hms(2026, 11, 28, 18, 30, 0)
        .single()
        .unwrap();
    assert!(w.active_at(inside));
    assert!(!w.active_at(inside + chrono::Duration::hours(2)));
    assert!(!w.active_at(inside - chrono::Duration::days(1)));
    assert!(
        !w.active_at(
            Utc.with_ymd_and_hms(2026, 10, 31, 18, 30, 0)
                .single()
                .unwrap()
                - chrono::Duration::days(1)
        )
    );
}
