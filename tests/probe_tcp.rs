//! TCP probe against loopback servers: a mail banner, a silent service, a refused port, a
//! request/reply dialogue, and a service that closes without the expected reply.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use commwatch::probe::ErrorCode;
use support::{probe, prober, target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server on 127.0.0.1:0 that runs `f` for every connection.
async fn server<F, Fut>(f: F) -> std::net::SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(f(s));
        }
    });
    addr
}

fn tcp_target(addr: std::net::SocketAddr, extra: &str) -> commwatch::config::Target {
    target(&format!(
        "id = \"mail\"\nkind = \"tcp\"\naddress = \"{addr}\"\ninterval = \"5s\"\ntimeout = \"400ms\"\n{extra}"
    ))
}

#[tokio::test]
async fn smtp_banner_matches() {
    let addr = server(|mut s| async move {
        // Banners arrive in pieces on slow links: the probe must keep reading.
        let _ = s.write_all(b"220 mail.vnpost").await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        let _ = s.write_all(b".invalid ESMTP ready\r\n").await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let t = tcp_target(
        addr,
        "expect = '^220 .*ESMTP'\nchecks = ['reply contains \"vnpost\"']",
    );
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
    assert_eq!(
        obs.facts.reply.as_deref(),
        Some("220 mail.vnpost.invalid ESMTP ready")
    );
    assert!(obs.phases.connect.is_some() && obs.phases.first_byte.is_some());
    assert!(obs.phases.first_byte.unwrap() >= Duration::from_millis(25));
}

#[tokio::test]
async fn silent_service_times_out() {
    let addr = server(|s| async move {
        let _open = s;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let t = tcp_target(addr, "expect = '^\\+OK'");
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(!sample.ok);
    assert_eq!(obs.error, Some(ErrorCode::Timeout));
    let detail = obs.error_detail.unwrap_or_default();
    assert!(detail.contains("said nothing"), "{detail}");
    assert!(obs.phases.connect.is_some());
    // Without a dialogue, connecting is enough.
    let (obs, sample) = probe(&prober(), &tcp_target(addr, "")).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
}

#[tokio::test]
async fn refused_port() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let (obs, sample) = probe(&prober(), &tcp_target(addr, "")).await;
    assert!(!sample.ok);
    assert_eq!(obs.error, Some(ErrorCode::ConnRefused));
}

#[tokio::test]
async fn send_then_expect_a_reply() {
    let addr = server(|mut s| async move {
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.unwrap_or(0);
        if &buf[..n] == b"A1 CAPABILITY\r\n" {
            let _ = s
                .write_all(b"* CAPABILITY IMAP4rev1 STARTTLS\r\nA1 OK\r\n")
                .await;
        } else {
            let _ = s.write_all(b"A1 BAD\r\n").await;
        }
    })
    .await;
    let ok = tcp_target(addr, "send = \"A1 CAPABILITY\\r\\n\"\nexpect = 'A1 OK'");
    let (obs, sample) = probe(&prober(), &ok).await;
    assert!(sample.ok, "{:?}", obs.error_detail);

    let bad = tcp_target(addr, "send = \"A1 NOOP\\r\\n\"\nexpect = 'A1 OK'");
    let (obs, sample) = probe(&prober(), &bad).await;
    assert!(!sample.ok);
    assert_eq!(obs.error, Some(ErrorCode::ProtocolError));
    assert_eq!(obs.facts.reply.as_deref(), Some("A1 BAD"));
}
