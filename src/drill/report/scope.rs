//! The drill report's frame: the drill window and its baseline, and what the configuration
//! and the store know about each target (name, labels, interval, store id, incidents).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::read::{self, Inc};
use super::{Drill, Note, Window, secs};
use crate::config::Target;
use crate::store::sql::{Sql, SqlError};
use crate::store::{from_ms, ms};

/// What the configuration says about a target (labels, name, interval); targets removed from
/// the configuration since the drill keep their id as name and no labels.
pub(super) struct Info<'a> {
    target: Option<&'a Target>,
}

impl Info<'_> {
    pub(super) fn name(&self, id: &str) -> String {
        self.target
            .map_or_else(|| id.to_string(), |t| t.name.clone())
    }
    pub(super) fn label(&self, f: impl Fn(&crate::config::Labels) -> &String) -> String {
        self.target
            .map(|t| f(&t.labels).clone())
            .unwrap_or_default()
    }
}

/// The windows of one report (milliseconds) and the lookups every step shares.
pub(super) struct Scope<'a> {
    /// The drill window `[from, to)`.
    pub(super) from: i64,
    pub(super) to: i64,
    /// The baseline window `[b_from, b_to)`, ending where the drill starts.
    pub(super) b_from: i64,
    pub(super) b_to: i64,
    drill_interval: Option<f64>,
    by_id: HashMap<&'a str, &'a Target>,
    pub(super) store_ids: HashMap<String, i64>,
}

impl<'a> Scope<'a> {
    pub(super) fn new(
        c: &mut dyn Sql,
        drill: &Drill,
        now: DateTime<Utc>,
        targets: &'a [Arc<Target>],
    ) -> Result<Scope<'a>, SqlError> {
        let from = ms(drill.started_at);
        let to = ms(drill.end_or(now)).max(from);
        let by_id = targets
            .iter()
            .map(|t| (t.id.as_str(), t.as_ref()))
            .collect();
        Ok(Scope {
            from,
            to,
            b_from: from - (drill.baseline_seconds * 1_000.0) as i64,
            b_to: from,
            drill_interval: drill.interval_seconds,
            by_id,
            store_ids: read::store_ids(c)?,
        })
    }

    pub(super) fn info(&self, id: &str) -> Info<'a> {
        Info {
            target: self.by_id.get(id).copied(),
        }
    }

    /// The interval a target was probed at during the drill: drill mode only ever speeds
    /// probing up, so the faster of its own and the drill's (60 s when neither is known).
    pub(super) fn interval_of(&self, id: &str) -> f64 {
        let own = self.by_id.get(id).map(|t| t.interval.as_secs_f64());
        match (own, self.drill_interval) {
            (Some(o), Some(d)) => o.min(d),
            (o, d) => o.or(d).unwrap_or(60.0),
        }
    }

    pub(super) fn window(&self) -> Window {
        window(self.from, self.to)
    }

    pub(super) fn baseline_window(&self) -> Window {
        window(self.b_from, self.b_to)
    }

    /// Incidents over the baseline and the drill of the targets whose incidents matter: those
    /// in scope, and any a note expected to fail.
    pub(super) fn incidents(
        &self,
        c: &mut dyn Sql,
        in_scope: &[String],
        notes: &[Note],
    ) -> Result<HashMap<String, Vec<Inc>>, SqlError> {
        let mut watched: Vec<String> = in_scope.to_vec();
        for n in notes {
            for t in &n.expected_targets {
                if !watched.contains(t) {
                    watched.push(t.clone());
                }
            }
        }
        let mut incs = HashMap::new();
        for t in &watched {
            if let Some(id) = self.store_ids.get(t) {
                incs.insert(
                    t.clone(),
                    read::incidents(c, *id, self.b_from.min(self.from), self.to)?,
                );
            }
        }
        Ok(incs)
    }
}

fn window(from: i64, to: i64) -> Window {
    Window {
        from: from_ms(from),
        to: from_ms(to),
        seconds: secs(to - from),
    }
}
