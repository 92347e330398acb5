//! Drill lifecycle over real sockets: start/stop/notes through the API with roles, probing at
//! the drill pace inside the scope only, samples and incidents tagged with the drill id, the
//! drill surviving a restart and ending at its planned end, and drills planned in the config.

mod common;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{client, get_json, http_server, refused_addr, wait_for};
use commwatch::app::App;
use commwatch::config::Config;
use serde_json::{Value, json};
use sha2::Digest;

const ADMIN: &str = "drill-leader-secret";
const OFFICER: &str = "duty-officer-secret";

fn digest(t: &str) -> String {
    sha2::Sha256::digest(t.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn auth() -> String {
    format!(
        "[auth]\npublic = true\n\n[[auth.tokens]]\nname = \"chi-huy\"\nrole = \"admin\"\nsha256 = \"{}\"\n\n\
         [[auth.tokens]]\nname = \"truc-ban\"\nrole = \"officer\"\nsha256 = \"{}\"\n",
        digest(ADMIN),
        digest(OFFICER)
    )
}

/// A TCP target probed every 30 s normally: a drill at 1 s makes the difference obvious.
fn target(id: &str, addr: &str, operator: &str, commune: &str) -> String {
    format!(
        "[[targets]]\nid = \"{id}\"\nname = \"{operator} — {commune}\"\nkind = \"tcp\"\naddress = \"{addr}\"\n\
         interval = \"30s\"\ntimeout = \"500ms\"\nfailure_threshold = 2\nsuccess_threshold = 1\n\
         operator = \"{operator}\"\nprovince = \"Hà Tĩnh\"\ncommune = \"{commune}\"\n"
    )
}

async fn start(dir: &Path, body: &str) -> App {
    let text = format!(
        "[storage]\npath = \"{}\"\n{body}",
        dir.join("commwatch.db").display()
    );
    let cfg =
        Config::from_str_at(&dir.join("commwatch.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    App::start_with_listener(cfg, listener).await.unwrap()
}

async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut r = client().post(format!("http://{addr}{path}")).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn db(dir: &Path) -> rusqlite::Connection {
    commwatch::store::open_read_only(&dir.join("commwatch.db")).unwrap()
}

/// (samples, samples tagged with `drill`) of one target.
fn counts(dir: &Path, target: &str, drill: i64) -> (i64, i64) {
    db(dir)
        .query_row(
            "SELECT count(*), count(*) FILTER (WHERE s.drill_id = ?2) FROM samples s
             JOIN targets t ON t.id = s.target_id WHERE t.key = ?1",
            rusqlite::params![target, drill],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn metrics(addr: std::net::SocketAddr) -> String {
    common::get_text(addr, "/metrics").await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_over_the_api_probes_its_scope_at_the_drill_pace_and_tags_everything() {
    let dir = tempfile::tempdir().unwrap();
    let up = http_server(200).await.to_string();
    let dead = refused_addr().await.to_string();
    let body = format!(
        "{}{}{}{}",
        auth(),
        target("ka-viettel", &up, "viettel", "Kỳ Anh"),
        target("ka-viettel-dead", &dead, "viettel", "Kỳ Anh"),
        target("ka-vnpt", &up, "vnpt", "Kỳ Anh"),
    );
    let app = start(dir.path(), &body).await;
    let addr = app.local_addr();
    // Let every target take its first (spread) run out of the way? No: with a 30 s interval
    // most have not run yet, which is the point — the drill must pull them in.
    let request = json!({
        "name": "Diễn tập bão số 9",
        "scenario": "Cắt cáp quang Viettel tại Kỳ Anh",
        "scope": { "operator": "viettel" },
        "leaders": ["Nguyễn Văn An"],
        "interval": "1s",
        "duration": "1h",
    });

    // Roles: reading is public, starting needs admin.
    let (s, e) = post(addr, "/api/v1/drills", None, request.clone()).await;
    assert_eq!(s, 401, "{e}");
    let (s, e) = post(addr, "/api/v1/drills", Some(OFFICER), request.clone()).await;
    assert_eq!(s, 403, "{e}");
    // Bad requests name what is wrong.
    let mut bad = request.clone();
    bad["scope"] = json!({ "opertor": "viettel" });
    let (s, e) = post(addr, "/api/v1/drills", Some(ADMIN), bad).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("invalid_drill")),
        "{e}"
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("opertor"),
        "{e}"
    );
    let mut bad = request.clone();
    bad["scope"] = json!({ "operator": "mobifone" });
    let (s, e) = post(addr, "/api/v1/drills", Some(ADMIN), bad).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("empty_scope")),
        "{e}"
    );
    let mut bad = request.clone();
    bad["duration"] = json!("soon");
    let (s, e) = post(addr, "/api/v1/drills", Some(ADMIN), bad).await;
    assert_eq!(s, 400, "{e}");

    let (s, d) = post(addr, "/api/v1/drills", Some(ADMIN), request.clone()).await;
    assert_eq!(s, 201, "{d}");
    let id = d["id"].as_i64().unwrap();
    assert_eq!(d["targets"], 2);
    assert_eq!(d["started_by"], "chi-huy");
    assert!(d["ended_at"].is_null());
    // A second drill over the same targets is refused; one over others would be fine.
    let (s, e) = post(addr, "/api/v1/drills", Some(ADMIN), request.clone()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("drill_overlap")),
        "{e}"
    );

    let m = metrics(addr).await;
    assert_eq!(metric(&m, "commwatch_drills_active"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "commwatch_drill_targets_in_scope"), Some(2.0));

    // At a 1 s pace the in-scope targets gather samples fast, all tagged; the vnpt target
    // stays on its 30 s interval and is never tagged.
    wait_for(
        Duration::from_secs(15),
        "in-scope targets probed at the drill pace",
        || async {
            let (n, tagged) = counts(dir.path(), "ka-viettel", id);
            (n >= 5 && tagged >= 5).then_some(())
        },
    )
    .await;
    let (n, tagged) = counts(dir.path(), "ka-vnpt", id);
    assert!(n <= 1, "out-of-scope target probed {n} times");
    assert_eq!(tagged, 0);
    // The failing in-scope target opened an incident carrying the drill id, and its alert
    // event is marked too.
    wait_for(Duration::from_secs(15), "a drill incident", || async {
        db(dir.path())
            .query_row(
                "SELECT i.drill_id FROM incidents i JOIN targets t ON t.id = i.target_id
                 WHERE t.key = 'ka-viettel-dead'",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )
            .ok()
            .flatten()
            .filter(|d| *d == id)
    })
    .await;
    let marked: String = db(dir.path())
        .query_row(
            "SELECT drill_id FROM alert_events WHERE target = 'ka-viettel-dead' AND kind = 'firing'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(marked, id.to_string());

    // Notes: officers may write them; an expected fault names real targets.
    let note = json!({
        "text": "14:05 Viettel cắt cáp quang tại Kỳ Anh",
        "expected_down": { "targets": ["ka-viettel-dead"] },
    });
    let (s, e) = post(
        addr,
        &format!("/api/v1/drills/{id}/notes"),
        None,
        note.clone(),
    )
    .await;
    assert_eq!(s, 401, "{e}");
    let (s, n) = post(
        addr,
        &format!("/api/v1/drills/{id}/notes"),
        Some(OFFICER),
        note,
    )
    .await;
    assert_eq!(s, 201, "{n}");
    assert_eq!(n["author"], "truc-ban");
    assert_eq!(n["expected_targets"], json!(["ka-viettel-dead"]));
    let (s, e) = post(
        addr,
        &format!("/api/v1/drills/{id}/notes"),
        Some(OFFICER),
        json!({ "text": "x", "expected_down": { "targets": ["no-such-target"] } }),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("invalid_drill")),
        "{e}"
    );
    let (s, e) = post(
        addr,
        "/api/v1/drills/999/notes",
        Some(OFFICER),
        json!({ "text": "x" }),
    )
    .await;
    assert_eq!(s, 404, "{e}");
    let got = get_json(addr, &format!("/api/v1/drills/{id}")).await;
    assert_eq!(got["notes"].as_array().unwrap().len(), 1, "{got}");
    let running = get_json(addr, "/api/v1/drills?running=true").await;
    assert_eq!(running["drills"][0]["id"], id);
    let (s, _) = common::get_text(addr, "/api/v1/drills?running=maybe").await;
    assert_eq!(s, 400);

    // Stop: admin only, once.
    let (s, _) = post(
        addr,
        &format!("/api/v1/drills/{id}/stop"),
        Some(OFFICER),
        json!({}),
    )
    .await;
    assert_eq!(s, 403);
    let (s, d) = post(
        addr,
        &format!("/api/v1/drills/{id}/stop"),
        Some(ADMIN),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["end_reason"], "stopped");
    assert_eq!(d["stopped_by"], "chi-huy");
    let (s, e) = post(
        addr,
        &format!("/api/v1/drills/{id}/stop"),
        Some(ADMIN),
        json!({}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("drill_ended")),
        "{e}"
    );
    let m = metrics(addr).await;
    assert_eq!(metric(&m, "commwatch_drills_active"), Some(0.0));

    // After the drill nothing new is tagged, and the pace falls back to 30 s.
    common::get_text(addr, "/healthz").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before = counts(dir.path(), "ka-viettel", id);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = counts(dir.path(), "ka-viettel", id);
    assert_eq!(before.1, after.1, "samples tagged after the drill ended");
    assert!(
        after.0 - before.0 <= 1,
        "still probing at the drill pace: {before:?} -> {after:?}"
    );
    app.shutdown().await;
}

fn ended_at(d: &Value) -> Option<DateTime<Utc>> {
    d["ended_at"].as_str().map(|s| s.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_survives_a_restart_and_ends_at_its_planned_end() {
    let dir = tempfile::tempdir().unwrap();
    let up = http_server(200).await.to_string();
    let body = format!(
        "{}{}",
        auth(),
        target("ka-viettel", &up, "viettel", "Kỳ Anh")
    );

    // Drill 1 runs across a restart and ends at its planned end while the daemon runs.
    let app = start(dir.path(), &body).await;
    let addr = app.local_addr();
    let (s, d1) = post(
        addr,
        "/api/v1/drills",
        Some(ADMIN),
        json!({ "name": "Diễn tập 1", "scope": {}, "interval": "1s", "duration": "6s" }),
    )
    .await;
    assert_eq!(s, 201, "{d1}");
    let id1 = d1["id"].as_i64().unwrap();
    let planned_end: DateTime<Utc> = d1["planned_end"].as_str().unwrap().parse().unwrap();
    app.shutdown().await;

    let app = start(dir.path(), &body).await;
    let addr = app.local_addr();
    let got = get_json(addr, &format!("/api/v1/drills/{id1}")).await;
    assert!(
        got["ended_at"].is_null(),
        "drill lost its running state: {got}"
    );
    assert_eq!(app.state.drills.running().len(), 1);
    // Probing resumes at the drill pace after the restart.
    let (n0, _) = counts(dir.path(), "ka-viettel", id1);
    wait_for(
        Duration::from_secs(5),
        "drill pace after restart",
        || async { (counts(dir.path(), "ka-viettel", id1).1 >= n0 + 2).then_some(()) },
    )
    .await;
    let got = wait_for(Duration::from_secs(15), "planned end", || async {
        let v = get_json(addr, &format!("/api/v1/drills/{id1}")).await;
        ended_at(&v).is_some().then_some(v)
    })
    .await;
    assert_eq!(got["end_reason"], "planned_end");
    assert_eq!(ended_at(&got), Some(planned_end));
    assert!(app.state.drills.running().is_empty());

    // Drill 2 reaches its planned end while the daemon is down: it ends exactly there.
    let (s, d2) = post(
        addr,
        "/api/v1/drills",
        Some(ADMIN),
        json!({ "name": "Diễn tập 2", "scope": { "commune": ["Kỳ Anh", "Cẩm Xuyên"] }, "duration": "2s" }),
    )
    .await;
    assert_eq!(s, 201, "{d2}");
    let id2 = d2["id"].as_i64().unwrap();
    app.shutdown().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let app = start(dir.path(), &body).await;
    let got = get_json(app.local_addr(), &format!("/api/v1/drills/{id2}")).await;
    assert_eq!(got["end_reason"], "planned_end", "{got}");
    assert_eq!(got["ended_at"], d2["planned_end"]);
    assert!(app.state.drills.running().is_empty());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_drill_starts_on_time_once_and_ends_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let up = http_server(200).await.to_string();
    let start_at = Utc::now() + chrono::Duration::seconds(3);
    let local = start_at.with_timezone(&chrono_tz::Asia::Ho_Chi_Minh);
    let body = format!(
        "{}{}\n[[drills]]\nname = \"Diễn tập định kỳ\"\nscenario = \"Kiểm tra trước mùa bão\"\n\
         start = \"{}\"\nduration = \"4s\"\ninterval = \"1s\"\nleaders = [\"Trần Thị Bình\"]\n\
         scope = {{ province = \"Hà Tĩnh\" }}\n",
        auth(),
        target("ka-viettel", &up, "viettel", "Kỳ Anh"),
        local.format("%Y-%m-%dT%H:%M:%S")
    );
    let app = start(dir.path(), &body).await;
    let addr = app.local_addr();
    assert!(
        get_json(addr, "/api/v1/drills").await["drills"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let d = wait_for(
        Duration::from_secs(10),
        "the planned drill to start",
        || async {
            let v = get_json(addr, "/api/v1/drills?running=true").await;
            v["drills"].as_array().unwrap().first().cloned()
        },
    )
    .await;
    assert_eq!(d["started_by"], "config");
    assert_eq!(d["leaders"], json!(["Trần Thị Bình"]));
    let started: DateTime<Utc> = d["started_at"].as_str().unwrap().parse().unwrap();
    let planned: DateTime<Utc> = d["planned_start"].as_str().unwrap().parse().unwrap();
    assert_eq!(planned.timestamp(), start_at.timestamp());
    assert!(
        (started - planned).num_milliseconds().abs() < 2_500,
        "{started} vs {planned}"
    );
    let id = d["id"].as_i64().unwrap();
    let done = wait_for(
        Duration::from_secs(15),
        "the planned drill to end",
        || async {
            let v = get_json(addr, &format!("/api/v1/drills/{id}")).await;
            ended_at(&v).is_some().then_some(v)
        },
    )
    .await;
    assert_eq!(done["end_reason"], "planned_end");
    app.shutdown().await;

    // Restarting inside or after the window never starts it a second time.
    let app = start(dir.path(), &body).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = get_json(app.local_addr(), "/api/v1/drills").await;
    assert_eq!(all["drills"].as_array().unwrap().len(), 1, "{all}");
    app.shutdown().await;
}

/// `commwatch drill ...` against a running daemon, as a drill leader uses it.
fn cli(addr: std::net::SocketAddr, token: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_commwatch"));
    cmd.arg("drill")
        .arg("--url")
        .arg(format!("http://{addr}"))
        .args(args);
    cmd.env_remove("COMMWATCH_TOKEN");
    if let Some(t) = token {
        cmd.env("COMMWATCH_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_starts_annotates_lists_and_stops_a_drill() {
    let dir = tempfile::tempdir().unwrap();
    let up = http_server(200).await.to_string();
    let body = format!(
        "{}{}{}",
        auth(),
        target("ka-viettel", &up, "viettel", "Kỳ Anh"),
        target("cx-vnpt", &up, "vnpt", "Cẩm Xuyên"),
    );
    let app = start(dir.path(), &body).await;
    let addr = app.local_addr();
    let start_args = [
        "start",
        "--name",
        "Diễn tập CLI",
        "--scope",
        "commune=Kỳ Anh",
        "--scope",
        "commune=Cẩm Xuyên",
        "--leader",
        "Lê Văn Cường",
        "--duration",
        "1h",
    ];
    // The blocking CLI runs off the runtime's threads so the daemon keeps answering.
    let (code, _, err) = tokio::task::spawn_blocking(move || cli(addr, None, &start_args))
        .await
        .unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");
    let (code, out, err) = tokio::task::spawn_blocking(move || cli(addr, Some(ADMIN), &start_args))
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["targets"], 2, "{d}");
    assert_eq!(d["scope"]["commune"], json!(["Kỳ Anh", "Cẩm Xuyên"]));
    let id = d["id"].as_i64().unwrap().to_string();

    let i = id.clone();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        cli(
            addr,
            Some(OFFICER),
            &[
                "note",
                &i,
                "--text",
                "BTS lưu động đã triển khai",
                "--expect-down",
                "ka-viettel",
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("BTS lưu động"), "{out}");
    let (code, out, _) =
        tokio::task::spawn_blocking(move || cli(addr, None, &["list", "--running"]))
            .await
            .unwrap();
    assert_eq!(code, 0);
    assert!(
        out.contains("Diễn tập CLI") && out.contains("running"),
        "{out}"
    );
    let i = id.clone();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || cli(addr, Some(ADMIN), &["stop", &i]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"end_reason\": \"stopped\""), "{out}");
    let (code, _, err) =
        tokio::task::spawn_blocking(move || cli(addr, Some(ADMIN), &["stop", &id]))
            .await
            .unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("drill_ended"), "{err}");
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        cli(
            addr,
            Some(ADMIN),
            &[
                "start",
                "--name",
                "x",
                "--scope",
                "commune",
                "--duration",
                "1h",
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("LABEL=VALUE"), "{err}");
    app.shutdown().await;
}
