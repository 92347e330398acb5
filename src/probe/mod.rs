//! Probes: each kind gathers facts about one endpoint and returns an [`Observation`]; checks
//! (in `check/`) decide what the facts mean. This file is the dispatch only: the list of kinds
//! and one exhaustive `match` per question asked of them.
//!
//! Each kind's file (`http.rs`, `tcp.rs`, `icmp.rs`, `dns.rs`, `tls.rs`, `heartbeat.rs`,
//! `sip.rs`, `portal.rs`, `snmp/`) owns its spec, its facts, the probe itself, its config keys and how
//! they resolve
//! (`from_keys`), and the metrics and text facts its checks may read (`VOCAB`). Shared pieces:
//! `observation.rs` (what a run returns), `net.rs` (addresses, deadlines, connecting),
//! `keys.rs` (the key names and values handed down by the config layer), `vocab.rs` (the check
//! vocabulary), `certs.rs` (TLS for http and tls), `prober.rs` (the per-process machinery and
//! the hard deadline), `describe.rs` (facts for people).
//! Nothing here imports `config`, `check` or `store`: they import `probe`.

mod certs;
pub mod describe;
mod dns;
mod heartbeat;
mod http;
mod icmp;
mod keys;
mod net;
mod observation;
mod portal;
mod prober;
mod sip;
mod snmp;
mod tcp;
mod tls;
mod vocab;

pub use certs::{CertFacts, TlsFacts, load_ca_file};
pub(crate) use certs::{ReadAnyCertificate, load_roots};
pub use dns::{DnsFacts, DnsSpec, DnsTransport, RCODES, RecordKind};
pub use heartbeat::{
    HeartbeatFacts, HeartbeatRegistry, HeartbeatSpec, Push, PushBattery, PushStatus,
};
pub use http::{DEFAULT_BODY_CAP, HttpSpec};
pub use icmp::{
    DEFAULT_COUNT as DEFAULT_ICMP_COUNT, DEFAULT_SPACING as DEFAULT_ICMP_SPACING, IcmpFacts,
    IcmpSpec,
};
pub use keys::{Key, RawKeys, Resolve, Sink};
pub use net::HostPort;
pub(crate) use net::{Run, connect_addr, connect_host, excerpt, resolve_one};
pub use observation::{ErrorCode, Facts, Observation, Phases};
pub use portal::{
    DEFAULT_LEARN_FETCHES, DEFAULT_SIGNATURES, DEFAULT_SPAM_WORDS, Integrity, PortalFacts,
    PortalProfiles, PortalSpec, ProfileError, ProfileSummary, Signal, SignalKind,
};
pub use prober::{Prober, ProberError};
pub use sip::{SipFacts, SipSpec, SipTransport};
pub use snmp::{
    AuthProto, IfSelect, InterfaceFacts, Power, Preset, PrivProto, Secret, SnmpAuth, SnmpData,
    SnmpFacts, SnmpSpec, SnmpType, SnmpValue, UpsFacts, UptimeFacts, canonical_oid,
};
pub use tcp::TcpSpec;
pub use tls::TlsSpec;
pub use vocab::{KindVocab, Metric, StatusExpect, TextFact, Unit};

/// The probe kinds a target may name (`kind = "http"`). Everything a kind knows (its keys, its
/// checks' vocabulary, how its keys become a spec) is in its own file; these matches are the
/// only place that lists the kinds, and each is exhaustive so a new kind cannot be forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Http,
    Tcp,
    Icmp,
    Dns,
    Tls,
    Heartbeat,
    Sip,
    Portal,
    Snmp,
}

impl Kind {
    /// Every kind, in the order messages list them.
    pub const ALL: [Kind; 9] = [
        Kind::Http,
        Kind::Tcp,
        Kind::Icmp,
        Kind::Dns,
        Kind::Tls,
        Kind::Heartbeat,
        Kind::Sip,
        Kind::Portal,
        Kind::Snmp,
    ];

    /// The kind's name, keys and check vocabulary, from its own file.
    pub fn vocab(self) -> &'static KindVocab {
        match self {
            Kind::Http => &http::VOCAB,
            Kind::Tcp => &tcp::VOCAB,
            Kind::Icmp => &icmp::VOCAB,
            Kind::Dns => &dns::VOCAB,
            Kind::Tls => &tls::VOCAB,
            Kind::Heartbeat => &heartbeat::VOCAB,
            Kind::Sip => &sip::VOCAB,
            Kind::Portal => &portal::VOCAB,
            Kind::Snmp => &snmp::VOCAB,
        }
    }

    /// The name as written in the config and shown in metrics, the API and the page.
    pub fn name(self) -> &'static str {
        self.vocab().name
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind-specific keys this kind accepts.
    pub fn keys(self) -> &'static [Key] {
        self.vocab().keys
    }

    /// The numeric facts this kind reports, which checks may read.
    pub fn metrics(self) -> &'static [Metric] {
        self.vocab().metrics
    }

    /// The facts this kind reports that checks compare as text or words.
    pub fn texts(self) -> &'static [TextFact] {
        self.vocab().texts
    }

    /// Resolves a target's keys to this kind's spec, reporting problems to `r.sink`; `None`
    /// when the keys do not make a spec (the errors say why).
    pub fn resolve(self, r: &mut Resolve<'_, '_>) -> Option<ProbeSpec> {
        match self {
            Kind::Http => http::from_keys(r).map(ProbeSpec::Http),
            Kind::Tcp => tcp::from_keys(r).map(ProbeSpec::Tcp),
            Kind::Icmp => icmp::from_keys(r).map(ProbeSpec::Icmp),
            Kind::Dns => dns::from_keys(r).map(ProbeSpec::Dns),
            Kind::Tls => tls::from_keys(r).map(ProbeSpec::Tls),
            Kind::Heartbeat => heartbeat::from_keys(r).map(ProbeSpec::Heartbeat),
            Kind::Sip => sip::from_keys(r).map(ProbeSpec::Sip),
            Kind::Portal => portal::from_keys(r).map(ProbeSpec::Portal),
            Kind::Snmp => snmp::from_keys(r).map(ProbeSpec::Snmp),
        }
    }
}

/// What to probe and how: the kind-specific part of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSpec {
    Http(HttpSpec),
    Tcp(TcpSpec),
    Icmp(IcmpSpec),
    Dns(DnsSpec),
    Tls(TlsSpec),
    Heartbeat(HeartbeatSpec),
    Sip(SipSpec),
    Portal(PortalSpec),
    Snmp(SnmpSpec),
}

impl ProbeSpec {
    pub fn probe_kind(&self) -> Kind {
        match self {
            ProbeSpec::Http(_) => Kind::Http,
            ProbeSpec::Tcp(_) => Kind::Tcp,
            ProbeSpec::Icmp(_) => Kind::Icmp,
            ProbeSpec::Dns(_) => Kind::Dns,
            ProbeSpec::Tls(_) => Kind::Tls,
            ProbeSpec::Heartbeat(_) => Kind::Heartbeat,
            ProbeSpec::Sip(_) => Kind::Sip,
            ProbeSpec::Portal(_) => Kind::Portal,
            ProbeSpec::Snmp(_) => Kind::Snmp,
        }
    }

    /// The kind's name, as metrics, the API and the page show it.
    pub fn kind(&self) -> &'static str {
        self.probe_kind().name()
    }

    /// Whether a run holds a socket of its own while it waits. Such runs count against the
    /// scheduler's `max_concurrency`, which is there to bound descriptors and connection
    /// state. Pings to an IP address share one socket per address family and a heartbeat
    /// only reads the last push, so neither counts: ten thousand silent mobile sites in a
    /// storm must not queue the HTTP and TCP probes that would see the rest of the outage. A
    /// ping by host name counts: its lookup holds a socket and a blocking-pool thread.
    pub fn holds_socket(&self) -> bool {
        match self {
            ProbeSpec::Http(_)
            | ProbeSpec::Tcp(_)
            | ProbeSpec::Dns(_)
            | ProbeSpec::Tls(_)
            | ProbeSpec::Sip(_)
            | ProbeSpec::Portal(_) => true,
            ProbeSpec::Snmp(_) => true,
            ProbeSpec::Icmp(s) => s.host.parse::<std::net::IpAddr>().is_err(),
            ProbeSpec::Heartbeat(_) => false,
        }
    }

    /// A short human description of the endpoint ("GET https://...", "tcp 1.2.3.4:25").
    pub fn endpoint(&self) -> String {
        match self {
            ProbeSpec::Http(s) => s.url.to_string(),
            ProbeSpec::Tcp(s) => s.address.to_string(),
            ProbeSpec::Icmp(s) => s.host.clone(),
            ProbeSpec::Dns(s) => format!("{} {} @{}", s.query, s.record, s.server),
            ProbeSpec::Tls(s) => s.address.to_string(),
            ProbeSpec::Heartbeat(s) => format!("push /api/v1/push/{}", s.target),
            ProbeSpec::Sip(s) => format!("sip:{} ({})", s.address, s.transport),
            ProbeSpec::Portal(s) => format!("portal {}", s.http.url),
            ProbeSpec::Snmp(s) => format!("snmp {} {}", s.version(), s.address),
        }
    }
}

/// One kind's probe in flight, boxed: an in-flight probe then costs the size of its own
/// kind's state (an ICMP burst is small, an HTTP exchange large), not the largest of all kinds.
type InFlight<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Observation> + Send + 'a>>;

impl Prober {
    /// Starts the probe of `spec`'s kind; [`Prober::run`] holds it to the deadline.
    fn start<'a>(&'a self, spec: &'a ProbeSpec, run: &'a Run) -> InFlight<'a> {
        match spec {
            ProbeSpec::Http(s) => Box::pin(self.http.probe(s, &self.tls, run)),
            ProbeSpec::Tcp(s) => Box::pin(tcp::probe(s, run)),
            ProbeSpec::Icmp(s) => Box::pin(self.icmp.probe(s, run)),
            ProbeSpec::Dns(s) => Box::pin(dns::probe(s, run)),
            ProbeSpec::Tls(s) => Box::pin(tls::probe(s, &self.tls, run)),
            ProbeSpec::Heartbeat(s) => Box::pin(std::future::ready(heartbeat::probe(
                s,
                &self.heartbeats,
                run,
            ))),
            ProbeSpec::Sip(s) => Box::pin(sip::probe(s, run)),
            ProbeSpec::Portal(s) => {
                Box::pin(portal::probe(s, &self.http, &self.tls, &self.portals, run))
            }
            ProbeSpec::Snmp(s) => Box::pin(snmp::probe(s, &self.snmp, run)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_and_parses_back() {
        use serde::Deserialize;
        use serde::de::value::{Error, StrDeserializer};
        for (i, k) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(Kind::parse(k.name()), Some(k));
            // The name in the kind's file is the one the config schema accepts.
            let de = StrDeserializer::<Error>::new(k.name());
            assert_eq!(Kind::deserialize(de), Ok(k));
            assert!(!Kind::ALL[..i].contains(&k), "{k:?} listed twice");
        }
    }

    /// Catches the variants a derived `Deserialize` knows (every variant of the enum), so a
    /// kind or key added to its enum but not to its `ALL` fails here instead of being skipped
    /// silently by the messages and checks that walk `ALL`.
    struct Variants(std::cell::Cell<&'static [&'static str]>);

    impl<'de> serde::Deserializer<'de> for &Variants {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("only enums are asked for"))
        }

        fn deserialize_enum<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            variants: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            self.0.set(variants);
            Err(serde::de::Error::custom("variants recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
            ignored_any
        }
    }

    /// The variant names `T`'s derived `Deserialize` accepts, in declaration order.
    fn variants<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
        let seen = Variants(std::cell::Cell::new(&[]));
        assert!(T::deserialize(&seen).is_err());
        seen.0.get()
    }

    #[test]
    fn kind_all_holds_every_variant() {
        let names: Vec<&str> = Kind::ALL.into_iter().map(Kind::name).collect();
        assert_eq!(variants::<Kind>(), names.as_slice());
    }

    #[test]
    fn key_all_holds_every_variant_by_its_toml_name() {
        let names: Vec<&str> = Key::ALL.into_iter().map(Key::name).collect();
        assert_eq!(variants::<Key>(), names.as_slice());
    }

    #[test]
    fn every_kind_key_is_a_known_key_and_reports_latency() {
        for k in Kind::ALL {
            for key in k.keys() {
                assert!(Key::ALL.contains(key), "{k:?}: {key:?}");
            }
            assert!(k.metrics().contains(&Metric::Latency), "{k:?}");
        }
    }
}
