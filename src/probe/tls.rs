//! TLS probe: connect, handshake with SNI, and report the chain's subjects, issuers and end
//! dates. Dates are read even when verification fails, so an expired certificate is reported as
//! expired (with how many days ago) rather than as a bare handshake error.

use std::path::PathBuf;

use tokio::net::TcpStream;

use super::certs::TlsClients;
use super::{ErrorCode, HostPort, Observation, Run, connect_host};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    pub address: HostPort,
    /// The name sent as SNI and verified against the certificate; defaults to the host.
    pub server_name: String,
    /// Verify the chain and the name (default). Off, problems are facts, not failures.
    pub verify: bool,
    /// Trust only the certificates in this PEM file instead of the built-in roots.
    pub ca_file: Option<PathBuf>,
}

pub(super) async fn probe(spec: &TlsSpec, clients: &TlsClients, run: &Run) -> Observation {
    let mut obs = run.observation();
    let Some(tcp) = connect_host(&spec.address, run, &mut obs).await else {
        return obs;
    };
    tls_over(tcp, spec, clients, run, &mut obs).await;
    obs
}

async fn tls_over(
    tcp: TcpStream,
    spec: &TlsSpec,
    clients: &TlsClients,
    run: &Run,
    obs: &mut Observation,
) {
    let before = run.start.elapsed();
    let handshake = clients.handshake(tcp, &spec.server_name, spec.ca_file.as_deref(), false);
    match run.within(handshake).await {
        None => obs.fail(
            ErrorCode::Timeout,
            format!("TLS handshake not finished within {}", run.timeout_text()),
        ),
        Some(Err(f)) => obs.fail(f.code, f.detail),
        Some(Ok((_stream, facts, failure))) => {
            obs.phases.tls = Some(run.start.elapsed().saturating_sub(before));
            obs.facts.tls = Some(facts);
            if spec.verify
                && let Some(f) = failure
            {
                obs.fail(f.code, f.detail);
            }
        }
    }
}
