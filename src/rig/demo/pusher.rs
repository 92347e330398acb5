//! The heartbeat pusher: stands in for the power zones' own heartbeats, so the script can
//! silence a zone when it loses the grid.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::DemoError;

/// Pushes the power zones' heartbeats to the daemon, except for zones that lost the grid.
pub(super) struct Pusher {
    silenced: Arc<Mutex<HashSet<String>>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Pusher {
    pub(super) fn start(
        base: &str,
        targets: Vec<String>,
        token: String,
        every: Duration,
    ) -> Result<Pusher, DemoError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(every.max(Duration::from_secs(1)))
            .build()
            .map_err(|e| DemoError::Setup(format!("cannot build an HTTP client: {e}")))?;
        let silenced: Arc<Mutex<HashSet<String>>> = Arc::default();
        let stop = CancellationToken::new();
        let (quiet, until) = (silenced.clone(), stop.clone());
        let base = base.to_string();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = until.cancelled() => return,
                    _ = tick.tick() => {}
                }
                for t in &targets {
                    if quiet.lock().unwrap_or_else(|p| p.into_inner()).contains(t) {
                        continue;
                    }
                    let sent = client
                        .post(format!("{base}/api/v1/push/{t}"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => {}
                        Ok(r) => {
                            tracing::warn!(target_id = %t, status = %r.status(), "demo heartbeat refused")
                        }
                        Err(e) => {
                            tracing::debug!(target_id = %t, error = %e, "demo heartbeat not sent")
                        }
                    }
                }
            }
        });
        Ok(Pusher {
            silenced,
            stop,
            task,
        })
    }

    pub(super) fn set(&self, target: &str, pushing: bool) {
        let mut g = self.silenced.lock().unwrap_or_else(|p| p.into_inner());
        if pushing {
            g.remove(target);
        } else {
            g.insert(target.to_string());
        }
    }

    pub(super) async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
