//! The PostgreSQL test harness (tests/common/postgres.rs) on the real server: databases are
//! separate, TCP connections need the password, and a killed server comes back with its
//! committed data while clients of the old one get an error instead of hanging.

// Tests unwrap: a panic is how a test reports a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};
use std::time::Duration;

use common::postgres::{TestDb, off_runtime, server};
use postgres::NoTls;
use postgres::error::SqlState;

/// The tests of this binary share one server; the one that kills it takes it alone.
static SERVER_USE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    SERVER_USE.read().unwrap_or_else(|p| p.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    SERVER_USE.write().unwrap_or_else(|p| p.into_inner())
}

/// Runs `sql` as the database's own role over TCP; the first column of each row.
fn query(db: &TestDb, sql: &str) -> Vec<String> {
    off_runtime(|| {
        let mut c = db.config().connect(NoTls).unwrap();
        c.simple_query(sql)
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_string()),
                _ => None,
            })
            .collect()
    })
}

fn connect_error(cfg: &postgres::Config) -> postgres::Error {
    off_runtime(|| match cfg.connect(NoTls) {
        Ok(_) => panic!("the connection should have been refused"),
        Err(e) => e,
    })
}

// A tokio test on purpose: the harness must be usable from async tests, where the sync client
// would panic if it ran on the test's own thread.
#[tokio::test]
async fn each_database_is_its_own_with_a_role_that_owns_it() {
    let _g = shared();
    let pg = server();
    let a = pg.database("Harness A!");
    let b = pg.database("harness-b");
    assert_ne!(a.name, b.name);
    assert_ne!(a.role, b.role);
    for db in [&a, &b] {
        assert!(
            db.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            db.name
        );
        assert_eq!(
            db.url,
            format!("postgres://{}@127.0.0.1:{}/{}", db.role, pg.port(), db.name)
        );
        assert!(!db.url.contains(&db.password));
        assert_eq!(
            std::fs::read_to_string(&db.password_file).unwrap(),
            db.password
        );
    }

    query(
        &a,
        "CREATE TABLE only_a (v text); INSERT INTO only_a VALUES ('from a')",
    );
    query(
        &b,
        "CREATE TABLE only_b (v text); INSERT INTO only_b VALUES ('from b')",
    );
    assert_eq!(query(&a, "SELECT v FROM only_a"), ["from a"]);
    assert_eq!(query(&b, "SELECT v FROM only_b"), ["from b"]);
    assert_eq!(query(&b, "SELECT to_regclass('only_a') IS NULL"), ["t"]);

    // The owner as PostgreSQL records it, seen by the superuser.
    let owner = pg.run_sql(
        "postgres",
        &format!(
            "SELECT datdba::regrole::text FROM pg_database WHERE datname = '{}'",
            a.name
        ),
    );
    assert_eq!(owner, [[Some(a.role.clone())]]);

    // A test's role cannot wander into another test's database.
    let mut a_in_b = a.config();
    a_in_b.dbname(&b.name);
    let e = connect_error(&a_in_b);
    assert_eq!(e.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{e}");

    // The password file goes with the TestDb.
    let file = a.password_file.clone();
    drop(a);
    assert!(!file.exists());
}

#[test]
fn tcp_connections_need_the_password() {
    let _g = shared();
    let pg = server();
    let db = pg.database("harness_pw");

    let mut wrong = db.config();
    wrong.password("not-the-password");
    let e = connect_error(&wrong);
    assert_eq!(e.code(), Some(&SqlState::INVALID_PASSWORD), "{e}");

    let mut admin: postgres::Config = pg.admin_url().parse().unwrap();
    admin.password(format!("{}x", pg.admin_password()));
    let e = connect_error(&admin);
    assert_eq!(e.code(), Some(&SqlState::INVALID_PASSWORD), "{e}");

    admin.password(pg.admin_password());
    let n = off_runtime(|| {
        let mut c = admin.connect(NoTls).unwrap();
        c.query_one(
            "SELECT count(*) FROM pg_roles WHERE rolname = $1",
            &[&db.role],
        )
        .unwrap()
        .get::<_, i64>(0)
    });
    assert_eq!(n, 1);
    assert_eq!(query(&db, "SELECT current_user"), [db.role.as_str()]);
    assert!(pg.log_tail().contains("password authentication failed"));
}

#[test]
fn a_killed_server_comes_back_with_its_data() {
    let _g = exclusive();
    let pg = server();
    let db = pg.database("harness_kill");
    query(&db, "CREATE TABLE kept (n int)");

    for round in 1..=3 {
        // Committed right before the crash, with no pause: it must survive.
        query(&db, &format!("INSERT INTO kept VALUES ({round})"));
        let mut held = db.config().connect(NoTls).unwrap();
        held.simple_query("SELECT 1").unwrap();

        if round == 3 {
            pg.stop_fast();
        } else {
            pg.kill();
        }
        assert!(!pg.is_running());

        // The old connection answers with an error, and promptly.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(held.simple_query("SELECT 1").map(|_| ()));
        });
        let res = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a query on a connection to the dead server hung");
        assert!(res.is_err(), "a query on the dead server succeeded");

        pg.start_again();
        assert!(pg.is_running());
        let want: Vec<String> = (1..=round).map(|n| n.to_string()).collect();
        assert_eq!(
            query(&db, "SELECT n FROM kept ORDER BY n"),
            want,
            "log:\n{}",
            pg.log_tail()
        );
    }
    // A new database after the restarts, as a later test would take one.
    let after = pg.database("harness_after");
    assert_eq!(query(&after, "SELECT 40 + 2"), ["42"]);
}
