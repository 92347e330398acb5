//! SQLite storage: one writer thread batching transactions, a separate read connection, WAL so
//! readers never block the writer, and numbered migrations applied by `PRAGMA user_version`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rusqlite::{Connection, OpenFlags, params};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::check::Sample;
use crate::probe::ErrorCode;
use crate::state::{State, TargetState};

/// Migrations in order; migration N brings the schema to `user_version = N`.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_init.sql")];

/// Rows per transaction at most: large enough to amortise the commit, small enough that a
/// reader is never starved for long.
const MAX_BATCH: usize = 2_000;
/// How long the writer waits for more rows before committing a partial batch.
const BATCH_WINDOW: Duration = Duration::from_millis(100);
/// The writer's inbox. When it is full, senders wait: backpressure instead of unbounded memory.
const QUEUE_CAPACITY: usize = 16_384;
/// Rows kept in memory while the database cannot be written (disk full, locked).
const MAX_PENDING: usize = 200_000;

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

/// What the writer records.
#[derive(Debug)]
enum WriteOp {
    Sample {
        target: Arc<str>,
        sample: Sample,
        state: TargetState,
    },
    /// Answered once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
}

/// A stored sample, as read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSample {
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub latency_seconds: f64,
    pub error: Option<String>,
    pub detail: Option<String>,
}

/// The engine's position for one target plus its last result, as restored at start.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredState {
    pub state: TargetState,
    pub last: Option<StoredSample>,
}

/// Health of the writer, shared with `/readyz` and metrics.
#[derive(Debug, Default)]
pub struct StoreHealth {
    pub degraded: AtomicBool,
    pub queue_depth: AtomicUsize,
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

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v).single().unwrap_or_default()
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL: readers never block the writer. NORMAL sync is durable across a process crash, which
    // is the failure that matters here; an OS crash may lose the last commit.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
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
    pub fn open(path: &Path) -> Result<(Store, WriterHandle), StoreError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::CreateDir(dir.to_path_buf(), e))?;
        }
        let mut writer =
            Connection::open(path).map_err(|e| StoreError::Open(path.to_path_buf(), e))?;
        configure(&writer).map_err(|e| StoreError::Open(path.to_path_buf(), e))?;
        migrate(&mut writer, path)?;
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
        let h = health.clone();
        let thread = std::thread::Builder::new()
            .name("commwatch-store".into())
            .spawn(move || Writer::new(writer, h).run(rx))
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

    /// Queues a sample and the state it led to. Waits only when the writer's queue is full.
    pub async fn record(
        &self,
        target: Arc<str>,
        sample: Sample,
        state: TargetState,
    ) -> Result<(), StoreError> {
        self.health.queue_depth.fetch_add(1, Ordering::Relaxed);
        let r = self
            .tx
            .send(WriteOp::Sample {
                target,
                sample,
                state,
            })
            .await;
        if r.is_err() {
            self.health.queue_depth.fetch_sub(1, Ordering::Relaxed);
        }
        r.map_err(|_| StoreError::Closed)
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

    /// The stored state of every target, keyed by target id.
    pub async fn load_states(&self) -> Result<HashMap<String, StoredState>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(
                "SELECT t.key, s.state, s.since_ms, s.consecutive_ok, s.consecutive_fail,
                        s.last_at_ms, s.last_ok, s.last_latency_us, s.last_error, s.last_detail
                 FROM target_state s JOIN targets t ON t.id = s.target_id",
            )?;
            let rows = stmt.query_map([], |r| {
                let key: String = r.get(0)?;
                let state: String = r.get(1)?;
                let last_at: Option<i64> = r.get(5)?;
                let last = match last_at {
                    Some(at) => Some(StoredSample {
                        at: from_ms(at),
                        ok: r.get::<_, Option<bool>>(6)?.unwrap_or(false),
                        latency_seconds: r.get::<_, Option<i64>>(7)?.unwrap_or(0) as f64 / 1e6,
                        error: r.get(8)?,
                        detail: r.get(9)?,
                    }),
                    None => None,
                };
                Ok((
                    key,
                    StoredState {
                        state: TargetState {
                            state: State::parse(&state).unwrap_or(State::Unknown),
                            since: from_ms(r.get(2)?),
                            consecutive_ok: r.get(3)?,
                            consecutive_fail: r.get(4)?,
                        },
                        last,
                    },
                ))
            })?;
            rows.collect()
        })
        .await
    }

    /// The most recent samples of one target, newest first.
    pub async fn recent_samples(
        &self,
        target: &str,
        limit: usize,
    ) -> Result<Vec<StoredSample>, StoreError> {
        let target = target.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT s.at_ms, s.ok, s.latency_us, s.error, s.detail
                 FROM samples s JOIN targets t ON t.id = s.target_id
                 WHERE t.key = ?1 ORDER BY s.at_ms DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![target, limit as i64], |r| {
                Ok(StoredSample {
                    at: from_ms(r.get(0)?),
                    ok: r.get(1)?,
                    latency_seconds: r.get::<_, i64>(2)? as f64 / 1e6,
                    error: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// How many samples are stored for one target.
    pub async fn sample_count(&self, target: &str) -> Result<u64, StoreError> {
        let target = target.to_string();
        self.read(move |c| {
            c.query_row(
                "SELECT count(*) FROM samples s JOIN targets t ON t.id = s.target_id WHERE t.key = ?1",
                [target],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
        })
        .await
    }
}

/// The single writer. It owns the write connection and runs on its own thread so a slow disk
/// never stalls the async runtime.
struct Writer {
    conn: Connection,
    ids: HashMap<Arc<str>, i64>,
    health: Arc<StoreHealth>,
    pending: Vec<(Arc<str>, Sample, TargetState)>,
}

impl Writer {
    fn new(conn: Connection, health: Arc<StoreHealth>) -> Self {
        Self {
            conn,
            ids: HashMap::new(),
            health,
            pending: Vec::new(),
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<WriteOp>) {
        let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
        let mut open = true;
        while open || !self.pending.is_empty() {
            // Block for the first item (or retry pending rows after a failed commit).
            if self.pending.is_empty() {
                match rx.blocking_recv() {
                    Some(op) => self.accept(op, &mut waiters),
                    None => break,
                }
            }
            // Gather more for up to BATCH_WINDOW without blocking the runtime.
            let deadline = Instant::now() + BATCH_WINDOW;
            while open && self.pending.len() < MAX_BATCH && waiters.is_empty() {
                match rx.try_recv() {
                    Ok(op) => self.accept(op, &mut waiters),
                    Err(mpsc::error::TryRecvError::Empty) => {
                        if Instant::now() >= deadline {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => open = false,
                }
            }
            match self.commit() {
                Ok(()) => {
                    self.health.degraded.store(false, Ordering::Relaxed);
                    for w in waiters.drain(..) {
                        let _ = w.send(());
                    }
                }
                Err(e) => {
                    // Keep the rows and try again: a full disk or a lock held by a backup tool
                    // must not lose results. The bound protects memory if it never recovers.
                    tracing::error!(error = %e, pending = self.pending.len(), "store write failed; will retry");
                    self.health.degraded.store(true, Ordering::Relaxed);
                    if self.pending.len() > MAX_PENDING {
                        let drop = self.pending.len() - MAX_PENDING;
                        self.pending.drain(..drop);
                        tracing::error!(
                            dropped = drop,
                            "store backlog over its bound; oldest samples dropped"
                        );
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    if !open && rx.is_closed() && self.health.degraded.load(Ordering::Relaxed) {
                        // Shutting down with a broken disk: do not hang the exit forever.
                        tracing::error!(lost = self.pending.len(), "store unwritable at shutdown");
                        break;
                    }
                }
            }
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }

    fn accept(&mut self, op: WriteOp, waiters: &mut Vec<oneshot::Sender<()>>) {
        match op {
            WriteOp::Sample {
                target,
                sample,
                state,
            } => {
                self.health.queue_depth.fetch_sub(1, Ordering::Relaxed);
                self.pending.push((target, sample, state));
            }
            WriteOp::Flush(tx) => waiters.push(tx),
        }
    }

    fn target_id(
        tx: &rusqlite::Transaction<'_>,
        ids: &mut HashMap<Arc<str>, i64>,
        key: &Arc<str>,
    ) -> rusqlite::Result<i64> {
        if let Some(id) = ids.get(key) {
            return Ok(*id);
        }
        tx.execute(
            "INSERT OR IGNORE INTO targets(key) VALUES (?1)",
            [key.as_ref()],
        )?;
        let id: i64 = tx.query_row(
            "SELECT id FROM targets WHERE key = ?1",
            [key.as_ref()],
            |r| r.get(0),
        )?;
        ids.insert(key.clone(), id);
        Ok(id)
    }

    fn commit(&mut self) -> rusqlite::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let r = self.write_batch();
        if r.is_err() {
            // The transaction rolled back, so ids cached during it may not exist on disk.
            self.ids.clear();
        } else {
            self.pending.clear();
        }
        r
    }

    fn write_batch(&mut self) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO samples(target_id, at_ms, ok, latency_us, error, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut upsert = tx.prepare_cached(
                "INSERT INTO target_state(target_id, state, since_ms, consecutive_ok, consecutive_fail,
                     last_at_ms, last_ok, last_latency_us, last_error, last_detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(target_id) DO UPDATE SET state = excluded.state, since_ms = excluded.since_ms,
                     consecutive_ok = excluded.consecutive_ok, consecutive_fail = excluded.consecutive_fail,
                     last_at_ms = excluded.last_at_ms, last_ok = excluded.last_ok,
                     last_latency_us = excluded.last_latency_us, last_error = excluded.last_error,
                     last_detail = excluded.last_detail",
            )?;
            for (key, s, st) in &self.pending {
                let id = Self::target_id(&tx, &mut self.ids, key)?;
                let latency_us = s.latency.as_micros().min(i64::MAX as u128) as i64;
                let error = s.error.map(ErrorCode::as_str);
                insert.execute(params![id, ms(s.at), s.ok, latency_us, error, s.detail])?;
                upsert.execute(params![
                    id,
                    st.state.as_str(),
                    ms(st.since),
                    st.consecutive_ok,
                    st.consecutive_fail,
                    ms(s.at),
                    s.ok,
                    latency_us,
                    error,
                    s.detail
                ])?;
            }
        }
        tx.commit()
    }
}

/// Reads one value, for tests and tools that inspect a database file directly.
pub fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::Open(path.to_path_buf(), e))
}
