//! The running drills as every task sees them (scheduler, engine, alerting, pages): a handle
//! with no behaviour of its own beyond reading; the drill module starts and ends drills and
//! publishes the list here.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::config::Target;
use crate::config::drills::Scope;

/// What the scheduler, engine and alerting need to know about a running drill.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningDrill {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    pub interval: Duration,
    pub started_at: DateTime<Utc>,
    pub planned_end: DateTime<Utc>,
}

/// The running drills, shared by everyone who reads them; cheap to clone.
///
/// A `watch` channel rather than a lock: target tasks in the scheduler wait on it, so a drill
/// starting or ending changes their pace at once instead of at their next run.
#[derive(Clone)]
pub struct Drills {
    tx: Arc<watch::Sender<Arc<[RunningDrill]>>>,
    /// Serialises start/stop so two requests cannot both pass the overlap check.
    pub(crate) lifecycle: Arc<tokio::sync::Mutex<()>>,
}

impl Default for Drills {
    fn default() -> Self {
        Drills {
            tx: Arc::new(watch::channel(Arc::from(Vec::new())).0),
            lifecycle: Arc::default(),
        }
    }
}

impl std::fmt::Debug for Drills {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.running().iter()).finish()
    }
}

impl Drills {
    /// The drills running now.
    pub fn running(&self) -> Arc<[RunningDrill]> {
        self.tx.borrow().clone()
    }

    /// Id of the running drill covering this target; allocation-free when no drill runs.
    pub fn covering_id(&self, t: &Target) -> Option<i64> {
        covering(&self.tx.borrow(), t).map(|d| d.id)
    }

    /// Waits for changes (the scheduler's target tasks).
    pub fn subscribe(&self) -> watch::Receiver<Arc<[RunningDrill]>> {
        self.tx.subscribe()
    }

    pub(crate) fn set(&self, list: Vec<RunningDrill>) {
        self.tx.send_replace(Arc::from(list));
    }
}

/// How often a target is probed right now: its drill's interval while a drill covers it (never
/// slower than the target's own), else its own interval.
pub fn effective_interval(t: &Target, running: &[RunningDrill]) -> Duration {
    covering(running, t).map_or(t.interval, |d| d.interval.min(t.interval))
}

/// The running drill whose scope holds the target. Scopes of running drills never share a
/// target (starting an overlapping drill is refused), so there is at most one.
fn covering<'a>(running: &'a [RunningDrill], t: &Target) -> Option<&'a RunningDrill> {
    running.iter().find(|d| d.scope.matches(t))
}
