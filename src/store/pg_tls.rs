//! TLS towards PostgreSQL with the same rustls (ring) the probes use: `prefer`/`require` encrypt
//! without verifying, as libpq defines them; `verify-full` checks the chain (a CA file or the
//! public roots) and the host name.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;
use super::postgres::PgTls;

pub(super) fn connector(tls: &PgTls) -> Result<MakeRustlsConnect, StoreError> {
    crate::install_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Tls(e.to_string()))?;
    let config = match tls {
        PgTls::VerifyFull { ca_file } => {
            let roots = match ca_file {
                Some(path) => crate::probe::load_roots(path).map_err(StoreError::Tls)?,
                None => {
                    let mut roots = RootCertStore::empty();
                    roots.add_parsable_certificates(
                        webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned(),
                    );
                    roots
                }
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        PgTls::Disable | PgTls::Prefer | PgTls::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::probe::ReadAnyCertificate::ring()))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}
