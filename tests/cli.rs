//! The `commwatch` binary: one-shot probes, and `run` stopping cleanly on SIGTERM with every
//! sample on disk.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_commwatch");

fn write_config(dir: &std::path::Path, listen: &str, body: &str) -> std::path::PathBuf {
    let path = dir.join("commwatch.toml");
    let (storage, _db) = stores::storage_for_test(dir);
    let text = format!("[server]\nlisten = \"{listen}\"\n{storage}{body}");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_prints_text_and_json_and_sets_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let bad = http_server(503).await;
    let cfg = write_config(
        dir.path(),
        "127.0.0.1:0",
        &format!(
            "[[targets]]\nid = \"ok\"\nkind = \"http\"\nurl = \"http://{ok}/\"\n\
             [[targets]]\nid = \"bad\"\nkind = \"http\"\nurl = \"http://{bad}/\"\nexpect_status = [200, 204]\n"
        ),
    );
    let run = |args: Vec<String>| {
        let cfg = cfg.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .arg("probe")
                .arg("-c")
                .arg(cfg)
                .args(args)
                .output()
                .unwrap()
        })
    };
    let out = run(vec!["ok".into()]).await.unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("OK  ok (http)"), "{text}");
    assert!(text.contains("status:    200"), "{text}");
    assert!(text.contains("check pass: status (200) is 2xx"), "{text}");

    let out = run(vec!["bad".into(), "--json".into()]).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["observation"]["facts"]["http_status"], 503);
    assert_eq!(v["checks"][0]["resolved"], "status (503) in [200, 204]");
    assert!(v["observation"]["duration"].as_f64().unwrap() > 0.0);

    let out = run(vec!["missing".into()]).await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no target `missing`"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_cleanly_on_sigterm_and_keeps_its_samples() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let port = refused_addr().await.port();
    let cfg = write_config(
        dir.path(),
        &format!("127.0.0.1:{port}"),
        &format!(
            "[[targets]]\nid = \"ok\"\nkind = \"http\"\nurl = \"http://{ok}/\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n"
        ),
    );
    let mut child = Command::new(BIN)
        .args(["run", "--log-format", "json", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for(Duration::from_secs(15), "a sample in the API", || async {
        let r = client()
            .get(format!("http://{addr}/api/v1/targets"))
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        (v["targets"][0]["state"] == "up").then_some(())
    })
    .await;
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (s, err);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("commwatch did not stop within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(out.0.success(), "exit status {:?}: {}", out.0, out.1);
    assert!(
        out.1.contains("\"message\":\"commwatch stopped\""),
        "{}",
        out.1
    );
    let rows = stores::test_sql(dir.path(), "SELECT count(*) FROM samples");
    let n: i64 = rows[0][0].as_deref().unwrap().parse().unwrap();
    assert!(n >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_running_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let port = refused_addr().await.port();
    let one = format!(
        "[[targets]]\nid = \"first\"\nkind = \"http\"\nurl = \"http://{ok}/\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n"
    );
    let cfg = write_config(dir.path(), &format!("127.0.0.1:{port}"), &one);
    let log_path = dir.path().join("daemon.log");
    let mut child = Command::new(BIN)
        .args(["run", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ids = || async move {
        let r = client()
            .get(format!("http://{addr}/api/v1/targets"))
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        Some(
            v["targets"]
                .as_array()?
                .iter()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect::<Vec<_>>(),
        )
    };
    wait_for(Duration::from_secs(15), "daemon up", || async {
        ids().await.filter(|v| v.len() == 1)
    })
    .await;
    let two = format!("{one}[[targets]]\nid = \"second\"\nkind = \"tcp\"\naddress = \"{ok}\"\n");
    write_config(dir.path(), &format!("127.0.0.1:{port}"), &two);
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    // The signal is sent the moment the daemon answers: it must already be the daemon's to
    // handle, not the default action's (which ends the process).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let now = loop {
        if let Some(v) = ids().await.filter(|v| v.len() == 2) {
            break v;
        }
        let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the daemon ended ({status}) after SIGHUP; its log:\n{}",
                log()
            );
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "no second target 15 s after SIGHUP; the daemon's log:\n{}",
                log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(now, vec!["first", "second"]);
    // Still alive after the reload, and stops cleanly.
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP stopped the daemon"
    );
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
}

/// `commwatch check` says how many probes may hold sockets at once and how many a storm would
/// need, and warns when a configured cap is below it.
#[test]
fn check_warns_when_a_storm_would_queue_probes() {
    let dir = tempfile::tempdir().unwrap();
    let mut targets = String::new();
    for i in 0..40 {
        targets.push_str(&format!(
            "[[targets]]\nid = \"web-{i}\"\nkind = \"http\"\nurl = \"http://127.0.0.1:9/\"\ninterval = \"10s\"\ntimeout = \"5s\"\n\n"
        ));
    }
    let check = |body: &str| {
        let path = write_config(dir.path(), "127.0.0.1:0", body);
        let out = Command::new(BIN)
            .args(["check", "-c"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = check(&format!("[scheduler]\nmax_concurrency = 8\n\n{targets}"));
    assert!(
        text.contains("at most 8 (max_concurrency); 20 if every endpoint timed out"),
        "{text}"
    );
    assert!(
        text.contains("warning: max_concurrency = 8 is below 20"),
        "{text}"
    );
    let text = check(&targets);
    assert!(text.contains("at most 256 (sized for a storm)"), "{text}");
    assert!(!text.contains("warning"), "{text}");
}
