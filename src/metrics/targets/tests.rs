//! Tests of the per-target families: escaping, histograms, registration and chunked scrapes.

use super::*;
use crate::config::Config;

fn targets(n: usize) -> Vec<std::sync::Arc<Target>> {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
                "[[targets]]\nid = \"t{i:05}\"\nkind = \"tcp\"\naddress = \"127.0.0.1:1\"\n\
                 operator = \"vnpt\"\nprovince = \"Hà Tĩnh\"\ncommune = \"Kỳ \\\"Anh\\\" \\\\ {i}\"\n"
            ));
    }
    Config::from_str_at(std::path::Path::new("m.toml"), &text)
        .unwrap()
        .targets
}

fn render(f: &TargetFamilies) -> String {
    let mut out = String::new();
    assert!(f.render(&mut out, &mut |_| true));
    out
}

#[test]
fn labels_are_escaped_and_sorted_with_the_extra_label_in_place() {
    let t = &targets(1)[0];
    let f = TargetFamilies::default();
    f.register(t);
    f.observe_probe(t, false, 0.2, Some("timeout"));
    let text = render(&f);
    let base = r#"commune="Kỳ \"Anh\" \\ 0",kind="tcp",operator="vnpt",province="Hà Tĩnh""#;
    for line in [
        format!("commwatch_probe_success{{{base},target=\"t00000\"}} 0"),
        format!("commwatch_probe_errors_total{{code=\"timeout\",{base},target=\"t00000\"}} 1"),
        format!("commwatch_probes_total{{{base},result=\"failure\",target=\"t00000\"}} 1"),
        format!("commwatch_target_state{{{base},state=\"unknown\",target=\"t00000\"}} 1"),
        format!("commwatch_target_state{{{base},state=\"down\",target=\"t00000\"}} 0"),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
    assert!(text.contains(
            "commwatch_probe_duration_seconds_bucket{commune=\"Kỳ \\\"Anh\\\" \\\\ 0\",kind=\"tcp\",le=\"0.25\",operator="
        ));
}

#[test]
fn the_histogram_is_cumulative_and_counts_every_probe() {
    let t = &targets(1)[0];
    let f = TargetFamilies::default();
    f.register(t);
    for s in [0.004, 0.01, 0.3, 7.0, 12.0] {
        f.observe_probe(t, true, s, None);
    }
    let text = render(&f);
    let bucket = |le: &str| -> f64 {
        let needle = format!("le=\"{le}\"");
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("commwatch_probe_duration_seconds_bucket") && l.contains(&needle)
            })
            .unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        bucket("0.01"),
        2.0,
        "0.004 and 0.01 (the bound is inclusive)"
    );
    assert_eq!(bucket("0.25"), 2.0);
    assert_eq!(bucket("0.5"), 3.0);
    assert_eq!(bucket("10"), 4.0);
    assert_eq!(bucket("+Inf"), 5.0, "12 s is beyond every bucket");
    assert!(
        text.lines()
            .any(|l| l.starts_with("commwatch_probe_duration_seconds_count{") && l.ends_with(" 5"))
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("commwatch_probe_duration_seconds_sum{")
                && l.ends_with(" 19.314"))
    );
    assert!(text.contains("# TYPE commwatch_probe_duration_seconds histogram\n"));
}

#[test]
fn one_state_is_set_and_unregistering_removes_every_series() {
    let ts = targets(2);
    let f = TargetFamilies::default();
    for t in &ts {
        f.register(t);
    }
    f.set_state(&ts[0], State::Down);
    f.set_flapping(&ts[0], true);
    let text = render(&f);
    let ones: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("commwatch_target_state{") && l.contains("t00000") && l.ends_with(" 1")
        })
        .collect();
    assert_eq!(ones.len(), 1, "{ones:?}");
    assert!(ones[0].contains("state=\"down\""));
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("commwatch_target_state{"))
            .count(),
        12,
        "six states for each of two targets"
    );
    f.unregister(&ts[0]);
    let text = render(&f);
    assert!(!text.contains("t00000"));
    assert!(text.contains("t00001"));
    f.unregister(&ts[1]);
    assert_eq!(render(&f), "", "no series, no family headers");
}

#[test]
fn families_without_series_have_no_header() {
    let t = &targets(1)[0];
    let f = TargetFamilies::default();
    f.register(t);
    let text = render(&f);
    assert!(!text.contains("commwatch_http_status_code"));
    assert!(!text.contains("commwatch_icmp_"));
    assert!(!text.contains("commwatch_tls_"));
    assert!(!text.contains("commwatch_probe_errors_total"));
    assert_eq!(text.matches("# TYPE").count(), 5, "{text}");
}

#[test]
fn large_scrapes_come_in_chunks_and_stop_when_the_reader_leaves() {
    let ts = targets(2_000);
    let f = TargetFamilies::default();
    for t in &ts {
        f.register(t);
        f.observe_probe(t, true, 0.05, None);
    }
    let whole = render(&f);
    let mut pieces = Vec::new();
    let mut out = String::new();
    let finished = f.render(&mut out, &mut |buf| {
        pieces.push(std::mem::take(buf));
        true
    });
    assert!(finished);
    pieces.push(out);
    assert!(pieces.len() > 2, "{} pieces", pieces.len());
    assert!(pieces.iter().all(|p| p.len() < CHUNK + 4 * 1024));
    assert_eq!(pieces.concat(), whole);

    let mut calls = 0;
    let mut out = String::new();
    let finished = f.render(&mut out, &mut |buf| {
        calls += 1;
        buf.clear();
        false
    });
    assert!(!finished);
    assert_eq!(calls, 1, "nothing more is rendered once the reader is gone");
}
