//! TLS probe against loopback servers presenting certificates generated here: valid, soon
//! expiring, expired, and issued for another host. Dates are read in every case.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use commwatch::probe::ErrorCode;
use support::{TestCa, failing, probe, prober, target_in, tls_server};

fn tls_target(dir: &std::path::Path, port: u16, extra: &str) -> commwatch::config::Target {
    target_in(
        dir,
        &format!(
            "id = \"portal-tls\"\nkind = \"tls\"\naddress = \"127.0.0.1:{port}\"\nserver_name = \"portal.test\"\nca_file = \"ca.pem\"\ninterval = \"5s\"\ntimeout = \"2s\"\n{extra}"
        ),
    )
}

#[tokio::test]
async fn valid_certificate_reports_chain_and_days() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    ca.write(dir.path());
    let addr = tls_server(ca.leaf(&["portal.test"], -10, 90)).await;
    let (obs, sample) = probe(&prober(), &tls_target(dir.path(), addr.port(), "")).await;
    assert!(sample.ok, "{:?} {:?}", obs.error_detail, sample.checks);
    let tls = obs.facts.tls.expect("tls facts");
    assert!(tls.verified);
    assert!((88..=90).contains(&tls.days_left), "{}", tls.days_left);
    assert_eq!(tls.server_name, "portal.test");
    assert!(tls.chain[0].subject.contains("portal.test"));
    assert!(tls.chain[0].issuer.contains("commwatch test CA"));
    assert!(obs.phases.connect.is_some() && obs.phases.tls.is_some());
    // The implied check from min_days (default 14) is kept in resolved form.
    assert!(sample.checks[0].resolved.starts_with("cert_days ("));
    assert!(sample.checks[0].resolved.ends_with(") >= 14"));
}

#[tokio::test]
async fn soon_expiring_certificate_fails_min_days() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    ca.write(dir.path());
    let addr = tls_server(ca.leaf(&["portal.test"], -80, 5)).await;
    let t = tls_target(dir.path(), addr.port(), "min_days = 21");
    let (obs, sample) = probe(&prober(), &t).await;
    assert_eq!(obs.error, None);
    assert!(!sample.ok);
    let days = obs.facts.tls.map(|t| t.days_left).unwrap_or_default();
    assert!((3..=5).contains(&days), "{days}");
    assert_eq!(failing(&sample), [format!("cert_days ({days}) >= 21")]);
}

#[tokio::test]
async fn expired_certificate_is_reported_with_its_dates() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    ca.write(dir.path());
    let addr = tls_server(ca.leaf(&["portal.test"], -100, -10)).await;
    let p = prober();
    let (obs, sample) = probe(&p, &tls_target(dir.path(), addr.port(), "")).await;
    assert!(!sample.ok);
    assert_eq!(
        obs.error,
        Some(ErrorCode::TlsExpired),
        "{:?}",
        obs.error_detail
    );
    let tls = obs
        .facts
        .tls
        .clone()
        .expect("dates read despite the failure");
    assert!(!tls.verified);
    assert!((-11..=-9).contains(&tls.days_left), "{}", tls.days_left);
    assert_eq!(
        failing(&sample),
        [format!("cert_days ({}) >= 14", tls.days_left)]
    );
    // With verification off, expiry is still caught by the cert_days check.
    let t = tls_target(dir.path(), addr.port(), "tls_verify = false");
    let (obs, sample) = probe(&p, &t).await;
    assert_eq!(obs.error, None);
    assert_eq!(sample.error, Some(ErrorCode::CheckFailed));
}

#[tokio::test]
async fn certificate_for_another_host_is_a_name_mismatch() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    ca.write(dir.path());
    let addr = tls_server(ca.leaf(&["other.test"], -1, 200)).await;
    let (obs, sample) = probe(&prober(), &tls_target(dir.path(), addr.port(), "")).await;
    assert!(!sample.ok);
    assert_eq!(
        obs.error,
        Some(ErrorCode::TlsNameMismatch),
        "{:?}",
        obs.error_detail
    );
    let tls = obs.facts.tls.expect("facts");
    assert!(tls.chain[0].subject.contains("other.test"));
    assert!(tls.days_left >= 198);
}

#[tokio::test]
async fn unknown_issuer_is_untrusted() {
    let ca = TestCa::new();
    let other = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    other.write(dir.path());
    let addr = tls_server(ca.leaf(&["portal.test"], -1, 200)).await;
    let (obs, _) = probe(&prober(), &tls_target(dir.path(), addr.port(), "")).await;
    assert_eq!(
        obs.error,
        Some(ErrorCode::TlsUntrusted),
        "{:?}",
        obs.error_detail
    );
}

#[tokio::test]
async fn plain_tcp_service_is_a_tls_error() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s.write_all(b"220 not tls\r\n").await;
        }
    });
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    ca.write(dir.path());
    let (obs, _) = probe(&prober(), &tls_target(dir.path(), addr.port(), "")).await;
    assert_eq!(
        obs.error,
        Some(ErrorCode::TlsError),
        "{:?}",
        obs.error_detail
    );
}
