//! The kind-specific half of a target: which keys each probe kind accepts, their defaults, their
//! validation, and the checks they imply (`expect_status`, `min_days`, `expect_rcode`, the
//! heartbeat window), plus the target's own `checks` and `degraded` sentences.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::line_of;
use super::resolve::Ctx;
use super::schema::{RawKind, RawTarget};
use crate::check::{Check, StatusExpect};
use crate::probe::{
    DnsSpec, DnsTransport, HeartbeatSpec, HostPort, HttpSpec, IcmpSpec, ProbeSpec, RecordKind,
    SipSpec, SipTransport, TcpSpec, TlsSpec,
};

/// Every kind-specific key and the kinds it belongs to; any other kind setting it is an error.
const KEYS: &[(&str, &[&str])] = &[
    ("url", &["http"]),
    ("expect_status", &["http", "sip"]),
    ("method", &["http"]),
    ("headers", &["http"]),
    ("body", &["http"]),
    ("redirects", &["http"]),
    ("max_body_bytes", &["http"]),
    ("tls_verify", &["http", "tls"]),
    ("ca_file", &["http", "tls"]),
    ("address", &["tcp", "tls", "sip"]),
    ("send", &["tcp"]),
    ("expect", &["tcp"]),
    ("host", &["icmp"]),
    ("count", &["icmp"]),
    ("spacing", &["icmp"]),
    ("server", &["dns"]),
    ("query", &["dns"]),
    ("record", &["dns"]),
    ("expect_rcode", &["dns"]),
    ("transport", &["dns", "sip"]),
    ("server_name", &["tls"]),
    ("min_days", &["tls"]),
    ("token", &["heartbeat"]),
    ("period", &["heartbeat"]),
    ("grace", &["heartbeat"]),
];

fn is_set(r: &RawTarget, key: &str) -> bool {
    match key {
        "url" => r.url.is_some(),
        "expect_status" => r.expect_status.is_some(),
        "method" => r.method.is_some(),
        "headers" => r.headers.is_some(),
        "body" => r.body.is_some(),
        "redirects" => r.redirects.is_some(),
        "max_body_bytes" => r.max_body_bytes.is_some(),
        "tls_verify" => r.tls_verify.is_some(),
        "ca_file" => r.ca_file.is_some(),
        "address" => r.address.is_some(),
        "send" => r.send.is_some(),
        "expect" => r.expect.is_some(),
        "host" => r.host.is_some(),
        "count" => r.count.is_some(),
        "spacing" => r.spacing.is_some(),
        "server" => r.server.is_some(),
        "query" => r.query.is_some(),
        "record" => r.record.is_some(),
        "expect_rcode" => r.expect_rcode.is_some(),
        "transport" => r.transport.is_some(),
        "server_name" => r.server_name.is_some(),
        "min_days" => r.min_days.is_some(),
        "token" => r.token.is_some(),
        "period" => r.period.is_some(),
        "grace" => r.grace.is_some(),
        _ => false,
    }
}

/// Defaults operators can rely on (documented in the example configs).
pub const DEFAULT_MIN_DAYS: i64 = 14;
pub const DEFAULT_REDIRECTS: u32 = 5;
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);
pub const DEFAULT_SIP_STATUS: u16 = 200;
const MAX_REDIRECTS: u32 = 20;
const MAX_BODY_BYTES: u64 = 64 << 20;
const MAX_ICMP_COUNT: u32 = 100;
const MIN_SPACING: Duration = Duration::from_millis(10);
const MIN_TOKEN_LEN: usize = 16;

/// The resolved kind-specific part of a target.
pub(super) struct KindParts {
    pub spec: Option<ProbeSpec>,
    pub checks: Vec<Check>,
    pub degraded: Vec<Check>,
}

pub(super) fn resolve(
    ctx: &mut Ctx<'_>,
    raw: &Spanned<RawTarget>,
    id: &str,
    timeout: Duration,
) -> KindParts {
    let span = raw.span();
    let r = raw.get_ref();
    let kind = r.kind.name();
    for (key, kinds) in KEYS {
        if !kinds.contains(&kind) && is_set(r, key) {
            ctx.err_key(
                span.clone(),
                key,
                format!(
                    "does not apply to kind `{kind}` (it belongs to {})",
                    kinds.join(", ")
                ),
            );
        }
    }

    let mut checks = Vec::new();
    let mut degraded = Vec::new();
    for (key, list, out) in [
        ("checks", &r.checks, &mut checks),
        ("degraded", &r.degraded, &mut degraded),
    ] {
        for item in list.iter().flatten() {
            match Check::parse(item.get_ref(), kind) {
                Ok(c) => out.push(c),
                Err(e) => ctx.err_at(
                    line_of(ctx.src, item.span().start),
                    key,
                    format!("check `{}`: {e}", item.get_ref()),
                ),
            }
        }
    }

    // Checks implied by kind keys (expect_status, min_days ...) come first, then the target's.
    let mut implied = Vec::new();
    let mut k = Kind {
        ctx,
        span: span.clone(),
        checks: &mut implied,
    };
    let spec = match r.kind {
        RawKind::Http => k.http(r),
        RawKind::Tcp => k.tcp(r),
        RawKind::Icmp => k.icmp(r, timeout),
        RawKind::Dns => k.dns(r),
        RawKind::Tls => k.tls(r),
        RawKind::Heartbeat => k.heartbeat(r, id),
        RawKind::Sip => k.sip(r),
    };
    implied.append(&mut checks);
    let checks = implied;
    // The body is kept in memory only when a check reads it.
    let spec = spec.map(|s| match s {
        ProbeSpec::Http(mut h) => {
            h.keep_body = checks.iter().chain(&degraded).any(Check::needs_body);
            ProbeSpec::Http(h)
        }
        other => other,
    });
    KindParts {
        spec,
        checks,
        degraded,
    }
}

struct Kind<'c, 'a, 'b> {
    ctx: &'c mut Ctx<'a>,
    span: std::ops::Range<usize>,
    checks: &'b mut Vec<Check>,
}

impl Kind<'_, '_, '_> {
    fn err(&mut self, key: &str, message: impl Into<String>) {
        self.ctx.err_key(self.span.clone(), key, message);
    }

    /// The value of a required key; `what` names it for the message ("a `url`").
    fn need<'v>(&mut self, kind: &str, what: &str, v: &'v Option<String>) -> Option<&'v str> {
        if v.is_none() {
            self.err("kind", format!("kind `{kind}` needs {what}"));
        }
        v.as_deref()
    }

    fn address(&mut self, kind: &str, v: &Option<String>) -> Option<HostPort> {
        let a = self.need(kind, "an `address` (\"host:port\")", v)?;
        match HostPort::parse(a) {
            Ok(hp) => Some(hp),
            Err(e) => {
                self.err("address", e);
                None
            }
        }
    }

    fn ca_file(&mut self, v: &Option<String>) -> Option<PathBuf> {
        let raw = v.as_ref()?;
        // Relative paths are relative to the file that names them, like includes.
        let base = self.ctx.file.parent().unwrap_or_else(|| Path::new("."));
        let path = base.join(raw);
        if let Err(e) = crate::probe::load_ca_file(&path) {
            self.err("ca_file", e);
        }
        Some(path)
    }

    /// `what` names the protocol for messages ("an HTTP"); codes above `max` are refused.
    fn expect_status(&mut self, what: &str, max: u16, v: &Option<Vec<u16>>, default: StatusExpect) {
        match v {
            Some(list) if list.is_empty() => {
                self.err("expect_status", "must list at least one status code");
            }
            Some(list) => {
                if let Some(bad) = list.iter().find(|c| !(100..=max).contains(*c)) {
                    self.err("expect_status", format!("{bad} is not {what} status code"));
                }
                self.checks
                    .push(Check::Status(StatusExpect::OneOf(list.clone())));
            }
            None => self.checks.push(Check::Status(default)),
        }
    }

    fn implied(&mut self, key: &str, text: &str, kind: &str) {
        match Check::parse(text, kind) {
            Ok(c) => self.checks.push(c),
            Err(e) => self.err(key, e.0),
        }
    }

    fn http(&mut self, r: &RawTarget) -> Option<ProbeSpec> {
        let u = self.need("http", "a `url`", &r.url)?.to_string();
        let url = match url::Url::parse(&u) {
            Ok(parsed)
                if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() =>
            {
                Some(parsed)
            }
            Ok(_) => {
                self.err(
                    "url",
                    format!("`{u}` must be an http:// or https:// URL with a host"),
                );
                None
            }
            Err(e) => {
                self.err("url", format!("`{u}` is not a valid URL: {e}"));
                None
            }
        };
        self.expect_status("an HTTP", 599, &r.expect_status, StatusExpect::Success);
        let method = match r.method.as_deref().map(str::to_ascii_uppercase) {
            None => http::Method::GET,
            Some(m) => match m.as_str() {
                "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => {
                    http::Method::from_bytes(m.as_bytes()).unwrap_or(http::Method::GET)
                }
                _ => {
                    self.err(
                        "method",
                        format!("`{m}` is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
                    );
                    http::Method::GET
                }
            },
        };
        if r.body.is_some() && matches!(method, http::Method::GET | http::Method::HEAD) {
            self.err(
                "body",
                format!("a body needs method POST, PUT or PATCH, not {method}"),
            );
        }
        let mut headers = Vec::new();
        for (k, v) in r.headers.iter().flatten() {
            if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
                self.err("headers", format!("`{k}` is not a valid header name"));
            } else if http::HeaderValue::from_str(v).is_err() {
                self.err(
                    "headers",
                    format!("the value of `{k}` is not a valid header value"),
                );
            } else if k.eq_ignore_ascii_case("host") || k.eq_ignore_ascii_case("content-length") {
                self.err(
                    "headers",
                    format!("`{k}` is set by commwatch from the URL and body"),
                );
            } else {
                headers.push((k.clone(), v.clone()));
            }
        }
        let max_redirects = r.redirects.unwrap_or(DEFAULT_REDIRECTS);
        if max_redirects > MAX_REDIRECTS {
            self.err(
                "redirects",
                format!("at most {MAX_REDIRECTS}, got {max_redirects}"),
            );
        }
        let body_cap = r.max_body_bytes.unwrap_or(crate::probe::DEFAULT_BODY_CAP);
        if body_cap == 0 || body_cap > MAX_BODY_BYTES {
            self.err(
                "max_body_bytes",
                format!("must be between 1 and {MAX_BODY_BYTES}, got {body_cap}"),
            );
        }
        let ca_file = self.ca_file(&r.ca_file);
        url.map(|url| {
            ProbeSpec::Http(HttpSpec {
                method,
                headers,
                body: r.body.clone(),
                max_redirects,
                verify: r.tls_verify.unwrap_or(true),
                ca_file,
                body_cap,
                ..HttpSpec::get(url)
            })
        })
    }

    fn tcp(&mut self, r: &RawTarget) -> Option<ProbeSpec> {
        let address = self.address("tcp", &r.address);
        let expect = match r.expect.as_deref().map(regex::bytes::Regex::new) {
            None => None,
            Some(Ok(re)) => Some(re),
            Some(Err(e)) => {
                self.err("expect", format!("bad regex: {e}"));
                None
            }
        };
        if r.send.as_deref() == Some("") {
            self.err("send", "must not be empty (leave it out to send nothing)");
        }
        Some(ProbeSpec::Tcp(TcpSpec {
            address: address?,
            send: r.send.clone(),
            expect,
        }))
    }

    fn icmp(&mut self, r: &RawTarget, timeout: Duration) -> Option<ProbeSpec> {
        let host = self.need("icmp", "a `host` (an IP address or a name)", &r.host)?;
        let host_ok = host.parse::<IpAddr>().is_ok()
            || (!host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
        if !host_ok {
            self.err(
                "host",
                format!("`{host}` is not an IP address or a host name"),
            );
        }
        let count = r.count.unwrap_or(crate::probe::DEFAULT_ICMP_COUNT);
        if count == 0 || count > MAX_ICMP_COUNT {
            self.err(
                "count",
                format!("must be between 1 and {MAX_ICMP_COUNT}, got {count}"),
            );
        }
        let spacing = r.spacing.unwrap_or(crate::probe::DEFAULT_ICMP_SPACING);
        if spacing < MIN_SPACING {
            self.err(
                "spacing",
                format!(
                    "{} is below the minimum of 10ms",
                    humantime::format_duration(spacing)
                ),
            );
        } else if count > 0 && spacing * (count - 1) >= timeout {
            // The last request must leave time for its reply.
            let key = if r.spacing.is_some() {
                "spacing"
            } else {
                "count"
            };
            self.err(
                key,
                format!(
                    "{count} echo requests {} apart do not fit in the timeout of {}",
                    humantime::format_duration(spacing),
                    humantime::format_duration(timeout)
                ),
            );
        }
        host_ok.then(|| {
            ProbeSpec::Icmp(IcmpSpec {
                host: host.to_string(),
                count,
                spacing,
            })
        })
    }

    fn dns(&mut self, r: &RawTarget) -> Option<ProbeSpec> {
        let server = self.need(
            "dns",
            "a `server` (an IP address, optionally :port)",
            &r.server,
        );
        let server = server.and_then(|s| {
            let parsed = s
                .parse::<SocketAddr>()
                .ok()
                .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)));
            if parsed.is_none() {
                self.err(
                    "server",
                    format!(
                        "`{s}` is not an IP address or IP:port (IPv6 with a port: [addr]:port)"
                    ),
                );
            }
            parsed
        });
        let query = self.need("dns", "a `query` (the name to look up)", &r.query);
        let query = query.and_then(|q| {
            let ok = !q.is_empty()
                && q.len() <= 253
                && q.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !ok {
                self.err("query", format!("`{q}` is not a domain name"));
            }
            ok.then(|| q.to_string())
        });
        let record = match r.record.as_deref() {
            None => Some(RecordKind::A),
            Some(s) => {
                let k = RecordKind::parse(s);
                if k.is_none() {
                    self.err(
                        "record",
                        format!("`{s}` is not one of {}", RecordKind::NAMES.join(", ")),
                    );
                }
                k
            }
        };
        let transport = match r.transport.as_deref() {
            None | Some("udp") => Some(DnsTransport::Udp),
            Some("tcp") => Some(DnsTransport::Tcp),
            Some(t) => {
                self.err("transport", format!("`{t}` is not udp or tcp"));
                None
            }
        };
        match &r.expect_rcode {
            Some(list) if list.is_empty() => {
                self.err("expect_rcode", "must list at least one response code");
            }
            Some(list) => {
                let text = format!("rcode in [{}]", list.join(", "));
                self.implied("expect_rcode", &text, "dns");
            }
            None => self.implied("expect_rcode", "rcode == NOERROR", "dns"),
        }
        Some(ProbeSpec::Dns(DnsSpec {
            server: server?,
            query: query?,
            record: record?,
            transport: transport?,
        }))
    }

    fn tls(&mut self, r: &RawTarget) -> Option<ProbeSpec> {
        let address = self.address("tls", &r.address)?;
        let server_name = r
            .server_name
            .clone()
            .unwrap_or_else(|| address.host.clone());
        if rustls::pki_types::ServerName::try_from(server_name.as_str()).is_err() {
            self.err(
                "server_name",
                format!("`{server_name}` is not a valid TLS server name"),
            );
        }
        let min_days = r.min_days.unwrap_or(DEFAULT_MIN_DAYS);
        if !(0..=3650).contains(&min_days) {
            self.err(
                "min_days",
                format!("must be between 0 and 3650, got {min_days}"),
            );
        }
        self.implied("min_days", &format!("cert_days >= {min_days}"), "tls");
        let ca_file = self.ca_file(&r.ca_file);
        Some(ProbeSpec::Tls(TlsSpec {
            address,
            server_name,
            verify: r.tls_verify.unwrap_or(true),
            ca_file,
        }))
    }

    fn heartbeat(&mut self, r: &RawTarget, id: &str) -> Option<ProbeSpec> {
        let token = self.need("heartbeat", "a `token` (16+ characters)", &r.token);
        if let Some(t) = token
            && (t.len() < MIN_TOKEN_LEN || t.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            self.err(
                "token",
                format!("must be at least {MIN_TOKEN_LEN} characters without spaces"),
            );
        }
        let Some(period) = r.period else {
            self.err(
                "kind",
                "kind `heartbeat` needs `period` (how often the site pushes, e.g. \"5m\")",
            );
            return None;
        };
        if period < Duration::from_secs(1) {
            self.err("period", "must be at least 1s");
        }
        let grace = r.grace.unwrap_or(DEFAULT_GRACE);
        let silence = crate::check::fmt_secs((period + grace).as_secs_f64());
        self.implied("period", &format!("push_age <= {silence}"), "heartbeat");
        self.implied("period", "push_status == ok", "heartbeat");
        Some(ProbeSpec::Heartbeat(HeartbeatSpec {
            target: id.to_string(),
            token: token?.to_string(),
            period,
            grace,
        }))
    }

    fn sip(&mut self, r: &RawTarget) -> Option<ProbeSpec> {
        let address = self.address("sip", &r.address);
        let transport = match r.transport.as_deref() {
            None | Some("udp") => Some(SipTransport::Udp),
            Some("tcp") => Some(SipTransport::Tcp),
            Some(t) => {
                self.err("transport", format!("`{t}` is not udp or tcp"));
                None
            }
        };
        self.expect_status(
            "a SIP",
            699,
            &r.expect_status,
            StatusExpect::OneOf(vec![DEFAULT_SIP_STATUS]),
        );
        Some(ProbeSpec::Sip(SipSpec {
            address: address?,
            transport: transport?,
        }))
    }
}
