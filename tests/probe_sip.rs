//! SIP probe against loopback responders: 200, 503, silence, a provisional 100 before the final
//! answer, a lost first request (answered after retransmission), and SIP over TCP.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use commwatch::probe::ErrorCode;
use support::{failing, probe, prober, target_timed};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// The header of `name` in a SIP request.
fn header<'a>(req: &'a str, name: &str) -> &'a str {
    req.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or("")
}

/// A response to `req` echoing Via, From, To, Call-ID and CSeq, as RFC 3261 requires.
fn answer(req: &str, status: &str) -> String {
    format!(
        "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=gw1\r\nCall-ID: {}\r\nCSeq: {}\r\nServer: test-gateway\r\nContent-Length: 0\r\n\r\n",
        header(req, "Via"),
        header(req, "From"),
        header(req, "To"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
    )
}

/// A UDP responder; `reply(n, request)` returns the datagrams to send for the n-th request.
async fn udp_responder<F>(reply: F) -> std::net::SocketAddr
where
    F: Fn(u32, &str) -> Vec<String> + Send + 'static,
{
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let mut n = 0;
        while let Ok((len, from)) = sock.recv_from(&mut buf).await {
            n += 1;
            let req = String::from_utf8_lossy(&buf[..len]).into_owned();
            assert!(req.starts_with("OPTIONS sip:"), "{req}");
            for d in reply(n, &req) {
                let _ = sock.send_to(d.as_bytes(), from).await;
            }
        }
    });
    addr
}

fn sip_target(addr: std::net::SocketAddr, extra: &str) -> commwatch::config::Target {
    target_timed(
        &format!("id = \"sbc\"\nkind = \"sip\"\naddress = \"{addr}\""),
        "800ms",
        extra,
    )
}

#[tokio::test]
async fn options_answered_200() {
    let addr = udp_responder(|_, req| vec![answer(req, "200 OK")]).await;
    let (obs, sample) = probe(&prober(), &sip_target(addr, "")).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
    let sip = obs.facts.sip.expect("sip facts");
    assert_eq!((sip.status, sip.reason.as_str()), (200, "OK"));
    assert_eq!(sip.server.as_deref(), Some("test-gateway"));
    assert_eq!(sip.retransmits, 0);
    assert!(obs.phases.first_byte.is_some());
}

#[tokio::test]
async fn service_unavailable_fails_the_status_check() {
    let addr = udp_responder(|_, req| vec![answer(req, "503 Service Unavailable")]).await;
    let (obs, sample) = probe(&prober(), &sip_target(addr, "")).await;
    assert_eq!(obs.error, None);
    assert_eq!(failing(&sample), ["status (503) in [200]"]);
    // A switch that answers 503 while in maintenance can be accepted explicitly.
    let (_, sample) = probe(&prober(), &sip_target(addr, "expect_status = [200, 503]")).await;
    assert!(sample.ok);
}

#[tokio::test]
async fn silence_is_a_timeout_after_retransmissions() {
    let seen = Arc::new(AtomicU32::new(0));
    let counter = seen.clone();
    let addr = udp_responder(move |_, _| {
        counter.fetch_add(1, Ordering::Relaxed);
        Vec::new()
    })
    .await;
    let (obs, sample) = probe(&prober(), &sip_target(addr, "")).await;
    assert!(!sample.ok);
    assert_eq!(obs.error, Some(ErrorCode::Timeout));
    // Sent at 0 ms and retransmitted at 500 ms within the 800 ms timeout.
    assert_eq!(seen.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn provisional_then_final_and_retransmission() {
    let addr = udp_responder(|n, req| match n {
        1 => Vec::new(), // the first request is "lost"
        _ => vec![answer(req, "100 Trying"), answer(req, "200 OK")],
    })
    .await;
    let (obs, sample) = probe(&prober(), &sip_target(addr, "timeout = \"2s\"")).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
    let sip = obs.facts.sip.expect("facts");
    assert_eq!((sip.status, sip.retransmits), (200, 1));
    assert!(obs.phases.first_byte.unwrap_or_default() >= Duration::from_millis(450));
}

#[tokio::test]
async fn answer_to_another_request_is_rejected() {
    let addr = udp_responder(|_, req| {
        vec![answer(req, "200 OK").replace(header(req, "Call-ID"), "someone-else")]
    })
    .await;
    let (obs, _) = probe(&prober(), &sip_target(addr, "")).await;
    assert_eq!(
        obs.error,
        Some(ErrorCode::ProtocolError),
        "{:?}",
        obs.error_detail
    );
}

#[tokio::test]
async fn options_over_tcp() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(header(&req, "Via").starts_with("SIP/2.0/TCP "));
            let _ = s.write_all(answer(&req, "200 OK").as_bytes()).await;
        }
    });
    let (obs, sample) = probe(&prober(), &sip_target(addr, "transport = \"tcp\"")).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
    assert!(obs.phases.connect.is_some());
}
