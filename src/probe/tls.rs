//! TLS probe: connect, handshake with SNI, and report the chain's subjects, issuers and end
//! dates. Dates are read even when verification fails, so an expired certificate is reported as
//! expired (with how many days ago) rather than as a bare handshake error.

use std::path::PathBuf;

use super::certs::{TlsClients, TlsStep};
use super::{HostPort, Observation, Run, connect_host};

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
    let step = TlsStep {
        server_name: &spec.server_name,
        ca_file: spec.ca_file.as_deref(),
        http: false,
        verify: spec.verify,
    };
    // The stream is not used further: the handshake and the certificates are the facts.
    let _ = clients.handshake_phase(tcp, step, run, &mut obs).await;
    obs
}
