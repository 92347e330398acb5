//! The shared backend: a PostgreSQL database several commwatch instances (vantage points) can
//! share. The writer thread owns one connection, as with SQLite; reads run on a small pool of
//! connections beside it. A lost connection is not an error to give up on: the writer keeps what
//! it could not write, reconnects before each retry, and the readers reconnect on their next use.

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::StoreError;
use super::backend::{ReadConn, SqlFn, WriteConn};
use super::migrations;
use super::sql::{Engine, PgSql, SqlError, StatementCache};

/// How to reach the database. The password comes from `password_file` (read by the caller) and
/// is never logged: `postgres::Config`'s Debug redacts it, and messages use [`PgSettings::place`].
#[derive(Clone)]
pub struct PgSettings {
    pub url: String,
    pub password: Option<String>,
    /// Readers' connections.
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub tls: PgTls,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("place", &self.place())
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// TLS towards the server, as libpq's `sslmode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgTls {
    Disable,
    /// TLS when the server offers it, certificate not verified.
    Prefer,
    /// TLS required, certificate not verified.
    Require,
    /// TLS required; the certificate must chain to `ca_file` (or the public roots) and name
    /// the host.
    VerifyFull {
        ca_file: Option<std::path::PathBuf>,
    },
}

impl PgSettings {
    /// The settings `[storage]` describes; reads the password file.
    pub fn from_config(pg: &crate::config::PostgresConfig) -> Result<PgSettings, StoreError> {
        use crate::config::SslMode;
        let password = match &pg.password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| StoreError::PasswordFile(path.clone(), e))?;
                // One line, as `echo secret > file` leaves it.
                Some(text.trim_end_matches(['\n', '\r']).to_string())
            }
            None => None,
        };
        Ok(PgSettings {
            url: pg.url.clone(),
            password,
            pool_size: pg.pool_size,
            connect_timeout: pg.connect_timeout,
            tls: match pg.sslmode {
                SslMode::Disable => PgTls::Disable,
                SslMode::Prefer => PgTls::Prefer,
                SslMode::Require => PgTls::Require,
                SslMode::VerifyFull => PgTls::VerifyFull {
                    ca_file: pg.ca_file.clone(),
                },
            },
        })
    }

    /// `host:port/database`, for messages: never the user's password.
    pub fn place(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(u) => format!(
                "{}:{}{}",
                u.host_str().unwrap_or("localhost"),
                u.port().unwrap_or(5432),
                u.path()
            ),
            Err(_) => "the configured PostgreSQL url".to_string(),
        }
    }

    fn config(&self) -> Result<postgres::Config, StoreError> {
        let mut c = postgres::Config::from_str(&self.url).map_err(|e| StoreError::Connect {
            place: self.place(),
            cause: e.to_string(),
        })?;
        if let Some(p) = &self.password {
            c.password(p);
        }
        c.connect_timeout(self.connect_timeout);
        c.application_name("commwatch");
        // A server that vanishes without a reset (power cut, partition) is noticed within
        // seconds instead of the kernel's default of hours, so the writer turns to its backlog.
        c.keepalives(true);
        c.keepalives_idle(Duration::from_secs(10));
        c.keepalives_interval(Duration::from_secs(5));
        c.keepalives_retries(3);
        c.tcp_user_timeout(Duration::from_secs(30));
        // No wait on the server is unbounded: a lock held by a stuck session (another
        // instance's migration, an abandoned transaction) fails the statement, which the
        // writer retries, instead of stopping the writer and, behind it, probing.
        c.options("-c lock_timeout=30s -c idle_in_transaction_session_timeout=120s");
        c.ssl_mode(match self.tls {
            PgTls::Disable => postgres::config::SslMode::Disable,
            PgTls::Prefer => postgres::config::SslMode::Prefer,
            PgTls::Require | PgTls::VerifyFull { .. } => postgres::config::SslMode::Require,
        });
        Ok(c)
    }

    /// Opens one connection. Call off the async runtime (the synchronous client runs its own).
    fn connect(&self) -> Result<postgres::Client, ConnectError> {
        let config = self.config().map_err(ConnectError::Settings)?;
        let r = match &self.tls {
            PgTls::Disable => config.connect(postgres::NoTls),
            tls => config.connect(super::pg_tls::connector(tls).map_err(ConnectError::Settings)?),
        };
        r.map_err(ConnectError::Server)
    }
}

/// Why a connection could not be opened.
enum ConnectError {
    Settings(StoreError),
    Server(postgres::Error),
}

impl ConnectError {
    fn into_store(self, place: String) -> StoreError {
        match self {
            ConnectError::Settings(e) => e,
            ConnectError::Server(e) => StoreError::Connect {
                place,
                cause: super::sql::SqlError::Postgres(e).to_string(),
            },
        }
    }

    fn into_sql(self) -> SqlError {
        match self {
            ConnectError::Settings(e) => SqlError::Data(e.to_string()),
            ConnectError::Server(e) => SqlError::Postgres(e),
        }
    }
}

/// Runs `f` on a thread of its own and waits for it: the synchronous client starts a runtime
/// of its own, which must not happen on a tokio worker thread, and callers may be async code.
fn off_runtime<T: Send>(
    what: &str,
    f: impl FnOnce() -> Result<T, StoreError> + Send,
) -> Result<T, StoreError> {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .map_err(|_| StoreError::Task(format!("{what} panicked")))?
    })
}

/// Connects, migrates, and returns the writer's connection and the reader pool.
pub(super) fn open(settings: &PgSettings) -> Result<(PgWriter, PgReader), StoreError> {
    off_runtime("opening PostgreSQL", || {
        let place = settings.place();
        let mut client = settings
            .connect()
            .map_err(|e| e.into_store(place.clone()))?;
        migrations::postgres(&mut client, &place)?;
        let slots = (0..settings.pool_size.max(1))
            .map(|_| Mutex::new(None))
            .collect();
        Ok((
            PgWriter {
                settings: settings.clone(),
                client: Some(client),
                cache: StatementCache::default(),
                used: Instant::now(),
            },
            PgReader {
                settings: settings.clone(),
                slots,
                next: AtomicUsize::new(0),
            },
        ))
    })
}

/// The database's schema, read without changing it.
pub(super) fn status(settings: &PgSettings) -> Result<migrations::SchemaStatus, StoreError> {
    off_runtime("reading the PostgreSQL schema", || {
        let place = settings.place();
        let mut client = settings
            .connect()
            .map_err(|e| e.into_store(place.clone()))?;
        migrations::postgres_status(&mut client).map_err(|e| StoreError::Open(place, e))
    })
}

pub(super) struct PgWriter {
    settings: PgSettings,
    client: Option<postgres::Client>,
    cache: StatementCache,
    /// When the connection last ended a transaction.
    used: Instant,
}

impl WriteConn for PgWriter {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn transaction(&mut self, f: SqlFn<'_>) -> Result<(), SqlError> {
        // A kept connection whose server restarted since its last use (the synchronous client
        // only notices when it is used) would fail this batch: the store would turn degraded
        // and wait a retry pause for nothing. One empty query finds out first.
        if let Some(c) = self.client.as_mut()
            && self.used.elapsed() >= CHECK_IDLE
            && (c.is_closed() || c.is_valid(self.settings.connect_timeout).is_err())
        {
            self.client = None;
        }
        if self.client.is_none() {
            self.cache.clear();
            self.client = Some(self.settings.connect().map_err(ConnectError::into_sql)?);
        }
        let Some(client) = self.client.as_mut() else {
            return Err(SqlError::Data("no connection".into()));
        };
        let mut tx = client.transaction()?;
        let r = f(&mut PgSql {
            client: &mut tx,
            cache: &mut self.cache,
        });
        self.used = Instant::now();
        r?;
        // The transaction's id, so that a COMMIT whose reply is lost can be looked up: the
        // writer retries a failed batch whole, and retrying one that did commit would count
        // its samples twice in the rollups and double its alert events and incidents.
        let xid = transaction_id(&mut tx)?;
        let committed = tx.commit();
        self.used = Instant::now();
        match committed {
            Ok(()) => Ok(()),
            // No SQLSTATE: the connection failed, so the server may have committed or not.
            Err(e) if e.code().is_none() => {
                self.client = None;
                self.cache.clear();
                match self.commit_status(xid) {
                    Some(true) => {
                        tracing::warn!(
                            place = %self.settings.place(),
                            "the connection to PostgreSQL was lost on COMMIT; the transaction had committed"
                        );
                        Ok(())
                    }
                    // Not committed (rolled back when the connection went), or not known yet
                    // because the server cannot be reached: the writer retries.
                    _ => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    fn recover(&mut self) {
        // Only storage failures reach here (a bad statement of a module is rolled back to its
        // savepoint and reported to that module), so the connection is suspect: start afresh.
        if self.client.take().is_some() {
            tracing::warn!(place = %self.settings.place(), "reconnecting to PostgreSQL");
        }
        self.cache.clear();
    }
}

impl PgWriter {
    /// Whether transaction `xid` committed, asked on a new connection (kept for the next
    /// batch); `None` when the server cannot be reached or does not know yet.
    fn commit_status(&mut self, xid: i64) -> Option<bool> {
        let mut client = self.settings.connect().ok()?;
        let status = client
            .query_one("SELECT txid_status($1)", &[&xid])
            .ok()?
            .get::<_, Option<String>>(0);
        self.client = Some(client);
        match status.as_deref() {
            Some("committed") => Some(true),
            Some("aborted") => Some(false),
            // "in progress" (the old backend has not finished yet) or too old to know.
            _ => None,
        }
    }
}

/// The current transaction's id (`txid_current()`, epoch included), in one round trip.
fn transaction_id(tx: &mut postgres::Transaction<'_>) -> Result<i64, SqlError> {
    for m in tx.simple_query("SELECT txid_current()")? {
        if let postgres::SimpleQueryMessage::Row(r) = m
            && let Some(v) = r.get(0)
        {
            return v
                .parse()
                .map_err(|_| SqlError::Data(format!("txid_current() returned {v}")));
        }
    }
    Err(SqlError::NoRow)
}

pub(super) struct PgReader {
    settings: PgSettings,
    slots: Vec<Mutex<Option<Pooled>>>,
    next: AtomicUsize,
}

/// A reader connection and when it was last used.
struct Pooled {
    client: postgres::Client,
    cache: StatementCache,
    used: Instant,
}

/// A connection idle for longer than this is checked (one empty query) before it is used: the
/// server may have restarted meanwhile, and the synchronous client only notices a closed
/// connection when it next uses it, which would fail the read or the batch it was taken for.
/// A restart takes longer than this, so every connection that outlived one is checked; work
/// in a burst pays nothing.
const CHECK_IDLE: Duration = Duration::from_millis(100);

impl Drop for PgReader {
    fn drop(&mut self) {
        // The last `Store` is often dropped on the async runtime, and closing a synchronous
        // client blocks on a runtime of its own, which must not happen on a runtime thread.
        let slots = std::mem::take(&mut self.slots);
        let _ = std::thread::spawn(move || drop(slots)).join();
    }
}

impl ReadConn for PgReader {
    fn read(&self, f: SqlFn<'_>) -> Result<(), SqlError> {
        // Take a free connection if there is one; otherwise wait for the next in turn.
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.slots.len();
        let mut guard = (0..n)
            .find_map(|i| self.slots[(start + i) % n].try_lock().ok())
            .unwrap_or_else(|| {
                self.slots[start % n]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
            });
        if let Some(p) = guard.as_mut()
            && !p.client.is_closed()
            && p.used.elapsed() >= CHECK_IDLE
            && p.client.is_valid(self.settings.connect_timeout).is_err()
        {
            *guard = None;
        }
        if guard.as_ref().is_none_or(|p| p.client.is_closed()) {
            let client = self.settings.connect().map_err(ConnectError::into_sql)?;
            *guard = Some(Pooled {
                client,
                cache: StatementCache::default(),
                used: Instant::now(),
            });
        }
        let Some(p) = guard.as_mut() else {
            return Err(SqlError::Data("no connection".into()));
        };
        let r = f(&mut PgSql {
            client: &mut p.client,
            cache: &mut p.cache,
        });
        p.used = Instant::now();
        if let Err(e) = &r
            && e.is_storage_failure()
        {
            // Reconnect on next use rather than reuse a connection that just failed.
            *guard = None;
        }
        r
    }
}
