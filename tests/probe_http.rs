//! HTTP probe against servers started on loopback: phases, body and JSON checks, wrong status,
//! slow headers, slow body, redirects (followed, looping, not followed), a huge body, a POST
//! with headers and body, and HTTPS with verification on and off.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use commwatch::probe::ErrorCode;
use support::{
    TestCa, failing, http_server, probe, prober, respond, target, target_in, tls_server,
};
use tokio::io::AsyncWriteExt;

fn http_target(url: &str, extra: &str) -> commwatch::config::Target {
    target(&format!(
        "id = \"t\"\nkind = \"http\"\nurl = \"{url}\"\ninterval = \"5s\"\ntimeout = \"500ms\"\n{extra}"
    ))
}

#[tokio::test]
async fn answer_with_phases_headers_and_body_checks() {
    const BODY: &str = r#"{"status":"ok","queue":3,"commune":"Kỳ Anh"}"#;
    let addr = http_server(|mut s, _req| async move {
        respond(&mut s, "200 OK", "Content-Type: application/json\r\n", BODY).await;
    })
    .await;
    let t = http_target(
        &format!("http://{addr}/health"),
        r#"checks = ['json /status == "ok"', 'json /queue < 10', 'body contains "Kỳ Anh"', 'header content-type contains "json"', 'first_byte < 400ms']"#,
    );
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(sample.ok, "{:?} {:?}", obs.error_detail, sample.checks);
    assert_eq!(sample.checks.len(), 6, "status plus five checks");
    assert_eq!(obs.facts.http_status, Some(200));
    let p = &obs.phases;
    assert!(p.dns.is_some() && p.connect.is_some() && p.first_byte.is_some());
    assert!(p.transfer.is_some() && p.tls.is_none());
    assert_eq!(obs.facts.body_bytes, Some(BODY.len() as u64));
    assert!(
        obs.facts
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/json")
    );
    assert_eq!(obs.facts.remote_addr, Some(addr));
}

#[tokio::test]
async fn json_check_failure_is_resolved() {
    let addr = http_server(|mut s, _| async move {
        respond(&mut s, "200 OK", "", r#"{"status":"degraded"}"#).await;
    })
    .await;
    let t = http_target(
        &format!("http://{addr}/"),
        r#"checks = ['json /status == "ok"']"#,
    );
    let (_, sample) = probe(&prober(), &t).await;
    assert!(!sample.ok);
    assert_eq!(sample.error, Some(ErrorCode::CheckFailed));
    assert_eq!(failing(&sample), [r#"json /status ("degraded") == "ok""#]);
}

#[tokio::test]
async fn wrong_status_fails_the_status_check() {
    let addr = http_server(|mut s, _| async move {
        respond(&mut s, "503 Service Unavailable", "", "busy").await;
    })
    .await;
    let t = http_target(&format!("http://{addr}/"), "expect_status = [200, 204]");
    let (obs, sample) = probe(&prober(), &t).await;
    assert_eq!(obs.error, None, "the probe itself worked");
    assert!(!sample.ok);
    assert_eq!(sample.error, Some(ErrorCode::CheckFailed));
    assert_eq!(failing(&sample), ["status (503) in [200, 204]"]);
}

#[tokio::test]
async fn slow_headers_time_out_after_connecting() {
    let addr = http_server(|s, _| async move {
        // Read the request, then never answer (bounded: the test ends first).
        let _open = s;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let t = http_target(&format!("http://{addr}/"), "");
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(!sample.ok);
    assert_eq!(obs.error, Some(ErrorCode::Timeout));
    let detail = obs.error_detail.unwrap_or_default();
    assert!(detail.contains("no response headers"), "{detail}");
    assert!(obs.phases.connect.is_some(), "the connect phase is kept");
    assert!(obs.duration >= Duration::from_millis(450) && obs.duration < Duration::from_secs(2));
}

#[tokio::test]
async fn slow_body_times_out_with_the_status_known() {
    let addr = http_server(|mut s, _| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nfirst bytes")
            .await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let t = http_target(&format!("http://{addr}/"), "");
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(!sample.ok);
    assert_eq!(obs.error, Some(ErrorCode::Timeout));
    assert_eq!(obs.facts.http_status, Some(200));
    assert_eq!(obs.facts.body_bytes, Some(11));
    let detail = obs.error_detail.unwrap_or_default();
    assert!(detail.contains("body was not complete"), "{detail}");
    assert!(obs.phases.first_byte.is_some() && obs.phases.transfer.is_some());
}

#[tokio::test]
async fn redirects_are_followed() {
    let addr = http_server(|mut s, req| async move {
        if req.starts_with("GET /old ") {
            respond(&mut s, "301 Moved Permanently", "Location: /new\r\n", "").await;
        } else {
            respond(&mut s, "200 OK", "", "new home").await;
        }
    })
    .await;
    let t = http_target(&format!("http://{addr}/old"), "");
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
    assert_eq!(obs.facts.redirects, Some(1));
    assert_eq!(
        obs.facts.final_url.as_deref(),
        Some(format!("http://{addr}/new").as_str())
    );
}

#[tokio::test]
async fn redirect_loop_stops_at_the_limit() {
    let addr = http_server(|mut s, req| async move {
        let next = if req.starts_with("GET /a ") {
            "/b"
        } else {
            "/a"
        };
        respond(&mut s, "302 Found", &format!("Location: {next}\r\n"), "").await;
    })
    .await;
    let t = http_target(&format!("http://{addr}/a"), "redirects = 3");
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(!sample.ok);
    assert_eq!(obs.error, Some(ErrorCode::ProtocolError));
    let detail = obs.error_detail.unwrap_or_default();
    assert!(detail.contains("stopped after 3 redirects"), "{detail}");

    // With redirects off, the 3xx itself is the answer and the status check judges it.
    let t = http_target(&format!("http://{addr}/a"), "redirects = 0");
    let (obs, sample) = probe(&prober(), &t).await;
    assert_eq!(obs.error, None);
    assert_eq!(failing(&sample), ["status (302) is 2xx"]);
}

#[tokio::test]
async fn huge_body_is_read_up_to_the_cap_only() {
    let addr = http_server(|mut s, _| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("{:x}\r\n{}\r\n", 16384, "x".repeat(16384));
        // An endless body, bounded by the probe closing the connection (or 4000 chunks).
        for _ in 0..4000 {
            if s.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
    })
    .await;
    let t = http_target(
        &format!("http://{addr}/"),
        "max_body_bytes = 65536\nchecks = ['body_bytes <= 65536']",
    );
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
    assert_eq!(obs.facts.body_bytes, Some(65536));
    assert!(obs.facts.body_truncated);
    assert!(obs.duration < Duration::from_millis(450));
}

#[tokio::test]
async fn post_sends_method_headers_and_body() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1);
    let addr = http_server(move |mut s, req| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(req).await;
            respond(&mut s, "201 Created", "", "").await;
        }
    })
    .await;
    let t = http_target(
        &format!("http://{addr}/report?x=1"),
        "method = \"post\"\nbody = \"ping\"\nheaders = { X-Commwatch = \"drill\" }\nexpect_status = [201]",
    );
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
    let req = rx.recv().await.unwrap_or_default();
    assert!(req.starts_with("POST /report?x=1 HTTP/1.1\r\n"), "{req}");
    assert!(req.to_ascii_lowercase().contains("x-commwatch: drill\r\n"));
    assert!(req.ends_with("\r\n\r\nping"), "{req}");
}

#[tokio::test]
async fn refused_connection_is_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let t = http_target(&format!("http://{addr}/"), "");
    let (obs, sample) = probe(&prober(), &t).await;
    assert!(!sample.ok);
    assert_eq!(obs.error, Some(ErrorCode::ConnRefused));
}

#[tokio::test]
async fn https_is_timed_and_verified_against_the_ca_file() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    ca.write(dir.path());
    let addr = tls_server(ca.leaf(&["localhost"], -1, 60)).await;
    let url = format!("https://localhost:{}/", addr.port());
    let t = target_in(
        dir.path(),
        &format!(
            "id = \"t\"\nkind = \"http\"\nurl = \"{url}\"\nca_file = \"ca.pem\"\ninterval = \"5s\"\ntimeout = \"2s\"\nchecks = ['cert_days >= 30']"
        ),
    );
    let p = prober();
    let (obs, sample) = probe(&p, &t).await;
    assert!(sample.ok, "{:?} {:?}", obs.error_detail, sample.checks);
    assert!(obs.phases.tls.is_some());
    let tls = obs.facts.tls.as_ref().expect("tls facts");
    assert!(tls.verified);
    assert!((58..=60).contains(&tls.days_left), "{}", tls.days_left);

    // Without the CA the chain is untrusted: failing with verification on ...
    let t = http_target(&url, "");
    let (obs, _) = probe(&p, &t).await;
    assert_eq!(
        obs.error,
        Some(ErrorCode::TlsUntrusted),
        "{:?}",
        obs.error_detail
    );
    assert!(
        obs.facts.tls.is_some(),
        "dates are read even when untrusted"
    );
    // ... and only reported with verification off.
    let t = http_target(&url, "tls_verify = false");
    let (obs, sample) = probe(&p, &t).await;
    assert!(sample.ok, "{:?}", obs.error_detail);
    assert_eq!(obs.facts.tls.map(|t| t.verified), Some(false));
}
