//! A loopback webhook receiver: accepts every `POST`, answers `200 {}`, and keeps what it was
//! sent with the time it arrived, so the demo (and tests) can show alerts really being
//! delivered and how long that took.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use warp::Filter;

use super::SimError;

/// Deliveries kept; older ones are dropped first (a storm of alerts must not grow memory).
pub const MAX_KEPT: usize = 10_000;
/// Alert payloads are a few kilobytes; anything larger is refused.
const MAX_BODY: u64 = 1024 * 1024;

/// One request as received.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Received {
    pub at: DateTime<Utc>,
    pub path: String,
    /// The body as JSON, or `null` when it was not JSON.
    pub body: serde_json::Value,
}

/// A running collector. Dropping it stops the server.
pub struct Collector {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Collector {
    /// Listens on `addr` (port 0 picks one), which must be a loopback address.
    pub async fn start(addr: SocketAddr) -> Result<Collector, SimError> {
        if !addr.ip().is_loopback() {
            return Err(SimError::Bind(
                addr,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a loopback address"),
            ));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| SimError::Bind(addr, e))?;
        let bound = listener.local_addr().map_err(|e| SimError::Bind(addr, e))?;
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let kept = received.clone();
        let route = warp::post()
            .and(warp::path::full())
            .and(warp::body::content_length_limit(MAX_BODY))
            .and(warp::body::bytes())
            .map(
                move |path: warp::path::FullPath, body: warp::hyper::body::Bytes| {
                    let r = Received {
                        at: crate::time::now_ms(),
                        path: path.as_str().to_string(),
                        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                    };
                    // A poisoned lock still holds a whole Vec (each push is one operation).
                    let mut g = kept.lock().unwrap_or_else(|p| p.into_inner());
                    if g.len() >= MAX_KEPT {
                        g.remove(0);
                    }
                    g.push(r);
                    warp::reply::json(&serde_json::json!({}))
                },
            );
        let stop = CancellationToken::new();
        let until = stop.clone();
        let task = tokio::spawn(async move {
            warp::serve(route)
                .incoming(listener)
                .graceful(async move { until.cancelled().await })
                .run()
                .await;
        });
        Ok(Collector {
            addr: bound,
            received,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` on this collector, e.g. `url("/alerts")`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops listening and waits for the server to end.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
