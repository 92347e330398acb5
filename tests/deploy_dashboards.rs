//! The Grafana dashboards: importable JSON with a Prometheus datasource variable, and every
//! metric they query present in the real `/metrics` of a running commwatch.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod deploy_common;

use std::collections::{BTreeMap, BTreeSet};

use deploy_common::*;

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn metric_names_are_extracted_from_promql() {
    assert_eq!(
        metric_names(
            "sum by (operator) (rate(commwatch_probes_total{result=\"success\", x=~\"a|b\"}[5m]))\n/ on (job) group_left (version) commwatch_build_info"
        ),
        set(&["commwatch_probes_total", "commwatch_build_info"])
    );
    assert_eq!(
        metric_names(
            "histogram_quantile(0.99, sum by (le) (rate(x_bucket{a=\"}{[\"}[$__rate_interval])))"
        ),
        set(&["x_bucket"])
    );
    assert_eq!(
        metric_names("up == 0 and ignoring(instance) absent(foo offset 5m) or bool 1e3"),
        set(&["up", "foo"])
    );
    assert_eq!(
        metric_names("instance:commwatch_targets_down:ratio > 0.9 # a comment naming bar\n"),
        set(&["instance:commwatch_targets_down:ratio"])
    );
    assert_eq!(
        metric_names("sum without (result) (a) / count(b) by (c) * ${var} + $other"),
        set(&["a", "b"])
    );
    assert_eq!(
        variable_promql(
            "label_values(commwatch_target_state{instance=\"$instance\", x=\"a,b\"}, province)"
        ),
        Some("commwatch_target_state{instance=\"$instance\", x=\"a,b\"}".to_string())
    );
    assert_eq!(variable_promql("label_values(instance)"), None);
}

#[test]
fn dashboards_are_importable_with_a_datasource_variable() {
    let mut uids = BTreeMap::new();
    for path in dashboard_files() {
        let d = read_json(&path);
        let name = path.display().to_string();
        let uid = d["uid"].as_str().unwrap_or_default();
        assert!(
            !uid.is_empty() && uid.len() <= 40,
            "{name}: uid must be set (at most 40 characters)"
        );
        if let Some(other) = uids.insert(uid.to_string(), name.clone()) {
            panic!("{name} and {other} share uid {uid}");
        }
        assert!(d["id"].is_null(), "{name}: id must be null for import");
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: title"
        );
        assert!(
            d["schemaVersion"].as_u64().is_some(),
            "{name}: schemaVersion"
        );

        let vars = d["templating"]["list"].as_array().expect("templating.list");
        let ds = vars
            .iter()
            .find(|v| v["name"] == "datasource")
            .unwrap_or_else(|| panic!("{name}: no `datasource` variable"));
        assert_eq!(ds["type"], "datasource", "{name}");
        assert_eq!(ds["query"], "prometheus", "{name}");
        assert!(
            vars.iter().any(|v| v["name"] == "instance"),
            "{name}: no `instance` variable"
        );
        for v in vars.iter().filter(|v| v["type"] == "query") {
            assert_eq!(
                v["datasource"]["uid"], "${datasource}",
                "{name}: variable {}",
                v["name"]
            );
        }

        // Query annotations (drill periods) read the same data source as the panels.
        for a in d["annotations"]["list"]
            .as_array()
            .expect("annotations.list")
        {
            if a["builtIn"] == 1 {
                continue;
            }
            assert_eq!(
                a["datasource"]["uid"], "${datasource}",
                "{name}: annotation {}",
                a["name"]
            );
            assert!(
                a["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                "{name}: annotation {} has no query",
                a["name"]
            );
        }

        let mut ids = BTreeSet::new();
        let mut cells = BTreeSet::new();
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(!title.is_empty(), "{name}: a panel has no title");
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: panel {title} has no id"));
            assert!(ids.insert(id), "{name}: duplicate panel id {id}");
            let g = &p["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_u64().expect("x"),
                g["y"].as_u64().expect("y"),
                g["w"].as_u64().expect("w"),
                g["h"].as_u64().expect("h"),
            );
            assert!(
                w > 0 && h > 0 && x + w <= 24,
                "{name}: panel {title} outside the grid"
            );
            for cx in x..x + w {
                for cy in y..y + h {
                    assert!(
                        cells.insert((cx, cy)),
                        "{name}: panel {title} overlaps another"
                    );
                }
            }
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{name}: panel {title}"
            );
            let targets = p["targets"].as_array().expect("targets");
            assert!(!targets.is_empty(), "{name}: panel {title} has no query");
            for t in targets {
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{name}: panel {title}"
                );
                assert!(
                    t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                    "{name}: panel {title} has an empty query"
                );
            }
        }
    }
    // Links between dashboards point at dashboards that exist.
    for path in dashboard_files() {
        let text = std::fs::read_to_string(&path).expect("read");
        for part in text.split("/d/").skip(1) {
            let uid: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            assert!(
                uids.contains_key(&uid),
                "{}: link to unknown dashboard `{uid}`",
                path.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_names_only_metrics_commwatch_exports() {
    let cw = start_commwatch().await;
    let exposition = fetch_metrics(cw.addr).await;
    cw.stop().await;
    let exported = sample_names(&exposition);
    assert!(exported.contains("commwatch_probe_success"), "{exposition}");

    let queries = dashboard_queries();
    assert!(
        queries.len() >= 30,
        "only {} dashboard queries",
        queries.len()
    );
    let mut unknown = Vec::new();
    let mut used = BTreeSet::new();
    for q in &queries {
        let names = metric_names(&q.expr);
        assert!(
            !names.is_empty(),
            "{} {}: no metric in `{}`",
            q.file,
            q.place,
            q.expr
        );
        for n in names {
            // Dashboards read raw families only, so they work without our recording rules.
            if !exported.contains(&n) && !PROMETHEUS_SERIES.contains(&n.as_str()) {
                unknown.push(format!("{} {}: `{n}`", q.file, q.place));
            }
            used.insert(n);
        }
    }
    assert!(
        unknown.is_empty(),
        "dashboards query metrics that commwatch does not export:\n{}\nexported: {exported:?}",
        unknown.join("\n")
    );
    // The check is only as good as its coverage: the core families must be on a dashboard.
    for family in [
        "commwatch_target_state",
        "commwatch_probes_total",
        "commwatch_probe_success",
        "commwatch_probe_errors_total",
        "commwatch_probe_duration_seconds_bucket",
        "commwatch_schedule_lateness_seconds_bucket",
        "commwatch_probes_in_flight",
        "commwatch_store_queue_depth",
        "commwatch_store_degraded",
        "commwatch_build_info",
        "commwatch_targets",
        "commwatch_alert_queue_depth",
        "commwatch_alert_deliveries_total",
        "commwatch_alert_dead_letters",
        "commwatch_alert_delivery_seconds_bucket",
        "commwatch_alert_events_total",
        "commwatch_alert_messages_total",
        "commwatch_drills_active",
        "commwatch_drill_targets_in_scope",
    ] {
        assert!(used.contains(family), "no dashboard shows {family}");
    }
}

#[test]
fn grafana_provisioning_matches_the_compose_mounts() {
    let provider =
        std::fs::read_to_string(repo().join("dashboards/provisioning/dashboards/commwatch.yml"))
            .expect("dashboard provider");
    let datasource = std::fs::read_to_string(
        repo().join("dashboards/provisioning/datasources/commwatch-prometheus.yml"),
    )
    .expect("datasource provisioning");
    let compose =
        std::fs::read_to_string(repo().join("deploy/container/compose.yaml")).expect("compose");
    let path = provider
        .lines()
        .find_map(|l| l.trim().strip_prefix("path:"))
        .map(str::trim)
        .expect("provider path");
    assert!(
        compose.contains(&format!("../../dashboards:{path}:ro")),
        "compose.yaml must mount dashboards/ at the provider path {path}"
    );
    for dir in ["datasources", "dashboards"] {
        assert!(
            compose.contains(&format!(
                "../../dashboards/provisioning/{dir}:/etc/grafana/provisioning/{dir}:ro"
            )),
            "compose.yaml must mount provisioning/{dir}"
        );
    }
    assert!(datasource.contains("type: prometheus"));
    assert!(
        datasource.contains("url: http://prometheus:9090"),
        "the compose service name"
    );
}
