//! The embedded backend: one SQLite file in WAL mode, a write connection owned by the writer
//! thread and a read-only connection beside it (WAL: readers never block the writer).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;
use super::backend::{ReadConn, SqlFn, WriteConn};
use super::migrations;
use super::sql::{Engine, SqlError, SqliteSql};

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL: readers never block the writer. NORMAL sync is durable across a process crash, which
    // is the failure that matters here; an OS crash may lose the last commit.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // WAL checkpoints run automatically inside the writer's commits, which happen on the
    // writer thread: they never delay probing.
    conn.busy_timeout(Duration::from_secs(2))?;
    // The writer's batched upserts come in up to ten sizes per table (writer.rs): room for
    // all of them beside every other statement, so none is parsed again per batch.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

/// Opens (creating if needed) the database file, applies migrations, and returns the writer's
/// connection and the reader.
pub(super) fn open(path: &Path) -> Result<(SqliteWriter, SqliteReader), StoreError> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::CreateDir(dir.to_path_buf(), e))?;
    }
    let open_err = |e| StoreError::Open(path.display().to_string(), SqlError::Sqlite(e));
    let mut conn = Connection::open(path).map_err(open_err)?;
    configure(&conn).map_err(open_err)?;
    migrations::sqlite(&mut conn, &path.display().to_string())?;
    let reader = open_reader(path)?;
    Ok((SqliteWriter(conn), SqliteReader(Mutex::new(reader))))
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |e| StoreError::Open(path.display().to_string(), SqlError::Sqlite(e));
    let reader = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    reader
        .busy_timeout(Duration::from_secs(5))
        .map_err(open_err)?;
    Ok(reader)
}

/// Opens a database file read-only, for tests and tools that inspect it directly.
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::Open(path.display().to_string(), SqlError::Sqlite(e)))
}

/// The schema of a database file, read without changing it (none for a missing file).
pub(super) fn status(path: &Path) -> Result<migrations::SchemaStatus, StoreError> {
    if !path.exists() {
        return Ok(migrations::SchemaStatus {
            applied: None,
            latest: migrations::latest_sqlite() as i64,
        });
    }
    let conn = open_read_only(path)?;
    migrations::sqlite_status(&conn).map_err(|e| StoreError::Open(path.display().to_string(), e))
}

pub(super) struct SqliteWriter(Connection);

impl WriteConn for SqliteWriter {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn transaction(&mut self, f: SqlFn<'_>) -> Result<(), SqlError> {
        // IMMEDIATE takes the write lock up front, so a busy database fails here (and is
        // retried whole) rather than halfway through the batch.
        let tx = self
            .0
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        f(&mut SqliteSql(&tx))?;
        tx.commit()?;
        Ok(())
    }
}

pub(super) struct SqliteReader(Mutex<Connection>);

impl ReadConn for SqliteReader {
    fn read(&self, f: SqlFn<'_>) -> Result<(), SqlError> {
        // A poisoned lock only means another reader panicked mid-query; the connection itself
        // is still usable, so take it back.
        let conn = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut SqliteSql(&conn))
    }
}
