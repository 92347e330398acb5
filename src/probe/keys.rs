//! The kind-specific config keys as the config layer hands them to a kind: their names
//! ([`Key`]), their values as written ([`RawKeys`]), and the [`Sink`] a kind reports errors and
//! implied checks to. Defined here, below `config`, so each kind's file can resolve its own keys
//! without `probe` importing the config layer.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::net::HostPort;
use super::vocab::StatusExpect;

/// A kind-specific key of a target table. `Deserialize` is derived only so a test can hold
/// [`Key::ALL`] and [`Key::name`] to the variant list; targets are read by the config schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    Url,
    ExpectStatus,
    Method,
    Headers,
    Body,
    Redirects,
    MaxBodyBytes,
    TlsVerify,
    CaFile,
    Address,
    Send,
    Expect,
    Host,
    Count,
    Spacing,
    Server,
    Query,
    Record,
    ExpectRcode,
    Transport,
    ServerName,
    MinDays,
    Token,
    Period,
    Grace,
    LearnFetches,
    Signatures,
    SpamWords,
    AllowOrigins,
    Cloaking,
    Oids,
    Retries,
    Preset,
    CommunityFile,
    User,
    AuthProtocol,
    AuthKeyFile,
    PrivProtocol,
    PrivKeyFile,
    IfIndex,
    IfName,
    RunwayWarn,
}

impl Key {
    /// Every key in schema order, the order "does not apply" errors are reported in.
    pub const ALL: [Key; 42] = [
        Key::Url,
        Key::ExpectStatus,
        Key::Method,
        Key::Headers,
        Key::Body,
        Key::Redirects,
        Key::MaxBodyBytes,
        Key::TlsVerify,
        Key::CaFile,
        Key::Address,
        Key::Send,
        Key::Expect,
        Key::Host,
        Key::Count,
        Key::Spacing,
        Key::Server,
        Key::Query,
        Key::Record,
        Key::ExpectRcode,
        Key::Transport,
        Key::ServerName,
        Key::MinDays,
        Key::Token,
        Key::Period,
        Key::Grace,
        Key::LearnFetches,
        Key::Signatures,
        Key::SpamWords,
        Key::AllowOrigins,
        Key::Cloaking,
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

    /// The name as written in TOML (and in the schema's field).
    pub fn name(self) -> &'static str {
        match self {
            Key::Url => "url",
            Key::ExpectStatus => "expect_status",
            Key::Method => "method",
            Key::Headers => "headers",
            Key::Body => "body",
            Key::Redirects => "redirects",
            Key::MaxBodyBytes => "max_body_bytes",
            Key::TlsVerify => "tls_verify",
            Key::CaFile => "ca_file",
            Key::Address => "address",
            Key::Send => "send",
            Key::Expect => "expect",
            Key::Host => "host",
            Key::Count => "count",
            Key::Spacing => "spacing",
            Key::Server => "server",
            Key::Query => "query",
            Key::Record => "record",
            Key::ExpectRcode => "expect_rcode",
            Key::Transport => "transport",
            Key::ServerName => "server_name",
            Key::MinDays => "min_days",
            Key::Token => "token",
            Key::Period => "period",
            Key::Grace => "grace",
            Key::LearnFetches => "learn_fetches",
            Key::Signatures => "signatures",
            Key::SpamWords => "spam_words",
            Key::AllowOrigins => "allow_origins",
            Key::Cloaking => "cloaking",
            Key::Oids => "oids",
            Key::Retries => "retries",
            Key::Preset => "preset",
            Key::CommunityFile => "community_file",
            Key::User => "user",
            Key::AuthProtocol => "auth_protocol",
            Key::AuthKeyFile => "auth_key_file",
            Key::PrivProtocol => "priv_protocol",
            Key::PrivKeyFile => "priv_key_file",
            Key::IfIndex => "if_index",
            Key::IfName => "if_name",
            Key::RunwayWarn => "runway_warn",
        }
    }
}

/// The kind-specific keys of one target as written; `None` when the key is not set.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawKeys<'r> {
    pub url: Option<&'r str>,
    pub expect_status: Option<&'r [u16]>,
    pub method: Option<&'r str>,
    pub headers: Option<&'r BTreeMap<String, String>>,
    pub body: Option<&'r str>,
    pub redirects: Option<u32>,
    pub max_body_bytes: Option<u64>,
    pub tls_verify: Option<bool>,
    pub ca_file: Option<&'r str>,
    pub address: Option<&'r str>,
    pub send: Option<&'r str>,
    pub expect: Option<&'r str>,
    pub host: Option<&'r str>,
    pub count: Option<u32>,
    pub spacing: Option<Duration>,
    pub server: Option<&'r str>,
    pub query: Option<&'r str>,
    pub record: Option<&'r str>,
    pub expect_rcode: Option<&'r [String]>,
    pub transport: Option<&'r str>,
    pub server_name: Option<&'r str>,
    pub min_days: Option<i64>,
    pub token: Option<&'r str>,
    pub period: Option<Duration>,
    pub grace: Option<Duration>,
    pub learn_fetches: Option<u32>,
    pub signatures: Option<&'r [String]>,
    pub spam_words: Option<&'r [String]>,
    pub allow_origins: Option<&'r [String]>,
    pub cloaking: Option<bool>,
    pub oids: Option<&'r [String]>,
    pub retries: Option<u32>,
    pub preset: Option<&'r str>,
    pub community_file: Option<&'r str>,
    pub user: Option<&'r str>,
    pub auth_protocol: Option<&'r str>,
    pub auth_key_file: Option<&'r str>,
    pub priv_protocol: Option<&'r str>,
    pub priv_key_file: Option<&'r str>,
    pub if_index: Option<u32>,
    pub if_name: Option<&'r str>,
    pub runway_warn: Option<Duration>,
}

impl RawKeys<'_> {
    pub fn is_set(&self, key: Key) -> bool {
        match key {
            Key::Url => self.url.is_some(),
            Key::ExpectStatus => self.expect_status.is_some(),
            Key::Method => self.method.is_some(),
            Key::Headers => self.headers.is_some(),
            Key::Body => self.body.is_some(),
            Key::Redirects => self.redirects.is_some(),
            Key::MaxBodyBytes => self.max_body_bytes.is_some(),
            Key::TlsVerify => self.tls_verify.is_some(),
            Key::CaFile => self.ca_file.is_some(),
            Key::Address => self.address.is_some(),
            Key::Send => self.send.is_some(),
            Key::Expect => self.expect.is_some(),
            Key::Host => self.host.is_some(),
            Key::Count => self.count.is_some(),
            Key::Spacing => self.spacing.is_some(),
            Key::Server => self.server.is_some(),
            Key::Query => self.query.is_some(),
            Key::Record => self.record.is_some(),
            Key::ExpectRcode => self.expect_rcode.is_some(),
            Key::Transport => self.transport.is_some(),
            Key::ServerName => self.server_name.is_some(),
            Key::MinDays => self.min_days.is_some(),
            Key::Token => self.token.is_some(),
            Key::Period => self.period.is_some(),
            Key::Grace => self.grace.is_some(),
            Key::LearnFetches => self.learn_fetches.is_some(),
            Key::Signatures => self.signatures.is_some(),
            Key::SpamWords => self.spam_words.is_some(),
            Key::AllowOrigins => self.allow_origins.is_some(),
            Key::Cloaking => self.cloaking.is_some(),
            Key::Oids => self.oids.is_some(),
            Key::Retries => self.retries.is_some(),
            Key::Preset => self.preset.is_some(),
            Key::CommunityFile => self.community_file.is_some(),
            Key::User => self.user.is_some(),
            Key::AuthProtocol => self.auth_protocol.is_some(),
            Key::AuthKeyFile => self.auth_key_file.is_some(),
            Key::PrivProtocol => self.priv_protocol.is_some(),
            Key::PrivKeyFile => self.priv_key_file.is_some(),
            Key::IfIndex => self.if_index.is_some(),
            Key::IfName => self.if_name.is_some(),
            Key::RunwayWarn => self.runway_warn.is_some(),
        }
    }
}

/// What the config layer does with what a kind finds while resolving its keys.
pub trait Sink {
    /// An error at `key` (a [`Key`] name, or `kind` for a missing required key).
    fn err(&mut self, key: &str, message: String);
    /// A check the keys imply, in the check language (`cert_days >= 14`); a refused sentence is
    /// an error at `key`.
    fn implied(&mut self, key: &str, sentence: &str);
    /// A `degraded` check the keys imply (a UPS on battery works, on borrowed time); a
    /// refused sentence is an error at `key`.
    fn implied_degraded(&mut self, key: &str, sentence: &str);
    /// The status check `expect_status` (or its default) implies.
    fn implied_status(&mut self, expect: StatusExpect);
    /// A path as written in the file, made relative to that file like includes are.
    fn path(&self, raw: &str) -> PathBuf;
}

/// One target's keys being resolved by its kind.
pub struct Resolve<'a, 'r> {
    pub keys: RawKeys<'r>,
    pub id: &'a str,
    pub timeout: Duration,
    pub sink: &'a mut dyn Sink,
}

impl Resolve<'_, '_> {
    pub(super) fn err(&mut self, key: Key, message: impl Into<String>) {
        self.sink.err(key.name(), message.into());
    }

    /// The value of a required key; `what` names it for the message ("a `url`").
    pub(super) fn need<'v>(
        &mut self,
        kind: &str,
        what: &str,
        v: Option<&'v str>,
    ) -> Option<&'v str> {
        if v.is_none() {
            self.sink.err("kind", format!("kind `{kind}` needs {what}"));
        }
        v
    }

    pub(super) fn address(&mut self, kind: &str) -> Option<HostPort> {
        let a = self.need(kind, "an `address` (\"host:port\")", self.keys.address)?;
        match HostPort::parse(a) {
            Ok(hp) => Some(hp),
            Err(e) => {
                self.err(Key::Address, e);
                None
            }
        }
    }

    pub(super) fn ca_file(&mut self) -> Option<PathBuf> {
        let path = self.sink.path(self.keys.ca_file?);
        if let Err(e) = super::certs::load_ca_file(&path) {
            self.err(Key::CaFile, e);
        }
        Some(path)
    }

    /// `what` names the protocol for messages ("an HTTP"); codes above `max` are refused.
    pub(super) fn expect_status(&mut self, what: &str, max: u16, default: StatusExpect) {
        match self.keys.expect_status {
            Some([]) => {
                self.err(Key::ExpectStatus, "must list at least one status code");
            }
            Some(list) => {
                if let Some(bad) = list.iter().find(|c| !(100..=max).contains(*c)) {
                    self.err(
                        Key::ExpectStatus,
                        format!("{bad} is not {what} status code"),
                    );
                }
                self.sink.implied_status(StatusExpect::OneOf(list.to_vec()));
            }
            None => self.sink.implied_status(default),
        }
    }

    pub(super) fn implied(&mut self, key: Key, sentence: &str) {
        self.sink.implied(key.name(), sentence);
    }

    pub(super) fn implied_degraded(&mut self, key: Key, sentence: &str) {
        self.sink.implied_degraded(key.name(), sentence);
    }

    /// `udp` (the default) or `tcp`, for the kinds that take a `transport`.
    pub(super) fn transport<T>(&mut self, udp: T, tcp: T) -> Option<T> {
        match self.keys.transport {
            None | Some("udp") => Some(udp),
            Some("tcp") => Some(tcp),
            Some(t) => {
                self.err(Key::Transport, format!("`{t}` is not udp or tcp"));
                None
            }
        }
    }
}
