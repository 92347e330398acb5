//! Numbered migrations of both engines (`migrations/sqlite/V*__*.sql`,
//! `migrations/postgres/V*__*.sql`), applied at start by refinery in one transaction, with one
//! history table (`refinery_schema_history`). A database that has a migration this binary does not
//! know is newer than it: commwatch refuses to run and changes nothing.

use refinery::error::Kind;
use refinery::{Migration, Runner, Target};

use super::StoreError;
use super::sql::SqlError;

/// SQLite's migrations, in order. A new one is appended here and in `migrations/sqlite/`.
const SQLITE: &[(&str, &str)] = &[
    ("V1__init", include_str!("migrations/sqlite/V1__init.sql")),
    (
        "V2__history",
        include_str!("migrations/sqlite/V2__history.sql"),
    ),
    (
        "V3__alerting",
        include_str!("migrations/sqlite/V3__alerting.sql"),
    ),
    ("V4__acks", include_str!("migrations/sqlite/V4__acks.sql")),
    (
        "V5__drills",
        include_str!("migrations/sqlite/V5__drills.sql"),
    ),
    (
        "V6__heartbeats",
        include_str!("migrations/sqlite/V6__heartbeats.sql"),
    ),
    (
        "V7__week_rollups",
        include_str!("migrations/sqlite/V7__week_rollups.sql"),
    ),
];

/// PostgreSQL's migrations, in order. The first is the whole schema SQLite reached in its six;
/// from here on both engines gain the same numbered steps.
const POSTGRES: &[(&str, &str)] = &[
    (
        "V1__schema",
        include_str!("migrations/postgres/V1__schema.sql"),
    ),
    (
        "V2__week_rollups",
        include_str!("migrations/postgres/V2__week_rollups.sql"),
    ),
];

/// The schema version this binary brings each engine to.
pub fn latest_sqlite() -> usize {
    SQLITE.len()
}

pub fn latest_postgres() -> usize {
    POSTGRES.len()
}

fn runner(set: &[(&str, &str)], place: &str) -> Result<Runner, StoreError> {
    let migrations = set
        .iter()
        .map(|(name, sql)| Migration::unapplied(name, sql))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Migration(place.to_string(), e.to_string()))?;
    // Grouped: every pending migration and its history row commit together, so a crash never
    // leaves a schema change without its record. Abort on missing: a database that has a
    // migration we do not know is newer than this binary.
    Ok(Runner::new(&migrations)
        .set_grouped(true)
        .set_abort_missing(true)
        .set_abort_divergent(true))
}

fn refinery_error(e: refinery::Error, place: &str, latest: usize) -> StoreError {
    match e.kind() {
        Kind::MissingVersion(m) => {
            StoreError::TooNew(place.to_string(), m.version().into(), latest)
        }
        _ => StoreError::Migration(place.to_string(), e.to_string()),
    }
}

/// Brings a SQLite database to the latest schema.
pub(super) fn sqlite(conn: &mut rusqlite::Connection, place: &str) -> Result<(), StoreError> {
    let q = |e| StoreError::Open(place.to_string(), SqlError::Sqlite(e));
    // Databases made before refinery carry their schema version in PRAGMA user_version.
    let legacy: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(q)?;
    if legacy > SQLITE.len() as i64 {
        return Err(StoreError::TooNew(place.to_string(), legacy, SQLITE.len()));
    }
    let has_history: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history'",
            [],
            |r| r.get(0),
        )
        .map_err(q)?;
    if legacy > 0 && !has_history {
        // Record the migrations such a database already has, without running them again.
        runner(SQLITE, place)?
            .set_target(Target::FakeVersion(legacy as i32))
            .run(conn)
            .map_err(|e| refinery_error(e, place, SQLITE.len()))?;
    }
    let report = runner(SQLITE, place)?
        .run(conn)
        .map_err(|e| refinery_error(e, place, SQLITE.len()))?;
    for m in report.applied_migrations() {
        tracing::info!(migration = %m, "applied store migration");
    }
    // Kept in step, so a commwatch from before refinery still refuses a newer database.
    conn.pragma_update(None, "user_version", SQLITE.len() as i64)
        .map_err(q)?;
    Ok(())
}

/// Brings a PostgreSQL database to the latest schema. Instances starting together take an
/// advisory lock, so only one migrates and the others find the work done.
pub(super) fn postgres(client: &mut postgres::Client, place: &str) -> Result<(), StoreError> {
    // An arbitrary constant: "commwatch" in ASCII, truncated to fit a bigint.
    const LOCK: i64 = 0x636f_6d6d_7761_7463;
    let q = |e| StoreError::Open(place.to_string(), SqlError::Postgres(e));
    // Bounded: an instance whose migration hangs must not hold every other one at start.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK])
            .map_err(q)?
            .get(0);
        if got {
            break;
        }
        if std::time::Instant::now() >= deadline {
            return Err(StoreError::Migration(
                place.to_string(),
                "another commwatch has been migrating this database for 2 minutes; try again"
                    .into(),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let r = runner(POSTGRES, place)?
        .run(client)
        .map_err(|e| refinery_error(e, place, POSTGRES.len()));
    let unlock = client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK]);
    let report = r?;
    unlock.map_err(q)?;
    for m in report.applied_migrations() {
        tracing::info!(migration = %m, "applied store migration");
    }
    Ok(())
}

/// Where a database's schema stands against this binary, for `commwatch store check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SchemaStatus {
    /// The newest migration applied; `None` for an empty database.
    pub applied: Option<i64>,
    /// The newest migration this binary has.
    pub latest: i64,
}

impl SchemaStatus {
    pub fn up_to_date(&self) -> bool {
        self.applied == Some(self.latest)
    }

    pub fn too_new(&self) -> bool {
        self.applied.is_some_and(|a| a > self.latest)
    }
}

/// A SQLite file's schema, read without changing it.
pub(super) fn sqlite_status(conn: &rusqlite::Connection) -> Result<SchemaStatus, SqlError> {
    let has_history: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'refinery_schema_history'",
        [],
        |r| r.get(0),
    )?;
    let applied = if has_history {
        conn.query_row(
            "SELECT max(version) FROM refinery_schema_history",
            [],
            |r| r.get::<_, Option<i64>>(0),
        )?
    } else {
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        (v > 0).then_some(v)
    };
    Ok(SchemaStatus {
        applied,
        latest: SQLITE.len() as i64,
    })
}

/// A PostgreSQL database's schema, read without changing it.
pub(super) fn postgres_status(client: &mut postgres::Client) -> Result<SchemaStatus, SqlError> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )?
        .get(0);
    let applied = if exists {
        client
            .query_one(
                "SELECT max(version)::bigint FROM refinery_schema_history",
                &[],
            )?
            .get::<_, Option<i64>>(0)
    } else {
        None
    };
    Ok(SchemaStatus {
        applied,
        latest: POSTGRES.len() as i64,
    })
}
