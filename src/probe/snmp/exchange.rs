//! One exchange with an SNMP agent: the session, the attempts that share the timeout, the
//! walk that finds an interface by name, and the messages a failed exchange is reported with
//! (which never carry the community or a key).

use std::net::SocketAddr;
use std::time::Duration;

use snmp2::AsyncSession;

use super::presets;
use super::values::{self, SnmpValue};
use super::{SnmpAuth, SnmpSpec};
use crate::probe::{ErrorCode, Run};

/// Most steps of the ifDescr/ifName walk that looks up `if_name`.
const MAX_WALK: usize = 512;

/// Why an exchange with the agent ended without values.
pub(super) enum Failure {
    /// Every attempt timed out.
    Silent {
        attempts: u32,
    },
    Agent(snmp2::Error),
    /// The agent answered with an error status (noSuchName, authorizationError ...).
    Status {
        status: u32,
        index: u32,
    },
}

/// Stale replies (to an attempt that timed out) and "repeat the request" answers (a v3 time
/// window resynchronised) tolerated per exchange, beyond the retries.
const MAX_REPEATS: u32 = 8;

/// One session to the agent, with the attempt schedule: each attempt gets an equal share of
/// what is left of the timeout, so `retries` never stretch a probe past its deadline.
pub(super) struct Exchange<'r> {
    pub(super) session: AsyncSession,
    pub(super) run: &'r Run,
    pub(super) retries: u32,
    /// Attempts beyond the first so far.
    pub(super) used: u32,
    pub(super) repeats: u32,
}

type Answer<T> = Result<Result<T, Failure>, tokio::time::error::Elapsed>;

impl Exchange<'_> {
    /// The time the next attempt may take.
    fn share(&self) -> Duration {
        let left = self
            .run
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        left / (self.retries + 1 - self.used.min(self.retries))
    }

    /// What to do with one attempt's answer: `Some` is the result, `None` tries again.
    fn judge<T>(&mut self, answer: Answer<T>) -> Result<Option<T>, Failure> {
        use snmp2::Error as E;
        match answer {
            Ok(Ok(v)) => Ok(Some(v)),
            Ok(Err(Failure::Agent(E::RequestIdMismatch | E::AuthUpdated)))
                if self.repeats < MAX_REPEATS =>
            {
                self.repeats += 1;
                Ok(None)
            }
            Ok(Err(f)) => Err(f),
            Err(_) if self.used < self.retries => {
                self.used += 1;
                Ok(None)
            }
            Err(_) => Err(Failure::Silent {
                attempts: self.used + 1,
            }),
        }
    }

    pub(super) async fn init(&mut self) -> Result<(), Failure> {
        loop {
            let share = self.share();
            let session = &mut self.session;
            let answer = tokio::time::timeout(share, async {
                session.init().await.map_err(Failure::Agent)
            })
            .await;
            if let Some(v) = self.judge(answer)? {
                return Ok(v);
            }
        }
    }

    /// GETs `oids` in one request, retrying on silence and on stale replies.
    pub(super) async fn get(
        &mut self,
        oids: &[snmp2::Oid<'static>],
    ) -> Result<Vec<SnmpValue>, Failure> {
        let refs: Vec<&snmp2::Oid<'_>> = oids.iter().collect();
        loop {
            let share = self.share();
            let session = &mut self.session;
            let answer = tokio::time::timeout(share, async {
                let pdu = session.get_many(&refs).await.map_err(Failure::Agent)?;
                values_of(&pdu)
            })
            .await;
            if let Some(v) = self.judge(answer)? {
                return Ok(v);
            }
        }
    }

    /// The object after `oid` (one step of a walk).
    async fn next(&mut self, oid: &snmp2::Oid<'static>) -> Result<Option<SnmpValue>, Failure> {
        loop {
            let share = self.share();
            let session = &mut self.session;
            let answer = tokio::time::timeout(share, async {
                let pdu = session.getnext(oid).await.map_err(Failure::Agent)?;
                values_of(&pdu).map(|v| v.into_iter().next())
            })
            .await;
            if let Some(v) = self.judge(answer)? {
                return Ok(v);
            }
        }
    }
}

/// The values of a response, or its error status.
fn values_of(pdu: &snmp2::Pdu<'_>) -> Result<Vec<SnmpValue>, Failure> {
    if pdu.error_status != 0 {
        return Err(Failure::Status {
            status: pdu.error_status,
            index: pdu.error_index,
        });
    }
    Ok(pdu
        .varbinds
        .clone()
        .map(|(o, v)| SnmpValue::from_wire(o.to_id_string(), &v))
        .collect())
}

/// RFC 3416 error-status names.
fn status_name(s: u32) -> &'static str {
    const NAMES: [&str; 19] = [
        "noError",
        "tooBig",
        "noSuchName",
        "badValue",
        "readOnly",
        "genErr",
        "noAccess",
        "wrongType",
        "wrongLength",
        "wrongEncoding",
        "wrongValue",
        "noCreation",
        "inconsistentValue",
        "resourceUnavailable",
        "commitFailed",
        "undoFailed",
        "authorizationError",
        "notWritable",
        "inconsistentName",
    ];
    NAMES.get(s as usize).copied().unwrap_or("unknown error")
}

/// The error code and message for a failed exchange. Never the community or a key: what the
/// agent did says enough.
pub(super) fn explain(
    f: &Failure,
    spec: &SnmpSpec,
    addr: SocketAddr,
    run: &Run,
    discovery: bool,
) -> (ErrorCode, String) {
    let within = run.timeout_text();
    match f {
        Failure::Silent { attempts } => {
            let why = match (&spec.auth, discovery) {
                (SnmpAuth::V2c { .. }, _) => {
                    "the community may be wrong (agents stay silent on a wrong community), or no agent listens there"
                }
                (SnmpAuth::V3 { .. }, true) => {
                    "no agent listens there, or it does not speak SNMPv3"
                }
                (SnmpAuth::V3 { .. }, false) => {
                    "the privacy key or protocol may be wrong (agents drop what they cannot decrypt)"
                }
            };
            (
                ErrorCode::Timeout,
                format!(
                    "no SNMP answer from {addr} within {within} ({attempts} attempt{}): {why}",
                    if *attempts == 1 { "" } else { "s" }
                ),
            )
        }
        Failure::Agent(snmp2::Error::AuthFailure(kind)) => {
            let user = match &spec.auth {
                SnmpAuth::V3 { user, .. } => user.as_str(),
                SnmpAuth::V2c { .. } => "",
            };
            (
                ErrorCode::ProtocolError,
                format!(
                    "SNMPv3 authentication with {addr} failed ({kind}): check `user` ({user}), `auth_protocol` and `auth_key_file`"
                ),
            )
        }
        Failure::Agent(snmp2::Error::Receive) => (
            ErrorCode::ConnRefused,
            format!("no SNMP agent on UDP {addr} (the port is unreachable)"),
        ),
        Failure::Agent(snmp2::Error::Send) => {
            (ErrorCode::IoError, format!("cannot send to UDP {addr}"))
        }
        Failure::Agent(e) => (
            ErrorCode::ProtocolError,
            format!("unexpected SNMP answer from {addr}: {e}"),
        ),
        Failure::Status { status, index } => (
            ErrorCode::ProtocolError,
            format!(
                "{addr} answered {} (error-status {status}) at OID number {index} of the request",
                status_name(*status)
            ),
        ),
    }
}

/// Finds the ifIndex of the interface named `name` by walking ifDescr, then ifName.
pub(super) async fn lookup_if(ex: &mut Exchange<'_>, name: &str) -> Result<Option<u32>, Failure> {
    for column in [presets::IF_DESCR, presets::IF_NAME] {
        let prefix = format!("{column}.");
        let mut at = column.to_string();
        for _ in 0..MAX_WALK {
            let Some(oid) = to_oids(std::slice::from_ref(&at)).pop() else {
                break;
            };
            let Some(v) = ex.next(&oid).await? else {
                break;
            };
            // Past the column: the walk is over.
            let Some(index) = v.oid.strip_prefix(&prefix) else {
                break;
            };
            if v.text().as_deref() == Some(name) {
                return Ok(index.parse().ok());
            }
            at = v.oid;
        }
    }
    Ok(None)
}

pub(super) fn to_oids(list: &[String]) -> Vec<snmp2::Oid<'static>> {
    list.iter()
        .filter_map(|o| values::parse_oid(o).ok())
        .filter_map(|a| snmp2::Oid::from(&a).ok())
        .collect()
}
