//! Wiring and shutdown order; nothing but `cli` (and the demo, which runs a daemon) imports it.
//! No business logic lives here: it builds the parts, connects them
//! and stops them in order — scheduler, engine, web, store — when the one signal fires.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Target};
use crate::engine::{Engine, EngineParts};
use crate::metrics::Metrics;
use crate::probe::{Prober, ProberError};
use crate::reload::{ReloadTask, Reloader};
use crate::scheduler::Scheduler;
use crate::shared::AppState;
use crate::status::{Board, TargetStatus};
use crate::store::{Store, StoreError, WriterHandle};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Prober(#[from] ProberError),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error("cannot restore running drills: {0}")]
    Drills(#[from] crate::drill::service::DrillError),
}

/// Capacity of the event bus; slow subscribers miss old events rather than slowing the engine.
const EVENT_CAPACITY: usize = 4_096;
/// Capacity of the web layer's own events (acknowledgements: human-rate).
const WEB_EVENT_CAPACITY: usize = 256;
/// Results waiting for the engine; the scheduler waits when it is full.
const RESULT_CAPACITY: usize = 4_096;

/// A running daemon.
pub struct App {
    pub state: AppState,
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    scheduler: JoinHandle<()>,
    engine: JoinHandle<()>,
    web: JoinHandle<()>,
    reload: JoinHandle<()>,
    drills: JoinHandle<()>,
    alert_stop: CancellationToken,
    grouper: JoinHandle<()>,
    delivery: JoinHandle<()>,
    writer: WriterHandle,
}

impl App {
    /// Opens the store, restores state, binds the listener and starts probing.
    pub async fn start(config: Config) -> Result<App, AppError> {
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .map_err(|e| AppError::Listen(config.server.listen, e))?;
        Self::start_with_listener(config, listener).await
    }

    /// As [`App::start`], on a listener the caller bound (tests bind port 0).
    pub async fn start_with_listener(
        config: Config,
        listener: tokio::net::TcpListener,
    ) -> Result<App, AppError> {
        let local_addr = listener
            .local_addr()
            .map_err(|e| AppError::Listen(config.server.listen, e))?;
        let (store, writer) = Store::open_configured(&config.storage)?;
        let metrics = Metrics::new()?;
        metrics
            .store_info
            .with_label_values(&[store.engine().as_str()])
            .set(1);
        let me = &config.instance;
        metrics
            .instance_info
            .with_label_values(&[
                me.id.as_str(),
                me.name.as_str(),
                me.location.as_deref().unwrap_or(""),
            ])
            .set(1);
        let prober = Arc::new(Prober::new()?.with_portal_profiles(
            crate::probe::PortalProfiles::in_dir(config.storage.portal_dir()),
        ));
        let (states, rows) = restore(&config, &store, &prober, &metrics, local_addr).await?;
        // The configuration's own `Arc`s: the scheduler, engine and board share them.
        let targets: Vec<Arc<Target>> = config.targets.clone();

        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let shutdown = CancellationToken::new();
        let board = Board::new(rows);
        let (reloader, reload_requests) = Reloader::new();
        let anchors = config.monitor.anchors.clone();
        let sizing = sizing(&config);
        let maintenance = config.maintenance.clone();
        let drills = crate::shared::Drills::default();
        let state = AppState {
            config: Arc::new(RwLock::new(Arc::new(config))),
            reloader,
            drills: drills.clone(),
            board: board.clone(),
            metrics: metrics.clone(),
            store: store.clone(),
            events: events.clone(),
            ready: Arc::new(AtomicBool::new(false)),
            heartbeats: prober.heartbeats(),
            prober: prober.clone(),
            shutdown: shutdown.clone(),
            web_events: broadcast::channel(WEB_EVENT_CAPACITY).0,
        };

        // Drills that were running when commwatch stopped resume before the first probe, so
        // every sample of theirs is tagged and probed at the drill pace.
        crate::drill::service::restore(&state, crate::time::now_ms()).await?;
        let drill_task = tokio::spawn(crate::drill::service::run(state.clone(), shutdown.clone()));

        let (tx, rx) = mpsc::channel(RESULT_CAPACITY);
        let engine = Engine::new(
            EngineParts {
                board,
                metrics: metrics.clone(),
                store,
                events,
                anchors,
                maintenance,
                drills: drills.clone(),
            },
            &targets,
            states,
        );
        let (engine_ctl, engine_ctl_rx) = mpsc::channel(4);
        let engine = tokio::spawn(engine.run(rx, engine_ctl_rx));
        let scheduler = Scheduler {
            prober,
            permits: Arc::new(Semaphore::new(0)),
            max_concurrency: 0,
            sizing,
            metrics,
            results: tx,
            shutdown: shutdown.clone(),
            drills: drills.clone(),
        };
        let (resched, resched_rx) = mpsc::channel(4);
        let scheduler = tokio::spawn(scheduler.run(targets, resched_rx));
        let reload = tokio::spawn(
            ReloadTask {
                state: state.clone(),
                engine: engine_ctl,
                scheduler: resched,
                shutdown: shutdown.clone(),
            }
            .run(reload_requests),
        );
        state.ready.store(true, Ordering::Relaxed);

        // Alerting stops after the engine (so the last state changes are grouped) and before
        // the store; it has a token of its own for that order.
        let alert_stop = CancellationToken::new();
        let wake = crate::alerting::Wake::default();
        let grouper = tokio::spawn(
            crate::alerting::group::Grouper {
                state: state.clone(),
                drills: drills.clone(),
                wake_delivery: wake.clone(),
                shutdown: alert_stop.clone(),
            }
            .run(),
        );
        let delivery = tokio::spawn(
            crate::alerting::delivery::Delivery {
                state: state.clone(),
                wake,
                shutdown: alert_stop.clone(),
            }
            .run(),
        );

        let web_stop = shutdown.clone();
        let web = tokio::spawn(crate::web::serve(state.clone(), listener, async move {
            web_stop.cancelled().await
        }));

        Ok(App {
            state,
            local_addr,
            shutdown,
            scheduler,
            engine,
            web,
            reload,
            drills: drill_task,
            alert_stop,
            grouper,
            delivery,
            writer,
        })
    }

    /// The address the web server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A token that stops the app when cancelled (signal handlers hold a clone).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops in order: scheduling (in-flight probes finish or time out), the engine (drains
    /// results), alert delivery (bounded grace), the web server, then the store (commits
    /// everything) — and returns when done.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.state.ready.store(false, Ordering::Relaxed);
        // No reload may start mid-shutdown.
        if let Err(e) = self.reload.await {
            tracing::error!(error = %e, "reload task failed");
        }
        // Nor a drill start or planned end.
        if let Err(e) = self.drills.await {
            tracing::error!(error = %e, "drill task failed");
        }
        if let Err(e) = self.scheduler.await {
            tracing::error!(error = %e, "scheduler task failed");
        }
        if let Err(e) = self.engine.await {
            tracing::error!(error = %e, "engine task failed");
        }
        // Alerting: one last grouping pass has already run on its tick; delivery gets a
        // bounded grace and whatever is left stays in the outbox for the next start.
        self.alert_stop.cancel();
        for (name, task) in [
            ("alert grouping", self.grouper),
            ("alert delivery", self.delivery),
        ] {
            if let Err(e) = task.await {
                tracing::error!(error = %e, task = name, "task failed");
            }
        }
        if let Err(e) = self.web.await {
            tracing::error!(error = %e, "web task failed");
        }
        // The writer exits once every Store handle is gone; the last one is in AppState.
        drop(self.state);
        self.writer.join().await;
        tracing::info!("commwatch stopped");
    }

    /// Runs until the token is cancelled (by a signal handler), then shuts down.
    pub async fn run_until_stopped(self) {
        self.shutdown.cancelled().await;
        self.shutdown().await;
    }
}

/// The state each target resumes from: the stored state (so "since" survives restarts and an
/// outage already confirmed need not be confirmed again) and the heartbeats pushed before the
/// restart (a site that pushed just before is not silent).
async fn restore(
    config: &Config,
    store: &Store,
    prober: &Prober,
    metrics: &Metrics,
    local_addr: SocketAddr,
) -> Result<
    (
        HashMap<String, crate::state::TargetState>,
        Vec<TargetStatus>,
    ),
    AppError,
> {
    let heartbeats = prober.heartbeats();
    for (target, (push, count)) in store.load_pushes().await? {
        heartbeats.restore(&target, push, count);
    }
    let stored = store.load_states().await?;
    let now = crate::time::now_ms();
    let mut states = HashMap::new();
    let mut rows = Vec::with_capacity(config.targets.len());
    // The configuration's own `Arc`s: the scheduler, engine and board share them.
    for t in &config.targets {
        let row = TargetStatus::set_up(t.clone(), stored.get(&t.id), metrics, now);
        states.insert(t.id.clone(), row.state.clone());
        rows.push(row);
    }
    metrics.targets.set(config.targets.len() as i64);
    tracing::info!(
        targets = config.targets.len(),
        restored = stored.len(),
        store = %config.storage.path.display(),
        listen = %local_addr,
        "commwatch starting"
    );
    Ok((states, rows))
}

/// How the scheduler sizes its probe cap: the configured one, within the open-files limit
/// (raised to the hard limit first).
fn sizing(config: &Config) -> crate::scheduler::Sizing {
    crate::scheduler::Sizing {
        configured: config.scheduler.max_concurrency,
        nofile: match crate::limits::raise_nofile() {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the open-files limit");
                None
            }
        },
    }
}
