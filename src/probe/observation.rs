//! What a probe run returns: the [`Observation`] (phase timings, facts, a bounded
//! [`ErrorCode`]). It imports nothing above `probe`, so checks, the store and metrics can all
//! read it without reaching back up.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::certs::TlsFacts;
use super::dns::DnsFacts;
use super::heartbeat::HeartbeatFacts;
use super::icmp::IcmpFacts;
use super::portal::PortalFacts;
use super::sip::SipFacts;
use super::snmp::{SnmpFacts, UpsFacts};

/// A bounded set of failure reasons: safe as a metric label and stable for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No answer within the target's timeout.
    Timeout,
    ConnRefused,
    ConnReset,
    /// The name did not resolve.
    DnsError,
    /// No route to the host or network (ICMP unreachable, interface down).
    Unreachable,
    TlsError,
    /// The certificate (or one in its chain) is past its end date.
    TlsExpired,
    /// The certificate does not name the host we asked for.
    TlsNameMismatch,
    /// The chain does not lead to a trusted root (self-signed, unknown issuer).
    TlsUntrusted,
    /// A malformed or unexpected protocol exchange.
    ProtocolError,
    /// The probe ran but a check on its facts failed.
    CheckFailed,
    /// The process may not open the socket it needs (ICMP without CAP_NET_RAW).
    PermissionDenied,
    /// Any other I/O failure.
    IoError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::Timeout,
        ErrorCode::ConnRefused,
        ErrorCode::ConnReset,
        ErrorCode::DnsError,
        ErrorCode::Unreachable,
        ErrorCode::TlsError,
        ErrorCode::TlsExpired,
        ErrorCode::TlsNameMismatch,
        ErrorCode::TlsUntrusted,
        ErrorCode::ProtocolError,
        ErrorCode::CheckFailed,
        ErrorCode::PermissionDenied,
        ErrorCode::IoError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::ConnRefused => "conn_refused",
            ErrorCode::ConnReset => "conn_reset",
            ErrorCode::DnsError => "dns_error",
            ErrorCode::Unreachable => "unreachable",
            ErrorCode::TlsError => "tls_error",
            ErrorCode::TlsExpired => "tls_expired",
            ErrorCode::TlsNameMismatch => "tls_name_mismatch",
            ErrorCode::TlsUntrusted => "tls_untrusted",
            ErrorCode::ProtocolError => "protocol_error",
            ErrorCode::CheckFailed => "check_failed",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::IoError => "io_error",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Classifies an I/O error from a socket operation.
    pub fn from_io(e: &std::io::Error) -> ErrorCode {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => ErrorCode::ConnRefused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                ErrorCode::ConnReset
            }
            K::TimedOut => ErrorCode::Timeout,
            K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown | K::AddrNotAvailable => {
                ErrorCode::Unreachable
            }
            K::PermissionDenied => ErrorCode::PermissionDenied,
            _ => ErrorCode::IoError,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Time spent in each phase of a probe, where the kind has that phase.
///
/// - `dns`: resolving the host name (for the dns kind: the query itself, sent to answer).
/// - `connect`: the TCP three-way handshake.
/// - `tls`: the TLS handshake, from ClientHello to the server's Finished.
/// - `first_byte`: from the request being written to the first byte of the answer (HTTP:
///   the response head; SIP: the final response; TCP dialogue: the matching reply).
/// - `transfer`: from the response head to the end of the body (or the body cap).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Phases {
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub dns: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub connect: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub tls: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub first_byte: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_secs")]
    pub transfer: Option<Duration>,
}

/// Facts a probe learned; each kind fills what it knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
    /// True when the body was longer than the cap and reading stopped there.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub body_truncated: bool,
    /// Redirects followed before the final response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirects: Option<u32>,
    /// The final URL after redirects, when it differs from the configured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// Response headers (names lower-case), bounded in count and length.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The body as text, kept only when a check reads it; never serialised (it can be large).
    #[serde(skip)]
    pub body: Option<String>,
    /// The start of what a TCP service said (banner or reply), for people and checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip: Option<SipFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portal: Option<PortalFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snmp: Option<SnmpFacts>,
}

/// Everything one probe run saw. It carries no verdict: checks decide.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub kind: &'static str,
    pub started_at: DateTime<Utc>,
    #[serde(with = "secs")]
    pub duration: Duration,
    /// Set when the probe itself failed (no answer, refused, ...).
    pub error: Option<ErrorCode>,
    /// Human detail for the error; shown on the page, never used as a metric label.
    pub error_detail: Option<String>,
    pub phases: Phases,
    pub facts: Facts,
}

impl Facts {
    /// What is known of the power at the site: a UPS's (snmp preset `ups`) or what a
    /// heartbeat push reported.
    pub fn power(&self) -> Option<&UpsFacts> {
        self.snmp
            .as_ref()
            .and_then(|s| s.ups.as_ref())
            .or_else(|| self.heartbeat.as_ref().and_then(|h| h.power.as_ref()))
    }
}

impl Observation {
    pub(crate) fn new(kind: &'static str, started_at: DateTime<Utc>) -> Self {
        Self {
            kind,
            started_at,
            duration: Duration::ZERO,
            error: None,
            error_detail: None,
            phases: Phases::default(),
            facts: Facts::default(),
        }
    }

    pub(crate) fn fail(&mut self, code: ErrorCode, detail: impl Into<String>) {
        self.error = Some(code);
        self.error_detail = Some(detail.into());
    }
}

pub(super) mod secs {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

pub(super) mod opt_secs {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_f64(d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
    }
}
