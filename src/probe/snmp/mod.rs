//! SNMP probe: a GET of listed OIDs (`oids`) and of a preset's (`uptime`, `interface`,
//! `ups`) over SNMP v2c or v3 authPriv, through the `snmp2` crate (the wire format is its
//! job). Facts are each OID's value with its type, plus what the preset derives: a reboot seen
//! through sysUpTime, interface error rates, and the battery runway of a UPS on battery.
//!
//! Secrets (the community, the v3 keys) are read from files at load and are never logged,
//! shown or put in a message: a wrong community or key is reported by what the agent did
//! (stayed silent, sent a report), not by what was sent.

mod presets;
mod values;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use snmp2::AsyncSession;
use snmp2::v3::{Auth, AuthProtocol, Cipher, Security};

use super::keys::{Key, Resolve};
use super::vocab::{KindVocab, Metric, TextFact};
use super::{ErrorCode, HostPort, Observation, Run, resolve_one};
pub use presets::{
    DEFAULT_RUNWAY_WARN, IfSelect, InterfaceFacts, Memory as SnmpMemory, Power, Preset, UpsFacts,
    UptimeFacts,
};
pub use values::{SnmpData, SnmpType, SnmpValue};

/// A dotted OID in the canonical form facts use, or why it is not one.
pub fn canonical_oid(s: &str) -> Result<String, String> {
    values::parse_oid(s).map(|a| values::canonical(&a))
}

/// The port SNMP agents listen on when `address` names none.
const DEFAULT_PORT: u16 = 161;
/// Most retries a target may ask for: each costs a share of the timeout.
const MAX_RETRIES: u32 = 10;
/// Most OIDs one target may list: one GET carries them all, and a PDU must fit a datagram.
const MAX_OIDS: usize = 64;
/// Most steps of the ifDescr/ifName walk that looks up `if_name`.
const MAX_WALK: usize = 512;

/// A secret read from a file: its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnmpAuth {
    V2c {
        community: Secret,
    },
    /// v3 authPriv (USM): the user, the authentication and privacy protocols and keys.
    V3 {
        user: String,
        auth_protocol: AuthProto,
        auth_key: Secret,
        priv_protocol: PrivProto,
        priv_key: Secret,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProto {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl AuthProto {
    const ALL: [(&'static str, AuthProto); 6] = [
        ("md5", AuthProto::Md5),
        ("sha", AuthProto::Sha),
        ("sha224", AuthProto::Sha224),
        ("sha256", AuthProto::Sha256),
        ("sha384", AuthProto::Sha384),
        ("sha512", AuthProto::Sha512),
    ];

    fn wire(self) -> AuthProtocol {
        match self {
            AuthProto::Md5 => AuthProtocol::Md5,
            AuthProto::Sha => AuthProtocol::Sha1,
            AuthProto::Sha224 => AuthProtocol::Sha224,
            AuthProto::Sha256 => AuthProtocol::Sha256,
            AuthProto::Sha384 => AuthProtocol::Sha384,
            AuthProto::Sha512 => AuthProtocol::Sha512,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivProto {
    Des,
    Aes,
    Aes192,
    Aes256,
}

impl PrivProto {
    const ALL: [(&'static str, PrivProto); 4] = [
        ("des", PrivProto::Des),
        ("aes", PrivProto::Aes),
        ("aes192", PrivProto::Aes192),
        ("aes256", PrivProto::Aes256),
    ];

    fn wire(self) -> Cipher {
        match self {
            PrivProto::Des => Cipher::Des,
            PrivProto::Aes => Cipher::Aes128,
            PrivProto::Aes192 => Cipher::Aes192,
            PrivProto::Aes256 => Cipher::Aes256,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnmpSpec {
    /// The target id: the previous probe's values are remembered under it.
    pub target: String,
    pub address: HostPort,
    pub auth: SnmpAuth,
    /// OIDs listed by `oids` and named by checks (`oid("...")`), canonical dotted form.
    pub oids: Vec<String>,
    pub preset: Option<Preset>,
    /// Extra attempts after the first, within the timeout.
    pub retries: u32,
    pub runway_warn: Duration,
}

impl SnmpSpec {
    /// Adds an OID a check reads, so the GET fetches it.
    pub fn want(&mut self, oid: &str) {
        if !self.oids.iter().any(|o| o == oid) {
            self.oids.push(oid.to_string());
        }
    }

    pub fn version(&self) -> &'static str {
        match self.auth {
            SnmpAuth::V2c { .. } => "v2c",
            SnmpAuth::V3 { .. } => "v3",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnmpFacts {
    pub version: &'static str,
    /// Every OID fetched, with its type and value.
    pub values: Vec<SnmpValue>,
    /// Attempts beyond the first before the answer.
    pub retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime: Option<UptimeFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<InterfaceFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ups: Option<UpsFacts>,
}

impl SnmpFacts {
    pub fn value(&self, oid: &str) -> Option<&SnmpValue> {
        self.values.iter().find(|v| v.oid == oid)
    }

    /// For people (`commwatch probe`): each value, then what the preset made of them.
    pub(in crate::probe) fn describe(&self, line: &mut dyn FnMut(&str, String)) {
        line(
            "snmp",
            format!("{}, {} retries", self.version, self.retries),
        );
        for v in &self.values {
            line("oid", format!("{} = {}", v.oid, v.shown()));
        }
        if let Some(u) = &self.uptime {
            line("uptime", presets::fmt_minutes(u.uptime));
            if let Some(e) = &u.event {
                line("event", e.clone());
            }
        }
        if let Some(i) = &self.interface {
            let status = i.oper_status.map_or("?".to_string(), |s| s.to_string());
            let name = i.name.as_deref().unwrap_or("");
            line(
                "interface",
                format!("{} {name} oper_status {status}", i.index),
            );
            if let (Some(a), Some(b)) = (i.in_errors_rate, i.out_errors_rate) {
                line("errors", format!("in {a:.3}/s, out {b:.3}/s"));
            }
        }
        if let Some(u) = &self.ups {
            line("power", u.summary.clone());
        }
    }
}

/// Why an exchange with the agent ended without values.
enum Failure {
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
struct Exchange<'r> {
    session: AsyncSession,
    run: &'r Run,
    retries: u32,
    /// Attempts beyond the first so far.
    used: u32,
    repeats: u32,
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

    async fn init(&mut self) -> Result<(), Failure> {
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
    async fn get(&mut self, oids: &[snmp2::Oid<'static>]) -> Result<Vec<SnmpValue>, Failure> {
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
fn explain(
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
async fn lookup_if(ex: &mut Exchange<'_>, name: &str) -> Result<Option<u32>, Failure> {
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

fn to_oids(list: &[String]) -> Vec<snmp2::Oid<'static>> {
    list.iter()
        .filter_map(|o| values::parse_oid(o).ok())
        .filter_map(|a| snmp2::Oid::from(&a).ok())
        .collect()
}

pub(super) async fn probe(spec: &SnmpSpec, memory: &SnmpMemory, run: &Run) -> Observation {
    let mut obs = run.observation();
    let Some(addr) = resolve_one(&spec.address.host, spec.address.port, run, &mut obs).await else {
        return obs;
    };
    obs.facts.remote_addr = Some(addr);
    // Request ids start at random so a reply meant for another process cannot match.
    let first_id = rand::random::<i32>() & 0x3fff_ffff;
    let session = match &spec.auth {
        SnmpAuth::V2c { community } => {
            AsyncSession::new_v2c(addr, community.0.as_bytes(), first_id).await
        }
        SnmpAuth::V3 {
            user,
            auth_protocol,
            auth_key,
            priv_protocol,
            priv_key,
        } => {
            let security = Security::new(user.as_bytes(), auth_key.0.as_bytes())
                .with_auth_protocol(auth_protocol.wire())
                .with_auth(Auth::AuthPriv {
                    cipher: priv_protocol.wire(),
                    privacy_password: priv_key.0.as_bytes().to_vec(),
                });
            AsyncSession::new_v3(addr, first_id, security).await
        }
    };
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            obs.fail(
                ErrorCode::from_io(&e),
                format!("cannot open a UDP socket to {addr}: {e}"),
            );
            return obs;
        }
    };
    let mut ex = Exchange {
        session,
        run,
        retries: spec.retries,
        used: 0,
        repeats: 0,
    };
    let sent_at = run.start.elapsed();
    if matches!(spec.auth, SnmpAuth::V3 { .. })
        && let Err(f) = ex.init().await
    {
        let (code, msg) = explain(&f, spec, addr, run, true);
        obs.fail(code, msg);
        return obs;
    }

    let if_index = match &spec.preset {
        Some(Preset::Interface(IfSelect::Index(i))) => Some(*i),
        Some(Preset::Interface(IfSelect::Name(name))) => {
            match memory.if_index(&spec.target, name) {
                Some(i) => Some(i),
                None => {
                    match lookup_if(&mut ex, name).await {
                        Ok(Some(i)) => {
                            memory.set_if_index(&spec.target, name, i);
                            Some(i)
                        }
                        Ok(None) => {
                            obs.fail(
                            ErrorCode::CheckFailed,
                            format!("{addr} has no interface named {name:?} (ifDescr and ifName walked)"),
                        );
                            return obs;
                        }
                        Err(f) => {
                            let (code, msg) = explain(&f, spec, addr, run, false);
                            obs.fail(code, msg);
                            return obs;
                        }
                    }
                }
            }
        }
        _ => None,
    };
    let mut wanted = spec.oids.clone();
    if let Some(p) = &spec.preset {
        for o in p.oids(if_index) {
            if !wanted.contains(&o) {
                wanted.push(o);
            }
        }
    }
    let values = match ex.get(&to_oids(&wanted)).await {
        Ok(v) => v,
        Err(f) => {
            let (code, msg) = explain(&f, spec, addr, run, false);
            obs.fail(code, msg);
            return obs;
        }
    };
    obs.phases.first_byte = Some(run.start.elapsed().saturating_sub(sent_at));
    let derived = spec
        .preset
        .as_ref()
        .map(|p| presets::derive(p, if_index, &values, run.started_at, &spec.target, memory));
    // An index looked up by name that the agent no longer has (renumbered after a restart)
    // is looked up again next time.
    if let (Some(Preset::Interface(IfSelect::Name(_))), Some(d)) = (&spec.preset, &derived)
        && d.interface
            .as_ref()
            .is_some_and(|i| i.oper_status.is_none())
    {
        memory.forget_if_index(&spec.target);
    }
    let (uptime, interface, ups) = match derived {
        Some(d) => (d.uptime, d.interface, d.ups),
        None => (None, None, None),
    };
    obs.facts.snmp = Some(SnmpFacts {
        version: spec.version(),
        values,
        retries: ex.used,
        uptime,
        interface,
        ups,
    });
    obs
}

// The snmp kind's config keys and check vocabulary.

/// What the snmp kind tells the config and check layers about itself.
pub const VOCAB: KindVocab = KindVocab {
    name: "snmp",
    keys: KEYS,
    metrics: METRICS,
    texts: TEXTS,
};

/// The keys an snmp target may set.
pub const KEYS: &[Key] = &[
    Key::Address,
    Key::Oids,
    Key::Retries,
    Key::Preset,
    Key::CommunityFile,
    Key::User,
    Key::AuthProtocol,
    Key::AuthKeyFile,
    Key::PrivProtocol,
    Key::PrivKeyFile,
    Key::IfIndex,
    Key::IfName,
    Key::RunwayWarn,
];
/// The numbers checks may read on an snmp target.
pub const METRICS: &[Metric] = &[
    Metric::Latency,
    Metric::Dns,
    Metric::Uptime,
    Metric::RebootedAgo,
    Metric::IfOperStatus,
    Metric::IfInErrorsRate,
    Metric::IfOutErrorsRate,
    Metric::BatteryCharge,
    Metric::Runway,
];
/// What checks may compare as text or words on an snmp target.
pub const TEXTS: &[TextFact] = &[TextFact::Oid, TextFact::Power];

/// Reads a secret file named by `key`; the error names the file, never its content.
fn secret(r: &mut Resolve<'_, '_>, key: Key, raw: Option<&str>) -> Option<Secret> {
    let path = r.sink.path(raw?);
    match std::fs::read_to_string(&path) {
        Err(e) => {
            r.err(key, format!("cannot read {}: {e}", path.display()));
            None
        }
        Ok(s) => {
            // One line; a trailing newline from an editor or `echo` is not part of it.
            let s = s.trim_end_matches(['\n', '\r']).to_string();
            if s.is_empty() {
                r.err(key, format!("{} is empty", path.display()));
                None
            } else {
                Some(Secret(s))
            }
        }
    }
}

fn one_of<T: Copy>(
    r: &mut Resolve<'_, '_>,
    key: Key,
    v: Option<&str>,
    all: &[(&str, T)],
    default: T,
) -> Option<T> {
    let Some(v) = v else {
        return Some(default);
    };
    match all.iter().find(|(n, _)| n.eq_ignore_ascii_case(v)) {
        Some((_, t)) => Some(*t),
        None => {
            let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
            r.err(key, format!("`{v}` is not one of {}", names.join(", ")));
            None
        }
    }
}

/// Resolves an snmp target's keys to its spec, and the checks its preset implies.
pub(super) fn from_keys(r: &mut Resolve<'_, '_>) -> Option<SnmpSpec> {
    let k = r.keys;
    let address = match r.need(
        "snmp",
        "an `address` (\"host\" or \"host:port\")",
        k.address,
    ) {
        None => None,
        Some(a) => {
            let with_port = if HostPort::parse(a).is_err() && !a.contains(':') {
                format!("{a}:{DEFAULT_PORT}")
            } else {
                a.to_string()
            };
            match HostPort::parse(&with_port) {
                Ok(hp) => Some(hp),
                Err(e) => {
                    r.err(Key::Address, e);
                    None
                }
            }
        }
    };

    let auth = if k.user.is_some() {
        for (key, set) in [(Key::CommunityFile, k.community_file.is_some())] {
            if set {
                r.err(key, "is for SNMP v2c; a target with `user` speaks v3");
            }
        }
        let auth_protocol = one_of(
            r,
            Key::AuthProtocol,
            k.auth_protocol,
            &AuthProto::ALL,
            AuthProto::Sha,
        );
        let priv_protocol = one_of(
            r,
            Key::PrivProtocol,
            k.priv_protocol,
            &PrivProto::ALL,
            PrivProto::Aes,
        );
        if k.auth_key_file.is_none() || k.priv_key_file.is_none() {
            r.sink.err(
                "user",
                "SNMP v3 needs `auth_key_file` and `priv_key_file` (authPriv)".to_string(),
            );
        }
        let auth_key = secret(r, Key::AuthKeyFile, k.auth_key_file);
        let priv_key = secret(r, Key::PrivKeyFile, k.priv_key_file);
        for (key, s) in [(Key::AuthKeyFile, &auth_key), (Key::PrivKeyFile, &priv_key)] {
            // RFC 3414 §11.2: passphrases shorter than 8 characters are refused by agents.
            if s.as_ref().is_some_and(|s| s.0.chars().count() < 8) {
                r.err(
                    key,
                    "the passphrase in this file is shorter than 8 characters (RFC 3414)",
                );
            }
        }
        let user = k.user.map(str::to_string).filter(|u| !u.is_empty());
        if user.is_none() {
            r.err(Key::User, "must not be empty");
        }
        match (user, auth_protocol, auth_key, priv_protocol, priv_key) {
            (
                Some(user),
                Some(auth_protocol),
                Some(auth_key),
                Some(priv_protocol),
                Some(priv_key),
            ) => Some(SnmpAuth::V3 {
                user,
                auth_protocol,
                auth_key,
                priv_protocol,
                priv_key,
            }),
            _ => None,
        }
    } else {
        for (key, set) in [
            (Key::AuthProtocol, k.auth_protocol.is_some()),
            (Key::AuthKeyFile, k.auth_key_file.is_some()),
            (Key::PrivProtocol, k.priv_protocol.is_some()),
            (Key::PrivKeyFile, k.priv_key_file.is_some()),
        ] {
            if set {
                r.err(key, "is for SNMP v3 and needs `user`");
            }
        }
        if k.community_file.is_none() {
            r.sink.err(
                "kind",
                "kind `snmp` needs `community_file` (v2c) or `user` with `auth_key_file` and `priv_key_file` (v3)"
                    .to_string(),
            );
        }
        secret(r, Key::CommunityFile, k.community_file).map(|community| SnmpAuth::V2c { community })
    };

    let mut oids = Vec::new();
    let mut oids_ok = true;
    for o in k.oids.unwrap_or(&[]) {
        match values::parse_oid(o) {
            Ok(arcs) => {
                let c = values::canonical(&arcs);
                if !oids.contains(&c) {
                    oids.push(c);
                }
            }
            Err(e) => {
                r.err(Key::Oids, e);
                oids_ok = false;
            }
        }
    }
    if oids.len() > MAX_OIDS {
        r.err(
            Key::Oids,
            format!("lists {} OIDs; at most {MAX_OIDS} fit one GET", oids.len()),
        );
        oids_ok = false;
    }

    let retries = match k.retries {
        None => 1,
        Some(n) if n <= MAX_RETRIES => n,
        Some(n) => {
            r.err(Key::Retries, format!("{n} is more than {MAX_RETRIES}"));
            1
        }
    };

    let preset = match k.preset {
        None => None,
        Some("uptime") => Some(Preset::Uptime),
        Some("ups") => Some(Preset::Ups),
        Some("interface") => match (k.if_index, k.if_name) {
            (Some(_), Some(_)) => {
                r.err(Key::IfName, "set `if_index` or `if_name`, not both");
                None
            }
            (Some(0), None) => {
                r.err(Key::IfIndex, "ifIndex starts at 1");
                None
            }
            (Some(i), None) => Some(Preset::Interface(IfSelect::Index(i))),
            (None, Some(n)) if !n.is_empty() => {
                Some(Preset::Interface(IfSelect::Name(n.to_string())))
            }
            _ => {
                r.err(
                    Key::Preset,
                    "preset `interface` needs `if_index` or `if_name`",
                );
                None
            }
        },
        Some(p) => {
            r.err(
                Key::Preset,
                format!("`{p}` is not one of {}", Preset::NAMES.join(", ")),
            );
            None
        }
    };
    let is_interface = matches!(preset, Some(Preset::Interface(_)));
    for (key, set) in [
        (Key::IfIndex, k.if_index.is_some()),
        (Key::IfName, k.if_name.is_some()),
    ] {
        if set && !is_interface && k.preset != Some("interface") {
            r.err(key, "only applies with preset = \"interface\"");
        }
    }
    if k.runway_warn.is_some() && k.preset != Some("ups") {
        r.err(Key::RunwayWarn, "only applies with preset = \"ups\"");
    }
    let runway_warn = k.runway_warn.unwrap_or(DEFAULT_RUNWAY_WARN);
    if preset.is_none() && k.preset.is_none() && oids.is_empty() && oids_ok {
        r.sink.err(
            "kind",
            "kind `snmp` needs `oids` to GET or a `preset` (uptime, interface, ups)".to_string(),
        );
    }

    // The checks each preset implies: an interface that is down takes the target DOWN; a UPS
    // with no output power (battery exhausted) is DOWN, on battery it is DEGRADED with the
    // runway as the cause, and it warns below `runway_warn`.
    match &preset {
        Some(Preset::Interface(_)) => r.implied(Key::Preset, "if_oper_status == 1"),
        Some(Preset::Ups) => {
            r.implied(Key::Preset, "power != off");
            r.implied_degraded(Key::Preset, "power == mains");
            let warn = format!("runway >= {}s", runway_warn.as_secs());
            r.implied_degraded(Key::RunwayWarn, &warn);
        }
        _ => {}
    }

    Some(SnmpSpec {
        target: r.id.to_string(),
        address: address?,
        auth: auth?,
        oids,
        preset,
        retries,
        runway_warn,
    })
}
