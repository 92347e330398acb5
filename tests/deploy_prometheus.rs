//! commwatch in the Prometheus world, with the real tools from Debian's packages: promtool on
//! the real `/metrics` and on deploy/prometheus/, and a real Prometheus on loopback scraping a
//! real commwatch, evaluating our rules and answering every dashboard query.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Both bring in tests/common/needs.rs (deploy_common through tests/support): two copies of a
// small helper module, harmless, for `common::start_app` next to the deploy helpers.
#[allow(clippy::duplicate_mod)]
mod common;
#[allow(clippy::duplicate_mod)]
mod deploy_common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use deploy_common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_check_metrics_is_clean_on_the_real_exposition() {
    let promtool = tool("promtool", "prometheus");
    let cw = start_commwatch().await;
    let exposition = fetch_metrics(cw.addr).await;
    cw.stop().await;

    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(exposition.as_bytes())
            .expect("write exposition");
    }
    let out = child.wait_with_output().expect("promtool output");
    assert_success("promtool check metrics", &out);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.trim().is_empty(),
        "promtool check metrics reported problems:\n{report}\n--- exposition ---\n{exposition}"
    );
}

/// Runs `promtool SUBCOMMAND... FILES...` and checks it reported one SUCCESS per file.
fn promtool_per_file(subcommand: &[&str], files: &[std::path::PathBuf]) {
    let promtool = tool("promtool", "prometheus");
    let what = format!("promtool {}", subcommand.join(" "));
    let out = run(Command::new(&promtool).args(subcommand).args(files));
    assert_success(&what, &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("SUCCESS").count(),
        files.len(),
        "{what}: every file should pass:\n{stdout}"
    );
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    promtool_per_file(&["check", "rules"], &rule_files());
    let tests = files_in("deploy/prometheus/tests", ".yml");
    assert!(
        tests.len() >= 2,
        "expected rule unit tests in deploy/prometheus/tests"
    );
    promtool_per_file(&["test", "rules"], &tests);
}

#[test]
fn promtool_accepts_both_scrape_configurations() {
    let promtool = tool("promtool", "prometheus");
    // The example for several instances, next to the rule files it names.
    let out = run(Command::new(&promtool)
        .args(["check", "config"])
        .arg(repo().join("deploy/prometheus/prometheus.yml")));
    assert_success(
        "promtool check config deploy/prometheus/prometheus.yml",
        &out,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 rule files found"));

    // The compose stack's, laid out as compose.yaml mounts it: rules under rules/.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir rules");
    std::fs::copy(
        repo().join("deploy/container/prometheus.yml"),
        dir.path().join("prometheus.yml"),
    )
    .expect("copy container prometheus.yml");
    for r in rule_files() {
        let name = r.file_name().expect("file name");
        std::fs::copy(&r, dir.path().join("rules").join(name)).expect("copy rules");
    }
    let out = run(Command::new(&promtool)
        .args(["check", "config"])
        .arg(dir.path().join("prometheus.yml")));
    assert_success(
        "promtool check config deploy/container/prometheus.yml",
        &out,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 rule files found"));
}

/// Every host named in an example configuration: `targets:` entries and `url:` values.
fn hosts_in(text: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    for line in text.lines() {
        let t = line.trim_start().trim_start_matches("- ");
        if t.starts_with('#') {
            continue;
        }
        if let Some(list) = t.strip_prefix("targets:") {
            for item in list.trim().trim_matches(['[', ']']).split(',') {
                let item = item.trim().trim_matches(['"', '\'']);
                if !item.is_empty() {
                    hosts.push(item.rsplit_once(':').map_or(item, |(h, _)| h).to_string());
                }
            }
        } else if let Some(u) = t.strip_prefix("url:") {
            let u = url::Url::parse(u.trim().trim_matches(['"', '\''])).expect("a URL");
            hosts.push(u.host_str().unwrap_or_default().to_string());
        }
    }
    hosts
}

#[test]
fn promtool_accepts_the_federation_and_remote_write_examples() {
    let promtool = tool("promtool", "prometheus");
    for (file, must_have) in [
        (
            "deploy/prometheus/federation.yml",
            &[
                "metrics_path: /federate",
                "honor_labels: true",
                "\"match[]\":",
                "target:commwatch_",
                "commwatch_.+",
            ][..],
        ),
        (
            "deploy/prometheus/remote-write.yml",
            &[
                "remote_write:",
                "queue_config:",
                "write_relabel_configs:",
                "action: keep",
                "commwatch_.+",
            ][..],
        ),
    ] {
        let out = run(Command::new(&promtool)
            .args(["check", "config"])
            .arg(repo().join(file)));
        assert_success(&format!("promtool check config {file}"), &out);
        let text = std::fs::read_to_string(repo().join(file)).expect("read example");
        for m in must_have {
            assert!(text.contains(m), "{file} should contain `{m}`");
        }
        // Examples never name a real host: copying one unchanged must fail to resolve.
        let hosts = hosts_in(&text);
        assert!(!hosts.is_empty(), "{file} names no host");
        for h in hosts {
            assert!(
                h.ends_with(".example.invalid"),
                "{file} names `{h}`: example hosts must be *.example.invalid"
            );
        }
    }
}

/// The `commwatch-probe` job of deploy/prometheus/prometheus.yml as written, pointed at the
/// test's commwatch: its address, the test's two target ids, and a 1 s interval. Everything else
/// (path, relabeling, labels) is the example's own text, so the scrape tests what operators copy.
fn example_probe_job(commwatch: std::net::SocketAddr) -> String {
    let text = std::fs::read_to_string(repo().join("deploy/prometheus/prometheus.yml"))
        .expect("read prometheus.yml");
    let start = text
        .find("  - job_name: commwatch-probe\n")
        .expect("prometheus.yml has a commwatch-probe job");
    let rest = &text[start..];
    let end = rest[1..]
        .find("\n  - job_name:")
        .map_or(rest.len(), |i| i + 1);
    let job = &rest[..end];
    let targets = format!(
        "    static_configs:\n      - targets: [{OK_TARGET}]\n        labels:\n          module: http\n      \
         - targets: [{FAILING_TARGET}]\n        labels:\n          module: tcp\n"
    );
    let (head, tail) = job
        .split_once("    static_configs:\n")
        .expect("the probe job lists static_configs");
    let relabel = tail
        .find("    relabel_configs:\n")
        .expect("static_configs come before relabel_configs");
    let job = format!("{head}{targets}{}", &tail[relabel..]);
    let mut out = String::new();
    for line in job.lines() {
        let t = line.trim_start();
        let indent = &line[..line.len() - t.len()];
        let replaced = if t.starts_with("scrape_interval:") {
            format!("{indent}scrape_interval: 1s")
        } else if t.starts_with("scrape_timeout:") {
            format!("{indent}scrape_timeout: 1s")
        } else if t.starts_with("replacement: commwatch-ops.example.invalid:9800") {
            format!("{indent}replacement: {commwatch}")
        } else {
            line.to_string()
        };
        out.push_str(&replaced);
        out.push('\n');
    }
    assert!(
        out.contains(&format!("replacement: {commwatch}")),
        "the probe job must send its scrapes to commwatch through an __address__ replacement:\n{job}"
    );
    out
}

/// Replaces the dashboards' Grafana variables with values that select the test's series.
fn substitute(expr: &str) -> String {
    const VARS: &[(&str, &str)] = &[
        ("__rate_interval", "15s"),
        ("__interval", "15s"),
        ("__range", "1h"),
        ("instance", INSTANCE),
        ("province", ".*"),
        ("operator", ".*"),
        ("target", FAILING_TARGET),
        ("receiver", RECEIVER),
        ("job", "commwatch"),
    ];
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            let end = inner
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in `{expr}`"));
            (&inner[..end], end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = VARS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| {
                panic!("dashboard variable `${name}` in `{expr}` has no test value")
            });
        out.push_str(value);
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

fn label<'a>(sample: &'a Value, name: &str) -> &'a str {
    sample["metric"][name].as_str().unwrap_or("")
}

fn value(sample: &Value) -> &str {
    sample["value"][1].as_str().unwrap_or("")
}

/// Number of `- record:` and `- alert:` entries in the rule files.
fn rules_in_files() -> usize {
    rule_files()
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .expect("read rules")
                .lines()
                .filter(|l| {
                    let l = l.trim_start();
                    l.starts_with("- record:") || l.starts_with("- alert:")
                })
                .count()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_scrapes_commwatch_and_answers_rules_and_dashboards() {
    let cw = start_commwatch().await;
    let exposition = fetch_metrics(cw.addr).await;
    let exported = sample_names(&exposition);
    let prom =
        Prometheus::start_with_jobs(cw.addr, &rule_files(), &example_probe_job(cw.addr)).await;
    let wait = Duration::from_secs(30);

    // The blackbox-compatible job, relabeled as in the example: one probe per scrape, the
    // target id as `instance`, blackbox_exporter's names.
    for (target, success) in [(OK_TARGET, "1"), (FAILING_TARGET, "0")] {
        let r = prom
            .wait_for(
                &format!("probe_success{{job=\"commwatch-probe\", instance=\"{target}\"}}"),
                wait,
                |r| r.len() == 1 && value(&r[0]) == success,
            )
            .await;
        assert_eq!(label(&r[0], "vantage"), "ops-room", "{r:?}");
        prom.wait_for(
            &format!("up{{job=\"commwatch-probe\", instance=\"{target}\"}} == 1"),
            wait,
            |r| r.len() == 1,
        )
        .await;
    }
    prom.wait_for(
        &format!(
            "probe_http_status_code{{job=\"commwatch-probe\", instance=\"{OK_TARGET}\"}} == 200"
        ),
        wait,
        |r| r.len() == 1,
    )
    .await;
    prom.wait_for(
        "probe_duration_seconds{job=\"commwatch-probe\"} > 0",
        wait,
        |r| r.len() == 2,
    )
    .await;

    // Our series, through PromQL, with the labels operators group by.
    let ok = prom
        .wait_for(
            &format!("commwatch_probe_success{{target=\"{OK_TARGET}\"}} == 1"),
            wait,
            |r| r.len() == 1,
        )
        .await;
    for (name, want) in [
        ("job", "commwatch"),
        ("instance", INSTANCE),
        ("kind", "http"),
        ("operator", "vnpt"),
        ("province", "Hà Tĩnh"),
        ("commune", "Thành Sen"),
    ] {
        assert_eq!(label(&ok[0], name), want, "label {name} of {:?}", ok[0]);
    }
    prom.wait_for(
        &format!("commwatch_probe_success{{target=\"{FAILING_TARGET}\"}} == 0"),
        wait,
        |r| r.len() == 1,
    )
    .await;

    // Recording rules evaluate on the real series.
    prom.wait_for(
        &format!("target:commwatch_probe_availability:ratio_rate5m{{target=\"{OK_TARGET}\"}}"),
        wait,
        |r| r.len() == 1 && value(&r[0]) == "1",
    )
    .await;
    prom.wait_for(
        &format!("target:commwatch_probe_availability:ratio_rate5m{{target=\"{FAILING_TARGET}\"}}"),
        wait,
        |r| r.len() == 1 && value(&r[0]) == "0",
    )
    .await;
    prom.wait_for(
        "province_operator:commwatch_probe_availability:ratio_rate5m",
        wait,
        |r| r.len() == 2,
    )
    .await;

    // The target alert fires for the closed port, and only for it.
    let firing = prom
        .wait_for(
            "ALERTS{alertname=\"CommwatchTargetDown\", alertstate=\"firing\"}",
            wait,
            |r| !r.is_empty(),
        )
        .await;
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(label(&firing[0], "target"), FAILING_TARGET);
    assert_eq!(label(&firing[0], "operator"), "viettel");
    assert_eq!(label(&firing[0], "commune"), "Kỳ Anh");
    let daemon_alerts = prom
        .query("ALERTS{alertname=~\"CommwatchDown|CommwatchStorageDegraded|CommwatchAbsent\"}")
        .await;
    assert!(daemon_alerts.is_empty(), "{daemon_alerts:?}");

    // Every rule in the files is loaded and evaluates without error.
    let expected = rules_in_files();
    let deadline = std::time::Instant::now() + wait;
    let rules: Vec<Value> = loop {
        let data = prom.api("/api/v1/rules", &[]).await;
        let rules: Vec<Value> = data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        if rules.len() == expected && rules.iter().all(|r| r["health"] == "ok") {
            break rules;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected {expected} healthy rules, got: {}",
            serde_json::to_string_pretty(&rules).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // Every metric a rule reads is in the real /metrics, a recording rule or a scrape series.
    let records: BTreeSet<String> = rules
        .iter()
        .filter(|r| r["type"] == "recording")
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .collect();
    let mut unknown = Vec::new();
    for r in &rules {
        let query = r["query"].as_str().expect("rule query");
        let names = metric_names(query);
        assert!(!names.is_empty(), "no metric found in rule query `{query}`");
        for n in names {
            if !exported.contains(&n)
                && !records.contains(&n)
                && !PROMETHEUS_SERIES.contains(&n.as_str())
            {
                unknown.push(format!("{} reads `{n}`", r["name"]));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "rules read metrics commwatch does not export:\n{}\nexported: {exported:?}",
        unknown.join("\n")
    );

    // The scrape series dashboards may use really exist for the commwatch job.
    for s in PROMETHEUS_SERIES {
        prom.wait_for(&format!("{s}{{job=\"commwatch\"}}"), wait, |r| r.len() == 1)
            .await;
    }

    // Every dashboard query is valid PromQL and returns data from the real series.
    let queries = dashboard_queries();
    assert!(
        queries.len() >= 30,
        "only {} dashboard queries",
        queries.len()
    );
    for q in &queries {
        let promql = substitute(&q.expr);
        if q.annotation {
            // Empty until a drill runs; Prometheus must still accept the query.
            prom.query(&promql).await;
            continue;
        }
        let result = prom
            .wait_for(&promql, wait, |r| {
                !r.is_empty()
                    && q.label
                        .as_ref()
                        .is_none_or(|l| r.iter().any(|s| !label(s, l).is_empty()))
            })
            .await;
        assert!(
            !result.is_empty(),
            "{} {}: `{promql}` is empty",
            q.file,
            q.place
        );
    }

    drop(prom);
    cw.stop().await;
}

/// The target both vantage points see down, and the one only the first sees down.
const ALL_DOWN: &str = "loopback-all-down";
const SPLIT: &str = "loopback-split";
/// The second vantage point (the first is the helper's `INSTANCE`), and a third one cut off.
const SECOND: &str = "backup-site";
const ISOLATED: &str = "isolated-site";
/// The isolated vantage point's only anchor.
const ANCHOR: &str = "loopback-anchor";

/// The two targets of one vantage point, same ids and labels on every one: `split_url` is the
/// HTTP target's address from this vantage point; `extra` is appended.
fn vantage_config(
    id: &str,
    refused: std::net::SocketAddr,
    split_url: &str,
    failure_threshold: u32,
    extra: &str,
) -> String {
    format!(
        r#"
[instance]
id = "{id}"

[defaults]
interval = "1s"
timeout = "500ms"
failure_threshold = {failure_threshold}
success_threshold = 1

[[targets]]
id = "{ALL_DOWN}"
name = "Closed everywhere"
kind = "tcp"
address = "{refused}"
operator = "viettel"
service = "mobile"
province = "Hà Tĩnh"
commune = "Kỳ Anh"

[[targets]]
id = "{SPLIT}"
name = "Up from one vantage point only"
kind = "http"
url = "{split_url}"
operator = "vnpt"
service = "portal"
province = "Hà Tĩnh"
commune = "Thành Sen"
{extra}"#
    )
}

/// Three vantage points scraped by one Prometheus with the shipped rules. Two are healthy: the
/// combined DOWN holds only the target both see down; the one they disagree about is disputed
/// instead. The third is isolated (its only anchor fails) and reports its targets unknown: it is
/// left out, so it holds back neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_vantage_points_combine_into_down_and_disputed() {
    commwatch::install_crypto_provider();
    let refused = common::refused_addr().await;
    let ok = common::http_server(200).await;
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    // The first vantage point's path to the split target is cut (refused); the second's works.
    let a = common::start_app(
        dir_a.path(),
        &vantage_config(INSTANCE, refused, &format!("http://{refused}/"), 2, ""),
    )
    .await;
    let b = common::start_app(
        dir_b.path(),
        &vantage_config(SECOND, refused, &format!("http://{ok}/"), 2, ""),
    )
    .await;
    // Cut off: its anchor fails at the first probe, before any target reaches its third failure,
    // so every target there is `unknown` rather than `down`.
    let anchor = format!(
        r#"
[monitor]
anchors = ["{ANCHOR}"]

[[targets]]
id = "{ANCHOR}"
name = "Anchor"
kind = "tcp"
address = "{refused}"
operator = "vnpt"
service = "anchor"
province = "Hà Tĩnh"
commune = "Thành Sen"
"#
    );
    let dir_c = tempfile::tempdir().expect("tempdir");
    let c = common::start_app(
        dir_c.path(),
        &vantage_config(ISOLATED, refused, &format!("http://{refused}/"), 3, &anchor),
    )
    .await;
    // One `commwatch` job with every vantage point: the helper's job names the first, and the
    // text given for extra jobs starts with more static_configs entries of that same job.
    let more: String = [(SECOND, b.local_addr()), (ISOLATED, c.local_addr())]
        .iter()
        .map(|(name, addr)| {
            format!("      - targets: [\"{addr}\"]\n        labels:\n          instance: {name}\n")
        })
        .collect();
    let prom = Prometheus::start_with_jobs(a.local_addr(), &rule_files(), &more).await;
    let wait = Duration::from_secs(60);

    // Every vantage point is scraped and says who it is.
    let info = prom
        .wait_for("commwatch_instance_info{job=\"commwatch\"}", wait, |r| {
            r.len() == 3
        })
        .await;
    let ids: BTreeSet<(String, String)> = info
        .iter()
        .map(|s| {
            (
                label(s, "instance").to_string(),
                label(s, "instance_id").to_string(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([
            (INSTANCE.to_string(), INSTANCE.to_string()),
            (SECOND.to_string(), SECOND.to_string()),
            (ISOLATED.to_string(), ISOLATED.to_string()),
        ]),
        "{info:?}"
    );

    // Settled: each healthy vantage point has a verdict on both targets (until the second has
    // probed the split target, the first alone has a say and the split target looks down)...
    prom.wait_for(
        &format!(
            "sum by (instance) (commwatch_target_state{{job=\"commwatch\", instance!=\"{ISOLATED}\", state=~\"up|down\"}})"
        ),
        wait,
        |r| r.len() == 2 && r.iter().all(|s| value(s) == "2"),
    )
    .await;
    // ...and the isolated one says so, with its three targets unknown.
    prom.wait_for(
        &format!("commwatch_monitor_isolated{{instance=\"{ISOLATED}\"}} == 1"),
        wait,
        |r| r.len() == 1,
    )
    .await;
    prom.wait_for(
        &format!(
            "commwatch_target_state{{instance=\"{ISOLATED}\", state=\"unknown\"}} == 1 \
             and on (target) commwatch_probes_total{{instance=\"{ISOLATED}\", result=\"failure\"}} >= 3"
        ),
        wait,
        |r| r.len() == 3,
    )
    .await;
    let combined = prom
        .wait_for("target:commwatch_target_down:min", wait, |r| {
            let by_target: BTreeSet<(&str, &str)> =
                r.iter().map(|s| (label(s, "target"), value(s))).collect();
            by_target == BTreeSet::from([(ALL_DOWN, "1"), (SPLIT, "0")])
        })
        .await;
    // One series per target: none for the anchor, which only the isolated vantage point probes.
    assert_eq!(combined.len(), 2, "one series per target: {combined:?}");
    for s in &combined {
        assert_eq!(label(s, "instance"), "", "instance is combined away: {s:?}");
        assert_eq!(label(s, "job"), "commwatch", "{s:?}");
    }

    // The rules are evaluated on their own schedule, a step behind the scrapes: the dispute
    // shows once the first vantage point's verdict on the split target reached them.
    let disputed = prom
        .wait_for("target:commwatch_target_disputed", wait, |r| {
            let by_target: BTreeSet<(&str, &str)> =
                r.iter().map(|s| (label(s, "target"), value(s))).collect();
            by_target == BTreeSet::from([(ALL_DOWN, "0"), (SPLIT, "1")])
        })
        .await;
    assert_eq!(disputed.len(), 2, "one series per target: {disputed:?}");

    // Settled, the combined DOWN has exactly the target down from both; the disputed series
    // exactly the other.
    let down = prom.query("target:commwatch_target_down:min == 1").await;
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(label(&down[0], "target"), ALL_DOWN, "{down:?}");
    assert_eq!(label(&down[0], "operator"), "viettel", "{down:?}");
    let disputed = prom.query("target:commwatch_target_disputed == 1").await;
    assert_eq!(disputed.len(), 1, "{disputed:?}");
    assert_eq!(label(&disputed[0], "target"), SPLIT, "{disputed:?}");
    assert_eq!(label(&disputed[0], "operator"), "vnpt", "{disputed:?}");

    // The target alert fires for the all-down target only; the dispute waits (for: 5m), info.
    // (Alerts too are a step behind: wait for the settled set, not merely a first alert.)
    let firing = prom
        .wait_for(
            "ALERTS{alertname=\"CommwatchTargetDown\", alertstate=\"firing\"}",
            wait,
            |r| r.len() == 1 && label(&r[0], "target") == ALL_DOWN,
        )
        .await;
    assert_eq!(firing.len(), 1, "{firing:?}");
    let pending = prom
        .wait_for("ALERTS{alertname=\"CommwatchTargetDisputed\"}", wait, |r| {
            r.len() == 1 && label(&r[0], "target") == SPLIT
        })
        .await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(label(&pending[0], "target"), SPLIT, "{pending:?}");
    assert_eq!(label(&pending[0], "alertstate"), "pending", "{pending:?}");
    assert_eq!(label(&pending[0], "severity"), "info", "{pending:?}");

    drop(prom);
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}
