//! The per-target state machine: pure, no I/O, so every rule is unit-tested. Consecutive-result
//! thresholds keep one lost packet from paging anyone and one good answer from closing an outage.

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
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change of state, emitted when a threshold is crossed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub at: DateTime<Utc>,
}

/// Thresholds applied to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failures before an UP target goes DOWN.
    pub failure: u32,
    /// Consecutive successes before a DOWN target comes back UP.
    pub success: u32,
}

/// The evolving state of one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    pub state: State,
    /// When the current state began.
    pub since: DateTime<Utc>,
    pub consecutive_ok: u32,
    pub consecutive_fail: u32,
}

impl TargetState {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            state: State::Unknown,
            since: now,
            consecutive_ok: 0,
            consecutive_fail: 0,
        }
    }

    /// Feeds one result; returns the transition if a threshold was crossed.
    pub fn observe(&mut self, ok: bool, at: DateTime<Utc>, th: Thresholds) -> Option<Transition> {
        if ok {
            self.consecutive_ok = self.consecutive_ok.saturating_add(1);
            self.consecutive_fail = 0;
        } else {
            self.consecutive_fail = self.consecutive_fail.saturating_add(1);
            self.consecutive_ok = 0;
        }
        let next = match self.state {
            // With no history, the first good answer is enough to call it up; a failure still
            // needs the full threshold so a restart during a blip does not page anyone.
            State::Unknown if ok => Some(State::Up),
            State::Up | State::Degraded | State::Unknown
                if !ok && self.consecutive_fail >= th.failure =>
            {
                Some(State::Down)
            }
            State::Down | State::Unreachable if ok && self.consecutive_ok >= th.success => {
                Some(State::Up)
            }
            _ => None,
        }?;
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

    #[test]
    fn first_success_brings_unknown_up() {
        let mut st = TargetState::new(t(0));
        let tr = st.observe(true, t(1), TH).unwrap();
        assert_eq!((tr.from, tr.to), (State::Unknown, State::Up));
        assert_eq!(st.since, t(1));
    }

    #[test]
    fn failures_below_threshold_keep_it_up() {
        let mut st = TargetState::new(t(0));
        st.observe(true, t(1), TH);
        assert!(st.observe(false, t(2), TH).is_none());
        assert!(st.observe(false, t(3), TH).is_none());
        assert!(st.observe(true, t(4), TH).is_none());
        assert!(st.observe(false, t(5), TH).is_none());
        assert!(st.observe(false, t(6), TH).is_none());
        assert_eq!(st.state, State::Up);
        let tr = st.observe(false, t(7), TH).unwrap();
        assert_eq!((tr.from, tr.to, tr.at), (State::Up, State::Down, t(7)));
    }

    #[test]
    fn recovery_needs_success_threshold() {
        let mut st = TargetState::new(t(0));
        for i in 1..=3 {
            st.observe(false, t(i), TH);
        }
        assert_eq!(st.state, State::Down);
        assert!(st.observe(true, t(4), TH).is_none());
        assert!(st.observe(false, t(5), TH).is_none());
        assert!(st.observe(true, t(6), TH).is_none());
        let tr = st.observe(true, t(7), TH).unwrap();
        assert_eq!((tr.from, tr.to), (State::Down, State::Up));
    }

    #[test]
    fn unknown_goes_down_only_after_threshold() {
        let mut st = TargetState::new(t(0));
        assert!(st.observe(false, t(1), TH).is_none());
        assert!(st.observe(false, t(2), TH).is_none());
        assert_eq!(st.state, State::Unknown);
        assert_eq!(st.observe(false, t(3), TH).map(|x| x.to), Some(State::Down));
    }

    #[test]
    fn state_names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
    }
}
