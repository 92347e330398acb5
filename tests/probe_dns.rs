//! DNS probe against an in-process DNS server on loopback (UDP and TCP) that answers records,
//! NXDOMAIN, SERVFAIL, or nothing at all.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use commwatch::probe::ErrorCode;
use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, MX, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use support::{failing, probe, prober, target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// The zone the test server knows; `None` means "do not answer".
fn answer(query: &[u8]) -> Option<Vec<u8>> {
    let req = Message::from_vec(query).ok()?;
    let q = req.queries.first()?.clone();
    let name = q.name().to_ascii();
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.authoritative = true;
    resp.queries = req.queries.clone();
    let owner = q.name().clone();
    match (name.as_str(), q.query_type()) {
        ("portal.ht.test.", RecordType::A) => {
            for last in [10, 11] {
                resp.add_answer(Record::from_rdata(
                    owner.clone(),
                    60,
                    RData::A(A(Ipv4Addr::new(192, 0, 2, last))),
                ));
            }
        }
        ("ht.test.", RecordType::MX) => {
            let mx = Name::from_ascii("mx1.ht.test.").ok()?;
            resp.add_answer(Record::from_rdata(owner, 60, RData::MX(MX::new(10, mx))));
        }
        ("ht.test.", RecordType::TXT) => {
            let txt = TXT::new(vec!["v=spf1 mx -all".into()]);
            resp.add_answer(Record::from_rdata(owner, 60, RData::TXT(txt)));
        }
        ("broken.ht.test.", _) => resp.metadata.response_code = ResponseCode::ServFail,
        ("silent.ht.test.", _) => return None,
        _ => resp.metadata.response_code = ResponseCode::NXDomain,
    }
    resp.to_vec().ok()
}

/// Starts the server on UDP and TCP (same port); returns the address and a query counter.
async fn dns_server() -> (SocketAddr, Arc<AtomicU32>) {
    // One port for both transports: take a free TCP port, then the same UDP port (retrying in
    // the rare case another socket already holds that UDP port).
    let mut bound = None;
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        if let Ok(udp) = UdpSocket::bind(addr).await {
            bound = Some((addr, udp, tcp));
            break;
        }
    }
    let (addr, udp, tcp) = bound.expect("a port free for both UDP and TCP");
    let queries = Arc::new(AtomicU32::new(0));
    let counter = queries.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            counter.fetch_add(1, Ordering::Relaxed);
            if let Some(out) = answer(&buf[..n]) {
                let _ = udp.send_to(&out, from).await;
            }
        }
    });
    let counter = queries.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                // DNS over TCP: each message carries a two-byte length prefix.
                let mut len = [0u8; 2];
                while s.read_exact(&mut len).await.is_ok() {
                    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if s.read_exact(&mut msg).await.is_err() {
                        return;
                    }
                    counter.fetch_add(1, Ordering::Relaxed);
                    let Some(out) = answer(&msg) else { continue };
                    let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&out);
                    let _ = s.write_all(&framed).await;
                }
            });
        }
    });
    (addr, queries)
}

fn dns_target(server: SocketAddr, query: &str, extra: &str) -> commwatch::config::Target {
    target(&format!(
        "id = \"ht-dns\"\nkind = \"dns\"\nserver = \"{server}\"\nquery = \"{query}\"\ninterval = \"5s\"\ntimeout = \"500ms\"\n{extra}"
    ))
}

#[tokio::test]
async fn a_records_over_udp_and_tcp() {
    let (server, _) = dns_server().await;
    let p = prober();
    for transport in ["udp", "tcp"] {
        let t = dns_target(
            server,
            "portal.ht.test",
            &format!(
                "transport = \"{transport}\"\nchecks = ['answers contains \"192.0.2.10\"', 'answers !contains \"203.0.113.1\"']"
            ),
        );
        let (obs, sample) = probe(&p, &t).await;
        assert!(
            sample.ok,
            "{transport}: {:?} {:?}",
            obs.error_detail, sample.checks
        );
        let dns = obs.facts.dns.expect("dns facts");
        assert_eq!(dns.rcode, "NOERROR");
        assert_eq!(dns.answers, ["192.0.2.10", "192.0.2.11"]);
        assert_eq!(dns.transport, transport);
        assert!(obs.phases.dns.is_some());
    }
}

#[tokio::test]
async fn mx_and_txt_records_with_regex_checks() {
    let (server, _) = dns_server().await;
    let p = prober();
    let t = dns_target(
        server,
        "ht.test",
        "record = \"MX\"\nchecks = ['answers matches \"^10 mx1\\\\.\"']",
    );
    let (obs, sample) = probe(&p, &t).await;
    assert!(sample.ok, "{:?} {:?}", obs.error_detail, sample.checks);
    assert_eq!(
        obs.facts.dns.map(|d| d.answers),
        Some(vec!["10 mx1.ht.test.".to_string()])
    );

    let t = dns_target(
        server,
        "ht.test",
        "record = \"TXT\"\nchecks = ['answers contains \"v=spf1\"']",
    );
    let (obs, sample) = probe(&p, &t).await;
    assert!(sample.ok, "{:?} {:?}", obs.error_detail, sample.checks);
}

#[tokio::test]
async fn nxdomain_fails_unless_expected() {
    let (server, _) = dns_server().await;
    let p = prober();
    let (obs, sample) = probe(&p, &dns_target(server, "gone.ht.test", "")).await;
    assert_eq!(obs.error, None);
    assert_eq!(failing(&sample), ["rcode (NXDOMAIN) == NOERROR"]);
    // A name that must not exist (a decommissioned host) can expect NXDOMAIN.
    let t = dns_target(server, "gone.ht.test", "expect_rcode = [\"NXDOMAIN\"]");
    let (_, sample) = probe(&p, &t).await;
    assert!(sample.ok, "{:?}", sample.checks);
}

#[tokio::test]
async fn servfail_is_seen_after_a_single_attempt() {
    let (server, queries) = dns_server().await;
    let (obs, sample) = probe(&prober(), &dns_target(server, "broken.ht.test", "")).await;
    assert_eq!(obs.error, None, "{:?}", obs.error_detail);
    assert_eq!(failing(&sample), ["rcode (SERVFAIL) == NOERROR"]);
    assert_eq!(
        queries.load(Ordering::Relaxed),
        1,
        "no retry hides the failure"
    );
}

#[tokio::test]
async fn silence_is_a_timeout() {
    let (server, queries) = dns_server().await;
    let (obs, sample) = probe(&prober(), &dns_target(server, "silent.ht.test", "")).await;
    assert!(!sample.ok);
    assert_eq!(
        obs.error,
        Some(ErrorCode::Timeout),
        "{:?}",
        obs.error_detail
    );
    // One lookup; hickory's UDP transport may resend the datagram inside the timeout (at 1.2x
    // the smoothed RTT), as stub resolvers do, but the lookup itself is not retried.
    let sent = queries.load(Ordering::Relaxed);
    assert!((1..=3).contains(&sent), "{sent} datagrams");
    assert!(obs.duration < std::time::Duration::from_secs(2));
}
