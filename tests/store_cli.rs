//! `commwatch store migrate|check|copy` run as the real binary against a SQLite file and the
//! throwaway PostgreSQL server: exit codes and JSON of `check`, a verified copy of a seeded
//! 30-day record that can be run again and resumed after an interruption, a PostgreSQL store
//! that keeps working after the copy, and TLS to the server (`verify-full`, `require`,
//! `disable`) checked by what the server says it negotiated.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::postgres::{TestDb, server};
use common::stores::Backing;
use commwatch::args;
use commwatch::state::{IncidentChange, State, TargetState};
use commwatch::store::acks::AckOutcome;
use commwatch::store::{
    IncidentFilter, IncidentWrite, PgSettings, PgTls, Retention, SampleRow, Store,
};
use serde_json::Value;

/// Every table of the schema: a copy must carry rows of each.
const TABLES: &[&str] = &[
    "targets",
    "samples",
    "target_state",
    "incidents",
    "rollup_minute",
    "rollup_hour",
    "rollup_day",
    "rollup_week",
    "alert_events",
    "alert_groups",
    "outbox",
    "silences",
    "incident_acks",
    "drills",
    "drill_targets",
    "drill_notes",
    "heartbeats",
];

/// Runs `commwatch ARGS`, failing the test if it takes longer than `limit`.
fn cli(args: &[&str], limit: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_commwatch"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // SAFETY: signals the child we spawned; it is not reaped yet (the waiting thread
            // is still blocked in wait), so the pid is still its own.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("commwatch {args:?} did not finish within {limit:?}");
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn write_config(dir: &Path, storage: &str) -> PathBuf {
    let path = dir.join("commwatch.toml");
    std::fs::write(
        &path,
        format!("{storage}\n[[targets]]\nid = \"t\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n"),
    )
    .unwrap();
    path
}

fn check(config: &Path) -> (i32, Value) {
    let o = cli(
        &["store", "check", "-c", config.to_str().unwrap(), "--json"],
        Duration::from_secs(30),
    );
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (code(&o), v)
}

fn migrate(config: &Path) -> Output {
    cli(
        &["store", "migrate", "-c", config.to_str().unwrap()],
        Duration::from_secs(30),
    )
}

/// migrate and check on one backing: behind before, up to date after, newer refused.
fn migrate_and_check(b: &Backing) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &b.storage_toml());
    let (c, v) = check(&config);
    assert_eq!(c, 1, "a database without the schema is behind: {v}");
    assert_eq!(v["up_to_date"], false, "{v}");
    assert!(v["applied"].is_null(), "{v}");
    let latest = v["latest"].as_i64().unwrap();
    assert!(latest >= 1);
    // The human-readable form says the same.
    let o = cli(
        &["store", "check", "-c", config.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(code(&o), 1);
    assert!(text(&o.stdout).contains("behind"), "{}", text(&o.stdout));

    let o = migrate(&config);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&format!("schema {latest} (up to date)")),
        "{}",
        text(&o.stdout)
    );
    let (c, v) = check(&config);
    assert_eq!(c, 0, "{v}");
    assert_eq!(v["up_to_date"], true, "{v}");
    assert_eq!(v["reachable"], true, "{v}");
    assert_eq!(v["applied"].as_i64(), Some(latest), "{v}");
    let backend = v["backend"].as_str().unwrap();
    assert!(
        backend.starts_with(if b.is_postgres() {
            "postgres"
        } else {
            "sqlite"
        }),
        "{v}"
    );
    // Migrating again changes nothing.
    let o = migrate(&config);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));

    // A newer commwatch applied a migration this one does not know: check says so, and
    // migrate refuses and leaves it.
    let newer = "INSERT INTO refinery_schema_history(version, name, applied_on, checksum)
                 VALUES (99, 'from_the_future', '2027-01-01T00:00:00Z', '1')";
    match b {
        Backing::Sqlite(d) => {
            let path = d.path().join("commwatch.db");
            rusqlite::Connection::open(path)
                .unwrap()
                .execute(newer, [])
                .unwrap();
        }
        Backing::Postgres(db) => {
            server().run_sql(&db.name, newer);
        }
    }
    let (c, v) = check(&config);
    assert_eq!(c, 1, "{v}");
    assert_eq!(v["applied"].as_i64(), Some(99), "{v}");
    let o = migrate(&config);
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("newer than this commwatch"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn migrate_and_check_on_sqlite() {
    migrate_and_check(&Backing::sqlite());
}

#[test]
fn migrate_and_check_on_postgres() {
    migrate_and_check(&Backing::postgres("cli_migrate"));
}

#[test]
fn check_and_migrate_say_2_when_postgres_cannot_be_reached() {
    let db = server().database("cli_unreachable");
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = db
        .url
        .replace(&format!(":{}/", server().port()), &format!(":{port}/"));
    let config = write_config(
        dir.path(),
        &format!(
            "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\npassword_file = \"{}\"\nsslmode = \"disable\"\nconnect_timeout = \"2s\"\n",
            db.password_file.display()
        ),
    );
    let o = cli(
        &["store", "check", "-c", config.to_str().unwrap(), "--json"],
        Duration::from_secs(30),
    );
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reachable"], false, "{v}");
    assert_eq!(v["up_to_date"], false, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("Connection refused"),
        "{v}"
    );
    assert!(!err.contains(&db.password), "{err}");
    let o = migrate(&config);
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    // A wrong password is unreachable too, and says why.
    std::fs::write(&db.password_file, "not-the-password").unwrap();
    let password = db.password.clone();
    let backing = Backing::Postgres(db);
    let config = write_config(dir.path(), &backing.storage_toml());
    let o = cli(
        &["store", "check", "-c", config.to_str().unwrap()],
        Duration::from_secs(30),
    );
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains(&password), "{err}");
}

fn sample(at: DateTime<Utc>, ok: bool, latency_ms: u64) -> SampleRow {
    SampleRow {
        at,
        ok,
        degraded: false,
        latency: Duration::from_millis(latency_ms),
        error: (!ok).then_some(commwatch::probe::ErrorCode::Timeout),
        detail: (!ok).then(|| "timed out".to_string()),
        loss: None,
        drill: Some(1),
    }
}

/// A SQLite record with rows in every table: 30 days of seeded rollups for 30 targets, and
/// real samples, states, incidents, acknowledgements, alert events, groups, outbox messages,
/// silences, drills, drill targets, notes and heartbeats written through the store.
async fn seeded_sqlite(path: &Path) {
    let (store, writer) = Store::open(path, Retention::default()).unwrap();
    let now = Utc::now();
    let keys: Vec<String> = (0..30).map(|i| format!("ht-seed-{i:02}")).collect();
    store
        .seed_rollups(keys, now - chrono::Duration::days(30), now)
        .await
        .unwrap();
    store
        .write(|tx| {
            tx.execute(
                "INSERT INTO drills(name, scope, baseline_ms, planned_start_ms, planned_end_ms,
                                    started_at_ms, started_by)
                 VALUES ('Diễn tập bão số 5', '{}', 3600000, 1, 2, 1, 'chi-huy')",
                args![],
            )?;
            tx.execute(
                "INSERT INTO drill_targets(drill_id, target) VALUES (1, 'ht-real-a'), (1, 'ht-real-b')",
                args![],
            )?;
            tx.execute(
                "INSERT INTO drill_notes(drill_id, at_ms, author, text, created_at_ms)
                 VALUES (1, 5, 'truc-ban', 'Cắt điện trạm', 5)",
                args![],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    // A day of one-minute samples for two real targets (enough for several chunks).
    let start = now - chrono::Duration::hours(25);
    for (k, key) in ["ht-real-a", "ht-real-b"].into_iter().enumerate() {
        let key: Arc<str> = Arc::from(key);
        for m in 0..1_500i64 {
            let at = start + chrono::Duration::minutes(m);
            let ok = m % (7 + k as i64) != 0;
            store
                .record(
                    key.clone(),
                    sample(at, ok, 10 + (m % 17) as u64),
                    TargetState::new(at),
                )
                .await
                .unwrap();
        }
        for i in 0..3 {
            let opened = start + chrono::Duration::hours(i * 3);
            for change in [
                IncidentChange::Opened {
                    started_at: opened,
                    detected_at: opened + chrono::Duration::minutes(2),
                    state: State::Down,
                    explained_by: None,
                },
                IncidentChange::Closed {
                    ended_at: opened + chrono::Duration::minutes(20),
                },
            ] {
                store
                    .record_incident(
                        key.clone(),
                        IncidentWrite {
                            change,
                            cause_error: Some(commwatch::probe::ErrorCode::Timeout),
                            cause_detail: Some("timed out".into()),
                            drill: Some(1),
                        },
                    )
                    .await
                    .unwrap();
            }
        }
    }
    // One incident left open, acknowledged twice.
    store
        .record_incident(
            Arc::from("ht-real-a"),
            IncidentWrite {
                change: IncidentChange::Opened {
                    started_at: now - chrono::Duration::minutes(30),
                    detected_at: now - chrono::Duration::minutes(29),
                    state: State::Down,
                    explained_by: None,
                },
                cause_error: None,
                cause_detail: None,
                drill: None,
            },
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    let open = store
        .incidents(IncidentFilter {
            limit: 1,
            ..IncidentFilter::default()
        })
        .await
        .unwrap()[0]
        .id;
    for who in ["truc-ban-1", "truc-ban-2"] {
        let r = store
            .ack_incident(open, who.into(), "Đã gọi VNPT".into(), now)
            .await
            .unwrap();
        assert!(matches!(r, AckOutcome::Recorded(_)), "{r:?}");
    }
    store
        .write(move |tx| {
            for i in 0..30i64 {
                tx.execute(
                    "INSERT INTO alert_events(target, kind, state, at_ms, started_at_ms, cause, processed)
                     VALUES (?1, 'firing', 'down', ?2, ?2, 'timed out', 1)",
                    args![format!("ht-seed-{:02}", i % 30), 1_000 + i],
                )?;
                tx.execute(
                    "INSERT INTO outbox(receiver, group_key, idempotency_key, status, notification,
                                        created_at_ms, attempts, next_attempt_at_ms, last_status, delivered_at_ms)
                     VALUES ('ops', ?1, ?2, 'delivered', '{}', ?3, 1, ?3, 200, ?3)",
                    args![format!("target=ht-seed-{i:02}"), format!("idem-{i}"), 2_000 + i],
                )?;
            }
            tx.execute(
                "INSERT INTO alert_groups(receiver, group_key, data) VALUES ('ops', 'target=ht-real-a', '{}')",
                args![],
            )?;
            tx.execute(
                "INSERT INTO silences(matchers, starts_at_ms, ends_at_ms, author, reason, created_at_ms)
                 VALUES ('{}', 1, 2, 'chi-huy', 'bảo trì', 1)",
                args![],
            )?;
            tx.execute(
                "INSERT INTO heartbeats(target, at_ms, status, message, pushes) VALUES ('ht-push', 7, 'ok', 'đang chạy', 3)",
                args![],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let counts = table_counts(&store).await;
    for t in TABLES {
        assert!(
            counts[*t] > 0,
            "the seeded record has no {t} rows: {counts:?}"
        );
    }
    drop(store);
    writer.join().await;
}

async fn table_counts(store: &Store) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for t in TABLES {
        let n = store
            .query(move |c| {
                c.query_one(&format!("SELECT count(*) FROM {t}"), args![])?
                    .get::<u64>(0)
            })
            .await
            .unwrap();
        out.insert(t.to_string(), n);
    }
    out
}

fn copy_args<'a>(from: &'a str, db: &'a TestDb) -> Vec<&'a str> {
    vec![
        "store",
        "copy",
        "--from",
        from,
        "--to",
        &db.url,
        "--password-file",
        db.password_file.to_str().unwrap(),
        "--json",
    ]
}

/// Runs a copy with `--json`; its report, after checking it verified.
fn copy_verified(from: &str, db: &TestDb) -> Value {
    let o = cli(&copy_args(from, db), Duration::from_secs(40));
    assert_eq!(
        code(&o),
        0,
        "copy: {}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["mismatches"], serde_json::json!([]), "{report}");
    assert_eq!(report["targets_compared"], 32, "{report}");
    let tables = report["tables"].as_array().unwrap();
    assert_eq!(tables.len(), TABLES.len(), "{report}");
    for t in tables {
        assert_eq!(t["source"], t["destination"], "{t}");
        assert!(t["source"].as_u64().unwrap() > 0, "{t}");
    }
    report
}

fn inserted(report: &Value) -> HashMap<String, u64> {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["inserted"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn pg_count(db: &TestDb, sql: &str) -> i64 {
    server().run_sql(&db.name, sql)[0][0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap()
}

fn settings(db: &TestDb, tls: PgTls) -> PgSettings {
    PgSettings {
        url: db.url.clone(),
        password: Some(db.password.clone()),
        pool_size: 2,
        connect_timeout: Duration::from_secs(5),
        tls,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_sqlite_verifies_resumes_and_leaves_a_working_postgres() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("room.db");
    seeded_sqlite(&path).await;
    let from = format!("sqlite:{}", path.display());
    let (src, src_writer) = Store::open(&path, Retention::default()).unwrap();
    let source = table_counts(&src).await;
    drop(src);
    src_writer.join().await;

    // A plain run says it verified, in words.
    let db = server().database("cli_copy");
    let mut args = copy_args(&from, &db);
    args.pop();
    let o = cli(&args, Duration::from_secs(40));
    assert_eq!(code(&o), 0, "{}\n{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).contains(
            "copied and verified: row counts equal, 30-day availability equal for 32 targets"
        ),
        "{}",
        text(&o.stdout)
    );
    // Progress names every table.
    for t in TABLES {
        assert!(text(&o.stderr).contains(t), "{}", text(&o.stderr));
    }
    for t in TABLES {
        assert_eq!(
            pg_count(&db, &format!("SELECT count(*) FROM {t}")) as u64,
            source[*t],
            "{t}"
        );
    }

    // Again: nothing new, nothing doubled, still verified.
    let again = copy_verified(&from, &db);
    assert!(
        inserted(&again).values().all(|n| *n == 0),
        "a second copy inserted rows: {again}"
    );
    for t in TABLES {
        assert_eq!(
            pg_count(&db, &format!("SELECT count(*) FROM {t}")) as u64,
            source[*t],
            "{t} after the second copy"
        );
    }

    // Interrupted: the CLI is killed once the first table is done.
    let db2 = server().database("cli_copy_interrupted");
    let mut child = Command::new(env!("CARGO_BIN_EXE_commwatch"))
        .args(copy_args(&from, &db2).iter().take(8))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    // The progress line of the first table (log lines may come before it); the pipe ends
    // if the copy fails or finishes, so this read is bounded.
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        seen.push_str(&line);
        if n == 0 || line.starts_with("targets") {
            break;
        }
    }
    assert!(
        seen.contains("targets"),
        "no progress from the copy: {seen}"
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGKILL),
        "the copy finished before it could be interrupted: {status}"
    );
    let partial = pg_count(&db2, "SELECT count(*) FROM samples")
        + pg_count(&db2, "SELECT count(*) FROM heartbeats");
    assert!(
        (partial as u64) < source["samples"] + source["heartbeats"],
        "the interrupted copy had copied everything"
    );
    // Even interrupted, the destination takes new rows: the targets' id generator already
    // continues past the copied ids.
    let next = pg_count(
        &db2,
        "SELECT nextval(pg_get_serial_sequence('targets', 'id'))",
    );
    let copied = pg_count(&db2, "SELECT coalesce(max(id), 0) FROM targets");
    assert!(
        copied > 0 && next > copied,
        "next target id {next}, copied up to {copied}"
    );
    let resumed = copy_verified(&from, &db2);
    assert_eq!(inserted(&resumed)["targets"], 0, "{resumed}");

    // Rows lost in the middle of a table (not only at its end) are found and filled in.
    server().run_sql(
        &db2.name,
        "DELETE FROM samples WHERE (at_ms / 60000) % 2 = 0; DELETE FROM rollup_minute WHERE bucket_ms % 120000 = 0;
         DELETE FROM incident_acks WHERE id = (SELECT min(id) FROM incident_acks)",
    );
    assert!(pg_count(&db2, "SELECT count(*) FROM samples") < source["samples"] as i64);
    let refilled = copy_verified(&from, &db2);
    assert!(inserted(&refilled)["samples"] > 0, "{refilled}");
    assert_eq!(inserted(&refilled)["incident_acks"], 1, "{refilled}");
    for t in TABLES {
        assert_eq!(
            pg_count(&db2, &format!("SELECT count(*) FROM {t}")) as u64,
            source[*t],
            "{t} after the refill"
        );
    }

    // The copied store takes new writes: generated ids continue past the copied ones.
    let max_incident = pg_count(&db, "SELECT max(id) FROM incidents");
    let max_ack = pg_count(&db, "SELECT max(id) FROM incident_acks");
    let (store, writer) =
        Store::open_postgres(&settings(&db, PgTls::Disable), Retention::default()).unwrap();
    let at = Utc::now();
    store
        .record_incident(
            Arc::from("ht-real-b"),
            IncidentWrite {
                change: IncidentChange::Opened {
                    started_at: at,
                    detected_at: at,
                    state: State::Down,
                    explained_by: None,
                },
                cause_error: None,
                cause_detail: None,
                drill: None,
            },
        )
        .await
        .unwrap();
    store
        .record(
            Arc::from("ht-new"),
            sample(at, true, 5),
            TargetState::new(at),
        )
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert!(
        !store
            .health
            .degraded
            .load(std::sync::atomic::Ordering::Relaxed),
        "new writes after the copy failed: {:?}",
        store.health.last_error.lock().unwrap()
    );
    let newest = store
        .incidents(IncidentFilter {
            limit: 1,
            ..IncidentFilter::default()
        })
        .await
        .unwrap()[0]
        .clone();
    assert!(newest.id > max_incident, "{} <= {max_incident}", newest.id);
    let ack = store
        .ack_incident(newest.id, "truc-ban-3".into(), "Nhận ca".into(), at)
        .await
        .unwrap();
    let AckOutcome::Recorded(ack) = ack else {
        panic!("{ack:?}")
    };
    assert!(ack.id > max_ack, "{} <= {max_ack}", ack.id);
    for (table, insert) in [
        (
            "alert_events",
            "INSERT INTO alert_events(target, kind, state, at_ms) VALUES ('ht-new', 'firing', 'down', 1)",
        ),
        (
            "outbox",
            "INSERT INTO outbox(receiver, group_key, idempotency_key, status, notification, created_at_ms, next_attempt_at_ms)
             VALUES ('ops', 'g', 'idem-new', 'pending', '{}', 1, 1)",
        ),
        (
            "drill_notes",
            "INSERT INTO drill_notes(drill_id, at_ms, author, text, created_at_ms) VALUES (1, 9, 'a', 'b', 9)",
        ),
        (
            "silences",
            "INSERT INTO silences(matchers, starts_at_ms, ends_at_ms, author, reason, created_at_ms)
             VALUES ('{}', 1, 2, 'a', 'b', 1)",
        ),
        (
            "drills",
            "INSERT INTO drills(name, scope, baseline_ms, planned_start_ms, planned_end_ms, started_at_ms, started_by)
             VALUES ('x', '{}', 1, 1, 2, 1, 'a')",
        ),
    ] {
        let r = store
            .write(move |tx| tx.execute(insert, args![]).map(|_| ()))
            .await;
        assert!(r.is_ok(), "{table}: a new row clashes with a copied id: {r:?}");
    }
    let targets_before = source["targets"] as i64;
    assert_eq!(
        pg_count(&db, "SELECT count(*) FROM targets"),
        targets_before + 1
    );
    drop(store);
    writer.join().await;
    assert!(t0.elapsed() < Duration::from_secs(55), "{:?}", t0.elapsed());
}

/// Whether the store's own connection is encrypted, as the server sees it.
async fn negotiated_tls(store: &Store) -> bool {
    store
        .query(|c| {
            c.query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                args![],
            )?
            .get::<bool>(0)
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verify_full_with_the_servers_ca_connects_encrypted() {
    let db = server().database("tls_verify_full");
    // Through the configuration, as an operator writes it.
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[storage]\nbackend = \"postgres\"\nurl = \"{}\"\npassword_file = \"{}\"\nsslmode = \"verify-full\"\nca_file = \"{}\"\n\n\
         [[targets]]\nid = \"t\"\nkind = \"tcp\"\naddress = \"127.0.0.1:9\"\n",
        db.url,
        db.password_file.display(),
        server().ca_file().display()
    );
    let cfg = commwatch::config::Config::from_str_at(&dir.path().join("c.toml"), &toml)
        .unwrap_or_else(|e| panic!("{e}"));
    let (store, writer) = Store::open_configured(&cfg.storage).unwrap();
    assert!(negotiated_tls(&store).await, "verify-full ran without TLS");
    // The writer's connection too.
    let at = Utc::now();
    store
        .record(Arc::from("t"), sample(at, true, 3), TargetState::new(at))
        .await
        .unwrap();
    store.flush().await.unwrap();
    assert!(
        !store
            .health
            .degraded
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    let writers_tls = pg_count(
        &db,
        &format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid
             WHERE a.datname = '{}' AND a.usename = '{}' AND NOT s.ssl",
            db.name, db.role
        ),
    );
    assert_eq!(writers_tls, 0, "a connection of the store is not encrypted");
    drop(store);
    writer.join().await;

    // `localhost` is on the certificate too.
    let mut s = settings(
        &db,
        PgTls::VerifyFull {
            ca_file: Some(server().ca_file().to_path_buf()),
        },
    );
    s.url = db.url.replace("127.0.0.1", "localhost");
    let (store, writer) = Store::open_postgres(&s, Retention::default()).unwrap();
    assert!(negotiated_tls(&store).await);
    drop(store);
    writer.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verify_full_with_another_ca_is_refused_with_a_tls_error() {
    let db = server().database("tls_other_ca");
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "some other CA");
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, params.self_signed(&key).unwrap().pem()).unwrap();
    let r = Store::open_postgres(
        &settings(
            &db,
            PgTls::VerifyFull {
                ca_file: Some(other),
            },
        ),
        Retention::default(),
    );
    let err = match r {
        Ok(_) => panic!("verify-full trusted a certificate from another CA"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("127.0.0.1:{}", server().port())),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("certificate"),
        "the refusal does not say it is the certificate: {err}"
    );
    assert!(!err.contains(&db.password), "{err}");
    eprintln!("refused as it should be: {err}");

    // And the public roots do not vouch for a private CA either.
    let r = Store::open_postgres(
        &settings(&db, PgTls::VerifyFull { ca_file: None }),
        Retention::default(),
    );
    assert!(
        r.is_err(),
        "verify-full with the public roots trusted the test CA"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_require_encrypts_without_a_ca_and_disable_stays_plain() {
    let db = server().database("tls_require");
    for (tls, want) in [
        (PgTls::Require, true),
        (PgTls::Prefer, true),
        (PgTls::Disable, false),
    ] {
        let (store, writer) =
            Store::open_postgres(&settings(&db, tls.clone()), Retention::default())
                .unwrap_or_else(|e| panic!("{tls:?}: {e}"));
        assert_eq!(negotiated_tls(&store).await, want, "{tls:?}");
        drop(store);
        writer.join().await;
    }
}

/// `store copy --to postgres://...?sslmode=...&sslrootcert=...`: the TLS the URL asks for, as
/// libpq reads it, not silently `prefer`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_takes_tls_from_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    let (store, writer) = Store::open(&path, Retention::default()).unwrap();
    drop(store);
    writer.join().await;
    let from = format!("sqlite:{}", path.display());
    let db = server().database("cli_copy_tls");
    let run = |query: &str| {
        let to = format!("{}?{query}", db.url);
        cli(
            &[
                "store",
                "copy",
                "--from",
                &from,
                "--to",
                &to,
                "--password-file",
                db.password_file.to_str().unwrap(),
            ],
            Duration::from_secs(30),
        )
    };
    let ca = server().ca_file().display().to_string();
    let o = run(&format!("sslmode=verify-full&sslrootcert={ca}"));
    assert_eq!(code(&o), 0, "{}\n{}", text(&o.stdout), text(&o.stderr));
    assert!(
        text(&o.stdout).contains("copied and verified"),
        "{}",
        text(&o.stdout)
    );

    // Another CA: refused, saying it is the certificate.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, params.self_signed(&key).unwrap().pem()).unwrap();
    let o = run(&format!(
        "sslmode=verify-full&sslrootcert={}",
        other.display()
    ));
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("invalid peer certificate"),
        "{}",
        text(&o.stderr)
    );

    for (query, why) in [
        ("sslmode=verify-ca", "sslmode \"verify-ca\""),
        ("sslmode=require&sslrootcert=/nonexistent", "sslrootcert"),
    ] {
        let o = run(query);
        assert_eq!(code(&o), 2, "{query}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(why),
            "{query}: {}",
            text(&o.stderr)
        );
    }
    let o = run("sslmode=require&application_name=copy");
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
}
