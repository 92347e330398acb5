//! What the store needs from an engine: one write connection the writer thread owns, and a way
//! to run reads beside it. SQLite (`sqlite.rs`) and PostgreSQL (`postgres.rs`) each provide both;
//! everything above this speaks portable SQL through [`Sql`].

use super::sql::{Engine, Sql, SqlError};

/// A statement callback run inside a transaction or on a read connection.
pub(crate) type SqlFn<'a> = &'a mut dyn FnMut(&mut dyn Sql) -> Result<(), SqlError>;

/// The writer's connection.
pub(crate) trait WriteConn: Send {
    fn engine(&self) -> Engine;
    /// Runs `f` inside one transaction: committed when it returns `Ok`, rolled back otherwise.
    fn transaction(&mut self, f: SqlFn<'_>) -> Result<(), SqlError>;
    /// Called after a storage failure, before the next attempt: a backend whose connection was
    /// lost opens a new one here.
    fn recover(&mut self) {}
}

/// Reads beside the writer (SQLite's WAL reader, PostgreSQL's pool).
pub(crate) trait ReadConn: Send + Sync {
    fn read(&self, f: SqlFn<'_>) -> Result<(), SqlError>;
}
