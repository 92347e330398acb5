//! Helpers shared by the probe integration tests: targets built from TOML exactly as operators
//! write them, and one-shot probe runs through the library API.

#![allow(dead_code)]

#[path = "../common/needs.rs"]
pub mod needs;

use std::path::Path;

use commwatch::check::Sample;
use commwatch::config::{Config, Target};
use commwatch::probe::{Observation, Prober};

/// Builds the single target described by `body` (the lines of one `[[targets]]` table).
pub fn target(body: &str) -> Target {
    let text = format!("[[targets]]\n{body}\n");
    let cfg = Config::from_str_at(Path::new("test.toml"), &text)
        .unwrap_or_else(|e| panic!("config refused: {e}\n{text}"));
    cfg.targets
        .into_iter()
        .next()
        .map(std::sync::Arc::unwrap_or_clone)
        .expect("one target")
}

/// A target from `head` (id, kind, endpoint) and `extra` keys, with `interval = "10s"` and
/// `timeout` set to `timeout` unless `extra` sets them itself.
pub fn target_timed(head: &str, timeout: &str, extra: &str) -> Target {
    let mut body = head.to_string();
    if !extra.contains("interval =") {
        body.push_str("\ninterval = \"10s\"");
    }
    if !extra.contains("timeout =") {
        body.push_str(&format!("\ntimeout = \"{timeout}\""));
    }
    target(&format!("{body}\n{extra}"))
}

/// Like [`target`], with `ca_file` resolved relative to `dir`.
pub fn target_in(dir: &Path, body: &str) -> Target {
    let text = format!("[[targets]]\n{body}\n");
    let cfg = Config::from_str_at(&dir.join("test.toml"), &text)
        .unwrap_or_else(|e| panic!("config refused: {e}\n{text}"));
    cfg.targets
        .into_iter()
        .next()
        .map(std::sync::Arc::unwrap_or_clone)
        .expect("one target")
}

/// Runs the target once and judges it.
pub async fn probe(prober: &Prober, t: &Target) -> (Observation, Sample) {
    let obs = prober.run(&t.spec, t.timeout).await;
    let sample = t.judge(&obs);
    (obs, sample)
}

pub fn prober() -> Prober {
    Prober::new().expect("prober")
}

/// Runs the `commwatch` binary with `args` (blocking: call it from `spawn_blocking` in an
/// async test); its exit code and standard output.
pub fn commwatch(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_commwatch"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run commwatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The resolved forms of the checks that failed.
pub fn failing(s: &Sample) -> Vec<String> {
    s.checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.resolved.clone())
        .collect()
}

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one HTTP request (head and a Content-Length body) from `s`; empty on EOF.
pub async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return String::from_utf8_lossy(&buf).into_owned();
            }
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&buf).into_owned(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Serves every connection on 127.0.0.1:0 with `handle`, which gets the stream and the request.
pub async fn http_server<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handle = Arc::new(handle);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                let req = read_request(&mut s).await;
                handle(s, req).await;
            });
        }
    });
    addr
}

/// Writes a complete response with `status`, extra header lines and `body`.
pub async fn respond<S: AsyncWrite + Unpin>(s: &mut S, status: &str, headers: &str, body: &str) {
    let text = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(text.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// A test certificate authority and the certificates it signs.
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: String,
}

/// A certificate chain and its key, ready for a rustls server.
pub struct Leaf {
    pub chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    pub key_der: Vec<u8>,
}

/// The calendar date `days` from today (negative: in the past).
fn ymd(days: i64) -> (i32, u8, u8) {
    use chrono::Datelike;
    let d = chrono::Utc::now().date_naive() + chrono::Duration::days(days);
    (d.year(), d.month() as u8, d.day() as u8)
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("ca key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "commwatch test CA");
        let (y, m, d) = ymd(-30);
        params.not_before = rcgen::date_time_ymd(y, m, d);
        let (y, m, d) = ymd(3650);
        params.not_after = rcgen::date_time_ymd(y, m, d);
        let cert = params.self_signed(&key).expect("ca cert");
        TestCa {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf for `names`, valid from `from_days` to `until_days` relative to today.
    pub fn leaf(&self, names: &[&str], from_days: i64, until_days: i64) -> Leaf {
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone()).expect("leaf params");
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        let (y, m, d) = ymd(from_days);
        params.not_before = rcgen::date_time_ymd(y, m, d);
        let (y, m, d) = ymd(until_days);
        params.not_after = rcgen::date_time_ymd(y, m, d);
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        Leaf {
            chain: vec![cert.der().clone()],
            key_der: key.serialize_der(),
        }
    }

    /// Writes the CA certificate to `dir/ca.pem` for a target's `ca_file`.
    pub fn write(&self, dir: &Path) {
        std::fs::write(dir.join("ca.pem"), &self.pem).expect("write ca");
    }
}

/// A TLS server on 127.0.0.1:0 presenting `leaf`; after the handshake it answers one HTTP
/// request with 200 "ok" (or just closes when the client sends nothing).
pub async fn tls_server(leaf: Leaf) -> SocketAddr {
    commwatch::install_crypto_provider();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf.key_der.into());
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(leaf.chain, key)
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(s).await {
                    let req = read_request(&mut tls).await;
                    if !req.is_empty() {
                        respond(&mut tls, "200 OK", "", "ok").await;
                    }
                }
            });
        }
    });
    addr
}
