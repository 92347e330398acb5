//! The probe machinery a process builds once (HTTP client, TLS roots, ICMP sockets, the
//! heartbeat registry, the snmp kind's per-target memory) and the hard deadline every run is held to.

use std::time::Duration;

use super::ProbeSpec;
use super::certs::TlsClients;
use super::heartbeat::HeartbeatRegistry;
use super::http::HttpProber;
use super::icmp::IcmpProber;
use super::net::Run;
use super::observation::{ErrorCode, Observation};
use super::portal::PortalProfiles;
use super::snmp::SnmpMemory;

/// Shared probe machinery: built once per process so clients and sockets are reused.
pub struct Prober {
    pub(super) http: HttpProber,
    pub(super) tls: TlsClients,
    pub(super) icmp: IcmpProber,
    pub(super) heartbeats: HeartbeatRegistry,
    pub(super) portals: PortalProfiles,
    /// What each snmp target's previous probe saw (uptime, counters, charge), for reboots,
    /// rates and the battery runway.
    pub(super) snmp: SnmpMemory,
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
            http: HttpProber::new()?,
            tls: TlsClients::new(),
            icmp: IcmpProber::new(),
            heartbeats: HeartbeatRegistry::new(),
            portals: PortalProfiles::default(),
            snmp: SnmpMemory::default(),
        })
    }

    /// Uses `registry` for heartbeat targets, so pushes received elsewhere (the web layer of
    /// another component, a test) are what heartbeat probes read.
    pub fn with_heartbeats(mut self, registry: HeartbeatRegistry) -> Prober {
        self.heartbeats = registry;
        self
    }

    /// Keeps portal profiles in `profiles` (by default in memory only, learned again after a
    /// restart).
    pub fn with_portal_profiles(mut self, profiles: PortalProfiles) -> Prober {
        self.portals = profiles;
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
        self.run_from(spec, timeout, None).await
    }

    /// As [`Prober::run`], with every socket of the probe bound to `source` (a vantage point's
    /// own uplink address).
    pub async fn run_from(
        &self,
        spec: &ProbeSpec,
        timeout: Duration,
        source: Option<std::net::IpAddr>,
    ) -> Observation {
        self.run_with(spec, timeout, source, true).await
    }

    /// As [`Prober::run_from`], for a probe asked for on demand (`/probe`): it reads what the
    /// schedule's probes learned about the target and teaches nothing.
    pub async fn run_on_demand(
        &self,
        spec: &ProbeSpec,
        timeout: Duration,
        source: Option<std::net::IpAddr>,
    ) -> Observation {
        self.run_with(spec, timeout, source, false).await
    }

    async fn run_with(
        &self,
        spec: &ProbeSpec,
        timeout: Duration,
        source: Option<std::net::IpAddr>,
        learns: bool,
    ) -> Observation {
        let mut run = Run::new(spec.kind(), timeout);
        run.source = source;
        run.learns = learns;
        let fut = self.start(spec, &run);
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
