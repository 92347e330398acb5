//! The HTTP server under the routes: accepts connections, serves HTTP/1.1 with hyper, and keeps
//! a slow or hostile client from holding it (slowloris): the headers of each request must arrive
//! within `header_read_timeout`, bodies within `body_read_timeout` (enforced where bodies are
//! read, `web::body`), and one client address holds at most `max_connections_per_client`
//! connections. A client that goes away mid-request is routine, logged at debug. On shutdown
//! the listener closes, every connection finishes its request in flight and closes, and the
//! function returns when the last one has.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use warp::Filter;

use crate::config::ServeLimits;

/// How long a connection may take to finish its request in flight once shutdown begins.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `routes` on `listener` until `shutdown` resolves, then drains.
pub async fn run<F>(
    routes: F,
    listener: TcpListener,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: Filter<Extract = (warp::reply::Response,), Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let clients = Clients::new(limits.max_connections_per_client);
    let stop = CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut conns = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connections so the set stays the size of the open ones.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(admitted) = clients.admit(peer.ip()) else {
            tracing::debug!(client = %peer.ip(), "connection refused: too many from this client");
            conns.spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(warp::service(routes.clone()));
        let stop = stop.clone();
        let header_timeout = limits.header_read_timeout;
        conns.spawn(async move {
            let _admitted = admitted;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = stop.cancelled() => {
                    // Finish the request in flight, then close; a client that stopped reading
                    // (a phone that left the network mid-stream) gets DRAIN, not TCP's minutes.
                    conn.as_mut().graceful_shutdown();
                    match tokio::time::timeout(DRAIN, conn).await {
                        Ok(r) => r,
                        Err(_) => {
                            tracing::debug!(client = %peer, "connection cut at shutdown");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = result {
                // Closed tabs, half-sent requests that timed out, resets: the client's doing.
                tracing::debug!(client = %peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stop.cancel();
    while conns.join_next().await.is_some() {}
}

/// Tells a client over its limit why it is refused, then closes.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = "{\"error\":{\"code\":\"too_many_connections\",\"message\":\"this client has too many connections open\"}}";
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
        // Read what the client sent until it closes: closing with its request unread would
        // reset the connection, and the client would see a reset instead of the 503.
        let mut sink = [0u8; 1024];
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Open connections per client address.
struct Clients {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Clients {
    fn new(max: usize) -> Clients {
        Clients {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, given back when the guard drops.
    fn admit(&self, ip: IpAddr) -> Option<Admitted> {
        // A poisoned lock still holds whole counts (each change is one statement).
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Admitted {
            ip,
            open: self.open.clone(),
        })
    }
}

struct Admitted {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_slots_back() {
        let c = Clients::new(2);
        let ip: IpAddr = "127.0.0.5".parse().unwrap();
        let a = c.admit(ip).unwrap();
        let _b = c.admit(ip).unwrap();
        assert!(c.admit(ip).is_none());
        assert!(c.admit("127.0.0.6".parse().unwrap()).is_some());
        drop(a);
        assert!(c.admit(ip).is_some());
    }
}
