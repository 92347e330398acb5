//! Slow and hostile clients against the real server on loopback: headers that never finish, a
//! body that never arrives and one address opening connection after connection. Each is cut
//! off by its limit (`[server] header_read_timeout`, `body_read_timeout`,
//! `max_connections_per_client`) while another client is served all along.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const ADMIN: &str = "admin-token-for-slow-clients";

/// Longer than any limit below: reaching it means the server held the connection.
const HANG: Duration = Duration::from_secs(20);

async fn connect_from(src: &str, addr: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(format!("{src}:0").parse().unwrap()).unwrap();
    s.connect(addr).await.unwrap()
}

/// Everything the server sends until it closes; `None` if it is still open after [`HANG`].
async fn until_closed(s: &mut TcpStream) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(HANG, s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

async fn healthz_from(src: &str, addr: SocketAddr) -> String {
    let mut s = connect_from(src, addr).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    until_closed(&mut s).await.expect("healthz answered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_others_are_served() {
    let digest = common::pages::hex(ADMIN);
    let dir = tempfile::tempdir().unwrap();
    let app = common::start_app(
        dir.path(),
        &format!(
            r#"
[server]
listen = "127.0.0.1:0"
header_read_timeout = "1s"
body_read_timeout = "1s"
max_connections_per_client = 3

[[auth.tokens]]
name = "quan-tri"
role = "admin"
sha256 = "{digest}"
"#
        ),
    )
    .await;
    let addr = app.local_addr();

    // Headers that never finish: the connection is closed at the header timeout.
    let mut half = connect_from("127.0.0.3", addr).await;
    half.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .unwrap();
    assert!(
        until_closed(&mut half).await.is_some(),
        "half-sent headers held the connection past {HANG:?}"
    );

    // A connection that sends nothing at all is closed the same way.
    let mut silent = connect_from("127.0.0.3", addr).await;
    assert!(
        until_closed(&mut silent).await.is_some(),
        "a silent connection was held past {HANG:?}"
    );

    // A body promised and never sent: 408 with the API's JSON error.
    let mut body = connect_from("127.0.0.3", addr).await;
    let head = format!(
        "POST /api/v1/drills HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    );
    body.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(&mut body)
        .await
        .expect("the half body was answered");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"body_timeout\""), "{answer}");

    // One address holding its three connections: the fourth is refused at once, with a JSON
    // reason, while another address is served.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = connect_from("127.0.0.4", addr).await;
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").await.unwrap();
        held.push(s);
    }
    // The server counts a connection once it has accepted it; give it the moment it takes.
    let mut refused = None;
    for _ in 0..50 {
        let mut extra = connect_from("127.0.0.4", addr).await;
        let got = until_closed(&mut extra)
            .await
            .expect("the extra connection was answered");
        if got.starts_with("HTTP/1.1 503") {
            refused = Some(got);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("a fourth connection from one address was never refused");
    assert!(refused.contains("too_many_connections"), "{refused}");
    let ok = healthz_from("127.0.0.5", addr).await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");

    // Once the held connections time out, the address is served again.
    for mut s in held {
        assert!(
            until_closed(&mut s).await.is_some(),
            "a held connection never closed"
        );
    }
    let again = healthz_from("127.0.0.4", addr).await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    app.shutdown().await;
}
