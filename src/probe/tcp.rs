//! TCP probe: resolve the address and complete a three-way handshake within the deadline.

use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::net::TcpStream;

use super::{ErrorCode, HostPort, Observation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpSpec {
    pub address: HostPort,
}

pub(super) async fn probe(
    spec: &TcpSpec,
    kind: &'static str,
    started_at: DateTime<Utc>,
    start: Instant,
) -> Observation {
    let mut obs = Observation::new(kind, started_at);
    let addrs: Vec<_> =
        match tokio::net::lookup_host((spec.address.host.as_str(), spec.address.port)).await {
            Ok(a) => a.collect(),
            Err(e) => {
                obs.fail(
                    ErrorCode::DnsError,
                    format!("cannot resolve {}: {e}", spec.address.host),
                );
                return obs;
            }
        };
    let resolved = start.elapsed();
    obs.phases.dns = Some(resolved);
    let Some(addr) = addrs.first().copied() else {
        obs.fail(
            ErrorCode::DnsError,
            format!("{} has no addresses", spec.address.host),
        );
        return obs;
    };
    // One address only: a monitor should report the endpoint it was told about, not hide a
    // dead primary behind a working fallback.
    match TcpStream::connect(addr).await {
        Ok(stream) => {
            obs.phases.connect = Some(start.elapsed().saturating_sub(resolved));
            obs.facts.remote_addr = stream.peer_addr().ok();
        }
        Err(e) => {
            let code = ErrorCode::from_io(&e);
            obs.fail(code, format!("connect to {addr}: {e}"));
        }
    }
    obs
}
