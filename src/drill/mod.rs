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
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

pub use crate::shared::drills::{Drills, RunningDrill, effective_interval};

/// The running view of a stored drill; `None` when its stored scope no longer parses.
pub fn running_view(d: &Drill) -> Option<RunningDrill> {
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
