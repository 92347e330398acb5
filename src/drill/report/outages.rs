//! Outages of the drill report and the alerts about them: which incidents overlap the drill,
//! which outbox message first told each receiver about each one, and the outage rows.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::read::{Ack, Inc, Message};
use super::scope::Scope;
use super::{Delivery, Outage, secs};
use crate::alerting::model::Status;
use crate::store::{from_ms, ms};

/// Messages created this long after the drill's end still count (restoration notices and
/// retries of messages about the drill).
const DELIVERY_GRACE_MS: i64 = 86_400_000;

/// The incidents of in-scope targets that overlap the drill or start in it.
pub(super) struct InWindow<'a> {
    /// Oldest first (then by incident id and target).
    pub(super) list: Vec<(&'a String, &'a Inc)>,
    by_target: HashMap<&'a str, Vec<&'a Inc>>,
}

impl<'a> InWindow<'a> {
    pub(super) fn new(
        scope: &Scope<'_>,
        in_scope: &'a [String],
        incs: &'a HashMap<String, Vec<Inc>>,
    ) -> InWindow<'a> {
        let (from, to) = (scope.from, scope.to);
        let mut list: Vec<(&String, &Inc)> = in_scope
            .iter()
            .flat_map(|t| {
                incs.get(t)
                    .into_iter()
                    .flatten()
                    .filter(|i| i.overlaps(from, to) || (i.start >= from && i.start <= to))
                    .map(move |i| (t, i))
            })
            .collect();
        list.sort_by_key(|(t, i)| (i.start, i.id, (*t).clone()));
        let mut by_target: HashMap<&str, Vec<&Inc>> = HashMap::new();
        for (t, i) in &list {
            by_target.entry(t.as_str()).or_default().push(i);
        }
        InWindow { list, by_target }
    }

    /// The span of outbox messages that may be about these incidents: from the oldest
    /// incident's start (or the drill's) to a grace period after the drill.
    pub(super) fn message_span(&self, scope: &Scope<'_>) -> (i64, i64) {
        let lo = self
            .list
            .iter()
            .map(|(_, i)| i.start)
            .min()
            .unwrap_or(scope.from)
            .min(scope.from);
        (lo, scope.to.saturating_add(DELIVERY_GRACE_MS))
    }

    pub(super) fn ids(&self) -> Vec<i64> {
        self.list.iter().map(|(_, i)| i.id).collect()
    }

    /// The first incident of `target` that `pred` accepts.
    fn find(&self, target: &str, pred: &dyn Fn(&Inc) -> bool) -> Option<i64> {
        self.by_target
            .get(target)?
            .iter()
            .find(|i| pred(i))
            .map(|i| i.id)
    }

    /// The incident of `target` that was already detected at `at` and still open.
    pub(super) fn detected_during(&self, target: &str, at: i64) -> Option<&'a Inc> {
        self.by_target
            .get(target)
            .and_then(|l| l.iter().find(|i| i.contains(at) && at > i.detected))
            .copied()
    }
}

/// Which messages speak of which incidents.
pub(super) struct Matches<'m> {
    /// Incident -> receiver -> (first firing message, the parent it came through).
    firing: HashMap<i64, BTreeMap<String, (&'m Message, Option<String>)>>,
    /// (incident, receiver) -> when the "restored" message was delivered.
    resolved: HashMap<(i64, String), i64>,
    /// Messages the timeline shows: about an incident here or a target in scope, in order.
    pub(super) shown: Vec<&'m Message>,
}

/// Matches every message to the incidents it fires or resolves, directly or through a parent
/// that explains the target.
pub(super) fn match_messages<'m>(
    msgs: &'m [Message],
    incs: &InWindow<'_>,
    in_scope: &[String],
) -> Matches<'m> {
    let scope_set: HashSet<&str> = in_scope.iter().map(String::as_str).collect();
    let mut out = Matches {
        firing: HashMap::new(),
        resolved: HashMap::new(),
        shown: Vec::new(),
    };
    for m in msgs {
        let mut relevant = false;
        for a in &m.n.targets {
            if a.status == Status::Resolved {
                if let Some(end) = a.ended_at.map(ms)
                    && let Some(inc) = incs.find(&a.id, &|i: &Inc| i.end == Some(end))
                {
                    relevant = true;
                    if let Some(d) = m.delivered {
                        out.resolved.entry((inc, m.receiver.clone())).or_insert(d);
                    }
                }
                continue;
            }
            // Flapping notices carry the flap's time, not the outage's start; they still
            // fall inside the outage, and only the first message per receiver counts.
            let start = ms(a.started_at);
            let mut hits: Vec<(i64, Option<String>)> = Vec::new();
            if let Some(inc) = incs.find(&a.id, &|i: &Inc| i.contains(start)) {
                hits.push((inc, None));
            }
            // The dependants it took down, by id (`explains` holds their names).
            for child in a.explained.iter().map(|e| e.id.as_str()) {
                if let Some(inc) = incs.find(child, &|i: &Inc| i.contains(m.created)) {
                    hits.push((inc, Some(a.id.clone())));
                }
            }
            for (inc, via) in hits {
                relevant = true;
                let slot = out.firing.entry(inc).or_default().entry(m.receiver.clone());
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
            out.shown.push(m);
        }
    }
    out
}

/// The deliveries of one incident, one per receiver (in receiver order).
fn deliveries(i: &Inc, matches: &Matches<'_>) -> Vec<Delivery> {
    matches
        .firing
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
            resolved_delivered_at: matches
                .resolved
                .get(&(i.id, receiver.clone()))
                .map(|d| from_ms(*d)),
        })
        .collect()
}

/// One outage row per incident in the window, with its deliveries and acknowledgement.
pub(super) fn rows(
    scope: &Scope<'_>,
    drill_id: i64,
    incs: &InWindow<'_>,
    matches: &Matches<'_>,
    acks: &HashMap<i64, Ack>,
) -> Vec<Outage> {
    let mut outages = Vec::with_capacity(incs.list.len());
    for (t, i) in &incs.list {
        let inf = scope.info(t);
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
            in_window_seconds: secs(i.overlap(scope.from, scope.to)),
            cause: i.cause.clone(),
            explained_by: i.explained_by.clone(),
            drill_tagged: i.drill == Some(drill_id),
            acknowledged_at: ack.map(|a| from_ms(a.0)),
            acknowledged_by: ack.map(|a| a.1.clone()),
            ack_seconds: ack.map(|a| secs(a.0 - i.detected)),
            deliveries: deliveries(i, matches),
        });
    }
    outages
}
