//! The Alertmanager receiver against a real Alertmanager (Debian `prometheus-alertmanager`)
//! on loopback: a failing target appears in Alertmanager with our labels, and disappears from
//! its active alerts once the target recovers (we send `endsAt`).

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_real_alertmanager_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let am_port = refused_addr().await.port();
    let am_cfg = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am_cfg,
        "route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n",
    )
    .unwrap();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!("--config.file={}", am_cfg.display()))
        .arg(format!("--storage.path={}", dir.path().join("am-data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("this test needs Alertmanager (Debian package `prometheus-alertmanager`; ./test installs it): {e}")
        });
    let _am = Kill(child);
    let am = format!("http://127.0.0.1:{am_port}");
    wait_for(Duration::from_secs(20), "alertmanager ready", || async {
        let r = client().get(format!("{am}/-/ready")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;

    let (site, status) = switch_server(503).await;
    let toml = format!(
        r#"
[[receivers]]
id = "am"
kind = "alertmanager"
url = "{am}"
resend_interval = "5s"

[[routes]]
receiver = "am"

[[targets]]
id = "ht-thach-ha-vnpt"
name = "VNPT — Thạch Hà"
kind = "http"
url = "http://{site}/"
interval = "1s"
timeout = "500ms"
failure_threshold = 1
success_threshold = 1
operator = "vnpt"
province = "Hà Tĩnh"
commune = "Thạch Hà"
"#
    );
    let app = start_app(dir.path(), &toml).await;
    let active = || async {
        let r = client()
            .get(format!(
                "{am}/api/v2/alerts?active=true&silenced=false&inhibited=false"
            ))
            .send()
            .await
            .ok()?;
        r.json::<Vec<serde_json::Value>>().await.ok()
    };
    let alerts = wait_for(
        Duration::from_secs(30),
        "the alert in alertmanager",
        || async { active().await.filter(|a| !a.is_empty()) },
    )
    .await;
    let a = &alerts[0];
    assert_eq!(a["labels"]["alertname"], "CommwatchTargetDown");
    assert_eq!(a["labels"]["target"], "ht-thach-ha-vnpt");
    assert_eq!(a["labels"]["commune"], "Thạch Hà");
    assert_eq!(a["labels"]["operator"], "vnpt");
    assert!(
        a["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("Thạch Hà")
            || a["annotations"]["description"]
                .as_str()
                .unwrap()
                .contains("Thạch Hà")
    );

    status.store(200, std::sync::atomic::Ordering::Relaxed);
    wait_for(
        Duration::from_secs(30),
        "the alert resolved in alertmanager",
        || async { active().await.filter(|a| a.is_empty()) },
    )
    .await;
    app.shutdown().await;
}
