//! `[instance]`: the vantage point's identity is on every page, in `/api/v1/status` and in
//! `commwatch_instance_info`, and a reload that changes it waits for a restart.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

const CONFIG: &str = r#"
[instance]
id = "ht-ops-room"
name = "Phòng trực ban tỉnh Hà Tĩnh"
location = "Thành Sen"
labels = { site = "primary" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_the_status_and_the_metrics_name_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    let app = common::start_app(dir.path(), CONFIG).await;
    let addr = app.local_addr();

    for path in ["/", "/incidents", "/drills", "/groups/operator"] {
        let (status, html) = common::get_text(addr, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            html.contains("Phòng trực ban tỉnh Hà Tĩnh (ht-ops-room) · Thành Sen"),
            "{path} does not name the instance"
        );
    }

    let s = common::get_json(addr, "/api/v1/status").await;
    assert_eq!(s["instance"]["id"], "ht-ops-room");
    assert_eq!(s["instance"]["name"], "Phòng trực ban tỉnh Hà Tĩnh");
    assert_eq!(s["instance"]["location"], "Thành Sen");
    assert_eq!(s["instance"]["labels"]["site"], "primary");

    let (_, metrics) = common::get_text(addr, "/metrics").await;
    assert!(
        metrics.contains(
            "commwatch_instance_info{instance_id=\"ht-ops-room\",instance_name=\"Phòng trực ban tỉnh Hà Tĩnh\",location=\"Thành Sen\"} 1"
        ),
        "{metrics}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfigured_instance_is_named_after_its_host() {
    let dir = tempfile::tempdir().unwrap();
    let app = common::start_app(dir.path(), "").await;
    let s = common::get_json(app.local_addr(), "/api/v1/status").await;
    let id = s["instance"]["id"].as_str().unwrap().to_string();
    assert!(!id.is_empty());
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b)),
        "{id}"
    );
    assert_eq!(s["instance"]["name"], id.as_str());
    app.shutdown().await;
}
