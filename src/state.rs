//! The per-target state machine: pure, no I/O, so every rule is unit- and property-tested.
//!
//! Rules, in the order they apply to each verdict:
//! - Consecutive-result thresholds: `failure` failed results take a target DOWN (or DEGRADED when
//!   only degraded checks fail), `success` good results bring it back, so one lost packet pages no
//!   one and one good answer does not close an outage.
//! - Dependencies: a failing target whose parent is DOWN is UNREACHABLE, not DOWN: its failure is
//!   explained by the parent (the power zone, the provincial uplink).
//! - Isolation: when the monitor itself is cut off (every anchor failing), a failing target goes
//!   UNKNOWN rather than DOWN: we cannot tell.
//! - Maintenance: the target shows MAINTENANCE while a window is open; results are still recorded.
//! - Flapping, as Icinga 2 measures it: state changes over the last 21 results, weighted from 0.8
//!   (oldest) to 1.2 (newest); flapping starts above 30 % and stops below 25 % (hysteresis).
//! - Incidents: one opens when a target leaves UP (or first settles) into a problem state and
//!   closes when it returns to UP; its start is the first failed (or degraded) result and its end
//!   the first clean result of the run that brought it back, not the moments the thresholds were
//!   crossed. Degraded results count as answers for the failure thresholds but are still part
//!   of the incident.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What officers see for a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Up,
    Degraded,
    Down,
    /// Failing, but a dependency is down and explains it.
    Unreachable,
    /// No data yet, or the monitor cannot tell.
    Unknown,
    Maintenance,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Up,
        State::Degraded,
        State::Down,
        State::Unreachable,
        State::Unknown,
        State::Maintenance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Degraded => "degraded",
            State::Down => "down",
            State::Unreachable => "unreachable",
            State::Unknown => "unknown",
            State::Maintenance => "maintenance",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Sort key: worst first on the status page.
    pub fn severity(self) -> u8 {
        match self {
            State::Down => 0,
            State::Unreachable => 1,
            State::Degraded => 2,
            State::Unknown => 3,
            State::Maintenance => 4,
            State::Up => 5,
        }
    }

    /// States that mean "something is wrong with this target".
    pub fn is_problem(self) -> bool {
        matches!(self, State::Down | State::Unreachable | State::Degraded)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One judged result, as the state machine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub at: DateTime<Utc>,
    /// The failure checks passed.
    pub ok: bool,
    /// The failure checks passed but a degraded check (latency, loss) did not.
    pub degraded: bool,
}

impl Verdict {
    fn outcome(&self) -> Outcome {
        match (self.ok, self.degraded) {
            (false, _) => Outcome::Fail,
            (true, true) => Outcome::Degraded,
            (true, false) => Outcome::Clean,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Clean = 0,
    Degraded = 1,
    Fail = 2,
}

/// What the world around the target looks like when its verdict arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// A parent (from `depends_on`) that is DOWN or UNREACHABLE, if any.
    pub parent_down: Option<String>,
    /// The monitor believes its own link is cut.
    pub isolated: bool,
    /// A maintenance window covers the target.
    pub maintenance: bool,
}

/// Thresholds applied to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failures before a target goes DOWN (or degraded results before DEGRADED).
    pub failure: u32,
    /// Consecutive good results before it comes back.
    pub success: u32,
}

/// A change of state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub at: DateTime<Utc>,
}

/// Incident bookkeeping produced alongside transitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "incident", rename_all = "snake_case")]
pub enum IncidentChange {
    Opened {
        /// First failed (or degraded) result of the run that crossed the threshold.
        started_at: DateTime<Utc>,
        /// When the threshold was crossed.
        detected_at: DateTime<Utc>,
        state: State,
        explained_by: Option<String>,
    },
    /// The incident reached a worse state (DEGRADED → DOWN) or changed explanation.
    Updated {
        worst: State,
        explained_by: Option<String>,
    },
    Closed {
        /// First clean (good, not degraded) result of the recovery run.
        ended_at: DateTime<Utc>,
    },
}

/// Flapping started or stopped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FlapChange {
    pub flapping: bool,
    pub at: DateTime<Utc>,
    /// Weighted percentage of state changes over the window.
    pub percent: f64,
}

/// Everything one verdict changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    pub transition: Option<Transition>,
    pub incident: Option<IncidentChange>,
    pub flap: Option<FlapChange>,
}

/// Results in the flap window (Icinga 2 uses 21: 20 possible changes).
pub const FLAP_WINDOW: u32 = 21;
/// Flapping starts above this weighted percentage of changes...
pub const FLAP_HIGH: f64 = 30.0;
/// ...and stops below this one.
pub const FLAP_LOW: f64 = 25.0;

/// The evolving state of one target. Everything here is persisted so a restart resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    pub state: State,
    /// When the current state began.
    pub since: DateTime<Utc>,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
    /// Consecutive ok-but-degraded results.
    pub consecutive_degraded: u32,
    /// Consecutive ok-and-not-degraded results.
    pub consecutive_clean: u32,
    /// First result of the current run of failures (or of degraded results).
    pub problem_started_at: Option<DateTime<Utc>>,
    /// First result of the current run of good results.
    pub ok_started_at: Option<DateTime<Utc>>,
    /// First result of the current run of clean (good and not degraded) results: where an
    /// incident ends. A degraded result is "ok" for the failure counters but still a problem,
    /// so `ok_started_at` can lie before the incident began.
    #[serde(default)]
    pub clean_started_at: Option<DateTime<Utc>>,
    /// An incident is open for this target.
    pub incident_open: bool,
    /// Worst state reached by the open incident.
    pub incident_worst: Option<State>,
    /// The parent that explains an UNREACHABLE state.
    pub explained_by: Option<String>,
    pub flapping: bool,
    /// The last results, two bits each (0 clean, 1 degraded, 2 fail), newest in the low bits.
    pub history: u64,
    pub history_len: u32,
}

impl TargetState {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            state: State::Unknown,
            since: now,
            consecutive_ok: 0,
            consecutive_fail: 0,
            consecutive_degraded: 0,
            consecutive_clean: 0,
            problem_started_at: None,
            ok_started_at: None,
            clean_started_at: None,
            incident_open: false,
            incident_worst: None,
            explained_by: None,
            flapping: false,
            history: 0,
            history_len: 0,
        }
    }

    fn count(&mut self, v: &Verdict) {
        match v.outcome() {
            Outcome::Fail => {
                if self.consecutive_fail == 0 && self.consecutive_degraded == 0 {
                    self.problem_started_at = Some(v.at);
                }
                self.consecutive_fail = self.consecutive_fail.saturating_add(1);
                self.consecutive_ok = 0;
                self.consecutive_degraded = 0;
                self.consecutive_clean = 0;
                self.ok_started_at = None;
                self.clean_started_at = None;
            }
            Outcome::Degraded => {
                if self.consecutive_ok == 0 {
                    self.ok_started_at = Some(v.at);
                }
                if self.consecutive_degraded == 0 && self.consecutive_fail == 0 {
                    self.problem_started_at = Some(v.at);
                }
                self.consecutive_ok = self.consecutive_ok.saturating_add(1);
                self.consecutive_degraded = self.consecutive_degraded.saturating_add(1);
                self.consecutive_fail = 0;
                self.consecutive_clean = 0;
                self.clean_started_at = None;
            }
            Outcome::Clean => {
                if self.consecutive_ok == 0 {
                    self.ok_started_at = Some(v.at);
                }
                if self.consecutive_clean == 0 {
                    self.clean_started_at = Some(v.at);
                }
                self.consecutive_ok = self.consecutive_ok.saturating_add(1);
                self.consecutive_clean = self.consecutive_clean.saturating_add(1);
                self.consecutive_fail = 0;
                self.consecutive_degraded = 0;
                self.problem_started_at = None;
            }
        }
        let mask = (1u64 << (2 * FLAP_WINDOW)) - 1;
        self.history = ((self.history << 2) | v.outcome() as u64) & mask;
        self.history_len = (self.history_len + 1).min(FLAP_WINDOW);
    }

    /// The weighted percentage of state changes over the window (Icinga 2's formula).
    pub fn flap_percent(&self) -> f64 {
        let n = self.history_len;
        if n < 2 {
            return 0.0;
        }
        // Index 0 is the oldest result in the window; weights rise linearly from 0.8 to 1.2.
        let at = |i: u32| (self.history >> (2 * (n - 1 - i))) & 3;
        let mut weighted = 0.0;
        for i in 1..n {
            if at(i) != at(i - 1) {
                weighted += 0.8 + 0.4 * f64::from(i - 1) / f64::from(FLAP_WINDOW - 2);
            }
        }
        weighted / f64::from(FLAP_WINDOW - 1) * 100.0
    }

    /// The problem state a failing target is in, given its surroundings.
    fn problem_state(&self, ctx: &Context) -> State {
        if ctx.parent_down.is_some() {
            State::Unreachable
        } else if ctx.isolated && !matches!(self.state, State::Down) {
            // Cut off ourselves: we cannot tell whether it is down. A target we already knew to
            // be down before the cut stays down.
            State::Unknown
        } else {
            State::Down
        }
    }

    /// The state the counters and context call for; `None` keeps the current one.
    fn desired(&self, v: &Verdict, ctx: &Context, th: Thresholds) -> Option<State> {
        if ctx.maintenance {
            return Some(State::Maintenance);
        }
        let failing = self.consecutive_fail >= th.failure;
        match self.state {
            // No history (or history that no longer applies): the first good answer decides,
            // a failure still needs the full threshold.
            State::Unknown | State::Maintenance => match v.outcome() {
                Outcome::Clean => Some(State::Up),
                // Degraded needs its threshold like any problem; until then the target answers.
                Outcome::Degraded if self.consecutive_degraded >= th.failure => {
                    Some(State::Degraded)
                }
                Outcome::Degraded => Some(State::Up),
                Outcome::Fail if failing => Some(self.problem_state(ctx)),
                Outcome::Fail => (self.state == State::Maintenance).then_some(State::Unknown),
            },
            State::Up => {
                if failing {
                    Some(self.problem_state(ctx))
                } else if self.consecutive_degraded >= th.failure {
                    Some(State::Degraded)
                } else {
                    None
                }
            }
            State::Degraded => {
                if failing {
                    Some(self.problem_state(ctx))
                } else if self.consecutive_clean >= th.success {
                    Some(State::Up)
                } else {
                    None
                }
            }
            State::Down | State::Unreachable => {
                if failing {
                    // Still failing: the explanation may have changed (parent down or back).
                    Some(self.problem_state(ctx))
                } else if self.consecutive_ok >= th.success {
                    Some(if self.consecutive_degraded > 0 {
                        State::Degraded
                    } else {
                        State::Up
                    })
                } else {
                    None
                }
            }
        }
    }

    /// Feeds one verdict.
    pub fn observe(&mut self, v: Verdict, ctx: &Context, th: Thresholds) -> Output {
        self.count(&v);
        let mut out = Output::default();

        let percent = self.flap_percent();
        if !self.flapping && percent > FLAP_HIGH {
            self.flapping = true;
            out.flap = Some(FlapChange {
                flapping: true,
                at: v.at,
                percent,
            });
        } else if self.flapping && percent < FLAP_LOW {
            self.flapping = false;
            out.flap = Some(FlapChange {
                flapping: false,
                at: v.at,
                percent,
            });
        }

        if let Some(next) = self.desired(&v, ctx, th) {
            out.transition = self.move_to(next, v.at);
            out.incident = self.track_incident(next, &v, ctx);
        }
        out
    }

    /// Re-applies the context without a new result: a parent just went down (children that
    /// are failing become UNREACHABLE now, not at their next probe) or maintenance began.
    pub fn reevaluate(&mut self, ctx: &Context, at: DateTime<Utc>, th: Thresholds) -> Output {
        let mut out = Output::default();
        let next = if ctx.maintenance {
            Some(State::Maintenance)
        } else if matches!(self.state, State::Down | State::Unreachable)
            && self.consecutive_fail >= th.failure
        {
            Some(self.problem_state(ctx))
        } else {
            None
        };
        if let Some(next) = next {
            out.transition = self.move_to(next, at);
            if out.transition.is_some() {
                let v = Verdict {
                    at,
                    ok: false,
                    degraded: false,
                };
                out.incident = self.track_incident(next, &v, ctx);
            }
        }
        out
    }

    fn move_to(&mut self, next: State, at: DateTime<Utc>) -> Option<Transition> {
        if next == self.state {
            return None;
        }
        let t = Transition {
            from: self.state,
            to: next,
            at,
        };
        self.state = next;
        self.since = at;
        Some(t)
    }

    fn track_incident(&mut self, now: State, v: &Verdict, ctx: &Context) -> Option<IncidentChange> {
        let explained_by = if now == State::Unreachable {
            ctx.parent_down.clone()
        } else {
            None
        };
        if now.is_problem() {
            if !self.incident_open {
                self.incident_open = true;
                self.incident_worst = Some(now);
                self.explained_by = explained_by.clone();
                return Some(IncidentChange::Opened {
                    started_at: self.problem_started_at.unwrap_or(v.at),
                    detected_at: v.at,
                    state: now,
                    explained_by,
                });
            }
            let worst = match self.incident_worst {
                Some(w) if w.severity() <= now.severity() => w,
                _ => now,
            };
            if Some(worst) != self.incident_worst || explained_by != self.explained_by {
                self.incident_worst = Some(worst);
                self.explained_by = explained_by.clone();
                return Some(IncidentChange::Updated {
                    worst,
                    explained_by,
                });
            }
            None
        } else if now == State::Up && self.incident_open {
            self.incident_open = false;
            self.incident_worst = None;
            self.explained_by = None;
            if self.clean_started_at.is_none() {
                // Closed by a degraded answer: should the degradation go on to open an incident
                // of its own, that one starts here, never inside the one just closed.
                self.problem_started_at = Some(v.at);
            }
            // UP comes on a clean result (the clean run has begun), or from UNKNOWN or
            // MAINTENANCE on a degraded one below the threshold: then this answer ends it, as it
            // does for a state restored from before `clean_started_at` existed.
            Some(IncidentChange::Closed {
                ended_at: self.clean_started_at.unwrap_or(v.at),
            })
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
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
}

#[cfg(test)]
mod properties {
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
}
