//! The overview in a real browser (headless Chromium, Debian package `chromium`, driven over
//! the DevTools protocol): a state change arrives over SSE and patches the page without a
//! reload, the console stays free of errors, the page fits a 360-px phone, and after the link
//! drops the page says so, reconnects by itself and catches up with what it missed.
//!
//! Set COMMWATCH_SCREENSHOTS=DIR to also save the overview at 360 px and desktop width.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "headless Chromium is needed for this test: install the Debian package `chromium` \
         (apt-get install -y chromium; ./test installs it from .ci/packages.txt)"
    );
}

/// A browser process killed when dropped.
struct Browser {
    child: std::process::Child,
    _profile: tempfile::TempDir,
    port: u16,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn launch() -> Browser {
    let profile = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("about:blank")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chromium: {e}"));
    // Chromium writes the port it chose into the profile folder.
    let file = profile.path().join("DevToolsActivePort");
    let port = wait_for(Duration::from_secs(30), "chromium's DevTools port", || {
        let file = file.clone();
        async move {
            let text = std::fs::read_to_string(&file).ok()?;
            text.lines().next()?.trim().parse::<u16>().ok()
        }
    })
    .await;
    Browser {
        child,
        _profile: profile,
        port,
    }
}

/// A DevTools session on one page: commands in order, events kept for inspection.
struct Page {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    next: u64,
    events: Vec<Value>,
}

impl Page {
    async fn open(b: &Browser) -> Page {
        let list = get_json(SocketAddr::from(([127, 0, 0, 1], b.port)), "/json/list").await;
        let url = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target")["webSocketDebuggerUrl"]
            .as_str()
            .unwrap()
            .to_string();
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut p = Page {
            ws,
            next: 0,
            events: Vec::new(),
        };
        for m in ["Page.enable", "Runtime.enable", "Log.enable"] {
            p.call(m, json!({})).await;
        }
        p
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws.send(Message::Text(msg.into())).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("devtools connection closed")
                .unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {}", v["error"]);
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    async fn eval(&mut self, js: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": js, "returnByValue": true }),
            )
            .await;
        assert!(
            r["exceptionDetails"].is_null(),
            "{js}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Polls `js` until it returns `true`.
    async fn wait_true(&mut self, js: &str, what: &str, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.eval(js).await != Value::Bool(true) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url })).await;
        self.wait_true(
            "document.readyState === 'complete'",
            "the page to load",
            Duration::from_secs(20),
        )
        .await;
    }

    /// Console errors, uncaught exceptions and error log entries seen so far.
    fn errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| {
                e["method"] == "Runtime.exceptionThrown"
                    || (e["method"] == "Runtime.consoleAPICalled"
                        && matches!(e["params"]["type"].as_str(), Some("error" | "assert")))
                    || (e["method"] == "Log.entryAdded" && e["params"]["entry"]["level"] == "error")
            })
            .map(|e| e.to_string())
            .collect()
    }

    /// Saves the page at `width` as PNGs of at most 900 px height each (readable when viewed).
    async fn screenshot(&mut self, width: u32, out: &std::path::Path, name: &str) {
        use base64::Engine;
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600 }),
        )
        .await;
        let h = self
            .eval("document.documentElement.scrollHeight")
            .await
            .as_f64()
            .unwrap();
        let mut y = 0.0;
        let mut part = 1;
        while y < h.min(2_700.0) {
            let shot = self
                .call(
                    "Page.captureScreenshot",
                    json!({ "format": "png", "captureBeyondViewport": true,
                            "clip": { "x": 0, "y": y, "width": width, "height": (h - y).min(900.0), "scale": 1 } }),
                )
                .await;
            let png = base64::engine::general_purpose::STANDARD
                .decode(shot["data"].as_str().unwrap())
                .unwrap();
            std::fs::write(out.join(format!("{name}-{width}-{part}.png")), png).unwrap();
            y += 900.0;
            part += 1;
        }
    }
}

/// A TCP relay between the browser and the app that the test can cut (a network drop) and
/// restore.
struct Relay {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (c, k) = (cut.clone(), conns.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if c.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                k.lock().unwrap().push(task.abort_handle());
            }
        });
        Relay { addr, cut, conns }
    }

    fn drop_link(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_updates_live_in_chromium() {
    let browser = launch().await;
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let refused = refused_addr().await;
    let (flip, status) = switch_server(200).await;
    let mut toml = String::from(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"500ms\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\n",
    );
    let communes = [
        "Thành Sen",
        "Cẩm Xuyên",
        "Kỳ Anh",
        "Hương Khê",
        "Đức Thọ",
        "Nghi Xuân",
    ];
    let ops = [
        ("viettel", "mobile"),
        ("vnpt", "mobile"),
        ("mobifone", "mobile"),
        ("vnpost", "postal"),
    ];
    for (ci, c) in communes.iter().enumerate() {
        for (oi, (op, svc)) in ops.iter().enumerate() {
            let id = if ci == 0 && oi == 0 {
                "flip-1".to_string()
            } else {
                format!("t-{ci}-{oi}")
            };
            let probe = match (ci, oi) {
                (0, 0) => {
                    format!("kind = \"http\"\nurl = \"http://{flip}/\"\nexpect_status = [200]")
                }
                (1, _) | (2, 3) => format!("kind = \"tcp\"\naddress = \"{refused}\""),
                _ => format!("kind = \"http\"\nurl = \"http://{ok}/\""),
            };
            toml.push_str(&format!(
                "[[targets]]\nid = \"{id}\"\nname = \"{op} — {c}\"\n{probe}\noperator = \"{op}\"\nservice = \"{svc}\"\nprovince = \"Hà Tĩnh\"\ncommune = \"{c}\"\n\n"
            ));
        }
    }
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    wait_for(Duration::from_secs(20), "states settled", || async {
        let v = get_json(addr, "/api/v1/status").await;
        (v["states"]["unknown"] == 0 && v["states"]["down"] == 5).then_some(())
    })
    .await;
    let relay = Relay::start(addr).await;

    let mut page = Page::open(&browser).await;
    page.navigate(&format!("http://{}/", relay.addr)).await;
    let cell = "document.querySelector('[data-target=\"flip-1\"]')";
    assert_eq!(page.eval(&format!("{cell}.className")).await, "c s-up");
    page.wait_true(
        "document.getElementById('live').className === 'live ok'",
        "the live indicator",
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('live').textContent")
            .await,
        "● Trực tiếp"
    );
    // Anything that reloads the page wipes this.
    page.eval("window.__cwMarker = 42").await;

    // The target goes down: the cell changes in place.
    status.store(503, Ordering::Relaxed);
    page.wait_true(
        &format!("{cell}.classList.contains('s-down')"),
        "the cell to turn down over SSE",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        page.eval(&format!("{cell}.querySelector('.lb').textContent"))
            .await,
        "Mất liên lạc"
    );
    assert_eq!(
        page.eval(&format!("{cell}.querySelector('.ic').textContent"))
            .await,
        "✖"
    );
    // The summary and incident list above the grid follow (fragment refresh).
    page.wait_true(
        "document.querySelector('[data-count=down] strong').textContent === '6'",
        "the summary to count six down",
        Duration::from_secs(20),
    )
    .await;
    page.wait_true(
        "document.querySelector('#top').textContent.includes('viettel — Thành Sen')",
        "the new incident on top",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        page.eval("window.__cwMarker").await,
        42,
        "the page reloaded"
    );
    let errors = page.errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");

    // A phone: nothing sticks out sideways at 360 px.
    page.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 360, "height": 800, "deviceScaleFactor": 1, "mobile": true }),
    )
    .await;
    page.wait_true(
        "document.documentElement.scrollWidth <= 360",
        "the overview to fit 360 px",
        Duration::from_secs(5),
    )
    .await;
    page.call("Emulation.clearDeviceMetricsOverride", json!({}))
        .await;

    if let Some(out) = std::env::var_os("COMMWATCH_SCREENSHOTS") {
        let out = PathBuf::from(out);
        page.screenshot(360, &out, "overview").await;
        page.screenshot(1280, &out, "overview").await;
        page.call(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }),
        )
        .await;
        page.screenshot(1280, &out, "overview-dark").await;
        page.call("Emulation.setEmulatedMedia", json!({ "media": "print" }))
            .await;
        page.screenshot(1280, &out, "overview-print").await;
        page.call(
            "Emulation.setEmulatedMedia",
            json!({ "media": "" , "features": [] }),
        )
        .await;
        page.call("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
    }

    // The link drops: the page says so. Meanwhile the target recovers, an event the page misses.
    relay.drop_link();
    page.wait_true(
        "document.getElementById('live').className === 'live lost'",
        "the reconnecting notice",
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('live').textContent")
            .await,
        "Mất kết nối — đang kết nối lại…"
    );
    status.store(200, Ordering::Relaxed);
    wait_for(Duration::from_secs(20), "flip-1 back up", || async {
        (states(addr).await["flip-1"]["state"] == "up").then_some(())
    })
    .await;
    // The link returns: the page reconnects by itself and catches up.
    relay.restore();
    page.wait_true(
        "document.getElementById('live').className === 'live ok'",
        "the page to reconnect",
        Duration::from_secs(40),
    )
    .await;
    page.wait_true(
        &format!("{cell}.classList.contains('s-up')"),
        "the missed recovery to be applied",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        page.eval("window.__cwMarker").await,
        42,
        "the page reloaded on reconnect"
    );
    // While the link was down the browser logs failed connections; no script error, though.
    let exceptions: Vec<String> = page
        .errors()
        .into_iter()
        .filter(|e| e.contains("Runtime.exceptionThrown") || e.contains("consoleAPICalled"))
        .collect();
    assert!(exceptions.is_empty(), "script errors: {exceptions:#?}");

    if let Some(out) = std::env::var_os("COMMWATCH_SCREENSHOTS") {
        let out = PathBuf::from(out);
        for (path, name) in [
            ("/targets/flip-1", "target"),
            ("/incidents?status=all&lang=en", "incidents"),
            ("/groups/operator/viettel", "group"),
        ] {
            page.navigate(&format!("http://{addr}{path}")).await;
            page.screenshot(1280, &out, name).await;
            page.screenshot(360, &out, name).await;
        }
    }
    drop(page);
    drop(browser);
    tokio::time::timeout(Duration::from_secs(15), app.shutdown())
        .await
        .expect("shutdown hung");
}
