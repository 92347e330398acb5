//! The scheduler: one lightweight task per target, each on its own interval, first runs spread
//! over the interval, a global cap on probes holding sockets (sized for a storm at the current
//! pace unless configured), and a hard deadline per probe. A target that hangs only ever
//! delays itself. While a drill covers a target, it runs at the drill's interval.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Target;
use crate::metrics::Metrics;
use crate::probe::{Observation, Prober};
use crate::shared::drills::{Drills, RunningDrill, effective_interval};

/// One finished probe, on its way to the engine.
#[derive(Debug)]
pub struct ProbeResult {
    pub target: Arc<Target>,
    pub observation: Observation,
}

/// Where in its interval a target first runs: a stable hash of the id, so first runs spread
/// evenly (no burst at start) and stay put across restarts and across instances.
pub fn first_offset(id: &str, interval: Duration) -> Duration {
    let h = crate::stable_hash(id);
    let frac = (h % 10_000) as f64 / 10_000.0;
    interval.mul_f64(frac)
}

/// Changes the set of scheduled targets (a configuration reload).
#[derive(Debug)]
pub struct Reschedule {
    /// The full new set of targets.
    pub targets: Vec<Arc<Target>>,
    /// Ids whose task must restart even though the id stays (their probe changed).
    pub restart: Vec<String>,
    /// `max_concurrency` as configured from now on (`None`: sized for a storm).
    pub configured: Option<usize>,
}

/// How the cap on probes holding sockets is set.
#[derive(Debug, Clone, Copy)]
pub struct Sizing {
    /// `max_concurrency` as configured; `None`: sized for a storm at the current pace.
    pub configured: Option<usize>,
    /// The open-files limit the cap must fit in (`None`: unknown).
    pub nofile: Option<u64>,
}

impl Sizing {
    /// The cap for `targets` while `drills` run, and the storm's need at that pace.
    pub fn cap(&self, targets: &[Arc<Target>], drills: &[RunningDrill]) -> (usize, usize) {
        let need = crate::config::storm_need(
            targets
                .iter()
                .map(|t| (t.as_ref(), effective_interval(t, drills))),
        );
        let wanted = self
            .configured
            .unwrap_or_else(|| crate::config::storm_sized(need));
        let cap = match self.nofile {
            Some(n) => {
                let cap = crate::limits::fit_concurrency(wanted, n);
                if cap < wanted {
                    tracing::warn!(
                        wanted,
                        cap,
                        nofile = n,
                        "the open-files limit holds fewer probe sockets than wanted; raise it (systemd: LimitNOFILE)"
                    );
                }
                cap
            }
            None => wanted,
        };
        (cap, need)
    }
}

pub struct Scheduler {
    pub prober: Arc<Prober>,
    /// One permit per probe allowed to hold a socket: `max_concurrency` of them, less those
    /// a lowered cap has yet to take back. Created empty; `run` sizes it.
    pub permits: Arc<Semaphore>,
    /// The cap in force.
    pub max_concurrency: usize,
    pub sizing: Sizing,
    pub metrics: Metrics,
    pub results: mpsc::Sender<ProbeResult>,
    pub shutdown: CancellationToken,
    /// Running drills: targets in their scope run at the drill interval.
    pub drills: Drills,
}

/// One running target task.
struct Running {
    stop: CancellationToken,
}

impl Scheduler {
    fn spawn(&self, tasks: &mut JoinSet<()>, target: Arc<Target>, start: Instant) -> Running {
        let stop = self.shutdown.child_token();
        let ctx = TaskCtx {
            prober: self.prober.clone(),
            permits: self.permits.clone(),
            in_flight: self.metrics.probes_in_flight.clone(),
            lateness: self
                .metrics
                .schedule_lateness
                .with_label_values(&[target.kind()]),
            results: self.results.clone(),
            shutdown: stop.clone(),
            drills: self.drills.subscribe(),
        };
        tasks.spawn(async move { ctx.run_target(target, start).await });
        Running { stop }
    }

    /// Sizes the cap for `targets` at the pace of the running `drills`, warning when a storm
    /// would queue probes.
    fn size(&mut self, targets: &[Arc<Target>], drills: &[RunningDrill]) {
        let (cap, need) = self.sizing.cap(targets, drills);
        if cap != self.max_concurrency && cap < need {
            tracing::warn!(
                cap,
                need,
                "if every endpoint timed out, {need} probes would hold sockets at once but only {cap} may: probes would queue and outages be seen late; raise max_concurrency"
            );
        }
        self.resize(cap);
    }

    /// Sets the cap to `cap`. Raising it adds permits (a take-back still pending from a
    /// lowering gets them first). Lowering it forgets the free permits at once and takes the
    /// rest as probes return them, after the probes already waiting: a probe in flight is
    /// never cut short, and the lower cap holds fully once the queue has drained.
    fn resize(&mut self, cap: usize) {
        let cap = cap.clamp(1, crate::config::MAX_CONCURRENCY_LIMIT);
        if cap > self.max_concurrency {
            self.permits.add_permits(cap - self.max_concurrency);
        } else if cap < self.max_concurrency {
            let excess = self.max_concurrency - cap;
            let rest = excess - self.permits.forget_permits(excess);
            if let Ok(rest) = u32::try_from(rest)
                && rest > 0
            {
                let permits = self.permits.clone();
                let shutdown = self.shutdown.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        p = permits.acquire_many_owned(rest) => {
                            if let Ok(p) = p {
                                p.forget();
                            }
                        }
                        _ = shutdown.cancelled() => {}
                    }
                });
            }
        }
        if cap != self.max_concurrency {
            tracing::info!(
                from = self.max_concurrency,
                to = cap,
                "probe concurrency changed"
            );
        }
        self.max_concurrency = cap;
    }

    /// Runs until `shutdown` fires; in-flight probes finish (or hit their deadline) first.
    /// Reschedules arrive on `changes`: unchanged targets keep their task and their timing.
    pub async fn run(mut self, targets: Vec<Arc<Target>>, mut changes: mpsc::Receiver<Reschedule>) {
        let mut tasks = JoinSet::new();
        let start = Instant::now();
        let mut running: HashMap<String, Running> = HashMap::new();
        let mut drills = self.drills.subscribe();
        let mut drills_open = true;
        let mut current = targets.clone();
        self.size(&current, &drills.borrow_and_update());
        for target in targets {
            let id = target.id.clone();
            let r = self.spawn(&mut tasks, target, start);
            running.insert(id, r);
        }
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                // A drill's faster pace puts more probes in flight in a storm: the cap follows.
                changed = drills.changed(), if drills_open => {
                    if changed.is_err() {
                        drills_open = false;
                        continue;
                    }
                    let now_running = drills.borrow_and_update().clone();
                    self.size(&current, &now_running);
                }
                change = changes.recv() => {
                    let Some(change) = change else {
                        // Nobody can reschedule any more; keep running until shutdown.
                        self.shutdown.cancelled().await;
                        break;
                    };
                    current = change.targets.clone();
                    self.sizing.configured = change.configured;
                    self.apply(change, &mut running, &mut tasks);
                    let now_running = drills.borrow_and_update().clone();
                    self.size(&current, &now_running);
                }
                Some(r) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "a target task failed");
                    }
                }
            }
        }
        drop(self.results);
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "a target task failed");
            }
        }
    }

    fn apply(
        &self,
        change: Reschedule,
        running: &mut HashMap<String, Running>,
        tasks: &mut JoinSet<()>,
    ) {
        let keep: HashSet<&str> = change.targets.iter().map(|t| t.id.as_str()).collect();
        running.retain(|id, r| {
            let stays = keep.contains(id.as_str()) && !change.restart.contains(id);
            if !stays {
                r.stop.cancel();
            }
            stays
        });
        let now = Instant::now();
        for t in change.targets {
            if !running.contains_key(&t.id) {
                let id = t.id.clone();
                let r = self.spawn(tasks, t, now);
                running.insert(id, r);
            }
        }
    }
}

/// What one target task holds: only the handles it uses (not all of [`Metrics`]), since
/// 20,000 of them are alive at once.
struct TaskCtx {
    prober: Arc<Prober>,
    permits: Arc<Semaphore>,
    in_flight: prometheus::IntGauge,
    lateness: prometheus::Histogram,
    results: mpsc::Sender<ProbeResult>,
    shutdown: CancellationToken,
    drills: watch::Receiver<Arc<[RunningDrill]>>,
}

impl TaskCtx {
    async fn run_target(mut self, target: Arc<Target>, start: Instant) {
        let mut interval = effective_interval(&target, &self.drills.borrow_and_update());
        let mut next = start + first_offset(&target.id, interval);
        let mut drills_open = true;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(next) => {}
                _ = self.shutdown.cancelled() => return,
                changed = self.drills.changed(), if drills_open => {
                    if changed.is_err() {
                        // Nobody can start drills any more; keep the pace we have.
                        drills_open = false;
                        continue;
                    }
                    let now_interval = effective_interval(&target, &self.drills.borrow_and_update());
                    if now_interval != interval {
                        // A drill started or ended. When it speeds the target up, the next run
                        // comes within the new interval, at the target's usual offset, so a
                        // province's targets spread over the first drill interval instead of
                        // all firing at once; when it slows down, the planned run stays.
                        let sooner = Instant::now() + first_offset(&target.id, now_interval);
                        if sooner < next {
                            next = sooner;
                        }
                        interval = now_interval;
                    }
                    continue;
                }
            }
            let permit = if target.spec.holds_socket() {
                tokio::select! {
                    p = self.permits.acquire() => match p {
                        Ok(p) => Some(p),
                        Err(_) => return, // semaphore closed: shutting down
                    },
                    _ = self.shutdown.cancelled() => return,
                }
            } else {
                None
            };
            self.lateness
                .observe(Instant::now().saturating_duration_since(next).as_secs_f64());
            // Boxed: the probe's state (an observation of most of a kilobyte, its deadline,
            // the hand-over to the engine) exists only while it runs, so each of 20,000 idle
            // target tasks stays a few hundred bytes instead of a few kilobytes.
            if !Box::pin(self.probe_once(&target, permit)).await {
                return;
            }
            // Keep the grid: the next run is one interval after the planned one, and runs
            // missed while the machine was overloaded are skipped rather than bunched up.
            next += interval;
            let now = Instant::now();
            if next <= now {
                let behind = now.duration_since(next);
                let skip = (behind.as_nanos() / interval.as_nanos().max(1)) as u32 + 1;
                next += interval * skip;
            }
        }
    }

    /// Runs one probe under `permit` (none for probes that hold no socket) and hands the
    /// result to the engine; false once the engine is gone.
    async fn probe_once(
        &self,
        target: &Arc<Target>,
        permit: Option<tokio::sync::SemaphorePermit<'_>>,
    ) -> bool {
        self.in_flight.inc();
        let observation = self
            .prober
            .run_from(&target.spec, target.timeout, target.source_address)
            .await;
        self.in_flight.dec();
        drop(permit);
        self.results
            .send(ProbeResult {
                target: target.clone(),
                observation,
            })
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unset, the cap follows the pace: a drill at 10 s over targets probed every minute
    /// puts six times as many probes in flight in a storm, and the cap grows with it. A
    /// configured cap stays; the open-files limit bounds both.
    #[test]
    fn the_cap_is_sized_at_the_drill_pace() {
        let mut text = String::new();
        for i in 0..600 {
            text.push_str(&format!(
                "[[targets]]\nid = \"t{i}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\ninterval = \"60s\"\ntimeout = \"10s\"\n\n"
            ));
        }
        let cfg =
            crate::config::Config::from_str_at(std::path::Path::new("p.toml"), &text).unwrap();
        let targets: Vec<Arc<Target>> = cfg.targets.clone();
        let drill = RunningDrill {
            id: 1,
            name: "diễn tập".into(),
            scope: crate::config::drills::Scope(Vec::new()),
            interval: Duration::from_secs(10),
            started_at: crate::time::now_ms(),
            planned_end: crate::time::now_ms(),
        };
        let storm = Sizing {
            configured: None,
            nofile: None,
        };
        assert_eq!(storm.cap(&targets, &[]), (256, 100));
        assert_eq!(
            storm.cap(&targets, std::slice::from_ref(&drill)),
            (750, 600)
        );
        let fixed = Sizing {
            configured: Some(300),
            nofile: None,
        };
        assert_eq!(
            fixed.cap(&targets, std::slice::from_ref(&drill)),
            (300, 600)
        );
        let tight = Sizing {
            configured: None,
            nofile: Some(1_024),
        };
        assert_eq!(
            tight.cap(&targets, std::slice::from_ref(&drill)),
            (750, 600)
        );
        let tighter = Sizing {
            configured: None,
            nofile: Some(512),
        };
        assert_eq!(
            tighter.cap(&targets, std::slice::from_ref(&drill)),
            (384, 600)
        );
    }

    #[test]
    fn offsets_stay_inside_the_interval_and_spread() {
        let interval = Duration::from_secs(60);
        let mut buckets = [0u32; 6];
        for i in 0..600 {
            let o = first_offset(&format!("target-{i}"), interval);
            assert!(o < interval);
            buckets[(o.as_secs() / 10) as usize] += 1;
        }
        // 600 ids over 6 buckets: every bucket gets a fair share, none gets the burst.
        assert!(
            buckets.iter().all(|&b| (50..=150).contains(&b)),
            "{buckets:?}"
        );
    }

    #[test]
    fn offset_is_stable() {
        let i = Duration::from_secs(30);
        assert_eq!(
            first_offset("ht-ky-anh-viettel", i),
            first_offset("ht-ky-anh-viettel", i)
        );
    }
}
