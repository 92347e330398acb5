//! Configuration reload: a valid file applies without restarting unchanged targets, an invalid
//! one is refused with file/line/key and the old config keeps running; writes need an admin
//! token; SIGHUP reloads the running binary.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use commwatch::app::App;
use commwatch::config::Config;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP server that records when each request arrived (ms since the Unix epoch).
async fn recording_server() -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<i64>>>) {
    let hits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            h.lock()
                .unwrap()
                .push(chrono::Utc::now().timestamp_millis());
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (addr, hits)
}

/// `POST /-/reload` as the admin; the answer must be 200, its body is returned.
async fn reload_ok(addr: std::net::SocketAddr) -> serde_json::Value {
    let r = client()
        .post(format!("http://{addr}/-/reload"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.unwrap()
}

fn hex(d: [u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn auth_section() -> String {
    format!(
        "[auth]\n\n[[auth.tokens]]\nname = \"quan-tri\"\nrole = \"admin\"\nsha256 = \"{}\"\n\n\
         [[auth.tokens]]\nname = \"truc-ban-1\"\nrole = \"officer\"\nsha256 = \"{}\"\n\n",
        hex(Sha256::digest(b"admin-secret").into()),
        hex(Sha256::digest(b"officer-secret").into())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_changes_without_restarting_unchanged_targets() {
    let dir = tempfile::tempdir().unwrap();
    let (keep_addr, keep_hits) = recording_server().await;
    let other = http_server(200).await;
    let interval = Duration::from_secs(4);
    // An id whose first run lands early in its interval, so a restarted task would probe at
    // once and a kept one only at its old grid point.
    let keep = (0..1_000)
        .map(|i| format!("keep-{i}"))
        .find(|id| commwatch::scheduler::first_offset(id, interval) < Duration::from_millis(600))
        .unwrap();
    let path = dir.path().join("commwatch.toml");
    let (storage, _db) = stores::storage_for_test(dir.path());
    let write = |targets: &str| {
        std::fs::write(&path, format!("{storage}{}{targets}", auth_section())).unwrap()
    };
    let keep_t = format!(
        "[[targets]]\nid = \"{keep}\"\nkind = \"http\"\nurl = \"http://{keep_addr}/\"\ninterval = \"4s\"\ntimeout = \"1s\"\noperator = \"vnpt\"\n\n"
    );
    let gone_t = format!(
        "[[targets]]\nid = \"gone\"\nkind = \"http\"\nurl = \"http://{other}/\"\ninterval = \"1s\"\ntimeout = \"500ms\"\noperator = \"viettel\"\n\n"
    );
    let changed_t = |t: &str| {
        format!(
            "[[targets]]\nid = \"changed\"\nkind = \"http\"\nurl = \"http://{other}/\"\ninterval = \"1s\"\ntimeout = \"{t}\"\n\n"
        )
    };
    let added_t = format!(
        "[[targets]]\nid = \"added\"\nkind = \"tcp\"\naddress = \"{other}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\n"
    );
    write(&format!("{keep_t}{gone_t}{}", changed_t("500ms")));

    let cfg = Config::load(&path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = App::start_with_listener(cfg, listener).await.unwrap();
    let addr = app.local_addr();

    // Wait for two probes of the kept target, then reload half-way between grid points.
    let grid = wait_for(
        Duration::from_secs(15),
        "two probes of the kept target",
        || async {
            let h = keep_hits.lock().unwrap().clone();
            (h.len() >= 2).then(|| h[h.len() - 1])
        },
    )
    .await;
    let keep_since = states(addr).await[&keep]["since"].clone();
    let target_reload = grid + 2_000;
    let wait = target_reload - chrono::Utc::now().timestamp_millis();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    write(&format!("{keep_t}{}{added_t}", changed_t("700ms")));
    let hits_before = keep_hits.lock().unwrap().len();
    let report = reload_ok(addr).await;
    assert_eq!(report["report"]["added"], serde_json::json!(["added"]));
    assert_eq!(report["report"]["removed"], serde_json::json!(["gone"]));
    assert_eq!(report["report"]["changed"], serde_json::json!(["changed"]));
    let reloaded_at = chrono::Utc::now().timestamp_millis();

    // The new target is probed, the removed one is gone from the API and from /metrics.
    wait_for(Duration::from_secs(10), "added target up", || async {
        (states(addr).await.get("added")?["state"] == "up").then_some(())
    })
    .await;
    let st = states(addr).await;
    assert!(!st.contains_key("gone"));
    assert_eq!(st[&keep]["since"], keep_since, "kept target lost its state");
    assert_eq!(st["changed"]["timeout_seconds"], 0.7);
    let (_, metrics) = get_text(addr, "/metrics").await;
    assert!(
        !metrics.contains("target=\"gone\""),
        "series of a removed target remain"
    );
    assert!(metrics.contains("target=\"added\""));
    assert!(metrics.contains("commwatch_config_last_reload_successful 1"));
    assert!(metrics.contains("commwatch_config_reloads_total{result=\"success\"} 1"));

    // The kept target was not restarted: its next probe came on its old grid, not right after
    // the reload.
    wait_for(
        Duration::from_secs(10),
        "next probe of the kept target",
        || async { (keep_hits.lock().unwrap().len() > hits_before).then_some(()) },
    )
    .await;
    let next = keep_hits.lock().unwrap()[hits_before];
    assert!(
        next - reloaded_at > 1_000,
        "kept target probed {} ms after the reload: its task was restarted",
        next - reloaded_at
    );
    let phase = (next - grid).rem_euclid(4_000);
    assert!(
        !(200..=3_800).contains(&phase),
        "kept target left its grid (phase {phase} ms)"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_reload_is_refused_and_the_old_config_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let path = dir.path().join("commwatch.toml");
    let (storage, _db) = stores::storage_for_test(dir.path());
    let good = format!(
        "{storage}{}[[targets]]\nid = \"a\"\nkind = \"http\"\nurl = \"http://{ok}/\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
        auth_section()
    );
    std::fs::write(&path, &good).unwrap();
    let app = App::start_with_listener(
        Config::load(&path).unwrap(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let addr = app.local_addr();
    let c = client();
    let url = format!("http://{addr}/-/reload");

    // Writes need a token, and an admin one.
    let r = c.post(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "unauthorized");
    let r = c
        .post(&url)
        .bearer_auth("officer-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = c.post(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);

    std::fs::write(
        &path,
        good.replace("timeout = \"500ms\"", "timeout = \"5s\""),
    )
    .unwrap();
    let r = c
        .post(&url)
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalid_config");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("commwatch.toml:") && msg.contains("key `timeout`"),
        "{msg}"
    );
    let (_, metrics) = get_text(addr, "/metrics").await;
    assert!(metrics.contains("commwatch_config_last_reload_successful 0"));
    assert!(metrics.contains("commwatch_config_reloads_total{result=\"failure\"} 1"));
    // Still probing on the old configuration.
    let counter = Arc::new(AtomicU64::new(0));
    let store = app.state.store.clone();
    let before = store.sample_count("a").await.unwrap();
    wait_for(Duration::from_secs(10), "probing continues", || {
        let store = store.clone();
        let counter = counter.clone();
        async move {
            store.flush().await.ok()?;
            let n = store.sample_count("a").await.ok()?;
            counter.store(n, Ordering::Relaxed);
            (n > before + 1).then_some(())
        }
    })
    .await;
    assert_eq!(
        app.state.config().target("a").unwrap().timeout,
        Duration::from_millis(500)
    );
    drop(store);
    app.shutdown().await;
}

/// `max_concurrency` applies on reload, without a restart: with one permit held by hanging
/// probes a healthy target starves; once the cap is raised it runs at its interval, and once
/// lowered again it starves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_changes_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (ok_addr, ok_hits) = recording_server().await;
    let hang = silent_server().await;
    let path = dir.path().join("commwatch.toml");
    let (storage, _db) = stores::storage_for_test(dir.path());
    let write = |cap: usize| {
        std::fs::write(
            &path,
            format!(
                "{storage}{}[scheduler]\nmax_concurrency = {cap}\n\n\
                 [[targets]]\nid = \"hang-1\"\nkind = \"http\"\nurl = \"http://{hang}/1\"\ninterval = \"4s\"\ntimeout = \"3900ms\"\n\n\
                 [[targets]]\nid = \"hang-2\"\nkind = \"http\"\nurl = \"http://{hang}/2\"\ninterval = \"4s\"\ntimeout = \"3900ms\"\n\n\
                 [[targets]]\nid = \"ok\"\nkind = \"http\"\nurl = \"http://{ok_addr}/\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
                auth_section()
            ),
        )
        .unwrap()
    };
    let reload = |addr| async move {
        let v = reload_ok(addr).await;
        assert_eq!(v["report"]["needs_restart"], serde_json::json!([]), "{v}");
    };
    let hits_in = |secs: u64| {
        let hits = ok_hits.clone();
        async move {
            let before = hits.lock().unwrap().len();
            tokio::time::sleep(Duration::from_secs(secs)).await;
            hits.lock().unwrap().len() - before
        }
    };
    write(1);
    let cfg = Config::load(&path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = App::start_with_listener(cfg, listener).await.unwrap();
    let addr = app.local_addr();
    // Let the hanging probes take the one permit in turn.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let starved = hits_in(4).await;
    write(3);
    reload(addr).await;
    let freed = hits_in(4).await;
    write(1);
    reload(addr).await;
    // The permits in use come back as the hanging probes end (3.9 s), then it starves again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let again = hits_in(4).await;
    app.shutdown().await;
    assert!(
        starved <= 2,
        "healthy target ran {starved} times in 4 s with one permit"
    );
    assert!(
        freed >= 3,
        "healthy target ran {freed} times in 4 s with three permits"
    );
    assert!(
        again <= 2,
        "healthy target ran {again} times in 4 s after lowering the cap"
    );
}
