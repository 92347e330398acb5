//! The engine: turns each probe result into a sample (checks), advances the target's state
//! machine with its dependencies and the monitor's own isolation in view, and fans the outcome
//! out to the board, metrics, the store and the event bus.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use tokio::sync::{broadcast, mpsc};

use crate::check::Sample;
use crate::config::Target;
use crate::config::alerting::MaintenanceWindow;
use crate::events::Event;
use crate::metrics::Metrics;
use crate::scheduler::ProbeResult;
use crate::state::{Context, IncidentChange, Output, State, TargetState, Thresholds, Verdict};
use crate::status::{Board, LastResult, TargetStatus};
use crate::store::{AlertEventRow, Change, IncidentWrite, SampleRow, Store};

/// The handles and settings an engine is built from.
pub struct EngineParts {
    pub board: Board,
    pub metrics: Metrics,
    pub store: Store,
    pub events: broadcast::Sender<Event>,
    pub anchors: Vec<String>,
    pub maintenance: Vec<MaintenanceWindow>,
    pub drills: crate::shared::Drills,
}

/// A new target set for the engine (configuration reload).
pub struct Reconfigure {
    pub targets: Vec<Arc<Target>>,
    pub anchors: Vec<String>,
    pub maintenance: Vec<MaintenanceWindow>,
    /// Stored state for targets the engine does not know yet.
    pub stored: HashMap<String, crate::store::StoredState>,
    pub done: tokio::sync::oneshot::Sender<()>,
}

pub struct Engine {
    board: Board,
    metrics: Metrics,
    store: Store,
    events: broadcast::Sender<Event>,
    states: HashMap<String, TargetState>,
    targets: HashMap<String, Arc<Target>>,
    /// parent id → children that depend on it.
    children: HashMap<String, Vec<String>>,
    anchors: HashSet<String>,
    /// Last result of each anchor.
    anchor_ok: HashMap<String, bool>,
    isolated: bool,
    maintenance: Vec<MaintenanceWindow>,
    drills: crate::shared::Drills,
}

impl Engine {
    pub fn new(
        parts: EngineParts,
        targets: &[Arc<Target>],
        states: HashMap<String, TargetState>,
    ) -> Engine {
        let EngineParts {
            board,
            metrics,
            store,
            events,
            anchors,
            maintenance,
            drills,
        } = parts;
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for t in targets {
            for p in &t.depends_on {
                children.entry(p.clone()).or_default().push(t.id.clone());
            }
        }
        let open = states.values().filter(|s| s.incident_open).count();
        metrics.incidents_open.set(open as i64);
        Engine {
            board,
            metrics,
            store,
            events,
            states,
            targets: targets.iter().map(|t| (t.id.clone(), t.clone())).collect(),
            children,
            anchors: anchors.into_iter().collect(),
            anchor_ok: HashMap::new(),
            isolated: false,
            maintenance,
            drills,
        }
    }

    /// Consumes results until every sender (the scheduler) is gone; applies reconfigurations
    /// between results.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<ProbeResult>,
        mut control: mpsc::Receiver<Reconfigure>,
    ) {
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => self.apply(r).await,
                    None => break,
                },
                Some(c) = control.recv() => self.reconfigure(c),
            }
        }
    }

    /// Takes a new target set: kept targets keep their state, new ones start from what the
    /// store remembers of them (a target removed and added back) or from UNKNOWN.
    fn reconfigure(&mut self, c: Reconfigure) {
        let now = crate::time::now_ms();
        self.targets = c
            .targets
            .iter()
            .map(|t| (t.id.clone(), t.clone()))
            .collect();
        self.children.clear();
        for t in &c.targets {
            for p in &t.depends_on {
                self.children
                    .entry(p.clone())
                    .or_default()
                    .push(t.id.clone());
            }
        }
        self.states.retain(|id, _| self.targets.contains_key(id));
        let mut rows = Vec::with_capacity(c.targets.len());
        let previous: HashMap<String, TargetStatus> = self
            .board
            .snapshot()
            .into_iter()
            .map(|r| (r.target.id.clone(), r))
            .collect();
        for t in &c.targets {
            let prev = previous.get(&t.id);
            let row = match self.states.get(&t.id) {
                // Known: its state and last result go on; a changed target (a new `Arc`) gets
                // its series again, under its new labels.
                Some(st) => {
                    let row = TargetStatus {
                        target: t.clone(),
                        state: st.clone(),
                        last: prev.and_then(|p| p.last.clone()),
                    };
                    if !prev.is_some_and(|p| Arc::ptr_eq(&p.target, t)) {
                        row.publish(&self.metrics);
                    }
                    row
                }
                None => TargetStatus::set_up(t.clone(), c.stored.get(&t.id), &self.metrics, now),
            };
            self.states
                .entry(t.id.clone())
                .or_insert_with(|| row.state.clone());
            rows.push(row);
        }
        // Removed targets leave the metrics here, after the engine stopped accepting their
        // results (a refused reload never gets this far, so nothing is lost to it).
        for (id, row) in &previous {
            if !self.targets.contains_key(id) {
                self.metrics.unregister_target(&row.target);
            }
        }
        self.board.replace(rows);
        self.anchors = c.anchors.into_iter().collect();
        self.maintenance = c.maintenance;
        self.anchor_ok.retain(|id, _| self.anchors.contains(id));
        let open = self.states.values().filter(|s| s.incident_open).count();
        self.metrics.incidents_open.set(open as i64);
        let _ = c.done.send(());
    }

    /// The first parent that is down (or itself unreachable), if any.
    fn parent_down(&self, target: &Target) -> Option<String> {
        target
            .depends_on
            .iter()
            .find(|p| {
                self.states
                    .get(p.as_str())
                    .is_some_and(|s| matches!(s.state, State::Down | State::Unreachable))
            })
            .cloned()
    }

    fn note_anchor(&mut self, id: &str, ok: bool, at: DateTime<Utc>) {
        if !self.anchors.contains(id) {
            return;
        }
        self.anchor_ok.insert(id.to_string(), ok);
        // Isolated only when every anchor has reported and every one is failing.
        let isolated =
            self.anchor_ok.len() == self.anchors.len() && self.anchor_ok.values().all(|ok| !ok);
        if isolated != self.isolated {
            self.isolated = isolated;
            self.metrics.monitor_isolated.set(i64::from(isolated));
            if isolated {
                tracing::warn!(
                    "every anchor target is failing: this monitor's own link looks cut; failures are reported as unknown"
                );
            } else {
                tracing::info!("an anchor target answers again: monitor connectivity restored");
            }
            let _ = self.events.send(Event::MonitorIsolation { isolated, at });
            let row = AlertEventRow {
                target: String::new(),
                kind: if isolated { "isolated" } else { "reconnected" },
                state: State::Unknown,
                at,
                started_at: None,
                cause: None,
                explained_by: None,
                drill_id: None,
            };
            self.store.record_alert_event(row);
        }
    }

    async fn apply(&mut self, r: ProbeResult) {
        let target = r.target;
        // A result from a task stopped by a reload (target removed or changed) is stale.
        if !self
            .targets
            .get(&target.id)
            .is_some_and(|t| Arc::ptr_eq(t, &target))
        {
            return;
        }
        let sample = target.judge(&r.observation);
        self.metrics.observe_facts(&target, &r.observation);
        self.note_anchor(&target.id, sample.ok, sample.at);
        let verdict = Verdict {
            at: sample.at,
            ok: sample.ok,
            degraded: sample.degraded,
        };
        let maintenance = self.in_maintenance(&target, sample.at);
        let ctx = Context {
            parent_down: self.parent_down(&target),
            isolated: self.isolated,
            maintenance,
        };
        let th = thresholds(&target);
        let st = self
            .states
            .entry(target.id.clone())
            .or_insert_with(|| TargetState::new(sample.at));
        let out = st.observe(verdict, &ctx, th);
        let state = st.clone();

        let code = sample.error.map(|c| c.as_str());
        self.metrics
            .observe_probe(&target, sample.ok, sample.latency.as_secs_f64(), code);
        let _ = self.events.send(Event::Sample {
            target: target.id.clone(),
            ok: sample.ok,
            latency_seconds: sample.latency.as_secs_f64(),
        });
        self.board.update(
            &target.id,
            state.clone(),
            LastResult {
                at: sample.at,
                ok: sample.ok,
                latency_seconds: sample.latency.as_secs_f64(),
                error: code.map(str::to_owned),
                detail: sample.detail.clone(),
            },
        );
        let id: Arc<str> = Arc::from(target.id.as_str());
        let drill = self.drills.covering_id(&target);
        let row = SampleRow {
            at: sample.at,
            ok: sample.ok,
            degraded: verdict.degraded,
            latency: sample.latency,
            error: sample.error,
            detail: sample.detail.clone(),
            loss: r.observation.facts.icmp.as_ref().map(|i| i.loss),
            drill,
        };
        // Sample, state, incident and alert events commit in one transaction: an alert is
        // never recorded without the change that caused it, nor the change without its alert.
        let (incident, alerts) =
            self.publish(&target, &out, Some(&sample), &state, maintenance, drill);
        let change = Change {
            target: id,
            sample: Some(row),
            state: Some(state),
            incident,
            alerts,
        };
        if let Err(e) = self.store.record_change(change).await {
            tracing::error!(error = %e, "cannot queue sample for the store");
        }

        // A parent just went down: children that are already failing are explained by it now,
        // not at their next probe.
        if let Some(t) = &out.transition
            && matches!(t.to, State::Down | State::Unreachable)
        {
            self.reexplain_children(&target.id, t.at).await;
        }
    }

    async fn reexplain_children(&mut self, parent: &str, at: DateTime<Utc>) {
        let mut queue = vec![parent.to_string()];
        let mut seen = HashSet::new();
        while let Some(p) = queue.pop() {
            if !seen.insert(p.clone()) {
                continue;
            }
            let kids = self.children.get(&p).cloned().unwrap_or_default();
            for child in kids {
                let Some(target) = self.targets.get(&child).cloned() else {
                    continue;
                };
                let maintenance = self.in_maintenance(&target, at);
                let ctx = Context {
                    parent_down: self.parent_down(&target),
                    isolated: self.isolated,
                    maintenance,
                };
                let Some(st) = self.states.get_mut(&child) else {
                    continue;
                };
                let out = st.reevaluate(&ctx, at, thresholds(&target));
                if out.transition.is_none() {
                    continue;
                }
                let state = st.clone();
                self.board.update_state(&child, state.clone());
                let drill = self.drills.covering_id(&target);
                let (incident, alerts) =
                    self.publish(&target, &out, None, &state, maintenance, drill);
                let change = Change {
                    target: Arc::from(child.as_str()),
                    sample: None,
                    state: Some(state),
                    incident,
                    alerts,
                };
                if let Err(e) = self.store.record_change(change).await {
                    tracing::error!(error = %e, "cannot queue state for the store");
                }
                queue.push(child);
            }
        }
    }

    /// Whether a maintenance window covers the target now.
    fn in_maintenance(&self, target: &Target, at: DateTime<Utc>) -> bool {
        self.maintenance
            .iter()
            .any(|w| w.matchers.matches(target) && w.active_at(at))
    }

    /// Sends what changed to metrics and the event bus, and returns the incident write and the
    /// alert events to commit with the change.
    fn publish(
        &mut self,
        target: &Target,
        out: &Output,
        sample: Option<&Sample>,
        state: &TargetState,
        maintenance: bool,
        drill: Option<i64>,
    ) -> (Option<IncidentWrite>, Vec<AlertEventRow>) {
        let detail = sample.and_then(|s| s.detail.clone());
        let mut alerts = Vec::new();
        // Alert events carry the drill id as text (it travels in messages and outbox rows).
        let drill_text = if out.flap.is_some() || out.incident.is_some() {
            drill.map(|d| d.to_string())
        } else {
            None
        };
        let event = |kind: &'static str, at: DateTime<Utc>, started_at: Option<DateTime<Utc>>| {
            AlertEventRow {
                target: target.id.clone(),
                kind,
                state: state.state,
                at,
                started_at,
                cause: detail.clone(),
                explained_by: state.explained_by.clone(),
                drill_id: drill_text.clone(),
            }
        };
        if let Some(t) = &out.transition {
            self.metrics.set_state(target, t.to);
            tracing::info!(target = %target.id, from = %t.from, to = %t.to, detail = detail.as_deref().unwrap_or(""), explained_by = state.explained_by.as_deref().unwrap_or(""), "state changed");
            let _ = self.events.send(Event::StateChanged {
                target: target.id.clone(),
                transition: t.clone(),
                detail: detail.clone(),
                explained_by: state.explained_by.clone(),
            });
        }
        if let Some(f) = &out.flap {
            self.metrics.set_flapping(target, f.flapping);
            tracing::info!(target = %target.id, flapping = f.flapping, percent = f.percent, "flapping changed");
            let _ = self.events.send(Event::Flapping {
                target: target.id.clone(),
                change: *f,
            });
            // A flapping target notifies when flapping starts and when it stops, nothing between.
            if !maintenance {
                let kind = if f.flapping {
                    "flapping_start"
                } else {
                    "flapping_stop"
                };
                alerts.push(event(kind, f.at, None));
            }
        }
        let mut incident = None;
        if let Some(change) = &out.incident {
            match change {
                IncidentChange::Opened { .. } => self.metrics.incidents_open.inc(),
                IncidentChange::Closed { .. } => self.metrics.incidents_open.dec(),
                IncidentChange::Updated { .. } => {}
            }
            // Maintenance and flapping mute notifications, never recording. UNREACHABLE
            // targets never page on their own: their parent's alert names them.
            let muted = maintenance || state.flapping;
            match change {
                IncidentChange::Opened {
                    started_at,
                    detected_at,
                    state: s,
                    ..
                } if !muted && *s != State::Unreachable => {
                    alerts.push(event("firing", *detected_at, Some(*started_at)));
                }
                IncidentChange::Updated { worst, .. }
                    if !muted && *worst != State::Unreachable && state.state == *worst =>
                {
                    let at = out
                        .transition
                        .as_ref()
                        .map_or_else(crate::time::now_ms, |t| t.at);
                    alerts.push(event("firing", at, None));
                }
                IncidentChange::Closed { ended_at } if !maintenance => {
                    // A resolution always goes out (even while flapping): an open alert must
                    // never be left behind.
                    alerts.push(event("resolved", *ended_at, None));
                }
                _ => {}
            }
            incident = Some(IncidentWrite {
                change: change.clone(),
                cause_error: sample.and_then(|s| s.error),
                cause_detail: detail.clone(),
                drill,
            });
            let _ = self.events.send(Event::Incident {
                target: target.id.clone(),
                change: change.clone(),
            });
        }
        (incident, alerts)
    }
}

fn thresholds(t: &Target) -> Thresholds {
    Thresholds {
        failure: t.failure_threshold,
        success: t.success_threshold,
    }
}
