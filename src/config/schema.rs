//! The TOML schema exactly as operators write it; every table denies unknown keys.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::probe::{Kind, RawKeys};

/// The main configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoot {
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
    #[serde(default)]
    pub server: Option<Spanned<RawServer>>,
    #[serde(default)]
    pub instance: Option<Spanned<super::instance::RawInstance>>,
    #[serde(default)]
    pub storage: Option<Spanned<RawStorage>>,
    #[serde(default)]
    pub defaults: Option<Spanned<RawDefaults>>,
    #[serde(default)]
    pub scheduler: Option<Spanned<RawScheduler>>,
    #[serde(default)]
    pub monitor: Option<Spanned<RawMonitor>>,
    #[serde(default)]
    pub auth: Option<Spanned<RawAuth>>,
    #[serde(default)]
    pub alerting: Option<Spanned<super::alerting::RawAlerting>>,
    #[serde(default)]
    pub receivers: Vec<Spanned<super::alerting::RawReceiver>>,
    #[serde(default)]
    pub routes: Vec<Spanned<super::alerting::RawRoute>>,
    #[serde(default)]
    pub maintenance: Vec<Spanned<super::alerting::RawMaintenance>>,
    #[serde(default)]
    pub drills: Vec<Spanned<super::drills::RawDrill>>,
    #[serde(default)]
    pub drill_defaults: Option<Spanned<super::drills::RawDrillDefaults>>,
    #[serde(default)]
    pub targets: Vec<Spanned<RawTarget>>,
}

/// Who may do what. Tokens are stored as SHA-256 digests, never in clear.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// When false, reading the page and API also needs a token (role viewer or above).
    pub public: Option<bool>,
    #[serde(default)]
    pub tokens: Vec<Spanned<RawToken>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawToken {
    pub name: String,
    pub role: RawRole,
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawRole {
    Viewer,
    Officer,
    Admin,
}

/// A file named by `include`: it may only hold targets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInclude {
    #[serde(default)]
    pub targets: Vec<Spanned<RawTarget>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    /// Base URL used in links (alerts, reports) when the page sits behind a reverse proxy.
    pub external_url: Option<String>,
    /// How long a client may take to send a request's headers.
    #[serde(default, with = "humantime_serde")]
    pub header_read_timeout: Option<Duration>,
    /// How long a client may take to send a request's body once its headers are in.
    #[serde(default, with = "humantime_serde")]
    pub body_read_timeout: Option<Duration>,
    /// Connections one client address may hold open at once (a reverse proxy is one client).
    pub max_connections_per_client: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// `sqlite` (the default) or `postgres`; checked in `resolve` so a typo gets a suggestion.
    pub backend: Option<String>,
    /// The SQLite file (backend sqlite only).
    pub path: Option<String>,
    /// `postgres://user@host:port/db` (backend postgres only, required there); never with a
    /// password in it.
    pub url: Option<String>,
    /// A file holding the PostgreSQL password; its contents are never logged nor shown.
    pub password_file: Option<String>,
    /// Connections the store's readers may hold (postgres only).
    pub pool_size: Option<i64>,
    /// How long connecting to PostgreSQL may take (postgres only).
    #[serde(default, with = "humantime_serde")]
    pub connect_timeout: Option<Duration>,
    /// disable | prefer | require | verify-full (postgres only).
    pub sslmode: Option<String>,
    /// A PEM bundle of the CAs trusted for the server's certificate (postgres only).
    pub ca_file: Option<String>,
    /// How long raw samples are kept (rollups keep the history beyond it).
    #[serde(default, with = "humantime_serde")]
    pub retention: Option<Duration>,
    /// How long minute rollups are kept; hour and day rollups are kept for years.
    #[serde(default, with = "humantime_serde")]
    pub minute_retention: Option<Duration>,
}

/// The monitor's view of itself.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitor {
    /// Independent, well-known targets; when all of them fail at once the monitor assumes its
    /// own link is cut.
    #[serde(default)]
    pub anchors: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    pub failure_threshold: Option<u32>,
    pub success_threshold: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScheduler {
    /// Global cap on probes in flight at once.
    pub max_concurrency: Option<usize>,
}

/// One target. Kind-specific keys live side by side; `resolve` rejects keys that do not apply to
/// the target's kind, so a typo such as `adress` or a stray `url` on a tcp target is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    pub id: String,
    pub name: Option<String>,
    /// One of the probe layer's kinds, deserialised from its name: the list of kinds lives
    /// once, in `probe/mod.rs`.
    pub kind: Kind,
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    pub failure_threshold: Option<u32>,
    pub success_threshold: Option<u32>,

    pub operator: Option<String>,
    pub service: Option<String>,
    pub province: Option<String>,
    pub commune: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// critical | warning | info: carried on alerts, matched by routes.
    pub severity: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// The local address this target's probes bind to (overrides `[instance] source_address`).
    pub source_address: Option<String>,

    /// Checks in the check language; all must pass (see `check/`).
    pub checks: Option<Vec<Spanned<String>>>,
    /// Checks that, when failing on a passing sample, mark the target degraded.
    pub degraded: Option<Vec<Spanned<String>>>,

    // http
    pub url: Option<String>,
    /// http and sip: status codes that count as success.
    pub expect_status: Option<Vec<u16>>,
    pub method: Option<String>,
    pub headers: Option<std::collections::BTreeMap<String, String>>,
    pub body: Option<String>,
    /// Redirects to follow (0: report the 3xx itself).
    pub redirects: Option<u32>,
    pub max_body_bytes: Option<u64>,
    // http and tls
    pub tls_verify: Option<bool>,
    pub ca_file: Option<String>,
    // tcp, tls and sip
    pub address: Option<String>,
    // tcp dialogue
    pub send: Option<String>,
    pub expect: Option<String>,
    // icmp
    pub host: Option<String>,
    pub count: Option<u32>,
    #[serde(default, with = "humantime_serde")]
    pub spacing: Option<Duration>,
    // dns
    pub server: Option<String>,
    pub query: Option<String>,
    pub record: Option<String>,
    pub expect_rcode: Option<Vec<String>>,
    // dns and sip
    pub transport: Option<String>,
    // tls
    pub server_name: Option<String>,
    pub min_days: Option<i64>,
    // heartbeat
    pub token: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub period: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub grace: Option<Duration>,
    // portal
    pub learn_fetches: Option<u32>,
    pub signatures: Option<Vec<String>>,
    pub spam_words: Option<Vec<String>>,
    pub allow_origins: Option<Vec<String>>,
    pub cloaking: Option<bool>,
    // snmp
    pub oids: Option<Vec<String>>,
    pub retries: Option<u32>,
    pub preset: Option<String>,
    pub community_file: Option<String>,
    pub user: Option<String>,
    pub auth_protocol: Option<String>,
    pub auth_key_file: Option<String>,
    pub priv_protocol: Option<String>,
    pub priv_key_file: Option<String>,
    pub if_index: Option<u32>,
    pub if_name: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub runway_warn: Option<Duration>,
}

impl RawTarget {
    /// The kind-specific keys as the target's kind reads them (see `probe::keys`).
    pub fn keys(&self) -> RawKeys<'_> {
        RawKeys {
            url: self.url.as_deref(),
            expect_status: self.expect_status.as_deref(),
            method: self.method.as_deref(),
            headers: self.headers.as_ref(),
            body: self.body.as_deref(),
            redirects: self.redirects,
            max_body_bytes: self.max_body_bytes,
            tls_verify: self.tls_verify,
            ca_file: self.ca_file.as_deref(),
            address: self.address.as_deref(),
            send: self.send.as_deref(),
            expect: self.expect.as_deref(),
            host: self.host.as_deref(),
            count: self.count,
            spacing: self.spacing,
            server: self.server.as_deref(),
            query: self.query.as_deref(),
            record: self.record.as_deref(),
            expect_rcode: self.expect_rcode.as_deref(),
            transport: self.transport.as_deref(),
            server_name: self.server_name.as_deref(),
            min_days: self.min_days,
            token: self.token.as_deref(),
            period: self.period,
            grace: self.grace,
            learn_fetches: self.learn_fetches,
            signatures: self.signatures.as_deref(),
            spam_words: self.spam_words.as_deref(),
            allow_origins: self.allow_origins.as_deref(),
            cloaking: self.cloaking,
            oids: self.oids.as_deref(),
            retries: self.retries,
            preset: self.preset.as_deref(),
            community_file: self.community_file.as_deref(),
            user: self.user.as_deref(),
            auth_protocol: self.auth_protocol.as_deref(),
            auth_key_file: self.auth_key_file.as_deref(),
            priv_protocol: self.priv_protocol.as_deref(),
            priv_key_file: self.priv_key_file.as_deref(),
            if_index: self.if_index,
            if_name: self.if_name.as_deref(),
            runway_warn: self.runway_warn,
        }
    }
}
