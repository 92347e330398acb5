//! Unit tests of the per-target state machine: thresholds, incidents, parents, isolation,
//! maintenance and flapping, one scenario each.

use super::*;
use chrono::TimeZone;

const TH: Thresholds = Thresholds {
    failure: 3,
    success: 2,
};

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + s, 0).single().unwrap()
}

fn v(s: i64, ok: bool) -> Verdict {
    Verdict {
        at: t(s),
        ok,
        degraded: false,
    }
}

fn deg(s: i64) -> Verdict {
    Verdict {
        at: t(s),
        ok: true,
        degraded: true,
    }
}

fn plain() -> Context {
    Context::default()
}

#[test]
fn first_success_brings_unknown_up() {
    let mut st = TargetState::new(t(0));
    let tr = st.observe(v(1, true), &plain(), TH).transition.unwrap();
    assert_eq!((tr.from, tr.to), (State::Unknown, State::Up));
    assert_eq!(st.since, t(1));
}

#[test]
fn failures_below_threshold_keep_it_up() {
    let mut st = TargetState::new(t(0));
    st.observe(v(1, true), &plain(), TH);
    for (s, ok) in [(2, false), (3, false), (4, true), (5, false), (6, false)] {
        assert!(st.observe(v(s, ok), &plain(), TH).transition.is_none());
    }
    assert_eq!(st.state, State::Up);
    let out = st.observe(v(7, false), &plain(), TH);
    let tr = out.transition.unwrap();
    assert_eq!((tr.from, tr.to, tr.at), (State::Up, State::Down, t(7)));
    // The incident starts at the first failure of the run, detected at the threshold.
    assert_eq!(
        out.incident,
        Some(IncidentChange::Opened {
            started_at: t(5),
            detected_at: t(7),
            state: State::Down,
            explained_by: None
        })
    );
}

#[test]
fn recovery_needs_success_threshold_and_closes_at_first_success() {
    let mut st = TargetState::new(t(0));
    for i in 1..=3 {
        st.observe(v(i, false), &plain(), TH);
    }
    assert_eq!(st.state, State::Down);
    assert!(st.observe(v(4, true), &plain(), TH).transition.is_none());
    assert!(st.observe(v(5, false), &plain(), TH).transition.is_none());
    assert!(st.observe(v(6, true), &plain(), TH).transition.is_none());
    let out = st.observe(v(7, true), &plain(), TH);
    let tr = out.transition.unwrap();
    assert_eq!((tr.from, tr.to), (State::Down, State::Up));
    assert_eq!(
        out.incident,
        Some(IncidentChange::Closed { ended_at: t(6) })
    );
}

#[test]
fn degraded_results_make_a_degraded_state_and_worsen_to_down() {
    let mut st = TargetState::new(t(0));
    st.observe(v(1, true), &plain(), TH);
    st.observe(deg(2), &plain(), TH);
    st.observe(deg(3), &plain(), TH);
    let out = st.observe(deg(4), &plain(), TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Degraded));
    assert!(
        matches!(out.incident, Some(IncidentChange::Opened { started_at, state: State::Degraded, .. }) if started_at == t(2))
    );
    for s in 5..=6 {
        st.observe(v(s, false), &plain(), TH);
    }
    let out = st.observe(v(7, false), &plain(), TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Down));
    assert_eq!(
        out.incident,
        Some(IncidentChange::Updated {
            worst: State::Down,
            explained_by: None
        })
    );
    // Back to degraded, then clean: the incident stays open until UP, and ends at the first
    // clean result (10): the degraded results at 8 and 9 are still part of it.
    st.observe(deg(8), &plain(), TH);
    let out = st.observe(deg(9), &plain(), TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Degraded));
    assert!(out.incident.is_none(), "worst stays DOWN");
    st.observe(v(10, true), &plain(), TH);
    let out = st.observe(v(11, true), &plain(), TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Up));
    assert_eq!(
        out.incident,
        Some(IncidentChange::Closed { ended_at: t(10) })
    );
}

#[test]
fn a_degraded_incident_ends_after_it_starts() {
    // Issue 21: a target UP for a while, then degraded, then clean again. The good run that
    // began long before the degradation must not be taken as the end of the incident.
    let mut st = TargetState::new(t(0));
    for s in 1..=10 {
        st.observe(v(s, true), &plain(), TH);
    }
    for s in 11..=14 {
        st.observe(deg(s), &plain(), TH);
    }
    assert_eq!(st.state, State::Degraded);
    st.observe(v(15, true), &plain(), TH);
    let out = st.observe(v(16, true), &plain(), TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Up));
    assert_eq!(
        out.incident,
        Some(IncidentChange::Closed { ended_at: t(15) })
    );
}

#[test]
fn a_down_parent_makes_failing_children_unreachable() {
    let parent = Context {
        parent_down: Some("ht-power-zone-3".into()),
        ..Context::default()
    };
    let mut st = TargetState::new(t(0));
    st.observe(v(1, true), &plain(), TH);
    st.observe(v(2, false), &parent, TH);
    st.observe(v(3, false), &parent, TH);
    let out = st.observe(v(4, false), &parent, TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Unreachable));
    assert!(
        matches!(out.incident, Some(IncidentChange::Opened { explained_by: Some(ref p), .. }) if p == "ht-power-zone-3")
    );
    // The parent recovers but the child still fails: now it is really down.
    let out = st.observe(v(5, false), &plain(), TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Down));
}

#[test]
fn reevaluate_switches_a_down_child_when_its_parent_falls() {
    let mut st = TargetState::new(t(0));
    for s in 1..=3 {
        st.observe(v(s, false), &plain(), TH);
    }
    assert_eq!(st.state, State::Down);
    let parent = Context {
        parent_down: Some("uplink".into()),
        ..Context::default()
    };
    let out = st.reevaluate(&parent, t(4), TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Unreachable));
    // A healthy child is left alone.
    let mut ok = TargetState::new(t(0));
    ok.observe(v(1, true), &plain(), TH);
    assert!(ok.reevaluate(&parent, t(2), TH).transition.is_none());
}

#[test]
fn isolation_turns_new_failures_unknown_but_keeps_known_outages() {
    let iso = Context {
        isolated: true,
        ..Context::default()
    };
    let mut st = TargetState::new(t(0));
    st.observe(v(1, true), &plain(), TH);
    for s in 2..=4 {
        st.observe(v(s, false), &iso, TH);
    }
    assert_eq!(st.state, State::Unknown);
    assert!(!st.incident_open, "no incident while we cannot tell");
    // Link back, target still failing: now it is down.
    let out = st.observe(v(5, false), &plain(), TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Down));

    let mut known = TargetState::new(t(0));
    for s in 1..=3 {
        known.observe(v(s, false), &plain(), TH);
    }
    known.observe(v(4, false), &iso, TH);
    assert_eq!(known.state, State::Down);
}

#[test]
fn maintenance_shows_and_ends_without_paging() {
    let m = Context {
        maintenance: true,
        ..Context::default()
    };
    let mut st = TargetState::new(t(0));
    st.observe(v(1, true), &plain(), TH);
    let out = st.observe(v(2, false), &m, TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Maintenance));
    assert!(out.incident.is_none());
    st.observe(v(3, false), &m, TH);
    let out = st.observe(v(4, true), &plain(), TH);
    assert_eq!(out.transition.map(|t| t.to), Some(State::Up));
}

#[test]
fn flapping_starts_once_and_stops_once() {
    let mut st = TargetState::new(t(0));
    let mut starts = 0;
    let mut stops = 0;
    for s in 0..30 {
        if let Some(f) = st.observe(v(s, s % 2 == 0), &plain(), TH).flap {
            assert!(f.flapping);
            starts += 1;
        }
    }
    assert_eq!(starts, 1);
    assert!(st.flapping);
    for s in 30..60 {
        if let Some(f) = st.observe(v(s, true), &plain(), TH).flap {
            assert!(!f.flapping);
            stops += 1;
        }
    }
    assert_eq!(stops, 1);
    assert!(!st.flapping);
}

#[test]
fn flap_percent_matches_icinga_weights() {
    let mut st = TargetState::new(t(0));
    for s in 0..21 {
        st.observe(v(s, s % 2 == 0), &plain(), TH);
    }
    // Every one of the 20 steps is a change: the weights 0.8..1.2 average to 1.0 → 100 %.
    assert!(
        (st.flap_percent() - 100.0).abs() < 1e-9,
        "{}",
        st.flap_percent()
    );
    let mut steady = TargetState::new(t(0));
    for s in 0..21 {
        steady.observe(v(s, true), &plain(), TH);
    }
    assert_eq!(steady.flap_percent(), 0.0);
}

#[test]
fn state_names_round_trip() {
    for s in State::ALL {
        assert_eq!(State::parse(s.as_str()), Some(s));
    }
}
