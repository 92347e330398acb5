//! The daemon end to end over real loopback sockets: healthy, failing, hanging and refusing
//! endpoints; states in the API; samples in SQLite across a restart; /metrics that promtool
//! accepts; an escaped status page.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

fn config(ok: &str, bad: &str, hang: &str, refused: &str, tcp: &str) -> String {
    format!(
        r#"
[defaults]
interval = "1s"
timeout = "500ms"
failure_threshold = 2
success_threshold = 1

[[targets]]
id = "portal-ok"
name = "Cổng dịch vụ công <script>alert('x')</script>"
kind = "http"
url = "http://{ok}/"
operator = "vnpt"
service = "portal"
province = "Hà Tĩnh"
commune = "Thành Sen"

[[targets]]
id = "portal-503"
name = "Cổng thông tin \"lỗi\""
kind = "http"
url = "http://{bad}/"
expect_status = [200]
operator = "viettel"
service = "portal"
province = "Hà Tĩnh"
commune = "Cẩm Xuyên"

[[targets]]
id = "portal-hang"
name = "Máy chủ treo"
kind = "http"
url = "http://{hang}/"
operator = "mobifone"
province = "Hà Tĩnh"
commune = "Kỳ Anh"

[[targets]]
id = "mail-refused"
name = "VNPost mail relay"
kind = "tcp"
address = "{refused}"
operator = "vnpost"
service = "postal"
province = "Hà Tĩnh"
commune = "Kỳ Anh"

[[targets]]
id = "fpt-tcp"
name = "FPT — Thành Sen"
kind = "tcp"
address = "{tcp}"
operator = "fpt"
service = "fixed"
province = "Hà Tĩnh"
commune = "Thành Sen"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_samples_metrics_and_page_over_real_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let bad = http_server(503).await;
    let hang = silent_server().await;
    let refused = refused_addr().await;
    let tcp = tcp_server().await;
    let toml = config(
        &ok.to_string(),
        &bad.to_string(),
        &hang.to_string(),
        &refused.to_string(),
        &tcp.to_string(),
    );

    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();

    let expected = [
        ("portal-ok", "up"),
        ("portal-503", "down"),
        ("portal-hang", "down"),
        ("mail-refused", "down"),
        ("fpt-tcp", "up"),
    ];
    let st = wait_for(Duration::from_secs(20), "all targets to settle", || async {
        let st = states(addr).await;
        expected
            .iter()
            .all(|(id, s)| st[*id]["state"] == *s)
            .then_some(st)
    })
    .await;

    // Error codes and resolved checks say why each one failed.
    assert_eq!(st["portal-503"]["last"]["error"], "check_failed");
    assert_eq!(st["portal-503"]["last"]["detail"], "status (503) in [200]");
    assert_eq!(st["portal-hang"]["last"]["error"], "timeout");
    assert_eq!(st["mail-refused"]["last"]["error"], "conn_refused");
    assert_eq!(st["portal-ok"]["last"]["ok"], true);
    assert_eq!(st["portal-ok"]["kind"], "http");
    assert_eq!(st["portal-ok"]["commune"], "Thành Sen");
    assert!(st["portal-ok"]["since"].is_string());

    // A single target, with its recent samples from the store.
    let one = get_json(addr, "/api/v1/targets/portal-503").await;
    assert_eq!(one["target"]["state"], "down");
    assert!(!one["recent_samples"].as_array().unwrap().is_empty());
    let (status, body) = get_text(addr, "/api/v1/targets/nope").await;
    assert_eq!(status, 404);
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"]["code"], "not_found");

    // /metrics: the families and labels the issue names, accepted by promtool.
    let (status, metrics) = get_text(addr, "/metrics").await;
    assert_eq!(status, 200);
    for needle in [
        "commwatch_probe_success{commune=\"Thành Sen\",kind=\"http\",operator=\"vnpt\",province=\"Hà Tĩnh\",target=\"portal-ok\"} 1",
        "commwatch_probe_success{commune=\"Kỳ Anh\",kind=\"tcp\",operator=\"vnpost\",province=\"Hà Tĩnh\",target=\"mail-refused\"} 0",
        "commwatch_probe_duration_seconds_bucket{",
        "commwatch_probes_total{commune=\"Cẩm Xuyên\",kind=\"http\",operator=\"viettel\",province=\"Hà Tĩnh\",result=\"failure\",target=\"portal-503\"}",
        "commwatch_target_state{commune=\"Kỳ Anh\",kind=\"http\",operator=\"mobifone\",province=\"Hà Tĩnh\",state=\"down\",target=\"portal-hang\"} 1",
        "commwatch_probe_errors_total{code=\"timeout\"",
        "commwatch_build_info{version=",
    ] {
        assert!(metrics.contains(needle), "missing in /metrics: {needle}");
    }
    let lint = promtool_check_metrics(&metrics);
    assert!(lint.trim().is_empty(), "promtool check metrics: {lint}");

    // The status page: grouped by commune and operator, names escaped, local time shown.
    let (status, html) = get_text(addr, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("<html lang=\"vi\">"));
    assert!(html.contains("Thành Sen") && html.contains("Cẩm Xuyên") && html.contains("Kỳ Anh"));
    assert!(html.contains("Mất liên lạc"), "down label missing");
    assert!(html.contains("Asia/Ho_Chi_Minh"));
    assert!(
        !html.contains("<script>alert"),
        "target name was not escaped"
    );
    assert!(
        html.contains("&lt;script&gt;alert('x')&lt;/script&gt;")
            || html.contains("&lt;script&gt;alert(&#39;x&#39;)")
    );
    assert!(html.contains("Cổng thông tin &quot;lỗi&quot;"));
    assert!(html.contains("status (503) in [200]"));

    let health = get_json(addr, "/healthz").await;
    assert_eq!(health["status"], "ok");
    let ready = get_json(addr, "/readyz").await;
    assert_eq!(ready["ready"], true);

    // Graceful shutdown flushes the store; every target has samples on disk.
    let down_since = st["portal-503"]["since"].clone();
    app.shutdown().await;
    let mut counts = std::collections::HashMap::new();
    for row in stores::test_sql(
        dir.path(),
        "SELECT t.key, count(*) FROM samples s JOIN targets t ON t.id = s.target_id GROUP BY t.key",
    ) {
        let k = row[0].clone().unwrap();
        let n: i64 = row[1].as_deref().unwrap().parse().unwrap();
        counts.insert(k, n);
    }
    for (id, _) in expected {
        assert!(
            counts.get(id).copied().unwrap_or(0) >= 1,
            "no samples for {id}: {counts:?}"
        );
    }
    let errors: Vec<(String, String)> = stores::test_sql(
        dir.path(),
        "SELECT DISTINCT t.key, s.error FROM samples s JOIN targets t ON t.id = s.target_id WHERE s.error IS NOT NULL",
    )
    .into_iter()
    .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
    .collect();
    assert!(
        errors.contains(&("portal-hang".into(), "timeout".into())),
        "{errors:?}"
    );

    // A restart resumes: states are restored before the first probe, and sampling continues.
    let before = counts["portal-ok"];
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    let st = states(addr).await;
    assert_eq!(st["portal-503"]["state"], "down", "state not restored");
    assert_eq!(st["portal-503"]["since"], down_since, "since not restored");
    assert_eq!(st["portal-ok"]["state"], "up");
    assert!(
        st["portal-ok"]["last"]["at"].is_string(),
        "last result not restored"
    );
    let store = app.state.store.clone();
    wait_for(Duration::from_secs(10), "new samples after restart", || {
        let store = store.clone();
        async move {
            store.flush().await.ok()?;
            let n = store.sample_count("portal-ok").await.ok()?;
            (n as i64 > before).then_some(())
        }
    })
    .await;
    drop(store);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_never_delays_another() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let hang = silent_server().await;
    // One permit only: if the hanging probe held it while waiting, the healthy target would be
    // starved. The hang target's timeout (3 s) is three of the healthy target's intervals.
    let toml = format!(
        r#"
[scheduler]
max_concurrency = 2

[[targets]]
id = "hang"
kind = "http"
url = "http://{hang}/"
interval = "4s"
timeout = "3s"

[[targets]]
id = "ok"
kind = "http"
url = "http://{ok}/"
interval = "1s"
timeout = "500ms"
"#
    );
    let app = start_app(dir.path(), &toml).await;
    let store = app.state.store.clone();
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    store.flush().await.unwrap();
    let ok_samples = store.sample_count("ok").await.unwrap();
    let hang_samples = store.sample_count("hang").await.unwrap();
    drop(store);
    app.shutdown().await;
    // In 6.5 s the healthy target is due 6 or 7 times whatever the hanging one does; each hang
    // probe takes 3 s, so had they been serialised the healthy one would have run at most 3-4.
    assert!(
        ok_samples >= 5,
        "healthy target ran only {ok_samples} times"
    );
    assert!(
        (1..=2).contains(&hang_samples),
        "hang target ran {hang_samples} times"
    );
}

/// Pings hold no socket of their own, so they are outside `max_concurrency`: with the one
/// permit always taken by hanging HTTP probes (as in a storm, when thousands of endpoints
/// time out), a mobile site is still pinged on time. Needs root for the raw ICMP socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_not_queued_behind_probes_holding_sockets() {
    if !needs::root(
        "pings_are_not_queued_behind_probes_holding_sockets",
        "raw ICMP sockets",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hang = silent_server().await;
    let toml = format!(
        r#"
[scheduler]
max_concurrency = 1

[[targets]]
id = "hang-1"
kind = "http"
url = "http://{hang}/a"
interval = "4s"
timeout = "3900ms"

[[targets]]
id = "hang-2"
kind = "http"
url = "http://{hang}/b"
interval = "4s"
timeout = "3900ms"

[[targets]]
id = "site"
kind = "icmp"
host = "127.0.0.1"
count = 1
interval = "1s"
timeout = "500ms"
"#
    );
    let app = start_app(dir.path(), &toml).await;
    let store = app.state.store.clone();
    tokio::time::sleep(Duration::from_millis(6_200)).await;
    store.flush().await.unwrap();
    let pings = store.sample_count("site").await.unwrap();
    let hangs =
        store.sample_count("hang-1").await.unwrap() + store.sample_count("hang-2").await.unwrap();
    drop(store);
    app.shutdown().await;
    // Due 6 or 7 times in 6.2 s. Queued behind the two hanging probes (3.9 s each, one
    // permit) it would get a turn about every 3.9 s: 2 runs at most.
    assert!(pings >= 5, "the ping ran only {pings} times");
    assert!(
        hangs <= 2,
        "hanging probes ran {hangs} times with one permit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let app = start_app(dir.path(), "").await;
    let addr = app.local_addr();
    let c = client();
    let r = c
        .post(format!("http://{addr}/api/v1/targets"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed");
    let r = c
        .get(format!("http://{addr}/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let (status, html) = get_text(addr, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("Chưa cấu hình mục tiêu nào"));
    app.shutdown().await;
}
