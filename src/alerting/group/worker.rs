//! The grouping task: every tick it reads new alert events from the store, runs them through
//! [`Grouping`], and commits due messages and group state to the outbox in one transaction.

use std::collections::HashMap;
use std::time::Duration;

use super::{Group, Grouping, TakenDown};
use crate::alerting::Wake;
use crate::alerting::model::DrillRef;
use crate::alerting::outbox;
use crate::config::Config;
use crate::shared::AppState;

/// Runs the grouping stage: polls new alert events, groups them, queues due messages.
pub struct Grouper {
    pub state: AppState,
    pub drills: crate::shared::Drills,
    pub wake_delivery: Wake,
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// How often the grouping stage looks for new events and due groups.
const TICK: Duration = Duration::from_millis(500);

impl Grouper {
    /// Outbox depth and dead letters per receiver, for `/metrics`.
    async fn refresh_queue_gauges(&self, cfg: &Config) {
        let Ok(counts) = self.state.store.query(outbox::counts).await else {
            return;
        };
        let m = &self.state.metrics;
        for r in &cfg.receivers {
            let get = |status: &str| {
                counts
                    .iter()
                    .find(|(rid, s, _)| rid == &r.id && s == status)
                    .map_or(0, |(_, _, n)| *n)
            };
            m.alert_queue_depth
                .with_label_values(&[r.id.as_str()])
                .set(get("pending"));
            m.alert_dead_letters
                .with_label_values(&[r.id.as_str()])
                .set(get("dead"));
        }
    }

    pub async fn run(self) {
        let store = self.state.store.clone();
        let groups = match store.query(outbox::load_groups).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "cannot load alert groups; starting with none");
                Vec::new()
            }
        };
        let mut grouping = Grouping {
            groups: groups
                .into_iter()
                .filter_map(|(r, k, d)| serde_json::from_str::<Group>(&d).ok().map(|g| ((r, k), g)))
                .collect(),
        };
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(TICK) => {}
            }
            if let Err(e) = self.pass(&mut grouping).await {
                tracing::error!(error = %e, "alert grouping pass failed; will retry");
            }
        }
    }

    async fn pass(&self, grouping: &mut Grouping) -> Result<(), crate::store::StoreError> {
        let store = &self.state.store;
        let cfg = self.state.config();
        let now = crate::time::now_ms();
        let events = store
            .query(|c| outbox::unprocessed_events(c, 10_000))
            .await?;
        let silences = store
            .query(move |c| crate::alerting::silence::active(c, now))
            .await?;
        // Drill names for the marking in messages: running drills from memory, a drill that
        // ended before its last events were grouped from the store.
        let mut drills: HashMap<String, DrillRef> = self
            .drills
            .running()
            .iter()
            .map(|d| {
                let r = DrillRef {
                    id: d.id.to_string(),
                    name: d.name.clone(),
                };
                (r.id.clone(), r)
            })
            .collect();
        for id in events.iter().filter_map(|e| e.drill_id.as_ref()) {
            if drills.contains_key(id) {
                continue;
            }
            let name = match id.parse::<i64>() {
                Ok(n) => store
                    .query(move |c| crate::drill::db::get(c, n))
                    .await?
                    .map(|d| d.name),
                Err(_) => None,
            };
            drills.insert(
                id.clone(),
                DrillRef {
                    id: id.clone(),
                    name: name.unwrap_or_else(|| id.clone()),
                },
            );
        }
        let before = grouping.groups.clone();
        let mut processed = Vec::with_capacity(events.len());
        for e in &events {
            let d = e.drill_id.as_ref().and_then(|id| drills.get(id));
            grouping.apply(&cfg, e, d, &silences, now);
            self.state
                .metrics
                .alert_events_total
                .with_label_values(&[e.kind.as_str()])
                .inc();
            processed.push(e.id);
        }
        let taken_down = if grouping.groups.values().any(|g| !g.firing.is_empty()) {
            TakenDown::from_board(&cfg, &self.state.board)
        } else {
            TakenDown::default()
        };
        let explains = |id: &str| taken_down.by(id);
        let acked = store.query(outbox::acknowledged_open).await?;
        let mut commit = grouping.due(&cfg, now, &explains, &silences, &acked);
        commit.processed = processed;
        // Groups touched by events but not sent yet must be saved too, or a restart would
        // forget them (their events are marked processed in this same commit).
        for (k, g) in &grouping.groups {
            if before.get(k) != Some(g)
                && !commit
                    .save_groups
                    .iter()
                    .any(|(r, key, _)| (r, key) == (&k.0, &k.1))
            {
                commit.save_groups.push((
                    k.0.clone(),
                    k.1.clone(),
                    serde_json::to_string(g).unwrap_or_default(),
                ));
            }
        }
        self.refresh_queue_gauges(&cfg).await;
        if commit.processed.is_empty()
            && commit.messages.is_empty()
            && commit.save_groups.is_empty()
            && commit.drop_groups.is_empty()
        {
            return Ok(());
        }
        let queued = commit.messages.len();
        for m in &commit.messages {
            self.state
                .metrics
                .alert_messages_total
                .with_label_values(&[m.receiver.as_str()])
                .inc();
        }
        let r = store
            .write(move |tx| outbox::commit_grouping(tx, &commit))
            .await;
        if let Err(e) = r {
            // The in-memory groups already moved on; reload them from the database so the
            // next pass redoes this one from the events that are still unprocessed.
            *grouping = Grouping { groups: before };
            return Err(e);
        }
        if queued > 0 {
            self.wake_delivery.notify();
        }
        Ok(())
    }
}
