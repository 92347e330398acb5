//! TLS for the http and tls probes: one handshake that always completes, so certificate dates
//! are read even from an expired or untrusted chain, followed by a separate verification whose
//! outcome becomes a bounded error code (`tls_expired`, `tls_untrusted`, `tls_name_mismatch`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::ErrorCode;

/// What the handshake showed about the server's certificates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsFacts {
    pub version: String,
    pub cipher: String,
    pub server_name: String,
    /// True when the chain verified against the trusted roots for `server_name`.
    pub verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_error: Option<String>,
    /// Whole days until the earliest end date in the presented chain (negative once expired).
    pub days_left: i64,
    /// The earliest end date in the presented chain: the date the service breaks.
    pub earliest_expiry: DateTime<Utc>,
    /// Leaf first, then the intermediates in the order the server sent them.
    pub chain: Vec<CertFacts>,
}

impl TlsFacts {
    /// For people (`commwatch probe`): the handshake and the chain, with the earliest end date.
    pub(super) fn describe(&self, line: &mut dyn FnMut(&str, String)) {
        line("tls", format!("{} {}", self.version, self.cipher));
        let verified = match &self.verify_error {
            None => "yes".to_string(),
            Some(e) => format!("no: {e}"),
        };
        line("verified", verified);
        line(
            "expires",
            format!(
                "{} ({} days left, earliest in chain)",
                crate::time::local_datetime(self.earliest_expiry),
                self.days_left
            ),
        );
        for (i, c) in self.chain.iter().enumerate() {
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
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub days_left: i64,
}

/// Why a handshake or certificate read failed.
#[derive(Debug)]
pub(super) struct TlsFailure {
    pub code: ErrorCode,
    pub detail: String,
}

/// Accepts any certificate during the handshake (signatures on the handshake itself are still
/// checked), so the connection completes and the chain can be read and verified afterwards.
/// Also used by the PostgreSQL store for `sslmode = "prefer"`/`"require"`, which libpq defines
/// as encryption without verification.
#[derive(Debug)]
pub(crate) struct ReadAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ReadAnyCertificate {
    pub(crate) fn ring() -> Self {
        ReadAnyCertificate {
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for ReadAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Client settings for one set of trusted roots.
struct Trust {
    /// For the tls probe: no ALPN.
    plain: Arc<ClientConfig>,
    /// For the http probe: ALPN `http/1.1`, the only protocol it speaks.
    http1: Arc<ClientConfig>,
    verifier: Arc<WebPkiServerVerifier>,
}

/// TLS client configurations, built on first use per set of roots (the built-in Mozilla roots,
/// or a `ca_file`) and shared by every probe of the process.
pub(super) struct TlsClients {
    trusts: Mutex<HashMap<Option<PathBuf>, Arc<Trust>>>,
}

impl TlsClients {
    pub(super) fn new() -> TlsClients {
        crate::install_crypto_provider();
        TlsClients {
            trusts: Mutex::new(HashMap::new()),
        }
    }

    fn trust(&self, ca_file: Option<&Path>) -> Result<Arc<Trust>, TlsFailure> {
        let key = ca_file.map(Path::to_path_buf);
        // A poisoned lock only means another probe panicked while inserting; the map is whole.
        let mut map = self.trusts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = map.get(&key) {
            return Ok(t.clone());
        }
        let roots = match ca_file {
            Some(path) => load_roots(path).map_err(|detail| TlsFailure {
                code: ErrorCode::TlsError,
                detail,
            })?,
            None => {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(
                    webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned(),
                );
                roots
            }
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TlsFailure {
                    code: ErrorCode::TlsError,
                    detail: format!("cannot build the certificate verifier: {e}"),
                })?;
        let build = |alpn: &[&[u8]]| -> Result<Arc<ClientConfig>, TlsFailure> {
            let mut config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| TlsFailure {
                    code: ErrorCode::TlsError,
                    detail: format!("cannot build the TLS client: {e}"),
                })?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ReadAnyCertificate {
                    algorithms: provider.signature_verification_algorithms,
                }))
                .with_no_client_auth();
            config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
            // Every probe pays for (and so measures) a full handshake.
            config.resumption = rustls::client::Resumption::disabled();
            Ok(Arc::new(config))
        };
        let trust = Arc::new(Trust {
            plain: build(&[])?,
            http1: build(&[b"http/1.1"])?,
            verifier,
        });
        map.insert(key, trust.clone());
        Ok(trust)
    }

    /// Runs a TLS handshake over `tcp`, reads the chain, and verifies it for `server_name`.
    /// The stream is returned even when verification failed; the caller decides whether that
    /// ends the probe (verification on) or is only reported (verification off).
    pub(super) async fn handshake(
        &self,
        tcp: TcpStream,
        server_name: &str,
        ca_file: Option<&Path>,
        http: bool,
    ) -> Result<(TlsStream<TcpStream>, TlsFacts, Option<TlsFailure>), TlsFailure> {
        let trust = self.trust(ca_file)?;
        let name = ServerName::try_from(server_name.to_string()).map_err(|e| TlsFailure {
            code: ErrorCode::TlsError,
            detail: format!("`{server_name}` is not a valid TLS server name: {e}"),
        })?;
        let config = if http { &trust.http1 } else { &trust.plain };
        let connector = TlsConnector::from(config.clone());
        let stream = connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| TlsFailure {
                code: classify_io(&e),
                detail: format!("TLS handshake with {server_name} failed: {e}"),
            })?;
        let (_, conn) = stream.get_ref();
        let certs: Vec<CertificateDer<'static>> = conn
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let version = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()))
            .unwrap_or_default();
        let now = crate::time::now_ms();
        let mut chain = Vec::with_capacity(certs.len());
        for der in &certs {
            chain.push(cert_facts(der, now)?);
        }
        let Some(earliest) = chain.iter().map(|c| c.not_after).min() else {
            return Err(TlsFailure {
                code: ErrorCode::TlsError,
                detail: "the server sent no certificate".into(),
            });
        };
        let failure = match certs.split_first() {
            Some((leaf, rest)) => trust
                .verifier
                .verify_server_cert(leaf, rest, &name, &[], UnixTime::now())
                .err()
                .map(|e| TlsFailure {
                    code: classify_verify(&e),
                    detail: format!("certificate of {server_name} not accepted: {e}"),
                }),
            None => None,
        };
        let facts = TlsFacts {
            version,
            cipher,
            server_name: server_name.to_string(),
            verified: failure.is_none(),
            verify_error: failure.as_ref().map(|f| f.detail.clone()),
            days_left: days_between(now, earliest),
            earliest_expiry: earliest,
            chain,
        };
        Ok((stream, facts, failure))
    }
}

/// What a probe needs to run a TLS handshake as one of its phases.
pub(super) struct TlsStep<'a> {
    pub server_name: &'a str,
    pub ca_file: Option<&'a Path>,
    /// Offer ALPN `http/1.1`.
    pub http: bool,
    /// Fail the probe when verification fails (otherwise it is only reported).
    pub verify: bool,
}

impl TlsClients {
    /// Runs the handshake as the probe's `tls` phase: times it, records the certificate facts,
    /// and marks the observation on failure (or on a failed verification, when verifying).
    pub(super) async fn handshake_phase(
        &self,
        tcp: TcpStream,
        step: TlsStep<'_>,
        run: &super::Run,
        obs: &mut super::Observation,
    ) -> Option<TlsStream<TcpStream>> {
        let before = run.start.elapsed();
        let handshake = self.handshake(tcp, step.server_name, step.ca_file, step.http);
        let (stream, facts, failure) = match run.within(handshake).await {
            None => {
                obs.fail(
                    ErrorCode::Timeout,
                    format!("TLS handshake not finished within {}", run.timeout_text()),
                );
                return None;
            }
            Some(Err(f)) => {
                obs.fail(f.code, f.detail);
                return None;
            }
            Some(Ok(x)) => x,
        };
        obs.phases.tls = Some(run.start.elapsed().saturating_sub(before));
        obs.facts.tls = Some(facts);
        match failure {
            Some(f) if step.verify => {
                obs.fail(f.code, f.detail);
                None
            }
            _ => Some(stream),
        }
    }
}

/// Reads every certificate in a PEM file into a root store.
/// Reads a PEM bundle of trusted certificates (`ca_file`); the error says what is wrong.
pub fn load_ca_file(path: &Path) -> Result<(), String> {
    load_roots(path).map(|_| ())
}

pub fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
    for cert in iter {
        let cert = cert.map_err(|e| format!("bad PEM in CA file {}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("unusable certificate in CA file {}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("CA file {} holds no certificate", path.display()));
    }
    Ok(roots)
}

/// Whole days from `now` to `then`, rounded down (an expired certificate gives a negative count).
fn days_between(now: DateTime<Utc>, then: DateTime<Utc>) -> i64 {
    (then - now).num_seconds().div_euclid(86_400)
}

fn cert_facts(der: &CertificateDer<'_>, now: DateTime<Utc>) -> Result<CertFacts, TlsFailure> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| TlsFailure {
        code: ErrorCode::TlsError,
        detail: format!("cannot parse a certificate the server sent: {e}"),
    })?;
    let v = cert.validity();
    let ts = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
    let not_after = ts(v.not_after.timestamp());
    Ok(CertFacts {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: ts(v.not_before.timestamp()),
        not_after,
        days_left: days_between(now, not_after),
    })
}

fn classify_verify(e: &rustls::Error) -> ErrorCode {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                ErrorCode::TlsExpired
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                ErrorCode::TlsNameMismatch
            }
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => ErrorCode::TlsUntrusted,
            _ => ErrorCode::TlsError,
        },
        _ => ErrorCode::TlsError,
    }
}

/// A handshake error arrives as `io::Error`; plain socket failures keep their own codes.
fn classify_io(e: &std::io::Error) -> ErrorCode {
    if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
        return ErrorCode::TlsError;
    }
    match ErrorCode::from_io(e) {
        ErrorCode::IoError => ErrorCode::TlsError,
        c => c,
    }
}
