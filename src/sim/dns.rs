//! A simulated DNS server on loopback (UDP): answers every `A` query with 127.0.0.1 and every
//! `AAAA` query with ::1, other types with an empty NOERROR, or — when silent — nothing at all,
//! as a server behind a cut link. Enough for DNS probes in benchmarks and the demo; the DNS
//! probe's own tests keep their richer zone.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hickory_resolver::proto::op::Message;
use hickory_resolver::proto::rr::rdata::{A, AAAA};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::SimError;

/// A running DNS responder; stops when dropped.
pub struct DnsResponder {
    addr: SocketAddr,
    hits: Arc<AtomicU64>,
    silent: Arc<AtomicBool>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl DnsResponder {
    /// Binds `addr` (which must be in 127.0.0.0/8 or ::1; port 0 lets the kernel choose).
    pub async fn start(addr: SocketAddr) -> Result<DnsResponder, SimError> {
        if !addr.ip().is_loopback() {
            return Err(SimError::Bind(
                addr,
                std::io::Error::other("the simulator only listens on loopback"),
            ));
        }
        let socket = UdpSocket::bind(addr)
            .await
            .map_err(|e| SimError::Bind(addr, e))?;
        let addr = socket.local_addr().map_err(|e| SimError::Bind(addr, e))?;
        let hits = Arc::new(AtomicU64::new(0));
        let silent = Arc::new(AtomicBool::new(false));
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(socket, hits.clone(), silent.clone(), stop.clone()));
        Ok(DnsResponder {
            addr,
            hits,
            silent,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queries received so far (answered or not).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Stops and waits until the socket is closed, so its address can be bound again at once.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// While silent, queries are read and never answered: probes run into their timeout.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::Relaxed);
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(
    socket: UdpSocket,
    hits: Arc<AtomicU64>,
    silent: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, from) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                // ICMP errors from earlier sends surface here on Linux; keep serving.
                Err(_) => continue,
            },
            _ = stop.cancelled() => return,
        };
        hits.fetch_add(1, Ordering::Relaxed);
        if silent.load(Ordering::Relaxed) {
            continue;
        }
        if let Some(out) = answer(&buf[..n]) {
            let _ = socket.send_to(&out, from).await;
        }
    }
}

/// The response to one query, or `None` for something that is not a DNS query.
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    let req = Message::from_vec(query).ok()?;
    let q = req.queries.first()?.clone();
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.authoritative = true;
    resp.queries = req.queries.clone();
    let owner = q.name().clone();
    match q.query_type() {
        RecordType::A => {
            resp.add_answer(Record::from_rdata(
                owner,
                60,
                RData::A(A(Ipv4Addr::LOCALHOST)),
            ));
        }
        RecordType::AAAA => {
            resp.add_answer(Record::from_rdata(
                owner,
                60,
                RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
            ));
        }
        _ => {}
    }
    resp.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::Name;

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.add_query(hickory_resolver::proto::op::Query::query(
            Name::from_ascii(name).unwrap(),
            t,
        ));
        m.to_vec().unwrap()
    }

    #[tokio::test]
    async fn answers_a_queries_over_udp_until_silenced() {
        let r = DnsResponder::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        c.send_to(&query("portal.ht.test.", RecordType::A), r.addr())
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(std::time::Duration::from_secs(2), c.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let m = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].data, RData::A(A(Ipv4Addr::LOCALHOST)), "{m:?}");
        r.set_silent(true);
        c.send_to(&query("portal.ht.test.", RecordType::A), r.addr())
            .await
            .unwrap();
        let quiet =
            tokio::time::timeout(std::time::Duration::from_millis(300), c.recv(&mut buf)).await;
        assert!(quiet.is_err(), "a silent server does not answer");
        assert_eq!(r.hits(), 2);
        assert!(
            DnsResponder::start("192.0.2.1:53".parse().unwrap())
                .await
                .is_err(),
            "never outside loopback"
        );
    }
}
