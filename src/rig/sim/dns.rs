//! The simulated DNS server: one UDP socket answering every `A` query with the endpoint's own
//! loopback address (and `AAAA` with `::1`), at once, late, never, or not at all (socket
//! closed, so the kernel answers "port unreachable"), as the endpoint's behaviour says.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, AAAA};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::endpoint::{Control, Shared};
use super::{Behaviour, SimError};

/// Late answers held at once per endpoint; queries beyond it go unanswered (as a server under
/// load drops them).
const MAX_DELAYED: usize = 1_024;
/// Answers carry this TTL; nothing caches them (the probe runs with its cache off).
const TTL: u32 = 60;

pub(super) struct DnsEndpoint {
    addr: SocketAddr,
    /// `None` while refusing: nothing is bound, so queries get ICMP "port unreachable".
    socket: Option<Arc<UdpSocket>>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
}

async fn bind(addr: SocketAddr) -> Result<Arc<UdpSocket>, SimError> {
    UdpSocket::bind(addr)
        .await
        .map(Arc::new)
        .map_err(|e| SimError::Bind(addr, e))
}

impl DnsEndpoint {
    /// Binds `want` (port 0 picks one). A refusing endpoint still binds once, to learn and keep
    /// its address, then lets go of the socket.
    pub(super) async fn bind(
        want: SocketAddr,
        behaviour: Behaviour,
        shutdown: CancellationToken,
    ) -> Result<(DnsEndpoint, SocketAddr), SimError> {
        let socket = bind(want).await?;
        let addr = socket.local_addr().map_err(|e| SimError::Bind(want, e))?;
        let socket = (behaviour != Behaviour::Refuse).then_some(socket);
        let ep = DnsEndpoint {
            addr,
            socket,
            shared: Arc::new(Shared::new(behaviour)),
            shutdown,
        };
        Ok((ep, addr))
    }

    pub(super) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    async fn apply(&mut self, b: Behaviour) -> Result<(), SimError> {
        match (b, self.socket.is_some()) {
            (Behaviour::Refuse, true) => self.socket = None,
            (Behaviour::Refuse, false) | (_, true) => {}
            (_, false) => self.socket = Some(bind(self.addr).await?),
        }
        self.shared.set(b);
        Ok(())
    }

    /// Serves until the simulator stops.
    pub(super) async fn run(mut self, mut control: mpsc::Receiver<Control>) {
        let mut delayed: JoinSet<()> = JoinSet::new();
        let mut buf = vec![0u8; 4_096];
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                c = control.recv() => match c {
                    Some(c) => c.apply_with(|b| self.apply(b)).await,
                    None => break,
                },
                got = recv(self.socket.as_deref(), &mut buf) => match got {
                    Ok((n, from)) => self.answer(&buf[..n], from, &mut delayed),
                    Err(e) => {
                        // ICMP errors from earlier replies surface here on Linux; they concern
                        // one client, not the endpoint.
                        tracing::debug!(addr = %self.addr, error = %e, "simulated DNS receive error");
                    }
                },
                Some(_) = delayed.join_next(), if !delayed.is_empty() => {}
            }
        }
        delayed.shutdown().await;
    }

    fn answer(&self, query: &[u8], from: SocketAddr, delayed: &mut JoinSet<()>) {
        let Some(reply) = reply(query, self.addr.ip()) else {
            return;
        };
        self.shared.hits.fetch_add(1, Ordering::Relaxed);
        let Some(socket) = self.socket.clone() else {
            return;
        };
        match self.shared.behaviour() {
            Behaviour::Hang => {}
            Behaviour::Slow(delay) if delayed.len() < MAX_DELAYED => {
                let stop = self.shutdown.clone();
                delayed.spawn(async move {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {
                            let _ = socket.send_to(&reply, from).await;
                        }
                        _ = stop.cancelled() => {}
                    }
                });
            }
            Behaviour::Slow(_) => {}
            // Refuse has no socket; Status is refused for DNS endpoints when it is set.
            Behaviour::Healthy | Behaviour::Refuse | Behaviour::Status(_) => {
                // A full send buffer drops the answer, as a busy server would.
                let _ = socket.try_send_to(&reply, from);
            }
        }
    }
}

async fn recv(socket: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

/// The answer to one query, or `None` for anything that is not a query we can read (dropped).
fn reply(query: &[u8], own: IpAddr) -> Option<Vec<u8>> {
    let req = Message::from_vec(query).ok()?;
    let q = req.queries.first()?.clone();
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.metadata.authoritative = true;
    resp.queries = req.queries.clone();
    let v4 = match own {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => Ipv4Addr::LOCALHOST,
    };
    match q.query_type() {
        RecordType::A => {
            resp.add_answer(Record::from_rdata(q.name().clone(), TTL, RData::A(A(v4))));
        }
        RecordType::AAAA => {
            resp.add_answer(Record::from_rdata(
                q.name().clone(),
                TTL,
                RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
            ));
        }
        // Every name exists; other types simply have no records (NOERROR, empty answer).
        _ => resp.metadata.response_code = ResponseCode::NoError,
    }
    resp.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::op::{OpCode, Query};
    use hickory_resolver::proto::rr::Name;

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.metadata.op_code = OpCode::Query;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    #[test]
    fn answers_a_with_its_own_address_and_keeps_the_id() {
        let own = IpAddr::V4(Ipv4Addr::new(127, 42, 0, 9));
        let r = Message::from_vec(
            &reply(&query("portal.ha-tinh.example.", RecordType::A), own).unwrap(),
        )
        .unwrap();
        assert_eq!(r.metadata.id, 4242);
        assert_eq!(r.metadata.response_code, ResponseCode::NoError);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].data, RData::A(A(Ipv4Addr::new(127, 42, 0, 9))));
        let mx =
            Message::from_vec(&reply(&query("ha-tinh.example.", RecordType::MX), own).unwrap())
                .unwrap();
        assert!(mx.answers.is_empty());
        assert!(reply(b"not dns", own).is_none());
    }
}
