//! `commwatch probe -c FILE ID [--json]`: the one-shot command an engineer runs during a storm
//! prints every fact and every check in resolved form, and exits 0 only when the target passes.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{commwatch as run, http_server, respond};

#[tokio::test]
async fn probe_prints_facts_and_checks_as_text_and_json() {
    let addr = http_server(|mut s, _| async move {
        respond(
            &mut s,
            "503 Service Unavailable",
            "Retry-After: 60\r\n",
            r#"{"status":"down"}"#,
        )
        .await;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[targets]]
id = "ht-portal"
kind = "http"
url = "http://{addr}/status"
expect_status = [200]
checks = ['json /status == "ok"']
interval = "10s"
timeout = "2s"
"#
        ),
    )
    .unwrap();
    let cfg = cfg.to_string_lossy().into_owned();

    let c = cfg.clone();
    let (code, text) = tokio::task::spawn_blocking(move || run(&["probe", "-c", &c, "ht-portal"]))
        .await
        .unwrap();
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("FAIL  ht-portal (http)"), "{text}");
    for want in [
        "status:    503",
        "header:    retry-after: 60",
        "check FAIL: status (503) in [200]",
        r#"check FAIL: json /status ("down") == "ok""#,
        "connect:",
        "first byte:",
    ] {
        assert!(text.contains(want), "missing `{want}` in:\n{text}");
    }

    let (code, json) =
        tokio::task::spawn_blocking(move || run(&["probe", "-c", &cfg, "ht-portal", "--json"]))
            .await
            .unwrap();
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).expect("json output");
    assert_eq!(v["ok"], false);
    assert_eq!(v["degraded"], false);
    assert_eq!(v["observation"]["facts"]["http_status"], 503);
    assert!(v["observation"]["phases"]["connect"].as_f64().is_some());
    assert_eq!(v["checks"][0]["resolved"], "status (503) in [200]");
    assert_eq!(v["checks"][0]["ok"], false);
}
