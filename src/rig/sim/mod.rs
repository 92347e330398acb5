//! A simulator of monitored endpoints on loopback: thousands of HTTP responders, TCP
//! listeners and UDP DNS servers in one process, each switchable at runtime between healthy,
//! refusing, hanging, slow and a chosen HTTP status, so tests, `commwatch demo` and the
//! benchmark harness can script outages without touching any real network. Addresses that
//! only answer pings take their place in the address plan too ([`EndpointKind::Ping`]). [`collector`] is
//! the other side: a loopback webhook receiver that records the alerts it is sent.
//! [`portal`] serves a dynamic provincial portal and, on command, each kind of compromise the
//! `portal` probe looks for.
//!
//! ```no_run
//! # async fn demo() -> Result<(), commwatch::rig::sim::SimError> {
//! use commwatch::rig::sim::{Behaviour, EndpointKind, Sim, SimSpec};
//! let sim = Sim::start(SimSpec::uniform(EndpointKind::Http, 100)).await?;
//! let url = sim.target(7); // "http://127.0.0.1:PORT/"
//! sim.set(7, Behaviour::Refuse).await?; // connections to it are now refused
//! sim.set(7, Behaviour::Healthy).await?; // and answered again, on the same address
//! sim.shutdown().await;
//! # let _ = url; Ok(()) }
//! ```
//!
//! Every address is in 127.0.0.0/8: the simulator cannot be pointed anywhere else.

pub mod collector;
mod dns;
mod endpoint;
mod http;
pub mod portal;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use endpoint::{Control, Endpoint, Shared};

/// What an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    /// Answers `GET` (any path) with a short body, one request per connection.
    Http,
    /// Completes the TCP handshake and closes: what a `tcp` probe checks.
    Tcp,
    /// Answers DNS queries over UDP: `A` with the endpoint's own address, `AAAA` with `::1`,
    /// other types with an empty NOERROR.
    Dns,
    /// An address that answers pings: the kernel answers echo requests to every address in
    /// 127.0.0.0/8, so nothing is bound. It takes its slot in the address plan so the
    /// addresses of the others stay computable. Only [`Behaviour::Healthy`]: silencing a ping
    /// needs a firewall rule, which whoever runs the simulator owns (the benchmark harness
    /// keeps an nftables table for it).
    Ping,
}

/// How an endpoint behaves right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// HTTP: `200 OK` at once. TCP: accepts. DNS: answers at once.
    Healthy,
    /// The listener is closed (its port stays reserved): connections are refused. DNS: the
    /// socket is closed, so queries get "port unreachable".
    Refuse,
    /// HTTP: accepts, reads the request and never answers. TCP: the handshake never
    /// completes (the accept queue is kept full, so the kernel drops new SYNs). DNS: queries
    /// are read and never answered.
    Hang,
    /// HTTP and DNS: answer after this delay.
    Slow(Duration),
    /// HTTP only: answers at once with this final status code (200-599).
    Status(u16),
}

/// How endpoints get their addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrPlan {
    /// Every endpoint on 127.0.0.1 with a port chosen by the kernel. Fine for tests with a few
    /// endpoints; thousands of them would eat the ephemeral port range clients need.
    Loopback,
    /// Endpoint `i` on the `i`-th address from `base` within 127.0.0.0/8 (skipping addresses
    /// ending in .0 and .255), all on `port` (0: chosen by the kernel per address). A fixed
    /// port outside the ephemeral range lets tens of thousands of endpoints coexist with the
    /// clients probing them, and makes addresses computable without asking the simulator.
    Spread { base: Ipv4Addr, port: u16 },
}

impl AddrPlan {
    /// The address endpoint `i` binds to, or `None` when the plan runs out of 127.0.0.0/8.
    pub fn addr(&self, i: usize) -> Option<SocketAddr> {
        match *self {
            AddrPlan::Loopback => Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            AddrPlan::Spread { base, port } => {
                spread_ip(base, i).map(|ip| SocketAddr::V4(SocketAddrV4::new(ip, port)))
            }
        }
    }
}

/// The `n`-th usable address after `base` in 127.0.0.0/8.
pub fn spread_ip(base: Ipv4Addr, n: usize) -> Option<Ipv4Addr> {
    let b = u32::from(base);
    let last = b & 0xff;
    if base.octets()[0] != 127 || last == 0 || last == 255 {
        return None;
    }
    // Number the usable addresses 254 per /24, then step `n` of them.
    let slot = u64::from(b >> 8) * 254 + u64::from(last - 1) + n as u64;
    let prefix = u32::try_from(slot / 254).ok()?;
    let ip = Ipv4Addr::from((prefix << 8) | (slot % 254 + 1) as u32);
    (ip.octets()[0] == 127).then_some(ip)
}

/// One endpoint to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointSpec {
    pub kind: EndpointKind,
    pub behaviour: Behaviour,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimSpec {
    pub endpoints: Vec<EndpointSpec>,
    pub plan: AddrPlan,
    /// Accepted connections held open at once across all endpoints (hanging and slow ones
    /// hold theirs). Beyond it new connections are closed at once and counted as overflow.
    pub max_connections: usize,
}

/// Hard ceiling on endpoints per simulator: each one holds a socket, and the process's
/// descriptor limit is the real bound.
pub const MAX_ENDPOINTS: usize = 60_000;
/// Default for [`SimSpec::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

impl SimSpec {
    /// `n` healthy endpoints of one kind on 127.0.0.1.
    pub fn uniform(kind: EndpointKind, n: usize) -> SimSpec {
        SimSpec {
            endpoints: vec![
                EndpointSpec {
                    kind,
                    behaviour: Behaviour::Healthy,
                };
                n
            ],
            plan: AddrPlan::Loopback,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("{0} endpoints requested; the simulator holds at most {MAX_ENDPOINTS}")]
    TooMany(usize),
    #[error("the address plan has no address for endpoint {0} inside 127.0.0.0/8")]
    PlanExhausted(usize),
    #[error("cannot bind {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("no endpoint {0}")]
    NoSuchEndpoint(usize),
    #[error("endpoint {0} is {1:?}; behaviour {2:?} does not apply to it")]
    Unsupported(usize, EndpointKind, Behaviour),
    #[error("{0} is not a final HTTP status code (200-599)")]
    InvalidStatus(u16),
    #[error("the simulator has stopped")]
    Stopped,
}

/// The caller's handle on one endpoint.
struct Handle {
    addr: SocketAddr,
    kind: EndpointKind,
    shared: Arc<Shared>,
    control: mpsc::Sender<Control>,
}

/// A running simulator. Dropping it stops every endpoint; [`Sim::shutdown`] also waits.
pub struct Sim {
    endpoints: Vec<Handle>,
    overflow: Arc<AtomicU64>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

fn validate(i: usize, kind: EndpointKind, b: Behaviour) -> Result<(), SimError> {
    match (kind, b) {
        (_, Behaviour::Status(code)) if !(200..=599).contains(&code) => {
            Err(SimError::InvalidStatus(code))
        }
        (EndpointKind::Tcp, Behaviour::Slow(_) | Behaviour::Status(_))
        | (EndpointKind::Dns, Behaviour::Status(_)) => Err(SimError::Unsupported(i, kind, b)),
        (EndpointKind::Ping, b) if b != Behaviour::Healthy => {
            Err(SimError::Unsupported(i, kind, b))
        }
        _ => Ok(()),
    }
}

impl Sim {
    /// Binds every endpoint (errors name the address) and starts serving on the current tokio
    /// runtime.
    pub async fn start(spec: SimSpec) -> Result<Sim, SimError> {
        if spec.endpoints.len() > MAX_ENDPOINTS {
            return Err(SimError::TooMany(spec.endpoints.len()));
        }
        let shutdown = CancellationToken::new();
        let permits = Arc::new(Semaphore::new(spec.max_connections.max(1)));
        let overflow = Arc::new(AtomicU64::new(0));
        let mut endpoints = Vec::with_capacity(spec.endpoints.len());
        let mut tasks = JoinSet::new();
        for (i, e) in spec.endpoints.iter().enumerate() {
            validate(i, e.kind, e.behaviour)?;
            let want = spec.plan.addr(i).ok_or(SimError::PlanExhausted(i))?;
            // A small queue is enough: `set` waits for each change to be applied.
            let (tx, rx) = mpsc::channel(4);
            let (shared, addr) = if e.kind == EndpointKind::Ping {
                // Nothing to serve: the control receiver is dropped, and `set` never sends
                // (Healthy, the only behaviour, is already in effect).
                (Arc::new(Shared::new(Behaviour::Healthy)), want)
            } else if e.kind == EndpointKind::Dns {
                let (ep, addr) =
                    dns::DnsEndpoint::bind(want, e.behaviour, shutdown.clone()).await?;
                let shared = ep.shared();
                tasks.spawn(ep.run(rx));
                (shared, addr)
            } else {
                let (ep, addr) = Endpoint::bind(
                    want,
                    e.kind,
                    e.behaviour,
                    permits.clone(),
                    overflow.clone(),
                    shutdown.clone(),
                )
                .await?;
                let shared = ep.shared();
                tasks.spawn(ep.run(rx));
                (shared, addr)
            };
            endpoints.push(Handle {
                addr,
                kind: e.kind,
                shared,
                control: tx,
            });
        }
        Ok(Sim {
            endpoints,
            overflow,
            shutdown,
            tasks,
        })
    }

    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    fn handle(&self, i: usize) -> Result<&Handle, SimError> {
        self.endpoints.get(i).ok_or(SimError::NoSuchEndpoint(i))
    }

    /// The address endpoint `i` listens on (kept across refuse/recover).
    pub fn addr(&self, i: usize) -> Option<SocketAddr> {
        self.endpoints.get(i).map(|h| h.addr)
    }

    pub fn kind(&self, i: usize) -> Option<EndpointKind> {
        self.endpoints.get(i).map(|h| h.kind)
    }

    /// What a commwatch target points at: `http://ADDR/` for HTTP endpoints, `ADDR` for TCP
    /// (`address`) and DNS (`server`), the IP alone for ICMP (`host`).
    pub fn target(&self, i: usize) -> String {
        match self.endpoints.get(i) {
            Some(h) => target_string(h.kind, h.addr),
            None => String::new(),
        }
    }

    pub fn behaviour(&self, i: usize) -> Option<Behaviour> {
        self.endpoints.get(i).map(|h| h.shared.behaviour())
    }

    /// Changes an endpoint's behaviour; when this returns the change is in effect (a refused
    /// endpoint's listener is closed, a recovered one is listening again).
    pub async fn set(&self, i: usize, behaviour: Behaviour) -> Result<(), SimError> {
        let h = self.handle(i)?;
        validate(i, h.kind, behaviour)?;
        if h.kind == EndpointKind::Ping {
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        h.control
            .send(Control { behaviour, ack })
            .await
            .map_err(|_| SimError::Stopped)?;
        done.await.map_err(|_| SimError::Stopped)?
    }

    /// Requests served by endpoint `i` (HTTP: requests read; TCP: connections accepted; DNS:
    /// queries read).
    pub fn hits(&self, i: usize) -> u64 {
        self.endpoints
            .get(i)
            .map_or(0, |h| h.shared.hits.load(Ordering::Relaxed))
    }

    /// Requests served by all endpoints.
    pub fn total_hits(&self) -> u64 {
        self.endpoints
            .iter()
            .map(|h| h.shared.hits.load(Ordering::Relaxed))
            .sum()
    }

    /// Connections closed at once because [`SimSpec::max_connections`] were already open.
    pub fn overflow(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }

    /// Closes every listener and connection and waits until all tasks have ended.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `http://ADDR/`, `ADDR` or the IP, as a target's `url`, `address`, `server` or `host`.
pub fn target_string(kind: EndpointKind, addr: SocketAddr) -> String {
    match kind {
        EndpointKind::Http => format!("http://{addr}/"),
        EndpointKind::Tcp | EndpointKind::Dns => addr.to_string(),
        EndpointKind::Ping => addr.ip().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_skips_network_and_broadcast_octets_and_stays_in_loopback() {
        let base = Ipv4Addr::new(127, 16, 0, 1);
        assert_eq!(spread_ip(base, 0), Some(base));
        assert_eq!(spread_ip(base, 253), Some(Ipv4Addr::new(127, 16, 0, 254)));
        assert_eq!(spread_ip(base, 254), Some(Ipv4Addr::new(127, 16, 1, 1)));
        assert_eq!(
            spread_ip(Ipv4Addr::new(127, 255, 255, 254), 1),
            None,
            "past 127.255.255.254 is outside loopback"
        );
        assert_eq!(spread_ip(Ipv4Addr::new(10, 0, 0, 1), 0), None);
        assert_eq!(spread_ip(Ipv4Addr::new(127, 0, 0, 0), 0), None);
        let mut seen = std::collections::HashSet::new();
        for n in 0..20_000 {
            let ip = spread_ip(base, n).unwrap();
            let last = ip.octets()[3];
            assert!(last != 0 && last != 255, "{ip}");
            assert!(seen.insert(ip), "{ip} twice");
        }
    }

    #[test]
    fn tcp_endpoints_refuse_http_only_behaviours() {
        assert!(validate(0, EndpointKind::Tcp, Behaviour::Hang).is_ok());
        assert!(matches!(
            validate(3, EndpointKind::Tcp, Behaviour::Status(500)),
            Err(SimError::Unsupported(3, ..))
        ));
        assert!(matches!(
            validate(0, EndpointKind::Http, Behaviour::Status(600)),
            Err(SimError::InvalidStatus(600))
        ));
        assert!(validate(0, EndpointKind::Http, Behaviour::Status(503)).is_ok());
        assert!(
            validate(
                0,
                EndpointKind::Dns,
                Behaviour::Slow(Duration::from_secs(1))
            )
            .is_ok()
        );
        assert!(matches!(
            validate(1, EndpointKind::Dns, Behaviour::Status(503)),
            Err(SimError::Unsupported(1, EndpointKind::Dns, _))
        ));
        // A ping address is silenced by a firewall, not by the simulator.
        assert!(validate(0, EndpointKind::Ping, Behaviour::Healthy).is_ok());
        for b in [Behaviour::Refuse, Behaviour::Hang] {
            assert!(matches!(
                validate(2, EndpointKind::Ping, b),
                Err(SimError::Unsupported(2, EndpointKind::Ping, _))
            ));
        }
    }
}
