//! Configuration reload (SIGHUP, `POST /-/reload`): re-read the files, refuse an invalid config
//! and keep the running one, or apply a valid one without touching targets that did not change.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::config::{Config, StorageBackend, StorageConfig, Target};
use crate::engine::Reconfigure;
use crate::scheduler::Reschedule;
use crate::shared::AppState;

pub use crate::shared::reload::{ReloadError, ReloadReport, Reloader, Request};

/// Everything but where it was written must match for a target to keep running untouched.
fn same(a: &Target, b: &Target) -> bool {
    a.id == b.id
        && a.name == b.name
        && a.spec == b.spec
        && a.interval == b.interval
        && a.timeout == b.timeout
        && a.failure_threshold == b.failure_threshold
        && a.success_threshold == b.success_threshold
        && a.checks == b.checks
        && a.labels == b.labels
        && a.depends_on == b.depends_on
}

/// The `[storage]` settings that differ: the store is opened once, with all of them, so each
/// waits for a restart. A change of backend is reported as that alone.
fn storage_restarts(old: &StorageConfig, new: &StorageConfig) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if new.path != old.path {
        changed.push("storage.path");
    }
    if new.retention != old.retention {
        changed.push("storage.retention");
    }
    match (&old.backend, &new.backend) {
        (StorageBackend::Sqlite, StorageBackend::Sqlite) => {}
        (StorageBackend::Postgres(o), StorageBackend::Postgres(n)) => {
            for (key, differs) in [
                ("storage.url", o.url != n.url),
                ("storage.password_file", o.password_file != n.password_file),
                ("storage.pool_size", o.pool_size != n.pool_size),
                (
                    "storage.connect_timeout",
                    o.connect_timeout != n.connect_timeout,
                ),
                ("storage.sslmode", o.sslmode != n.sslmode),
                ("storage.ca_file", o.ca_file != n.ca_file),
            ] {
                if differs {
                    changed.push(key);
                }
            }
        }
        _ => changed.push("storage.backend"),
    }
    changed
}

/// The handles a reload needs.
pub struct ReloadTask {
    pub state: AppState,
    pub engine: mpsc::Sender<Reconfigure>,
    pub scheduler: mpsc::Sender<Reschedule>,
    pub shutdown: tokio_util::sync::CancellationToken,
}

impl ReloadTask {
    /// Serves reload requests until shutdown; it holds an `AppState`, so it must end before the
    /// store can close.
    pub async fn run(self, mut requests: mpsc::Receiver<Request>) {
        loop {
            let reply = tokio::select! {
                r = requests.recv() => match r {
                    Some(r) => r,
                    None => return,
                },
                _ = self.shutdown.cancelled() => return,
            };
            let r = self.reload_once().await;
            let m = &self.state.metrics;
            let ok = r.is_ok();
            m.config_last_reload_successful.set(i64::from(ok));
            m.config_reloads_total
                .with_label_values(&[if ok { "success" } else { "failure" }])
                .inc();
            match &r {
                Ok(report) => {
                    m.config_last_reload_success_timestamp
                        .set(crate::time::now_ms().timestamp_millis() as f64 / 1e3);
                    tracing::info!(
                        targets = report.targets,
                        added = report.added.len(),
                        removed = report.removed.len(),
                        changed = report.changed.len(),
                        "configuration reloaded"
                    );
                    for s in &report.needs_restart {
                        tracing::warn!(setting = %s, "changed setting takes effect only after a restart");
                    }
                }
                Err(e) => tracing::error!("{e}"),
            }
            let _ = reply.send(r);
        }
    }

    async fn reload_once(&self) -> Result<ReloadReport, ReloadError> {
        let old = self.state.config();
        let path = old.source.clone();
        let mut new = tokio::task::spawn_blocking(move || Config::load(&path))
            .await
            .map_err(|_| ReloadError::Stopped)?
            .map_err(ReloadError::Invalid)?;

        let mut report = ReloadReport {
            targets: new.targets.len(),
            ..ReloadReport::default()
        };
        // The identity is in the metrics registered at start and in records being written.
        if new.instance != old.instance {
            report.needs_restart.push("instance".into());
        }
        if new.server.listen != old.server.listen {
            report.needs_restart.push("server.listen".into());
        }
        // The server and its routes are built once, with these limits in them.
        if new.server.limits != old.server.limits {
            report.needs_restart.push("server limits".into());
        }
        report.needs_restart.extend(
            storage_restarts(&old.storage, &new.storage)
                .into_iter()
                .map(String::from),
        );

        // Keep the running Arc for unchanged targets: the engine recognises results by it.
        let current: HashMap<String, Arc<Target>> = self
            .state
            .board
            .snapshot()
            .into_iter()
            .map(|r| (r.target.id.clone(), r.target))
            .collect();
        let mut targets = Vec::with_capacity(new.targets.len());
        for t in &new.targets {
            match current.get(&t.id) {
                Some(c) if same(c, t) => targets.push(c.clone()),
                // The engine sets up new and changed targets (series under their new labels) and
                // drops removed ones, once it no longer probes them: a result in flight for a
                // removed target would otherwise bring its series back.
                Some(_) => {
                    report.changed.push(t.id.clone());
                    targets.push(t.clone());
                }
                None => {
                    report.added.push(t.id.clone());
                    targets.push(t.clone());
                }
            }
        }
        for id in current.keys() {
            if !new.targets.iter().any(|t| &t.id == id) {
                report.removed.push(id.clone());
            }
        }
        // The new configuration holds the running `Arc`s too, so no target is held twice.
        new.targets = targets.clone();
        report.added.sort();
        report.removed.sort();
        report.changed.sort();

        let stored = if report.added.is_empty() {
            HashMap::new()
        } else {
            self.state.store.load_states().await?
        };
        let (done, wait) = oneshot::channel();
        self.engine
            .send(Reconfigure {
                targets: targets.clone(),
                anchors: new.monitor.anchors.clone(),
                maintenance: new.maintenance.clone(),
                stored,
                done,
            })
            .await
            .map_err(|_| ReloadError::Stopped)?;
        wait.await.map_err(|_| ReloadError::Stopped)?;
        self.state.metrics.targets.set(targets.len() as i64);
        self.scheduler
            .send(Reschedule {
                targets,
                restart: report.changed.clone(),
                configured: new.scheduler.max_concurrency,
            })
            .await
            .map_err(|_| ReloadError::Stopped)?;
        let added: Vec<Arc<Target>> = new
            .targets
            .iter()
            .filter(|t| report.added.contains(&t.id))
            .cloned()
            .collect();
        self.state.set_config(new);
        // The reload stands even if the drill record cannot be written now; say so.
        if let Err(e) =
            crate::drill::service::follow_reload(&self.state, &added, &report.removed).await
        {
            tracing::error!(error = %e, "running drills could not record the reload's targets");
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::storage_restarts;
    use crate::config::{PostgresConfig, SslMode, StorageBackend, StorageConfig};

    fn storage(backend: StorageBackend) -> StorageConfig {
        StorageConfig {
            path: PathBuf::from(crate::config::DEFAULT_STORAGE_PATH),
            retention: crate::store::Retention::default(),
            backend,
        }
    }

    fn pg() -> PostgresConfig {
        PostgresConfig {
            url: "postgres://commwatch@127.0.0.1:5432/commwatch".into(),
            password_file: None,
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            sslmode: SslMode::Prefer,
            ca_file: None,
        }
    }

    #[test]
    fn every_storage_change_waits_for_a_restart() {
        let sqlite = storage(StorageBackend::Sqlite);
        let postgres = storage(StorageBackend::Postgres(pg()));
        assert!(storage_restarts(&sqlite, &sqlite).is_empty());
        assert!(storage_restarts(&postgres, &postgres).is_empty());
        assert_eq!(storage_restarts(&sqlite, &postgres), ["storage.backend"]);
        assert_eq!(storage_restarts(&postgres, &sqlite), ["storage.backend"]);
        let mut moved = sqlite.clone();
        moved.path = PathBuf::from("other.db");
        assert_eq!(storage_restarts(&sqlite, &moved), ["storage.path"]);

        let all = PostgresConfig {
            url: "postgres://commwatch@10.0.0.2:5432/commwatch".into(),
            password_file: Some(PathBuf::from("/etc/commwatch/pg-password")),
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            sslmode: SslMode::VerifyFull,
            ca_file: Some(PathBuf::from("/etc/commwatch/pg-ca.pem")),
        };
        assert_eq!(
            storage_restarts(&postgres, &storage(StorageBackend::Postgres(all))),
            [
                "storage.url",
                "storage.password_file",
                "storage.pool_size",
                "storage.connect_timeout",
                "storage.sslmode",
                "storage.ca_file",
            ]
        );
        let one = PostgresConfig {
            pool_size: 5,
            ..pg()
        };
        assert_eq!(
            storage_restarts(&postgres, &storage(StorageBackend::Postgres(one))),
            ["storage.pool_size"]
        );
    }
}
