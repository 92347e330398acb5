//! Alerting: alert events (written by the engine in the same transaction as the state change)
//! are routed to receivers, grouped per region and operator, muted by silences and maintenance,
//! turned into outbox messages, and delivered by one worker per receiver with retries, so every
//! message arrives at least once even across receiver outages and daemon restarts.
//!
//! - [`model`]: the notification stored in the outbox and its text (vi/en).
//! - [`group`]: routing and grouping (group_wait, group_interval, repeat_interval).
//! - [`outbox`]: the SQL behind events, groups and the outbox.
//! - [`delivery`]: per-receiver workers, backoff, Retry-After, dead letters, rate limits.
//! - [`silence`]: ad-hoc silences created by officers.
//! - [`provider`]: one file per receiver kind, each building its HTTP request.

pub mod delivery;
pub mod group;
pub mod model;
pub mod outbox;
pub mod provider;
pub mod silence;

use std::sync::Arc;

/// Wakes the grouping stage and delivery workers early instead of waiting for their poll.
#[derive(Clone, Default)]
pub struct Wake(Arc<tokio::sync::Notify>);

impl Wake {
    pub fn notify(&self) {
        self.0.notify_waiters();
    }

    pub async fn wait(&self, at_most: std::time::Duration) {
        let _ = tokio::time::timeout(at_most, self.0.notified()).await;
    }
}
