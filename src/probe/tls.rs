//! TLS probe: connect, handshake with SNI, and report the chain's subjects, issuers and end
//! dates. Dates are read even when verification fails, so an expired certificate is reported as
//! expired (with how many days ago) rather than as a bare handshake error.

use std::path::PathBuf;

use super::certs::{TlsClients, TlsStep};
use super::keys::{Key, Resolve};
use super::vocab::{KindVocab, Metric, TextFact};
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

// The tls kind's config keys and check vocabulary.

/// What the tls kind tells the config and check layers about itself.
pub const VOCAB: KindVocab = KindVocab {
    name: "tls",
    keys: KEYS,
    metrics: METRICS,
    texts: TEXTS,
};

/// The keys a tls target may set.
pub const KEYS: &[Key] = &[
    Key::TlsVerify,
    Key::CaFile,
    Key::Address,
    Key::ServerName,
    Key::MinDays,
];
/// The numbers checks may read on a tls target.
pub const METRICS: &[Metric] = &[
    Metric::CertDays,
    Metric::Latency,
    Metric::Dns,
    Metric::Connect,
    Metric::Tls,
];
/// What checks may compare as text on a tls target: nothing beyond the numbers.
pub const TEXTS: &[TextFact] = &[];

/// Days of certificate validity required unless `min_days` says otherwise.
const DEFAULT_MIN_DAYS: i64 = 14;

/// Resolves a tls target's keys to its spec; `min_days` implies the `cert_days` check.
pub(super) fn from_keys(r: &mut Resolve<'_, '_>) -> Option<TlsSpec> {
    let k = r.keys;
    let address = r.address("tls")?;
    let server_name = k
        .server_name
        .map_or_else(|| address.host.clone(), str::to_string);
    if rustls::pki_types::ServerName::try_from(server_name.as_str()).is_err() {
        r.err(
            Key::ServerName,
            format!("`{server_name}` is not a valid TLS server name"),
        );
    }
    let min_days = k.min_days.unwrap_or(DEFAULT_MIN_DAYS);
    if !(0..=3650).contains(&min_days) {
        r.err(
            Key::MinDays,
            format!("must be between 0 and 3650, got {min_days}"),
        );
    }
    r.implied(Key::MinDays, &format!("cert_days >= {min_days}"));
    let ca_file = r.ca_file();
    Some(TlsSpec {
        address,
        server_name,
        verify: k.tls_verify.unwrap_or(true),
        ca_file,
    })
}
