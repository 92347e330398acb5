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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Drill, Note, db};
use crate::alerting::model::{Notification, Status};
use crate::config::Target;
use crate::state::State;
use crate::store::rollup::Resolution;
use crate::store::{availability_by_target, from_ms, ms};

/// Messages created this long after the drill's end still count (restoration notices and
/// retries of messages about the drill).
const DELIVERY_GRACE_MS: i64 = 86_400_000;

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

/// An incident row as the report reads it.
#[derive(Debug, Clone)]
struct Inc {
    id: i64,
    start: i64,
    detected: i64,
    end: Option<i64>,
    first: State,
    worst: State,
    cause: Option<String>,
    explained_by: Option<String>,
    drill: Option<i64>,
}

impl Inc {
    fn is_outage(&self) -> bool {
        matches!(self.worst, State::Down | State::Unreachable)
    }

    /// Milliseconds of this incident inside `[from, to)`; open incidents run to `to`.
    fn overlap(&self, from: i64, to: i64) -> i64 {
        let end = self.end.unwrap_or(i64::MAX).min(to);
        (end - self.start.max(from)).max(0)
    }

    fn overlaps(&self, from: i64, to: i64) -> bool {
        self.start < to && self.end.is_none_or(|e| e > from)
    }

    fn contains(&self, t: i64) -> bool {
        self.start <= t && self.end.is_none_or(|e| t <= e)
    }
}

fn secs(ms: i64) -> f64 {
    ms as f64 / 1_000.0
}

/// What the configuration says about a target (labels, name, interval); targets removed from
/// the configuration since the drill keep their id as name and no labels.
struct Info<'a> {
    target: Option<&'a Target>,
}

impl Info<'_> {
    fn name(&self, id: &str) -> String {
        self.target
            .map_or_else(|| id.to_string(), |t| t.name.clone())
    }
    fn label(&self, f: impl Fn(&crate::config::Labels) -> &String) -> String {
        self.target
            .map(|t| f(&t.labels).clone())
            .unwrap_or_default()
    }
}

fn state_of(s: String) -> State {
    State::parse(&s).unwrap_or(State::Down)
}

/// Incidents of one target overlapping `[from, to)`, oldest first.
fn incidents(c: &Connection, target_id: i64, from: i64, to: i64) -> rusqlite::Result<Vec<Inc>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, started_at_ms, detected_at_ms, ended_at_ms, first_state, worst_state,
                cause_error, cause_detail, explained_by, drill_id
         FROM incidents WHERE target_id = ?1 AND started_at_ms < ?3
             AND (ended_at_ms IS NULL OR ended_at_ms > ?2)
         ORDER BY started_at_ms, id",
    )?;
    let rows = stmt.query_map(params![target_id, from, to], |r| {
        let error: Option<String> = r.get(6)?;
        let detail: Option<String> = r.get(7)?;
        Ok(Inc {
            id: r.get(0)?,
            start: r.get(1)?,
            detected: r.get(2)?,
            end: r.get(3)?,
            first: state_of(r.get(4)?),
            worst: state_of(r.get(5)?),
            cause: detail.or(error),
            explained_by: r.get(8)?,
            drill: r.get(9)?,
        })
    })?;
    rows.collect()
}

/// Start of the first rollup bucket with data for a target in `[from, to)`: minute rollups,
/// then hour rollups where minute ones were pruned.
fn first_data(c: &Connection, target_id: i64, from: i64, to: i64) -> rusqlite::Result<Option<i64>> {
    for res in [Resolution::Minute, Resolution::Hour] {
        let sql = format!(
            "SELECT bucket_ms FROM {} WHERE target_id = ?1 AND bucket_ms >= ?2 AND bucket_ms < ?3
             ORDER BY bucket_ms LIMIT 1",
            res.table()
        );
        let found: Option<i64> = c
            .prepare_cached(&sql)?
            .query_row(params![target_id, res.floor(from), to], |r| r.get(0))
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Whether the store holds a raw sample of the target in `[from, to)` (an index seek).
fn any_sample(c: &Connection, target_id: i64, from: i64, to: i64) -> rusqlite::Result<bool> {
    c.prepare_cached(
        "SELECT 1 FROM samples WHERE target_id = ?1 AND at_ms >= ?2 AND at_ms < ?3 LIMIT 1",
    )?
    .query_row(params![target_id, from, to], |_| Ok(()))
    .optional()
    .map(|r| r.is_some())
}

/// Downtime, outages and degraded time of one target's incidents over `[from, to)`; the window
/// counts only when the target has data in it.
fn stats(incs: &[Inc], from: i64, to: i64, samples: (u64, u64), has_data: bool) -> Stats {
    let mut s = Stats {
        samples: samples.0,
        samples_ok: samples.1,
        ..Stats::default()
    };
    if to <= from {
        return s;
    }
    for i in incs.iter().filter(|i| i.overlaps(from, to)) {
        let o = secs(i.overlap(from, to));
        if i.is_outage() {
            s.downtime_seconds += o;
            s.outages += 1;
        } else {
            s.degraded_seconds += o;
            s.degradations += 1;
        }
    }
    let window = secs(to - from);
    // Incidents of one target never overlap, but a clock step could make them; never report
    // more downtime than time.
    s.downtime_seconds = s.downtime_seconds.min(window);
    if has_data || s.samples > 0 || s.downtime_seconds > 0.0 {
        s.window_seconds = window;
    }
    s.finish()
}

fn change(drill: &Stats, baseline: &Stats) -> Option<f64> {
    Some(drill.availability? - baseline.availability?)
}

fn group_rows(
    rows: &[TargetRow],
    key: impl Fn(&TargetRow) -> (String, Option<String>),
) -> Vec<GroupRow> {
    let mut groups: BTreeMap<(String, Option<String>), GroupRow> = BTreeMap::new();
    for r in rows {
        let (k, p) = key(r);
        let g = groups
            .entry((k.clone(), p.clone()))
            .or_insert_with(|| GroupRow {
                key: k,
                province: p,
                targets: 0,
                drill: Stats::default(),
                baseline: Stats::default(),
                change: None,
            });
        g.targets += 1;
        g.drill.add(&r.drill);
        g.baseline.add(&r.baseline);
    }
    let mut out: Vec<GroupRow> = groups
        .into_values()
        .map(|mut g| {
            g.drill = g.drill.finish();
            g.baseline = g.baseline.finish();
            g.change = change(&g.drill, &g.baseline);
            g
        })
        .collect();
    // Worst first: the order a drill leader reads them in.
    out.sort_by(|a, b| {
        let av = |g: &GroupRow| g.drill.availability.unwrap_or(f64::INFINITY);
        av(a)
            .total_cmp(&av(b))
            .then(
                b.drill
                    .downtime_seconds
                    .total_cmp(&a.drill.downtime_seconds),
            )
            .then(a.key.cmp(&b.key))
            .then(a.province.cmp(&b.province))
    });
    out
}

fn worst(groups: &[GroupRow]) -> Option<Worst> {
    groups
        .first()
        .filter(|g| g.drill.downtime_seconds > 0.0)
        .map(|g| Worst {
            key: g.key.clone(),
            province: g.province.clone(),
            availability: g.drill.availability,
            downtime_seconds: g.drill.downtime_seconds,
        })
}

/// One outbox message, parsed.
struct Message {
    id: i64,
    receiver: String,
    status: String,
    created: i64,
    delivered: Option<i64>,
    attempts: u32,
    n: Notification,
}

fn messages(c: &Connection, from: i64, to: i64) -> rusqlite::Result<Vec<Message>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, receiver, status, created_at_ms, delivered_at_ms, attempts, notification
         FROM outbox WHERE created_at_ms >= ?1 AND created_at_ms < ?2 ORDER BY created_at_ms, id",
    )?;
    let rows = stmt.query_map(params![from, to], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<i64>>(4)?,
            r.get::<_, u32>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, receiver, status, created, delivered, attempts, json) = row?;
        // A message this commwatch cannot read back (written by a different version) is left
        // out of the report rather than failing it.
        let Ok(n) = serde_json::from_str::<Notification>(&json) else {
            tracing::warn!(
                outbox = id,
                "drill report skips an unreadable outbox message"
            );
            continue;
        };
        out.push(Message {
            id,
            receiver,
            status,
            created,
            delivered,
            attempts,
            n,
        });
    }
    Ok(out)
}

/// Worse states reached during incidents (alert events of kind `firing` without a start: an
/// update), for the timeline.
fn worsenings(c: &Connection, drill_id: i64) -> rusqlite::Result<Vec<(String, State, i64)>> {
    let mut stmt = c.prepare_cached(
        "SELECT target, state, at_ms FROM alert_events
         WHERE drill_id = ?1 AND kind = 'firing' AND started_at_ms IS NULL ORDER BY at_ms, id",
    )?;
    let rows = stmt.query_map([drill_id.to_string()], |r| {
        Ok((r.get(0)?, state_of(r.get(1)?), r.get(2)?))
    })?;
    rows.collect()
}

/// First acknowledgement of each incident: (at, author, comment).
fn first_acks(
    c: &Connection,
    ids: &[i64],
) -> rusqlite::Result<HashMap<i64, (i64, String, String)>> {
    let mut out = HashMap::new();
    let mut stmt = c.prepare_cached(
        "SELECT at_ms, author, comment FROM incident_acks WHERE incident_id = ?1
         ORDER BY at_ms, id LIMIT 1",
    )?;
    for id in ids {
        if let Some(a) = stmt
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
        {
            out.insert(*id, a);
        }
    }
    Ok(out)
}

/// Computes the report of drill `drill_id` as of `now`; `None` when there is no such drill.
/// `targets` (the configuration) supplies names, labels and intervals.
pub fn report(
    c: &Connection,
    drill_id: i64,
    now: DateTime<Utc>,
    targets: &[Arc<Target>],
) -> rusqlite::Result<Option<Report>> {
    let Some(drill) = db::get(c, drill_id)? else {
        return Ok(None);
    };
    let notes = db::notes(c, drill_id)?;
    let in_scope = db::targets(c, drill_id)?;
    let from = ms(drill.started_at);
    let to = ms(drill.end_or(now)).max(from);
    let b_to = from;
    let b_from = from - (drill.baseline_seconds * 1_000.0) as i64;
    let drill_interval = drill.interval_seconds;

    let by_id: HashMap<&str, &Target> = targets
        .iter()
        .map(|t| (t.id.as_str(), t.as_ref()))
        .collect();
    let info = |id: &str| Info {
        target: by_id.get(id).copied(),
    };
    let store_ids: HashMap<String, i64> = {
        let mut stmt = c.prepare("SELECT key, id FROM targets")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    // Targets whose incidents matter: those in scope, and any a note expected to fail.
    let mut watched: Vec<String> = in_scope.clone();
    for n in &notes {
        for t in &n.expected_targets {
            if !watched.contains(t) {
                watched.push(t.clone());
            }
        }
    }
    let mut incs: HashMap<String, Vec<Inc>> = HashMap::new();
    for t in &watched {
        if let Some(id) = store_ids.get(t) {
            incs.insert(t.clone(), incidents(c, *id, b_from.min(from), to)?);
        }
    }
    // Probe counts from rollups end at the last whole minute before each window's end, so
    // the probes after a drill (or after its start, for the baseline) never creep into a
    // finished report; while a drill runs they run to now.
    let minute = |t: i64| Resolution::Minute.floor(t);
    let count_to = if drill.running() { to } else { minute(to) };
    let drill_counts = availability_by_target(c, Some(&in_scope), from, count_to)?;
    let base_counts = availability_by_target(c, Some(&in_scope), b_from, minute(b_to))?;
    let none: Vec<Inc> = Vec::new();
    let interval_of = |id: &str| -> f64 {
        let own = by_id.get(id).map(|t| t.interval.as_secs_f64());
        match (own, drill_interval) {
            (Some(o), Some(d)) => o.min(d),
            (o, d) => o.or(d).unwrap_or(60.0),
        }
    };

    // Per target.
    let mut rows = Vec::with_capacity(in_scope.len());
    for id in &in_scope {
        let i = info(id);
        let list = incs.get(id).unwrap_or(&none);
        let counts = |m: &HashMap<String, crate::store::Availability>| {
            m.get(id).map_or((0, 0), |a| (a.count, a.ok))
        };
        let sid = store_ids.get(id).copied();
        let has_data = match sid {
            Some(sid) => any_sample(c, sid, from, to)?,
            None => false,
        };
        let drill_stats = stats(list, from, to, counts(&drill_counts), has_data);
        let base_from = match sid {
            Some(sid) => first_data(c, sid, b_from, minute(b_to))?.map(|f| f.max(b_from)),
            None => None,
        };
        let baseline = match base_from {
            Some(bf) => stats(list, bf, b_to, counts(&base_counts), true),
            None => Stats::default(),
        };
        rows.push(TargetRow {
            id: id.clone(),
            name: i.name(id),
            operator: i.label(|l| &l.operator),
            service: i.label(|l| &l.service),
            province: i.label(|l| &l.province),
            commune: i.label(|l| &l.commune),
            interval_seconds: interval_of(id),
            drill: drill_stats,
            baseline,
        });
    }
    rows.sort_by(|a, b| {
        let av = |r: &TargetRow| r.drill.availability.unwrap_or(f64::INFINITY);
        av(a).total_cmp(&av(b)).then(a.id.cmp(&b.id))
    });

    // Outages with their alerts and acknowledgements.
    let mut outage_incs: Vec<(&String, &Inc)> = in_scope
        .iter()
        .flat_map(|t| {
            incs.get(t)
                .into_iter()
                .flatten()
                .filter(|i| i.overlaps(from, to) || (i.start >= from && i.start <= to))
                .map(move |i| (t, i))
        })
        .collect();
    outage_incs.sort_by_key(|(t, i)| (i.start, i.id, (*t).clone()));
    let lo = outage_incs
        .iter()
        .map(|(_, i)| i.start)
        .min()
        .unwrap_or(from)
        .min(from);
    let msgs = messages(c, lo, to.saturating_add(DELIVERY_GRACE_MS))?;
    let acks = first_acks(
        c,
        &outage_incs.iter().map(|(_, i)| i.id).collect::<Vec<_>>(),
    )?;
    let scope_set: std::collections::HashSet<&str> = in_scope.iter().map(String::as_str).collect();
    let mut by_target: HashMap<&str, Vec<&Inc>> = HashMap::new();
    for (t, i) in &outage_incs {
        by_target.entry(t.as_str()).or_default().push(i);
    }
    let find = |target: &str, pred: &dyn Fn(&Inc) -> bool| -> Option<i64> {
        by_target
            .get(target)?
            .iter()
            .find(|i| pred(i))
            .map(|i| i.id)
    };
    // Incident -> receiver -> (first firing message, the parent it came through).
    type Firing<'m> = HashMap<i64, BTreeMap<String, (&'m Message, Option<String>)>>;
    let mut firing: Firing<'_> = HashMap::new();
    // (incident, receiver) -> when the "restored" message was delivered.
    let mut resolved: HashMap<(i64, String), i64> = HashMap::new();
    let mut timeline = Vec::new();
    for m in &msgs {
        let mut relevant = false;
        for a in &m.n.targets {
            if a.status == Status::Resolved {
                if let Some(end) = a.ended_at.map(ms)
                    && let Some(inc) = find(&a.id, &|i: &Inc| i.end == Some(end))
                {
                    relevant = true;
                    if let Some(d) = m.delivered {
                        resolved.entry((inc, m.receiver.clone())).or_insert(d);
                    }
                }
                continue;
            }
            // Flapping notices carry the flap's time, not the outage's start; they still
            // fall inside the outage, and only the first message per receiver counts.
            let start = ms(a.started_at);
            let mut hits: Vec<(i64, Option<String>)> = Vec::new();
            if let Some(inc) = find(&a.id, &|i: &Inc| i.contains(start)) {
                hits.push((inc, None));
            }
            // The dependants it took down, by id (`explains` holds their names).
            for child in a.explained.iter().map(|e| e.id.as_str()) {
                if let Some(inc) = find(child, &|i: &Inc| i.contains(m.created)) {
                    hits.push((inc, Some(a.id.clone())));
                }
            }
            for (inc, via) in hits {
                relevant = true;
                let slot = firing.entry(inc).or_default().entry(m.receiver.clone());
                slot.and_modify(|(prev, pvia)| {
                    // Prefer the first message that was delivered over an earlier one that
                    // was not (a dead letter followed by a later success).
                    if prev.delivered.is_none() && m.delivered.is_some() {
                        *prev = m;
                        *pvia = via.clone();
                    }
                })
                .or_insert((m, via));
            }
        }
        let about_scope =
            m.n.targets
                .iter()
                .any(|a| scope_set.contains(a.id.as_str()));
        if relevant || about_scope {
            let (kind, at) = match (m.status.as_str(), m.delivered) {
                (_, Some(d)) => (TimelineKind::AlertDelivered, d),
                ("dead", None) => (TimelineKind::AlertFailed, m.created),
                _ => (TimelineKind::AlertPending, m.created),
            };
            let mut e = TimelineEntry::new(from_ms(at), kind);
            e.receiver = Some(m.receiver.clone());
            e.text = Some(m.n.title());
            timeline.push(e);
        }
    }

    let mut outages = Vec::with_capacity(outage_incs.len());
    for (t, i) in &outage_incs {
        let inf = info(t);
        let deliveries: Vec<Delivery> = firing
            .get(&i.id)
            .into_iter()
            .flatten()
            .map(|(receiver, (m, via))| Delivery {
                receiver: receiver.clone(),
                status: m.status.clone(),
                via: via.clone(),
                outbox_id: m.id,
                created_at: from_ms(m.created),
                delivered_at: m.delivered.map(from_ms),
                attempts: m.attempts,
                since_start_seconds: m.delivered.map(|d| secs(d - i.start)),
                since_detection_seconds: m.delivered.map(|d| secs(d - i.detected)),
                resolved_delivered_at: resolved.get(&(i.id, receiver.clone())).map(|d| from_ms(*d)),
            })
            .collect();
        let ack = acks.get(&i.id);
        outages.push(Outage {
            incident_id: i.id,
            target: (*t).clone(),
            name: inf.name(t),
            operator: inf.label(|l| &l.operator),
            service: inf.label(|l| &l.service),
            province: inf.label(|l| &l.province),
            commune: inf.label(|l| &l.commune),
            first_state: i.first,
            worst_state: i.worst,
            counts_as_downtime: i.is_outage(),
            started_at: from_ms(i.start),
            detected_at: from_ms(i.detected),
            detection_seconds: secs(i.detected - i.start),
            ended_at: i.end.map(from_ms),
            restoration_seconds: i.end.map(|e| secs(e - i.start)),
            in_window_seconds: secs(i.overlap(from, to)),
            cause: i.cause.clone(),
            explained_by: i.explained_by.clone(),
            drill_tagged: i.drill == Some(drill_id),
            acknowledged_at: ack.map(|a| from_ms(a.0)),
            acknowledged_by: ack.map(|a| a.1.clone()),
            ack_seconds: ack.map(|a| secs(a.0 - i.detected)),
            deliveries,
        });
        let entry = |at: i64, kind: TimelineKind, state: Option<State>| {
            let mut e = TimelineEntry::new(from_ms(at), kind);
            e.target = Some((*t).clone());
            e.name = Some(inf.name(t));
            e.state = state;
            e.incident_id = Some(i.id);
            e
        };
        let mut e = entry(i.start, TimelineKind::IncidentStarted, None);
        e.text = i.cause.clone();
        timeline.push(e);
        let mut e = entry(i.detected, TimelineKind::Detected, Some(i.first));
        e.text = i.explained_by.clone();
        timeline.push(e);
        if let Some(a) = ack {
            let mut e = entry(a.0, TimelineKind::Acknowledged, None);
            e.author = Some(a.1.clone());
            e.text = (!a.2.is_empty()).then(|| a.2.clone());
            timeline.push(e);
        }
        if let Some(end) = i.end {
            timeline.push(entry(end, TimelineKind::Restored, Some(State::Up)));
        }
    }
    for (target, state, at) in worsenings(c, drill_id)? {
        if let Some(i) = by_target
            .get(target.as_str())
            .and_then(|l| l.iter().find(|i| i.contains(at) && at > i.detected))
        {
            let mut e = TimelineEntry::new(from_ms(at), TimelineKind::Worsened);
            e.name = Some(info(&target).name(&target));
            e.target = Some(target);
            e.state = Some(state);
            e.incident_id = Some(i.id);
            timeline.push(e);
        }
    }

    // Expected faults from the notes.
    let mut expected = Vec::new();
    for n in &notes {
        let at = ms(n.at);
        for t in &n.expected_targets {
            let slack = (interval_of(t) * 1_000.0) as i64;
            let limit = n.expected_until.map(ms).unwrap_or(to);
            let hit = incs
                .get(t)
                .into_iter()
                .flatten()
                .find(|i| i.start >= at - slack && i.start < limit);
            expected.push(ExpectedFault {
                note_id: n.id,
                note_at: n.at,
                author: n.author.clone(),
                target: t.clone(),
                name: info(t).name(t),
                expected_until: n.expected_until,
                detected: hit.is_some(),
                incident_id: hit.map(|i| i.id),
                started_at: hit.map(|i| from_ms(i.start)),
                detected_at: hit.map(|i| from_ms(i.detected)),
                detection_seconds: hit.map(|i| secs(i.detected - at)),
                ended_at: hit.and_then(|i| i.end.map(from_ms)),
            });
        }
        let mut e = TimelineEntry::new(n.at, TimelineKind::Note);
        e.author = Some(n.author.clone());
        e.text = Some(n.text.clone());
        timeline.push(e);
    }
    timeline.push(TimelineEntry::new(
        drill.started_at,
        TimelineKind::DrillStarted,
    ));
    if let Some(end) = drill.ended_at {
        timeline.push(TimelineEntry::new(end, TimelineKind::DrillEnded));
    }
    timeline.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then(a.kind.cmp(&b.kind))
            .then(a.target.cmp(&b.target))
            .then(a.receiver.cmp(&b.receiver))
    });

    // Groups and summary.
    let by_operator = group_rows(&rows, |r| (r.operator.clone(), None));
    let by_service = group_rows(&rows, |r| (r.service.clone(), None));
    let by_commune = group_rows(&rows, |r| (r.commune.clone(), Some(r.province.clone())));
    let mut total = Stats::default();
    let mut base_total = Stats::default();
    for r in &rows {
        total.add(&r.drill);
        base_total.add(&r.baseline);
    }
    let total = total.finish();
    let base_total = base_total.finish();
    let in_window: Vec<&Outage> = outages
        .iter()
        .filter(|o| o.counts_as_downtime && o.in_window_seconds > 0.0)
        .collect();
    let summary = Summary {
        duration_seconds: secs(to - from),
        targets: rows.len(),
        targets_with_data: rows
            .iter()
            .filter(|r| r.drill.availability.is_some())
            .count(),
        targets_with_outages: rows.iter().filter(|r| r.drill.outages > 0).count(),
        change: change(&total, &base_total),
        drill: total,
        baseline: base_total,
        worst_operator: worst(&by_operator),
        worst_commune: worst(&by_commune),
        detection: Spread::of(in_window.iter().map(|o| o.detection_seconds).collect()),
        alert_delivery: Spread::of(
            in_window
                .iter()
                .filter_map(|o| {
                    o.deliveries
                        .iter()
                        .filter_map(|d| d.since_start_seconds)
                        .min_by(f64::total_cmp)
                })
                .collect(),
        ),
        acknowledgement: Spread::of(in_window.iter().filter_map(|o| o.ack_seconds).collect()),
        restoration: Spread::of(
            in_window
                .iter()
                .filter_map(|o| o.restoration_seconds)
                .collect(),
        ),
        expected_faults: expected.len(),
        expected_detected: expected.iter().filter(|e| e.detected).count(),
    };

    Ok(Some(Report {
        running: drill.running(),
        generated_at: now,
        window: Window {
            from: from_ms(from),
            to: from_ms(to),
            seconds: secs(to - from),
        },
        baseline_window: Window {
            from: from_ms(b_from),
            to: from_ms(b_to),
            seconds: secs(b_to - b_from),
        },
        drill,
        summary,
        by_operator,
        by_service,
        by_commune,
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
