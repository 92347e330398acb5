//! Unit tests of the check language: parsing, resolved forms and verdicts.

use super::*;
use crate::probe::{Facts, IcmpFacts, Phases};

/// Parses for a kind named as the config names it.
fn parse(text: &str, kind: &str) -> Result<Check, CheckError> {
    Check::parse(text, Kind::parse(kind).expect("a known kind"))
}

fn obs(status: Option<u16>) -> Observation {
    Observation {
        kind: "http",
        started_at: crate::time::now_ms(),
        duration: Duration::from_millis(12),
        error: None,
        error_detail: None,
        phases: Phases::default(),
        facts: Facts {
            http_status: status,
            ..Facts::default()
        },
    }
}

fn icmp_obs(loss: f64, median_ms: u64) -> Observation {
    let mut o = obs(None);
    o.kind = "icmp";
    o.facts.icmp = Some(IcmpFacts {
        address: [127, 0, 0, 1].into(),
        socket: "raw",
        sent: 5,
        received: 3,
        loss,
        rtt_min: Some(Duration::from_millis(1)),
        rtt_avg: Some(Duration::from_millis(median_ms)),
        rtt_median: Some(Duration::from_millis(median_ms)),
        rtt_max: Some(Duration::from_millis(median_ms * 2)),
        jitter: Some(Duration::from_millis(3)),
    });
    o
}

fn resolved(text: &str, kind: &str, o: &Observation) -> (bool, String) {
    let r = parse(text, kind).unwrap().evaluate(o).unwrap();
    (r.ok, r.resolved)
}

#[test]
fn status_checks_resolve_with_the_observed_value() {
    let c = Check::Status(StatusExpect::OneOf(vec![200, 204]));
    let r = c.evaluate(&obs(Some(503))).unwrap();
    assert!(!r.ok);
    assert_eq!(r.resolved, "status (503) in [200, 204]");
    let s = judge(&[c], &obs(Some(503)));
    assert!(!s.ok);
    assert_eq!(s.error, Some(ErrorCode::CheckFailed));
    assert_eq!(s.detail.as_deref(), Some("status (503) in [200, 204]"));
    assert_eq!(
        resolved("status in [200, 204]", "http", &obs(Some(503))),
        (false, "status (503) in [200, 204]".into())
    );
}

#[test]
fn default_status_check_accepts_2xx_only() {
    let c = Check::Status(StatusExpect::Success);
    assert!(c.evaluate(&obs(Some(204))).unwrap().ok);
    assert!(!c.evaluate(&obs(Some(301))).unwrap().ok);
    assert_eq!(
        c.evaluate(&obs(Some(301))).unwrap().resolved,
        "status (301) is 2xx"
    );
    assert!(c.evaluate(&obs(None)).is_none());
}

#[test]
fn probe_errors_win_over_checks() {
    let mut o = obs(None);
    o.error = Some(ErrorCode::Timeout);
    o.error_detail = Some("no answer within 1s".into());
    let s = judge(&[Check::Status(StatusExpect::Success)], &o);
    assert!(!s.ok);
    assert_eq!(s.error, Some(ErrorCode::Timeout));
    assert!(s.checks.is_empty());
}

#[test]
fn loss_and_latency_resolve_in_the_documented_form() {
    let o = icmp_obs(0.4, 812);
    assert_eq!(
        resolved("loss <= 0.20", "icmp", &o),
        (false, "loss (0.40) <= 0.20".into())
    );
    assert_eq!(
        resolved("loss <= 50%", "icmp", &o),
        (true, "loss (0.40) <= 0.50".into())
    );
    assert_eq!(
        resolved("rtt_p50 < 300ms", "icmp", &o),
        (false, "rtt_p50 (812ms) < 300ms".into())
    );
    assert_eq!(
        resolved("rtt_max < 2s", "icmp", &o),
        (true, "rtt_max (1.624s) < 2s".into())
    );
}

#[test]
fn degraded_checks_mark_a_passing_sample() {
    let o = icmp_obs(0.4, 20);
    let hard = [parse("loss < 1", "icmp").unwrap()];
    let soft = [parse("loss <= 10%", "icmp").unwrap()];
    let s = judge_with(&hard, &soft, &o);
    assert!(s.ok);
    assert!(s.degraded);
    assert_eq!(s.detail.as_deref(), Some("loss (0.40) <= 0.10"));
    assert!(s.checks.iter().any(|c| c.degraded && !c.ok));
    let s = judge_with(&hard, &[parse("loss <= 50%", "icmp").unwrap()], &o);
    assert!(s.ok && !s.degraded);
    // A failing sample is failing, not degraded.
    let s = judge_with(&[parse("loss < 0.1", "icmp").unwrap()], &soft, &o);
    assert!(!s.ok && !s.degraded);
}

#[test]
fn body_header_and_json_checks() {
    let mut o = obs(Some(200));
    o.facts.body = Some(r#"{"status":"down","queue":12,"items":[{"name":"Kỳ Anh"}]}"#.into());
    o.facts.headers = vec![("content-type".into(), "application/json".into())];
    assert_eq!(
        resolved(r#"json /status == "ok""#, "http", &o),
        (false, r#"json /status ("down") == "ok""#.into())
    );
    assert!(resolved("json /queue < 100", "http", &o).0);
    assert!(resolved(r#"json /items/0/name contains "Kỳ""#, "http", &o).0);
    assert_eq!(
        resolved(r#"json /missing == 1"#, "http", &o),
        (false, "json /missing (missing) == 1".into())
    );
    assert!(resolved(r#"body contains "queue""#, "http", &o).0);
    assert!(!resolved(r#"body !contains "down""#, "http", &o).0);
    assert!(resolved(r#"body matches "\"queue\":[0-9]+""#, "http", &o).0);
    assert!(resolved(r#"header content-type contains "json""#, "http", &o).0);
    assert_eq!(
        resolved(r#"header x-cache == "HIT""#, "http", &o),
        (false, r#"header x-cache (missing) == "HIT""#.into())
    );
    o.facts.body = Some("<html>".into());
    assert_eq!(
        resolved(r#"json /status == "ok""#, "http", &o).1,
        r#"json /status (body is not JSON) == "ok""#
    );
}

#[test]
fn invalid_checks_are_refused_with_a_reason() {
    let cases = [
        ("loss <= 0.2", "http", "does not apply to kind `http`"),
        ("rtt_p50 < 300", "icmp", "duration with a unit"),
        ("loss <= 2", "icmp", "outside 0..1"),
        ("status ~ 200", "http", "expected an operator"),
        ("frobs > 1", "http", "unknown check subject `frobs`"),
        ("body contains ok", "http", "quoted string"),
        ("body matches \"(\"", "http", "bad regex"),
        ("json status == 1", "http", "not a JSON pointer"),
        ("rcode == NOPE", "dns", "is not one of"),
        ("status in 200", "http", "takes a list"),
        ("cert_days >=", "tls", "needs a value"),
        ("push_status < ok", "heartbeat", "does not take `<`"),
    ];
    for (text, kind, want) in cases {
        let e = parse(text, kind).unwrap_err().0;
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn durations_print_for_people() {
    assert_eq!(fmt_secs(0.000153), "0.153ms");
    assert_eq!(fmt_secs(0.0125), "12.5ms");
    assert_eq!(fmt_secs(0.812), "812ms");
    assert_eq!(fmt_secs(1.5), "1.5s");
    assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
    assert_eq!(parse_duration("300"), None);
}

#[test]
fn integrity_and_signals_are_portal_words_and_text() {
    for ok in [
        "integrity == ok",
        "integrity in [ok, learning]",
        "integrity != COMPROMISED",
        "signals !contains \"cloaking\"",
        "signals matches \"spam|defacement\"",
    ] {
        assert!(parse(ok, "portal").is_ok(), "{ok}");
    }
    let e = parse("integrity == ok", "http").unwrap_err().0;
    assert!(
        e.contains("does not apply to kind `http` (it applies to portal)"),
        "{e}"
    );
    let e = parse("integrity == fine", "portal").unwrap_err().0;
    assert!(
        e.contains("`fine` is not one of learning, ok, compromised"),
        "{e}"
    );
    let e = parse("signals < 3", "portal").unwrap_err().0;
    assert!(e.contains("does not take `<`"), "{e}");
}

#[test]
fn oid_and_power_checks_parse_with_clear_errors() {
    assert!(parse("oid(\"1.3.6.1.2.1.2.2.1.8.3\") == 1", "snmp").is_ok());
    assert!(parse("oid(\".1.3.6.1.2.1.1.5.0\") == \"core-1\"", "snmp").is_ok());
    assert!(parse("oid(\"1.3.6.1.2.1.1.5.0\") matches \"^core\"", "snmp").is_ok());
    assert!(parse("power in [mains, battery]", "snmp").is_ok());
    let e = parse("oid(1.3.6.1) == 1", "snmp").unwrap_err().0;
    assert!(e.contains("is not oid(\"DOTTED.OID\")"), "{e}");
    let e = parse("oid(\"ifOperStatus.3\") == 1", "snmp").unwrap_err().0;
    assert!(e.contains("dotted numeric OID"), "{e}");
    let e = parse("oid(\"1.3.6.1\") == up", "snmp").unwrap_err().0;
    assert!(e.contains("compares with a number"), "{e}");
    let e = parse("power == grid", "snmp").unwrap_err().0;
    assert!(
        e.contains("`grid` is not one of mains, battery, off, unknown"),
        "{e}"
    );
    let e = parse("oid(\"1.3.6.1\") == 1", "http").unwrap_err().0;
    assert!(e.contains("applies to snmp"), "{e}");
}
