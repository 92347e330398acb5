//! Loopback servers and helpers shared by the integration tests.
#![allow(dead_code)]

pub mod collector;
pub mod pages;
pub mod postgres;
pub mod stores;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use commwatch::app::App;
use commwatch::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An HTTP/1.1 server answering every request with `status` and a short body.
pub async fn http_server(status: u16) -> SocketAddr {
    switch_server(status).await.0
}

/// Accepts connections and never answers: the endpoint that hangs during a storm.
pub async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            held.push(sock);
        }
    });
    addr
}

/// A loopback port with nothing listening: connections are refused.
pub async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

/// A plain TCP listener that accepts and closes.
pub async fn tcp_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            drop(sock);
        }
    });
    addr
}

pub mod needs;

/// Starts the daemon on 127.0.0.1:0 with `toml` (storage forced into `dir`, or into a
/// PostgreSQL database under `COMMWATCH_TEST_STORE=postgres`: see
/// [`stores::storage_for_test`]).
pub async fn start_app(dir: &Path, toml: &str) -> App {
    let (storage, _db) = stores::storage_for_test(dir);
    start_app_with_storage(dir, &storage, toml).await
}

/// Starts the daemon on a SQLite file in `dir` whatever `COMMWATCH_TEST_STORE` says, for a
/// test about SQLite itself.
pub async fn start_app_sqlite(dir: &Path, toml: &str) -> App {
    start_app_with_storage(dir, &stores::sqlite_storage_toml(dir), toml).await
}

async fn start_app_with_storage(dir: &Path, storage: &str, toml: &str) -> App {
    let text = format!("{storage}\n{toml}");
    let cfg =
        Config::from_str_at(&dir.join("commwatch.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    App::start_with_listener(cfg, listener).await.unwrap()
}

pub fn client() -> reqwest::Client {
    commwatch::install_crypto_provider();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub async fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let r = client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

pub async fn get_text(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// Polls `f` every 100 ms until it returns `Some`, failing the test after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The id of `target`'s open incident, once there is one.
pub async fn open_incident(addr: SocketAddr, target: &str) -> i64 {
    wait_for(Duration::from_secs(20), "an open incident", || async {
        let v = get_json(
            addr,
            &format!("/api/v1/incidents?status=open&target={target}"),
        )
        .await;
        v["incidents"][0]["id"].as_i64()
    })
    .await
}

/// The `state` of each target in `/api/v1/targets`, by id.
pub async fn states(addr: SocketAddr) -> std::collections::HashMap<String, serde_json::Value> {
    let v = get_json(addr, "/api/v1/targets").await;
    v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

/// Runs promtool on metrics text; fails loudly when promtool is missing.
pub fn promtool_check_metrics(text: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool is needed for this test (Debian package `prometheus`; ./test installs it): {e}")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An HTTP server whose answer can be switched while it runs (a base station that goes dark
/// and comes back).
pub async fn switch_server(
    initial: u16,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU16>) {
    use std::sync::atomic::{AtomicU16, Ordering};
    let status = std::sync::Arc::new(AtomicU16::new(initial));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = status.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let code = s.load(Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut read = 0;
                // Read until the end of the request headers.
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                    if read == buf.len() {
                        return;
                    }
                }
                let body = format!("status {code}\n");
                let resp = format!(
                    "HTTP/1.1 {code} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, status)
}

/// Reads SSE frames from a streaming response until one satisfies `want`.
pub async fn next_event(
    resp: &mut reqwest::Response,
    buf: &mut String,
    want: impl Fn(&str, &serde_json::Value) -> bool,
) -> (String, serde_json::Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if data.is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&data).unwrap();
            assert_eq!(v["type"], name.as_str(), "event name and type differ");
            if want(&name, &v) {
                return (name, v);
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("timed out waiting for an event")
            .unwrap()
            .expect("the stream ended early");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}
