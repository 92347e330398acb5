//! The store: one interface, two backends (embedded SQLite, the default, and a shared
//! PostgreSQL). One writer thread batches transactions; reads run beside it and never block it;
//! numbered migrations are applied at start; rollups are written with every sample; retention runs
//! in the writer between batches. Every statement is portable SQL (`sql.rs`), written once.

pub mod acks;
mod backend;
pub mod copy;
mod heartbeats;
mod migrations;
mod pg_tls;
mod postgres;
mod queries;
pub mod rollup;
pub mod seed;
pub mod sql;
mod sqlite;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::{mpsc, oneshot};

pub use migrations::{SchemaStatus, latest_postgres, latest_sqlite};
pub use postgres::{PgSettings, PgTls};
pub(crate) use queries::availability_by_target;
pub use queries::{Availability, Bucket, IncidentFilter, IncidentRow, StoredSample, StoredState};
pub use rollup::{Resolution, view_start};
pub use sqlite::open_read_only;

pub use sql::{Engine, Row as SqlRow, Sql, SqlError, Value};

use crate::probe::ErrorCode;
use crate::state::{IncidentChange, TargetState};

/// The writer's inbox. When it is full, senders wait: backpressure instead of unbounded memory.
/// The writer drains it even while the disk is failing, so this only fills if the writer thread
/// itself cannot keep up.
const QUEUE_CAPACITY: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the folder {0}: {1}")]
    CreateDir(PathBuf, std::io::Error),
    #[error("cannot open the database {0}: {1}")]
    Open(String, SqlError),
    #[error("cannot connect to PostgreSQL at {place}: {cause}")]
    Connect { place: String, cause: String },
    #[error("cannot read the PostgreSQL password file {0}: {1}")]
    PasswordFile(PathBuf, std::io::Error),
    #[error("cannot set up TLS to PostgreSQL: {0}")]
    Tls(String),
    #[error(
        "database {0} has schema version {1}, newer than this commwatch understands ({2}); \
         it was left unchanged: run the newer commwatch"
    )]
    TooNew(String, i64, usize),
    #[error("migrating {0} failed: {1}")]
    Migration(String, String),
    #[error("query failed: {0}")]
    Query(#[from] SqlError),
    #[error("the store writer has stopped")]
    Closed,
    /// The database could not be written within [`WRITE_WAIT`]: the change stays queued and is
    /// committed, in order, when the database is back. Sending it again would record it twice.
    #[error(
        "the database cannot be written right now ({0}); the change is kept and will be saved \
         when the database is back: do not send it again"
    )]
    Queued(String),
    /// An operation that would damage a record (a copy into a database holding another).
    #[error("{0}")]
    Refused(String),
    /// The database is failing, and the change was not queued: try again when it is back.
    #[error(
        "the database cannot be written right now ({0}); nothing was changed: try again when it is back"
    )]
    Unavailable(String),
    #[error("a storage task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// Whether this means the database is unreachable or unwritable for now (a client may try
    /// again later), as opposed to a fault in the request or the program.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Queued(_) | StoreError::Unavailable(_) | StoreError::Connect { .. } => true,
            StoreError::Query(e) | StoreError::Open(_, e) => e.is_storage_failure(),
            _ => false,
        }
    }
}

/// How long a module's write waits for its commit while the database is failing, before the
/// caller is told it is queued: an officer's click answers within seconds during an outage.
pub const WRITE_WAIT: Duration = Duration::from_secs(10);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Query(SqlError::Sqlite(e))
    }
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
pub(crate) type ExecFn = Box<dyn Fn(&mut dyn Sql) -> Result<(), SqlError> + Send>;

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
    /// Failed commit attempts since start (each is retried).
    pub write_failures: AtomicU64,
    /// Why the last commit failed, for `/readyz` (engine messages carry no password).
    pub last_error: Mutex<Option<String>>,
}

/// A handle to the store; clone freely.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<WriteOp>,
    reader: Arc<dyn backend::ReadConn>,
    pub health: Arc<StoreHealth>,
    engine: Engine,
    /// Where the record lives, for messages: a file path, or `host:port/database`.
    place: Arc<str>,
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

impl Store {
    /// Opens (creating if needed) a SQLite database file and starts the writer thread.
    pub fn open(path: &Path, retention: Retention) -> Result<(Store, WriterHandle), StoreError> {
        let (w, r) = sqlite::open(path)?;
        Self::start(
            Box::new(w),
            Arc::new(r),
            retention,
            path.display().to_string(),
        )
    }

    /// Opens the store the configuration names: the SQLite file, or the PostgreSQL database
    /// (its password read from `password_file` here, never logged).
    pub fn open_configured(
        storage: &crate::config::StorageConfig,
    ) -> Result<(Store, WriterHandle), StoreError> {
        match &storage.backend {
            crate::config::StorageBackend::Sqlite => Self::open(&storage.path, storage.retention),
            crate::config::StorageBackend::Postgres(pg) => {
                Self::open_postgres(&PgSettings::from_config(pg)?, storage.retention)
            }
        }
    }

    /// Where the configured database's schema stands, read without migrating or writing.
    pub fn schema_status(
        storage: &crate::config::StorageConfig,
    ) -> Result<SchemaStatus, StoreError> {
        match &storage.backend {
            crate::config::StorageBackend::Sqlite => sqlite::status(&storage.path),
            crate::config::StorageBackend::Postgres(pg) => {
                postgres::status(&PgSettings::from_config(pg)?)
            }
        }
    }

    /// Connects to a PostgreSQL database, migrates it and starts the writer thread. A refused
    /// connection is an error naming the host and the cause.
    pub fn open_postgres(
        settings: &PgSettings,
        retention: Retention,
    ) -> Result<(Store, WriterHandle), StoreError> {
        let (w, r) = postgres::open(settings)?;
        Self::start(Box::new(w), Arc::new(r), retention, settings.place())
    }

    fn start(
        conn: Box<dyn backend::WriteConn>,
        reader: Arc<dyn backend::ReadConn>,
        retention: Retention,
        place: String,
    ) -> Result<(Store, WriterHandle), StoreError> {
        let engine = conn.engine();
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
                reader,
                health,
                engine,
                place: place.into(),
            },
            WriterHandle(thread),
        ))
    }

    /// The engine behind this store.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Where the record lives (a file path or `host:port/database`), for messages.
    pub fn place(&self) -> &str {
        &self.place
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
                        sql::args![&row.target, row.kind, row.state.as_str(), ms(row.at), &row.drill_id],
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
    /// transaction is committed, however long the database takes to come back. Modules with
    /// tables of their own (alerting, drills) write through this, so SQLite only ever has one
    /// writer and their rows commit in order with the samples and states around them. Internal
    /// tasks use it: the delivery worker, for one, must know an attempt is recorded before it
    /// reads the outbox again, or it would send the same message twice.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<T, SqlError> + Send + 'static,
    {
        self.write_within(f, None).await
    }

    /// As [`Store::write`] for a request a person waits on (a note, an acknowledgement, a
    /// silence): while the database is failing the answer comes within [`WRITE_WAIT`], as
    /// [`StoreError::Queued`], and the change is still committed when the database is back.
    pub async fn write_or_queue<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<T, SqlError> + Send + 'static,
    {
        self.write_within(f, Some(WRITE_WAIT)).await
    }

    /// As [`Store::write_or_queue`], but refused at once, with nothing queued, while the
    /// database is failing: for changes whose result the caller needs and which must not
    /// happen twice if the caller tries again (starting a drill).
    pub async fn write_now<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<T, SqlError> + Send + 'static,
    {
        if self.health.degraded.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(self.last_error()));
        }
        self.write_within(f, Some(WRITE_WAIT)).await
    }

    fn last_error(&self) -> String {
        self.health
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "no answer".into())
    }

    async fn write_within<T, F>(&self, f: F, wait: Option<Duration>) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Sql) -> Result<T, SqlError> + Send + 'static,
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
        let mut done = done;
        let committed = match wait {
            None => done.await,
            Some(wait) => loop {
                match tokio::time::timeout(wait, &mut done).await {
                    Ok(r) => break r,
                    Err(_) if self.health.degraded.load(Ordering::Relaxed) => {
                        return Err(StoreError::Queued(self.last_error()));
                    }
                    // Healthy but slow (a large batch): look again after another wait, so a
                    // writer that turns out to be failing is still answered in bounded time.
                    Err(_) => continue,
                }
            },
        };
        committed
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::Task)?;
        let v = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        v.ok_or(StoreError::Closed)
    }

    /// Runs a read on the read connection (for modules with tables of their own).
    pub async fn query<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Sql) -> Result<T, SqlError> + Send + 'static,
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
        F: FnOnce(&mut dyn Sql) -> Result<T, SqlError> + Send + 'static,
    {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let mut f = Some(f);
            let mut out = None;
            reader.read(&mut |sql| {
                // Called once; a second call (none today) finds the closure taken.
                let f = f
                    .take()
                    .ok_or_else(|| SqlError::Data("a read ran twice".into()))?;
                out = Some(f(sql)?);
                Ok(())
            })?;
            out.ok_or(StoreError::Closed)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}
