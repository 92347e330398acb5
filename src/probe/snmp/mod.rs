//! SNMP probe: a GET of listed OIDs (`oids`) and of a preset's (`uptime`, `interface`,
//! `ups`) over SNMP v2c or v3 authPriv, through the `snmp2` crate (the wire format is its
//! job). Facts are each OID's value with its type, plus what the preset derives: a reboot seen
//! through sysUpTime, interface error rates, and the battery runway of a UPS on battery.
//!
//! Secrets (the community, the v3 keys) are read from files at load and are never logged,
//! shown or put in a message: a wrong community or key is reported by what the agent did
//! (stayed silent, sent a report), not by what was sent.
//!
//! Here: the spec, the facts and the probe. `keys.rs` resolves the config keys, `exchange.rs`
//! talks to the agent (attempts, walks, failure messages), `values.rs` holds typed values and
//! OIDs, `presets.rs` what each preset reads, derives and remembers between probes.

mod exchange;
mod keys;
mod presets;
mod values;

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use snmp2::AsyncSession;
use snmp2::v3::{Auth, AuthProtocol, Cipher, Security};

use super::keys::Key;
use super::vocab::{KindVocab, Metric, TextFact};
use super::{ErrorCode, HostPort, Observation, Run, resolve_one};
use exchange::{Exchange, explain, lookup_if, to_oids};
pub(super) use keys::from_keys;
pub use presets::{
    DEFAULT_RUNWAY_WARN, IfSelect, InterfaceFacts, Memory as SnmpMemory, Power, Preset, UpsFacts,
    UptimeFacts,
};
pub use values::{SnmpData, SnmpType, SnmpValue};

/// A dotted OID in the canonical form facts use, or why it is not one.
pub fn canonical_oid(s: &str) -> Result<String, String> {
    values::parse_oid(s).map(|a| values::canonical(&a))
}

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
    /// True when the probe has something to GET: listed OIDs, a preset's, or a check's.
    pub fn reads_anything(&self) -> bool {
        !self.oids.is_empty() || self.preset.is_some()
    }

    /// Adds an OID a check reads, so the GET fetches it.
    pub fn want(&mut self, oid: &str) {
        if !self.oids.iter().any(|o| o == oid) {
            self.oids.push(oid.to_string());
        }
    }

    /// Why the listed OIDs and those the checks name do not fit one GET, if they do not.
    pub fn too_many_oids(&self) -> Option<String> {
        (self.oids.len() > keys::MAX_OIDS).then(|| {
            format!(
                "with the OIDs its checks name the target reads {} OIDs; at most {} fit one GET",
                self.oids.len(),
                keys::MAX_OIDS
            )
        })
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
