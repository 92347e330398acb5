//! A PostgreSQL outage under a running daemon: the server is SIGKILLed while commwatch probes
//! loopback targets (some of which fail and recover meanwhile), stays down ~10 s and comes back.
//! The daemon must stay up and say it is degraded, keep probing, drain its backlog once the
//! server is back, and lose or duplicate nothing: every sample, state, incident, alert event,
//! outbox message and drill note the daemon produced is in PostgreSQL exactly once. Also: a
//! daemon refuses to start on a PostgreSQL that is down, naming where and why.
//!
//! Its own test binary: it kills the one server the binary shares (tests/common/postgres.rs),
//! and the two tests here take turns with a lock.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::collector::Collector;
use common::postgres::server;
use common::stores::Backing;
use common::{get_text, switch_server, wait_for};
use commwatch::app::App;
use commwatch::config::Config;
use commwatch::events::Event;
use commwatch::state::IncidentChange;
use serde_json::{Value, json};
use sha2::Digest;

const ADMIN: &str = "outage-admin-secret";
const OFFICER: &str = "outage-officer-secret";
/// How long the server stays down.
const OUTAGE: Duration = Duration::from_secs(10);

/// Panics anywhere in the process (the daemon's tasks and threads included), counted by a
/// hook that still prints them.
static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn count_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// The server is killed by one test at a time, and never under the other.
static SERVER_USE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn digest(t: &str) -> String {
    sha2::Sha256::digest(t.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn config(dir: &std::path::Path, text: &str) -> Config {
    Config::from_str_at(&dir.join("commwatch.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

async fn post(addr: SocketAddr, path: &str, token: &str, body: Value) -> (u16, Value) {
    let r = common::client()
        .post(format!("http://{addr}{path}"))
        .bearer_auth(token)
        .json(&body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `name{labels} value` lines of the exposition whose name is `name` and whose labels contain
/// every one of `labels`, summed.
fn metric_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics(addr: SocketAddr) -> String {
    let (code, body) = get_text(addr, "/metrics").await;
    assert_eq!(code, 200);
    body
}

/// A TCP endpoint that can be switched off (its listener closed: connections refused).
struct TcpSwitch {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TcpSwitch {
    async fn start() -> TcpSwitch {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                drop(sock);
            }
        });
        TcpSwitch { addr, task }
    }

    fn off(&self) {
        self.task.abort();
    }
}

fn count(db: &str, sql: &str) -> i64 {
    let rows = server().run_sql(db, sql);
    rows[0][0].as_deref().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_postgres_degrades_storage_and_loses_nothing_once_it_is_back() {
    let _g = SERVER_USE.lock().await;
    count_panics();
    let panics_before = PANICS.load(Ordering::SeqCst);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let backing = Backing::postgres("outage");
    let Backing::Postgres(db) = &backing else {
        unreachable!()
    };
    let collector = Collector::start().await;
    let (steady, _) = switch_server(200).await;
    let (flip_a, a) = switch_server(200).await;
    let (flip_b, b) = switch_server(200).await;
    let tcp = TcpSwitch::start().await;
    let mut text = format!(
        "{}\n[server]\nlisten = \"127.0.0.1:0\"\n\n[auth]\npublic = true\n\n\
         [[auth.tokens]]\nname = \"chi-huy\"\nrole = \"admin\"\nsha256 = \"{}\"\n\n\
         [[auth.tokens]]\nname = \"truc-ban\"\nrole = \"officer\"\nsha256 = \"{}\"\n\n\
         [alerting]\ngroup_wait = \"0s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"1h\"\n\
         group_by = [\"target\"]\n\n[[receivers]]\nid = \"ops\"\nkind = \"webhook\"\nurl = \"{}\"\n\n\
         [[routes]]\nreceiver = \"ops\"\n\n",
        backing.storage_toml(),
        digest(ADMIN),
        digest(OFFICER),
        collector.url("/hook"),
    );
    for (id, addr) in [("steady", steady), ("flip-a", flip_a), ("flip-b", flip_b)] {
        text.push_str(&format!(
            "[[targets]]\nid = \"{id}\"\nkind = \"http\"\nurl = \"http://{addr}/\"\ninterval = \"1s\"\n\
             timeout = \"500ms\"\nfailure_threshold = 2\nsuccess_threshold = 1\nprovince = \"Hà Tĩnh\"\n\n"
        ));
    }
    text.push_str(&format!(
        "[[targets]]\nid = \"tcp-c\"\nkind = \"tcp\"\naddress = \"{}\"\ninterval = \"1s\"\n\
         timeout = \"500ms\"\nfailure_threshold = 2\nsuccess_threshold = 1\nprovince = \"Hà Tĩnh\"\n\n",
        tcp.addr
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = App::start_with_listener(config(dir.path(), &text), listener)
        .await
        .unwrap();
    let addr = app.local_addr();
    let metrics_handle = app.state.metrics.clone();

    // Everything the engine announces, to compare with what PostgreSQL holds at the end. No
    // target fails before this subscription, so no incident is missed.
    let mut rx = app.state.events.subscribe();
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = seen.clone();
    let listen = tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(e) => sink.lock().unwrap().push(e),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    panic!("the test's event subscription lagged by {n}")
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });

    let board_state = |id: &'static str| {
        let board = app.state.board.clone();
        move || {
            let st = board.get(id).map(|s| s.state.state.as_str().to_string());
            async move { st }
        }
    };
    let wait_state = |id: &'static str, want: &'static str, limit: u64| {
        let get = board_state(id);
        async move {
            wait_for(Duration::from_secs(limit), &format!("{id} {want}"), || {
                let f = get();
                async move { (f.await.as_deref() == Some(want)).then_some(()) }
            })
            .await
        }
    };
    for id in ["steady", "flip-a", "flip-b", "tcp-c"] {
        wait_state(id, "up", 10).await;
    }

    // A drill over every target, started while the database is up.
    let (s, d) = post(
        addr,
        "/api/v1/drills",
        ADMIN,
        json!({ "name": "Mất cơ sở dữ liệu", "scope": { "province": "Hà Tĩnh" },
                "interval": "1s", "duration": "1h" }),
    )
    .await;
    assert_eq!(s, 201, "{d}");
    let drill = d["id"].as_i64().unwrap();

    // Before the outage: flip-a fails, its incident opens and its alert is delivered.
    a.store(503, Ordering::SeqCst);
    wait_state("flip-a", "down", 10).await;
    wait_for(Duration::from_secs(10), "flip-a's alert", || async {
        collector
            .accepted()
            .iter()
            .any(|r| r.json()["status"] == "firing")
            .then_some(())
    })
    .await;
    app.state.store.flush().await.unwrap();
    let before = metrics(addr).await;
    assert_eq!(metric_sum(&before, "commwatch_store_degraded", &[]), 0.0);
    assert_eq!(
        metric_sum(&before, "commwatch_store_info", &["backend=\"postgres\""]),
        1.0
    );

    // The crash.
    server().kill();
    let killed = Instant::now();
    let degraded = wait_for(
        Duration::from_secs(8),
        "/readyz to say storage is degraded",
        || async {
            let (code, body) = get_text(addr, "/readyz").await;
            let v: Value = serde_json::from_str(&body).unwrap();
            (code == 503 && v["storage"] == "degraded").then_some(v)
        },
    )
    .await;
    let why = degraded["storage_error"].as_str().unwrap_or_default();
    assert!(!why.is_empty(), "no storage_error in {degraded}");
    assert!(!why.contains(&db.password), "{why}");
    assert_eq!(degraded["storage_backend"], "postgres");
    let m1 = metrics(addr).await;
    assert_eq!(metric_sum(&m1, "commwatch_store_degraded", &[]), 1.0);
    let failures1 = metric_sum(&m1, "commwatch_store_write_failures_total", &[]);
    assert!(failures1 >= 1.0, "{failures1}");

    // While it is down: flip-a recovers, flip-b and tcp-c fail; the board follows.
    a.store(200, Ordering::SeqCst);
    b.store(503, Ordering::SeqCst);
    tcp.off();
    // An officer notes what happened, through the API, while the database is down.
    let note_at = chrono::Utc::now();
    let note_body = json!({ "text": "Mất điện phòng máy cơ sở dữ liệu", "at": note_at });
    let note_path = format!("/api/v1/drills/{drill}/notes");
    let note_req = {
        let (path, body) = (note_path.clone(), note_body.clone());
        tokio::spawn(async move { post(addr, &path, OFFICER, body).await })
    };
    wait_state("flip-a", "up", 8).await;
    wait_state("flip-b", "down", 8).await;
    wait_state("tcp-c", "down", 8).await;
    let probes_mid = metric_sum(&metrics(addr).await, "commwatch_probes_total", &[]);
    tokio::time::sleep(OUTAGE.saturating_sub(killed.elapsed())).await;
    let m2 = metrics(addr).await;
    assert_eq!(metric_sum(&m2, "commwatch_store_degraded", &[]), 1.0);
    let failures2 = metric_sum(&m2, "commwatch_store_write_failures_total", &[]);
    assert!(
        failures2 > failures1,
        "write failures did not grow during the outage: {failures1} then {failures2}"
    );
    let backlog = metric_sum(&m2, "commwatch_store_backlog", &[]);
    assert!(backlog > 0.0, "nothing held in memory during the outage");
    let probes_late = metric_sum(&m2, "commwatch_probes_total", &[]);
    assert!(
        probes_late > probes_mid,
        "probing stopped during the outage"
    );
    assert!(!app.state.shutdown.is_cancelled(), "the daemon stopped");
    let (code, _) = get_text(addr, "/healthz").await;
    assert_eq!(code, 200, "the daemon is not alive during the outage");

    // Back.
    server().start_again();
    wait_for(Duration::from_secs(20), "the backlog to drain", || async {
        let (code, body) = get_text(addr, "/readyz").await;
        let m = metrics(addr).await;
        (code == 200
            && body.contains("\"storage\":\"ok\"")
            && metric_sum(&m, "commwatch_store_backlog", &[]) == 0.0
            && metric_sum(&m, "commwatch_store_degraded", &[]) == 0.0)
            .then_some(())
    })
    .await;
    let (s, note) = tokio::time::timeout(Duration::from_secs(20), note_req)
        .await
        .expect("the note request never finished")
        .unwrap();
    // The note is kept: either committed once the database was back (201, if the outage was
    // shorter than the store's wait) or answered 503 "kept ... do not send it again" after the
    // wait, and then written with the backlog. Either way the officer does not resend it, and
    // it must be there exactly once.
    let note_accepted_in_outage = s == 201;
    eprintln!("note posted during the outage: {s} {note}");
    if !note_accepted_in_outage {
        assert_eq!(s, 503, "note during the outage: {note}");
        assert_eq!(note["error"]["code"], "store_unavailable", "{note}");
        let message = note["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("do not send it again"), "{note}");
    }
    let _ = note_body;

    // After: flip-b recovers; its resolution and everything else is delivered.
    b.store(200, Ordering::SeqCst);
    wait_state("flip-b", "up", 10).await;
    wait_for(
        Duration::from_secs(15),
        "every outbox message delivered",
        || async {
            let pending = count(
                &db.name,
                "SELECT count(*) FROM outbox WHERE status <> 'delivered'",
            );
            let unprocessed = count(
                &db.name,
                "SELECT count(*) FROM alert_events WHERE processed = 0",
            );
            let rows = count(&db.name, "SELECT count(*) FROM outbox");
            // flip-a fired and resolved, flip-b fired and resolved, tcp-c fired.
            (pending == 0 && unprocessed == 0 && rows >= 5).then_some(())
        },
    )
    .await;

    // Stop the daemon (it commits what is left), then compare.
    let state = app.state.clone();
    assert!(
        !state.shutdown.is_cancelled(),
        "the daemon stopped by itself"
    );
    drop(state);
    app.shutdown().await;
    listen.await.unwrap();
    assert_eq!(
        PANICS.load(Ordering::SeqCst),
        panics_before,
        "something in the daemon panicked (see above)"
    );
    let events = seen.lock().unwrap().clone();
    let exposition = metrics_handle.render().unwrap();

    let targets = ["steady", "flip-a", "flip-b", "tcp-c"];
    for t in targets {
        // Samples: one row per probe the daemon counted, and the rollups count each once.
        let probed = metric_sum(
            &exposition,
            "commwatch_probes_total",
            &[&format!("target=\"{t}\"")],
        );
        let q = |sql: &str| count(&db.name, &sql.replace("$T", t));
        let samples = q(
            "SELECT count(*) FROM samples s JOIN targets t ON t.id = s.target_id WHERE t.key = '$T'",
        );
        assert_eq!(
            samples as f64, probed,
            "{t}: samples stored vs probes counted"
        );
        for table in ["rollup_minute", "rollup_hour", "rollup_day", "rollup_week"] {
            let rolled = q(&format!(
                "SELECT coalesce(sum(r.count), 0) FROM {table} r JOIN targets t ON t.id = r.target_id WHERE t.key = '$T'"
            ));
            assert_eq!(
                rolled, samples,
                "{t}: {table} counts a sample twice or not at all"
            );
        }
        let ok = q(
            "SELECT count(*) FROM samples s JOIN targets t ON t.id = s.target_id WHERE t.key = '$T' AND s.ok <> 0",
        );
        let ok_probed = metric_sum(
            &exposition,
            "commwatch_probes_total",
            &[&format!("target=\"{t}\""), "result=\"success\""],
        );
        assert_eq!(ok as f64, ok_probed, "{t}: successful samples");

        // Incidents: exactly those the engine opened and closed, at the same instants.
        let mut opened = Vec::new();
        let mut closed = Vec::new();
        for e in &events {
            if let Event::Incident { target, change } = e
                && target == t
            {
                match change {
                    IncidentChange::Opened { started_at, .. } => {
                        opened.push(started_at.timestamp_millis())
                    }
                    IncidentChange::Closed { ended_at } => closed.push(ended_at.timestamp_millis()),
                    IncidentChange::Updated { .. } => {}
                }
            }
        }
        let rows = server().run_sql(
            &db.name,
            &format!(
                "SELECT i.started_at_ms, i.ended_at_ms FROM incidents i JOIN targets t ON t.id = i.target_id
                 WHERE t.key = '{t}' ORDER BY i.started_at_ms"
            ),
        );
        let stored_open: Vec<i64> = rows
            .iter()
            .map(|r| r[0].as_deref().unwrap().parse().unwrap())
            .collect();
        let stored_closed: Vec<i64> = rows
            .iter()
            .filter_map(|r| r[1].as_deref().map(|v| v.parse().unwrap()))
            .collect();
        assert_eq!(stored_open, opened, "{t}: incidents opened");
        assert_eq!(stored_closed, closed, "{t}: incidents closed");
        let expected_incidents = match t {
            "steady" => 0,
            _ => 1,
        };
        assert_eq!(opened.len(), expected_incidents, "{t}: {events:?}");

        // Alert events: one firing per opened incident, one resolved per closed one.
        let firing = q("SELECT count(*) FROM alert_events WHERE target = '$T' AND kind = 'firing'");
        let resolved =
            q("SELECT count(*) FROM alert_events WHERE target = '$T' AND kind = 'resolved'");
        assert_eq!(firing as usize, opened.len(), "{t}: firing alert events");
        assert_eq!(
            resolved as usize,
            closed.len(),
            "{t}: resolved alert events"
        );

        // State: what the daemon last showed.
        let stored = server().run_sql(
            &db.name,
            &format!("SELECT s.state FROM target_state s JOIN targets t ON t.id = s.target_id WHERE t.key = '{t}'"),
        );
        let want = if t == "tcp-c" { "down" } else { "up" };
        assert_eq!(stored[0][0].as_deref(), Some(want), "{t}: stored state");
    }
    // Transitions: each target's state changes, as announced, each written once (the
    // incidents above); and the samples of the drill are tagged with it.
    let transitions = events
        .iter()
        .filter(|e| matches!(e, Event::StateChanged { .. }))
        .count();
    assert!(
        transitions >= 4 + 5,
        "{transitions} transitions: {events:?}"
    );
    let tagged = count(
        &db.name,
        &format!("SELECT count(*) FROM samples WHERE drill_id = {drill}"),
    );
    assert!(tagged > 0);

    // Outbox: every message delivered once, each arrival one row.
    let outbox = server().run_sql(
        &db.name,
        "SELECT idempotency_key, status FROM outbox ORDER BY id",
    );
    let mut keys: HashMap<String, usize> = HashMap::new();
    for r in collector.accepted() {
        *keys
            .entry(r.header("idempotency-key").unwrap_or_default().to_string())
            .or_default() += 1;
    }
    assert_eq!(outbox.len(), 5, "outbox rows: {outbox:?}");
    for row in &outbox {
        let key = row[0].clone().unwrap();
        assert_eq!(row[1].as_deref(), Some("delivered"), "{row:?}");
        assert_eq!(
            keys.get(&key),
            Some(&1),
            "{key} arrived {:?} times",
            keys.get(&key)
        );
    }
    assert_eq!(
        keys.len(),
        outbox.len(),
        "arrivals without an outbox row: {keys:?}"
    );

    // The drill note: exactly once.
    let notes = count(
        &db.name,
        &format!(
            "SELECT count(*) FROM drill_notes WHERE drill_id = {drill} AND text = 'Mất điện phòng máy cơ sở dữ liệu'"
        ),
    );
    assert_eq!(
        notes, 1,
        "drill note (accepted during the outage: {note_accepted_in_outage})"
    );
    eprintln!(
        "outage summary: write failures {failures1} then {failures2}, backlog {backlog}, \
         {} outbox rows, {transitions} transitions, note accepted during the outage: \
         {note_accepted_in_outage}, {:?} in all",
        outbox.len(),
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(55),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_refuses_to_start_on_a_postgres_that_is_down() {
    let _g = SERVER_USE.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let backing = Backing::postgres("down_at_start");
    let (up, _) = switch_server(200).await;
    let text = format!(
        "{}\n[server]\nlisten = \"127.0.0.1:0\"\n\n[[targets]]\nid = \"t\"\nkind = \"http\"\n\
         url = \"http://{up}/\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
        backing.storage_toml()
    );
    let path = dir.path().join("commwatch.toml");
    std::fs::write(&path, &text).unwrap();
    let place = format!("127.0.0.1:{}", server().port());

    server().kill();
    let result = std::panic::AssertUnwindSafe(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = match App::start_with_listener(config(dir.path(), &text), listener).await {
            Ok(app) => {
                app.shutdown().await;
                panic!("the daemon started on a PostgreSQL that is down");
            }
            Err(e) => e.to_string(),
        };
        assert!(err.contains(&place), "{err}");
        assert!(
            err.to_lowercase().contains("refused") || err.contains("error connecting"),
            "the cause is missing: {err}"
        );

        let t0 = Instant::now();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_commwatch"))
            .args(["run", "-c"])
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("`commwatch run` kept running on a PostgreSQL that is down");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{status}: {stderr}");
        assert!(stderr.contains(&place), "{stderr}");
        assert!(stderr.contains("cannot connect to PostgreSQL"), "{stderr}");
    });
    let outcome = futures_util::FutureExt::catch_unwind(result).await;
    server().start_again();
    if let Err(p) = outcome {
        std::panic::resume_unwind(p);
    }
}

/// A restart between two uses (a maintenance restart, the daemon idle meanwhile): the
/// connections the store holds are dead, but that must cost neither a failed read (an API
/// request answered 500) nor a failed commit (a "degraded" blip and a second's delay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_idle_costs_no_failed_read_or_write() {
    use commwatch::state::TargetState;
    use commwatch::store::{Retention, SampleRow};
    let _g = SERVER_USE.lock().await;
    let backing = Backing::postgres("idle_restart");
    let (store, writer) = backing.open(Retention::default());
    let sample = |at: chrono::DateTime<chrono::Utc>| SampleRow {
        at,
        ok: true,
        degraded: false,
        latency: Duration::from_millis(3),
        error: None,
        detail: None,
        loss: None,
        drill: None,
    };
    let target: Arc<str> = Arc::from("ht-idle");
    let at = chrono::Utc::now();
    store
        .record(target.clone(), sample(at), TargetState::new(at))
        .await
        .unwrap();
    store.flush().await.unwrap();
    // Every reader connection of the pool (4) opened and used.
    for _ in 0..8 {
        assert_eq!(store.sample_count("ht-idle").await.unwrap(), 1);
    }

    for restart in ["fast shutdown", "crash"] {
        if restart == "crash" {
            server().kill();
        } else {
            server().stop_fast();
        }
        server().start_again();
        for i in 0..8 {
            let r = store.sample_count("ht-idle").await;
            assert!(r.is_ok(), "read {i} after a {restart}: {r:?}");
        }
        let at = chrono::Utc::now();
        store
            .record(target.clone(), sample(at), TargetState::new(at))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), store.flush())
            .await
            .expect("the write after the restart never committed")
            .unwrap();
        assert_eq!(
            store.health.write_failures.load(Ordering::Relaxed),
            0,
            "the first commit after a {restart} failed: {:?}",
            store.health.last_error.lock().unwrap()
        );
    }
    assert_eq!(store.sample_count("ht-idle").await.unwrap(), 3);
    drop(store);
    writer.join().await;
}

/// A TCP relay to the PostgreSQL server that, once armed, swallows the server's reply to the
/// next COMMIT (CommandComplete "COMMIT") and cuts both sides: the transaction is committed,
/// but the client never hears so, as when the link or the server dies at that instant.
struct CommitCutter {
    addr: SocketAddr,
    armed: Arc<std::sync::atomic::AtomicBool>,
    cut: Arc<std::sync::atomic::AtomicUsize>,
}

impl CommitCutter {
    async fn start(upstream: u16) -> CommitCutter {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cut = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (a, c) = (armed.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    continue;
                };
                let (a, c) = (a.clone(), c.clone());
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    });
                    // Server to client, message by message (type byte, length, body): plain
                    // TCP, so every message of the protocol is readable.
                    let mut head = [0u8; 5];
                    while sr.read_exact(&mut head).await.is_ok() {
                        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
                        let mut body = vec![0u8; len.saturating_sub(4)];
                        if sr.read_exact(&mut body).await.is_err() {
                            break;
                        }
                        if head[0] == b'C' && body == b"COMMIT\0" && a.swap(false, Ordering::SeqCst)
                        {
                            c.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        if cw.write_all(&head).await.is_err() || cw.write_all(&body).await.is_err()
                        {
                            break;
                        }
                    }
                    up.abort();
                });
            }
        });
        CommitCutter { addr, armed, cut }
    }
}

/// The reply to a COMMIT is lost although the transaction committed: the writer must not
/// commit the same rows a second time (rollups counting a sample twice, alert events and
/// incidents doubled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_reply_is_lost_is_not_written_twice() {
    use commwatch::state::TargetState;
    use commwatch::store::{AlertEventRow, Change, PgSettings, PgTls, Retention, SampleRow};
    let _g = SERVER_USE.lock().await;
    let db = server().database("lost_commit");
    let cutter = CommitCutter::start(server().port()).await;
    let settings = PgSettings {
        url: db.url.replace(
            &format!(":{}/", server().port()),
            &format!(":{}/", cutter.addr.port()),
        ),
        password: Some(db.password.clone()),
        pool_size: 2,
        connect_timeout: Duration::from_secs(5),
        tls: PgTls::Disable,
    };
    let (store, writer) =
        commwatch::store::Store::open_postgres(&settings, Retention::default()).unwrap();
    let target: Arc<str> = Arc::from("ht-lost-commit");
    let change = |at: chrono::DateTime<chrono::Utc>| Change {
        target: target.clone(),
        sample: Some(SampleRow {
            at,
            ok: false,
            degraded: false,
            latency: Duration::from_millis(3),
            error: None,
            detail: None,
            loss: None,
            drill: None,
        }),
        state: Some(TargetState::new(at)),
        incident: None,
        alerts: vec![AlertEventRow {
            target: target.to_string(),
            kind: "firing",
            state: commwatch::state::State::Down,
            at,
            started_at: Some(at),
            cause: None,
            explained_by: None,
            drill_id: None,
        }],
    };
    let t0 = chrono::Utc::now();
    store.record_change(change(t0)).await.unwrap();
    store.flush().await.unwrap();

    cutter.armed.store(true, Ordering::SeqCst);
    store
        .record_change(change(t0 + chrono::Duration::seconds(1)))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(15), store.flush())
        .await
        .expect("the write never committed")
        .unwrap();
    assert_eq!(
        cutter.cut.load(Ordering::SeqCst),
        1,
        "the COMMIT reply was not cut"
    );
    let n = |sql: &str| -> i64 {
        server().run_sql(&db.name, sql)[0][0]
            .as_deref()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(n("SELECT count(*) FROM samples"), 2);
    assert_eq!(
        n("SELECT coalesce(sum(count), 0) FROM rollup_minute"),
        2,
        "a sample counted twice in the rollups"
    );
    assert_eq!(
        n("SELECT count(*) FROM alert_events"),
        2,
        "an alert event written twice"
    );
    drop(store);
    writer.join().await;
}
