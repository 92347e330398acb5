//! Heartbeat probe (passive, like healthchecks.io): a site behind NAT or a generator controller
//! pushes `POST /api/v1/push/{target}` with its token; the probe only reads the last push from
//! the shared registry. No push within `period + grace` fails the `push_age` check, a push with
//! status `fail` fails the `push_status` check.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::keys::{Key, Resolve};
use super::snmp::{DEFAULT_RUNWAY_WARN, UpsFacts};
use super::vocab::{KindVocab, Metric, TextFact};
use super::{Observation, Run};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatSpec {
    /// The target id: pushes are filed under it.
    pub target: String,
    /// The token the pushing site must present (Bearer header or `?token=`).
    pub token: String,
    /// How often the site pushes.
    pub period: Duration,
    /// Extra time allowed after a missed period before the target fails.
    pub grace: Duration,
}

impl HeartbeatSpec {
    /// The longest silence that is still healthy.
    pub fn allowed_silence(&self) -> Duration {
        self.period + self.grace
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushStatus {
    Ok,
    Fail,
}

impl PushStatus {
    pub fn parse(s: &str) -> Option<PushStatus> {
        match s.to_ascii_lowercase().as_str() {
            "ok" | "up" | "success" => Some(PushStatus::Ok),
            "fail" | "down" | "failure" | "error" => Some(PushStatus::Fail),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PushStatus::Ok => "ok",
            PushStatus::Fail => "fail",
        }
    }
}

/// One push as received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Push {
    pub at: DateTime<Utc>,
    pub status: PushStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the site said of its battery, when it said anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery: Option<PushBattery>,
}

/// `{"on_battery": true, "battery_minutes": 42}` in a push: a site on the mobile network
/// reporting its own power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PushBattery {
    pub on_battery: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
}

/// The last push of every heartbeat target, shared by the web layer (writer) and the prober
/// (reader). Cloning is cheap; clones share the same map.
#[derive(Debug, Clone)]
pub struct HeartbeatRegistry {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Debug)]
struct Inner {
    /// When the registry was created: a target that never pushed is judged from here.
    since: DateTime<Utc>,
    last: HashMap<String, (Push, u64)>,
}

impl Default for HeartbeatRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl HeartbeatRegistry {
    pub fn new() -> HeartbeatRegistry {
        Self::starting_at(crate::time::now_ms())
    }

    /// A registry whose silence is counted from `since` (tests, restored state).
    pub fn starting_at(since: DateTime<Utc>) -> HeartbeatRegistry {
        HeartbeatRegistry {
            inner: Arc::new(RwLock::new(Inner {
                since,
                last: HashMap::new(),
            })),
        }
    }

    /// Records a push for `target`; returns how many pushes it has made.
    pub fn record(&self, target: &str, push: Push) -> u64 {
        // A poisoned lock means a panic between two assignments; the map is whole.
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let count = g.last.get(target).map_or(0, |(_, n)| *n) + 1;
        g.last.insert(target.to_string(), (push, count));
        count
    }

    /// Puts back a push kept in the store (at start, before any probe runs).
    pub fn restore(&self, target: &str, push: Push, count: u64) {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        g.last.insert(target.to_string(), (push, count));
    }

    /// The last push for `target` and how many pushes arrived (kept across restarts).
    pub fn last(&self, target: &str) -> Option<(Push, u64)> {
        let g = self.inner.read().unwrap_or_else(|p| p.into_inner());
        g.last.get(target).cloned()
    }

    fn since(&self) -> DateTime<Utc> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).since
    }
}

/// What the registry says about a heartbeat target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeartbeatFacts {
    /// The last push, if any arrived since commwatch started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<Push>,
    /// Time since the last push (or since start, when none arrived).
    #[serde(with = "super::observation::secs")]
    pub age: Duration,
    pub pushes: u64,
    #[serde(with = "super::observation::secs")]
    pub allowed_silence: Duration,
    /// The power the last push reported, and the runway it forecasts now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub power: Option<UpsFacts>,
}

impl HeartbeatFacts {
    /// For people (`commwatch probe`): the last push, its age, and the silence allowed.
    pub(super) fn describe(&self, line: &mut dyn FnMut(&str, String)) {
        let ms = |d: Duration| crate::time::fmt_secs(d.as_secs_f64());
        match &self.last {
            Some(p) => {
                line(
                    "last push",
                    format!(
                        "{} ({} ago), status {}",
                        crate::time::local_datetime(p.at),
                        ms(self.age),
                        p.status.as_str()
                    ),
                );
                if let Some(m) = &p.message {
                    line("message", m.clone());
                }
            }
            None => line(
                "last push",
                format!("none since start ({} ago)", ms(self.age)),
            ),
        }
        line("pushes", self.pushes.to_string());
        if let Some(p) = &self.power {
            line("power", p.summary.clone());
        }
        line(
            "allowed",
            format!("{} of silence", ms(self.allowed_silence)),
        );
    }
}

pub(super) fn probe(spec: &HeartbeatSpec, registry: &HeartbeatRegistry, run: &Run) -> Observation {
    let mut obs = run.observation();
    let now = run.started_at;
    let last = registry.last(&spec.target);
    let from = last
        .as_ref()
        .map_or_else(|| registry.since(), |(p, _)| p.at);
    let age = (now - from).to_std().unwrap_or(Duration::ZERO);
    let power = last
        .as_ref()
        .and_then(|(p, _)| p.battery)
        .map(|b| UpsFacts::from_push(b.on_battery, b.minutes, age));
    obs.facts.heartbeat = Some(HeartbeatFacts {
        power,
        pushes: last.as_ref().map_or(0, |(_, n)| *n),
        last: last.map(|(p, _)| p),
        age,
        allowed_silence: spec.allowed_silence(),
    });
    obs
}

// The heartbeat kind's config keys and check vocabulary.

/// What the heartbeat kind tells the config and check layers about itself.
pub const VOCAB: KindVocab = KindVocab {
    name: "heartbeat",
    keys: KEYS,
    metrics: METRICS,
    texts: TEXTS,
};

/// The keys a heartbeat target may set.
pub const KEYS: &[Key] = &[Key::Token, Key::Period, Key::Grace, Key::RunwayWarn];
/// The numbers checks may read on a heartbeat target.
pub const METRICS: &[Metric] = &[Metric::Latency, Metric::PushAge, Metric::Runway];
/// What checks may compare as words on a heartbeat target.
pub const TEXTS: &[TextFact] = &[TextFact::PushStatus, TextFact::Power];

/// Silence allowed past a missed period unless `grace` says otherwise.
const DEFAULT_GRACE: Duration = Duration::from_secs(60);
const MIN_TOKEN_LEN: usize = 16;

/// Resolves a heartbeat target's keys to its spec; `period` and `grace` imply the push checks.
pub(super) fn from_keys(r: &mut Resolve<'_, '_>) -> Option<HeartbeatSpec> {
    let k = r.keys;
    let token = r.need("heartbeat", "a `token` (16+ characters)", k.token);
    if let Some(t) = token
        && (t.len() < MIN_TOKEN_LEN || t.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        r.err(
            Key::Token,
            format!("must be at least {MIN_TOKEN_LEN} characters without spaces"),
        );
    }
    let Some(period) = k.period else {
        r.sink.err(
            "kind",
            "kind `heartbeat` needs `period` (how often the site pushes, e.g. \"5m\")".into(),
        );
        return None;
    };
    if period < Duration::from_secs(1) {
        r.err(Key::Period, "must be at least 1s");
    }
    let grace = k.grace.unwrap_or(DEFAULT_GRACE);
    let silence = crate::time::fmt_secs((period + grace).as_secs_f64());
    r.implied(Key::Period, &format!("push_age <= {silence}"));
    r.implied(Key::Period, "push_status == ok");
    // A site that reports its battery drives the same runway as a UPS: on battery it is
    // DEGRADED with "on battery, ~N min left", warning below `runway_warn`. Sites that never
    // report a battery are not judged by these (the facts are absent).
    let warn = k.runway_warn.unwrap_or(DEFAULT_RUNWAY_WARN);
    r.implied(Key::Period, "power != off");
    r.implied_degraded(Key::Period, "power == mains");
    r.implied_degraded(Key::RunwayWarn, &format!("runway >= {}s", warn.as_secs()));
    Some(HeartbeatSpec {
        target: r.id.to_string(),
        token: token?.to_string(),
        period,
        grace,
    })
}
