//! Routing and grouping: each alert event goes to the receivers whose routes match its target,
//! into one group per receiver and grouping labels (province + operator by default). A group
//! sends its first message `group_wait` after its first change, follow-ups at most every
//! `group_interval`, and reminders every `repeat_interval` while still firing — so a storm that
//! takes 2,000 targets down sends one message per region and operator, not 2,000.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Wake;
use super::model::{AlertTarget, DrillRef, Kind, Notification, Status};
use super::outbox::{self, EventRow, GroupingCommit, NewMessage};
use super::silence::Silence;
use crate::config::alerting::{LabelKey, Receiver, ReceiverKind};
use crate::config::{Config, Target};
use crate::shared::AppState;
use crate::state::State;

/// The persisted state of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub receiver: String,
    pub key: String,
    pub labels: BTreeMap<String, String>,
    pub drill: Option<DrillRef>,
    pub firing: BTreeMap<String, AlertTarget>,
    /// Resolved since the last message.
    pub resolved: BTreeMap<String, AlertTarget>,
    /// Flapping started or stopped since the last message.
    pub flaps: BTreeMap<String, AlertTarget>,
    /// The monitor's own isolation (the group of monitor events).
    pub monitor: Option<bool>,
    /// First change not yet sent.
    pub pending_since: Option<DateTime<Utc>>,
    pub last_sent: Option<DateTime<Utc>>,
    pub seq: u64,
}

impl Group {
    fn new(
        receiver: &str,
        key: String,
        labels: BTreeMap<String, String>,
        drill: Option<DrillRef>,
    ) -> Group {
        Group {
            receiver: receiver.to_string(),
            key,
            labels,
            drill,
            firing: BTreeMap::new(),
            resolved: BTreeMap::new(),
            flaps: BTreeMap::new(),
            monitor: None,
            pending_since: None,
            last_sent: None,
            seq: 0,
        }
    }
}

/// How a receiver groups and repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub group_by: Vec<LabelKey>,
    /// One group per target (Alertmanager does its own grouping).
    pub per_target: bool,
    pub wait: Duration,
    pub interval: Duration,
    pub repeat: Duration,
}

pub fn policy(cfg: &Config, r: &Receiver) -> Policy {
    let a = &cfg.alerting;
    match &r.kind {
        // Alertmanager groups, inhibits and deduplicates itself; it needs each alert on its own,
        // re-sent before its resolve_timeout expires.
        ReceiverKind::Alertmanager {
            resend_interval, ..
        } => Policy {
            group_by: Vec::new(),
            per_target: true,
            wait: Duration::ZERO,
            interval: Duration::ZERO,
            repeat: *resend_interval,
        },
        _ => Policy {
            group_by: a.group_by.clone(),
            per_target: false,
            wait: a.group_wait,
            interval: a.group_interval,
            repeat: a.repeat_interval,
        },
    }
}

/// Short stable ids for groups.
fn short_hash(s: &str) -> String {
    format!("{:016x}", crate::stable_hash(s))
}

fn target_labels(t: &Target) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for k in [
        LabelKey::Kind,
        LabelKey::Operator,
        LabelKey::Service,
        LabelKey::Province,
        LabelKey::Commune,
        LabelKey::Severity,
    ] {
        if let Some(v) = k.values(t).first()
            && !v.is_empty()
        {
            m.insert(k.as_str().to_string(), v.to_string());
        }
    }
    m
}

fn drill_matches(route_drill: Option<bool>, is_drill: bool) -> bool {
    route_drill.is_none_or(|d| d == is_drill)
}

/// The grouping stage: pure bookkeeping over groups, driven by [`Grouper::run`].
pub struct Grouping {
    pub groups: HashMap<(String, String), Group>,
}

impl Grouping {
    /// Applies one event to the groups of every receiver it routes to.
    pub fn apply(
        &mut self,
        cfg: &Config,
        e: &EventRow,
        drill: Option<&DrillRef>,
        silences: &[Silence],
        now: DateTime<Utc>,
    ) {
        if e.target.is_empty() {
            self.apply_monitor(cfg, e, now);
            return;
        }
        let Some(t) = cfg.target(&e.target) else {
            return;
        };
        if silences.iter().any(|s| s.mutes(t, now)) {
            return;
        }
        let mut receivers: Vec<&Receiver> = Vec::new();
        for route in &cfg.routes {
            if route.matchers.matches(t)
                && drill_matches(route.drill, e.drill_id.is_some())
                && let Some(r) = cfg.receivers.iter().find(|r| r.id == route.receiver)
                && !receivers.iter().any(|x| x.id == r.id)
            {
                receivers.push(r);
            }
        }
        for r in receivers {
            let p = policy(cfg, r);
            let mut labels = BTreeMap::new();
            if p.per_target {
                labels.insert("target".to_string(), t.id.clone());
            } else {
                for k in &p.group_by {
                    labels.insert(
                        k.as_str().to_string(),
                        k.values(t).first().copied().unwrap_or("").to_string(),
                    );
                }
            }
            // Drill traffic never shares a group with real traffic.
            let key = format!(
                "{}|{}",
                e.drill_id.as_deref().unwrap_or("live"),
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let g = self
                .groups
                .entry((r.id.clone(), key.clone()))
                .or_insert_with(|| {
                    Group::new(
                        &r.id,
                        key,
                        labels,
                        e.drill_id.as_ref().map(|id| {
                            drill.cloned().unwrap_or_else(|| DrillRef {
                                id: id.clone(),
                                name: id.clone(),
                            })
                        }),
                    )
                });
            let changed = apply_to_group(g, t, e);
            if changed && g.pending_since.is_none() {
                g.pending_since = Some(now);
            }
        }
    }

    fn apply_monitor(&mut self, cfg: &Config, e: &EventRow, now: DateTime<Utc>) {
        let isolated = e.kind == "isolated";
        let receivers: HashSet<&str> = cfg
            .routes
            .iter()
            .filter(|r| r.matchers.0.is_empty() && r.drill != Some(true))
            .map(|r| r.receiver.as_str())
            .collect();
        for r in receivers {
            let g = self
                .groups
                .entry((r.to_string(), "monitor".to_string()))
                .or_insert_with(|| Group::new(r, "monitor".into(), BTreeMap::new(), None));
            g.monitor = Some(isolated);
            if g.pending_since.is_none() {
                g.pending_since = Some(now);
            }
        }
    }

    /// Messages due at `now`; updates the groups as sent. Returns the commit and the groups to
    /// save or drop.
    pub fn due(
        &mut self,
        cfg: &Config,
        now: DateTime<Utc>,
        explains: &dyn Fn(&str) -> Vec<String>,
        silences: &[Silence],
        acked: &HashMap<String, String>,
    ) -> GroupingCommit {
        let mut out = GroupingCommit::default();
        let mut dropped = Vec::new();
        for ((rid, key), g) in self.groups.iter_mut() {
            let Some(r) = cfg.receivers.iter().find(|r| &r.id == rid) else {
                // The receiver left the configuration: its groups go with it.
                dropped.push((rid.clone(), key.clone()));
                continue;
            };
            let p = policy(cfg, r);
            let since = |d: Duration, t: DateTime<Utc>| {
                now - t >= chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
            };
            let kind = match (g.pending_since, g.last_sent) {
                (Some(first), None) if since(p.wait, first) => Some(Kind::New),
                (Some(_), Some(last)) if since(p.interval, last) => Some(Kind::Update),
                (None, Some(last)) if !g.firing.is_empty() && since(p.repeat, last) => {
                    // Reminders stop once every outage in the group has been acknowledged.
                    let all_acked = g.firing.keys().all(|id| acked.contains_key(id));
                    (!all_acked).then_some(Kind::Repeat)
                }
                _ => None,
            };
            let Some(kind) = kind else { continue };
            let n = build(cfg, r, g, kind, now, explains, silences, acked);
            g.seq += 1;
            g.last_sent = Some(now);
            g.pending_since = None;
            g.resolved.clear();
            g.flaps.clear();
            if let Some(n) = n {
                let json = serde_json::to_string(&n).unwrap_or_default();
                out.messages.push(NewMessage {
                    receiver: rid.clone(),
                    group_key: key.clone(),
                    idempotency_key: n.idempotency_key.clone(),
                    notification: json,
                    drill_id: n.drill.as_ref().map(|d| d.id.clone()),
                    created_at: now,
                });
            }
            if g.firing.is_empty() {
                g.monitor = g.monitor.filter(|isolated| *isolated);
                if g.monitor.is_none() {
                    dropped.push((rid.clone(), key.clone()));
                    continue;
                }
            }
            out.save_groups.push((
                rid.clone(),
                key.clone(),
                serde_json::to_string(&g).unwrap_or_default(),
            ));
        }
        for k in dropped {
            self.groups.remove(&k);
            out.drop_groups.push(k);
        }
        out
    }
}

/// Applies an event to a group; returns whether anything changed.
fn apply_to_group(g: &mut Group, t: &Target, e: &EventRow) -> bool {
    let base = |status: Status| AlertTarget {
        id: t.id.clone(),
        name: t.name.clone(),
        labels: target_labels(t),
        state: e.state,
        status,
        cause: e.cause.clone(),
        started_at: e.started_at.unwrap_or(e.at),
        ended_at: None,
        explains: Vec::new(),
        flapping: None,
        acknowledged_by: None,
    };
    match e.kind.as_str() {
        "firing" => {
            let mut a = base(Status::Firing);
            if let Some(prev) = g.firing.get(&t.id) {
                // An update keeps the outage's start; it only reports a worse state.
                if e.started_at.is_none() {
                    a.started_at = prev.started_at;
                }
                if prev.state == a.state && prev.cause == a.cause {
                    return false;
                }
            }
            g.resolved.remove(&t.id);
            g.firing.insert(t.id.clone(), a);
            true
        }
        "resolved" => match g.firing.remove(&t.id) {
            Some(mut a) => {
                a.status = Status::Resolved;
                a.state = State::Up;
                a.ended_at = Some(e.at);
                g.resolved.insert(t.id.clone(), a);
                true
            }
            // Never fired here (muted, or routed elsewhere then): nothing to resolve.
            None => false,
        },
        "flapping_start" | "flapping_stop" => {
            let mut a = base(Status::Firing);
            a.flapping = Some(e.kind == "flapping_start");
            g.flaps.insert(t.id.clone(), a);
            true
        }
        _ => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn build(
    cfg: &Config,
    r: &Receiver,
    g: &Group,
    kind: Kind,
    now: DateTime<Utc>,
    explains: &dyn Fn(&str) -> Vec<String>,
    silences: &[Silence],
    acked: &HashMap<String, String>,
) -> Option<Notification> {
    let silenced = |id: &str| {
        cfg.target(id)
            .is_some_and(|t| silences.iter().any(|s| s.mutes(t, now)))
    };
    let mut targets: Vec<AlertTarget> = Vec::new();
    for a in g.firing.values().filter(|a| !silenced(&a.id)) {
        let mut a = a.clone();
        a.explains = explains(&a.id);
        a.acknowledged_by = acked.get(&a.id).cloned();
        if let Some(f) = g.flaps.get(&a.id) {
            a.flapping = f.flapping;
        }
        targets.push(a);
    }
    for (id, f) in &g.flaps {
        if !g.firing.contains_key(id) && !silenced(id) {
            targets.push(f.clone());
        }
    }
    targets.extend(g.resolved.values().cloned());
    if targets.is_empty() && g.monitor.is_none() {
        return None;
    }
    let status = if g.firing.is_empty() && g.monitor != Some(true) {
        Status::Resolved
    } else {
        Status::Firing
    };
    let id = format!("cw-{}", short_hash(&format!("{}|{}", g.receiver, g.key)));
    Some(Notification {
        idempotency_key: format!("{id}-{}", g.seq + 1),
        id,
        receiver: r.id.clone(),
        status,
        kind,
        drill: g.drill.clone(),
        group: g.labels.clone(),
        targets,
        created_at: now,
        language: r.language.unwrap_or(cfg.alerting.language),
        external_url: cfg.server.external_url.clone(),
        monitor_isolated: g.monitor,
        max_listed: cfg.alerting.max_listed,
    })
}

/// Runs the grouping stage: polls new alert events, groups them, queues due messages.
pub struct Grouper {
    pub state: AppState,
    pub drills: crate::shared::Drills,
    pub wake_delivery: Wake,
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// How often the grouping stage looks for new events and due groups.
const TICK: Duration = Duration::from_millis(500);

impl Grouper {
    /// Outbox depth and dead letters per receiver, for `/metrics`.
    async fn refresh_queue_gauges(&self, cfg: &Config) {
        let Ok(counts) = self.state.store.query(outbox::counts).await else {
            return;
        };
        let m = &self.state.metrics;
        for r in &cfg.receivers {
            let get = |status: &str| {
                counts
                    .iter()
                    .find(|(rid, s, _)| rid == &r.id && s == status)
                    .map_or(0, |(_, _, n)| *n)
            };
            m.alert_queue_depth
                .with_label_values(&[r.id.as_str()])
                .set(get("pending"));
            m.alert_dead_letters
                .with_label_values(&[r.id.as_str()])
                .set(get("dead"));
        }
    }

    pub async fn run(self) {
        let store = self.state.store.clone();
        let groups = match store.query(outbox::load_groups).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot load alert groups; starting with none");
                Vec::new()
            }
        };
        let mut grouping = Grouping {
            groups: groups
                .into_iter()
                .filter_map(|(r, k, d)| serde_json::from_str::<Group>(&d).ok().map(|g| ((r, k), g)))
                .collect(),
        };
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
            if let Err(e) = self.pass(&mut grouping).await {
                tracing::error!(error = %e, "alert grouping pass failed; will retry");
            }
        }
    }

    async fn pass(&self, grouping: &mut Grouping) -> Result<(), crate::store::StoreError> {
        let store = &self.state.store;
        let cfg = self.state.config();
        let now = Utc::now();
        let events = store
            .query(|c| outbox::unprocessed_events(c, 10_000))
            .await?;
        let silences = store.query(move |c| super::silence::active(c, now)).await?;
        // Drill names for the marking in messages: running drills from memory, a drill that
        // ended before its last events were grouped from the store.
        let mut drills: HashMap<String, DrillRef> = self
            .drills
            .running()
            .iter()
            .map(|d| {
                let r = DrillRef {
                    id: d.id.to_string(),
                    name: d.name.clone(),
                };
                (r.id.clone(), r)
            })
            .collect();
        for id in events.iter().filter_map(|e| e.drill_id.as_ref()) {
            if drills.contains_key(id) {
                continue;
            }
            let name = match id.parse::<i64>() {
                Ok(n) => store
                    .query(move |c| crate::drill::db::get(c, n))
                    .await?
                    .map(|d| d.name),
                Err(_) => None,
            };
            drills.insert(
                id.clone(),
                DrillRef {
                    id: id.clone(),
                    name: name.unwrap_or_else(|| id.clone()),
                },
            );
        }
        let before = grouping.groups.clone();
        let mut processed = Vec::with_capacity(events.len());
        for e in &events {
            let d = e.drill_id.as_ref().and_then(|id| drills.get(id));
            grouping.apply(&cfg, e, d, &silences, now);
            self.state
                .metrics
                .alert_events_total
                .with_label_values(&[e.kind.as_str()])
                .inc();
            processed.push(e.id);
        }
        let board = self.state.board.clone();
        let explains = |id: &str| -> Vec<String> {
            cfg.targets
                .iter()
                .filter(|t| t.depends_on.iter().any(|p| p == id))
                .filter(|t| {
                    board
                        .get(&t.id)
                        .is_some_and(|s| s.state.state == State::Unreachable)
                })
                .map(|t| t.name.clone())
                .collect()
        };
        let acked = store.query(outbox::acknowledged_open).await?;
        let mut commit = grouping.due(&cfg, now, &explains, &silences, &acked);
        commit.processed = processed;
        // Groups touched by events but not sent yet must be saved too, or a restart would
        // forget them (their events are marked processed in this same commit).
        for (k, g) in &grouping.groups {
            if before.get(k) != Some(g)
                && !commit
                    .save_groups
                    .iter()
                    .any(|(r, key, _)| (r, key) == (&k.0, &k.1))
            {
                commit.save_groups.push((
                    k.0.clone(),
                    k.1.clone(),
                    serde_json::to_string(g).unwrap_or_default(),
                ));
            }
        }
        self.refresh_queue_gauges(&cfg).await;
        if commit.processed.is_empty()
            && commit.messages.is_empty()
            && commit.save_groups.is_empty()
            && commit.drop_groups.is_empty()
        {
            return Ok(());
        }
        let queued = commit.messages.len();
        for m in &commit.messages {
            self.state
                .metrics
                .alert_messages_total
                .with_label_values(&[m.receiver.as_str()])
                .inc();
        }
        let r = store
            .write(move |tx| outbox::commit_grouping(tx, &commit))
            .await;
        if let Err(e) = r {
            // The in-memory groups already moved on; reload them from the database so the
            // next pass redoes this one from the events that are still unprocessed.
            *grouping = Grouping { groups: before };
            return Err(e);
        }
        if queued > 0 {
            self.wake_delivery.notify();
        }
        Ok(())
    }
}
