//! One store contract, two engines: a test written once against [`Backing`] runs on a SQLite
//! file and on a database of the throwaway PostgreSQL server, with the same fixtures and the
//! same expected results (`contract!` makes the pair of tests).

use std::path::PathBuf;

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
