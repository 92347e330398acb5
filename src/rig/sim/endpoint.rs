//! One simulated endpoint: its socket in one of three shapes (listening, refusing, jammed), the
//! task that accepts on it, and the switch between shapes when the behaviour changes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Behaviour, EndpointKind, SimError};

/// Backlog of a healthy listener: bursts of thousands of probes must not overflow it.
const BACKLOG: u32 = 1_024;

/// State the endpoint task shares with the caller and with its connections.
pub(super) struct Shared {
    behaviour: Mutex<Behaviour>,
    pub(super) hits: AtomicU64,
}

impl Shared {
    pub(super) fn new(behaviour: Behaviour) -> Shared {
        Shared {
            behaviour: Mutex::new(behaviour),
            hits: AtomicU64::new(0),
        }
    }

    pub(super) fn behaviour(&self) -> Behaviour {
        // The value is a plain Copy enum, whole even if a holder panicked.
        *self.behaviour.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn set(&self, b: Behaviour) {
        *self.behaviour.lock().unwrap_or_else(|p| p.into_inner()) = b;
    }
}

/// A behaviour change and the caller waiting for it to take effect.
pub(super) struct Control {
    pub(super) behaviour: Behaviour,
    pub(super) ack: oneshot::Sender<Result<(), SimError>>,
}

impl Control {
    /// Applies the change with `apply` (the endpoint's own switch) and tells the caller.
    pub(super) async fn apply_with<F: Future<Output = Result<(), SimError>>>(
        self,
        apply: impl FnOnce(Behaviour) -> F,
    ) {
        let r = apply(self.behaviour).await;
        // The caller may have stopped waiting; the change is in effect either way.
        let _ = self.ack.send(r);
    }
}

/// The socket shapes an endpoint can be in.
enum Socket {
    Listening(TcpListener),
    /// Bound but not listening: the kernel answers SYNs with RST (connection refused) and the
    /// port stays ours, so recovery listens on the same address.
    Refusing(TcpSocket),
    /// Listening with a zero backlog whose one queue slot is taken by our own connection and
    /// never accepted: the kernel drops every further SYN, so clients hang in SYN_SENT.
    Jammed {
        _listener: TcpListener,
        _filler: TcpStream,
    },
    /// Between two shapes, or after a failed rebind: nothing is bound, connections are refused.
    Closed,
}

#[derive(PartialEq, Eq)]
enum Shape {
    Listening,
    Refusing,
    Jammed,
    Closed,
}

fn shape_for(kind: EndpointKind, b: Behaviour) -> Shape {
    match (kind, b) {
        (_, Behaviour::Refuse) => Shape::Refusing,
        (EndpointKind::Tcp, Behaviour::Hang) => Shape::Jammed,
        _ => Shape::Listening,
    }
}

fn new_socket(addr: SocketAddr) -> Result<TcpSocket, SimError> {
    let s = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| SimError::Bind(addr, e))?;
    // SO_REUSEADDR lets a recovering endpoint listen again while its refusing socket still
    // holds the port, and lets a restarted simulator rebind over TIME_WAIT leftovers.
    s.set_reuseaddr(true).map_err(|e| SimError::Bind(addr, e))?;
    s.bind(addr).map_err(|e| SimError::Bind(addr, e))?;
    Ok(s)
}

async fn open(addr: SocketAddr, shape: &Shape) -> Result<Socket, SimError> {
    let s = new_socket(addr)?;
    Ok(match shape {
        Shape::Refusing => Socket::Refusing(s),
        Shape::Closed => Socket::Closed,
        Shape::Listening => {
            Socket::Listening(s.listen(BACKLOG).map_err(|e| SimError::Bind(addr, e))?)
        }
        Shape::Jammed => {
            let listener = s.listen(0).map_err(|e| SimError::Bind(addr, e))?;
            let bound = listener.local_addr().map_err(|e| SimError::Bind(addr, e))?;
            let filler = TcpStream::connect(bound)
                .await
                .map_err(|e| SimError::Bind(addr, e))?;
            Socket::Jammed {
                _listener: listener,
                _filler: filler,
            }
        }
    })
}

pub(super) struct Endpoint {
    addr: SocketAddr,
    kind: EndpointKind,
    socket: Socket,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    overflow: Arc<AtomicU64>,
    shutdown: CancellationToken,
}

impl Endpoint {
    /// Binds `want` (port 0 picks one) in the shape `behaviour` needs; returns the endpoint and
    /// the address it actually holds.
    pub(super) async fn bind(
        want: SocketAddr,
        kind: EndpointKind,
        behaviour: Behaviour,
        permits: Arc<Semaphore>,
        overflow: Arc<AtomicU64>,
        shutdown: CancellationToken,
    ) -> Result<(Endpoint, SocketAddr), SimError> {
        let socket = open(want, &shape_for(kind, behaviour)).await?;
        let addr = match &socket {
            Socket::Listening(l) => l.local_addr(),
            Socket::Refusing(s) => s.local_addr(),
            Socket::Jammed { _listener, .. } => _listener.local_addr(),
            Socket::Closed => Ok(want),
        }
        .map_err(|e| SimError::Bind(want, e))?;
        let shared = Arc::new(Shared::new(behaviour));
        let ep = Endpoint {
            addr,
            kind,
            socket,
            shared,
            permits,
            overflow,
            shutdown,
        };
        Ok((ep, addr))
    }

    pub(super) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Moves the socket into the shape `b` needs.
    async fn apply(&mut self, b: Behaviour) -> Result<(), SimError> {
        let shape = shape_for(self.kind, b);
        let current = match &self.socket {
            Socket::Listening(_) => Shape::Listening,
            Socket::Refusing(_) => Shape::Refusing,
            Socket::Jammed { .. } => Shape::Jammed,
            Socket::Closed => Shape::Closed,
        };
        if shape != current {
            if current != Shape::Refusing {
                // Close first (a listening socket blocks any second bind), then hold the
                // address with a placeholder for the short switch.
                self.socket = Socket::Closed;
                self.socket = Socket::Refusing(new_socket(self.addr)?);
            }
            if shape != Shape::Refusing {
                // Bind next to the placeholder (both use SO_REUSEADDR), then drop it.
                self.socket = open(self.addr, &shape).await?;
            }
        }
        self.shared.set(b);
        Ok(())
    }

    /// Accepts until the simulator stops; connections are served on their own tasks, which
    /// end with the endpoint.
    pub(super) async fn run(mut self, mut control: mpsc::Receiver<Control>) {
        let mut conns: JoinSet<()> = JoinSet::new();
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                c = control.recv() => match c {
                    Some(c) => c.apply_with(|b| self.apply(b)).await,
                    None => break,
                },
                accepted = accept(&self.socket) => match accepted {
                    Ok(stream) => self.serve(stream, &mut conns),
                    Err(e) => {
                        // Out of descriptors or a transient kernel error: back off instead of
                        // spinning; the client sees a slow or failed connect, as it would.
                        tracing::debug!(addr = %self.addr, error = %e, "simulated endpoint cannot accept");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        conns.shutdown().await;
    }

    fn serve(&self, stream: TcpStream, conns: &mut JoinSet<()>) {
        if self.kind == EndpointKind::Tcp {
            // The handshake is what a TCP probe checks; it is already complete.
            self.shared.hits.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.overflow.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let shared = self.shared.clone();
        let stop = self.shutdown.clone();
        conns.spawn(async move {
            super::http::serve(stream, &shared, &stop).await;
            drop(permit);
        });
    }
}

async fn accept(socket: &Socket) -> std::io::Result<TcpStream> {
    match socket {
        Socket::Listening(l) => l.accept().await.map(|(s, _)| s),
        // Refusing and jammed endpoints never accept: the kernel answers (or ignores) for us.
        _ => std::future::pending().await,
    }
}
