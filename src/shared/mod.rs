//! The handles tasks and web filters receive: the configuration in force, the live board,
//! metrics, the store, the event buses, the prober, the running drills and the reload handle.
//! It imports only the rooms below it (config, store, metrics, status, probe, events), never a
//! subsystem that uses it (alerting, drill, reload, web), so every subsystem can take it.

pub mod drills;
pub mod reload;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::events::{Event, WebEvent};
use crate::metrics::Metrics;
use crate::probe::{HeartbeatRegistry, Prober};
use crate::status::Board;
use crate::store::Store;

pub use drills::Drills;
pub use reload::Reloader;

/// Shared handles given to tasks and web filters. Cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    /// The configuration in force; replaced whole by a reload.
    pub(crate) config: Arc<RwLock<Arc<Config>>>,
    pub board: Board,
    pub metrics: Metrics,
    pub store: Store,
    pub events: broadcast::Sender<Event>,
    /// Set once the scheduler is running; `/readyz` reports it.
    pub ready: Arc<AtomicBool>,
    /// Last heartbeat push per target: written by `POST /api/v1/push/{target}`, read by probes.
    pub heartbeats: HeartbeatRegistry,
    /// The process's prober, for on-demand probes of configured targets (`/probe`).
    pub prober: Arc<Prober>,
    pub reloader: Reloader,
    /// The drills running now (changed by the drill module, read by scheduler, engine,
    /// alerting and pages).
    pub drills: Drills,
    /// Cancelled when the app stops; long-lived responses (SSE) end on it so the web server's
    /// graceful shutdown does not wait for connected browsers.
    pub shutdown: CancellationToken,
    /// Events raised by the web layer itself (acknowledgements), merged into `/api/v1/events`.
    pub web_events: broadcast::Sender<WebEvent>,
}

impl AppState {
    /// The configuration in force right now.
    pub fn config(&self) -> Arc<Config> {
        // A poisoned lock still holds a whole Arc (replacing it is one assignment).
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_config(&self, c: Config) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(c);
    }

    /// Copies gauges that live elsewhere (store health) into the registry before a scrape.
    pub fn refresh_gauges(&self) {
        let h = &self.store.health;
        let m = &self.metrics;
        m.store_queue_depth
            .set(h.queue_depth.load(Ordering::Relaxed) as i64);
        m.store_degraded
            .set(i64::from(h.degraded.load(Ordering::Relaxed)));
        m.store_backlog
            .set(h.backlog.load(Ordering::Relaxed) as i64);
        m.store_commit_seconds
            .set(h.last_commit_us.load(Ordering::Relaxed) as f64 / 1e6);
        // Counters cannot be set, only advanced: catch them up with the writer's totals.
        let written = h.rows_written.load(Ordering::Relaxed);
        m.store_rows_written
            .inc_by(written.saturating_sub(m.store_rows_written.get()));
        let failures = h.write_failures.load(Ordering::Relaxed);
        m.store_write_failures
            .inc_by(failures.saturating_sub(m.store_write_failures.get()));
        let dropped = h.rows_dropped.load(Ordering::Relaxed);
        m.store_rows_dropped
            .inc_by(dropped.saturating_sub(m.store_rows_dropped.get()));
    }
}
