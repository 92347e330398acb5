//! `commwatch demo` in quick mode, in-process on 127.0.0.1:0: the storm shows on the status
//! page and the API as the script says it should, the drill starts, carries its notes and
//! ends, alerts reach the demo's webhook receiver, and the report (or, in a build without
//! report pages, the drill record) and the truth file land in the data folder.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use commwatch::rig::demo::script::{Condition, Script, at};
use commwatch::rig::demo::world::Layout;
use commwatch::rig::demo::{Demo, Options, Pace, QUICK_DURATION};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn layout() -> Layout {
    let communes = commwatch::rig::inventory::communes(None).unwrap();
    Layout::new(&communes).unwrap()
}

/// What the observer saw: (offset from the drill's start, target -> state).
type Seen = Vec<(Duration, HashMap<String, String>)>;

/// Reads `/api/v1/targets` every 250 ms until `end` (offset from `t0`), and the overview page
/// once in the middle of the drill.
async fn observe(addr: SocketAddr, t0: Instant, end: Duration, banner: &str) -> (Seen, bool) {
    let mut seen = Vec::new();
    let mut banner_shown = false;
    let mut page_checked = false;
    while t0.elapsed() < end {
        let at = t0.elapsed();
        let states = common::states(addr)
            .await
            .into_iter()
            .map(|(id, t)| (id, t["state"].as_str().unwrap().to_string()))
            .collect();
        seen.push((at, states));
        if !page_checked && at > end / 2 {
            page_checked = true;
            banner_shown = common::get_text(addr, "/").await.1.contains(banner);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    (seen, banner_shown)
}

/// When `target`'s expected state last changed at or before `t`: its own changes and its
/// power zone's.
fn last_change(script: &Script, target: &str, t: Duration) -> Option<Duration> {
    let parent = script.parents.get(target).map(String::as_str);
    script
        .steps
        .iter()
        .filter(|s| s.at <= t)
        .filter(|s| {
            s.changes.iter().any(|c| {
                c.targets
                    .iter()
                    .any(|x| x == target || Some(x.as_str()) == parent)
            })
        })
        .map(|s| s.at)
        .max()
}

#[test]
fn the_script_knows_the_truth() {
    let layout = layout();
    let pace = Pace::for_total(QUICK_DURATION).unwrap();
    let script = commwatch::rig::demo::script::storm(&layout, &pace).unwrap();
    assert_eq!(layout.inventory.communes, 69);
    assert_eq!(layout.target_count(), 69 * 6 + 2 + 4 + 5);
    let zone = layout.zones.last().unwrap();
    assert!(
        zone.children.len() >= 24,
        "a power zone takes dozens of targets: {}",
        zone.children.len()
    );
    let child = &zone.children[1];
    let viettel = zone
        .children
        .iter()
        .find(|c| c.ends_with("-viettel"))
        .unwrap();
    let u = |n: f64| pace.units(n);
    assert_eq!(script.expected_state(&zone.id, u(1.0)), "up");
    assert_eq!(script.expected_state(&zone.id, u(at::GRID_LOST)), "down");
    assert_eq!(script.expected_state(child, u(at::GRID_LOST + 1.0)), "up");
    assert_eq!(
        script.expected_state(child, u(at::BATTERIES_OUT)),
        "unreachable"
    );
    assert_eq!(
        script.expected_state(viettel, u(at::VIETTEL_BTS + 1.0)),
        "up"
    );
    assert_eq!(
        script.expected_state(child, u(at::VIETTEL_BTS + 1.0)),
        "unreachable"
    );
    assert_eq!(script.expected_state(child, u(at::GRID_RESTORED)), "up");
    let dark: Vec<&String> = layout
        .inventory
        .entries
        .iter()
        .filter(|e| e.commune == layout.dark_commune)
        .map(|e| &e.id)
        .collect();
    assert_eq!(dark.len(), 6);
    for d in &dark {
        for n in [0.0, 20.0, 47.0] {
            assert_eq!(script.expected_state(d, u(n)), "down", "{d} at {n}");
        }
    }
    let fpt: Vec<_> = layout
        .entries_of("fpt")
        .map(|(_, e)| script.condition(&e.id, u(at::FPT_DEGRADES + 1.0)))
        .collect();
    assert!(fpt.contains(&Condition::Failing) && fpt.contains(&Condition::Degraded));
    assert!(
        layout
            .entries_of("fpt")
            .all(|(_, e)| e.commune == layout.dark_commune
                || zone.children.contains(&e.id)
                || script.condition(&e.id, u(at::FPT_RESTORED)) == Condition::Healthy)
    );
    // Every expected outage in the notes is a target the script really fails.
    for s in &script.steps {
        for t in s.note.iter().flat_map(|n| &n.expect_down) {
            assert_eq!(script.condition(t, s.at), Condition::Failing, "{t}");
        }
    }

    // The truth spans follow the played times.
    let start = chrono::Utc::now();
    let played: Vec<_> = script
        .steps
        .iter()
        .map(|s| start + chrono::Duration::from_std(s.at).unwrap())
        .collect();
    let end = start + chrono::Duration::from_std(script.drill).unwrap();
    let truth = script.truth(start, &played, end);
    let spans_of = |id: &str| truth.iter().filter(|s| s.target == id).collect::<Vec<_>>();
    let v = spans_of(viettel);
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].from - start).to_std().unwrap(), u(at::BATTERIES_OUT));
    assert_eq!((v[0].to - start).to_std().unwrap(), u(at::VIETTEL_BTS));
    let d = spans_of(dark[0]);
    assert_eq!(d.len(), 1);
    assert!(d[0].open && d[0].from == start && d[0].to == end);
    let z = spans_of(&zone.id);
    assert_eq!((z[0].to - start).to_std().unwrap(), u(at::GRID_RESTORED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_demo_plays_the_storm_live_and_ends_the_drill() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        duration: QUICK_DURATION,
        data: dir.path().to_path_buf(),
        csv: None,
    })
    .await
    .unwrap();
    let addr = demo.addr();
    let pace = demo.pace();
    let script = demo.script().clone();
    let layout = demo.layout().clone();

    // Every simulated endpoint is on loopback.
    let config = std::fs::read_to_string(dir.path().join("commwatch-demo.toml")).unwrap();
    for line in config.lines().filter(|l| {
        l.starts_with("url =") || l.starts_with("address =") || l.starts_with("server =")
    }) {
        assert!(
            line.contains("127.42.") || line.contains("127.0.0.1"),
            "{line}"
        );
    }

    let cancel = CancellationToken::new();
    assert!(demo.warm_up(&cancel).await);
    let drill = demo.start_drill().await.unwrap();
    let t0 = Instant::now();
    let (played, (seen, banner)) = tokio::join!(
        demo.play(&drill, &cancel, false),
        observe(addr, t0, script.drill, &drill.name)
    );
    let played = played.unwrap();
    assert!(!played.cancelled);
    assert_eq!(played.applied.len(), script.steps.len());
    assert!(banner, "the overview shows the running drill");

    // Compare every observation with the script once a change has had time to be detected:
    // first probe within an interval, the failure threshold, the heartbeat's grace.
    let settle = pace.units(5.0);
    let mut checked = 0usize;
    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut saw: HashMap<(String, String), usize> = HashMap::new();
    for (at, states) in &seen {
        for (id, state) in states {
            *saw.entry((id.clone(), state.clone())).or_default() += 1;
            let since = last_change(&script, id, *at).unwrap_or(Duration::ZERO);
            // Before the drill the warm-up ran at a slower pace: allow it a full settle too.
            if *at < settle || *at < since + settle {
                continue;
            }
            checked += 1;
            let want = script.expected_state(id, *at);
            if state != want {
                wrong
                    .entry(id.clone())
                    .or_default()
                    .push(format!("{:.1}s: {state} (want {want})", at.as_secs_f64()));
            }
        }
    }
    let wrong_count: usize = wrong.values().map(Vec::len).sum();
    eprintln!("{wrong_count} of {checked} settled observations differ from the script");
    assert!(checked > 10_000, "too few settled observations: {checked}");
    // A loaded machine may delay a probe past its slot now and then; anything systematic
    // (a whole group in the wrong state) is far above this.
    assert!(
        wrong_count * 100 <= checked,
        "{wrong_count} of {checked} settled observations differ from the script: {:#?}",
        wrong.iter().take(15).collect::<Vec<_>>()
    );

    // The storm's key moments were each seen on the API.
    let seen_state = |id: &str, state: &str| saw.contains_key(&(id.to_string(), state.to_string()));
    let zone = layout.zones.last().unwrap();
    assert!(seen_state(&zone.id, "down"), "the power zone went down");
    for child in &zone.children {
        assert!(seen_state(child, "unreachable"), "{child} unreachable");
    }
    for e in layout
        .inventory
        .entries
        .iter()
        .filter(|e| e.commune == layout.dark_commune)
    {
        assert!(!seen_state(&e.id, "up"), "{} is dark all along", e.id);
    }
    let fpt_states: Vec<&str> = ["down", "degraded"]
        .into_iter()
        .filter(|s| layout.entries_of("fpt").any(|(_, e)| seen_state(&e.id, s)))
        .collect();
    assert_eq!(
        fpt_states,
        ["down", "degraded"],
        "FPT fails in part and slows down"
    );
    let (_, fpt_dns) = layout.entries_of("dns-fpt").next().unwrap();
    assert!(seen_state(&fpt_dns.id, "degraded"), "FPT's DNS slows down");
    // At the end everything is back but the dark commune.
    let (_, last) = seen.last().unwrap();
    for (id, state) in last {
        let dark = layout
            .inventory
            .entries
            .iter()
            .any(|e| &e.id == id && e.commune == layout.dark_commune);
        assert_eq!(state, if dark { "down" } else { "up" }, "{id} at the end");
    }

    // The drill ended, with the notes and the injected faults.
    let d = common::get_json(addr, &format!("/api/v1/drills/{}", drill.id)).await;
    assert_eq!(d["end_reason"], "stopped");
    assert!(d["ended_at"].is_string());
    assert_eq!(d["targets"], layout.target_count());
    let notes = d["notes"].as_array().unwrap();
    assert_eq!(
        notes.len(),
        script.steps.iter().filter(|s| s.note.is_some()).count()
    );
    assert!(notes.iter().any(|n| {
        n["expected_targets"].as_array().unwrap().len() == zone.children.len()
            && n["expected_until"].is_string()
    }));
    let (_, html) = common::get_text(addr, "/").await;
    assert!(
        !html.contains(&drill.name),
        "no banner once the drill ended"
    );

    // Alerts reached the demo's webhook receiver, marked with the drill.
    let alerts = demo.collector().received();
    assert!(
        alerts.iter().any(|a| a.body["drill"] == true
            && a.body["drill_id"].as_str() == Some(drill.id.to_string().as_str())),
        "{} alerts, none for the drill",
        alerts.len()
    );

    // Files in the data folder.
    let files = demo.write_report(&played).await.unwrap();
    assert_eq!(files.report.len(), 4);
    for f in &files.report {
        assert!(std::fs::metadata(f).unwrap().len() > 0, "{}", f.display());
    }
    // The report agrees with the storm: the dark commune had no service at all during the
    // drill, the power zone's targets each had an outage, the healthy rest had none.
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            files
                .report
                .iter()
                .find(|f| f.extension().is_some_and(|e| e == "json"))
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let rows: std::collections::HashMap<String, serde_json::Value> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t.clone()))
        .collect();
    let child = &rows[zone.children[0].as_str()];
    assert!(child["drill"]["outages"].as_u64().unwrap() >= 1, "{child}");
    for e in layout
        .inventory
        .entries
        .iter()
        .filter(|e| e.commune == layout.dark_commune)
    {
        let a = rows[e.id.as_str()]["drill"]["availability"]
            .as_f64()
            .unwrap();
        assert!(
            a < 0.01,
            "{} was dark for the whole drill, report says {a}",
            e.id
        );
    }
    assert_eq!(report["notes"].as_array().unwrap().len(), notes.len());
    assert!(
        report["summary"]["expected_detected"].as_u64().unwrap() >= 1,
        "{}",
        report["summary"]
    );
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files.truth).unwrap()).unwrap();
    assert_eq!(truth["drill_id"], drill.id);
    assert!(
        truth["truth"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["target"] == zone.children[0].as_str() && s["condition"] == "failing")
    );
    let kept: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&files.alerts).unwrap()).unwrap();
    assert_eq!(kept.len(), alerts.len());

    demo.shutdown().await;
}

#[test]
fn the_cli_refuses_a_demo_too_short_for_its_script() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_commwatch"))
        .args(["demo", "--duration", "20s", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 52s"), "{err}");
}
