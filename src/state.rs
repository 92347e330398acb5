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
mod tests;

#[cfg(test)]
mod properties;
