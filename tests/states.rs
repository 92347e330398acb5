//! Truthful states over real sockets: dependencies make children UNREACHABLE, a cut-off monitor
//! reports UNKNOWN, incidents open and close with the right times across a restart, and a
//! locked database degrades storage without stopping probes or losing results.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;

fn time(v: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

const FAST: &str = r#"
[defaults]
interval = "1s"
timeout = "500ms"
failure_threshold = 2
success_threshold = 2
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_parent_explains_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let uplink = refused_addr().await;
    let child_hang = silent_server().await;
    let ok = http_server(200).await;
    let toml = format!(
        r#"{FAST}
[[targets]]
id = "ht-core-uplink"
kind = "tcp"
address = "{uplink}"

[[targets]]
id = "ht-ky-anh-viettel"
kind = "http"
url = "http://{child_hang}/"
operator = "viettel"
commune = "Kỳ Anh"
depends_on = ["ht-core-uplink"]

[[targets]]
id = "ht-ky-anh-vnpt"
kind = "http"
url = "http://{ok}/"
operator = "vnpt"
commune = "Kỳ Anh"
depends_on = ["ht-core-uplink"]
"#
    );
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    let st = wait_for(
        Duration::from_secs(15),
        "parent down, child unreachable",
        || async {
            let st = states(addr).await;
            (st["ht-core-uplink"]["state"] == "down"
                && st["ht-ky-anh-viettel"]["state"] == "unreachable")
                .then_some(st)
        },
    )
    .await;
    // A child that answers is unaffected by its parent's state.
    assert_eq!(st["ht-ky-anh-vnpt"]["state"], "up");

    app.state.store.flush().await.unwrap();
    let v = get_json(addr, "/api/v1/incidents?status=open").await;
    let incidents = v["incidents"].as_array().unwrap();
    let child = incidents
        .iter()
        .find(|i| i["target"] == "ht-ky-anh-viettel")
        .expect("child incident");
    assert_eq!(child["explained_by"], "ht-core-uplink");
    assert_eq!(child["worst_state"], "unreachable");
    assert_eq!(child["labels"]["commune"], "Kỳ Anh");
    let parent = incidents
        .iter()
        .find(|i| i["target"] == "ht-core-uplink")
        .unwrap();
    assert_eq!(parent["cause_error"], "conn_refused");
    assert!(time(&parent["started_at"]) <= time(&parent["detected_at"]));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_monitor_reports_unknown_not_down() {
    let dir = tempfile::tempdir().unwrap();
    let a1 = refused_addr().await;
    let a2 = refused_addr().await;
    let far = silent_server().await;
    let receiver = common::collector::Collector::start().await;
    let hook = receiver.url("/hook");
    let toml = format!(
        r#"{FAST}
[alerting]
group_wait = "1s"

[[receivers]]
id = "ops"
kind = "webhook"
url = "{hook}"

[[routes]]
receiver = "ops"

[monitor]
anchors = ["anchor-1", "anchor-2"]

[[targets]]
id = "anchor-1"
kind = "tcp"
address = "{a1}"
interval = "1s"

[[targets]]
id = "anchor-2"
kind = "tcp"
address = "{a2}"
interval = "1s"

[[targets]]
id = "ht-far-commune"
kind = "http"
url = "http://{far}/"
interval = "2s"
timeout = "500ms"
"#
    );
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    wait_for(Duration::from_secs(15), "monitor isolated", || async {
        let s = get_json(addr, "/api/v1/status").await;
        (s["monitor_isolated"] == true).then_some(())
    })
    .await;
    // Wait until the far target has failed past its threshold while isolated.
    let st = wait_for(Duration::from_secs(15), "far target judged", || async {
        let st = states(addr).await;
        let fails = st["ht-far-commune"]["last"]["ok"] == false;
        (fails && st["ht-far-commune"]["state"] != "up").then_some(st)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let st2 = states(addr).await;
    assert_eq!(st2["ht-far-commune"]["state"], "unknown", "{st:?}");
    let (_, metrics) = get_text(addr, "/metrics").await;
    assert!(metrics.contains("commwatch_monitor_isolated 1"));
    // One "monitor isolated" message, not one alert per failing target.
    let msg = wait_for(Duration::from_secs(15), "the isolation message", || async {
        receiver
            .accepted()
            .iter()
            .map(|r| r.json())
            .find(|m| m["monitor_isolated"] == true)
    })
    .await;
    assert!(
        msg["title"]
            .as_str()
            .unwrap()
            .contains("Máy giám sát mất kết nối"),
        "{msg}"
    );
    assert!(
        receiver.accepted().iter().all(|r| r.json()["targets"]
            .as_array()
            .is_none_or(|t| t.iter().all(|t| t["id"] != "ht-far-commune"))),
        "a target failing while the monitor is cut off paged"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_incident_is_stored_ending_after_it_starts() {
    // Issue 21: a target that answered well for a while, then degraded, then recovered was
    // stored ending before it started (its good run began before the degradation).
    let dir = tempfile::tempdir().unwrap();
    let (site, status) = switch_server(200).await;
    let toml = format!(
        r#"{FAST}
[[targets]]
id = "ht-son-giang-fpt"
kind = "http"
url = "http://{site}/"
expect_status = [200, 203]
degraded = ["status == 200"]
operator = "fpt"
"#
    );
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    let state = |want: &'static str| async move {
        (states(addr).await["ht-son-giang-fpt"]["state"] == want).then_some(())
    };
    wait_for(Duration::from_secs(10), "up", || state("up")).await;
    // A few good answers first, so the run of answers began well before the degradation.
    tokio::time::sleep(Duration::from_secs(3)).await;
    status.store(203, Ordering::Relaxed);
    wait_for(Duration::from_secs(10), "degraded", || state("degraded")).await;
    status.store(200, Ordering::Relaxed);
    wait_for(Duration::from_secs(10), "up again", || state("up")).await;
    app.state.store.flush().await.unwrap();

    let all = get_json(addr, "/api/v1/incidents?target=ht-son-giang-fpt&status=all").await;
    let list = all["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "exactly one incident: {all}");
    let inc = &list[0];
    assert_eq!(inc["open"], false, "{inc}");
    assert_eq!(inc["worst_state"], "degraded", "{inc}");
    let (started, ended) = (time(&inc["started_at"]), time(&inc["ended_at"]));
    assert!(ended >= started, "stored ending before it starts: {inc}");
    assert!(inc["duration_seconds"].as_f64().unwrap() > 0.0, "{inc}");
    let samples = app
        .state
        .store
        .recent_samples("ht-son-giang-fpt", 100)
        .await
        .unwrap();
    let first_degraded = samples
        .iter()
        .filter(|s| s.degraded)
        .map(|s| s.at)
        .min()
        .unwrap();
    let first_clean = samples
        .iter()
        .filter(|s| s.ok && !s.degraded && s.at > first_degraded)
        .map(|s| s.at)
        .min()
        .unwrap();
    // It starts at the first degraded answer and ends at the first clean one after it.
    assert_eq!((started, ended), (first_degraded, first_clean), "{inc}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_survive_a_restart_and_close_at_the_first_good_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (site, status) = switch_server(200).await;
    let toml = format!(
        r#"{FAST}
[[targets]]
id = "ht-thach-ha-mobifone"
kind = "http"
url = "http://{site}/"
operator = "mobifone"
"#
    );
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    wait_for(Duration::from_secs(10), "up", || async {
        (states(addr).await["ht-thach-ha-mobifone"]["state"] == "up").then_some(())
    })
    .await;
    status.store(503, Ordering::Relaxed);
    wait_for(Duration::from_secs(10), "down", || async {
        (states(addr).await["ht-thach-ha-mobifone"]["state"] == "down").then_some(())
    })
    .await;
    app.shutdown().await;

    // The site comes back while the daemon is stopped.
    status.store(200, Ordering::Relaxed);
    let restarted_at = Utc::now();
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    assert_eq!(
        states(addr).await["ht-thach-ha-mobifone"]["state"],
        "down",
        "state restored"
    );
    let open = get_json(addr, "/api/v1/incidents?status=open").await;
    assert_eq!(
        open["incidents"].as_array().unwrap().len(),
        1,
        "incident restored as open"
    );
    wait_for(Duration::from_secs(10), "up again", || async {
        (states(addr).await["ht-thach-ha-mobifone"]["state"] == "up").then_some(())
    })
    .await;
    app.state.store.flush().await.unwrap();
    let all = get_json(addr, "/api/v1/incidents?target=ht-thach-ha-mobifone").await;
    let list = all["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "exactly one incident: {all}");
    let inc = &list[0];
    assert_eq!(inc["open"], false);
    let ended = time(&inc["ended_at"]);
    // It ended at the first good answer after the restart (not at the threshold crossing, and
    // not at the last failure before the stop).
    assert!(
        ended >= restarted_at - chrono::Duration::milliseconds(5),
        "{ended} < {restarted_at}"
    );
    let first_ok = app
        .state
        .store
        .recent_samples("ht-thach-ha-mobifone", 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.ok && s.at >= restarted_at - chrono::Duration::milliseconds(5))
        .map(|s| s.at)
        .min()
        .unwrap();
    assert_eq!(ended, first_ok);
    assert!(time(&inc["started_at"]) < restarted_at);
    let (_, metrics) = get_text(addr, "/metrics").await;
    assert!(
        metrics.contains("commwatch_incidents_open 0"),
        "open-incident gauge"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_endpoints_answer_from_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let bad = http_server(500).await;
    let toml = format!(
        r#"{FAST}
[[targets]]
id = "a"
kind = "http"
url = "http://{ok}/"
operator = "viettel"
commune = "Thành Sen"

[[targets]]
id = "b"
kind = "http"
url = "http://{bad}/"
operator = "viettel"
commune = "Cẩm Xuyên"

[[targets]]
id = "c"
kind = "http"
url = "http://{ok}/"
operator = "vnpt"
commune = "Cẩm Xuyên"
"#
    );
    let app = start_app(dir.path(), &toml).await;
    let addr = app.local_addr();
    let store = app.state.store.clone();
    wait_for(Duration::from_secs(10), "three samples each", || {
        let store = store.clone();
        async move {
            store.flush().await.ok()?;
            for id in ["a", "b", "c"] {
                if store.sample_count(id).await.ok()? < 3 {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    let v = get_json(addr, "/api/v1/targets/a/availability?range=1h").await;
    assert_eq!(v["availability"]["ratio"], 1.0);
    assert!(v["availability"]["count"].as_u64().unwrap() >= 3);
    let v = get_json(addr, "/api/v1/targets/b/availability?range=1h").await;
    assert_eq!(v["availability"]["ratio"], 0.0);
    let v = get_json(addr, "/api/v1/targets/a/series?range=1h").await;
    assert_eq!(v["resolution"], "minute");
    assert!(!v["buckets"].as_array().unwrap().is_empty());
    let v = get_json(addr, "/api/v1/groups/operator/availability?range=1h").await;
    let groups = v["groups"].as_array().unwrap();
    let viettel = groups.iter().find(|g| g["key"] == "viettel").unwrap();
    assert_eq!(viettel["targets"], 2);
    let r = viettel["ratio"].as_f64().unwrap();
    assert!(
        r > 0.3 && r < 0.7,
        "one of two viettel targets failing: {r}"
    );
    let v = get_json(addr, "/api/v1/groups/commune/availability?range=1h").await;
    assert_eq!(v["groups"].as_array().unwrap().len(), 2);

    for (path, code) in [
        ("/api/v1/targets/a/availability?range=soon", "invalid_query"),
        (
            "/api/v1/targets/a/availability?from=yesterday",
            "invalid_query",
        ),
        ("/api/v1/targets/a/series?resolution=month", "invalid_query"),
        (
            "/api/v1/targets/a/series?range=3650d&resolution=minute",
            "range_too_large",
        ),
        ("/api/v1/incidents?status=maybe", "invalid_query"),
        ("/api/v1/incidents?limit=-1", "invalid_query"),
    ] {
        let (status, body) = get_text(addr, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        let e: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(e["error"]["code"], code, "{path}");
    }
    let (status, _) = get_text(addr, "/api/v1/groups/colour/availability").await;
    assert_eq!(status, 404);
    let (status, _) = get_text(addr, "/api/v1/targets/zzz/series").await;
    assert_eq!(status, 404);
    drop(store);
    app.shutdown().await;
}

/// About SQLite itself (another process holding the file's write lock): it runs on a SQLite
/// file whatever `COMMWATCH_TEST_STORE` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_degrades_storage_but_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ok = http_server(200).await;
    let toml = format!(
        r#"{FAST}
[[targets]]
id = "a"
kind = "http"
url = "http://{ok}/"
"#
    );
    let app = start_app_sqlite(dir.path(), &toml).await;
    let addr = app.local_addr();
    let store = app.state.store.clone();
    store.flush().await.unwrap();
    // Another process (a backup tool, an operator's sqlite3 shell) takes the write lock.
    let locker = rusqlite::Connection::open(dir.path().join("commwatch.db")).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let before_lock = Utc::now();
    wait_for(Duration::from_secs(15), "storage degraded", || async {
        let (code, body) = get_text(addr, "/readyz").await;
        (code == 503 && body.contains("degraded")).then_some(())
    })
    .await;
    // Probing goes on: the board keeps getting fresh results.
    let seen = wait_for(
        Duration::from_secs(10),
        "fresh results while degraded",
        || async {
            let st = states(addr).await;
            let at = time(&st["a"]["last"]["at"]);
            (at > before_lock + chrono::Duration::seconds(2)).then_some(at)
        },
    )
    .await;
    let (_, metrics) = get_text(addr, "/metrics").await;
    assert!(metrics.contains("commwatch_store_degraded 1"));
    locker.execute_batch("ROLLBACK").unwrap();
    drop(locker);
    tokio::time::timeout(Duration::from_secs(20), store.flush())
        .await
        .expect("backlog drains")
        .unwrap();
    let (code, _) = get_text(addr, "/readyz").await;
    assert_eq!(code, 200);
    // The samples taken while the database was locked are on disk.
    let recent = store.recent_samples("a", 1_000).await.unwrap();
    assert!(recent.iter().any(|s| s.at == seen), "sample at {seen} lost");
    drop(store);
    app.shutdown().await;
}
