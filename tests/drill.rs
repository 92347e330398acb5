//! Drill lifecycle over real sockets: start/stop/notes through the API with roles, probing at
//! the drill pace inside the scope only, samples and incidents tagged with the drill id, the
//! drill surviving a restart and ending at its planned end, and drills planned in the config.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Parser;
use common::{client, get_json, http_server, refused_addr, wait_for};
use commwatch::app::App;
use commwatch::cli::drill::Invocation;
use commwatch::cli::{Cli, Command};
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
    let (storage, _db) = common::stores::storage_for_test(dir);
    let text = format!("{storage}{body}");
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

/// One row of a read on the daemon's record (SQLite or PostgreSQL), values as text.
fn db_row(dir: &Path, sql: &str) -> Option<Vec<Option<String>>> {
    common::stores::test_sql(dir, sql).into_iter().next()
}

/// (samples, samples tagged with `drill`) of one target.
fn counts(dir: &Path, target: &str, drill: i64) -> (i64, i64) {
    let row = db_row(
        dir,
        &format!(
            "SELECT count(*), count(*) FILTER (WHERE s.drill_id = {drill}) FROM samples s
             JOIN targets t ON t.id = s.target_id WHERE t.key = '{target}'"
        ),
    )
    .unwrap();
    let n = |i: usize| row[i].as_deref().unwrap().parse::<i64>().unwrap();
    (n(0), n(1))
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
        db_row(
            dir.path(),
            "SELECT i.drill_id FROM incidents i JOIN targets t ON t.id = i.target_id
             WHERE t.key = 'ka-viettel-dead'",
        )
        .and_then(|r| r[0].as_deref().map(|d| d.parse::<i64>().unwrap()))
        .filter(|d| *d == id)
    })
    .await;
    let marked: String = db_row(
        dir.path(),
        "SELECT drill_id FROM alert_events WHERE target = 'ka-viettel-dead' AND kind = 'firing'",
    )
    .unwrap()[0]
        .clone()
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
/// Parses `commwatch drill --url ... ARGS` as the binary would.
fn parse(addr: std::net::SocketAddr, args: &[&str]) -> Result<Invocation, clap::Error> {
    let url = format!("http://{addr}");
    let argv = ["commwatch", "drill", "--url", &url]
        .into_iter()
        .chain(args.iter().copied());
    match Cli::try_parse_from(argv)?.command {
        Command::Drill {
            url,
            config,
            json,
            action,
        } => Ok(Invocation {
            url,
            config,
            token: None,
            json,
            action,
        }),
        _ => unreachable!("parsed a drill command"),
    }
}

/// Runs `commwatch drill ARGS` through the library: (success, stdout, stderr).
async fn cli(
    addr: std::net::SocketAddr,
    token: Option<&str>,
    args: &[&str],
) -> (bool, String, String) {
    let mut inv = parse(addr, args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    inv.token = token.map(str::to_string);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = commwatch::cli::drill::run(inv, &mut out, &mut err).await;
    (
        code == std::process::ExitCode::SUCCESS,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
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
    let (code, _, err) = cli(addr, None, &start_args).await;
    assert!(!code);
    assert!(
        err.contains("401") && err.contains("COMMWATCH_TOKEN"),
        "{err}"
    );
    // For people, one line; with --json, the daemon's answer.
    let (code, out, err) = cli(addr, Some(ADMIN), &[&["--json"], &start_args[..]].concat()).await;
    assert!(code, "{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["targets"], 2, "{d}");
    assert_eq!(d["scope"]["commune"], json!(["Kỳ Anh", "Cẩm Xuyên"]));
    let id = d["id"].as_i64().unwrap().to_string();

    let i = id.clone();
    let (code, out, err) = cli(
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
    .await;
    assert!(code, "{err}");
    assert!(
        out.starts_with("note ")
            && out.contains(&format!("drill {id}"))
            && out.contains("BTS lưu động"),
        "{out}"
    );
    assert!(out.contains("(+07)"), "times are Vietnam time: {out}");
    let (code, out, _) = cli(addr, None, &["list", "--running"]).await;
    assert!(code);
    assert!(
        out.contains("Diễn tập CLI") && out.contains("running") && out.contains("(+07)"),
        "{out}"
    );
    let i = id.clone();
    let (code, out, err) = cli(addr, Some(ADMIN), &["stop", &i]).await;
    assert!(code, "{err}");
    assert!(out.starts_with(&format!("drill {id} stopped at ")), "{out}");
    // The report, as JSON on stdout and as CSV into a file.
    let i = id.clone();
    let (code, out, err) = cli(addr, None, &["report", &i, "--format", "json"]).await;
    assert!(code, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["drill"]["name"], "Diễn tập CLI");
    assert_eq!(r["notes"][0]["text"], "BTS lưu động đã triển khai");
    let csv_path = dir.path().join("bao-cao.csv");
    let (i, p) = (id.clone(), csv_path.display().to_string());
    let (code, _, err) = cli(
        addr,
        None,
        &["report", &i, "--format", "csv", "--lang", "en", "-o", &p],
    )
    .await;
    assert!(code, "{err}");
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(
        csv.contains("ka-viettel") && csv.contains("cx-vnpt"),
        "{csv}"
    );
    let (code, _, err) = cli(addr, None, &["report", "999"]).await;
    assert!(!code);
    assert!(err.contains("404"), "{err}");
    let (code, _, err) = cli(addr, Some(ADMIN), &["stop", &id]).await;
    assert!(!code);
    assert!(err.contains("drill_ended"), "{err}");
    let (code, _, err) = cli(
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
    .await;
    assert!(!code);
    assert!(err.contains("LABEL=VALUE"), "{err}");
    // Refused before anything is sent: an unknown report language, and --until without the
    // targets it would apply to.
    assert!(parse(addr, &["report", "1", "--lang", "fr"]).is_err());
    assert!(
        parse(
            addr,
            &[
                "note",
                "1",
                "--text",
                "x",
                "--until",
                "2026-12-04T10:00:00Z"
            ]
        )
        .is_err()
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_says_when_there_are_no_drills() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), &auth()).await;
    let (code, out, err) = cli(app.local_addr(), None, &["list"]).await;
    assert!(code, "{err}");
    assert_eq!(out.trim(), "no drills");
    let (_, out, _) = cli(app.local_addr(), None, &["list", "--running"]).await;
    assert_eq!(out.trim(), "no running drills");
    app.shutdown().await;
}

/// A scripted drill with known truth, end to end over real sockets: four HTTP endpoints fail and
/// recover at chosen moments, a webhook collector receives the drill's alerts, an officer
/// acknowledges one outage and notes two injected faults (one that happens, one that does not).
/// The report must give each target's downtime within one probe interval of the truth,
/// detection times that follow the failure threshold, delivery times that match what the
/// collector saw, and the same numbers in JSON, CSV and HTML.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_of_a_scripted_drill_matches_the_known_truth() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let collector = common::collector::Collector::start().await;
    // (id, operator, commune, fails from, recovers at) in seconds after the drill's start;
    // a recovery past the end means the outage is still open when the drill stops.
    const STOP_AT: f64 = 24.0;
    /// (target, operator, commune, fault window).
    type Step<'a> = (&'a str, &'a str, &'a str, Option<(f64, f64)>);
    let script: [Step; 4] = [
        ("ka-viettel", "viettel", "Kỳ Anh", Some((4.0, 12.0))),
        ("cx-viettel", "viettel", "Cẩm Xuyên", Some((6.0, 20.0))),
        ("ka-vnpt", "vnpt", "Kỳ Anh", None),
        ("cx-vnpt", "vnpt", "Cẩm Xuyên", Some((10.0, 99.0))),
    ];
    let mut switches = Vec::new();
    let mut body = format!(
        "{}\n[alerting]\ngroup_wait = \"0s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\n\
         group_by = [\"target\"]\n\n[[receivers]]\nid = \"ops\"\nkind = \"webhook\"\nurl = \"{}\"\n\n\
         [[routes]]\nreceiver = \"ops\"\ndrill = true\n\n",
        auth(),
        collector.url("/hook")
    );
    for (id, op, commune, _) in &script {
        let (addr, status) = common::switch_server(200).await;
        switches.push(status);
        body.push_str(&format!(
            "[[targets]]\nid = \"{id}\"\nname = \"{op} — {commune}\"\nkind = \"http\"\nurl = \"http://{addr}/\"\n\
             interval = \"30s\"\ntimeout = \"500ms\"\nfailure_threshold = 2\nsuccess_threshold = 1\n\
             operator = \"{op}\"\nservice = \"mobile\"\nprovince = \"Hà Tĩnh\"\ncommune = \"{commune}\"\n\n"
        ));
    }
    let app = start(dir.path(), &body).await;
    let addr = app.local_addr();
    let (s, d) = post(
        addr,
        "/api/v1/drills",
        Some(ADMIN),
        json!({ "name": "Diễn tập có đáp án", "scope": { "province": "Hà Tĩnh" }, "interval": "1s",
                "duration": "1h", "baseline": "1h" }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let id = d["id"].as_i64().unwrap();
    let t0: DateTime<Utc> = d["started_at"].as_str().unwrap().parse().unwrap();
    let at = |secs: f64| t0 + chrono::Duration::milliseconds((secs * 1_000.0) as i64);
    let sleep_until = |secs: f64| {
        let wait = (at(secs) - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait)
    };

    // Play the script; record the moments each switch really happened.
    let mut events: Vec<(f64, usize, u16)> = Vec::new();
    for (i, (_, _, _, fault)) in script.iter().enumerate() {
        if let Some((from, to)) = fault {
            events.push((*from, i, 503));
            events.push((*to, i, 200));
        }
    }
    events.retain(|e| e.0 < STOP_AT);
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut truth: std::collections::HashMap<&str, (DateTime<Utc>, Option<DateTime<Utc>>)> =
        std::collections::HashMap::new();
    let mut acked = false;
    for (secs, i, status) in events {
        sleep_until(secs).await;
        switches[i].store(status, Ordering::SeqCst);
        let now = Utc::now();
        let id_t = script[i].0;
        if status == 503 {
            truth.insert(id_t, (now, None));
        } else if let Some(e) = truth.get_mut(id_t) {
            e.1 = Some(now);
        }
        if id_t == "cx-viettel" && status == 503 {
            // The officer notes the injected fault as it is made, and one that never happens.
            let (s, n) = post(
                addr,
                &format!("/api/v1/drills/{id}/notes"),
                Some(OFFICER),
                json!({ "text": "Cắt cáp quang Viettel tại Cẩm Xuyên", "at": now,
                        "expected_down": { "targets": ["cx-viettel"] } }),
            )
            .await;
            assert_eq!(s, 201, "{n}");
            let (s, n) = post(
                addr,
                &format!("/api/v1/drills/{id}/notes"),
                Some(OFFICER),
                json!({ "text": "Tắt nguồn trạm VNPT Kỳ Anh (không thực hiện được)",
                        "expected_down": { "targets": ["ka-vnpt"] } }),
            )
            .await;
            assert_eq!(s, 201, "{n}");
        }
        if !acked && secs >= 10.0 {
            // Acknowledge ka-viettel's outage if it is still open; else cx-viettel's.
            let open = get_json(addr, "/api/v1/incidents?status=open").await;
            let inc = open["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["target"] == "cx-viettel")
                .cloned()
                .expect("cx-viettel's outage is open at 10 s");
            let (s, a) = post(
                addr,
                &format!("/api/v1/incidents/{}/ack", inc["id"]),
                Some(OFFICER),
                json!({ "comment": "Đội kỹ thuật đang xử lý" }),
            )
            .await;
            assert_eq!(s, 201, "{a}");
            acked = true;
        }
    }
    sleep_until(STOP_AT).await;
    let (s, stopped) = post(
        addr,
        &format!("/api/v1/drills/{id}/stop"),
        Some(ADMIN),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{stopped}");
    let end: DateTime<Utc> = stopped["ended_at"].as_str().unwrap().parse().unwrap();
    // Let the last deliveries land.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let report = get_json(addr, &format!("/drills/{id}.json")).await;
    let interval = 1.0;
    let secs_between = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_milliseconds() as f64 / 1e3;
    let targets: std::collections::HashMap<String, Value> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap().to_string(), t.clone()))
        .collect();
    assert_eq!(targets.len(), 4, "{report}");
    let window = secs_between(t0, end);
    for (tid, _, _, _) in &script {
        let expected = match truth.get(tid) {
            Some((from, to)) => secs_between(*from, to.unwrap_or(end)),
            None => 0.0,
        };
        let got = targets[*tid]["drill"]["downtime_seconds"].as_f64().unwrap();
        assert!(
            (got - expected).abs() <= interval + 0.2,
            "{tid}: downtime {got:.2}s, truth {expected:.2}s"
        );
        let avail = targets[*tid]["drill"]["availability"].as_f64().unwrap();
        assert!(
            (avail - (1.0 - got / window)).abs() < 1e-6,
            "{tid}: availability {avail} vs downtime {got} over {window}"
        );
    }
    assert_eq!(targets["ka-vnpt"]["drill"]["outages"], 0);

    // Every outage: detected after failure_threshold - 1 intervals, delivered to the collector
    // when the collector says it arrived, restored when the truth says.
    let received = collector.accepted();
    let outages = report["outages"].as_array().unwrap();
    assert_eq!(outages.len(), 3, "{outages:?}");
    for o in outages {
        let tid = o["target"].as_str().unwrap();
        let (from, to) = truth[tid];
        let started: DateTime<Utc> = o["started_at"].as_str().unwrap().parse().unwrap();
        let lag = secs_between(from, started);
        assert!(
            (0.0..=interval + 0.2).contains(&lag),
            "{tid}: first failed probe {lag:.2}s after the fault"
        );
        let detection = o["detection_seconds"].as_f64().unwrap();
        assert!(
            (0.8..=1.3).contains(&detection),
            "{tid}: detection {detection}s with threshold 2 at 1s"
        );
        assert_eq!(o["drill_tagged"], true);
        match to {
            Some(to) => {
                let ended: DateTime<Utc> = o["ended_at"].as_str().unwrap().parse().unwrap();
                let lag = secs_between(to, ended);
                assert!(
                    (0.0..=interval + 0.2).contains(&lag),
                    "{tid}: restored {lag:.2}s after the fix"
                );
                let r = o["restoration_seconds"].as_f64().unwrap();
                assert!((r - secs_between(started, ended)).abs() < 0.01);
            }
            None => assert!(o["ended_at"].is_null(), "{tid} is still down: {o}"),
        }
        let deliveries = o["deliveries"].as_array().unwrap();
        let d = deliveries
            .iter()
            .find(|d| d["receiver"] == "ops")
            .unwrap_or_else(|| panic!("{tid}: no delivery in {o}"));
        assert_eq!(d["status"], "delivered", "{d}");
        let delivered: DateTime<Utc> = d["delivered_at"].as_str().unwrap().parse().unwrap();
        let arrival = received
            .iter()
            .filter(|r| {
                let m = r.json();
                m["status"] == "firing"
                    && m["targets"]
                        .as_array()
                        .is_some_and(|ts| ts.iter().any(|t| t["id"] == tid))
            })
            .map(|r| r.received_at)
            .min()
            .unwrap_or_else(|| panic!("the collector never got {tid}'s alert"));
        let gap = secs_between(arrival, delivered);
        assert!(
            (0.0..1.0).contains(&gap),
            "{tid}: delivered_at {delivered} vs arrival {arrival}"
        );
        let since = d["since_start_seconds"].as_f64().unwrap();
        assert!((since - secs_between(started, delivered)).abs() < 0.01);
    }
    let cx = outages
        .iter()
        .find(|o| o["target"] == "cx-viettel")
        .unwrap();
    assert_eq!(cx["acknowledged_by"], "truc-ban");
    assert!(cx["ack_seconds"].as_f64().unwrap() > 0.0);

    // Injected faults: the real one detected soon after the note, the other never.
    let faults = report["expected_faults"].as_array().unwrap();
    let f = |t: &str| faults.iter().find(|f| f["target"] == t).unwrap().clone();
    assert_eq!(f("cx-viettel")["detected"], true);
    let det = f("cx-viettel")["detection_seconds"].as_f64().unwrap();
    assert!(
        (0.5..=2.5).contains(&det),
        "fault detected {det}s after the note"
    );
    assert_eq!(f("ka-vnpt")["detected"], false);
    assert_eq!(report["summary"]["expected_faults"], 2);
    assert_eq!(report["summary"]["expected_detected"], 1);
    assert_eq!(report["summary"]["worst_operator"]["key"], "viettel");
    assert_eq!(report["summary"]["worst_commune"]["key"], "Cẩm Xuyên");
    // One sorted timeline holding state changes, alerts and notes.
    let timeline = report["timeline"].as_array().unwrap();
    let times: Vec<DateTime<Utc>> = timeline
        .iter()
        .map(|e| e["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "timeline not sorted"
    );
    let kinds: std::collections::HashSet<String> = timeline
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.len() >= 3, "timeline kinds {kinds:?}");

    // The CSV and the HTML carry the same numbers.
    let (s, csv) = common::get_text(addr, &format!("/drills/{id}.csv")).await;
    assert_eq!(s, 200);
    let (s, html) = common::get_text(addr, &format!("/drills/{id}?lang=en")).await;
    assert_eq!(s, 200);
    for (tid, _, _, _) in &script {
        let mins = format!(
            "{:.2}",
            targets[*tid]["drill"]["downtime_seconds"].as_f64().unwrap() / 60.0
        );
        let row = csv
            .lines()
            .find(|l| l.starts_with(&format!("{tid},")) || l.contains(&format!(",{tid},")))
            .unwrap_or_else(|| panic!("no CSV row for {tid}:\n{csv}"));
        assert!(
            row.contains(&mins),
            "{tid}: CSV row {row} lacks downtime {mins} min"
        );
        assert!(html.contains(tid), "{tid} missing from the HTML report");
    }
    app.shutdown().await;
}

/// Reads the event stream until an event named `name` arrives; returns its data.
async fn next_event(resp: &mut reqwest::Response, name: &str) -> Value {
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        // `event:NAME` (a space after the colon is optional in SSE).
        let norm = buf.replace("event: ", "event:").replace("data: ", "data:");
        if let Some(i) = norm.find(&format!("event:{name}\n")) {
            let rest = &norm[i..];
            if let Some(end) = rest.find("\n\n") {
                let data = rest[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("data:"))
                    .unwrap();
                return serde_json::from_str(data).unwrap();
            }
        }
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no `{name}` event in: {buf}"))
            .unwrap()
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_pages_hear_a_drill_start_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let up = http_server(200).await.to_string();
    let app = start(
        dir.path(),
        &format!(
            "{}{}",
            auth(),
            target("ka-viettel", &up, "viettel", "Kỳ Anh")
        ),
    )
    .await;
    let addr = app.local_addr();
    let mut stream = client()
        .get(format!("http://{addr}/api/v1/events?types=drill"))
        .send()
        .await
        .unwrap();
    next_event(&mut stream, "hello").await;
    let (s, d) = post(
        addr,
        "/api/v1/drills",
        Some(ADMIN),
        json!({ "name": "Diễn tập trực tiếp", "scope": {}, "duration": "1h" }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let ev = next_event(&mut stream, "drill").await;
    assert_eq!(
        (ev["id"].clone(), ev["running"].clone()),
        (d["id"].clone(), json!(true))
    );
    assert_eq!(ev["name"], "Diễn tập trực tiếp");
    let (s, _) = post(
        addr,
        &format!("/api/v1/drills/{}/stop", d["id"]),
        Some(ADMIN),
        json!({}),
    )
    .await;
    assert_eq!(s, 200);
    let ev = next_event(&mut stream, "drill").await;
    assert_eq!(ev["running"], false);
    drop(stream);
    app.shutdown().await;
}

/// The documented contract: `name` alone starts a drill over every target, open-ended (it runs
/// until stopped, ending by itself after 72 hours).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_alone_starts_an_open_ended_drill_over_every_target() {
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
    let (s, d) = post(
        addr,
        "/api/v1/drills",
        Some(ADMIN),
        json!({ "name": "Diễn tập không báo trước" }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["targets"], 2, "{d}");
    let began = DateTime::parse_from_rfc3339(d["started_at"].as_str().unwrap()).unwrap();
    let end = DateTime::parse_from_rfc3339(d["planned_end"].as_str().unwrap()).unwrap();
    assert_eq!((end - began).num_hours(), 72, "{d}");
    let id = d["id"].as_i64().unwrap();
    let (s, d) = post(
        addr,
        &format!("/api/v1/drills/{id}/stop"),
        Some(ADMIN),
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    app.shutdown().await;

    // The length of an open-ended drill is the configuration's to set.
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[drill_defaults]\nopen_ended = \"2h\"\n\n{}{}",
        auth(),
        target("ka-viettel", &up, "viettel", "Kỳ Anh"),
    );
    let app = start(dir.path(), &body).await;
    let (s, d) = post(
        app.local_addr(),
        "/api/v1/drills",
        Some(ADMIN),
        json!({ "name": "Diễn tập ngắn" }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let began = DateTime::parse_from_rfc3339(d["started_at"].as_str().unwrap()).unwrap();
    let end = DateTime::parse_from_rfc3339(d["planned_end"].as_str().unwrap()).unwrap();
    assert_eq!((end - began).num_hours(), 2, "{d}");
    app.shutdown().await;
}

/// Targets a reload adds inside a running drill's scope join it; targets it removes leave it;
/// the drill's timeline says which.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_during_a_drill_adds_and_removes_its_targets() {
    let dir = tempfile::tempdir().unwrap();
    let up = http_server(200).await.to_string();
    let path = dir.path().join("commwatch.toml");
    let (storage, _db) = common::stores::storage_for_test(dir.path());
    let write = |targets: &str| {
        let text = format!("{storage}{}{targets}", auth());
        std::fs::write(&path, text).unwrap();
    };
    write(&format!(
        "{}{}",
        target("ka-viettel", &up, "viettel", "Kỳ Anh"),
        target("cx-viettel", &up, "viettel", "Cẩm Xuyên"),
    ));
    let cfg = Config::load(&path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = App::start_with_listener(cfg, listener).await.unwrap();
    let addr = app.local_addr();
    let (s, d) = post(
        addr,
        "/api/v1/drills",
        Some(ADMIN),
        json!({ "name": "Diễn tập Viettel", "scope": { "operator": "viettel" }, "duration": "1h" }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["targets"], 2);
    let id = d["id"].as_i64().unwrap();

    // A Viettel site is added, one removed, and a VNPT one (outside the scope) added.
    write(&format!(
        "{}{}{}",
        target("ka-viettel", &up, "viettel", "Kỳ Anh"),
        target("hk-viettel", &up, "viettel", "Hương Khê"),
        target("hk-vnpt", &up, "vnpt", "Hương Khê"),
    ));
    let (s, r) = post(addr, "/-/reload", Some(ADMIN), json!({})).await;
    assert_eq!(s, 200, "{r}");
    let d = get_json(addr, &format!("/api/v1/drills/{id}")).await;
    let notes = d["notes"].as_array().unwrap();
    let text: Vec<&str> = notes.iter().filter_map(|n| n["text"].as_str()).collect();
    let joined = text
        .iter()
        .find(|t| t.contains("tham gia"))
        .expect("a note on who joined");
    assert!(
        joined.contains("hk-viettel") && !joined.contains("hk-vnpt"),
        "{text:?}"
    );
    let left = text
        .iter()
        .find(|t| t.contains("rời"))
        .expect("a note on who left");
    assert!(left.contains("cx-viettel"), "{text:?}");
    assert_eq!(notes[0]["author"], "commwatch");
    // The report counts the target that joined.
    let r = get_json(addr, &format!("/drills/{id}.json")).await;
    let ids: Vec<&str> = r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str().or(t["target"].as_str()))
        .collect();
    assert!(ids.contains(&"hk-viettel"), "{ids:?}");

    // The web server's limits are built into it: a reload says they wait for a restart.
    write(&format!(
        "[server]\nheader_read_timeout = \"5s\"\n{}",
        target("ka-viettel", &up, "viettel", "Kỳ Anh"),
    ));
    let (s, r) = post(addr, "/-/reload", Some(ADMIN), json!({})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        r["report"]["needs_restart"],
        json!(["server limits"]),
        "{r}"
    );
    app.shutdown().await;
}
