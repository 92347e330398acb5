//! `/probe` answers blackbox_exporter's metric names for configured targets only, with the
//! timeout taken from Prometheus' scrape-timeout header; promtool accepts the output.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_endpoint_speaks_blackbox_for_configured_targets_only() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let refused = refused_addr().await;
    let hang = silent_server().await;
    let toml = format!(
        "[[targets]]\nid = \"portal\"\nkind = \"http\"\nurl = \"http://{ok}/\"\n\n\
         [[targets]]\nid = \"mail\"\nkind = \"tcp\"\naddress = \"{refused}\"\n\n\
         [[targets]]\nid = \"slow\"\nkind = \"http\"\nurl = \"http://{hang}/\"\ntimeout = \"30s\"\n"
    );
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();

    let (status, text) = get_text(addr, "/probe?target=portal&module=http").await;
    assert_eq!(status, 200);
    assert!(text.contains("probe_success 1"), "{text}");
    assert!(text.contains("probe_http_status_code 200"));
    assert!(text.contains("probe_http_duration_seconds{phase=\"connect\"}"));
    assert!(text.contains("probe_duration_seconds "));
    let lint = promtool_check_metrics(&text);
    assert!(lint.trim().is_empty(), "promtool: {lint}");

    let (_, text) = get_text(addr, "/probe?target=mail").await;
    assert!(text.contains("probe_success 0"), "{text}");

    // The scrape timeout header bounds a hanging probe (2 s minus the 0.5 s margin).
    let started = Instant::now();
    let r = client()
        .get(format!("http://{addr}/probe?target=slow"))
        .header("X-Prometheus-Scrape-Timeout-Seconds", "2")
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("probe_success 0"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the scrape timeout was ignored"
    );

    // Never an arbitrary address: unknown ids are refused, and so is a mismatched module.
    let (status, body) = get_text(addr, "/probe?target=127.0.0.1:22").await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = get_text(addr, "/probe?target=portal&module=icmp").await;
    assert_eq!(status, 400);
    let (status, _) = get_text(addr, "/probe").await;
    assert_eq!(status, 400);
    app.shutdown().await;
}
