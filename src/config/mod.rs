//! Configuration: the TOML files operators write, loaded, merged with includes and validated in
//! one pass so the daemon never starts (or reloads) with a half-understood config.

pub mod alerting;
pub mod drills;
pub mod error;
mod instance;
mod kinds;
mod resolve;
mod schema;
mod sections;
mod storage;
mod target;

pub use instance::InstanceConfig;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use error::{ConfigError, ConfigErrors};

use crate::check::Check;
use crate::probe::ProbeSpec;

/// The default listen address of the status page, API and `/metrics`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9800";
pub const DEFAULT_STORAGE_PATH: &str = "/var/lib/commwatch/commwatch.db";
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 2;
/// The least cap on probes holding sockets when none is configured; a larger inventory gets
/// one sized for a storm ([`storm_sized`]).
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;
/// The most `max_concurrency` may be, configured or sized.
pub const MAX_CONCURRENCY_LIMIT: usize = 100_000;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main file this configuration was read from.
    pub source: PathBuf,
    pub server: ServerConfig,
    /// Who this instance is among the province's vantage points.
    pub instance: InstanceConfig,
    pub storage: StorageConfig,
    pub defaults: Defaults,
    pub scheduler: SchedulerConfig,
    pub monitor: MonitorConfig,
    pub auth: AuthConfig,
    pub alerting: alerting::AlertingConfig,
    pub receivers: Vec<alerting::Receiver>,
    pub routes: Vec<alerting::Route>,
    pub maintenance: Vec<alerting::MaintenanceWindow>,
    /// Drills planned ahead.
    pub drills: Vec<drills::ScheduledDrill>,
    /// What a drill request may leave out.
    pub drill_defaults: drills::DrillDefaults,
    /// Shared with the scheduler, the engine and the board: each target is held once.
    pub targets: Vec<Arc<Target>>,
}

/// What a token allows, in increasing order: each role may do what the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read the page and API when they are private.
    Viewer,
    /// Acknowledge incidents, write notes.
    Officer,
    /// Run drills, silences, reload the configuration.
    Admin,
}

/// A bearer token, known only by its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub name: String,
    pub role: Role,
    pub sha256: [u8; 32],
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Reading needs no token.
    pub public: bool,
    pub tokens: Vec<Token>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            public: true,
            tokens: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub external_url: Option<String>,
    pub limits: ServeLimits,
}

/// What one client may hold of the web server, so a slow or hostile client (slowloris) cannot
/// take it from the duty officers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    pub header_read_timeout: std::time::Duration,
    pub body_read_timeout: std::time::Duration,
    pub max_connections_per_client: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: std::time::Duration::from_secs(10),
            body_read_timeout: std::time::Duration::from_secs(30),
            // Room for a reverse proxy carrying every officer's page and event stream.
            max_connections_per_client: 256,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The SQLite file; with backend postgres it is unused (and left at its default).
    pub path: PathBuf,
    pub retention: crate::store::Retention,
    pub backend: StorageBackend,
}

impl StorageConfig {
    /// Where portal profiles are kept (`portal/` beside the SQLite file; with PostgreSQL,
    /// beside the default file path, the package's data folder): each instance learns the
    /// pages it sees from its own vantage point, so profiles are not shared.
    pub fn portal_dir(&self) -> PathBuf {
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| std::path::Path::new("."));
        dir.join("portal")
    }
}

/// Where samples, incidents and drills are kept (`[storage] backend`).
#[derive(Debug, Clone, PartialEq)]
pub enum StorageBackend {
    /// One SQLite file at [`StorageConfig::path`] (the default).
    Sqlite,
    /// A PostgreSQL database.
    Postgres(PostgresConfig),
}

pub const DEFAULT_PG_POOL_SIZE: usize = 4;
/// `pool_size` may be 1 up to this.
pub const MAX_PG_POOL_SIZE: usize = 64;
pub const DEFAULT_PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL backend's settings, validated: the URL holds no password (that comes from
/// `password_file`, which was readable at load), and relative `password_file` and `ca_file`
/// paths are already joined to the configuration file's folder.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresConfig {
    /// `postgres://` or `postgresql://` URL, with a host and without a password.
    pub url: String,
    pub password_file: Option<PathBuf>,
    /// Connections for the store's readers, 1..=[`MAX_PG_POOL_SIZE`].
    pub pool_size: usize,
    /// 1s..=5m.
    pub connect_timeout: Duration,
    pub sslmode: SslMode,
    /// Trusted CAs for the server's certificate; `None`: the webpki roots.
    pub ca_file: Option<PathBuf>,
}

impl PostgresConfig {
    /// `host:port/db` for logs and messages: no user, never a password. The port is 5432 when
    /// the URL gives none; `/db` is left out when the URL names no database.
    pub fn display_url(&self) -> String {
        display_pg_url(&self.url)
    }
}

/// [`PostgresConfig::display_url`] of a URL string; a URL that does not parse shows as
/// `(invalid url)` rather than as itself (it might hold a secret).
fn display_pg_url(url: &str) -> String {
    let Ok(u) = url::Url::parse(url) else {
        return "(invalid url)".to_string();
    };
    let host = u.host_str().unwrap_or("localhost");
    let port = u.port().unwrap_or(5432);
    let db = u.path().trim_start_matches('/');
    if db.is_empty() {
        format!("{host}:{port}")
    } else {
        format!("{host}:{port}/{db}")
    }
}

/// How the PostgreSQL connection uses TLS, as libpq's `sslmode` of the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, plain otherwise (the default).
    Prefer,
    /// TLS or no connection; the certificate is not verified.
    Require,
    /// TLS with the certificate verified against `ca_file` (or the webpki roots) and the host.
    VerifyFull,
}

impl SslMode {
    /// Every mode, in the order messages list them.
    pub const ALL: [SslMode; 4] = [
        SslMode::Disable,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyFull,
    ];

    /// The name written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }

    pub fn parse(s: &str) -> Option<SslMode> {
        SslMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// The monitor's view of itself.
#[derive(Debug, Clone, Default)]
pub struct MonitorConfig {
    /// Anchor targets: all failing at once means our own link is cut.
    pub anchors: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Defaults {
    pub interval: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    /// `[instance] source_address`: the local address every probe binds to unless its target
    /// names its own.
    pub source_address: Option<std::net::IpAddr>,
}

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Probes holding a socket at once (pings to IP addresses and heartbeats hold none), as
    /// written in the file; `None`: sized for a storm by the scheduler ([`storm_sized`]).
    pub max_concurrency: Option<usize>,
}

/// Probes that would hold a socket at once if every endpoint hung until its timeout, as in a
/// storm, with each target probed at the interval given (a drill's pace is faster than the
/// configured one): the sum over targets whose probe holds a socket of timeout ÷ interval,
/// rounded up. A cap below it makes probes queue exactly when outages need detecting: the
/// storm benchmark saw every target DOWN after 62 s instead of 17 s.
pub fn storm_need<'a>(targets: impl IntoIterator<Item = (&'a Target, Duration)>) -> usize {
    let sum: f64 = targets
        .into_iter()
        .filter(|(t, _)| t.spec.holds_socket())
        .map(|(t, every)| t.timeout.as_secs_f64() / every.as_secs_f64().max(f64::MIN_POSITIVE))
        .sum();
    // Up to the next whole probe, but not for the rounding noise of adding thousands of
    // fractions (600 × 10/60 must be 100, not 101).
    (sum - 1e-6).ceil().max(0.0) as usize
}

/// The cap when none is configured: the storm's need and a quarter more (runs bunching
/// after a pause), at least [`DEFAULT_MAX_CONCURRENCY`]. The scheduler applies it at the
/// current pace, drills included.
pub fn storm_sized(storm: usize) -> usize {
    (storm + storm.div_ceil(4)).clamp(DEFAULT_MAX_CONCURRENCY, MAX_CONCURRENCY_LIMIT)
}

/// The labels officers filter by and Prometheus groups by. Missing labels are empty strings so
/// metric label sets stay uniform.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Labels {
    pub operator: String,
    pub service: String,
    pub province: String,
    pub commune: String,
    pub tags: Vec<String>,
}

/// Where a target was defined, for messages that point back to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

/// One monitored endpoint, with every default already applied.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: String,
    pub name: String,
    pub spec: ProbeSpec,
    pub interval: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    /// Assertions evaluated on each observation; all must pass for the sample to be ok.
    pub checks: Vec<Check>,
    /// Assertions that, when failing on a passing sample, mark it degraded.
    pub degraded: Vec<Check>,
    pub labels: Labels,
    /// critical (default) | warning | info.
    pub severity: String,
    pub depends_on: Vec<String>,
    /// The local address this target's probes bind to (its own `source_address`, else the
    /// instance's); `None`: the system chooses.
    pub source_address: Option<std::net::IpAddr>,
    pub origin: Origin,
}

impl Target {
    /// The probe kind name used in metrics, the API and the page.
    pub fn kind(&self) -> &'static str {
        self.spec.kind()
    }

    /// Judges one observation of this target with its failure and degraded checks.
    pub fn judge(&self, obs: &crate::probe::Observation) -> crate::check::Sample {
        crate::check::judge_with(&self.checks, &self.degraded, obs)
    }

    /// Human-readable report of one probe run, for `commwatch probe`: the verdict, every fact
    /// the probe learned and every check in resolved form. It lives here, above `probe` and
    /// `check`, because it needs the target, the observation and the sample together.
    pub fn describe(
        &self,
        obs: &crate::probe::Observation,
        sample: &crate::check::Sample,
    ) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let verdict = match (sample.ok, sample.degraded) {
            (true, false) => "OK",
            (true, true) => "DEGRADED",
            (false, _) => "FAIL",
        };
        let _ = writeln!(
            s,
            "{verdict}  {} ({}) {}",
            self.id,
            self.kind(),
            self.spec.endpoint()
        );
        crate::probe::describe::line(&mut s, "name", self.name.clone());
        s.push_str(&crate::probe::describe::facts(obs));
        for c in &sample.checks {
            let mark = match (c.ok, c.degraded) {
                (true, _) => "pass",
                (false, false) => "FAIL",
                (false, true) => "DEGRADED",
            };
            let _ = writeln!(s, "  check {mark}: {}", c.resolved);
        }
        s
    }
}

impl Config {
    /// Reads, merges and validates the configuration at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        resolve::load(path)
    }

    /// Parses a configuration from text, as if it had been read from `path` (used by tests and
    /// by `commwatch demo`, which writes its config in memory).
    pub fn from_str_at(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        resolve::load_text(path, text)
    }

    pub fn target(&self, id: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.id == id).map(Arc::as_ref)
    }

    /// [`storm_need`] at the configured intervals.
    pub fn storm_sockets(&self) -> usize {
        storm_need(self.targets.iter().map(|t| (t.as_ref(), t.interval)))
    }

    /// The cap on probes holding sockets outside drills: as configured, or sized for a storm.
    pub fn probe_cap(&self) -> usize {
        self.scheduler
            .max_concurrency
            .unwrap_or_else(|| storm_sized(self.storm_sockets()))
    }
}
