//! The handle that asks for a configuration reload (SIGHUP, `POST /-/reload`) and what a
//! reload answers; the reload task itself lives in `reload`, above everything it reconfigures.

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::config::ConfigErrors;

/// What a successful reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    pub targets: usize,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Settings that only take effect after a restart (listen address, storage).
    pub needs_restart: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("configuration refused, the running one is kept:\n{0}")]
    Invalid(ConfigErrors),
    #[error("commwatch is shutting down")]
    Stopped,
    #[error("reading stored state failed: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// One reload request: where the answer goes.
pub type Request = oneshot::Sender<Result<ReloadReport, ReloadError>>;

/// Asks the reload task to reload; clone freely. Reloads run one at a time.
#[derive(Clone)]
pub struct Reloader {
    tx: mpsc::Sender<Request>,
}

impl Reloader {
    pub fn new() -> (Reloader, mpsc::Receiver<Request>) {
        let (tx, rx) = mpsc::channel(4);
        (Reloader { tx }, rx)
    }

    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).await.map_err(|_| ReloadError::Stopped)?;
        rx.await.map_err(|_| ReloadError::Stopped)?
    }
}
