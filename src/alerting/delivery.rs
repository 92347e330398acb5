//! Delivery: one worker per receiver sends that receiver's outbox strictly in order, retrying
//! with exponential backoff and jitter (5xx, timeouts, connection errors), honouring
//! Retry-After (429), and moving messages a receiver refuses (other 4xx) to the dead letters.
//! A per-receiver rate limit keeps an SMS gateway from being flooded.

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Wake;
use super::model::Notification;
use super::outbox::{self, Attempt};
use super::provider::{self, Outcome};
use crate::config::alerting::Receiver;
use crate::shared::AppState;

/// First retry after about this long, doubling up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long shutdown waits for in-flight sends.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Poll interval when nothing wakes a worker.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Exponential backoff with ±50 % jitter, so many instances retrying one receiver spread out.
pub fn backoff(attempts: u32) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1u32 << attempts.min(16));
    let capped = exp.min(MAX_BACKOFF);
    capped.mul_f64(rand::random_range(0.5..1.5))
}

/// A token bucket refilled continuously: `per_minute` messages per minute, bursts up to that.
struct Bucket {
    per_minute: Option<u32>,
    tokens: f64,
    last: tokio::time::Instant,
}

impl Bucket {
    fn new(per_minute: Option<u32>) -> Self {
        Bucket {
            per_minute,
            tokens: f64::from(per_minute.unwrap_or(0)),
            last: tokio::time::Instant::now(),
        }
    }

    /// How long to wait before a message may go; takes the token when it returns zero.
    fn wait(&mut self) -> Duration {
        let Some(pm) = self.per_minute else {
            return Duration::ZERO;
        };
        let now = tokio::time::Instant::now();
        let rate = f64::from(pm) / 60.0;
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(f64::from(pm));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / rate)
        }
    }
}

/// Runs one worker per configured receiver, following reloads.
pub struct Delivery {
    pub state: AppState,
    pub wake: Wake,
    pub shutdown: CancellationToken,
}

impl Delivery {
    pub async fn run(self) {
        let client = match reqwest::Client::builder()
            .user_agent(concat!("commwatch/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the alert delivery client; no alerts will be sent");
                return;
            }
        };
        let mut tasks = JoinSet::new();
        let mut running: HashMap<String, (Receiver, CancellationToken)> = HashMap::new();
        loop {
            let cfg = self.state.config();
            // Stop workers whose receiver left or changed; start the missing ones.
            running.retain(|id, (r, stop)| {
                let keep = cfg.receivers.iter().any(|x| x == r && &x.id == id);
                if !keep {
                    stop.cancel();
                }
                keep
            });
            for r in &cfg.receivers {
                if !running.contains_key(&r.id) {
                    let stop = self.shutdown.child_token();
                    let w = Worker {
                        receiver: r.clone(),
                        state: self.state.clone(),
                        wake: self.wake.clone(),
                        stop: stop.clone(),
                        client: client.clone(),
                    };
                    tasks.spawn(w.run());
                    running.insert(r.id.clone(), (r.clone(), stop));
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                Some(r) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "an alert delivery worker failed");
                    }
                }
            }
        }
        // Bounded grace: a hung receiver must not hold the daemon's exit.
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            tracing::warn!(
                "alert delivery did not finish within the shutdown grace; the outbox keeps the rest"
            );
            tasks.abort_all();
        }
    }
}

struct Worker {
    receiver: Receiver,
    state: AppState,
    wake: Wake,
    stop: CancellationToken,
    client: reqwest::Client,
}

impl Worker {
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = self.wake.wait(d) => true,
        }
    }

    async fn run(self) {
        let mut bucket = Bucket::new(self.receiver.max_per_minute);
        let rid = self.receiver.id.clone();
        let m = self.state.metrics.clone();
        loop {
            if self.stop.is_cancelled() {
                return;
            }
            let id = rid.clone();
            let head = match self
                .state
                .store
                .query(move |c| outbox::head_pending(c, &id))
                .await
            {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(receiver = %rid, error = %e, "cannot read the outbox");
                    if !self.pause(IDLE_POLL).await {
                        return;
                    }
                    continue;
                }
            };
            let Some(row) = head else {
                if !self.pause(IDLE_POLL).await {
                    return;
                }
                continue;
            };
            let now = crate::time::now_ms();
            if row.next_attempt_at > now {
                let wait = (row.next_attempt_at - now)
                    .to_std()
                    .unwrap_or_default()
                    .min(IDLE_POLL);
                if !self.pause(wait).await {
                    return;
                }
                continue;
            }
            let wait = bucket.wait();
            if !wait.is_zero() {
                tokio::select! {
                    _ = self.stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            let attempt = match serde_json::from_str::<Notification>(&row.notification) {
                Err(e) => Attempt::Dead {
                    status: None,
                    error: format!("unreadable message in the outbox: {e}"),
                },
                Ok(n) => match provider::send(&self.client, &self.receiver, &n).await {
                    Outcome::Delivered { status } => Attempt::Delivered {
                        status,
                        at: crate::time::now_ms(),
                    },
                    Outcome::Retry {
                        status,
                        error,
                        after,
                    } => {
                        let d = after.unwrap_or_else(|| backoff(row.attempts));
                        Attempt::Retry {
                            status,
                            error,
                            next: crate::time::now_ms()
                                + chrono::Duration::from_std(d).unwrap_or(chrono::TimeDelta::MAX),
                        }
                    }
                    Outcome::Fatal { status, error } => Attempt::Dead { status, error },
                },
            };
            let outcome = match &attempt {
                Attempt::Delivered { at, .. } => {
                    let secs = (*at - row.created_at).num_milliseconds().max(0) as f64 / 1e3;
                    m.alert_delivery_seconds
                        .with_label_values(&[rid.as_str()])
                        .observe(secs);
                    "delivered"
                }
                Attempt::Retry { error, .. } => {
                    tracing::warn!(receiver = %rid, message = row.id, attempts = row.attempts + 1, %error, "alert delivery failed; will retry");
                    "retry"
                }
                Attempt::Dead { error, .. } => {
                    tracing::error!(receiver = %rid, message = row.id, %error, "receiver refused the alert; moved to dead letters");
                    "dead"
                }
            };
            m.alert_deliveries_total
                .with_label_values(&[rid.as_str(), outcome])
                .inc();
            let id = row.id;
            // Wait for the commit before reading the head again, or the same row would be sent
            // twice. If storage is failing this waits; the message stays pending meanwhile.
            if let Err(e) = self
                .state
                .store
                .write(move |tx| outbox::record_attempt(tx, id, &attempt))
                .await
            {
                tracing::error!(receiver = %rid, error = %e, "cannot record a delivery attempt");
                if !self.pause(IDLE_POLL).await {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for a in 0..30 {
            let d = backoff(a);
            let nominal = BASE_BACKOFF
                .saturating_mul(1u32 << a.min(16))
                .min(MAX_BACKOFF);
            assert!(
                d >= nominal.mul_f64(0.5) && d <= nominal.mul_f64(1.5),
                "{a}: {d:?}"
            );
        }
        assert!(backoff(20) <= MAX_BACKOFF.mul_f64(1.5));
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_spaces_messages() {
        let mut b = Bucket::new(Some(6));
        for _ in 0..6 {
            assert_eq!(b.wait(), Duration::ZERO);
        }
        let w = b.wait();
        assert!(
            w > Duration::from_secs(9) && w <= Duration::from_secs(10),
            "{w:?}"
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(b.wait(), Duration::ZERO);
        let mut free = Bucket::new(None);
        assert_eq!(free.wait(), Duration::ZERO);
    }
}
