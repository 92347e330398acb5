//! HTTP probe: one GET over a fresh connection, timed to first byte and to the end of the body.

use std::error::Error as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{ErrorCode, Observation, ProberError};

/// Bodies are read (to time the transfer) but never kept past this many bytes, so a huge or
/// endless response cannot exhaust memory.
const BODY_CAP: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSpec {
    pub url: url::Url,
}

pub(super) struct HttpProber {
    client: reqwest::Client,
}

impl HttpProber {
    pub(super) fn new() -> Result<HttpProber, ProberError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            // Probes measure the endpoint, never a proxy from the environment.
            .no_proxy()
            // No idle connections: every probe pays (and so measures) connect and handshake.
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("commwatch/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ProberError::HttpClient(e.to_string()))?;
        Ok(HttpProber { client })
    }

    pub(super) async fn probe(
        &self,
        spec: &HttpSpec,
        kind: &'static str,
        started_at: DateTime<Utc>,
        start: Instant,
    ) -> Observation {
        let mut obs = Observation::new(kind, started_at);
        let mut response = match self.client.get(spec.url.clone()).send().await {
            Ok(r) => r,
            Err(e) => {
                let (code, detail) = classify(&e);
                obs.fail(code, detail);
                return obs;
            }
        };
        let first_byte = start.elapsed();
        obs.phases.first_byte = Some(first_byte);
        obs.facts.http_status = Some(response.status().as_u16());
        obs.facts.http_version = Some(format!("{:?}", response.version()));
        obs.facts.remote_addr = response.remote_addr();
        let mut read: u64 = 0;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len() as u64;
                    if read >= BODY_CAP {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let (code, detail) = classify(&e);
                    obs.fail(code, format!("reading body: {detail}"));
                    break;
                }
            }
        }
        obs.facts.body_bytes = Some(read);
        obs.phases.transfer = Some(start.elapsed().saturating_sub(first_byte));
        obs
    }
}

/// Maps a reqwest error to a bounded code by walking its causes; the full text is kept as detail.
fn classify(e: &reqwest::Error) -> (ErrorCode, String) {
    let mut detail = e.to_string();
    let mut source = e.source();
    let mut code = None;
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        if code.is_none() {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                let c = ErrorCode::from_io(io);
                if c != ErrorCode::IoError {
                    code = Some(c);
                }
            } else if s.downcast_ref::<rustls::Error>().is_some() {
                code = Some(ErrorCode::TlsError);
            }
        }
        source = s.source();
    }
    let lower = detail.to_ascii_lowercase();
    let code = code.unwrap_or(if e.is_timeout() {
        ErrorCode::Timeout
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        ErrorCode::DnsError
    } else if lower.contains("certificate") || lower.contains("tls") {
        ErrorCode::TlsError
    } else if e.is_connect() {
        ErrorCode::IoError
    } else {
        ErrorCode::ProtocolError
    });
    (code, detail)
}
