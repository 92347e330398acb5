//! One store contract, two engines: a test written once against [`Backing`] runs on a SQLite
//! file and on a database of the throwaway PostgreSQL server, with the same fixtures and the
//! same expected results (`contract!` makes the pair of tests).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use commwatch::store::{PgSettings, PgTls, Retention, Store, WriterHandle};

use super::postgres::{TestDb, server};

/// Where a test's record lives.
pub enum Backing {
    Sqlite(tempfile::TempDir),
    Postgres(TestDb),
}

impl Backing {
    pub fn sqlite() -> Self {
        Backing::Sqlite(tempfile::tempdir().unwrap())
    }

    pub fn postgres(hint: &str) -> Self {
        Backing::Postgres(server().database(hint))
    }

    /// The backing `COMMWATCH_TEST_STORE` asks for (SQLite unless it says `postgres`), for a
    /// test that opens a store itself.
    pub fn for_test(hint: &str) -> Self {
        if test_store_is_postgres() {
            Backing::postgres(hint)
        } else {
            Backing::sqlite()
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Backing::Postgres(_))
    }

    /// The SQLite file (only for a SQLite backing).
    pub fn sqlite_path(&self) -> PathBuf {
        match self {
            Backing::Sqlite(dir) => dir.path().join("s.db"),
            Backing::Postgres(_) => panic!("not a SQLite backing"),
        }
    }

    /// How the store reaches this backing's PostgreSQL database.
    pub fn settings(&self) -> PgSettings {
        match self {
            Backing::Postgres(db) => PgSettings {
                url: db.url.clone(),
                password: Some(db.password.clone()),
                pool_size: 4,
                connect_timeout: std::time::Duration::from_secs(5),
                tls: PgTls::Disable,
            },
            Backing::Sqlite(_) => panic!("not a PostgreSQL backing"),
        }
    }

    /// Opens the store (again, after a `join`: a reopen).
    pub fn open(&self, retention: Retention) -> (Store, WriterHandle) {
        match self {
            Backing::Sqlite(_) => Store::open(&self.sqlite_path(), retention).unwrap(),
            Backing::Postgres(_) => Store::open_postgres(&self.settings(), retention).unwrap(),
        }
    }

    /// The `[storage]` table of a daemon configuration using this backing.
    pub fn storage_toml(&self) -> String {
        match self {
            Backing::Sqlite(dir) => format!(
                "[storage]\npath = \"{}\"\n",
                dir.path().join("commwatch.db").display()
            ),
            Backing::Postgres(db) => format!(
                "[storage]\nbackend = \"postgres\"\nurl = \"{}\"\npassword_file = \"{}\"\nsslmode = \"disable\"\n",
                db.url,
                db.password_file.display()
            ),
        }
    }
}

/// `contract!(name)` turns `async fn name(backing: Backing)` into `name::sqlite` and
/// `name::postgres`, each on a multi-threaded runtime.
#[macro_export]
macro_rules! contract {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::stores::Backing::sqlite()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::stores::Backing::postgres(stringify!($name))).await
            }
        }
    };
}

/// The variable that moves the daemon-level tests onto PostgreSQL: `COMMWATCH_TEST_STORE=postgres`
/// (`./test` runs them a second time so). Unset, or `sqlite`, they use a SQLite file.
pub const TEST_STORE_VAR: &str = "COMMWATCH_TEST_STORE";

/// Whether this run's daemons keep their record in PostgreSQL.
pub fn test_store_is_postgres() -> bool {
    match std::env::var(TEST_STORE_VAR) {
        Ok(v) if v == "postgres" => true,
        Ok(v) if v.is_empty() || v == "sqlite" => false,
        Ok(v) => panic!("{TEST_STORE_VAR}={v}: expected `sqlite` or `postgres`"),
        Err(_) => false,
    }
}

/// The PostgreSQL database of each test dir, so that a second call for the same dir (a test
/// that rewrites its configuration for a reload) names the same database.
static TEST_DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

/// The `[storage]` table (ending in a newline) for a daemon whose files live in `dir`: the
/// SQLite file `dir/commwatch.db`, or, under `COMMWATCH_TEST_STORE=postgres`, a fresh database
/// of the test binary's PostgreSQL server. Its password is copied to `dir/pg-password`, so it
/// lasts exactly as long as the test's dir (the daemon and a reload read it); the database
/// itself stays until the server exits. Every daemon-starting helper takes its `[storage]`
/// from here. The `Backing` is returned for a test that wants the database itself (its name,
/// for `run_sql`); dropping it removes only its own copy of the password.
pub fn storage_for_test(dir: &Path) -> (String, Option<Backing>) {
    if !test_store_is_postgres() {
        return (sqlite_storage_toml(dir), None);
    }
    let hint = std::thread::current()
        .name()
        .map(|n| n.rsplit("::").next().unwrap_or(n).to_string())
        .unwrap_or_else(|| "daemon".to_string());
    let mut guard = TEST_DATABASES.lock().unwrap_or_else(|p| p.into_inner());
    let known = guard.get_or_insert_with(HashMap::new);
    let (backing, name) = match known.get(dir) {
        Some(name) => (None, name.clone()),
        None => {
            let backing = Backing::postgres(&hint);
            let Backing::Postgres(db) = &backing else {
                unreachable!()
            };
            let name = db.name.clone();
            let copy = dir.join("pg-password");
            std::fs::write(&copy, &db.password).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
            std::fs::write(dir.join("pg-url"), &db.url).unwrap();
            known.insert(dir.to_path_buf(), name.clone());
            (Some(backing), name)
        }
    };
    drop(guard);
    let url = std::fs::read_to_string(dir.join("pg-url")).unwrap();
    debug_assert!(url.ends_with(&format!("/{name}")));
    let toml = format!(
        "[storage]\nbackend = \"postgres\"\nurl = \"{url}\"\npassword_file = \"{}\"\nsslmode = \"disable\"\n",
        dir.join("pg-password").display()
    );
    (toml, backing)
}

/// The SQLite `[storage]` table whatever the variable says, for a test about SQLite itself.
pub fn sqlite_storage_toml(dir: &Path) -> String {
    format!(
        "[storage]\npath = \"{}\"\n",
        dir.join("commwatch.db").display()
    )
}

/// Runs one read-only statement on the record of the daemon whose `[storage]` came from
/// [`storage_for_test`] for `dir` (the SQLite file, or the PostgreSQL database as the
/// superuser), and returns every row's values as text (NULL as `None`). The SQL must be
/// portable; put values in its text (no parameters).
pub fn test_sql(dir: &Path, sql: &str) -> Vec<Vec<Option<String>>> {
    let db = TEST_DATABASES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|m| m.get(dir).cloned());
    match db {
        Some(name) => server().run_sql(&name, sql),
        None => {
            use rusqlite::types::ValueRef;
            let conn = commwatch::store::open_read_only(&dir.join("commwatch.db")).unwrap();
            let mut stmt = conn.prepare(sql).unwrap();
            let n = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            let mut out = Vec::new();
            while let Some(r) = rows.next().unwrap() {
                out.push(
                    (0..n)
                        .map(|i| match r.get_ref(i).unwrap() {
                            ValueRef::Null => None,
                            ValueRef::Integer(v) => Some(v.to_string()),
                            ValueRef::Real(v) => Some(v.to_string()),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                        })
                        .collect(),
                );
            }
            out
        }
    }
}
