//! Invariants over arbitrary sequences of results and contexts.
use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn verdicts() -> impl Strategy<Value = Vec<(u8, bool, bool)>> {
    // (outcome 0 clean / 1 degraded / 2 fail, parent down, isolated)
    prop::collection::vec(
        (
            0u8..3,
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.05),
        ),
        1..200,
    )
}

proptest! {
    #[test]
    fn invariants_hold(seq in verdicts(), f in 1u32..5, s in 1u32..5) {
        let th = Thresholds { failure: f, success: s };
        let mut st = TargetState::new(Utc.timestamp_opt(0, 0).single().unwrap());
        let mut history: Vec<u8> = Vec::new();
        let mut open = false;
        let mut opened = 0;
        let mut closed = 0;
        let mut ever_failed = false;
        for (i, (o, parent, iso)) in seq.iter().enumerate() {
            let at = Utc.timestamp_opt(i as i64 * 60, 0).single().unwrap();
            let v = Verdict { at, ok: *o != 2, degraded: *o == 1 };
            let ctx = Context {
                parent_down: parent.then(|| "p".to_string()),
                isolated: *iso,
                maintenance: false,
            };
            history.push(*o);
            ever_failed |= *o != 0;
            let before = st.state;
            let out = st.observe(v, &ctx, th);
            if let Some(tr) = &out.transition {
                prop_assert_eq!(tr.from, before);
                let tail = |n: u32, pred: &dyn Fn(u8) -> bool| {
                    history.len() >= n as usize && history[history.len() - n as usize..].iter().all(|x| pred(*x))
                };
                match tr.to {
                    // No DOWN/UNREACHABLE without `failure` consecutive failures.
                    State::Down | State::Unreachable => prop_assert!(tail(f, &|x| x == 2)),
                    // No UP after a problem without `success` consecutive good results.
                    State::Up if matches!(before, State::Down | State::Unreachable) => {
                        prop_assert!(tail(s, &|x| x != 2));
                    }
                    State::Up if before == State::Degraded => prop_assert!(tail(s, &|x| x == 0)),
                    State::Degraded if matches!(before, State::Up | State::Unknown) => {
                        prop_assert!(tail(f, &|x| x == 1));
                    }
                    _ => {}
                }
                // No recovery without a prior failure.
                if tr.to == State::Up && before != State::Unknown {
                    prop_assert!(ever_failed);
                }
            }
            match &out.incident {
                Some(IncidentChange::Opened { started_at, detected_at, .. }) => {
                    prop_assert!(!open, "opened twice");
                    prop_assert!(started_at <= detected_at);
                    open = true;
                    opened += 1;
                }
                Some(IncidentChange::Closed { .. }) => {
                    prop_assert!(open, "closed without opening");
                    prop_assert_eq!(st.state, State::Up);
                    open = false;
                    closed += 1;
                }
                Some(IncidentChange::Updated { .. }) => prop_assert!(open),
                None => {}
            }
            prop_assert_eq!(open, st.incident_open);
        }
        // Every incident that opened closed exactly once, or is still open.
        prop_assert!(opened == closed || opened == closed + 1);
        // Recovering ends every open incident exactly once.
        for j in 0..s {
            let at = Utc.timestamp_opt((seq.len() as i64 + i64::from(j)) * 60, 0).single().unwrap();
            let out = st.observe(Verdict { at, ok: true, degraded: false }, &Context::default(), th);
            if let Some(IncidentChange::Closed { .. }) = out.incident { closed += 1; }
        }
        if st.state == State::Up {
            prop_assert_eq!(opened, closed);
        }
    }
}

/// One step of a random history: (outcome 0 clean / 1 degraded / 2 fail, seconds since the
/// previous result, parent down, isolated, maintenance, re-evaluate between results).
type Step = (u8, i64, bool, bool, bool, bool);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![0u8, 0, 1, 1, 2]),
            2i64..300,
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.05),
            prop::bool::weighted(0.1),
        ),
        1..200,
    )
}

/// An incident as the state machine reported it, with the results around it.
struct Seen {
    started: DateTime<Utc>,
    detected: DateTime<Utc>,
    /// Index of the result that opened it.
    opened_at: usize,
    ended: Option<(DateTime<Utc>, usize, DateTime<Utc>)>,
}

proptest! {
    /// The record is the product: every incident ends at or after its start, covers every
    /// bad result the target had while in a problem state, and the incident durations add
    /// up to the time spent in problem states (detection to recovery), extended back to the
    /// first bad result and cut at the first clean result of the recovery.
    #[test]
    fn incidents_cover_the_problem_time(seq in steps(), f in 1u32..5, s in 1u32..5) {
        let th = Thresholds { failure: f, success: s };
        let t0 = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap();
        let mut st = TargetState::new(t0);
        let mut at = t0;
        // (time, outcome, state after it)
        let mut results: Vec<(DateTime<Utc>, u8, State)> = Vec::new();
        let mut seen: Vec<Seen> = Vec::new();
        for (o, gap, parent, iso, maint, reeval) in &seq {
            at += chrono::Duration::seconds(*gap);
            let ctx = Context {
                parent_down: parent.then(|| "p".to_string()),
                isolated: *iso,
                maintenance: *maint,
            };
            let v = Verdict { at, ok: *o != 2, degraded: *o == 1 };
            let out = st.observe(v, &ctx, th);
            results.push((at, *o, st.state));
            let i = results.len() - 1;
            let mut changes = vec![out.incident];
            if *reeval {
                // A parent changes between two results of this target.
                let ctx = Context { parent_down: (!parent).then(|| "p".to_string()), ..ctx };
                let out = st.reevaluate(&ctx, at + chrono::Duration::seconds(1), th);
                changes.push(out.incident);
            }
            for c in changes.into_iter().flatten() {
                match c {
                    IncidentChange::Opened { started_at, detected_at, .. } => {
                        prop_assert!(seen.last().is_none_or(|p| p.ended.is_some()));
                        seen.push(Seen { started: started_at, detected: detected_at, opened_at: i, ended: None });
                    }
                    IncidentChange::Closed { ended_at } => {
                        let open = seen.last_mut().filter(|p| p.ended.is_none());
                        prop_assert!(open.is_some(), "closed without opening");
                        if let Some(p) = open { p.ended = Some((ended_at, i, at)); }
                    }
                    IncidentChange::Updated { .. } => {}
                }
            }
        }

        let mut recorded = chrono::Duration::zero();
        let mut problem_time = chrono::Duration::zero();
        for (n, inc) in seen.iter().enumerate() {
            prop_assert!(inc.started <= inc.detected);
            // The first bad result of the run that crossed the threshold, found from the
            // raw results: walk back over non-clean results from the detecting one.
            // An incident closed by a degraded answer bounds the next one's start.
            let floor = n.checked_sub(1).and_then(|p| seen[p].ended).map_or(0, |e| e.1);
            let mut first = inc.opened_at;
            while first > floor && results[first - 1].1 != 0 {
                first -= 1;
            }
            prop_assert_eq!(inc.started, results[first].0);
            let Some((ended, closed_at, close_time)) = inc.ended else { continue };
            prop_assert!(ended >= inc.started, "incident {} ends at {} before it starts at {}", n, ended, inc.started);
            prop_assert!(ended > inc.detected);
            prop_assert!(ended <= close_time);
            // The first clean result of the run that brought it back UP (from UNKNOWN or
            // MAINTENANCE a degraded answer may bring it UP: then that answer).
            let mut clean = closed_at;
            while results[closed_at].1 == 0 && clean > 0 && results[clean - 1].1 == 0 {
                clean -= 1;
            }
            prop_assert!(clean > inc.opened_at);
            prop_assert_eq!(ended, results[clean].0);
            // Every bad result taken while the target was in a problem state lies inside
            // the incident.
            for (t, o, state) in &results[inc.opened_at..=closed_at] {
                if *o != 0 && state.is_problem() {
                    prop_assert!(inc.started <= *t && *t < ended);
                }
            }
            // Incidents of one target never overlap.
            if let Some(next) = seen.get(n + 1) {
                prop_assert!(ended <= next.started);
            }
            recorded += ended - inc.started;
            problem_time += (close_time - inc.detected) + (inc.detected - results[first].0)
                - (close_time - results[clean].0);
        }
        prop_assert_eq!(recorded, problem_time);
    }
}
