//! `[[receivers]]`: each receiver's id, the keys its kind accepts, and its kind's settings.

use std::time::Duration;

use toml::Spanned;

use super::resolve::Ctx;
use super::{RawReceiver, RawReceiverKind, Receiver, ReceiverKind};

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
        RawReceiverKind::Webhook => &["url", "headers", "hmac_secret"],
        RawReceiverKind::Slack => &["url"],
        RawReceiverKind::Telegram => &["api_url", "bot_token", "chat_id"],
        RawReceiverKind::Zalo => &["api_url", "access_token", "recipient"],
        RawReceiverKind::Alertmanager => &["url", "resend_interval"],
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
            http_url(ctx, span.clone(), "url", r.url.as_ref(), None).map(|url| {
                ReceiverKind::Webhook {
                    url,
                    headers: r.headers.clone().unwrap_or_default(),
                    hmac_secret: r.hmac_secret.clone(),
                }
            })
        }
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
