//! The engine: turns each probe result into a sample (checks), advances the target's state
//! machine, and fans the outcome out to the board, metrics, the store and the event bus.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::metrics::Metrics;
use crate::scheduler::ProbeResult;
use crate::state::{TargetState, Thresholds, Transition};
use crate::status::{Board, LastResult};
use crate::store::Store;

/// What the event bus carries to live pages and, later, alerting and drills.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    StateChanged {
        target: String,
        #[serde(flatten)]
        transition: Transition,
        detail: Option<String>,
    },
    Sample {
        target: String,
        ok: bool,
        latency_seconds: f64,
    },
}

pub struct Engine {
    pub board: Board,
    pub metrics: Metrics,
    pub store: Store,
    pub events: broadcast::Sender<Event>,
    /// State per target, restored from the store at start.
    pub states: HashMap<String, TargetState>,
}

impl Engine {
    /// Consumes results until every sender (the scheduler) is gone.
    pub async fn run(mut self, mut rx: mpsc::Receiver<ProbeResult>) {
        while let Some(r) = rx.recv().await {
            self.apply(r).await;
        }
    }

    async fn apply(&mut self, r: ProbeResult) {
        let target = r.target;
        let sample = target.judge(&r.observation);
        self.metrics.observe_facts(&target, &r.observation);
        let th = Thresholds {
            failure: target.failure_threshold,
            success: target.success_threshold,
        };
        let st = self
            .states
            .entry(target.id.clone())
            .or_insert_with(|| TargetState::new(sample.at));
        let transition = st.observe(sample.ok, sample.at, th);
        let state = st.clone();

        let code = sample.error.map(|c| c.as_str());
        self.metrics
            .observe_probe(&target, sample.ok, sample.latency.as_secs_f64(), code);
        if let Some(t) = &transition {
            self.metrics.set_state(&target, t.to);
            tracing::info!(target = %target.id, from = %t.from, to = %t.to, detail = ?sample.detail, "state changed");
            let _ = self.events.send(Event::StateChanged {
                target: target.id.clone(),
                transition: t.clone(),
                detail: sample.detail.clone(),
            });
        }
        let _ = self.events.send(Event::Sample {
            target: target.id.clone(),
            ok: sample.ok,
            latency_seconds: sample.latency.as_secs_f64(),
        });
        self.board.update(
            &target.id,
            state.clone(),
            LastResult {
                at: sample.at,
                ok: sample.ok,
                latency_seconds: sample.latency.as_secs_f64(),
                error: code.map(str::to_owned),
                detail: sample.detail.clone(),
            },
        );
        let id: Arc<str> = Arc::from(target.id.as_str());
        if let Err(e) = self.store.record(id, sample, state).await {
            tracing::error!(error = %e, "cannot queue sample for the store");
        }
    }
}
