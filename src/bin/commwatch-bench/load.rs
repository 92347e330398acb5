//! Paced load: N operations started at a fixed rate with a cap on how many run at once. Both
//! commwatch's prober and blackbox_exporter are driven by this same loop, so they see the same
//! schedule.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What a paced run did.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct LoadResult {
    pub ok: u64,
    pub failed: u64,
    pub wall_s: f64,
}

impl LoadResult {
    /// Operations finished per second of wall time.
    pub fn rate(&self) -> f64 {
        (self.ok + self.failed) as f64 / self.wall_s.max(1e-9)
    }
}

/// Starts `n` operations, the `i`-th at `i / rate` seconds, with at most `concurrency` in
/// flight (a start waits for a slot). Each operation reports success.
pub async fn paced<F, Fut>(n: u64, rate: f64, concurrency: usize, op: F) -> LoadResult
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut running = JoinSet::new();
    let mut r = LoadResult::default();
    let mut tally = |ok: Result<bool, tokio::task::JoinError>| {
        if matches!(ok, Ok(true)) {
            r.ok += 1;
        } else {
            r.failed += 1;
        }
    };
    let start = Instant::now();
    let step = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    for i in 0..n {
        tokio::time::sleep_until(start + step.mul_f64(i as f64)).await;
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break; // never closed; kept for completeness
        };
        let fut = op(i);
        running.spawn(async move {
            let ok = fut.await;
            drop(slot);
            ok
        });
        while let Some(done) = running.try_join_next() {
            tally(done);
        }
    }
    while let Some(done) = running.join_next().await {
        tally(done);
    }
    r.wall_s = start.elapsed().as_secs_f64();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn keeps_the_pace_and_the_cap() {
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (l, p) = (live.clone(), peak.clone());
        let r = paced(100, 50.0, 3, move |i| {
            let (l, p) = (l.clone(), p.clone());
            async move {
                let now = l.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                l.fetch_sub(1, Ordering::SeqCst);
                i % 10 != 0
            }
        })
        .await;
        assert_eq!((r.ok, r.failed), (90, 10));
        assert_eq!(peak.load(Ordering::SeqCst), 3, "the cap holds");
        // 100 ops of 100 ms, 3 at a time: about 3.3 s, slower than the 2 s pace allows.
        assert!(r.wall_s > 3.2 && r.wall_s < 3.6, "{}", r.wall_s);
    }
}
