//! `[[receivers]]`: each receiver's id, the keys its kind accepts, and its kind's settings.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::resolve::Ctx;
use super::template::{self, Escape};
use super::{
    BodyTemplate, EmailSettings, RawReceiver, RawReceiverKind, Receiver, ReceiverKind, SmtpTls,
};

fn http_url(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    key: &str,
    v: Option<&String>,
    default: Option<&str>,
) -> Option<url::Url> {
    let Some(v) = v.map(String::as_str).or(default) else {
        ctx.err(span, key, format!("this receiver kind needs `{key}`"));
        return None;
    };
    match url::Url::parse(v) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        _ => {
            ctx.err(
                span,
                key,
                format!("`{v}` must be an http:// or https:// URL"),
            );
            None
        }
    }
}

fn required(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    key: &str,
    v: &Option<String>,
) -> Option<String> {
    match v {
        Some(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => {
            ctx.err(span, key, format!("this receiver kind needs `{key}`"));
            None
        }
    }
}

pub(in crate::config) fn resolve_receivers(
    ctx: &mut Ctx<'_>,
    raw: &[Spanned<RawReceiver>],
) -> Vec<Receiver> {
    let mut out: Vec<Receiver> = Vec::new();
    for rr in raw {
        let span = rr.span();
        let r = rr.get_ref();
        let before = ctx.errors.len();
        // In this order, so the messages read from the id down to the kind's own settings.
        check_id(ctx, span.clone(), r, &out);
        check_keys_apply(ctx, span.clone(), r);
        let kind = receiver_kind(ctx, span.clone(), r);
        let timeout = r.timeout.unwrap_or(Duration::from_secs(10));
        if timeout.is_zero() || timeout > Duration::from_secs(120) {
            ctx.err(span.clone(), "timeout", "must be between 1ms and 120s");
        }
        if r.max_per_minute == Some(0) {
            ctx.err(span.clone(), "max_per_minute", "must be at least 1");
        }
        if ctx.errors.len() > before {
            continue;
        }
        if let Some(kind) = kind {
            out.push(Receiver {
                id: r.id.clone(),
                kind,
                language: r.language,
                timeout,
                max_per_minute: r.max_per_minute,
            });
        }
    }
    out
}

/// A receiver id is a stable name in URLs, metrics and the outbox: short, plain, unique.
fn check_id(ctx: &mut Ctx<'_>, span: std::ops::Range<usize>, r: &RawReceiver, seen: &[Receiver]) {
    let valid_id = !r.id.is_empty()
        && r.id.len() <= 64
        && r.id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if !valid_id {
        ctx.err(
            span.clone(),
            "id",
            format!(
                "`{}` is not a valid receiver id: use a-z, 0-9, '.', '_', '-'",
                r.id
            ),
        );
    }
    if seen.iter().any(|o| o.id == r.id) {
        ctx.err(span, "id", format!("duplicate receiver id `{}`", r.id));
    }
}

/// Keys of other receiver kinds are refused rather than ignored: a `bot_token` on a webhook is
/// a mistake the operator wants to hear about.
fn check_keys_apply(ctx: &mut Ctx<'_>, span: std::ops::Range<usize>, r: &RawReceiver) {
    let kind_name = format!("{:?}", r.kind).to_lowercase();
    let set = |v: bool, k: &'static str| (k, v);
    let allowed: &[&str] = match r.kind {
        RawReceiverKind::Webhook => &[
            "url",
            "headers",
            "hmac_secret",
            "body_template",
            "content_type",
            "max_chars",
        ],
        RawReceiverKind::Slack => &["url"],
        RawReceiverKind::Telegram => &["api_url", "bot_token", "chat_id"],
        RawReceiverKind::Zalo => &["api_url", "access_token", "recipient"],
        RawReceiverKind::Alertmanager => &["url", "resend_interval"],
        RawReceiverKind::Email => &[
            "host",
            "port",
            "tls",
            "from",
            "to",
            "username",
            "password_file",
            "ca_file",
        ],
    };
    for (key, present) in [
        set(r.url.is_some(), "url"),
        set(r.headers.is_some(), "headers"),
        set(r.hmac_secret.is_some(), "hmac_secret"),
        set(r.api_url.is_some(), "api_url"),
        set(r.bot_token.is_some(), "bot_token"),
        set(r.chat_id.is_some(), "chat_id"),
        set(r.access_token.is_some(), "access_token"),
        set(r.recipient.is_some(), "recipient"),
        set(r.resend_interval.is_some(), "resend_interval"),
        set(r.body_template.is_some(), "body_template"),
        set(r.content_type.is_some(), "content_type"),
        set(r.max_chars.is_some(), "max_chars"),
        set(r.host.is_some(), "host"),
        set(r.port.is_some(), "port"),
        set(r.tls.is_some(), "tls"),
        set(r.from.is_some(), "from"),
        set(r.to.is_some(), "to"),
        set(r.username.is_some(), "username"),
        set(r.password_file.is_some(), "password_file"),
        set(r.ca_file.is_some(), "ca_file"),
    ] {
        if present && !allowed.contains(&key) {
            ctx.err(
                span.clone(),
                key,
                format!("does not apply to receiver kind `{kind_name}`"),
            );
        }
    }
}

/// The kind's own settings, each required one reported when missing.
fn receiver_kind(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    r: &RawReceiver,
) -> Option<ReceiverKind> {
    match r.kind {
        RawReceiverKind::Webhook => {
            let url = http_url(ctx, span.clone(), "url", r.url.as_ref(), None);
            let headers = webhook_headers(ctx, span.clone(), r.headers.as_ref());
            let body = body_template(ctx, span.clone(), r);
            match (url, headers, body) {
                (Some(url), Some(headers), Some(body)) => Some(ReceiverKind::Webhook {
                    url,
                    headers,
                    hmac_secret: r.hmac_secret.clone(),
                    body,
                }),
                _ => None,
            }
        }
        RawReceiverKind::Email => email(ctx, span.clone(), r).map(ReceiverKind::Email),
        RawReceiverKind::Slack => http_url(ctx, span.clone(), "url", r.url.as_ref(), None)
            .map(|url| ReceiverKind::Slack { url }),
        RawReceiverKind::Telegram => {
            let api = http_url(
                ctx,
                span.clone(),
                "api_url",
                r.api_url.as_ref(),
                Some("https://api.telegram.org"),
            );
            let token = required(ctx, span.clone(), "bot_token", &r.bot_token);
            let chat = required(ctx, span.clone(), "chat_id", &r.chat_id);
            match (api, token, chat) {
                (Some(api_url), Some(bot_token), Some(chat_id)) => Some(ReceiverKind::Telegram {
                    api_url,
                    bot_token,
                    chat_id,
                }),
                _ => None,
            }
        }
        RawReceiverKind::Zalo => {
            let api = http_url(
                ctx,
                span.clone(),
                "api_url",
                r.api_url.as_ref(),
                Some("https://openapi.zalo.me"),
            );
            let token = required(ctx, span.clone(), "access_token", &r.access_token);
            let to = required(ctx, span.clone(), "recipient", &r.recipient);
            match (api, token, to) {
                (Some(api_url), Some(access_token), Some(recipient)) => Some(ReceiverKind::Zalo {
                    api_url,
                    access_token,
                    recipient,
                }),
                _ => None,
            }
        }
        RawReceiverKind::Alertmanager => {
            let resend = r.resend_interval.unwrap_or(Duration::from_secs(60));
            if resend < Duration::from_secs(5) {
                ctx.err(span.clone(), "resend_interval", "must be at least 5s");
            }
            http_url(ctx, span.clone(), "url", r.url.as_ref(), None).map(|url| {
                ReceiverKind::Alertmanager {
                    url,
                    resend_interval: resend,
                }
            })
        }
    }
}

/// Header values are templates (printed as is); each is rendered against the samples at load.
fn webhook_headers(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    raw: Option<&BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    let headers = raw.cloned().unwrap_or_default();
    let mut ok = true;
    for (k, v) in &headers {
        let valid_name = !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name {
            ctx.err(
                span.clone(),
                "headers",
                format!("`{k}` is not a valid header name"),
            );
            ok = false;
        } else if let Err(e) = template::check("headers", v, Escape::None) {
            ctx.err(span.clone(), "headers", format!("the value of `{k}` {e}"));
            ok = false;
        }
    }
    ok.then_some(headers)
}

/// Longest `max_chars`: ten concatenated SMS; past that the limit is not an SMS limit.
const MAX_CHARS_LIMIT: usize = 1_600;

/// `body_template`, `content_type` and `max_chars`: the template is rendered against the sample
/// messages here, so a mistake in it stops the load instead of a message during a storm.
/// `None` is a mistake already reported; `Some(None)` is the JSON payload.
fn body_template(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    r: &RawReceiver,
) -> Option<Option<BodyTemplate>> {
    let Some(source) = &r.body_template else {
        for (key, set) in [
            ("content_type", r.content_type.is_some()),
            ("max_chars", r.max_chars.is_some()),
        ] {
            if set {
                ctx.err(
                    span.clone(),
                    key,
                    "applies to a `body_template` only (the JSON payload is fixed)",
                );
            }
        }
        return if r.content_type.is_some() || r.max_chars.is_some() {
            None
        } else {
            Some(None)
        };
    };
    let content_type = r
        .content_type
        .clone()
        .unwrap_or_else(|| "application/json".to_string());
    let mut ok = true;
    if content_type.trim().is_empty() || content_type.chars().any(char::is_control) {
        ctx.err(
            span.clone(),
            "content_type",
            "must be a media type such as \"application/x-www-form-urlencoded\"",
        );
        ok = false;
    }
    if let Some(n) = r.max_chars
        && !(20..=MAX_CHARS_LIMIT).contains(&n)
    {
        ctx.err(
            span.clone(),
            "max_chars",
            format!("must be between 20 and {MAX_CHARS_LIMIT} characters"),
        );
        ok = false;
    }
    if let Err(e) = template::check(
        "body_template",
        source,
        Escape::for_content_type(&content_type),
    ) {
        ctx.err(span, "body_template", e.to_string());
        ok = false;
    }
    ok.then(|| {
        Some(BodyTemplate {
            source: source.clone(),
            content_type,
            max_chars: r.max_chars,
        })
    })
}

/// A relay on the loopback interface (a local MTA): the only place mail may go unencrypted.
fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn mailbox(ctx: &mut Ctx<'_>, span: std::ops::Range<usize>, key: &str, v: &str) -> bool {
    match v.parse::<lettre::message::Mailbox>() {
        Ok(_) => true,
        Err(e) => {
            ctx.err(
                span,
                key,
                format!("`{v}` is not an e-mail address ({e}); write \"name@example.vn\" or \"Trực ban <name@example.vn>\""),
            );
            false
        }
    }
}

/// `kind = "email"`: relay, security, envelope and login; the password file is read here to
/// check it, and again for each message (so a rotated password needs no reload), never shown.
fn email(
    ctx: &mut Ctx<'_>,
    span: std::ops::Range<usize>,
    r: &RawReceiver,
) -> Option<EmailSettings> {
    let before = ctx.errors.len();
    let host = required(ctx, span.clone(), "host", &r.host).unwrap_or_default();
    let tls = match r.tls.as_deref() {
        None => SmtpTls::Starttls,
        Some(s) => SmtpTls::parse(s).unwrap_or_else(|| {
            ctx.err(
                span.clone(),
                "tls",
                format!("unknown tls `{s}`; use `starttls`, `implicit` or `none`"),
            );
            SmtpTls::Starttls
        }),
    };
    if tls == SmtpTls::None && !host.is_empty() && !is_loopback_host(&host) {
        ctx.err(
            span.clone(),
            "tls",
            format!(
                "`none` sends the password and the alerts in clear text: it is only accepted for a relay on this machine (127.0.0.1, ::1, localhost), not `{host}`; use `starttls` or `implicit`"
            ),
        );
    }
    if r.port == Some(0) {
        ctx.err(span.clone(), "port", "must be between 1 and 65535");
    }
    let from = required(ctx, span.clone(), "from", &r.from);
    if let Some(f) = &from {
        mailbox(ctx, span.clone(), "from", f);
    }
    let to = r.to.clone().unwrap_or_default();
    if to.is_empty() {
        ctx.err(
            span.clone(),
            "to",
            "this receiver kind needs `to`, a list of at least one address",
        );
    }
    for t in &to {
        if !mailbox(ctx, span.clone(), "to", t) {
            break;
        }
    }
    let base = ctx.file.parent().unwrap_or_else(|| Path::new("."));
    let password_file = r.password_file.as_ref().map(|p| base.join(p));
    match (&r.username, &password_file) {
        (Some(_), None) => ctx.err(
            span.clone(),
            "username",
            "`username` needs `password_file`, a file holding the password alone",
        ),
        (None, Some(_)) => ctx.err(
            span.clone(),
            "username",
            "`password_file` needs the `username` it belongs to",
        ),
        (Some(u), Some(p)) => {
            if u.trim().is_empty() {
                ctx.err(span.clone(), "username", "must not be empty");
            }
            if let Err(e) = read_password(p) {
                ctx.err(span.clone(), "password_file", e);
            }
        }
        (None, None) => {}
    }
    let ca_file = r.ca_file.as_ref().map(|p| base.join(p));
    if let Some(p) = &ca_file {
        if tls == SmtpTls::None {
            ctx.err(
                span.clone(),
                "ca_file",
                "of no use with tls = \"none\": remove it, or use `starttls` or `implicit`",
            );
        } else if let Err(e) = crate::probe::load_ca_file(p) {
            ctx.err(span.clone(), "ca_file", e);
        }
    }
    if ctx.errors.len() > before {
        return None;
    }
    Some(EmailSettings {
        host,
        port: r.port.unwrap_or(tls.default_port()),
        tls,
        from: from.unwrap_or_default(),
        to,
        username: r.username.clone(),
        password_file,
        ca_file,
    })
}

/// The SMTP password: the file's content without the line break editors add. Errors name the
/// file, never what it holds.
pub fn read_password(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read password file {}: {e}", path.display()))?;
    let pw = text.trim_end_matches(['\r', '\n']);
    if pw.trim().is_empty() {
        return Err(format!("password file {} is empty", path.display()));
    }
    Ok(pw.to_string())
}
