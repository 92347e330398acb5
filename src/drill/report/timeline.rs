//! The drill report's timeline: alerts, incident changes, acknowledgements, notes and the
//! drill's own start and end as one list in time order.

use std::collections::HashMap;

use super::outages::{InWindow, Matches};
use super::read::Ack;
use super::scope::Scope;
use super::{Drill, Note, TimelineEntry, TimelineKind};
use crate::state::State;
use crate::store::from_ms;

/// Everything the timeline is built from.
pub(super) struct Sources<'r, 'a> {
    pub(super) drill: &'r Drill,
    pub(super) notes: &'r [Note],
    pub(super) scope: &'r Scope<'a>,
    pub(super) incs: &'r InWindow<'r>,
    pub(super) matches: &'r Matches<'r>,
    pub(super) acks: &'r HashMap<i64, Ack>,
    pub(super) worsenings: Vec<(String, State, i64)>,
}

/// The timeline, sorted by time and then by kind, target and receiver; lines equal in all of
/// these keep the order they are gathered in (alerts, incidents, worsenings, notes, drill).
pub(super) fn build(src: Sources<'_, '_>) -> Vec<TimelineEntry> {
    let mut timeline = alerts(src.matches);
    incidents(&src, &mut timeline);
    worsened(&src, &mut timeline);
    for n in src.notes {
        let mut e = TimelineEntry::new(n.at, TimelineKind::Note);
        e.author = Some(n.author.clone());
        e.text = Some(n.text.clone());
        timeline.push(e);
    }
    timeline.push(TimelineEntry::new(
        src.drill.started_at,
        TimelineKind::DrillStarted,
    ));
    if let Some(end) = src.drill.ended_at {
        timeline.push(TimelineEntry::new(end, TimelineKind::DrillEnded));
    }
    timeline.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then(a.kind.cmp(&b.kind))
            .then(a.target.cmp(&b.target))
            .then(a.receiver.cmp(&b.receiver))
    });
    timeline
}

/// One line per message shown: when it was delivered, or when it was written if it was not.
fn alerts(matches: &Matches<'_>) -> Vec<TimelineEntry> {
    matches
        .shown
        .iter()
        .map(|m| {
            let (kind, at) = match (m.status.as_str(), m.delivered) {
                (_, Some(d)) => (TimelineKind::AlertDelivered, d),
                ("dead", None) => (TimelineKind::AlertFailed, m.created),
                _ => (TimelineKind::AlertPending, m.created),
            };
            let mut e = TimelineEntry::new(from_ms(at), kind);
            e.receiver = Some(m.receiver.clone());
            e.text = Some(m.n.title());
            e
        })
        .collect()
}

/// Start, detection, first acknowledgement and restoration of every incident in the window.
fn incidents(src: &Sources<'_, '_>, timeline: &mut Vec<TimelineEntry>) {
    for (t, i) in &src.incs.list {
        let inf = src.scope.info(t);
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
        if let Some(a) = src.acks.get(&i.id) {
            let mut e = entry(a.0, TimelineKind::Acknowledged, None);
            e.author = Some(a.1.clone());
            e.text = (!a.2.is_empty()).then(|| a.2.clone());
            timeline.push(e);
        }
        if let Some(end) = i.end {
            timeline.push(entry(end, TimelineKind::Restored, Some(State::Up)));
        }
    }
}

/// Worse states reached after detection, for incidents in the window only.
fn worsened(src: &Sources<'_, '_>, timeline: &mut Vec<TimelineEntry>) {
    for (target, state, at) in &src.worsenings {
        if let Some(i) = src.incs.detected_during(target, *at) {
            let mut e = TimelineEntry::new(from_ms(*at), TimelineKind::Worsened);
            e.name = Some(src.scope.info(target).name(target));
            e.target = Some(target.clone());
            e.state = Some(*state);
            e.incident_id = Some(i.id);
            timeline.push(e);
        }
    }
}
