//! `source_address`: a vantage point probes from the address of the uplink it watches. Servers
//! on 127.0.0.1 record who connected; the daemon's targets use the instance's address or their
//! own (other addresses of 127.0.0.0/8, which are all this machine's), over TCP, HTTP, DNS and
//! SIP (UDP). An address that is not this machine's is refused at load.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, UdpSocket};

mod common;

type Seen = Arc<Mutex<BTreeSet<IpAddr>>>;

/// A TCP server answering HTTP 200 that records the address each connection came from.
async fn tcp_recorder() -> (std::net::SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, from)) = listener.accept().await {
            s.lock().unwrap().insert(from.ip());
            tokio::spawn(async move {
                // Enough for the http probe; the tcp probe closes without reading.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (addr, seen)
}

/// A UDP socket that records the source of every datagram (and answers nothing: the probes
/// time out, which is not what is being tested).
async fn udp_recorder() -> (std::net::SocketAddr, Seen) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((_, from)) = sock.recv_from(&mut buf).await {
            s.lock().unwrap().insert(from.ip());
        }
    });
    (addr, seen)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn seen_within(seen: &Seen, want: &[IpAddr], what: &str) {
    let want: BTreeSet<IpAddr> = want.iter().copied().collect();
    common::wait_for(Duration::from_secs(10), what, || async {
        let got = seen.lock().unwrap().clone();
        (got == want).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_leave_from_the_instance_or_target_address() {
    let (tcp, tcp_seen) = tcp_recorder().await;
    let (http, http_seen) = tcp_recorder().await;
    let (dns, dns_seen) = udp_recorder().await;
    let (sip, sip_seen) = udp_recorder().await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
[instance]
id = "ht-backup-site"
source_address = "127.0.0.7"

[defaults]
interval = "1s"
timeout = "500ms"

[[targets]]
id = "tcp-from-instance"
kind = "tcp"
address = "{tcp}"

[[targets]]
id = "http-own-address"
kind = "http"
url = "http://{http}/"
source_address = "127.0.0.9"

[[targets]]
id = "dns-from-instance"
kind = "dns"
server = "{dns}"
query = "hatinh.gov.vn"

[[targets]]
id = "sip-own-address"
kind = "sip"
address = "{sip}"
source_address = "127.0.0.11"
"#
    );
    let app = common::start_app(dir.path(), &toml).await;
    seen_within(&tcp_seen, &[ip("127.0.0.7")], "tcp from 127.0.0.7").await;
    seen_within(&http_seen, &[ip("127.0.0.9")], "http from 127.0.0.9").await;
    seen_within(&dns_seen, &[ip("127.0.0.7")], "dns from 127.0.0.7").await;
    seen_within(&sip_seen, &[ip("127.0.0.11")], "sip from 127.0.0.11").await;
    // A few more rounds: every probe, not only the first, leaves from its address.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(*tcp_seen.lock().unwrap(), BTreeSet::from([ip("127.0.0.7")]));
    assert_eq!(
        *http_seen.lock().unwrap(),
        BTreeSet::from([ip("127.0.0.9")])
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_probe_uses_the_source_address_too() {
    let (tcp, seen) = tcp_recorder().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        format!(
            "[instance]\nsource_address = \"127.0.0.13\"\n\n[[targets]]\nid = \"t\"\nkind = \"tcp\"\naddress = \"{tcp}\"\n"
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_commwatch"))
        .args(["probe", "-c"])
        .arg(&file)
        .arg("t")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(*seen.lock().unwrap(), BTreeSet::from([ip("127.0.0.13")]));
}

#[test]
fn an_address_that_is_not_this_machines_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    // 192.0.2.0/24 is for documentation: no machine has it, and binding sends nothing.
    let text = "[instance]\nsource_address = \"192.0.2.10\"\n\n[[targets]]\nid = \"t\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\nsource_address = \"not-an-ip\"\n";
    let e = commwatch::config::Config::from_str_at(&file, text)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("c.toml:2: key `source_address`: 192.0.2.10 is not an address of this machine"),
        "{e}"
    );
    assert!(
        e.contains("c.toml:8: key `source_address`: `not-an-ip` is not an IPv4 or IPv6 address"),
        "{e}"
    );
}
