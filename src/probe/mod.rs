//! Probes: each kind gathers facts about one endpoint and returns an [`Observation`]; checks
//! (in `check.rs`) decide what the facts mean. This file holds the one `match` over probe kinds.

mod certs;
mod dns;
mod heartbeat;
mod http;
mod icmp;
mod sip;
mod tcp;
mod tls;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use dns::{DnsSpec, DnsTransport, RCODES, RecordKind};
pub use heartbeat::{HeartbeatRegistry, HeartbeatSpec, Push, PushStatus};
pub use http::{DEFAULT_BODY_CAP, HttpSpec};
pub use icmp::{
    DEFAULT_COUNT as DEFAULT_ICMP_COUNT, DEFAULT_SPACING as DEFAULT_ICMP_SPACING, IcmpSpec,
};

/// Reads a PEM bundle of trusted certificates (`ca_file`); the error says what is wrong.
pub fn load_ca_file(path: &std::path::Path) -> Result<(), String> {
    certs::load_roots(path).map(|_| ())
}
pub use sip::{SipSpec, SipTransport};
pub use tcp::TcpSpec;
pub use tls::TlsSpec;

/// What to probe and how: the kind-specific part of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    Http(HttpSpec),
    Tcp(TcpSpec),
    Icmp(IcmpSpec),
    Dns(DnsSpec),
    Tls(TlsSpec),
    Heartbeat(HeartbeatSpec),
    Sip(SipSpec),
}

impl ProbeSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Http(_) => "http",
            ProbeSpec::Tcp(_) => "tcp",
            ProbeSpec::Icmp(_) => "icmp",
            ProbeSpec::Dns(_) => "dns",
            ProbeSpec::Tls(_) => "tls",
            ProbeSpec::Heartbeat(_) => "heartbeat",
            ProbeSpec::Sip(_) => "sip",
        }
    }

    /// Whether a run holds a socket of its own while it waits. Such runs count against the
    /// scheduler's `max_concurrency`, which is there to bound descriptors and connection
    /// state. Pings to an IP address share one socket per address family and a heartbeat
    /// only reads the last push, so neither counts: ten thousand silent mobile sites in a
    /// storm must not queue the HTTP and TCP probes that would see the rest of the outage. A
    /// ping by host name counts: its lookup holds a socket and a blocking-pool thread.
    pub fn holds_socket(&self) -> bool {
        match self {
            ProbeSpec::Http(_)
            | ProbeSpec::Tcp(_)
            | ProbeSpec::Dns(_)
            | ProbeSpec::Tls(_)
            | ProbeSpec::Sip(_) => true,
            ProbeSpec::Icmp(s) => s.host.parse::<std::net::IpAddr>().is_err(),
            ProbeSpec::Heartbeat(_) => false,
        }
    }

    /// A short human description of the endpoint ("GET https://...", "tcp 1.2.3.4:25").
    pub fn endpoint(&self) -> String {
        match self {
            ProbeSpec::Http(s) => s.url.to_string(),
            ProbeSpec::Tcp(s) => s.address.to_string(),
            ProbeSpec::Icmp(s) => s.host.clone(),
            ProbeSpec::Dns(s) => format!("{} {} @{}", s.query, s.record, s.server),
            ProbeSpec::Tls(s) => s.address.to_string(),
            ProbeSpec::Heartbeat(s) => format!("push /api/v1/push/{}", s.target),
            ProbeSpec::Sip(s) => format!("sip:{} ({})", s.address, s.transport),
        }
    }
}

/// A bounded set of failure reasons: safe as a metric label and stable for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No answer within the target's timeout.
    Timeout,
    ConnRefused,
    ConnReset,
    /// The name did not resolve.
    DnsError,
    /// No route to the host or network (ICMP unreachable, interface down).
    Unreachable,
    TlsError,
    /// The certificate (or one in its chain) is past its end date.
    TlsExpired,
    /// The certificate does not name the host we asked for.
    TlsNameMismatch,
    /// The chain does not lead to a trusted root (self-signed, unknown issuer).
    TlsUntrusted,
    /// A malformed or unexpected protocol exchange.
    ProtocolError,
    /// The probe ran but a check on its facts failed.
    CheckFailed,
    /// The process may not open the socket it needs (ICMP without CAP_NET_RAW).
    PermissionDenied,
    /// Any other I/O failure.
    IoError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::Timeout,
        ErrorCode::ConnRefused,
        ErrorCode::ConnReset,
        ErrorCode::DnsError,
        ErrorCode::Unreachable,
        ErrorCode::TlsError,
        ErrorCode::TlsExpired,
        ErrorCode::TlsNameMismatch,
        ErrorCode::TlsUntrusted,
        ErrorCode::ProtocolError,
        ErrorCode::CheckFailed,
        ErrorCode::PermissionDenied,
        ErrorCode::IoError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::ConnRefused => "conn_refused",
            ErrorCode::ConnReset => "conn_reset",
            ErrorCode::DnsError => "dns_error",
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::TlsError => "tls_error",
            ErrorCode::TlsExpired => "tls_expired",
            ErrorCode::TlsNameMismatch => "tls_name_mismatch",
            ErrorCode::TlsUntrusted => "tls_untrusted",
            ErrorCode::ProtocolError => "protocol_error",
            ErrorCode::CheckFailed => "check_failed",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::IoError => "io_error",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Classifies an I/O error from a socket operation.
    pub fn from_io(e: &std::io::Error) -> ErrorCode {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => ErrorCode::ConnRefused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                ErrorCode::ConnReset
            }
            K::TimedOut => ErrorCode::Timeout,
            K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown | K::AddrNotAvailable => {
                ErrorCode::Unreachable
            }
            K::PermissionDenied => ErrorCode::PermissionDenied,
            _ => ErrorCode::IoError,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Time spent in each phase of a probe, where the kind has that phase.
///
/// - `dns`: resolving the host name (for the dns kind: the query itself, sent to answer).
/// - `connect`: the TCP three-way handshake.
/// - `tls`: the TLS handshake, from ClientHello to the server's Finished.
/// - `first_byte`: from the request being written to the first byte of the answer (HTTP:
///   the response head; SIP: the final response; TCP dialogue: the matching reply).
/// - `transfer`: from the response head to the end of the body (or the body cap).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Phases {
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub dns: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub connect: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub tls: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub first_byte: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub transfer: Option<Duration>,
}

pub use certs::{CertFacts, TlsFacts};
pub use dns::DnsFacts;
pub use heartbeat::HeartbeatFacts;
pub use icmp::IcmpFacts;
pub use sip::SipFacts;

/// Facts a probe learned; each kind fills what it knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
    /// True when the body was longer than the cap and reading stopped there.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub body_truncated: bool,
    /// Redirects followed before the final response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirects: Option<u32>,
    /// The final URL after redirects, when it differs from the configured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// Response headers (names lower-case), bounded in count and length.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The body as text, kept only when a check reads it; never serialised (it can be large).
    #[serde(skip)]
    pub body: Option<String>,
    /// The start of what a TCP service said (banner or reply), for people and checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip: Option<SipFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatFacts>,
}

/// Everything one probe run saw. It carries no verdict: checks decide.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub kind: &'static str,
    pub started_at: DateTime<Utc>,
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Set when the probe itself failed (no answer, refused, ...).
    pub error: Option<ErrorCode>,
    /// Human detail for the error; shown on the page, never used as a metric label.
    pub error_detail: Option<String>,
    pub phases: Phases,
    pub facts: Facts,
}

impl Observation {
    fn new(kind: &'static str, started_at: DateTime<Utc>) -> Self {
        Self {
            kind,
            started_at,
            duration: Duration::ZERO,
            error: None,
            error_detail: None,
            phases: Phases::default(),
            facts: Facts::default(),
        }
    }

    pub(crate) fn fail(&mut self, code: ErrorCode, detail: impl Into<String>) {
        self.error = Some(code);
        self.error_detail = Some(detail.into());
    }
}

/// `host:port` as written in the config; resolved at probe time so DNS changes are followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port`, `1.2.3.4:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Result<HostPort, String> {
        let bad = || format!("`{s}` is not host:port (for IPv6 write [addr]:port)");
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
            h.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            (h, p)
        } else {
            let (h, p) = s.rsplit_once(':').ok_or_else(bad)?;
            if h.contains(':') {
                return Err(bad());
            }
            (h, p)
        };
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
        if port == 0 || !host_ok {
            return Err(bad());
        }
        Ok(HostPort {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One probe run in progress: when it started and when it must end. Each kind checks the
/// deadline itself so that a timeout still reports what was learned before it (connected,
/// headers received, 3 of 5 replies ...).
pub(crate) struct Run {
    pub kind: &'static str,
    pub started_at: DateTime<Utc>,
    pub start: Instant,
    pub deadline: tokio::time::Instant,
    pub timeout: Duration,
}

impl Run {
    fn new(kind: &'static str, timeout: Duration) -> Run {
        let start = Instant::now();
        Run {
            kind,
            // Millisecond precision, as stored (see `time::now_ms`).
            started_at: crate::time::now_ms(),
            start,
            deadline: tokio::time::Instant::from_std(start) + timeout,
            timeout,
        }
    }

    pub fn observation(&self) -> Observation {
        Observation::new(self.kind, self.started_at)
    }

    /// Awaits `fut` until the deadline; `None` when the deadline came first.
    pub async fn within<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        tokio::time::timeout_at(self.deadline, fut).await.ok()
    }

    /// The timeout as people write it ("2s", "500ms").
    pub fn timeout_text(&self) -> String {
        humantime::format_duration(self.timeout).to_string()
    }
}

/// Resolves `host:port` (timed as the `dns` phase) to its first address. On failure the
/// observation is marked and `None` returned.
pub(crate) async fn resolve_one(
    host: &str,
    port: u16,
    run: &Run,
    obs: &mut Observation,
) -> Option<SocketAddr> {
    let before = run.start.elapsed();
    let addrs: Vec<SocketAddr> = match run.within(tokio::net::lookup_host((host, port))).await {
        None => {
            obs.fail(
                ErrorCode::Timeout,
                format!("{host} did not resolve within {}", run.timeout_text()),
            );
            return None;
        }
        Some(Err(e)) => {
            obs.fail(ErrorCode::DnsError, format!("cannot resolve {host}: {e}"));
            return None;
        }
        Some(Ok(a)) => a.collect(),
    };
    obs.phases.dns = Some(run.start.elapsed().saturating_sub(before));
    let first = addrs.first().copied();
    if first.is_none() {
        obs.fail(ErrorCode::DnsError, format!("{host} has no addresses"));
    }
    first
}

/// Resolves and connects to `address` within the run's deadline, filling the `dns` and
/// `connect` phases and the remote address.
pub(crate) async fn connect_host(
    address: &HostPort,
    run: &Run,
    obs: &mut Observation,
) -> Option<tokio::net::TcpStream> {
    let addr = resolve_one(&address.host, address.port, run, obs).await?;
    connect_addr(addr, run, obs).await
}

/// Connects to one address (timed as the `connect` phase). One address only: a monitor should
/// report the endpoint it was told about, not hide a dead primary behind a working fallback.
pub(crate) async fn connect_addr(
    addr: SocketAddr,
    run: &Run,
    obs: &mut Observation,
) -> Option<tokio::net::TcpStream> {
    let before = run.start.elapsed();
    match run.within(tokio::net::TcpStream::connect(addr)).await {
        None => {
            obs.fail(
                ErrorCode::Timeout,
                format!("no TCP connection to {addr} within {}", run.timeout_text()),
            );
            None
        }
        Some(Err(e)) => {
            obs.fail(ErrorCode::from_io(&e), format!("connect to {addr}: {e}"));
            None
        }
        Some(Ok(stream)) => {
            obs.phases.connect = Some(run.start.elapsed().saturating_sub(before));
            obs.facts.remote_addr = stream.peer_addr().ok();
            // Probes write small requests once; Nagle would only add delay.
            let _ = stream.set_nodelay(true);
            Some(stream)
        }
    }
}

/// The start of a reply as printable text, for people and checks (bounded).
pub(crate) fn excerpt(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// Shared probe machinery: built once per process so clients and sockets are reused.
pub struct Prober {
    http: http::HttpProber,
    tls: certs::TlsClients,
    icmp: icmp::IcmpProber,
    heartbeats: HeartbeatRegistry,
}

#[derive(Debug, thiserror::Error)]
pub enum ProberError {
    #[error("cannot build the HTTP probe client: {0}")]
    HttpClient(String),
}

/// Extra time granted past a probe's own deadline before the run is cut off from outside; the
/// probe normally ends itself at its deadline with whatever it learned.
const DEADLINE_GRACE: Duration = Duration::from_millis(250);

impl Prober {
    pub fn new() -> Result<Prober, ProberError> {
        Ok(Prober {
            http: http::HttpProber::new()?,
            tls: certs::TlsClients::new(),
            icmp: icmp::IcmpProber::new(),
            heartbeats: HeartbeatRegistry::new(),
        })
    }

    /// Uses `registry` for heartbeat targets, so pushes received elsewhere (the web layer of
    /// another component, a test) are what heartbeat probes read.
    pub fn with_heartbeats(mut self, registry: HeartbeatRegistry) -> Prober {
        self.heartbeats = registry;
        self
    }

    /// The registry heartbeat pushes are written to (by the web layer) and read from (by
    /// heartbeat probes). Clones share the same registry.
    pub fn heartbeats(&self) -> HeartbeatRegistry {
        self.heartbeats.clone()
    }

    /// Runs one probe with a hard deadline. A probe that does not finish by `timeout` is cut off
    /// and reported as [`ErrorCode::Timeout`], so a hung endpoint costs at most its timeout.
    pub async fn run(&self, spec: &ProbeSpec, timeout: Duration) -> Observation {
        let run = Run::new(spec.kind(), timeout);
        // Each kind's future is boxed: an in-flight probe then costs the size of its own kind's
        // state (an ICMP burst is small, an HTTP exchange large), not the largest of all kinds.
        let fut: std::pin::Pin<Box<dyn std::future::Future<Output = Observation> + Send + '_>> =
            match spec {
                ProbeSpec::Http(s) => Box::pin(self.http.probe(s, &self.tls, &run)),
                ProbeSpec::Tcp(s) => Box::pin(tcp::probe(s, &run)),
                ProbeSpec::Icmp(s) => Box::pin(self.icmp.probe(s, &run)),
                ProbeSpec::Dns(s) => Box::pin(dns::probe(s, &run)),
                ProbeSpec::Tls(s) => Box::pin(tls::probe(s, &self.tls, &run)),
                ProbeSpec::Heartbeat(s) => Box::pin(std::future::ready(heartbeat::probe(
                    s,
                    &self.heartbeats,
                    &run,
                ))),
                ProbeSpec::Sip(s) => Box::pin(sip::probe(s, &run)),
            };
        match tokio::time::timeout(timeout + DEADLINE_GRACE, fut).await {
            Ok(mut obs) => {
                obs.duration = run.start.elapsed();
                obs
            }
            Err(_) => {
                let mut obs = run.observation();
                obs.duration = run.start.elapsed();
                obs.fail(
                    ErrorCode::Timeout,
                    format!("no answer within {}", run.timeout_text()),
                );
                obs
            }
        }
    }
}

mod secs {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

mod opt_secs {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

/// Human-readable report of one probe run, for `commwatch probe`: every fact the probe learned
/// and every check in resolved form.
pub fn describe(
    t: &crate::config::Target,
    obs: &Observation,
    sample: &crate::check::Sample,
) -> String {
    use crate::check::fmt_secs;
    use std::fmt::Write;
    let ms = |d: Duration| fmt_secs(d.as_secs_f64());
    let opt = |d: Option<Duration>| d.map_or_else(|| "-".to_string(), ms);
    let mut s = String::new();
    let verdict = match (sample.ok, sample.degraded) {
        (true, false) => "OK",
        (true, true) => "DEGRADED",
        (false, _) => "FAIL",
    };
    let _ = writeln!(
        s,
        "{verdict}  {} ({}) {}",
        t.id,
        t.kind(),
        t.spec.endpoint()
    );
    let mut line = |k: &str, v: String| {
        let _ = writeln!(s, "  {:<10} {v}", format!("{k}:"));
    };
    line("name", t.name.clone());
    line(
        "at",
        crate::time::local_datetime(obs.started_at).to_string(),
    );
    line("duration", ms(obs.duration));
    if let Some(e) = obs.error {
        line(
            "error",
            format!("{e}: {}", obs.error_detail.as_deref().unwrap_or("")),
        );
    }
    let p = &obs.phases;
    for (name, d) in [
        ("dns", p.dns),
        ("connect", p.connect),
        ("tls", p.tls),
        ("first byte", p.first_byte),
        ("transfer", p.transfer),
    ] {
        if let Some(d) = d {
            line(name, ms(d));
        }
    }
    let f = &obs.facts;
    if let Some(a) = f.remote_addr {
        line("remote", a.to_string());
    }
    if let Some(code) = f.http_status {
        line(
            "status",
            format!("{code} ({})", f.http_version.as_deref().unwrap_or("")),
        );
    }
    if let Some(n) = f.redirects {
        line(
            "redirects",
            format!("{n}, ended at {}", f.final_url.as_deref().unwrap_or("")),
        );
    }
    if let Some(b) = f.body_bytes {
        let cut = if f.body_truncated {
            " (cap reached, rest not read)"
        } else {
            ""
        };
        line("body", format!("{b} bytes{cut}"));
    }
    for (k, v) in &f.headers {
        line("header", format!("{k}: {v}"));
    }
    if let Some(r) = &f.reply {
        line("reply", format!("{r:?}"));
    }
    if let Some(i) = &f.icmp {
        line("address", format!("{} ({} socket)", i.address, i.socket));
        line(
            "packets",
            format!(
                "{} sent, {} received, loss {:.2}",
                i.sent, i.received, i.loss
            ),
        );
        line(
            "rtt",
            format!(
                "min {} / avg {} / median {} / max {}, jitter {}",
                opt(i.rtt_min),
                opt(i.rtt_avg),
                opt(i.rtt_median),
                opt(i.rtt_max),
                opt(i.jitter)
            ),
        );
    }
    if let Some(d) = &f.dns {
        line(
            "rcode",
            format!("{} (from {} over {})", d.rcode, d.server, d.transport),
        );
        line("answers", format!("{}", d.answer_count));
        for a in &d.answers {
            line("answer", a.clone());
        }
    }
    if let Some(tls) = &f.tls {
        line("tls", format!("{} {}", tls.version, tls.cipher));
        let verified = match &tls.verify_error {
            None => "yes".to_string(),
            Some(e) => format!("no: {e}"),
        };
        line("verified", verified);
        line(
            "expires",
            format!(
                "{} ({} days left, earliest in chain)",
                crate::time::local_datetime(tls.earliest_expiry),
                tls.days_left
            ),
        );
        for (i, c) in tls.chain.iter().enumerate() {
            let role = if i == 0 { "leaf" } else { "chain" };
            line(
                role,
                format!(
                    "{} — issuer {} — until {} ({} days)",
                    c.subject,
                    c.issuer,
                    c.not_after.format("%Y-%m-%d"),
                    c.days_left
                ),
            );
        }
    }
    if let Some(sip) = &f.sip {
        line("sip", format!("{} {}", sip.status, sip.reason));
        if let Some(server) = &sip.server {
            line("server", server.clone());
        }
        line("retransmits", sip.retransmits.to_string());
    }
    if let Some(h) = &f.heartbeat {
        match &h.last {
            Some(p) => {
                line(
                    "last push",
                    format!(
                        "{} ({} ago), status {}",
                        crate::time::local_datetime(p.at),
                        ms(h.age),
                        p.status.as_str()
                    ),
                );
                if let Some(m) = &p.message {
                    line("message", m.clone());
                }
            }
            None => line("last push", format!("none since start ({} ago)", ms(h.age))),
        }
        line("pushes", h.pushes.to_string());
        line("allowed", format!("{} of silence", ms(h.allowed_silence)));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parses_names_v4_and_v6() {
        assert_eq!(HostPort::parse("mail.example.invalid:25").unwrap().port, 25);
        assert_eq!(HostPort::parse("[::1]:8080").unwrap().host, "::1");
        assert_eq!(
            HostPort::parse("[::1]:8080").unwrap().to_string(),
            "[::1]:8080"
        );
        assert!(HostPort::parse("::1:80").is_err());
        assert!(HostPort::parse("host").is_err());
        assert!(HostPort::parse("host:0").is_err());
        assert!(HostPort::parse("host:99999").is_err());
        assert!(HostPort::parse(":80").is_err());
    }

    #[test]
    fn error_codes_round_trip() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
    }
}
