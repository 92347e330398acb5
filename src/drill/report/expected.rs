//! The faults the drill's notes said were injected, each checked against the incidents
//! the store recorded for its target.

use std::collections::HashMap;

use super::read::Inc;
use super::scope::Scope;
use super::{ExpectedFault, Note, secs};
use crate::store::{from_ms, ms};

/// One line per (note, expected target): detected when an incident of the target starts at
/// or after the note less one probe interval (the fault may have been injected just before
/// the note was written) and before the note's `expected_until` or the window's end.
pub(super) fn faults(
    scope: &Scope<'_>,
    notes: &[Note],
    incs: &HashMap<String, Vec<Inc>>,
) -> Vec<ExpectedFault> {
    let mut expected = Vec::new();
    for n in notes {
        let at = ms(n.at);
        for t in &n.expected_targets {
            let slack = (scope.interval_of(t) * 1_000.0) as i64;
            let limit = n.expected_until.map(ms).unwrap_or(scope.to);
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
                name: scope.info(t).name(t),
                expected_until: n.expected_until,
                detected: hit.is_some(),
                incident_id: hit.map(|i| i.id),
                started_at: hit.map(|i| from_ms(i.start)),
                detected_at: hit.map(|i| from_ms(i.detected)),
                detection_seconds: hit.map(|i| secs(i.detected - at)),
                ended_at: hit.and_then(|i| i.end.map(from_ms)),
            });
        }
    }
    expected
}
