//! The drill report's groups (operator, service, commune) and its summary: totals, the worst
//! groups and the spread of detection, alert, acknowledgement and restoration times.

use std::collections::BTreeMap;

use super::targets::change;
use super::{ExpectedFault, GroupRow, Outage, Spread, Stats, Summary, TargetRow, Worst, secs};

/// The target rows grouped three ways, each worst first.
pub(super) struct Groups {
    pub(super) by_operator: Vec<GroupRow>,
    pub(super) by_service: Vec<GroupRow>,
    pub(super) by_commune: Vec<GroupRow>,
}

impl Groups {
    pub(super) fn of(rows: &[TargetRow]) -> Groups {
        Groups {
            by_operator: group_rows(rows, |r| (r.operator.clone(), None)),
            by_service: group_rows(rows, |r| (r.service.clone(), None)),
            // Commune names repeat across provinces, so a commune is keyed with its province.
            by_commune: group_rows(rows, |r| (r.commune.clone(), Some(r.province.clone()))),
        }
    }
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

/// The summary over all targets; the time spreads cover outages inside the window only.
pub(super) fn summary(
    window_ms: i64,
    rows: &[TargetRow],
    groups: &Groups,
    outages: &[Outage],
    expected: &[ExpectedFault],
) -> Summary {
    let mut total = Stats::default();
    let mut base_total = Stats::default();
    for r in rows {
        total.add(&r.drill);
        base_total.add(&r.baseline);
    }
    let total = total.finish();
    let base_total = base_total.finish();
    let in_window: Vec<&Outage> = outages
        .iter()
        .filter(|o| o.counts_as_downtime && o.in_window_seconds > 0.0)
        .collect();
    Summary {
        duration_seconds: secs(window_ms),
        targets: rows.len(),
        targets_with_data: rows
            .iter()
            .filter(|r| r.drill.availability.is_some())
            .count(),
        targets_with_outages: rows.iter().filter(|r| r.drill.outages > 0).count(),
        change: change(&total, &base_total),
        drill: total,
        baseline: base_total,
        worst_operator: worst(&groups.by_operator),
        worst_commune: worst(&groups.by_commune),
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
    }
}
