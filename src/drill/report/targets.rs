//! Per-target availability of the drill report: one row per target in scope, over the drill
//! window and over the target's own part of the baseline.

use std::collections::HashMap;

use super::read::{self, Inc};
use super::scope::Scope;
use super::{Stats, TargetRow, secs};
use crate::store::availability_by_target;
use crate::store::rollup::Resolution;
use crate::store::sql::{Sql, SqlError};

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

/// Drill availability minus baseline availability.
pub(super) fn change(drill: &Stats, baseline: &Stats) -> Option<f64> {
    Some(drill.availability? - baseline.availability?)
}

/// One row per target in scope, least available first.
pub(super) fn rows(
    c: &mut dyn Sql,
    scope: &Scope<'_>,
    in_scope: &[String],
    incs: &HashMap<String, Vec<Inc>>,
    running: bool,
) -> Result<Vec<TargetRow>, SqlError> {
    let (from, to, b_from, b_to) = (scope.from, scope.to, scope.b_from, scope.b_to);
    // Probe counts from rollups end at the last whole minute before each window's end, so
    // the probes after a drill (or after its start, for the baseline) never creep into a
    // finished report; while a drill runs they run to now.
    let minute = |t: i64| Resolution::Minute.floor(t);
    let count_to = if running { to } else { minute(to) };
    let drill_counts = availability_by_target(c, Some(in_scope), from, count_to)?;
    let base_counts = availability_by_target(c, Some(in_scope), b_from, minute(b_to))?;
    let none: Vec<Inc> = Vec::new();

    let mut rows = Vec::with_capacity(in_scope.len());
    for id in in_scope {
        let i = scope.info(id);
        let list = incs.get(id).unwrap_or(&none);
        let counts = |m: &HashMap<String, crate::store::Availability>| {
            m.get(id).map_or((0, 0), |a| (a.count, a.ok))
        };
        let sid = scope.store_ids.get(id).copied();
        let has_data = match sid {
            Some(sid) => read::any_sample(c, sid, from, to)?,
            None => false,
        };
        let drill_stats = stats(list, from, to, counts(&drill_counts), has_data);
        let base_from = match sid {
            Some(sid) => read::first_data(c, sid, b_from, minute(b_to))?.map(|f| f.max(b_from)),
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
            interval_seconds: scope.interval_of(id),
            drill: drill_stats,
            baseline,
        });
    }
    rows.sort_by(|a, b| {
        let av = |r: &TargetRow| r.drill.availability.unwrap_or(f64::INFINITY);
        av(a).total_cmp(&av(b)).then(a.id.cmp(&b.id))
    });
    Ok(rows)
}
