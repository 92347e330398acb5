//! Probes: each kind gathers facts about one endpoint and returns an [`Observation`]; checks
//! (in `check.rs`) decide what the facts mean. This file holds the one `match` over probe kinds.

mod http;
mod tcp;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use http::HttpSpec;
pub use tcp::TcpSpec;

/// What to probe and how: the kind-specific part of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    Http(HttpSpec),
    Tcp(TcpSpec),
}

impl ProbeSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Http(_) => "http",
            ProbeSpec::Tcp(_) => "tcp",
        }
    }

    /// A short human description of the endpoint ("GET https://...", "tcp 1.2.3.4:25").
    pub fn endpoint(&self) -> String {
        match self {
            ProbeSpec::Http(s) => s.url.to_string(),
            ProbeSpec::Tcp(s) => s.address.to_string(),
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
    /// A malformed or unexpected protocol exchange.
    ProtocolError,
    /// The probe ran but a check on its facts failed.
    CheckFailed,
    /// Any other I/O failure.
    IoError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 9] = [
        ErrorCode::Timeout,
        ErrorCode::ConnRefused,
        ErrorCode::ConnReset,
        ErrorCode::DnsError,
        ErrorCode::Unreachable,
        ErrorCode::TlsError,
        ErrorCode::ProtocolError,
        ErrorCode::CheckFailed,
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
            ErrorCode::ProtocolError => "protocol_error",
            ErrorCode::CheckFailed => "check_failed",
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
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Phases {
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub dns: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub connect: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub first_byte: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub transfer: Option<Duration>,
}

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

/// Shared probe machinery: built once per process so clients and sockets are reused.
pub struct Prober {
    http: http::HttpProber,
}

#[derive(Debug, thiserror::Error)]
pub enum ProberError {
    #[error("cannot build the HTTP probe client: {0}")]
    HttpClient(String),
}

impl Prober {
    pub fn new() -> Result<Prober, ProberError> {
        Ok(Prober {
            http: http::HttpProber::new()?,
        })
    }

    /// Runs one probe with a hard deadline. A probe that does not finish by `timeout` is cut off
    /// and reported as [`ErrorCode::Timeout`], so a hung endpoint costs at most its timeout.
    pub async fn run(&self, spec: &ProbeSpec, timeout: Duration) -> Observation {
        let started_at = crate::time::now_ms();
        let start = Instant::now();
        let kind = spec.kind();
        let fut = async {
            match spec {
                ProbeSpec::Http(s) => self.http.probe(s, kind, started_at, start).await,
                ProbeSpec::Tcp(s) => tcp::probe(s, kind, started_at, start).await,
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(mut obs) => {
                obs.duration = start.elapsed();
                obs
            }
            Err(_) => {
                let mut obs = Observation::new(kind, started_at);
                obs.duration = start.elapsed();
                obs.fail(
                    ErrorCode::Timeout,
                    format!("no answer within {}", humantime::format_duration(timeout)),
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

/// Human-readable report of one probe run, for `commwatch probe`.
pub fn describe(
    t: &crate::config::Target,
    obs: &Observation,
    sample: &crate::check::Sample,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let verdict = if sample.ok { "OK" } else { "FAIL" };
    let _ = writeln!(
        s,
        "{verdict}  {} ({}) {}",
        t.id,
        t.kind(),
        t.spec.endpoint()
    );
    let _ = writeln!(s, "  name:      {}", t.name);
    let _ = writeln!(
        s,
        "  at:        {}",
        crate::time::local_datetime(obs.started_at)
    );
    let _ = writeln!(s, "  duration:  {:.1} ms", obs.duration.as_secs_f64() * 1e3);
    if let Some(e) = obs.error {
        let _ = writeln!(
            s,
            "  error:     {e}: {}",
            obs.error_detail.as_deref().unwrap_or("")
        );
    }
    let phases = [
        ("dns", obs.phases.dns),
        ("connect", obs.phases.connect),
        ("first byte", obs.phases.first_byte),
        ("transfer", obs.phases.transfer),
    ];
    for (name, d) in phases {
        if let Some(d) = d {
            let _ = writeln!(s, "  {name:<10} {:.1} ms", d.as_secs_f64() * 1e3);
        }
    }
    if let Some(a) = obs.facts.remote_addr {
        let _ = writeln!(s, "  remote:    {a}");
    }
    if let Some(code) = obs.facts.http_status {
        let _ = writeln!(s, "  status:    {code}");
    }
    if let Some(b) = obs.facts.body_bytes {
        let _ = writeln!(s, "  body:      {b} bytes");
    }
    for c in &sample.checks {
        let mark = if c.ok { "pass" } else { "FAIL" };
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
