//! The after-action report of a drill, computed from the store: availability per operator,
//! service, commune and target against a baseline before the drill, every outage with its
//! detection, alert delivery, acknowledgement and restoration times, the injected faults from
//! the notes checked against what was observed, and one timeline.
//!
//! # Definitions (the HTML, CSV and JSON all show these same numbers)
//!
//! - **Drill window**: from the drill's start to its end (or to `now` while it runs).
//! - **Outage**: an incident whose worst state was DOWN or UNREACHABLE (the service was lost,
//!   whether on its own or because a parent such as a power zone failed). Incidents that only
//!   ever reached DEGRADED are listed too and their time is reported as degraded time, but they
//!   are not downtime: the service still answered.
//! - **Downtime** of a target: the sum over its outages of the time from the incident's start
//!   (its first failed probe) to its end (the first good probe of the recovery; `now` or the
//!   window's end while still open), clipped to the window. Thresholds delay *detection*, not
//!   the start, so a confirmed outage counts from its first failure; a single failed probe that
//!   never crossed the threshold is not an outage and is not downtime. The error is at most
//!   one probe interval at each end.
//! - **Availability** of a target: `1 − downtime / window`. It is `None` ("no data") when the
//!   store holds no sample of the target in the window (never probed: nothing is known). Of a
//!   group (operator, service, commune, the whole drill): `1 − Σ downtime / Σ window` over its
//!   targets with data, i.e. the mean of their availabilities.
//! - **Probe counts** (`samples`, `samples_ok`) are informational and come from minute
//!   rollups, so their edges are whole minutes: they end at the last whole minute before the
//!   end of a finished drill (and before the drill's start for the baseline), which keeps a
//!   finished report the same however late it is read.
//! - **Baseline**: the same computation over `baseline` before the drill's start, per target
//!   from its first rollup bucket with data in that window (a monitor installed three days ago
//!   has a three-day baseline, not seven days of imagined uptime). Probe counts come from the
//!   rollups, so a report never scans raw samples.
//! - **Detection time**: `detected_at − started_at` of an incident (first failed probe → the
//!   state change to DOWN/DEGRADED/UNREACHABLE, i.e. the failure threshold).
//! - **Alert delivery time** per receiver: the first outbox message to that receiver that names
//!   the target as firing for this outage (by its start), or names it among the targets a firing
//!   parent explains; the time is `delivered_at − started_at` and `delivered_at − detected_at`.
//!   A message still pending or dead-lettered is listed with its status and no time.
//! - **Acknowledgement time**: first acknowledgement − `detected_at` (nobody can take an
//!   incident before it is detected).
//! - **Restoration time**: `ended_at − started_at`, the whole outage, even where it extends past
//!   the window.
//! - **Expected fault** (a note's `expected_targets`): detected when an incident of that target
//!   starts at or after `note.at − one probe interval` (the fault may have been injected just
//!   before the note was written) and before the note's `expected_until` (or the window's end);
//!   its detection time is `detected_at − note.at`, negative when the note was written late.
//!
//! # Layout
//!
//! [`report`] runs the steps in order: `scope` (the windows and what is known about each
//! target), `targets` (per-target availability), `outages` (incidents in the window and
//! the alerts about them), `expected` (faults from the notes), `timeline`, and
//! `summary` (groups and totals); `read` holds the store queries they use.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Drill, Note, db};
use crate::config::Target;
use crate::state::State;
use crate::store::sql::{Sql, SqlError};

mod expected;
mod outages;
mod read;
mod scope;
mod summary;
mod targets;
mod timeline;

/// A span of time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub seconds: f64,
}

/// Availability of one target or a group over one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// `1 − downtime / window`; `None` when no target had data.
    pub availability: Option<f64>,
    /// Time with data (a target's window, or the sum over a group's targets).
    pub window_seconds: f64,
    pub downtime_seconds: f64,
    /// Outages (DOWN or UNREACHABLE incidents) overlapping the window.
    pub outages: u32,
    pub degraded_seconds: f64,
    /// Incidents that only reached DEGRADED.
    pub degradations: u32,
    /// Probes in the window, from rollups (minute precision at the edges).
    pub samples: u64,
    pub samples_ok: u64,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.window_seconds += o.window_seconds;
        self.downtime_seconds += o.downtime_seconds;
        self.outages += o.outages;
        self.degraded_seconds += o.degraded_seconds;
        self.degradations += o.degradations;
        self.samples += o.samples;
        self.samples_ok += o.samples_ok;
    }

    /// Availability of a sum: only targets with data contribute a window.
    fn finish(mut self) -> Stats {
        self.availability = (self.window_seconds > 0.0)
            .then(|| (1.0 - self.downtime_seconds / self.window_seconds).clamp(0.0, 1.0));
        self
    }
}

/// One target in scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetRow {
    pub id: String,
    pub name: String,
    pub operator: String,
    pub service: String,
    pub province: String,
    pub commune: String,
    /// Probing interval while the drill ran.
    pub interval_seconds: f64,
    pub drill: Stats,
    pub baseline: Stats,
}

/// An operator, service or commune.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRow {
    /// The label value ("" for targets without one).
    pub key: String,
    /// For communes: the province (commune names repeat across provinces).
    pub province: Option<String>,
    pub targets: usize,
    pub drill: Stats,
    pub baseline: Stats,
    /// Drill availability minus baseline availability (negative = worse during the drill).
    pub change: Option<f64>,
}

/// The group that fared worst.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Worst {
    pub key: String,
    pub province: Option<String>,
    pub availability: Option<f64>,
    pub downtime_seconds: f64,
}

/// Median and maximum of a set of durations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spread {
    pub count: usize,
    pub median_seconds: Option<f64>,
    pub max_seconds: Option<f64>,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        };
        Spread {
            count: n,
            median_seconds: median,
            max_seconds: v.last().copied(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub duration_seconds: f64,
    pub targets: usize,
    pub targets_with_data: usize,
    pub targets_with_outages: usize,
    pub drill: Stats,
    pub baseline: Stats,
    pub change: Option<f64>,
    /// `None` when no operator (commune) had any downtime.
    pub worst_operator: Option<Worst>,
    pub worst_commune: Option<Worst>,
    /// Over outages in the window.
    pub detection: Spread,
    /// First delivered alert per outage, from the outage's start.
    pub alert_delivery: Spread,
    pub acknowledgement: Spread,
    /// Over outages that ended.
    pub restoration: Spread,
    pub expected_faults: usize,
    pub expected_detected: usize,
}

/// An alert about one outage to one receiver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub receiver: String,
    /// Outbox status of the message: delivered | pending | dead.
    pub status: String,
    /// Set when the message named this target only as explained by a failing parent.
    pub via: Option<String>,
    pub outbox_id: i64,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub attempts: u32,
    pub since_start_seconds: Option<f64>,
    pub since_detection_seconds: Option<f64>,
    /// When the "restored" message reached this receiver.
    pub resolved_delivered_at: Option<DateTime<Utc>>,
}

/// An incident of an in-scope target overlapping the drill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    pub incident_id: i64,
    pub target: String,
    pub name: String,
    pub operator: String,
    pub service: String,
    pub province: String,
    pub commune: String,
    pub first_state: State,
    pub worst_state: State,
    /// DOWN or UNREACHABLE: counted as downtime.
    pub counts_as_downtime: bool,
    pub started_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub detection_seconds: f64,
    pub ended_at: Option<DateTime<Utc>>,
    pub restoration_seconds: Option<f64>,
    /// Part of the incident inside the drill window.
    pub in_window_seconds: f64,
    pub cause: Option<String>,
    pub explained_by: Option<String>,
    /// Opened while this drill covered the target.
    pub drill_tagged: bool,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub ack_seconds: Option<f64>,
    pub deliveries: Vec<Delivery>,
}

/// A fault a note said was injected, and what was observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectedFault {
    pub note_id: i64,
    pub note_at: DateTime<Utc>,
    pub author: String,
    pub target: String,
    pub name: String,
    pub expected_until: Option<DateTime<Utc>>,
    pub detected: bool,
    pub incident_id: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub detected_at: Option<DateTime<Utc>>,
    /// `detected_at − note.at`.
    pub detection_seconds: Option<f64>,
    pub ended_at: Option<DateTime<Utc>>,
}

/// What a timeline line records; the order is the tie-break between lines at the same time,
/// and the index into the pages' words for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    DrillStarted,
    Note,
    IncidentStarted,
    Detected,
    Worsened,
    AlertDelivered,
    AlertPending,
    AlertFailed,
    Acknowledged,
    Restored,
    DrillEnded,
}

impl TimelineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::DrillStarted => "drill_started",
            TimelineKind::Note => "note",
            TimelineKind::IncidentStarted => "incident_started",
            TimelineKind::Detected => "detected",
            TimelineKind::Worsened => "worsened",
            TimelineKind::AlertDelivered => "alert_delivered",
            TimelineKind::AlertPending => "alert_pending",
            TimelineKind::AlertFailed => "alert_failed",
            TimelineKind::Acknowledged => "acknowledged",
            TimelineKind::Restored => "restored",
            TimelineKind::DrillEnded => "drill_ended",
        }
    }
}

/// One line of the timeline: state changes, alerts and notes together, in time order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    pub target: Option<String>,
    pub name: Option<String>,
    pub state: Option<State>,
    pub receiver: Option<String>,
    pub author: Option<String>,
    /// Note text, message title, cause or acknowledgement comment.
    pub text: Option<String>,
    pub incident_id: Option<i64>,
}

impl TimelineEntry {
    fn new(at: DateTime<Utc>, kind: TimelineKind) -> TimelineEntry {
        TimelineEntry {
            at,
            kind,
            target: None,
            name: None,
            state: None,
            receiver: None,
            author: None,
            text: None,
            incident_id: None,
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub drill: Drill,
    pub generated_at: DateTime<Utc>,
    pub running: bool,
    pub window: Window,
    pub baseline_window: Window,
    pub summary: Summary,
    pub by_operator: Vec<GroupRow>,
    pub by_service: Vec<GroupRow>,
    pub by_commune: Vec<GroupRow>,
    pub targets: Vec<TargetRow>,
    pub outages: Vec<Outage>,
    pub expected_faults: Vec<ExpectedFault>,
    pub timeline: Vec<TimelineEntry>,
    pub notes: Vec<Note>,
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1_000.0
}

/// Computes the report of drill `drill_id` as of `now`; `None` when there is no such drill.
/// `targets` (the configuration) supplies names, labels and intervals.
pub fn report(
    c: &mut dyn Sql,
    drill_id: i64,
    now: DateTime<Utc>,
    targets: &[Arc<Target>],
) -> Result<Option<Report>, SqlError> {
    let Some(drill) = db::get(c, drill_id)? else {
        return Ok(None);
    };
    let notes = db::notes(c, drill_id)?;
    let in_scope = db::targets(c, drill_id)?;
    let scope = scope::Scope::new(c, &drill, now, targets)?;
    let incs = scope.incidents(c, &in_scope, &notes)?;
    let rows = targets::rows(c, &scope, &in_scope, &incs, drill.running())?;

    let in_window = outages::InWindow::new(&scope, &in_scope, &incs);
    let (lo, hi) = in_window.message_span(&scope);
    let msgs = read::messages(c, lo, hi)?;
    let acks = read::first_acks(c, &in_window.ids())?;
    let matches = outages::match_messages(&msgs, &in_window, &in_scope);
    let outages = outages::rows(&scope, drill_id, &in_window, &matches, &acks);
    let worsenings = read::worsenings(c, drill_id)?;

    let expected = expected::faults(&scope, &notes, &incs);
    let timeline = timeline::build(timeline::Sources {
        drill: &drill,
        notes: &notes,
        scope: &scope,
        incs: &in_window,
        matches: &matches,
        acks: &acks,
        worsenings,
    });
    let groups = summary::Groups::of(&rows);
    let summary = summary::summary(scope.to - scope.from, &rows, &groups, &outages, &expected);

    Ok(Some(Report {
        running: drill.running(),
        generated_at: now,
        window: scope.window(),
        baseline_window: scope.baseline_window(),
        drill,
        summary,
        by_operator: groups.by_operator,
        by_service: groups.by_service,
        by_commune: groups.by_commune,
        targets: rows,
        outages,
        expected_faults: expected,
        timeline,
        notes,
    }))
}

/// Computes a report on the store's read connection.
pub async fn load(
    state: &crate::shared::AppState,
    drill_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<Report>, crate::store::StoreError> {
    let cfg = state.config();
    state
        .store
        .query(move |c| report(c, drill_id, now, &cfg.targets))
        .await
}
