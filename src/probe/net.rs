//! Network steps several kinds share: `host:port` addresses, the run's deadline, resolving and
//! connecting within it (timed as the `dns` and `connect` phases), reply excerpts.

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::observation::{ErrorCode, Observation};

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
    /// The local address to probe from (`[instance]` or the target's `source_address`), so
    /// a vantage point measures the uplink it is meant to watch; `None`: the system chooses.
    pub source: Option<std::net::IpAddr>,
    /// Whether the run may teach the prober's per-target memory (a portal's learned profile):
    /// a scheduled probe does; an on-demand one (`/probe`, scraped as often as Prometheus
    /// likes) only reads it.
    pub learns: bool,
}

impl Run {
    pub(super) fn new(kind: &'static str, timeout: Duration) -> Run {
        let start = Instant::now();
        Run {
            kind,
            // Millisecond precision, as stored (see `time::now_ms`).
            started_at: crate::time::now_ms(),
            start,
            deadline: tokio::time::Instant::from_std(start) + timeout,
            timeout,
            source: None,
            learns: true,
        }
    }

    /// The local socket address a UDP probe towards `dest` binds to: the source address when
    /// one is set (of `dest`'s family), else the unspecified address of that family.
    pub fn udp_bind(&self, dest: &SocketAddr) -> SocketAddr {
        match self.source {
            Some(ip) => SocketAddr::new(ip, 0),
            None if dest.is_ipv4() => SocketAddr::from(([0, 0, 0, 0], 0)),
            None => SocketAddr::from(([0u16; 8], 0)),
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
    // From a source address, the first address of its family: a dual-stack name must not be
    // reported down because its AAAA came first for an IPv4 vantage point.
    let first = match run.source {
        Some(src) => addrs
            .iter()
            .find(|a| a.is_ipv4() == src.is_ipv4())
            .or(addrs.first())
            .copied(),
        None => addrs.first().copied(),
    };
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
    match run.within(connect_from(run.source, addr)).await {
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

/// A TCP connection to `addr`, from `source` when one is given.
async fn connect_from(
    source: Option<std::net::IpAddr>,
    addr: SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let Some(ip) = source else {
        return tokio::net::TcpStream::connect(addr).await;
    };
    if ip.is_ipv4() != addr.is_ipv4() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("source address {ip} cannot reach {addr} (another address family)"),
        ));
    }
    let socket = if ip.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
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
}
