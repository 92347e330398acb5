//! Routing and grouping: each alert event goes to the receivers whose routes match its target,
//! into one group per receiver and grouping labels (province + operator by default). A group
//! sends its first message `group_wait` after its first change, follow-ups at most every
//! `group_interval`, and reminders every `repeat_interval` while still firing — so a storm that
//! takes 2,000 targets down sends one message per region and operator, not 2,000.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{AlertTarget, DrillRef, Explained, Kind, Notification, Status};
use super::outbox::{EventRow, GroupingCommit, NewMessage};
use super::silence::Silence;
use crate::config::alerting::{LabelKey, Receiver, ReceiverKind};
use crate::config::{Config, Target};
use crate::state::State;

mod taken_down;
mod worker;

pub use taken_down::TakenDown;
pub use worker::Grouper;

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
    /// Messages this group has sent.
    pub seq: u64,
    /// The alert event that first changed this group: with `seq` it makes each message's
    /// idempotency key. A group is dropped once everything in it has resolved, so the next
    /// outage of the same region starts again at `seq` 0; without the event in the key its
    /// first message would repeat the earlier outage's key and the outbox, which keeps
    /// delivered keys, would drop it as already sent. Event ids are the store's, never reused,
    /// and the same when a group is rebuilt from unprocessed events after a crash. `None` for
    /// groups saved before this existed: they keep the old keys until they are dropped.
    #[serde(default)]
    pub opened_by: Option<i64>,
    /// Per firing target, the dependants it took down that a message already named. A child
    /// turns UNREACHABLE only after its own failure threshold, usually after its parent's
    /// message went out: one outside this set makes the group send an update. `None` until the
    /// group is first looked at (also for groups saved before this existed): then the children
    /// are taken as known, without a message.
    #[serde(default)]
    pub explained: Option<BTreeMap<String, BTreeSet<String>>>,
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
            opened_by: None,
            explained: None,
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
            // Only a group that has sent nothing yet takes its opening event: one saved before
            // keys named it keeps counting in the old form.
            if changed && g.seq == 0 {
                g.opened_by.get_or_insert(e.id);
            }
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
            if g.seq == 0 {
                g.opened_by.get_or_insert(e.id);
            }
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
        explains: &dyn Fn(&str) -> Vec<Explained>,
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
            // Dependants taken down since the last message are a change of the group: the
            // parent's message is updated with them (one update per cause, not one message per
            // child, which never pages on its own).
            let taken_down: BTreeMap<String, BTreeSet<String>> = g
                .firing
                .keys()
                .map(|id| (id.clone(), explains(id).into_iter().map(|e| e.id).collect()))
                .filter(|(_, kids): &(String, BTreeSet<String>)| !kids.is_empty())
                .collect();
            match &g.explained {
                Some(known) => {
                    let grew = taken_down.iter().any(|(id, kids)| {
                        kids.iter()
                            .any(|k| !known.get(id).is_some_and(|seen| seen.contains(k)))
                    });
                    if grew && g.pending_since.is_none() {
                        g.pending_since = Some(now);
                    }
                }
                None => g.explained = Some(taken_down.clone()),
            }
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
            g.explained = Some(taken_down);
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
        explained: Vec::new(),
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
    explains: &dyn Fn(&str) -> Vec<Explained>,
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
        a.explained = explains(&a.id);
        a.explains = a.explained.iter().map(|e| e.name.clone()).collect();
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
    let idempotency_key = match g.opened_by {
        Some(event) => format!("{id}-e{event}-{}", g.seq + 1),
        None => format!("{id}-{}", g.seq + 1),
    };
    Some(Notification {
        idempotency_key,
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

#[cfg(test)]
mod tests;
