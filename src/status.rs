//! The live board: current state and last result of every target, shared by the engine (writer)
//! and the web layer (readers). Reads clone small rows so no lock is held while rendering.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Target;
use crate::metrics::Metrics;
use crate::state::TargetState;
use crate::store::StoredState;

/// The last verdict on a target, as the page and API show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastResult {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub latency_seconds: f64,
    pub error: Option<String>,
    pub detail: Option<String>,
}

impl From<&crate::store::StoredSample> for LastResult {
    fn from(l: &crate::store::StoredSample) -> Self {
        LastResult {
            at: l.at,
            ok: l.ok,
            latency_seconds: l.latency_seconds,
            error: l.error.clone(),
            detail: l.detail.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TargetStatus {
    pub target: Arc<Target>,
    pub state: TargetState,
    pub last: Option<LastResult>,
}

impl TargetStatus {
    /// The one way a target joins the running daemon (start, reload, the engine): its state and
    /// last result as stored (so "since" survives restarts and a confirmed outage need not be
    /// confirmed again), or a fresh UNKNOWN at `now`; and its metric series, registered and set
    /// to that state.
    pub fn set_up(
        target: Arc<Target>,
        stored: Option<&StoredState>,
        metrics: &Metrics,
        now: DateTime<Utc>,
    ) -> TargetStatus {
        let state = stored.map_or_else(|| TargetState::new(now), |s| s.state.clone());
        let last = stored.and_then(|s| s.last.as_ref().map(LastResult::from));
        let row = TargetStatus {
            target,
            state,
            last,
        };
        row.publish(metrics);
        row
    }

    /// Registers the target's metric series and sets them to its state (also for a target whose
    /// labels a reload changed: its old series are gone, the state is kept).
    pub fn publish(&self, metrics: &Metrics) {
        metrics.register_target(&self.target);
        metrics.set_state(&self.target, self.state.state);
        metrics.set_flapping(&self.target, self.state.flapping);
    }
}

#[derive(Default)]
struct Inner {
    rows: Vec<TargetStatus>,
    index: HashMap<String, usize>,
}

/// Current status of every configured target, in configuration order.
#[derive(Clone, Default)]
pub struct Board {
    inner: Arc<RwLock<Inner>>,
}

impl Board {
    pub fn new(rows: Vec<TargetStatus>) -> Board {
        let index = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.target.id.clone(), i))
            .collect();
        Board {
            inner: Arc::new(RwLock::new(Inner { rows, index })),
        }
    }

    /// A poisoned lock means a writer panicked between two plain field assignments; the rows
    /// are still whole, so keep serving them rather than taking the status page down.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn update(&self, id: &str, state: TargetState, last: LastResult) {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(&i) = g.index.get(id) {
            let row = &mut g.rows[i];
            row.state = state;
            row.last = Some(last);
        }
    }

    /// Replaces every row (configuration reload).
    pub fn replace(&self, rows: Vec<TargetStatus>) {
        let index = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.target.id.clone(), i))
            .collect();
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        *g = Inner { rows, index };
    }

    /// Changes the state alone (a parent's fall re-explained this target without a new result).
    pub fn update_state(&self, id: &str, state: TargetState) {
        let mut g = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(&i) = g.index.get(id) {
            g.rows[i].state = state;
        }
    }

    pub fn snapshot(&self) -> Vec<TargetStatus> {
        self.read().rows.clone()
    }

    pub fn get(&self, id: &str) -> Option<TargetStatus> {
        let g = self.read();
        g.index.get(id).map(|&i| g.rows[i].clone())
    }

    pub fn len(&self) -> usize {
        self.read().rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
