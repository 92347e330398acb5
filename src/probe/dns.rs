//! DNS probe: one query of a given name and type to one server over UDP or TCP, with the cache
//! off and a single attempt, so a resolver hiccup is seen rather than hidden by a retry. The
//! response code and the answers are facts; checks decide what is expected.

use std::fmt;
use std::net::SocketAddr;

use hickory_resolver::Resolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RecordType};
use serde::Serialize;

use super::keys::{Key, Resolve};
use super::vocab::{KindVocab, Metric, TextFact};
use super::{ErrorCode, Observation, Run};
use std::net::IpAddr;

/// Answers kept as facts; a response with more is summarised by its count.
const MAX_ANSWERS: usize = 32;

/// Record types a target may query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    A,
    Aaaa,
    Mx,
    Ns,
    Soa,
    Txt,
    Cname,
}

impl RecordKind {
    pub const NAMES: [&'static str; 7] = ["A", "AAAA", "MX", "NS", "SOA", "TXT", "CNAME"];

    pub fn parse(s: &str) -> Option<RecordKind> {
        Some(match s.to_ascii_uppercase().as_str() {
            "A" => RecordKind::A,
            "AAAA" => RecordKind::Aaaa,
            "MX" => RecordKind::Mx,
            "NS" => RecordKind::Ns,
            "SOA" => RecordKind::Soa,
            "TXT" => RecordKind::Txt,
            "CNAME" => RecordKind::Cname,
            _ => return None,
        })
    }

    fn record_type(self) -> RecordType {
        match self {
            RecordKind::A => RecordType::A,
            RecordKind::Aaaa => RecordType::AAAA,
            RecordKind::Mx => RecordType::MX,
            RecordKind::Ns => RecordType::NS,
            RecordKind::Soa => RecordType::SOA,
            RecordKind::Txt => RecordType::TXT,
            RecordKind::Cname => RecordType::CNAME,
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::NAMES[*self as usize])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsTransport {
    Udp,
    Tcp,
}

impl fmt::Display for DnsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DnsTransport::Udp => "udp",
            DnsTransport::Tcp => "tcp",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSpec {
    /// The server's IP address and port (53 unless written).
    pub server: SocketAddr,
    /// The name queried, as written (a final dot is added: no search domains apply).
    pub query: String,
    pub record: RecordKind,
    pub transport: DnsTransport,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnsFacts {
    pub server: SocketAddr,
    pub transport: String,
    /// The response code by its mnemonic: NOERROR, NXDOMAIN, SERVFAIL, REFUSED ...
    pub rcode: String,
    /// Answer records of the queried type, in presentation form (`10 mail.example.`).
    pub answers: Vec<String>,
    pub answer_count: usize,
}

impl DnsFacts {
    /// For people (`commwatch probe`): response code, where it came from, the records.
    pub(super) fn describe(&self, line: &mut dyn FnMut(&str, String)) {
        line(
            "rcode",
            format!(
                "{} (from {} over {})",
                self.rcode, self.server, self.transport
            ),
        );
        line("answers", format!("{}", self.answer_count));
        for a in &self.answers {
            line("answer", a.clone());
        }
    }
}

/// Response code mnemonics by value, as dig prints them.
pub const RCODES: [&str; 11] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",
];

fn rcode_name(code: ResponseCode) -> String {
    let n = u16::from(code);
    RCODES
        .get(usize::from(n))
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("RCODE{n}"))
}

fn fqdn(query: &str) -> String {
    if query.ends_with('.') {
        query.to_string()
    } else {
        format!("{query}.")
    }
}

pub(super) async fn probe(spec: &DnsSpec, run: &Run) -> Observation {
    let mut obs = run.observation();
    let name = match Name::from_ascii(fqdn(&spec.query)) {
        Ok(n) => n,
        Err(e) => {
            obs.fail(ErrorCode::ProtocolError, format!("`{}`: {e}", spec.query));
            return obs;
        }
    };
    let mut conn = match spec.transport {
        DnsTransport::Udp => ConnectionConfig::udp(),
        DnsTransport::Tcp => ConnectionConfig::tcp(),
    };
    conn.port = spec.server.port();
    conn.bind_addr = run.source.map(|ip| SocketAddr::new(ip, 0));
    let mut server = NameServerConfig::udp(spec.server.ip());
    server.connections = vec![conn];
    let mut opts = ResolverOpts::default();
    // The answer to this query, now: no cache, no retry, no hosts file, no fallback to TCP.
    opts.cache_size = 0;
    // `attempts` counts retries after the first lookup: 0 means exactly one lookup. (Over UDP
    // hickory may still resend the datagram inside the timeout, as any stub resolver does.)
    opts.attempts = 0;
    opts.timeout = run.timeout;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.try_tcp_on_error = false;
    opts.preserve_intermediates = true;
    let resolver = match Resolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![server]),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .build()
    {
        Ok(r) => r,
        Err(e) => {
            obs.fail(
                ErrorCode::IoError,
                format!("cannot set up the resolver: {e}"),
            );
            return obs;
        }
    };
    let before = run.start.elapsed();
    let result = run
        .within(resolver.lookup(name, spec.record.record_type()))
        .await;
    let elapsed = run.start.elapsed().saturating_sub(before);
    let mut facts = DnsFacts {
        server: spec.server,
        transport: spec.transport.to_string(),
        rcode: String::new(),
        answers: Vec::new(),
        answer_count: 0,
    };
    match result {
        // Our deadline and hickory's own timeout mean the same thing: silence.
        None | Some(Err(NetError::Timeout)) => {
            obs.fail(
                ErrorCode::Timeout,
                format!(
                    "no answer from {} ({}) within {}",
                    spec.server,
                    spec.transport,
                    run.timeout_text()
                ),
            );
            return obs;
        }
        Some(Ok(lookup)) => {
            let wanted = spec.record.record_type();
            facts.rcode = rcode_name(lookup.message().metadata.response_code);
            let answers: Vec<String> = lookup
                .answers()
                .iter()
                .filter(|r| r.record_type() == wanted)
                .map(|r| r.data.to_string())
                .collect();
            facts.answer_count = answers.len();
            facts.answers = answers.into_iter().take(MAX_ANSWERS).collect();
        }
        Some(Err(NetError::Dns(DnsError::NoRecordsFound(nr)))) => {
            facts.rcode = rcode_name(nr.response_code);
        }
        Some(Err(NetError::Dns(DnsError::ResponseCode(code)))) => {
            facts.rcode = rcode_name(code);
        }
        Some(Err(NetError::Io(e))) => {
            obs.fail(
                ErrorCode::from_io(&e),
                format!("query to {}: {e}", spec.server),
            );
            return obs;
        }
        Some(Err(e)) => {
            let text = e.to_string();
            let code = if text.contains("refused") {
                ErrorCode::ConnRefused
            } else {
                ErrorCode::ProtocolError
            };
            obs.fail(code, format!("query to {}: {text}", spec.server));
            return obs;
        }
    }
    obs.phases.dns = Some(elapsed);
    obs.facts.remote_addr = Some(spec.server);
    obs.facts.dns = Some(facts);
    obs
}

// The dns kind's config keys and check vocabulary.

/// What the dns kind tells the config and check layers about itself.
pub const VOCAB: KindVocab = KindVocab {
    name: "dns",
    keys: KEYS,
    metrics: METRICS,
    texts: TEXTS,
};

/// The keys a dns target may set.
pub const KEYS: &[Key] = &[
    Key::Server,
    Key::Query,
    Key::Record,
    Key::ExpectRcode,
    Key::Transport,
];
/// The numbers checks may read on a dns target.
pub const METRICS: &[Metric] = &[Metric::Latency, Metric::Dns];
/// What checks may compare as words or text on a dns target.
pub const TEXTS: &[TextFact] = &[TextFact::Rcode, TextFact::Answers];

/// Resolves a dns target's keys to its spec; `expect_rcode` implies the rcode check.
pub(super) fn from_keys(r: &mut Resolve<'_, '_>) -> Option<DnsSpec> {
    let k = r.keys;
    let server = r.need(
        "dns",
        "a `server` (an IP address, optionally :port)",
        k.server,
    );
    let server = server.and_then(|s| {
        let parsed = s
            .parse::<SocketAddr>()
            .ok()
            .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)));
        if parsed.is_none() {
            r.err(
                Key::Server,
                format!("`{s}` is not an IP address or IP:port (IPv6 with a port: [addr]:port)"),
            );
        }
        parsed
    });
    let query = r.need("dns", "a `query` (the name to look up)", k.query);
    let query = query.and_then(|q| {
        let ok = !q.is_empty()
            && q.len() <= 253
            && q.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            r.err(Key::Query, format!("`{q}` is not a domain name"));
        }
        ok.then(|| q.to_string())
    });
    let record = match k.record {
        None => Some(RecordKind::A),
        Some(s) => {
            let kind = RecordKind::parse(s);
            if kind.is_none() {
                r.err(
                    Key::Record,
                    format!("`{s}` is not one of {}", RecordKind::NAMES.join(", ")),
                );
            }
            kind
        }
    };
    let transport = r.transport(DnsTransport::Udp, DnsTransport::Tcp);
    match k.expect_rcode {
        Some([]) => {
            r.err(Key::ExpectRcode, "must list at least one response code");
        }
        Some(list) => {
            let text = format!("rcode in [{}]", list.join(", "));
            r.implied(Key::ExpectRcode, &text);
        }
        None => r.implied(Key::ExpectRcode, "rcode == NOERROR"),
    }
    Some(DnsSpec {
        server: server?,
        query: query?,
        record: record?,
        transport: transport?,
    })
}
