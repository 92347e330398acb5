//! Heartbeat pushes kept across restarts: the last push per target, written through the single
//! writer when it arrives and read back into the prober's registry at start.

use std::collections::HashMap;

use super::sql::args;
use super::{Store, StoreError, from_ms, ms};
use crate::probe::{Push, PushStatus};

impl Store {
    /// Queues the push for the writer and returns at once: the pushing site gets its answer
    /// without waiting for the disk, and a failing disk keeps the row in the writer's backlog.
    pub fn record_push(&self, target: String, push: Push, pushes: u64) {
        let store = self.clone();
        tokio::spawn(async move {
            let r = store
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO heartbeats(target, at_ms, status, message, pushes)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(target) DO UPDATE SET at_ms = excluded.at_ms,
                             status = excluded.status, message = excluded.message,
                             pushes = excluded.pushes",
                        args![
                            &target,
                            ms(push.at),
                            push.status.as_str(),
                            &push.message,
                            pushes
                        ],
                    )
                    .map(|_| ())
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "cannot record a heartbeat push");
            }
        });
    }

    /// The last push of every target that ever pushed, with its push count.
    pub async fn load_pushes(&self) -> Result<HashMap<String, (Push, u64)>, StoreError> {
        self.read(|c| {
            c.query(
                "SELECT target, at_ms, status, message, pushes FROM heartbeats",
                args![],
            )?
            .iter()
            .map(|r| {
                let status: String = r.get(2)?;
                Ok((
                    r.get::<String>(0)?,
                    (
                        Push {
                            at: from_ms(r.get(1)?),
                            status: PushStatus::parse(&status).unwrap_or(PushStatus::Fail),
                            message: r.get(3)?,
                            // Not stored: a battery report is current only until the next
                            // push, and a restart waits for that push.
                            battery: None,
                        },
                        r.get::<i64>(4)?.max(0) as u64,
                    ),
                ))
            })
            .collect()
        })
        .await
    }
}
