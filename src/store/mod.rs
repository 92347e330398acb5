//! SQLite storage: one writer thread batching transactions, a separate read connection, WAL so
//! readers never block the writer, numbered migrations applied by `PRAGMA user_version`, rollups
//! written with every sample, and retention that runs in the writer between batches.

pub mod acks;
mod heartbeats;
mod queries;
pub mod rollup;
pub mod seed;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{mpsc, oneshot};

pub(crate) use queries::availability_by_target;
pub use queries::{Availability, Bucket, IncidentFilter, IncidentRow, StoredSample, StoredState};
pub use rollup::Resolution;

use crate::probe::ErrorCode;
use crate::state::{IncidentChange, TargetState};

/// Migrations in order; migration N brings the schema to `user_version = N`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_history.sql"),
    include_str!("migrations/0003_alerting.sql"),
    include_str!("migrations/0004_acks.sql"),
    include_str!("migrations/0005_drills.sql"),
    include_str!("migrations/0006_heartbeats.sql"),
];

/// The writer's inbox. When it is full, senders wait: backpressure instead of unbounded memory.
/// The writer drains it even while the disk is failing, so this only fills if the writer thread
/// itself cannot keep up.
const QUEUE_CAPACITY: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the folder {0}: {1}")]
    CreateDir(PathBuf, std::io::Error),
    #[error("cannot open the database {0}: {1}")]
    Open(PathBuf, rusqlite::Error),
    #[error("database {0} has schema version {1}, newer than this commwatch understands ({2})")]
    TooNew(PathBuf, i64, usize),
    #[error("migration {0} failed: {1}")]
    Migration(usize, rusqlite::Error),
    #[error("query failed: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("the store writer has stopped")]
    Closed,
    #[error("a storage task failed: {0}")]
    Task(String),
}

/// How long raw samples and minute rollups are kept; hour and day rollups are kept for years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: Duration,
    pub minute: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw: Duration::from_secs(14 * 86_400),
            minute: Duration::from_secs(90 * 86_400),
        }
    }
}

/// One sample as the store records it.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub degraded: bool,
    pub latency: Duration,
    pub error: Option<ErrorCode>,
    pub detail: Option<String>,
    /// Packet loss ratio, for probes that measure it.
    pub loss: Option<f64>,
    /// The drill that covered the target when this sample was taken.
    pub drill: Option<i64>,
}

/// An incident change with the cause known at that moment.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentWrite {
    pub change: IncidentChange,
    pub cause_error: Option<ErrorCode>,
    pub cause_detail: Option<String>,
    /// The drill covering the target when the incident opened (only read on `Opened`).
    pub drill: Option<i64>,
}

/// A state change that may notify, recorded with the change itself (alerting reads these).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEventRow {
    /// Target id; empty for the monitor itself (isolation).
    pub target: String,
    /// firing | resolved | flapping_start | flapping_stop | isolated | reconnected
    pub kind: &'static str,
    pub state: crate::state::State,
    pub at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub cause: Option<String>,
    pub explained_by: Option<String>,
    pub drill_id: Option<String>,
}

/// Everything one result changed for one target, committed in one transaction.
#[derive(Debug)]
pub struct Change {
    pub target: Arc<str>,
    pub sample: Option<SampleRow>,
    /// The target's state after the change (absent for an incident-only write).
    pub state: Option<TargetState>,
    pub incident: Option<IncidentWrite>,
    pub alerts: Vec<AlertEventRow>,
}

/// Statements another module runs inside the writer's transaction.
pub(crate) type ExecFn = Box<dyn Fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<()> + Send>;

/// One unit of work committed in a writer transaction.
enum Row {
    Change(Box<Change>),
    /// Statements of another module (alerting, drills, acknowledgements), run inside the
    /// writer's transaction. `Fn`, not `FnOnce`: a batch that fails to commit is retried whole.
    Exec {
        run: ExecFn,
        committed: Option<oneshot::Sender<Result<(), String>>>,
        /// Set when the statements failed on their own (a constraint, a bug): they are rolled
        /// back alone and the caller is told, instead of failing every batch after them.
        failed: Mutex<Option<String>>,
    },
}

/// What the writer receives, in order.
enum WriteOp {
    Row(Row),
    /// Answered once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
    /// Run retention now (it also runs every minute by itself).
    Maintain {
        now: DateTime<Utc>,
        reply: oneshot::Sender<Result<Pruned, String>>,
    },
}

/// What one retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    pub samples: usize,
    pub minute_buckets: usize,
}

/// Health of the writer, shared with `/readyz` and metrics.
#[derive(Debug, Default)]
pub struct StoreHealth {
    pub degraded: AtomicBool,
    pub queue_depth: AtomicUsize,
    /// Rows held in memory because the database could not be written.
    pub backlog: AtomicUsize,
    pub rows_written: AtomicU64,
    pub rows_dropped: AtomicU64,
    /// Duration of the last commit, in microseconds.
    pub last_commit_us: AtomicU64,
}

/// A handle to the store; clone freely.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<WriteOp>,
    reader: Arc<Mutex<Connection>>,
    pub health: Arc<StoreHealth>,
    path: PathBuf,
}

/// Joins the writer thread on shutdown.
pub struct WriterHandle(std::thread::JoinHandle<()>);

impl WriterHandle {
    /// Waits until the writer has committed everything and exited. Call after every `Store`
    /// clone is dropped.
    pub async fn join(self) {
        let _ = tokio::task::spawn_blocking(move || self.0.join()).await;
    }
}

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL: readers never block the writer. NORMAL sync is durable across a process crash, which
    // is the failure that matters here; an OS crash may lose the last commit.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // WAL checkpoints run automatically inside the writer's commits, which happen on the
    // writer thread: they never delay probing.
    conn.busy_timeout(Duration::from_secs(2))?;
    Ok(())
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| StoreError::Open(path.to_path_buf(), e))?;
    if version as usize > MIGRATIONS.len() {
        return Err(StoreError::TooNew(
            path.to_path_buf(),
            version,
            MIGRATIONS.len(),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let n = i + 1;
        let tx = conn
            .transaction()
            .map_err(|e| StoreError::Migration(n, e))?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Migration(n, e))?;
        tx.pragma_update(None, "user_version", n as i64)
            .map_err(|e| StoreError::Migration(n, e))?;
        tx.commit().map_err(|e| StoreError::Migration(n, e))?;
        tracing::info!(migration = n, "applied store migration");
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database and starts the writer thread.
    pub fn open(path: &Path, retention: Retention) -> Result<(Store, WriterHandle), StoreError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::CreateDir(dir.to_path_buf(), e))?;
        }
        let mut conn =
            Connection::open(path).map_err(|e| StoreError::Open(path.to_path_buf(), e))?;
        configure(&conn).map_err(|e| StoreError::Open(path.to_path_buf(), e))?;
        migrate(&mut conn, path)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Open(path.to_path_buf(), e))?;
        reader
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| StoreError::Open(path.to_path_buf(), e))?;

        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let health = Arc::new(StoreHealth::default());
        let w = writer::Writer::new(conn, health.clone(), retention);
        let thread = std::thread::Builder::new()
            .name("commwatch-store".into())
            .spawn(move || w.run(rx))
            .map_err(|e| StoreError::Task(e.to_string()))?;
        Ok((
            Store {
                tx,
                reader: Arc::new(Mutex::new(reader)),
                health,
                path: path.to_path_buf(),
            },
            WriterHandle(thread),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn send(&self, op: WriteOp) -> Result<(), StoreError> {
        self.health.queue_depth.fetch_add(1, Ordering::Relaxed);
        let r = self.tx.send(op).await;
        if r.is_err() {
            self.health.queue_depth.fetch_sub(1, Ordering::Relaxed);
        }
        r.map_err(|_| StoreError::Closed)
    }

    /// Queues a sample and the state it led to. Waits only when the writer's queue is full.
    pub async fn record(
        &self,
        target: Arc<str>,
        sample: SampleRow,
        state: TargetState,
    ) -> Result<(), StoreError> {
        self.record_change(Change {
            target,
            sample: Some(sample),
            state: Some(state),
            incident: None,
            alerts: Vec::new(),
        })
        .await
    }

    /// Queues everything one result changed (sample, state, incident, alert events); they are
    /// committed together or not at all.
    pub async fn record_change(&self, change: Change) -> Result<(), StoreError> {
        self.send(WriteOp::Row(Row::Change(Box::new(change)))).await
    }

    /// Queues an alert event that belongs to no target (the monitor's own isolation). Does not
    /// wait: the engine must not block on a commit.
    pub fn record_alert_event(&self, row: AlertEventRow) {
        let store = self.clone();
        tokio::spawn(async move {
            let r = store
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO alert_events(target, kind, state, at_ms, drill_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                        rusqlite::params![row.target, row.kind, row.state.as_str(), ms(row.at), row.drill_id],
                    )
                    .map(|_| ())
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "cannot record the monitor's isolation alert");
            }
        });
    }

    /// Queues a state change that came without a sample.
    pub async fn record_state(
        &self,
        target: Arc<str>,
        state: TargetState,
    ) -> Result<(), StoreError> {
        self.record_change(Change {
            target,
            sample: None,
            state: Some(state),
            incident: None,
            alerts: Vec::new(),
        })
        .await
    }

    /// Queues an incident change; it is committed in order with the samples around it.
    pub async fn record_incident(
        &self,
        target: Arc<str>,
        write: IncidentWrite,
    ) -> Result<(), StoreError> {
        self.record_change(Change {
            target,
            sample: None,
            state: None,
            incident: Some(write),
            alerts: Vec::new(),
        })
        .await
    }

    /// Returns once everything queued before the call is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(WriteOp::Flush(tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    /// Runs `f` inside the single writer's next transaction and returns its value once that
    /// transaction is committed. Modules with tables of their own (alerting, drills) write
    /// through this, so SQLite only ever has one writer and their rows commit in order with
    /// the samples and states around them.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
        let out = slot.clone();
        let (committed, done) = oneshot::channel();
        self.send(WriteOp::Row(Row::Exec {
            run: Box::new(move |tx| {
                let v = f(tx)?;
                *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
                Ok(())
            }),
            committed: Some(committed),
            failed: Mutex::new(None),
        }))
        .await?;
        done.await
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::Task)?;
        let v = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        v.ok_or(StoreError::Closed)
    }

    /// Runs a read on the read connection (for modules with tables of their own).
    pub async fn query<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        self.read(f).await
    }

    /// Runs a retention pass as if the time were `now`, after everything queued is committed.
    pub async fn maintain(&self, now: DateTime<Utc>) -> Result<Pruned, StoreError> {
        self.flush().await?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriteOp::Maintain { now, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::Task)
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            // A poisoned lock only means another reader panicked mid-query; the connection
            // itself is still usable, so take it back.
            let conn = reader.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(StoreError::from)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

/// Opens a database file read-only, for tests and tools that inspect it directly.
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::Open(path.to_path_buf(), e))
}
