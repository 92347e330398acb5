//! The sections of a configuration other than its targets, resolved and validated:
//! `[server]` (and its per-client limits), `[defaults]`, `[scheduler]`, `[auth]`, `[monitor]`.

use std::net::SocketAddr;
use std::time::Duration;

use toml::Spanned;

use super::error::key_line;
use super::resolve::Ctx;
use super::target::{SetHere, check_threshold, check_timing};
use super::*;

pub(super) fn resolve_server(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<super::schema::RawServer>>,
) -> ServerConfig {
    let fallback: SocketAddr = DEFAULT_LISTEN
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 9800)));
    let Some(raw) = raw else {
        return ServerConfig {
            listen: fallback,
            external_url: None,
            limits: super::ServeLimits::default(),
        };
    };
    let listen = match &raw.get_ref().listen {
        None => fallback,
        Some(s) => match s.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                ctx.err_key(
                    raw.span(),
                    "listen",
                    format!("`{s}` is not an address:port such as \"127.0.0.1:9800\""),
                );
                fallback
            }
        },
    };
    let external_url = raw.get_ref().external_url.clone();
    if let Some(u) = &external_url
        && url::Url::parse(u).is_err()
    {
        ctx.err_key(
            raw.span(),
            "external_url",
            format!("`{u}` is not an absolute URL"),
        );
    }
    let limits = serve_limits(ctx, raw);
    ServerConfig {
        listen,
        external_url: external_url.map(|u| u.trim_end_matches('/').to_string()),
        limits,
    }
}

/// The web server's per-client limits: timeouts from a second to ten minutes, at least one
/// connection per client.
pub(super) fn serve_limits(
    ctx: &mut Ctx<'_>,
    raw: &Spanned<super::schema::RawServer>,
) -> super::ServeLimits {
    let mut limits = super::ServeLimits::default();
    let r = raw.get_ref();
    let range = Duration::from_secs(1)..=Duration::from_secs(600);
    for (key, value, slot) in [
        (
            "header_read_timeout",
            r.header_read_timeout,
            &mut limits.header_read_timeout,
        ),
        (
            "body_read_timeout",
            r.body_read_timeout,
            &mut limits.body_read_timeout,
        ),
    ] {
        match value {
            Some(d) if range.contains(&d) => *slot = d,
            Some(d) => ctx.err_key(
                raw.span(),
                key,
                format!("{} is outside 1s..10m", humantime::format_duration(d)),
            ),
            None => {}
        }
    }
    match r.max_connections_per_client {
        Some(0) => ctx.err_key(
            raw.span(),
            "max_connections_per_client",
            "must be at least 1",
        ),
        Some(n) => limits.max_connections_per_client = n,
        None => {}
    }
    limits
}

pub(super) fn resolve_defaults(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<super::schema::RawDefaults>>,
) -> Defaults {
    let mut d = Defaults {
        interval: DEFAULT_INTERVAL,
        timeout: DEFAULT_TIMEOUT,
        failure_threshold: DEFAULT_FAILURE_THRESHOLD,
        success_threshold: DEFAULT_SUCCESS_THRESHOLD,
        source_address: None,
    };
    let Some(raw) = raw else { return d };
    let span = raw.span();
    let r = raw.get_ref();
    if let Some(i) = r.interval {
        d.interval = i;
    }
    if let Some(t) = r.timeout {
        d.timeout = t;
    }
    if let Some(f) = r.failure_threshold {
        d.failure_threshold = f;
    }
    if let Some(s) = r.success_threshold {
        d.success_threshold = s;
    }
    // What the table leaves out is a built-in default, which is valid.
    let here = SetHere {
        interval: r.interval.is_some(),
        timeout: r.timeout.is_some(),
    };
    check_timing(ctx, span, d.interval, d.timeout, here);
    check_threshold(ctx, raw.span(), "failure_threshold", d.failure_threshold);
    check_threshold(ctx, raw.span(), "success_threshold", d.success_threshold);
    d
}

pub(super) fn resolve_scheduler(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<super::schema::RawScheduler>>,
) -> SchedulerConfig {
    // Unset, the scheduler sizes the cap for a storm from the targets and the drill pace.
    let mut s = SchedulerConfig {
        max_concurrency: None,
    };
    if let Some(raw) = raw
        && let Some(m) = raw.get_ref().max_concurrency
    {
        if m == 0 || m > MAX_CONCURRENCY_LIMIT {
            ctx.err_key(
                raw.span(),
                "max_concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY_LIMIT}, got {m}"),
            );
        } else {
            s.max_concurrency = Some(m);
        }
    }
    s
}

pub(super) fn resolve_auth(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<super::schema::RawAuth>>,
) -> AuthConfig {
    use super::schema::RawRole;
    let Some(raw) = raw else {
        return AuthConfig::default();
    };
    let mut tokens: Vec<Token> = Vec::new();
    for t in &raw.get_ref().tokens {
        let r = t.get_ref();
        let digest = parse_sha256(&r.sha256);
        if digest.is_none() {
            ctx.err_key(
                t.span(),
                "sha256",
                "must be the 64 hex digits of the token's SHA-256 (e.g. `printf %s TOKEN | sha256sum`)",
            );
        }
        if r.name.trim().is_empty() {
            ctx.err_key(
                t.span(),
                "name",
                "a token needs a name (it is recorded as the author of acknowledgements)",
            );
        }
        if tokens.iter().any(|o| o.name == r.name) {
            ctx.err_key(
                t.span(),
                "name",
                format!("duplicate token name `{}`", r.name),
            );
        }
        if let Some(sha256) = digest {
            if tokens.iter().any(|o| o.sha256 == sha256) {
                ctx.err_key(t.span(), "sha256", "two tokens have the same digest");
            }
            tokens.push(Token {
                name: r.name.clone(),
                role: match r.role {
                    RawRole::Viewer => Role::Viewer,
                    RawRole::Officer => Role::Officer,
                    RawRole::Admin => Role::Admin,
                },
                sha256,
            });
        }
    }
    AuthConfig {
        public: raw.get_ref().public.unwrap_or(true),
        tokens,
    }
}

pub(super) fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

pub(super) fn resolve_monitor(
    path: &Path,
    text: &str,
    raw: Option<&Spanned<super::schema::RawMonitor>>,
    targets: &[Target],
    errors: &mut Vec<ConfigError>,
) -> MonitorConfig {
    let Some(raw) = raw else {
        return MonitorConfig::default();
    };
    let line = key_line(text, raw.span(), "anchors");
    for a in &raw.get_ref().anchors {
        if !targets.iter().any(|t| &t.id == a) {
            errors.push(ConfigError::new(
                path,
                Some(line),
                Some("anchors"),
                format!("anchor `{a}` is not a configured target"),
            ));
        }
    }
    MonitorConfig {
        anchors: raw.get_ref().anchors.clone(),
    }
}
