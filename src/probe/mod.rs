//! Probes: each kind gathers facts about one endpoint and returns an [`Observation`]; checks
//! (in `check.rs`) decide what the facts mean. This file holds the one `match` over probe kinds.

mod certs;
pub mod describe;
mod dns;
mod heartbeat;
mod http;
mod icmp;
mod net;
mod observation;
mod sip;
mod tcp;
mod tls;

use std::time::Duration;

pub use certs::{CertFacts, TlsFacts, load_ca_file};
pub use dns::{DnsFacts, DnsSpec, DnsTransport, RCODES, RecordKind};
pub use heartbeat::{HeartbeatFacts, HeartbeatRegistry, HeartbeatSpec, Push, PushStatus};
pub use http::{DEFAULT_BODY_CAP, HttpSpec};
pub use icmp::{
    DEFAULT_COUNT as DEFAULT_ICMP_COUNT, DEFAULT_SPACING as DEFAULT_ICMP_SPACING, IcmpFacts,
    IcmpSpec,
};
pub use net::HostPort;
pub(crate) use net::{Run, connect_addr, connect_host, excerpt, resolve_one};
pub use observation::{ErrorCode, Facts, Observation, Phases};
pub use sip::{SipFacts, SipSpec, SipTransport};
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
