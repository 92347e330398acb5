//! Drills: a province's communications exercise, from start to after-action report.
//!
//! A drill has a name, a scenario, a scope (label selector), the people in charge and a planned
//! window. While it runs, targets in scope are probed at the drill interval, and their samples,
//! incidents and alerts carry the drill id. Drills live in the store, so one survives a restart,
//! and a drill left running ends at its planned end. [`Drills`] is the in-memory view of the
//! running ones that the scheduler, engine and alerting read; [`service`] changes it.

pub mod client;
pub mod db;
pub mod report;
pub mod service;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::Target;
use crate::config::drills::Scope;

/// A drill as the API shows it and the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drill {
    pub id: i64,
    pub name: String,
    pub scenario: String,
    /// Label -> allowed values; empty covers every target.
    pub scope: BTreeMap<String, Vec<String>>,
    pub leaders: Vec<String>,
    /// Probing interval of targets in scope while the drill runs.
    pub interval_seconds: Option<f64>,
    /// Length of the comparison window before the start.
    pub baseline_seconds: f64,
    pub planned_start: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `stopped` or `planned_end`.
    pub end_reason: Option<String>,
    pub started_by: String,
    pub stopped_by: Option<String>,
    /// Targets covered when the drill started.
    pub targets: usize,
    /// Set for drills planned in the configuration.
    pub schedule_key: Option<String>,
}

impl Drill {
    pub fn running(&self) -> bool {
        self.ended_at.is_none()
    }

    /// The end used for reports: the actual end, or `now` while running.
    pub fn end_or(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.ended_at.unwrap_or(now)
    }
}

/// A timeline note written by an officer during (or after) a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: i64,
    pub drill_id: i64,
    /// When the noted event happened.
    pub at: DateTime<Utc>,
    pub author: String,
    pub text: String,
    /// Targets this note says were failed on purpose (an injected fault); empty otherwise.
    pub expected_targets: Vec<String>,
    /// When the injected fault was expected to end.
    pub expected_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A drill being started: from the API, the CLI, or a `[[drills]]` entry.
#[derive(Debug, Clone)]
pub struct NewDrill {
    pub name: String,
    pub scenario: String,
    pub scope: Scope,
    pub leaders: Vec<String>,
    pub interval: Duration,
    pub duration: Duration,
    pub baseline: Duration,
    /// The planned start for configured drills; ad-hoc drills start now.
    pub planned_start: Option<DateTime<Utc>>,
    pub schedule_key: Option<String>,
}

/// A note being added.
#[derive(Debug, Clone)]
pub struct NewNote {
    pub at: DateTime<Utc>,
    pub author: String,
    pub text: String,
    pub expected_targets: Vec<String>,
    pub expected_until: Option<DateTime<Utc>>,
}

/// What the scheduler, engine and alerting need to know about a running drill.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningDrill {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    pub interval: Duration,
    pub started_at: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
}

impl RunningDrill {
    pub fn from_drill(d: &Drill) -> Option<RunningDrill> {
        let scope = Scope::from_map(&d.scope).ok()?;
        Some(RunningDrill {
            id: d.id,
            name: d.name.clone(),
            scope,
            interval: Duration::from_secs_f64(
                d.interval_seconds
                    .unwrap_or(crate::config::drills::DEFAULT_DRILL_INTERVAL.as_secs_f64()),
            ),
            started_at: d.started_at,
            planned_end: d.planned_end,
        })
    }
}

/// The running drills, shared by everyone who reads them; cheap to clone.
///
/// A `watch` channel rather than a lock: target tasks in the scheduler wait on it, so a drill
/// starting or ending changes their pace at once instead of at their next run.
#[derive(Clone)]
pub struct Drills {
    tx: Arc<watch::Sender<Arc<[RunningDrill]>>>,
    /// Serialises start/stop so two requests cannot both pass the overlap check.
    pub(crate) lifecycle: Arc<tokio::sync::Mutex<()>>,
}

impl Default for Drills {
    fn default() -> Self {
        Drills {
            tx: Arc::new(watch::channel(Arc::from(Vec::new())).0),
            lifecycle: Arc::default(),
        }
    }
}

impl std::fmt::Debug for Drills {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.running().iter()).finish()
    }
}

impl Drills {
    /// The drills running now.
    pub fn running(&self) -> Arc<[RunningDrill]> {
        self.tx.borrow().clone()
    }

    /// Id of the running drill covering this target; allocation-free when no drill runs.
    pub fn covering_id(&self, t: &Target) -> Option<i64> {
        covering(&self.tx.borrow(), t).map(|d| d.id)
    }

    /// Waits for changes (the scheduler's target tasks).
    pub fn subscribe(&self) -> watch::Receiver<Arc<[RunningDrill]>> {
        self.tx.subscribe()
    }

    pub(crate) fn set(&self, list: Vec<RunningDrill>) {
        self.tx.send_replace(Arc::from(list));
    }
}

/// How often a target is probed right now: its drill's interval while a drill covers it (never
/// slower than the target's own), else its own interval.
pub fn effective_interval(t: &Target, running: &[RunningDrill]) -> Duration {
    covering(running, t).map_or(t.interval, |d| d.interval.min(t.interval))
}

/// The running drill whose scope holds the target. Scopes of running drills never share a
/// target (starting an overlapping drill is refused), so there is at most one.
fn covering<'a>(running: &'a [RunningDrill], t: &Target) -> Option<&'a RunningDrill> {
    running.iter().find(|d| d.scope.matches(t))
}
